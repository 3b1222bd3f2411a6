//! `framekeep view`: the main job. A camera (or the synthetic pattern) →
//! BGR (into pooled frames, on the source's own thread) → a window, or headless snapshots.
//!
//! Uses the camera named by SOURCE, else the first V4L2 capture device; with none it says
//! so and runs the embedded synthetic test pattern. Shows the frames in a window when a
//! display exists; with none (or `--headless`) writes a PNG snapshot every N frames
//! instead, keeping only the newest few (`--snapshots-kept`), so a long run cannot fill the
//! disk. `q`, `Esc`, closing the window or Ctrl-C shut the pipeline down in order (source
//! first, then the stages drain, then the display); a second Ctrl-C exits at once with
//! status 130. At exit it prints the stats line (frames, fps, dropped, copied, latency
//! p50/p99) and the leak report.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::service;
use crate::source::{self, CameraRequest};
use framekeep_cli::app::{ctrlc_root, leak_checked, run_status, Chain};
use framekeep_core::cancel::CancelToken;
use framekeep_core::frame::{Frame, FrameSize, PixelFormat};
use framekeep_core::pipeline::{Link, PipelineBuilder, Sink, Source, StageError};
use framekeep_core::time::{monotonic_now, LatencyHistogram};
use framekeep_cv::convert::SizedBgrConverter;
use framekeep_cv::display::{Display, DisplayOptions, Headless};
use framekeep_cv::io::ImageSink;
use framekeep_cv::CvError;
use framekeep_v4l::StreamSource;

/// The options of `framekeep view`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// What to view: a camera (a device path such as /dev/video0, or a bus-info /
    /// card-name match), `synthetic`, or a service another process publishes
    /// (`ipc:camera/front`, see `framekeep serve`). Default: the first V4L2 capture
    /// device; the synthetic pattern if there is none.
    source: Option<String>,
    /// Pixel format: a V4L2 fourcc (YUYV, UYVY, NV12, YU12, MJPG, GREY, BGR3, RGB3) or a name.
    #[arg(long, default_value = "YUYV")]
    format: PixelFormat,
    /// Frame size, WxH.
    #[arg(long, default_value = "640x480")]
    size: FrameSize,
    /// Frames per second to ask for (a service: at most this many taken, the newest each
    /// time; the ones in between are dropped and counted).
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
    /// Keep only the newest N snapshots (older ones are removed as new ones come).
    #[arg(long, default_value_t = 10)]
    snapshots_kept: usize,
    /// Stop after this many frames.
    #[arg(long)]
    frames: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    seconds: Option<f64>,
}

/// Converts every frame to BGR into its own pool (YUYV/UYVY by framekeep's exact
/// conversion, other formats by OpenCV), and records capture → convert latency for the
/// stats line. A corrupt MJPEG frame (one the camera's structural check let through and
/// the strict decoder refused) is skipped and counted.
struct Convert {
    converter: SizedBgrConverter,
    latency: Arc<Mutex<LatencyHistogram>>,
    corrupt: Arc<AtomicU64>,
}

