//! `framekeep serve`: one camera for many processes. Captures (or draws the synthetic
//! pattern) and publishes every frame as a framekeep-ipc service that `framekeep view
//! ipc:NAME`, `framekeep snap NAME` and any framekeep-ipc subscriber receive.
//!
//! With a camera whose driver takes user memory (`V4L2_MEMORY_USERPTR`) the capture
//! buffers are the service's shared-memory samples ([`Publisher::loan_frame`]): the
//! driver writes into them and each dequeued frame is sent as it is, no copy. Where the
//! driver refuses user memory (or with `--memory mmap`), and for the synthetic pattern,
//! each frame is copied once into a sample, counted as `copied` in the stats line.
//!
//! Shutdown (`--frames`, `--seconds`, Ctrl-C; a second Ctrl-C exits with 130): the source
//! stops first (the capture stream's STREAMOFF; loans still queued in the driver go back
//! unsent), the publishing sink drains, then the publisher's last handle goes (its port,
//! then its notifier: subscribers see the end of the stream), then the stats line, the
//! subscribers as last seen, and the leak report.

use std::io::Write;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use framekeep_cli::app::{ctrlc_root, leak_checked, run_status, Chain};
use framekeep_core::frame::{Frame, FrameLayout, FrameSize, PixelFormat};
use framekeep_core::pipeline::{Link, PipelineBuilder};
use framekeep_ipc::{Publisher, PublisherOptions};
use framekeep_v4l::{BufferMode, CaptureBuffers, CaptureError, StreamSource};

use crate::service;
use crate::source::{self, CameraRequest};

/// The options of `framekeep serve`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The camera (a device path such as /dev/video0, or a bus-info / card-name match) or
    /// `synthetic`. Default: the first V4L2 capture device; the synthetic pattern if there
    /// is none.
    source: Option<String>,
    /// The service name subscribers ask for (`framekeep view ipc:NAME`).
    #[arg(long, default_value = "camera/front")]
    name: String,
    /// Pixel format: a V4L2 fourcc (YUYV, UYVY, NV12, YU12, MJPG, GREY, BGR3, RGB3) or a name.
    #[arg(long, default_value = "YUYV")]
    format: PixelFormat,
    /// Frame size, WxH.
    #[arg(long, default_value = "640x480")]
    size: FrameSize,
    /// Frames per second to ask for.
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// Driver buffers (camera) or pool buffers (synthetic).
    #[arg(long, default_value_t = 4)]
    buffers: u32,
    /// Camera memory: `userptr` (capture into the service's samples, no copy; one copy
    /// where the driver refuses) or `mmap` (the driver's buffers, one copy per frame).
    #[arg(long, default_value = "userptr", value_parser = ["userptr", "mmap"])]
    memory: String,
    /// Most subscribers at once (1 to 32).
    #[arg(long, default_value_t = 8)]
    max_subscribers: usize,
    /// Publish nothing until this many subscribers are attached (they then miss no frame).
    #[arg(long, default_value_t = 0)]
    wait_subscribers: usize,
    /// Stop after this many frames.
    #[arg(long)]
    frames: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    seconds: Option<f64>,
}

/// The capture buffers of a USERPTR stream: samples loaned from the publisher, so that
/// the driver writes straight into shared memory.
struct Loans(Publisher);

impl CaptureBuffers for Loans {
    fn next_buffer(&mut self, bytes: usize) -> Result<Option<Frame>, CaptureError> {
        self.0.loan_frame(bytes).map_err(|e| CaptureError::Io {
            op: "loaning a shared-memory sample",
            source: std::io::Error::other(e),
        })
    }
}

/// Checks what clap cannot: ranges.
fn check(args: &Args) -> Result<Option<Duration>, String> {
    if args.fps == 0 || args.buffers < 2 || args.max_subscribers == 0 {
        return Err("--fps and --max-subscribers must be at least 1, --buffers at least 2".into());
    }
    if args.wait_subscribers > args.max_subscribers {
        return Err(format!(
            "--wait-subscribers {} is more than --max-subscribers {}",
            args.wait_subscribers, args.max_subscribers
        ));
    }
    source::check_size(args.size)?;
    source::run_time(args.seconds)
}

/// Runs `framekeep serve`; see the module docs.
pub fn run(args: &Args) -> ExitCode {
    let seconds = match check(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("framekeep serve: {e}");
            return ExitCode::from(2);
        }
    };
    if service::requested(&args.name).is_some() {
        eprintln!(
            "framekeep serve: --name {}: give the service name without `{}`",
            args.name,
            service::PREFIX
        );
        return ExitCode::from(2);
    }
    leak_checked(|| serve(args, seconds))
}

