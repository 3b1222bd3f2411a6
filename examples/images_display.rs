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

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use framekeep::core::cancel::{install_ctrlc, CancelToken};
use framekeep::core::frame::FrameSize;
use framekeep::core::ledger::LeakCheck;
use framekeep::core::pipeline::{Link, PipelineBuilder};
use framekeep::cv::display::{Display, DisplayOptions, Headless};
use framekeep::cv::io::ImageSequence;

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
    let args = Args::parse();
    let headless = match args.headless.as_str() {
        "fail" => Headless::Fail,
        "null" => Headless::Null,
        "record" => Headless::Record,
        "offscreen" => Headless::Offscreen,
        other => {
            eprintln!("bad --headless {other:?}");
            return ExitCode::from(2);
        }
    };
    let check = LeakCheck::new();
    let code = run(&args, headless);
    match check.finish_within(Duration::from_secs(2)) {
        Ok(()) => println!("leak check: clean (0 frames, Mats, leases, threads alive)"),
        Err(report) => {
            println!("leak check FAILED:\n{report}");
            return ExitCode::from(1);
        }
    }
    code
}

fn run(args: &Args, headless: Headless) -> ExitCode {
    let mut images = match ImageSequence::open(&args.input) {
        Ok(s) => s.fps(args.fps).looping(!args.once),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Some(size) = args.size {
        images = images.size(size.width, size.height);
    }
    println!("{} image(s)", images.paths().len());
    let root = CancelToken::new();
    if let Err(e) = install_ctrlc(&root) {
        eprintln!("warning: no Ctrl-C handler: {e}");
    }
    let display = match Display::open(
        DisplayOptions::new()
            .with_cancel(root.clone())
            .with_release()
            .overlay(true)
            .headless(headless)
            .with_on_key(|key| println!("key {key}")),
    ) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e} (try --headless null|record|offscreen)");
            return ExitCode::from(3);
        }
    };
    let window = match display.window(&format!("framekeep: {}", args.input)) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let sink_options = window.sink_options();
    let pipeline = match PipelineBuilder::new("images-display")
        .with_cancel(&root)
        .source("images", images)
        .sink_with("display", Link::latest(), window, sink_options)
        .start()
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    println!("running");
    let _ = std::io::stdout().flush();
    match args.seconds {
        Some(s) => {
            root.wait_timeout(Duration::from_secs_f64(s));
        }
        None => root.wait(),
    }
    root.cancel();
    let report = pipeline.shutdown();
    let closed = display.close();
    println!("{report}\n{closed}");
    if report.is_clean() && closed.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
