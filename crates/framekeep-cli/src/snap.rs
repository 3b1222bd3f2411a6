//! `framekeep snap SERVICE -n N -o DIR`: saves the next N frames of a service (`framekeep
//! serve --name SERVICE`) as PNGs named after their sequence numbers (`frame_000042.png`),
//! converted to BGR by OpenCV. Exits 0 once all N are written; 1 if the publisher goes
//! away first, no frame comes for `--timeout` seconds, a file cannot be written or
//! anything is left alive at exit; 2 for bad arguments; Ctrl-C stops it (status 1, fewer
//! than N written; a second Ctrl-C exits at once with 130).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use framekeep_cli::app::{ctrlc_root, leak_checked, Chain};
use framekeep_core::pipeline::Link;
use framekeep_cv::io::ImageSink;
use framekeep_ipc::IpcError;

use crate::service;

/// The options of `framekeep snap`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The service: its name (`camera/front`) or `ipc:camera/front`.
    service: String,
    /// Frames to save.
    #[arg(short = 'n', long = "frames", default_value_t = 1)]
    frames: u64,
    /// The directory the PNGs go to (created if missing).
    #[arg(short = 'o', long = "output", default_value = ".")]
    output: PathBuf,
    /// Give up when no frame came for this many seconds (waiting for the publisher
    /// included).
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
}

/// Runs `framekeep snap`; see the module docs.
pub fn run(args: &Args) -> ExitCode {
    let timeout = match Duration::try_from_secs_f64(args.timeout) {
        Ok(t) if args.frames > 0 && !t.is_zero() => t,
        _ => {
            eprintln!("framekeep snap: -n and --timeout must be positive");
            return ExitCode::from(2);
        }
    };
    let name = service::requested(&args.service).unwrap_or(&args.service);
    leak_checked(|| snap(name, args, timeout))
}

fn snap(name: &str, args: &Args, timeout: Duration) -> ExitCode {
    let root = ctrlc_root();
    let mut sink = match ImageSink::new(&args.output) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("framekeep snap: {}", Chain(&e));
            return ExitCode::from(1);
        }
    };
    // Consecutive frames as far as the writing keeps up (a queue of 4, the oldest
    // dropped when full).
    let mut subscriber = match service::subscribe("framekeep snap", name, Link::DropOldest(4)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let mut written = 0;
    let failure = loop {
        if written == args.frames {
            break None;
        }
        let token = root.child_with_timeout(timeout);
        let frame = match subscriber.recv(&token) {
            Ok(frame) => frame,
            Err(IpcError::Cancelled) if root.is_cancelled() => break Some("interrupted".into()),
            Err(IpcError::Cancelled) => {
                break Some(format!(
                    "no frame from {}{name} within {timeout:?}",
                    service::PREFIX
                ))
            }
            Err(e) => break Some(Chain(&e).to_string()),
        };
        match sink.write(&frame) {
            Ok(path) => println!("{}", path.display()),
            Err(e) => break Some(Chain(&e).to_string()),
        }
        written += 1;
    };
    let stats = subscriber.stats();
    drop(subscriber);
    println!(
        "stats: frames {written}, received {}, dropped {}",
        stats.received, stats.dropped
    );
    match failure {
        None => ExitCode::SUCCESS,
        Some(why) => {
            eprintln!(
                "framekeep snap: {why} ({written} of {} frames written)",
                args.frames
            );
            ExitCode::from(1)
        }
    }
}