fn serve(args: &Args, seconds: Option<Duration>) -> ExitCode {
    let (format, width, height) = (args.format, args.size.width, args.size.height);
    let root = ctrlc_root();
    let domain = match service::domain() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("framekeep serve: {}", Chain(&e));
            return ExitCode::from(1);
        }
    };
    let mut options = PublisherOptions::new()
        .name(&format!("framekeep serve (pid {})", std::process::id()))
        .max_subscribers(args.max_subscribers)
        // A USERPTR stream keeps its buffers loaned, plus the frames on their way to the
        // sink and one being filled.
        .max_loans(args.buffers as usize + 4)
        .with_cancel(&root);
    if let Ok(layout) = FrameLayout::packed(format, width, height) {
        options = options.initial_layout(layout);
    }
    let publisher = match Publisher::create(&domain, &args.name, options) {
        Ok(p) => p,
        Err(e) => {
            eprintln!(
                "framekeep serve: cannot publish {}: {}",
                args.name,
                Chain(&e)
            );
            return ExitCode::from(1);
        }
    };
    let (camera_tx, camera_stats) = mpsc::channel();
    let mut builder = PipelineBuilder::new("serve").with_cancel(&root);
    let mut memory = None;
    let request = CameraRequest {
        format,
        size: args.size,
        fps: args.fps,
        buffers: args.buffers,
    };
    let camera = source::choose_camera(
        args.source.as_deref(),
        "serving the synthetic test pattern instead",
    );
    match camera {
        Some(device) => {
            let mut options = request.options(camera_tx);
            if args.memory == "userptr" {
                options = options.user_buffers(Loans(publisher.clone()));
            }
            let stream = match source::open_camera("serve", &device, options) {
                Ok(s) => s,
                Err(code) => return code,
            };
            memory = Some(stream.negotiated().memory);
            let mut source = StreamSource::new(stream);
            if let Some(n) = args.frames {
                source = source.frames(n);
            }
            builder = builder.source("camera", source);
        }
        None => {
            let source = match source::synthetic("serve", &request, args.frames) {
                Ok(s) => s,
                Err(code) => return code,
            };
            builder = builder.source("synthetic", source);
        }
    }
    builder = builder.sink("publish", Link::block(2), publisher.clone());
    println!(
        "serving {}{} ({})",
        service::PREFIX,
        args.name,
        match memory {
            Some(BufferMode::UserPtr) => "zero copy: the driver fills shared memory",
            Some(_) => "one copy per frame from the driver's buffers",
            None => "one copy per frame",
        }
    );
    if args.wait_subscribers > 0 {
        println!("waiting for {} subscriber(s)", args.wait_subscribers);
        let _ = std::io::stdout().flush();
        while !root.is_cancelled() && publisher.subscribers().len() < args.wait_subscribers {
            root.wait_timeout(Duration::from_millis(10));
        }
    }
    let pipeline = match builder.start() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("framekeep serve: {}", Chain(&e));
            return ExitCode::from(1);
        }
    };
    println!("running: Ctrl-C stops");
    let _ = std::io::stdout().flush();
    let started = Instant::now();
    // Ctrl-C cancels the pipeline's tokens (children of `root`), so one wait covers it,
    // `--frames` (the source ends) and `--seconds`.
    pipeline.wait(seconds.unwrap_or(Duration::MAX));
    let elapsed = started.elapsed();
    let report = pipeline.shutdown();
    // What the subscribers said last, before the publisher goes.
    let subscribers = publisher.subscribers();
    let stats = publisher.stats();
    // The last handle: its port, then its notifier (subscribers see the end).
    drop(publisher);

    let cam = camera_stats.try_recv().ok();
    // Copies by the stream (a driver that refused user memory: mmap buffers copied into
    // the loans, then sent as loans) and by the publisher (anything not a loan).
    let copied = stats.copied + cam.map_or(0, |s| s.copied);
    let zero_copy = stats.zero_copy.saturating_sub(cam.map_or(0, |s| s.copied));
    let dropped = report.dropped().total() + cam.map_or(0, |s| s.dropped);
    println!("{report}");
    if let Some(s) = &cam {
        println!("camera: {s}");
    }
    println!("publisher: {stats}");
    for s in &subscribers {
        println!("subscriber {s}");
    }
    println!(
        "stats: frames {}, {:.1} fps, published {}, dropped {dropped}, copied {copied}, zero-copy {zero_copy}, subscribers {}",
        stats.published,
        stats.published as f64 / elapsed.as_secs_f64().max(1e-9),
        stats.published,
        subscribers.len(),
    );
    run_status("framekeep serve", &report, None)
}
