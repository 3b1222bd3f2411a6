//! calib-mono: calibrate one camera from images of a chessboard or circle grid.
//!
//! With `--device` it collects views live from a V4L2 camera instead (with `--service`,
//! from a framekeep service: frames another process publishes): every frame is examined, views that add coverage (ROS-style: X, Y, size, skew) are written to the
//! views directory until coverage is enough (or `--max-frames`, or Ctrl-C), and those
//! views are calibrated as an image set. `--select` applies the same selection to image
//! sets.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Parser};
use framekeep_calib::cli::{
    finish, init_logging, interrupt_token, live_setup, report_error, report_outcome, BoardArgs,
    LiveInput, LiveLine,
};
use framekeep_calib::mono::Flags;
use framekeep_calib::run::{run_mono, run_mono_live, MonoOptions, MonoOutcome};
use framekeep_calib::CalibError;
use framekeep_core::frame::{FrameSize, PixelFormat};

/// Calibrate one camera from views of a calibration board.
#[derive(Debug, Parser)]
#[command(name = "calib-mono", version)]
#[command(group(ArgGroup::new("live").args(["device", "service"])))]
struct Args {
    /// Images: directories, globs (quote them: 'dir/*.png'), list files or image files.
    #[arg(required_unless_present_any = ["device", "service"])]
    inputs: Vec<String>,
    /// Collect views live from this camera (a device path, card name or bus info)
    /// instead of reading images.
    #[arg(long, value_name = "DEVICE")]
    device: Option<String>,
    /// Collect views live from this framekeep service (frames another process publishes,
    /// e.g. `framekeep serve --name camera/front`; any pixel format) instead of reading
    /// images. Fails if no frame comes within 5 s, or if the publisher goes away.
    #[arg(long, value_name = "NAME")]
    service: Option<String>,
    /// The framekeep-ipc domain of --service (default: the user's default domain).
    #[arg(long, value_name = "NAME", requires = "service")]
    domain: Option<String>,
    /// Camera pixel format for --device (a fourcc such as YUYV or MJPG, or a name).
    #[arg(long, default_value = "YUYV", requires = "device")]
    camera_format: PixelFormat,
    /// Camera frame size for --device, WxH.
    #[arg(long, default_value = "640x480", requires = "device")]
    camera_size: FrameSize,
    /// Where --device or --service writes the views it keeps (default: next to the
    /// output, `<output>.views`).
    #[arg(long, requires = "live")]
    views_dir: Option<PathBuf>,
    /// Stop live collection after this many frames even if coverage is not complete.
    #[arg(long, requires = "live")]
    max_frames: Option<u64>,
    #[command(flatten)]
    board: BoardArgs,
    /// Output YAML (OpenCV FileStorage, keys of OpenCV's calibration sample).
    #[arg(long, short = 'o', default_value = "camera.yml")]
    output: PathBuf,
    /// Also write the results as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write a report PNG (coverage heat map, per-view errors, undistorted sample).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Detection worker threads.
    #[arg(long, short = 'j', default_value_t = 2)]
    workers: usize,
    /// Fewest usable views accepted.
    #[arg(long, default_value_t = 4)]
    min_views: usize,
    /// A view is an outlier when its error exceeds K times the median.
    #[arg(long, default_value_t = 2.0, value_name = "K")]
    outlier_factor: f64,
    /// Remove outlier views and calibrate again.
    #[arg(long)]
    drop_outliers: bool,
    /// Keep only views that add coverage (X, Y, size, skew), rejecting near-duplicates.
    #[arg(long)]
    select: bool,
    /// Keep fx/fy fixed (CALIB_FIX_ASPECT_RATIO).
    #[arg(long)]
    fix_aspect_ratio: bool,
    /// The fx/fy ratio used with --fix-aspect-ratio.
    #[arg(long, value_name = "RATIO")]
    aspect_ratio: Option<f64>,
    /// Tangential distortion fixed at zero (CALIB_ZERO_TANGENT_DIST).
    #[arg(long)]
    zero_tangent_dist: bool,
    /// Principal point fixed (CALIB_FIX_PRINCIPAL_POINT).
    #[arg(long)]
    fix_principal_point: bool,
    /// Fix k1 (CALIB_FIX_K1).
    #[arg(long)]
    fix_k1: bool,
    /// Fix k2 (CALIB_FIX_K2).
    #[arg(long)]
    fix_k2: bool,
    /// Fix k3 (CALIB_FIX_K3).
    #[arg(long)]
    fix_k3: bool,
    /// Fix k4 (CALIB_FIX_K4).
    #[arg(long)]
    fix_k4: bool,
    /// Fix k5 (CALIB_FIX_K5).
    #[arg(long)]
    fix_k5: bool,
    /// Fix k6 (CALIB_FIX_K6).
    #[arg(long)]
    fix_k6: bool,
    /// Rational distortion model with k4..k6 (CALIB_RATIONAL_MODEL).
    #[arg(long)]
    rational_model: bool,
    /// Start from --intrinsics (CALIB_USE_INTRINSIC_GUESS).
    #[arg(long, requires = "intrinsics")]
    use_intrinsic_guess: bool,
    /// Initial intrinsics (a YAML written by calib-mono or OpenCV's sample).
    #[arg(long)]
    intrinsics: Option<PathBuf>,
    /// No progress bar and no summary.
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// Collects views from the camera (or service) into the views directory, then calibrates
/// them.
fn run_live(args: &Args, input: LiveInput, opts: &MonoOptions) -> Result<MonoOutcome, CalibError> {
    let (request, live) = live_setup(
        opts.board,
        args.camera_format,
        args.camera_size,
        args.views_dir.clone(),
        args.max_frames,
        &args.output,
    );
    let camera = input.open(&request)?;
    let line = LiveLine::new("calib-mono", !args.quiet);
    let result = run_mono_live(
        camera,
        &live,
        opts,
        |p| line.update(p),
        |outcome| {
            line.done();
            if !args.quiet {
                println!(
                    "collected {} view(s) from {} frame(s) into {} ({:?})",
                    outcome.views.len(),
                    outcome.progress.frames,
                    live.views_dir.display(),
                    outcome.stop
                );
            }
        },
    );
    line.done();
    result.map(|(_, outcome)| outcome)
}

fn main() -> ExitCode {
    init_logging();
    let status = run();
    finish("calib-mono", status)
}

fn run() -> ExitCode {
    let args = Args::parse();
    let board = match args.board.board() {
        Ok(b) => b,
        Err(e) => return report_error("calib-mono", &e),
    };
    let cancel = interrupt_token("calib-mono");
    let opts = MonoOptions {
        inputs: args.inputs.clone(),
        board,
        units: args.board.units.clone(),
        flags: Flags {
            fix_aspect_ratio: args.fix_aspect_ratio,
            aspect_ratio: args.aspect_ratio,
            zero_tangent_dist: args.zero_tangent_dist,
            fix_principal_point: args.fix_principal_point,
            fix_k: [
                args.fix_k1,
                args.fix_k2,
                args.fix_k3,
                args.fix_k4,
                args.fix_k5,
                args.fix_k6,
            ],
            rational_model: args.rational_model,
            use_intrinsic_guess: args.use_intrinsic_guess,
        },
        intrinsics: args.intrinsics.clone(),
        workers: args.workers,
        min_views: args.min_views,
        outlier_k: args.outlier_factor,
        drop_outliers: args.drop_outliers,
        select: args.select,
        output: args.output.clone(),
        json: args.json.clone(),
        report: args.report.clone(),
        progress: !args.quiet && std::io::stderr().is_terminal(),
        cancel,
    };
    let live = LiveInput::from_args(
        args.device.as_deref(),
        args.service.as_deref(),
        args.domain.as_deref(),
    );
    let result = match live {
        Some(input) => run_live(&args, input, &opts),
        None => run_mono(&opts),
    };
    report_outcome(
        "calib-mono",
        result.map(|o| (o.skipped, o.summary)),
        args.quiet,
        &args.output,
    )
}
