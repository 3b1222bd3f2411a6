//! calib-stereo: calibrate a stereo rig from left/right image pairs and rectify it.
//!
//! Live input from two devices is not wired yet: it waits for framekeep-v4l.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use framekeep_calib::cli::{finish, init_logging, interrupt_token, report_error, BoardArgs};
use framekeep_calib::error::CalibError;
use framekeep_calib::run::{run_stereo, StereoInputs, StereoOptions};

/// Calibrate a stereo rig from image pairs of a calibration board.
#[derive(Debug, Parser)]
#[command(name = "calib-stereo", version)]
struct Args {
    /// Left images: directory, glob or list file.
    #[arg(long, requires = "right", conflicts_with = "pairs")]
    left: Option<String>,
    /// Right images: directory, glob or list file.
    #[arg(long, requires = "left")]
    right: Option<String>,
    /// One glob for both sides with {side} standing for left/right, e.g. 'cap/{side}_*.png'.
    #[arg(long)]
    pairs: Option<String>,
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

fn main() -> ExitCode {
    init_logging();
    let status = run();
    finish("calib-stereo", status)
}

fn run() -> ExitCode {
    let args = Args::parse();
    let inputs = match (&args.left, &args.right, &args.pairs) {
        (Some(l), Some(r), None) => StereoInputs::Lists {
            left: l.clone(),
            right: r.clone(),
        },
        (None, None, Some(p)) => StereoInputs::Pattern(p.clone()),
        _ => {
            let e = CalibError::InvalidArgument("give --left and --right, or --pairs".into());
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
        left_intrinsics: args.left_intrinsics,
        right_intrinsics: args.right_intrinsics,
        fix_intrinsic: args.fix_intrinsic,
        alpha: args.alpha,
        workers: args.workers,
        min_pairs: args.min_pairs,
        output: args.output.clone(),
        json: args.json,
        preview: args.preview,
        progress: !args.quiet && std::io::stderr().is_terminal(),
        cancel: interrupt_token("calib-stereo"),
    };
    match run_stereo(&opts) {
        Ok(outcome) => {
            for s in &outcome.skipped {
                eprintln!("calib-stereo: skipped {s}");
            }
            if !args.quiet {
                print!("{}", outcome.summary);
                println!("wrote {}", args.output.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => report_error("calib-stereo", &e),
    }
}
