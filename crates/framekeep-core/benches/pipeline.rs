//! The synthetic 1080p pipeline against a naive one, in one run.
//!
//! Before criterion runs, a summary prints:
//!
//! * **Throughput**: synthetic 1920x1080 BGR24 source → 2 stages → null sink
//!   (full checksum) at full speed: frames/s, heap allocations per frame and
//!   minor page faults per frame in steady state (a counting global
//!   allocator and `getrusage`), and per-frame framework overhead: CPU time
//!   per frame minus the time the same pixel work (drawing the pattern,
//!   checksumming) takes alone. Against a naive version that allocates a new
//!   `Vec` per frame and sends it through unbounded channels, same stages,
//!   same pixel work. Target: ≥ 3x the naive throughput, 0 allocations and
//!   0 faults per frame.
//! * **Framework overhead alone**: the same two pipelines with no pixel
//!   work at all (the source only takes a 1080p buffer and stamps it, the
//!   sink only counts), so each frame costs just what the framework (or the
//!   naive version's allocator and channels) adds: wall time per frame.
//! * **Latency**: the same pipeline paced at 60 fps, frame timestamp (taken
//!   when the frame is drawn) to arrival at the sink, p50/p99. Target: p99 <
//!   1 ms. Twice: with the threads free to run on any CPU (the default), and
//!   with the whole pipeline on one CPU (`SupervisorOptions::cpus`), where a
//!   frame's hand-overs are context switches instead of cross-CPU wake-ups.
//! * **Shutdown**: from the cancel to every worker joined, p50/p99 over
//!   repeated runs, both for a root cancel and for the drain-order
//!   `Pipeline::shutdown`. Target: p99 < 50 ms.

//!
//! The naive version's cost is bimodal, decided inside its own process by
//! glibc's malloc: after it frees a mapped 6 MB block it raises its mmap
//! threshold and serves later frames from its arenas; whether those arenas
//! keep the freed memory (a `memset` per frame, ~40 faults) or trim it and
//! fault it back in (~300 faults per frame) depends on how the frames in
//! flight happen to interleave. Each round prints which one it got.
//!
//! Criterion then measures one edge round trip (send + receive of a pooled
//! frame) per policy.
//!
//! Run: `cargo bench -p framekeep-core --bench pipeline`
//! (`FRAMEKEEP_BENCH_SECONDS=N` for longer windows; default 3). The two
//! throughput versions alternate for 6 rounds each, every window in a fresh
//! process, and the median round of each is reported, so a change in machine
//! load hits both and neither inherits the other's allocator state.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use framekeep_core::cancel::CancelToken;
use framekeep_core::frame::{Frame, FrameLayout, PixelFormat};
use framekeep_core::pipeline::{edge, stage_fn, Link, Pipeline, PipelineBuilder, SyntheticSource};
use framekeep_core::pool::{Exhausted, PoolOptions};
use framekeep_core::supervisor::{current_thread_cpus, SupervisorOptions};
use framekeep_core::testing::TestPattern;
use framekeep_core::testing::{checksum, Checksum, NullSink};
use framekeep_core::time::monotonic_now;
use framekeep_core::time::LatencyHistogram;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
#[path = "support/rusage.rs"]
mod rusage;
use counting_alloc::{Counting, ALLOCS};
use rusage::{cpu_time, rusage};

#[global_allocator]
static GLOBAL: Counting = Counting;

const W: usize = 1920;
const H: usize = 1080;
const BUFFERS: usize = 12;
const ROUNDS: usize = 6;
const WARM_UP: Duration = Duration::from_millis(500);

fn layout() -> FrameLayout {
    FrameLayout::packed(PixelFormat::Bgr24, W, H).expect("layout")
}

/// Process-wide minor faults and CPU time (user + system).
fn usage() -> (u64, Duration) {
    let u = rusage(libc::RUSAGE_SELF);
    (u.ru_minflt as u64, cpu_time(&u))
}

/// Counters over a steady-state window.
struct Window {
    frames: u64,
    wall: Duration,
    cpu: Duration,
    allocs: u64,
    faults: u64,
    /// Peak resident memory of the process, KiB (known for child-process windows).
    peak_rss_kib: u64,
}

impl Window {
    fn fps(&self) -> f64 {
        self.frames as f64 / self.wall.as_secs_f64()
    }
    fn per_frame(&self, n: u64) -> f64 {
        n as f64 / self.frames.max(1) as f64
    }
    fn cpu_per_frame(&self) -> Duration {
        self.cpu / self.frames.max(1) as u32
    }
}

