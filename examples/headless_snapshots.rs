//! No display needed: the synthetic pattern (or images) → PNG snapshots on disk.
//!
//! ```text
//! cargo run --example headless_snapshots -- [--out snapshots] [--every 10] [--frames 50]
//!     [--size 640x480] [--format YUYV] [--input DIR|GLOB|LIST] [--jpeg QUALITY]
//! ```
//!
//! Every `--every`th frame is converted to BGR (pooled, through OpenCV) and written as
//! `<out>/frame_<sequence>.png` (or `.jpg`). Prints the files written, the pipeline report
//! and the leak check. Exit status: 0 clean, 1 leaks or failures, 2 bad arguments.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use framekeep::core::frame::{FrameSize, PixelFormat};
use framekeep::core::pipeline::{Link, PipelineBuilder, Source, SyntheticSource};
use framekeep::cv::io::{ImageFormat, ImageSequence, ImageSink};

use framekeep_cli::app::{ctrlc_root, leak_checked, Chain};

#[derive(Parser)]
struct Args {
    /// Output directory.
    #[arg(long, default_value = "snapshots")]
    out: String,
    /// Write every Nth frame.
    #[arg(long, default_value_t = 10)]
    every: u64,
    /// Frames to produce (synthetic source) or images to read.
    #[arg(long, default_value_t = 50)]
    frames: u64,
    /// Synthetic frame size, WxH.
    #[arg(long, default_value = "640x480")]
    size: FrameSize,
    /// Synthetic pixel format as a V4L2 fourcc.
    #[arg(long, default_value = "YUYV")]
    format: PixelFormat,
    /// Read images instead of the synthetic pattern.
    #[arg(long)]
    input: Option<String>,
    /// Write JPEG with this quality instead of PNG.
    #[arg(long)]
    jpeg: Option<u8>,
}

fn main() -> ExitCode {
    // This program's stderr holds its own messages, not OpenCV's log.
    framekeep::cv::silence_opencv_log();
    let args = Args::parse();
    leak_checked(|| run(&args))
}

fn source(args: &Args) -> Result<Box<dyn Source>, Box<dyn std::error::Error>> {
    if let Some(input) = &args.input {
        return Ok(Box::new(ImageSequence::open(input)?));
    }
    let source = SyntheticSource::builder(args.format, args.size.width, args.size.height)
        .frames(args.frames)
        .build()?;
    Ok(Box::new(source))
}

fn run(args: &Args) -> ExitCode {
    let source = match source(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}", Chain(&*e));
            return ExitCode::from(2);
        }
    };
    let format = args.jpeg.map_or(ImageFormat::Png, ImageFormat::Jpeg);
    let sink = match ImageSink::new(&args.out) {
        Ok(s) => s.every(Some(args.every)).format(format),
        Err(e) => {
            eprintln!("{}", Chain(&e));
            return ExitCode::from(2);
        }
    };
    let written = sink.written();
    let root = ctrlc_root();
    let pipeline = match PipelineBuilder::new("headless-snapshots")
        .with_cancel(&root)
        .source("source", source)
        .sink("snapshots", Link::block(2), sink)
        .start()
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{}", Chain(&e));
            return ExitCode::from(1);
        }
    };
    // Bounded: a run that does not finish in a minute is stopped and reported.
    if !pipeline.wait(Duration::from_secs(60)) {
        eprintln!("still running after 60 s: stopping");
        root.cancel();
    }
    let report = pipeline.shutdown();
    for path in written.lock().iter() {
        println!("wrote {}", path.display());
    }
    println!("{report}");
    if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