impl Convert {
    /// `frame` as BGR (released as soon as it is converted); `None` for a corrupt frame.
    fn convert(&mut self, frame: Frame) -> Result<Option<Frame>, StageError> {
        let bgr = match self.converter.convert(&frame) {
            Ok(bgr) => bgr,
            Err(CvError::Corrupt { .. }) => {
                self.corrupt
                    .store(self.converter.corrupt(), Ordering::Relaxed);
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        drop(frame);
        if let Some(lat) = monotonic_now().checked_sub(bgr.timestamp()) {
            self.latency
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .record(lat);
        }
        Ok(Some(bgr))
    }
}

/// Capture and conversion fused into one pipeline element: the source's worker converts
/// each frame as soon as it has it, so a frame is handed over once (to the display or
/// snapshot sink) instead of twice, and one thread fewer wakes per frame (issue 15).
struct Converted<S> {
    source: S,
    convert: Convert,
}

impl<S: Source> Source for Converted<S> {
    fn next_frame(&mut self, token: &CancelToken) -> Result<Option<Frame>, StageError> {
        loop {
            let Some(frame) = self.source.next_frame(token)? else {
                return Ok(None);
            };
            if let Some(bgr) = self.convert.convert(frame)? {
                return Ok(Some(bgr));
            }
        }
    }

    fn close(&mut self) {
        self.source.close();
    }
}

/// Checks what clap cannot: ranges.
fn check(args: &Args) -> Result<Option<Duration>, String> {
    if args.fps == 0 || args.buffers < 2 || args.snapshot_every == 0 || args.snapshots_kept == 0 {
        return Err(
            "--fps, --snapshot-every and --snapshots-kept must be at least 1, --buffers at least 2"
                .into(),
        );
    }
    source::check_size(args.size)?;
    source::run_time(args.seconds)
}

/// Runs the main job; see the module docs.
pub fn run(args: &Args) -> ExitCode {
    let seconds = match check(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("framekeep view: {e}");
            return ExitCode::from(2);
        }
    };
    let (width, height) = (args.size.width, args.size.height);
    // Conversions run on the source's thread only: formats OpenCV still converts (I420,
    // grey, RGB, padded NV12) would otherwise be split across its worker threads, which
    // costs more CPU per frame than it saves in latency (BENCHMARKS.md 4b).
    let _ = framekeep_cv::opencv::core::set_num_threads(1);
    leak_checked(|| {
        // The BGR pool for the asked size, before any source exists: a size too large for
        // memory is a bad argument (exit 2), camera or not.
        let converter = match SizedBgrConverter::with_size(width, height, 4, "convert") {
            Ok(c) => c,
            Err(e) => {
                eprintln!("framekeep view: --size {width}x{height}: {}", Chain(&e));
                return ExitCode::from(2);
            }
        };
        view(args, seconds, converter)
    })
}

fn view(args: &Args, seconds: Option<Duration>, converter: SizedBgrConverter) -> ExitCode {
    let format = args.format;
    let root = ctrlc_root();
    let latency = Arc::new(Mutex::new(LatencyHistogram::new()));
    let corrupt = Arc::new(AtomicU64::new(0));
    // The camera's final statistics arrive when its stream closes.
    let (camera_tx, camera_stats) = mpsc::channel();
    let mut builder = PipelineBuilder::new("view").with_cancel(&root);

    // The source: a camera when there is one, the synthetic pattern otherwise; either
    // converts its frames on its own thread.
    let convert = Convert {
        converter,
        latency: latency.clone(),
        corrupt: corrupt.clone(),
    };
    // The source element's name, whose frames out the stats line counts.
    let mut source_name = "camera";
    let mut service_stats = None;
    let request = CameraRequest {
        format,
        size: args.size,
        fps: args.fps,
        buffers: args.buffers,
    };
    let camera = source::choose_camera(
        args.source.as_deref(),
        "running the synthetic test pattern instead (`framekeep view synthetic` chooses it \
         explicitly, `framekeep list` shows devices)",
    );
    match camera {
        Some(source) if service::requested(&source).is_some() => {
            let name = service::requested(&source).unwrap_or_default();
            let (source, stats) = match service::ServiceSource::connect(
                "framekeep view",
                name,
                Some(args.fps),
                args.frames,
            ) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(1);
                }
            };
            println!(
                "viewing service {}{name}, at most {} fps",
                service::PREFIX,
                args.fps
            );
            service_stats = Some((name.to_owned(), stats));
            source_name = "service";
            builder = builder.source("service", Converted { source, convert });
        }
        Some(device) => {
            let stream = match source::open_camera("view", &device, request.options(camera_tx)) {
                Ok(s) => s,
                Err(code) => return code,
            };
            let mut source = StreamSource::new(stream);
            if let Some(n) = args.frames {
                source = source.frames(n);
            }
            builder = builder.source("camera", Converted { source, convert });
        }
        None => {
            let source = match source::synthetic("view", &request, args.frames) {
                Ok(s) => s,
                Err(code) => return code,
            };
            source_name = "synthetic";
            builder = builder.source("synthetic", Converted { source, convert });
        }
    }

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
                    "{}: writing a PNG snapshot every {} frames to {} instead",
                    Chain(&e),
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
                    eprintln!("framekeep view: {}", Chain(&e));
                    return ExitCode::from(1);
                }
            };
            window_stats = Some(window.stats());
            let options = window.sink_options();
            builder.sink_with("display", Link::latest(), window, options)
        }
        None => {
            let sink = match ImageSink::new(&args.snapshot_dir) {
                Ok(s) => s
                    .every(Some(args.snapshot_every))
                    .keep_last(args.snapshots_kept),
                Err(e) => {
                    eprintln!("framekeep view: {}", Chain(&e));
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
            eprintln!("framekeep view: {}", Chain(&e));
            return ExitCode::from(1);
        }
    };
    println!("running: q, Esc, closing the window or Ctrl-C stops");
    let _ = std::io::stdout().flush();
    let started = Instant::now();
    let deadline = seconds.and_then(|s| started.checked_add(s));
    while !root.is_cancelled() && !pipeline.is_finished() {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        root.wait_timeout(Duration::from_millis(50));
    }
    let elapsed = started.elapsed();
    let report = pipeline.shutdown();
    let closed = display.map(Display::close);

    let frames = report.element(source_name).map_or(0, |s| s.frames_out);
    let lat = latency.lock().unwrap_or_else(|e| e.into_inner()).clone();
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
        println!("snapshots kept: {}", w.lock().len());
    }
    if source_name == "synthetic" {
        let produced = report.element("synthetic").map_or(0, |s| s.frames_in);
        println!("synthetic source: produced {produced}");
    }
    if let Some(s) = &cam {
        println!("camera: {s}");
    }
    if let Some((name, s)) = &service_stats {
        println!("service {}{name}: {s}", service::PREFIX);
    }
    println!(
        "stats: frames {frames}, {:.1} fps, dropped {dropped}, copied {copied}, corrupt {corrupt}, latency p50 {:.2} ms p99 {:.2} ms",
        frames as f64 / elapsed.as_secs_f64().max(1e-9),
        lat.quantile(0.50).as_secs_f64() * 1e3,
        lat.quantile(0.99).as_secs_f64() * 1e3,
    );
    run_status("framekeep view", &report, closed.as_ref())
}
