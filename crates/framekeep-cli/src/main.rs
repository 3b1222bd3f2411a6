//! `framekeep`: list cameras, view a camera, the synthetic pattern or a service, serve a
//! camera to other processes, snap frames of a service.
//!
//! ```text
//! framekeep list
//! framekeep view [SOURCE|ipc:SERVICE] [--format YUYV] [--size 640x480] [--fps 30] [--buffers 4]
//!                [--headless] [--snapshot-dir DIR] [--snapshot-every N] [--snapshots-kept N]
//!                [--frames N] [--seconds S]
//! framekeep serve [SOURCE] [--name camera/front] [--format YUYV] [--size 640x480] [--fps 30]
//!                 [--buffers 4] [--memory userptr|mmap] [--max-subscribers 8]
//!                 [--wait-subscribers N] [--frames N] [--seconds S]
//! framekeep snap SERVICE [-n N] [-o DIR] [--timeout S]
//! ```
//!
//! Services live in the user's framekeep-ipc domain, or the one `FRAMEKEEP_DOMAIN` names.
//!
//! Exit status: 0 clean, 1 a failure or a leak, 2 bad arguments, 130 a second Ctrl-C.

mod list;
mod serve;
mod service;
mod snap;
mod source;
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
    /// Capture (or draw the synthetic pattern) and publish every frame as a service other
    /// processes view (`framekeep view ipc:NAME`): zero copy where the camera takes user
    /// memory; stats line and leak report at exit.
    Serve(serve::Args),
    /// Save the next N frames of a service as PNGs.
    Snap(snap::Args),
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
        Command::Serve(args) => serve::run(&args),
        Command::Snap(args) => snap::run(&args),
    }
}
