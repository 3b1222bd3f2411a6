//! `framekeep`: list cameras, view a camera (or the synthetic pattern).
//!
//! ```text
//! framekeep list
//! framekeep view [SOURCE] [--format YUYV] [--size 640x480] [--fps 30] [--buffers 4]
//!                [--headless] [--snapshot-dir DIR] [--snapshot-every N] [--snapshots-kept N]
//!                [--frames N] [--seconds S]
//! ```
//!
//! Exit status: 0 clean, 1 a failure or a leak, 2 bad arguments, 130 a second Ctrl-C.

mod list;
mod view;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "framekeep",
    version,
    about = "Owns every frame of a camera pipeline: capture → convert → display, with a leak report at exit"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List the V4L2 capture devices with their formats and sizes.
    List,
    /// Capture (or draw the synthetic pattern), convert to BGR, show it in a window or
    /// write headless snapshots; stats line and leak report at exit.
    View(view::Args),
}

fn main() -> ExitCode {
    // OpenCV's and framekeep's own logs go through `tracing`, warnings and
    // errors only unless RUST_LOG says otherwise.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    // This program's stderr holds its own messages, not OpenCV's log.
    framekeep_cv::silence_opencv_log();
    let cli = Cli::parse();
    match cli.command {
        Command::List => list::run(),
        Command::View(args) => view::run(&args),
    }
}
