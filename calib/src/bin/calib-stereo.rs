//! calib-stereo: calibrate a stereo rig from left/right image pairs and rectify it.
//!
//! With `--left-device` and `--right-device` it collects pairs live from two V4L2 cameras
//! instead: frames are paired by capture timestamp (at most `--max-skew-ms` apart), pairs
//! where both images show the board and the left view adds coverage are written to the
//! views directory until coverage is enough (or `--max-frames`, or Ctrl-C), and those
//! pairs are calibrated like image pairs.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use framekeep_calib::cli::{
    finish, init_logging, interrupt_token, live_setup, report_error, report_outcome, BoardArgs,
    LiveLine,
};
use framekeep_calib::error::CalibError;
use framekeep_calib::live::{LiveCamera, PairOptions};
use framekeep_calib::run::{
    run_stereo, run_stereo_live, StereoInputs, StereoOptions, StereoOutcome,
};
use framekeep_core::frame::{FrameSize, PixelFormat};

/// Calibrate a stereo rig from image pairs of a calibration board.
#[derive(Debug, Parser)]
#[command(name = "calib-stereo", version)]
struct Args {
    /// Left images: directory, glob or list file.
    #[arg(long, requires = "right", conflicts_with_all = ["pairs", "left_device"])]
    left: Option<String>,
    /// Right images: directory, glob or list file.
    #[arg(long, requires = "left")]
    right: Option<String>,
    /// One glob for both sides with {side} standing for left/right, e.g. 'cap/{side}_*.png'.
    #[arg(long, conflicts_with = "left_device")]
    pairs: Option<String>,
    /// Collect pairs live: the left camera (a device path, card name or bus info).
    #[arg(long, value_name = "DEVICE", requires = "right_device")]
    left_device: Option<String>,
    /// Collect pairs live: the right camera.
    #[arg(long, value_name = "DEVICE", requires = "left_device")]
    right_device: Option<String>,
    /// Camera pixel format for both devices (a fourcc such as YUYV or MJPG, or a name).
    #[arg(long, default_value = "YUYV", requires = "left_device")]
    camera_format: PixelFormat,
    /// Camera frame size for both devices, WxH.
    #[arg(long, default_value = "640x480", requires = "left_device")]
    camera_size: FrameSize,
    /// Largest capture-time difference of the two frames of a pair, milliseconds.
    #[arg(
        long,
        default_value_t = 20.0,
        value_name = "MS",
        requires = "left_device"
    )]
    max_skew_ms: f64,
    /// Where live collection writes the pairs it keeps (default: `<output>.views`).
    #[arg(long, requires = "left_device")]
    views_dir: Option<PathBuf>,
    /// Stop live collection after this many frame pairs even if coverage is not complete.
    #[arg(long, requires = "left_device")]
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

/// Collects pairs from the two cameras into the views directory, then calibrates them.
fn run_live(
    args: &Args,
    left: &str,
    right: &str,
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
    let left = LiveCamera::open(left, &request)?;
    let right = LiveCamera::open(right, &request)?;
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
    let live = args.left_device.is_some();
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
                "give --left and --right, --pairs, or --left-device and --right-device".into(),
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
    let result = match (&args.left_device, &args.right_device) {
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
