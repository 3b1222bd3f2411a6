//! The synthetic test pattern shown in a highgui window: source → display.
//!
//! ```text
//! cargo run --example synthetic_display -- [--size 640x480] [--format YUYV] [--fps 30]
//!     [--frames N] [--seconds S] [--no-overlay] [--headless fail|null|record|offscreen]
//!     [--snapshots DIR]
//! ```
//!
//! Frames that highgui cannot show (YUYV, UYVY, NV12, I420, RGB) are converted to BGR by
//! OpenCV into pooled frames on the display's feeding worker; the window is fed through a
//! latest-frame edge, so a slow display never backs up the source. `q`, `Esc`, closing
//! the window or Ctrl-C stop it; so does `--seconds`. With `--frames N` the source stops
//! after N frames and the window keeps the last one until you quit. With
//! `--snapshots DIR`, `s` writes the next frame to `DIR/frame_<sequence>.png`. It prints `running`
//! once the window is up, then at the end the pipeline and display reports and the leak
//! check. Exit status: 0 clean, 1 leaks or failures, 2 bad arguments, 3 no display.

use std::process::ExitCode;

use clap::Parser;
use framekeep::core::frame::{FrameSize, PixelFormat};
use framekeep::core::pipeline::{Link, PipelineBuilder, SyntheticSource};
use framekeep::cv::display::{Display, DisplayOptions, Headless};
use framekeep::cv::io::{ImageSink, SnapshotTrigger};

use framekeep_cli::app::{
    ctrlc_root, headless_mode, leak_checked, show_until_quit, start_with_window, Chain,
};

#[derive(Parser)]
struct Args {
    /// Frame size, WxH.
    #[arg(long, default_value = "640x480")]
    size: FrameSize,
    /// Pixel format: a V4L2 fourcc (GREY, BGR3, RGB3, AR24, YUYV, UYVY, NV12, YU12) or a name.
    #[arg(long, default_value = "YUYV")]
    format: PixelFormat,
    /// Frames per second (0: as fast as possible).
    #[arg(long, default_value_t = 30.0)]
    fps: f64,
    /// Stop the source after this many frames.
    #[arg(long)]
    frames: Option<u64>,
    /// Quit after this many seconds.
    #[arg(long)]
    seconds: Option<f64>,
    /// Do not draw fps, drops, sequence and latency on the window.
    #[arg(long)]
    no_overlay: bool,
    /// Without a display: fail, null, record or offscreen.
    #[arg(long, default_value = "fail")]
    headless: String,
    /// Press `s` to write the next frame as a PNG into this directory.
    #[arg(long)]
    snapshots: Option<String>,
    /// Window title.
    #[arg(long, default_value = "framekeep: synthetic")]
    title: String,
}

fn main() -> ExitCode {
    // This program's stderr holds its own messages, not OpenCV's log.
    framekeep::cv::silence_opencv_log();
    let args = Args::parse();
    let (width, height, format) = (args.size.width, args.size.height, args.format);
    let Some(headless) = headless_mode(&args.headless) else {
        eprintln!("bad --headless (see --help)");
        return ExitCode::from(2);
    };
    leak_checked(|| run(&args, width, height, format, headless))
}

fn run(
    args: &Args,
    width: usize,
    height: usize,
    format: PixelFormat,
    headless: Headless,
) -> ExitCode {
    let root = ctrlc_root();
    let trigger = SnapshotTrigger::new();
    let on_s = trigger.clone();
    let display = match Display::open(
        DisplayOptions::new()
            .with_cancel(&root)
            .with_release()
            .overlay(!args.no_overlay)
            .headless(headless)
            .with_on_key(move |key| {
                if key == i32::from(b's') {
                    on_s.fire();
                }
            }),
    ) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{} (try --headless null|record|offscreen)", Chain(&e));
            return ExitCode::from(3);
        }
    };
    let window = match display.window(&args.title) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("{}", Chain(&e));
            return ExitCode::from(1);
        }
    };
    let stats = window.stats();
    let mut source = SyntheticSource::builder(format, width, height);
    if args.fps > 0.0 {
        source = source.fps(args.fps);
    }
    if let Some(n) = args.frames {
        source = source.frames(n);
    }
    let source = match source.build() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{}", Chain(&e));
            return ExitCode::from(2);
        }
    };
    let mut builder = PipelineBuilder::new("synthetic-display")
        .with_cancel(&root)
        .source("pattern", source);
    let mut written = None;
    if let Some(dir) = &args.snapshots {
        match ImageSink::new(dir) {
            Ok(sink) => {
                let sink = sink.every(None).with_trigger(&trigger);
                written = Some(sink.written());
                builder = builder.stage("snapshots", Link::latest(), sink);
            }
            Err(e) => {
                eprintln!("{}", Chain(&e));
                return ExitCode::from(2);
            }
        }
    }
    let pipeline = match start_with_window(builder, window) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let (report, closed) = show_until_quit(&root, args.seconds, pipeline, display);
    println!("window: {:?}", stats.snapshot());
    for path in written.iter().flat_map(|w| w.lock().clone()) {
        println!("wrote {}", path.display());
    }
    if report.is_clean() && closed.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
