//! Still images shown in a highgui window: image sequence → display.
//!
//! ```text
//! cargo run --example images_display -- <DIR | GLOB | LIST.txt | IMAGE> [--fps 2] [--once]
//!     [--size WxH] [--seconds S] [--headless fail|null|record|offscreen]
//! ```
//!
//! Any format `imread` reads. The sequence loops until `q`, `Esc`, closing the window or
//! Ctrl-C (`--once`: the window keeps the last image). Other keys are printed (the
//! display forwards them to its `on_key` callback). Ends with the reports and the leak
//! check.
//! Exit status: 0 clean, 1 leaks or failures, 2 bad arguments, 3 no display.

use std::process::ExitCode;

use clap::Parser;
use framekeep::core::frame::FrameSize;
use framekeep::core::pipeline::PipelineBuilder;
use framekeep::cv::display::{Display, DisplayOptions, Headless};
use framekeep::cv::io::ImageSequence;

use framekeep_cli::app::{
    ctrlc_root, headless_mode, leak_checked, show_until_quit, start_with_window, Chain,
};

#[derive(Parser)]
struct Args {
    /// A directory, a glob (`dir/*.png`), a list file (.txt/.lst) or one image.
    input: String,
    /// Images per second.
    #[arg(long, default_value_t = 2.0)]
    fps: f64,
    /// Show each image once instead of looping.
    #[arg(long)]
    once: bool,
    /// Resize every image to WxH (default: the first image's size).
    #[arg(long)]
    size: Option<FrameSize>,
    /// Without a display: fail, null, record or offscreen.
    #[arg(long, default_value = "fail")]
    headless: String,
    /// Quit after this many seconds.
    #[arg(long)]
    seconds: Option<f64>,
}

fn main() -> ExitCode {
    // This program's stderr holds its own messages, not OpenCV's log.
    framekeep::cv::silence_opencv_log();
    let args = Args::parse();
    let Some(headless) = headless_mode(&args.headless) else {
        eprintln!("bad --headless {:?}", args.headless);
        return ExitCode::from(2);
    };
    leak_checked(|| run(&args, headless))
}

fn run(args: &Args, headless: Headless) -> ExitCode {
    let mut images = match ImageSequence::open(&args.input) {
        Ok(s) => s.fps(args.fps).looping(!args.once),
        Err(e) => {
            eprintln!("{}", Chain(&e));
            return ExitCode::from(2);
        }
    };
    if let Some(size) = args.size {
        images = images.size(size.width, size.height);
    }
    println!("{} image(s)", images.paths().len());
    let root = ctrlc_root();
    let display = match Display::open(
        DisplayOptions::new()
            .with_cancel(&root)
            .with_release()
            .overlay(true)
            .headless(headless)
            .with_on_key(|key| println!("key {key}")),
    ) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{} (try --headless null|record|offscreen)", Chain(&e));
            return ExitCode::from(3);
        }
    };
    let window = match display.window(&format!("framekeep: {}", args.input)) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("{}", Chain(&e));
            return ExitCode::from(1);
        }
    };
    let builder = PipelineBuilder::new("images-display")
        .with_cancel(&root)
        .source("images", images);
    let pipeline = match start_with_window(builder, window) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let (report, closed) = show_until_quit(&root, args.seconds, pipeline, display);
    if report.is_clean() && closed.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