/// Measures `frames()` over `window` after a warm-up.
fn measure(window: Duration, frames: impl Fn() -> u64) -> Window {
    thread::sleep(WARM_UP);
    let (f0, a0, (m0, c0), t0) = (
        frames(),
        ALLOCS.load(Ordering::Relaxed),
        usage(),
        Instant::now(),
    );
    thread::sleep(window);
    let (f1, a1, (m1, c1), wall) = (
        frames(),
        ALLOCS.load(Ordering::Relaxed),
        usage(),
        t0.elapsed(),
    );
    Window {
        frames: f1 - f0,
        wall,
        cpu: c1 - c0,
        allocs: a1 - a0,
        faults: m1 - m0,
        peak_rss_kib: 0,
    }
}

fn identity() -> impl framekeep_core::pipeline::Stage {
    stage_fn(|f: Frame| Ok(Some(black_box(f))))
}

fn framekeep_pipeline(
    root: &CancelToken,
    fps: Option<f64>,
    checksum: Checksum,
) -> (Pipeline, framekeep_core::testing::NullSinkStats) {
    framekeep_pipeline_with(root, fps, checksum, SupervisorOptions::new())
}

fn framekeep_pipeline_with(
    root: &CancelToken,
    fps: Option<f64>,
    checksum: Checksum,
    options: SupervisorOptions,
) -> (Pipeline, framekeep_core::testing::NullSinkStats) {
    let mut source = SyntheticSource::builder(PixelFormat::Bgr24, W, H).buffers(BUFFERS);
    if let Some(fps) = fps {
        source = source.fps(fps);
    }
    let sink = NullSink::new().checksum(checksum);
    let stats = sink.stats();
    let pipeline = PipelineBuilder::new("bench")
        .with_cancel(root)
        .supervisor_options(options)
        .source("pattern", source.build().expect("source"))
        .stage("a", Link::block(2), identity())
        .stage("b", Link::block(2), identity())
        .sink("null", Link::block(2), sink)
        .start()
        .expect("start");
    (pipeline, stats)
}

fn run_framekeep(window: Duration) -> Window {
    let root = CancelToken::new();
    let (pipeline, stats) = framekeep_pipeline(&root, None, Checksum::Full);
    let w = measure(window, || stats.snapshot().frames);
    pipeline.shutdown();
    w
}

/// The naive version: a fresh `Vec` per frame, unbounded channels, the same
/// pattern and checksum, the same number of threads.
fn run_naive(window: Duration) -> Window {
    let mut pattern = TestPattern::new(layout()).expect("pattern");
    run_naive_with(
        window,
        None,
        move |n| {
            let mut buf = vec![0u8; layout().len()];
            pattern.render(n, &mut buf);
            buf
        },
        |buf| {
            black_box(checksum(buf));
        },
    )
}

