//! calib-stereo: calibrate a stereo rig from left/right image pairs and rectify it.
//!
//! With `--left-device` and `--right-device` it collects pairs live from two V4L2 cameras
//! instead (or from framekeep services, `--left-service`/`--right-service`, frames other
//! processes publish; one side of each kind works too): frames are paired by capture timestamp (at most `--max-skew-ms` apart), pairs
//! where both images show the board and the left view adds coverage are written to the
//! views directory until coverage is enough (or `--max-frames`, or Ctrl-C), and those
//! pairs are calibrated like image pairs.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgGroup, Parser};
use framekeep_calib::cli::{
    finish, init_logging, interrupt_token, live_setup, report_error, report_outcome, BoardArgs,
    LiveInput, LiveLine,
};
use framekeep_calib::error::CalibError;
use framekeep_calib::live::PairOptions;
use framekeep_calib::run::{
    run_stereo, run_stereo_live, StereoInputs, StereoOptions, StereoOutcome,
};
use framekeep_core::frame::{FrameSize, PixelFormat};

/// Calibrate a stereo rig from image pairs of a calibration board.
#[derive(Debug, Parser)]
#[command(name = "calib-stereo", version)]
#[command(group(ArgGroup::new("left_live").args(["left_device", "left_service"])))]
#[command(group(ArgGroup::new("right_live").args(["right_device", "right_service"])))]
#[command(group(ArgGroup::new("live").args(["left_device", "left_service"]).multiple(true)))]
#[command(group(ArgGroup::new("devices").args(["left_device", "right_device"]).multiple(true)))]
#[command(group(ArgGroup::new("services").args(["left_service", "right_service"]).multiple(true)))]
struct Args {
    /// Left images: directory, glob or list file.
    #[arg(long, requires = "right", conflicts_with_all = ["pairs", "live"])]
    left: Option<String>,
    /// Right images: directory, glob or list file.
    #[arg(long, requires = "left")]
    right: Option<String>,
    /// One glob for both sides with {side} standing for left/right, e.g. 'cap/{side}_*.png'.
    #[arg(long, conflicts_with = "live")]
    pairs: Option<String>,
    /// Collect pairs live: the left camera (a device path, card name or bus info).
    #[arg(long, value_name = "DEVICE", requires = "right_live")]
    left_device: Option<String>,
    /// Collect pairs live: the right camera.
    #[arg(long, value_name = "DEVICE", requires = "left_live")]
    right_device: Option<String>,
    /// Collect pairs live: the left camera as a framekeep service (frames another process
    /// publishes, e.g. `framekeep serve --name rig/left`; any pixel format).
    #[arg(long, value_name = "NAME", requires = "right_live")]
    left_service: Option<String>,
    /// Collect pairs live: the right camera as a framekeep service.
    #[arg(long, value_name = "NAME", requires = "left_live")]
    right_service: Option<String>,
    /// The framekeep-ipc domain of the services (default: the user's default domain).
    #[arg(long, value_name = "NAME", requires = "services")]
    domain: Option<String>,
    /// Camera pixel format for the devices (a fourcc such as YUYV or MJPG, or a name).
    #[arg(long, default_value = "YUYV", requires = "devices")]
    camera_format: PixelFormat,
    /// Camera frame size for the devices, WxH.
    #[arg(long, default_value = "640x480", requires = "devices")]
    camera_size: FrameSize,
    /// Largest capture-time difference of the two frames of a pair, milliseconds.
    #[arg(long, default_value_t = 20.0, value_name = "MS", requires = "live")]
    max_skew_ms: f64,
    /// Where live collection writes the pairs it keeps (default: `<output>.views`).
    #[arg(long, requires = "live")]
    views_dir: Option<PathBuf>,
    /// Stop live collection after this many frame pairs even if coverage is not complete.
    #[arg(long, requires = "live")]
    max_frames: Option<u64>,
    #[command(flatten)]
    board: BoardArgs,
    /// Seed the left camera with a mono calibration (YAML).
    #[arg(long)]
    left_intrinsics: Option<PathBuf>,
    /// Seed the right camera with a mono calibration (YAML).
    #[arg(long)]
    right_intrinsics: Option<PathBuf>,
    /// Keep the seeded intrinsics fixed (CALIB_FIX_INTRINSIC).
    #[arg(long)]
    fix_intrinsic: bool,
    /// stereoRectify free scaling: -1 default, 0 valid pixels only, 1 all pixels.
    #[arg(long, default_value_t = -1.0, allow_negative_numbers = true)]
    alpha: f64,
    /// Output YAML (M1 D1 M2 D2 R T E F R1 R2 P1 P2 Q).
    #[arg(long, short = 'o', default_value = "stereo.yml")]
    output: PathBuf,
    /// Also write the results as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write a rectified side-by-side preview PNG with horizontal guide lines.
    #[arg(long)]
    preview: Option<PathBuf>,
    /// Detection worker threads.
    #[arg(long, short = 'j', default_value_t = 2)]
    workers: usize,
    /// Fewest usable pairs accepted.
    #[arg(long, default_value_t = 4)]
    min_pairs: usize,
    /// No progress bar and no summary.
    #[arg(long, short = 'q')]
    quiet: bool,
}

