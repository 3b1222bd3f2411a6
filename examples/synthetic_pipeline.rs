//! A complete pipeline with no camera and no display: the synthetic test
//! pattern → two stages → the null sink, under Ctrl-C.
//!
//! ```text
//! cargo run --example synthetic_pipeline --no-default-features -- \
//!     [--size 1280x720] [--format BGR3] [--fps 30|0] [--frames N] [--seconds S]
//! ```
//!
//! `--fps 0` runs as fast as possible; `--format` takes a V4L2 fourcc
//! (`GREY`, `BGR3`, `RGB3`, `AR24`, `YUYV`, `UYVY`, `NV12`, `YU12`). It
//! prints `running` once the pipeline is up, stops on Ctrl-C (first: every
//! element stops, then shutdown joins them in order; second: exit 130), after
//! `--frames` (end of stream, drained) or `--seconds`,
//! then prints a stats line, the pipeline report and the ledger's leak
//! report, which must read `ledger: 0 live`. Exit status: 0 when clean, 1 if
//! anything leaked or an element failed, 2 on bad arguments.

use framekeep_cli::app::Chain;

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use framekeep::core::cancel::{install_ctrlc, CancelToken};
use framekeep::core::frame::{Frame, FrameSize, PixelFormat};
use framekeep::core::ledger::Ledger;
use framekeep::core::pipeline::{stage_fn, Link, PipelineBuilder, StageError, SyntheticSource};
use framekeep::core::testing::decode_counter;
use framekeep::core::testing::NullSink;

struct Args {
    width: usize,
    height: usize,
    format: PixelFormat,
    fps: f64,
    frames: Option<u64>,
    seconds: Option<f64>,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        width: 1280,
        height: 720,
        format: PixelFormat::Bgr24,
        fps: 30.0,
        frames: None,
        seconds: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("bad {flag} {value:?}: {e}");
        match flag.as_str() {
            "--size" => {
                let size: FrameSize = value.parse().map_err(|e| bad(&e))?;
                (args.width, args.height) = (size.width, size.height);
            }
            "--format" => args.format = value.parse().map_err(|e| bad(&e))?,
            "--fps" => args.fps = value.parse().map_err(|e| bad(&e))?,
            "--frames" => args.frames = Some(value.parse().map_err(|e| bad(&e))?),
            "--seconds" => args.seconds = Some(value.parse().map_err(|e| bad(&e))?),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("synthetic_pipeline: {e}");
            return ExitCode::from(2);
        }
    };
    let clean = run(&args);
    // Everything the pipeline created is gone by now: report what is left.
    let report = Ledger::global().report();
    println!("{report}");
    let leaked = !report.is_empty();
    if clean && !leaked {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs the pipeline until interrupted or done; true if it ended cleanly.
fn run(args: &Args) -> bool {
    let root = CancelToken::new();
    if let Err(e) = install_ctrlc(&root) {
        eprintln!("synthetic_pipeline: {}", Chain(&e));
        return false;
    }
    let mut source = SyntheticSource::builder(args.format, args.width, args.height);
    if args.fps > 0.0 {
        source = source.fps(args.fps);
    }
    if let Some(n) = args.frames {
        source = source.frames(n);
    }
    let source = match source.build() {
        Ok(source) => source,
        Err(e) => {
            eprintln!("synthetic_pipeline: {}", Chain(&e));
            return false;
        }
    };
    let sink = NullSink::new();
    let stats = sink.stats();
    let started = Instant::now();
    let pipeline = PipelineBuilder::new("synthetic")
        .with_cancel(&root)
        .source("pattern", source)
        // Stage 1 checks that each frame carries its own number.
        .stage(
            "verify",
            Link::block(2),
            stage_fn(|frame: Frame| match decode_counter(&frame) {
                Some(n) if n != frame.sequence() as u32 => Err(StageError::failed(format!(
                    "frame {} carries counter {n}",
                    frame.sequence()
                ))),
                _ => Ok(Some(frame)),
            }),
        )
        // Stage 2 crops the top-left quarter: a view, no copy. A planar
        // 4:2:0 frame has no single-rectangle ROI: crop its luma plane.
        .stage(
            "crop",
            Link::drop_oldest(2),
            stage_fn(|frame: Frame| {
                let (w, h) = ((frame.width() / 2) & !1, (frame.height() / 2) & !1);
                let whole = if frame.format().is_planar_420() {
                    frame.plane(0)?
                } else {
                    frame
                };
                Ok(Some(whole.roi(0, 0, w.max(2), h.max(2))?))
            }),
        )
        .sink("null", Link::block(2), sink)
        .start();
    let pipeline = match pipeline {
        Ok(p) => p,
        Err(e) => {
            eprintln!("synthetic_pipeline: {}", Chain(&e));
            return false;
        }
    };
    println!("running");
    let _ = std::io::stdout().flush();
    let deadline = args.seconds.map(|s| started + Duration::from_secs_f64(s));
    loop {
        if pipeline.wait(Duration::from_millis(20)) {
            break; // every element finished by itself (frame limit)
        }
        if root.is_cancelled() {
            break; // Ctrl-C
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
    }
    let report = pipeline.shutdown();
    let elapsed = started.elapsed();
    let snap = stats.snapshot();
    println!(
        "stats: {} frames in {:.2?} ({:.1} fps), {} dropped, {} gaps, latency p50 {:.0?} p99 {:.0?}, checksum {:016x}",
        snap.frames,
        elapsed,
        snap.frames as f64 / elapsed.as_secs_f64().max(1e-9),
        report.dropped(),
        snap.gaps,
        snap.latency_p50,
        snap.latency_p99,
        snap.checksum_sum
    );
    println!("{report}");
    report.is_clean()
}