/// The naive pipeline's threads: a source making each frame with `make`
/// (holding back while more than `bound` frames wait on its output, if
/// given), two forwarding stages, a sink that runs `consume` and counts; all
/// wired by unbounded channels.
fn run_naive_with(
    window: Duration,
    bound: Option<usize>,
    mut make: impl FnMut(u64) -> Vec<u8> + Send + 'static,
    consume: impl Fn(&[u8]) + Send + 'static,
) -> Window {
    let stop = CancelToken::new();
    let count = std::sync::Arc::new(AtomicU64::new(0));
    let (tx0, rx0) = crossbeam_channel::unbounded::<Vec<u8>>();
    let (tx1, rx1) = crossbeam_channel::unbounded::<Vec<u8>>();
    let (tx2, rx2) = crossbeam_channel::unbounded::<Vec<u8>>();
    let source = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut n = 0;
            while !stop.is_cancelled() {
                if bound.is_some_and(|b| tx0.len() > b) {
                    thread::yield_now();
                    continue;
                }
                if tx0.send(make(n)).is_err() {
                    break;
                }
                n += 1;
            }
        })
    };
    let forward = |rx: crossbeam_channel::Receiver<Vec<u8>>,
                   tx: crossbeam_channel::Sender<Vec<u8>>| {
        thread::spawn(move || {
            while let Ok(buf) = rx.recv() {
                if tx.send(black_box(buf)).is_err() {
                    break;
                }
            }
        })
    };
    let a = forward(rx0, tx1);
    let b = forward(rx1, tx2);
    let sink = {
        let count = count.clone();
        thread::spawn(move || {
            while let Ok(buf) = rx2.recv() {
                consume(&buf);
                count.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let w = measure(window, || count.load(Ordering::Relaxed));
    stop.cancel();
    for t in [source, a, b, sink] {
        t.join().expect("naive thread");
    }
    w
}

/// A source that does no pixel work: a pooled 1080p buffer, stamped.
struct BareSource {
    pool: framekeep_core::pool::FramePool,
    next: u64,
}

impl framekeep_core::pipeline::Source for BareSource {
    fn next_frame(
        &mut self,
        token: &CancelToken,
    ) -> Result<Option<Frame>, framekeep_core::pipeline::StageError> {
        let mut frame = self.pool.acquire_cancellable("bare", token)?;
        frame.set_meta(framekeep_core::frame::FrameMeta {
            sequence: self.next,
            timestamp: monotonic_now(),
        });
        self.next += 1;
        Ok(Some(frame))
    }
}

/// framekeep with no pixel work: only the framework's cost per frame.
fn run_framekeep_bare(window: Duration) -> Window {
    let pool = PoolOptions::new(layout())
        .min_buffers(BUFFERS)
        .max_buffers(BUFFERS)
        .build()
        .expect("pool");
    let sink = NullSink::new().checksum(Checksum::Off);
    let stats = sink.stats();
    let pipeline = PipelineBuilder::new("bare")
        .source("bare", BareSource { pool, next: 0 })
        .stage("a", Link::block(2), identity())
        .stage("b", Link::block(2), identity())
        .sink("null", Link::block(2), sink)
        .start()
        .expect("start");
    let w = measure(window, || stats.snapshot().frames);
    pipeline.shutdown();
    w
}

/// The naive version with no pixel work: a new zeroed `Vec` per frame
/// (`calloc`), three unbounded channels, a counting sink. Its source holds
/// back while more than `BUFFERS` frames wait (as the pool bounds
/// framekeep's), so untouched mappings cannot pile up without limit while
/// the sink is descheduled.
fn run_naive_bare(window: Duration) -> Window {
    run_naive_with(
        window,
        Some(BUFFERS),
        |_| black_box(vec![0u8; layout().len()]),
        |buf| {
            black_box(buf);
        },
    )
}

/// CPU time of this thread (user + system), immune to time spent preempted.
fn thread_cpu() -> Duration {
    cpu_time(&rusage(libc::RUSAGE_THREAD))
}

/// CPU time of the pixel work of one frame alone: drawing and checksumming.
fn pixel_work() -> Duration {
    let mut pattern = TestPattern::new(layout()).expect("pattern");
    let mut buf = vec![0u8; layout().len()];
    pattern.render(0, &mut buf); // fault the pages in first
    let n = 200;
    let start = thread_cpu();
    for i in 0..n {
        pattern.render(i, &mut buf);
        black_box(checksum(&buf));
    }
    (thread_cpu() - start) / n as u32
}

/// Added latency at 60 fps, with the pipeline's threads free to run on any
/// CPU (the default) or all on one (`SupervisorOptions::cpus`).
fn latency_at_60fps(seconds: u64, one_cpu: bool) -> LatencyHistogram {
    let root = CancelToken::new();
    let mut options = SupervisorOptions::new();
    if one_cpu {
        let cpus = current_thread_cpus().expect("this thread's CPUs");
        options = options.cpus([cpus.as_slice()[0]]);
    }
    let (pipeline, stats) = framekeep_pipeline_with(&root, Some(60.0), Checksum::Off, options);
    thread::sleep(WARM_UP);
    stats.reset_latency();
    thread::sleep(Duration::from_secs(seconds));
    let hist = stats.latency();
    pipeline.shutdown();
    hist
}

fn shutdown_times(runs: usize, drain: bool) -> LatencyHistogram {
    let mut hist = LatencyHistogram::new();
    for _ in 0..runs {
        let root = CancelToken::new();
        let (pipeline, _) = framekeep_pipeline(&root, None, Checksum::Full);
        thread::sleep(Duration::from_millis(30));
        let start = Instant::now();
        if !drain {
            root.cancel();
        }
        let report = pipeline.shutdown();
        hist.record(start.elapsed());
        assert!(report.is_clean(), "{report}");
    }
    hist
}

/// Runs one version's window in a fresh child process (this binary with
/// `--child NAME SECONDS`), so neither version inherits the other's
/// allocator state: glibc's malloc adapts its mmap and trim thresholds to
/// what the process freed before, which made the naive version's cost
/// depend on whether it ran after the pool had freed its buffers.
fn run_child(name: &str, window: Duration) -> Window {
    let out = std::process::Command::new(std::env::current_exe().expect("bench binary"))
        .args(["--bench", "--child", name, &window.as_millis().to_string()])
        .output()
        .expect("spawn the bench child");
    assert!(out.status.success(), "child {name}: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("window "))
        .unwrap_or_else(|| panic!("child {name} printed no window: {text}"));
    let v: Vec<u64> = line
        .split(' ')
        .map(|n| n.parse().expect("number"))
        .collect();
    Window {
        frames: v[0],
        wall: Duration::from_nanos(v[1]),
        cpu: Duration::from_nanos(v[2]),
        allocs: v[3],
        faults: v[4],
        peak_rss_kib: v[5],
    }
}

/// The child side of [`run_child`]: measures one window, prints it.
fn child(name: &str, millis: u64) {
    let window = Duration::from_millis(millis);
    let w = match name {
        "framekeep" => run_framekeep(window),
        "naive" => run_naive(window),
        "framekeep-bare" => run_framekeep_bare(window),
        "naive-bare" => run_naive_bare(window),
        other => panic!("unknown version {other}"),
    };
    println!(
        "window {} {} {} {} {} {}",
        w.frames,
        w.wall.as_nanos(),
        w.cpu.as_nanos(),
        w.allocs,
        w.faults,
        rusage(libc::RUSAGE_SELF).ru_maxrss
    );
}

/// The round with the median frame rate.
fn median(mut rounds: Vec<Window>) -> Window {
    rounds.sort_by(|a, b| a.fps().total_cmp(&b.fps()));
    let mid = rounds.len() / 2;
    rounds.swap_remove(mid)
}

fn summary() {
    let seconds = std::env::var("FRAMEKEEP_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let window = Duration::from_secs(seconds);
    let pixels = pixel_work();
    // Alternate the two versions so a change in machine load hits both;
    // each window runs in a process of its own; report each one's median.
    let mut fk_rounds = Vec::new();
    let mut naive_rounds = Vec::new();
    for _ in 0..ROUNDS {
        fk_rounds.push(run_child("framekeep", window));
        naive_rounds.push(run_child("naive", window));
    }
    for (i, (f, n)) in fk_rounds.iter().zip(&naive_rounds).enumerate() {
        println!(
            "round {}: framekeep {:7.1} frames/s, peak RSS {:5} MiB | naive {:7.1} frames/s, peak RSS {:5} MiB, {:5.1} minor faults/frame ({})",
            i + 1,
            f.fps(),
            f.peak_rss_kib / 1024,
            n.fps(),
            n.peak_rss_kib / 1024,
            n.per_frame(n.faults),
            if n.per_frame(n.faults) > 100.0 {
                "malloc mapped fresh pages"
            } else {
                "malloc reused freed memory"
            }
        );
    }
    let fk = median(fk_rounds);
    let naive = median(naive_rounds);
    println!("== pipeline: synthetic {W}x{H} BGR24 -> 2 stages -> null sink (checksum), median of {ROUNDS} x {seconds} s windows ==");
    println!(
        "pixel work alone (draw + checksum): {:.3} ms/frame",
        pixels.as_secs_f64() * 1e3
    );
    for (name, w) in [("framekeep", &fk), ("naive Vec+unbounded", &naive)] {
        let overhead = w.cpu_per_frame().saturating_sub(pixels);
        println!(
            "{name:>20}: {:8.1} frames/s, {:.3} allocs/frame, {:.3} minor faults/frame, CPU {:.3} ms/frame, framework overhead {:.3} ms/frame",
            w.fps(),
            w.per_frame(w.allocs),
            w.per_frame(w.faults),
            w.cpu_per_frame().as_secs_f64() * 1e3,
            overhead.as_secs_f64() * 1e3,
        );
    }
    println!(
        "throughput ratio framekeep / naive: {:.2}x (target >= 3x); CPU per frame naive / framekeep: {:.2}x",
        fk.fps() / naive.fps(),
        naive.cpu_per_frame().as_secs_f64() / fk.cpu_per_frame().as_secs_f64().max(1e-12)
    );
    // Framework overhead alone: no pixel work on either side.
    let mut fk_bare = Vec::new();
    let mut naive_bare = Vec::new();
    for _ in 0..ROUNDS {
        fk_bare.push(run_child("framekeep-bare", window));
        naive_bare.push(run_child("naive-bare", window));
    }
    for (i, (f, n)) in fk_bare.iter().zip(&naive_bare).enumerate() {
        println!(
            "bare round {}: framekeep {:8.1} frames/s | naive {:8.1} frames/s, {:6.1} minor faults/frame",
            i + 1,
            f.fps(),
            n.fps(),
            n.per_frame(n.faults),
        );
    }
    let (fk_bare, naive_bare) = (median(fk_bare), median(naive_bare));
    println!("== framework overhead alone: the same pipelines with no pixel work (source stamps a 1080p buffer, sink counts), median of {ROUNDS} ==");
    for (name, w) in [
        ("framekeep", &fk_bare),
        ("naive Vec+unbounded", &naive_bare),
    ] {
        println!(
            "{name:>20}: {:9.1} frames/s, {:7.2} us/frame wall, {:.3} allocs/frame, {:.3} minor faults/frame, CPU {:.2} us/frame",
            w.fps(),
            1e6 / w.fps().max(1e-9),
            w.per_frame(w.allocs),
            w.per_frame(w.faults),
            w.cpu_per_frame().as_secs_f64() * 1e6,
        );
    }
    println!(
        "framework overhead per frame naive / framekeep: {:.1}x",
        fk_bare.fps() / naive_bare.fps().max(1e-9)
    );
    latency_and_shutdown(seconds);
}

/// Added latency at 60 fps and shutdown times, in this process. Shutdown
/// includes freeing the pool's 12 buffers (74 MB), whose cost depends on
/// this process's allocator state: measured last, as before, after the
/// pixel-work loop has settled glibc's thresholds.
fn latency_and_shutdown(seconds: u64) {
    for (name, one_cpu) in [("threads on any CPU", false), ("pipeline on one CPU", true)] {
        let lat = latency_at_60fps(seconds.max(5), one_cpu);
        println!(
            "added latency source -> sink at 60 fps, {name}: p50 {:?} p99 {:?} max {:?} over {} frames (target p99 < 1 ms)",
            lat.quantile(0.5),
            lat.quantile(0.99),
            lat.max(),
            lat.count()
        );
    }
    for (name, drain) in [
        ("cancel root + join", false),
        ("drain-order shutdown", true),
    ] {
        let h = shutdown_times(30, drain);
        println!(
            "shutdown ({name}): p50 {:?} p99 {:?} max {:?} over {} runs (target p99 < 50 ms)",
            h.quantile(0.5),
            h.quantile(0.99),
            h.max(),
            h.count()
        );
    }
}

fn edge_round_trip(c: &mut Criterion) {
    let pool = PoolOptions::new(FrameLayout::packed(PixelFormat::Gray8, 64, 48).expect("layout"))
        .min_buffers(4)
        .max_buffers(4)
        .exhausted(Exhausted::FailFast)
        .build()
        .expect("pool");
    let mut group = c.benchmark_group("edge_round_trip");
    for link in Link::all(2) {
        let (tx, rx) = edge::<Frame>("bench", link);
        group.bench_function(BenchmarkId::from_parameter(link), |b| {
            b.iter(|| {
                let frame = pool.try_acquire("bench").expect("frame");
                tx.send(frame).expect("send");
                black_box(rx.try_recv().expect("recv"));
            })
        });
    }
    group.finish();
    let _ = monotonic_now();
}

fn main() {
    // `cargo test --all-targets` runs this binary without `--bench`: one
    // short window of each version as a smoke test, not a measurement.
    if !std::env::args().any(|a| a == "--bench") {
        let window = Duration::from_millis(200);
        assert!(run_framekeep(window).frames > 0);
        assert!(run_naive(window).frames > 0);
        assert!(run_framekeep_bare(window).frames > 0);
        assert!(run_naive_bare(window).frames > 0);
        println!("pipeline bench: smoke run ok (use `cargo bench` to measure)");
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let millis = args.get(i + 2).and_then(|m| m.parse().ok()).unwrap_or(1000);
        child(&args[i + 1], millis);
        return;
    }
    summary();
    let mut c = Criterion::default().configure_from_args();
    edge_round_trip(&mut c);
    c.final_summary();
}