/// Collects pairs from the two cameras (or services) into the views directory, then
/// calibrates them.
fn run_live(
    args: &Args,
    left: LiveInput,
    right: LiveInput,
    opts: &StereoOptions,
) -> Result<StereoOutcome, CalibError> {
    if !(args.max_skew_ms.is_finite() && args.max_skew_ms >= 0.0) {
        return Err(CalibError::InvalidArgument(format!(
            "--max-skew-ms {} must be a non-negative number of milliseconds",
            args.max_skew_ms
        )));
    }
    let (request, live) = live_setup(
        opts.board,
        args.camera_format,
        args.camera_size,
        args.views_dir.clone(),
        args.max_frames,
        &args.output,
    );
    let left = left.open(&request)?;
    let right = right.open(&request)?;
    let pairs = PairOptions::new(live, Duration::from_secs_f64(args.max_skew_ms / 1000.0));
    let line = LiveLine::new("calib-stereo", !args.quiet);
    let result = run_stereo_live(
        left,
        right,
        &pairs,
        opts,
        |p| line.update(p),
        |outcome| {
            line.done();
            if !args.quiet {
                println!(
                    "collected {} pair(s) from {} frame pair(s) into {} ({:?}; {} frame(s) without a partner)",
                    outcome.left.len(),
                    outcome.progress.frames,
                    pairs.live.views_dir.display(),
                    outcome.stop,
                    outcome.progress.unpaired
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
    finish("calib-stereo", status)
}

fn run() -> ExitCode {
    let args = Args::parse();
    let domain = args.domain.as_deref();
    let left_live = LiveInput::from_args(
        args.left_device.as_deref(),
        args.left_service.as_deref(),
        domain,
    );
    let right_live = LiveInput::from_args(
        args.right_device.as_deref(),
        args.right_service.as_deref(),
        domain,
    );
    let live = left_live.is_some();
    let inputs = match (&args.left, &args.right, &args.pairs) {
        (Some(l), Some(r), None) => StereoInputs::Lists {
            left: l.clone(),
            right: r.clone(),
        },
        (None, None, Some(p)) => StereoInputs::Pattern(p.clone()),
        (None, None, None) if live => StereoInputs::Paths {
            left: Vec::new(),
            right: Vec::new(),
        },
        _ => {
            let e = CalibError::InvalidArgument(
                "give --left and --right, --pairs, or live inputs (--left-device or \
                 --left-service, and --right-device or --right-service)"
                    .into(),
            );
            return report_error("calib-stereo", &e);
        }
    };
    let board = match args.board.board() {
        Ok(b) => b,
        Err(e) => return report_error("calib-stereo", &e),
    };
    let opts = StereoOptions {
        inputs,
        board,
        units: args.board.units.clone(),
        left_intrinsics: args.left_intrinsics.clone(),
        right_intrinsics: args.right_intrinsics.clone(),
        fix_intrinsic: args.fix_intrinsic,
        alpha: args.alpha,
        workers: args.workers,
        min_pairs: args.min_pairs,
        output: args.output.clone(),
        json: args.json.clone(),
        preview: args.preview.clone(),
        progress: !args.quiet && std::io::stderr().is_terminal(),
        cancel: interrupt_token("calib-stereo"),
    };
    let result = match (left_live, right_live) {
        (Some(l), Some(r)) => run_live(&args, l, r, &opts),
        _ => run_stereo(&opts),
    };
    report_outcome(
        "calib-stereo",
        result.map(|o| (o.skipped, o.summary)),
        args.quiet,
        &args.output,
    )
}
