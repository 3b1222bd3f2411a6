//! The main job: capture → convert (OpenCV, into pooled BGR frames) → display.
//!
//! ```text
//! cargo run --release --example capture_display -- [--device /dev/video0|NAME] [--synthetic]
//!     [--format YUYV] [--size 640x480] [--fps 30] [--buffers 4]
//!     [--headless] [--snapshot-dir DIR] [--snapshot-every N]
//!     [--frames N] [--seconds S] [--list]
//! ```
//!
//! Uses the named camera, else the first V4L2 capture device; with none it says so and
//! runs the embedded synthetic test pattern. Shows the frames in a window when a display
//! exists; with none (or `--headless`) writes a PNG snapshot every N frames instead.
//! `q`, `Esc`, closing the window or Ctrl-C shut the pipeline down in order (source first,
//! then the stages drain, then the display); a second Ctrl-C exits at once with status 130.
//! At exit it prints the stats line (frames, fps, dropped, copied, latency p50/p99) and the
//! leak report. Exit status: 0 clean, 1 failure or leak, 2 bad arguments.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use common::{ctrlc_root, leak_checked, Chain};
use framekeep::core::frame::{Frame, FrameSize, PixelFormat};
use framekeep::core::pipeline::{
    Link, Output, PipelineBuilder, Sink, Stage, StageError, SyntheticSource,
};
use framekeep::core::time::{monotonic_now, LatencyHistogram};
use framekeep::cv::convert::SizedBgrConverter;
use framekeep::cv::display::{Display, DisplayOptions, Headless};
use framekeep::cv::io::ImageSink;
use framekeep::cv::CvError;
use framekeep::v4l::{
    list_devices, CaptureStream, FormatRequest, FourCc, StreamOptions, StreamSource,
};

#[derive(Parser, Debug)]
#[command(about = "framekeep's main job: capture → convert → display, with a leak report at exit")]
struct Args {
    /// Camera to use: a device path (/dev/video0), or a bus-info / card-name match.
    /// Default: the first V4L2 capture device; the synthetic pattern if there is none.
    #[arg(long)]
    device: Option<String>,
    /// Use the synthetic test pattern even when a camera exists.
    #[arg(long)]
    synthetic: bool,
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
    /// No window: write PNG snapshots instead (also the fallback when no display exists).
    #[arg(long)]
    headless: bool,
    /// Where headless snapshots go.
    #[arg(long, default_value = "snapshots")]
    snapshot_dir: PathBuf,
    /// Write one snapshot every N frames in headless mode.
    #[arg(long, default_value_t = 30)]
    snapshot_every: u64,
    /// Stop after this many frames.
    #[arg(long)]
    frames: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    seconds: Option<f64>,
    /// List the V4L2 capture devices with their formats and exit.
    #[arg(long)]
    list: bool,
}

/// Converts every frame to BGR through OpenCV into its own pool, and records
/// capture → convert latency for the stats line. A corrupt MJPEG frame (one the camera's
/// structural check let through and the strict decoder refused) is skipped and counted.
struct Convert {
    converter: SizedBgrConverter,
    latency: Arc<Mutex<LatencyHistogram>>,
    corrupt: Arc<AtomicU64>,
}

impl Stage for Convert {
    fn process(&mut self, frame: Frame, out: &mut Output<'_>) -> Result<(), StageError> {
        let bgr = match self.converter.convert(&frame) {
            Ok(bgr) => bgr,
            Err(CvError::Corrupt { .. }) => {
                self.corrupt
                    .store(self.converter.corrupt(), Ordering::Relaxed);
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        drop(frame);
        let now = monotonic_now();
        if let Some(lat) = now.checked_sub(bgr.timestamp()) {
            self.latency.lock().unwrap().record(lat);
        }
        out.emit(bgr)
    }
}

/// Checks what clap cannot: ranges, and whether the format has pixels to show.
fn check(args: &Args) -> Result<(), String> {
    if args.fps == 0 || args.buffers < 2 || args.snapshot_every == 0 {
        return Err("--fps and --snapshot-every must be at least 1, --buffers at least 2".into());
    }
    let (w, h) = (args.size.width, args.size.height);
    if u32::try_from(w).is_err() || u32::try_from(h).is_err() {
        return Err(format!(
            "--size {w}x{h}: a V4L2 frame size is at most 4294967295 a side"
        ));
    }
    Ok(())
}

fn list() -> ExitCode {
    let devices = list_devices();
    if devices.is_empty() {
        println!("no V4L2 capture device found under /dev/video*");
    }
    for d in devices {
        println!("{:?}", d.info);
        for f in d.formats {
            println!("  {f:?}");
        }
    }
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    // This program's stderr holds its own messages, not OpenCV's log.
    framekeep::cv::silence_opencv_log();
    let args = Args::parse();
    if args.list {
        return list();
    }
    if let Err(e) = check(&args) {
        eprintln!("capture_display: {e}");
        return ExitCode::from(2);
    }
    let (format, width, height) = (args.format, args.size.width, args.size.height);
    leak_checked(|| {
        // The BGR pool for the asked size, before any source exists: a size too large for
        // memory is a bad argument (exit 2), camera or not.
        let converter = match SizedBgrConverter::with_size(width, height, 4, "convert") {
            Ok(c) => c,
            Err(e) => {
                eprintln!("capture_display: --size {width}x{height}: {}", Chain(&e));
                return ExitCode::from(2);
            }
        };
        run(&args, format, width, height, converter)
    })
}

/// The camera to open: the one asked for, or the first one found.
fn camera(args: &Args) -> Option<String> {
    if args.synthetic {
        return None;
    }
    if let Some(d) = &args.device {
        return Some(d.clone());
    }
    match list_devices().into_iter().next() {
        Some(d) => Some(d.info.path),
        None => {
            println!(
                "no camera found (no V4L2 capture device under /dev/video*): \
                 running the synthetic test pattern instead (--synthetic chooses it explicitly, --list shows devices)"
            );
            None
        }
    }
}

fn run(
    args: &Args,
    format: PixelFormat,
    width: usize,
    height: usize,
    converter: SizedBgrConverter,
) -> ExitCode {
    let root = ctrlc_root();
    let latency = Arc::new(Mutex::new(LatencyHistogram::new()));
    let corrupt = Arc::new(AtomicU64::new(0));
    // The camera's final statistics arrive when its stream closes.
    let (camera_tx, camera_stats) = mpsc::channel();
    let mut builder = PipelineBuilder::new("capture-display").with_cancel(&root);

    // The source: a camera when there is one, the synthetic pattern otherwise.
    let mut synthetic = false;
    match camera(args) {
        Some(device) => {
            // `check` made sure both fit a u32.
            let request = FormatRequest::new(FourCc(format.fourcc()), width as u32, height as u32)
                .fps(args.fps);
            let options = StreamOptions::new()
                .format(request)
                .buffers(args.buffers)
                .timeout(Duration::from_secs(2))
                .with_on_close(move |stats| {
                    let _ = camera_tx.send(*stats);
                });
            let stream = match CaptureStream::open(&device, options) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!(
                        "capture_display: cannot capture from {device}: {}",
                        Chain(&e)
                    );
                    eprintln!("(run with --synthetic to use the built-in test pattern)");
                    return ExitCode::from(1);
                }
            };
            println!("camera {device}: {:?}", stream.negotiated());
            let mut source = StreamSource::new(stream);
            if let Some(n) = args.frames {
                source = source.frames(n);
            }
            builder = builder.source("camera", source);
        }
        None => {
            let mut source = SyntheticSource::builder(format, width, height)
                .fps(args.fps as f64)
                .buffers(args.buffers as usize);
            if let Some(n) = args.frames {
                source = source.frames(n);
            }
            let source = match source.build() {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("capture_display: {}", Chain(&e));
                    return ExitCode::from(2);
                }
            };
            synthetic = true;
            println!(
                "synthetic test pattern: {width}x{height} {format} at {} fps",
                args.fps
            );
            builder = builder.source("synthetic", source);
        }
    }
    builder = builder.stage(
        "convert",
        Link::block(2),
        Convert {
            converter,
            latency: latency.clone(),
            corrupt: corrupt.clone(),
        },
    );

    // The sink: a window, or snapshots when there is no display.
    let display = if args.headless {
        None
    } else {
        match Display::open(
            DisplayOptions::new()
                .with_cancel(&root)
                .with_release()
                .overlay(true)
                .headless(Headless::Fail),
        ) {
            Ok(d) => Some(d),
            Err(e) => {
                println!(
                    "{e}: writing a PNG snapshot every {} frames to {} instead",
                    args.snapshot_every,
                    args.snapshot_dir.display()
                );
                None
            }
        }
    };
    let mut window_stats = None;
    let mut written = None;
    builder = match &display {
        Some(display) => {
            let window = match display.window("framekeep") {
                Ok(w) => w,
                Err(e) => {
                    eprintln!("capture_display: {}", Chain(&e));
                    return ExitCode::from(1);
                }
            };
            window_stats = Some(window.stats());
            let options = window.sink_options();
            builder.sink_with("display", Link::latest(), window, options)
        }
        None => {
            let sink = match ImageSink::new(&args.snapshot_dir) {
                Ok(s) => s.every(Some(args.snapshot_every)),
                Err(e) => {
                    eprintln!("capture_display: {}", Chain(&e));
                    return ExitCode::from(1);
                }
            };
            written = Some(sink.written());
            builder.sink("snapshots", Link::latest(), Box::new(sink) as Box<dyn Sink>)
        }
    };

    let pipeline = match builder.start() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("capture_display: {}", Chain(&e));
            return ExitCode::from(1);
        }
    };
    println!("running: q, Esc, closing the window or Ctrl-C stops");
    let _ = std::io::stdout().flush();
    let started = Instant::now();
    let deadline = args.seconds.map(|s| started + Duration::from_secs_f64(s));
    while !root.is_cancelled() && !pipeline.is_finished() {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        root.wait_timeout(Duration::from_millis(50));
    }
    let elapsed = started.elapsed();
    let report = pipeline.shutdown();
    let closed = display.map(Display::close);

    let frames = report.element("convert").map_or(0, |s| s.frames_out);
    let lat = latency.lock().unwrap().clone();
    let cam = camera_stats.try_recv().ok();
    let (dropped, copied) = match &cam {
        Some(s) => (s.dropped + report.dropped().total(), s.copied),
        None => (report.dropped().total(), 0),
    };
    // Corrupt MJPEG frames: refused by the camera stream's check, or by the decoder.
    let corrupt = cam.map_or(0, |s| s.corrupt) + corrupt.load(Ordering::Relaxed);
    println!("{report}");
    if let Some(c) = &closed {
        println!("{c}");
    }
    if let Some(w) = &window_stats {
        println!("window: {:?}", w.snapshot());
    }
    if let Some(w) = &written {
        println!("snapshots written: {}", w.lock().len());
    }
    if synthetic {
        let produced = report.element("synthetic").map_or(0, |s| s.frames_in);
        println!("synthetic source: produced {produced}");
    }
    if let Some(s) = &cam {
        println!("camera: {s}");
    }
    println!(
        "stats: frames {frames}, {:.1} fps, dropped {dropped}, copied {copied}, corrupt {corrupt}, latency p50 {:.2} ms p99 {:.2} ms",
        frames as f64 / elapsed.as_secs_f64().max(1e-9),
        lat.quantile(0.50).as_secs_f64() * 1e3,
        lat.quantile(0.99).as_secs_f64() * 1e3,
    );
    let clean = report.is_clean() && closed.as_ref().is_none_or(|c| c.is_clean());
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
