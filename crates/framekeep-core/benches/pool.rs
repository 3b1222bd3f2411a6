//! Pool acquire+release round trip against three baselines, in one run.
//!
//! * framekeep `FramePool::try_acquire` + drop of the frame,
//! * a `Mutex<Vec<Box<[u8]>>>` pool,
//! * crossbeam's `ArrayQueue` as a bare free list (the floor),
//! * a fresh `vec![0u8; n]` per frame with every page written (1080p BGR24).
//!
//! At 1 thread and 2 threads contending. Before criterion runs, a summary
//! prints ns per round trip, the ratios the targets are stated in, and heap
//! allocations and minor page faults per frame in steady state (a counting
//! global allocator and `getrusage`).
//!
//! Run: `cargo bench -p framekeep-core --bench pool`

use std::hint::black_box;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use crossbeam_queue::ArrayQueue;
use framekeep_core::frame::{FrameLayout, PixelFormat};
use framekeep_core::pool::{Exhausted, FramePool, PoolOptions};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{Counting, ALLOCS};

#[global_allocator]
static GLOBAL: Counting = Counting;

const W: usize = 1920;
const H: usize = 1080;
const BUFFERS: usize = 4;

fn layout() -> FrameLayout {
    FrameLayout::packed(PixelFormat::Bgr24, W, H).unwrap()
}

fn minor_faults() -> u64 {
    // SAFETY: getrusage only writes into the zeroed struct we pass.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u.ru_minflt as u64
    }
}

/// One kind of pool under test: a round trip takes a buffer, writes a byte,
/// and gives it back.
trait RoundTrip: Send + Sync {
    fn round_trip(&self);
}

struct Framekeep(FramePool);
impl RoundTrip for Framekeep {
    #[inline]
    fn round_trip(&self) {
        let mut f = self
            .0
            .try_acquire("bench")
            .expect("steady state never runs dry");
        f.get_mut().unwrap()[0] = 1;
        black_box(&f);
    }
}

struct MutexVec(Mutex<Vec<Box<[u8]>>>);
impl RoundTrip for MutexVec {
    #[inline]
    fn round_trip(&self) {
        let mut b = self.0.lock().unwrap().pop().expect("buffer");
        b[0] = 1;
        black_box(&b);
        self.0.lock().unwrap().push(b);
    }
}

struct BareQueue(ArrayQueue<Box<[u8]>>);
impl RoundTrip for BareQueue {
    #[inline]
    fn round_trip(&self) {
        let mut b = self.0.pop().expect("buffer");
        b[0] = 1;
        black_box(&b);
        let _ = self.0.push(b);
    }
}

struct FreshVec;
impl RoundTrip for FreshVec {
    fn round_trip(&self) {
        let mut v = vec![0u8; layout().len];
        for i in (0..v.len()).step_by(4096) {
            v[i] = 1;
        }
        black_box(&v);
    }
}

fn framekeep() -> Framekeep {
    Framekeep(
        PoolOptions::new(layout())
            .min_buffers(BUFFERS)
            .max_buffers(BUFFERS)
            .exhausted(Exhausted::FailFast)
            .leak_threshold(None)
            .build()
            .unwrap(),
    )
}

fn mutex_vec() -> MutexVec {
    MutexVec(Mutex::new(
        (0..BUFFERS)
            .map(|_| vec![0u8; layout().len].into_boxed_slice())
            .collect(),
    ))
}

fn bare_queue() -> BareQueue {
    let q = ArrayQueue::new(BUFFERS);
    for _ in 0..BUFFERS {
        let _ = q.push(vec![0u8; layout().len].into_boxed_slice());
    }
    BareQueue(q)
}

/// Runs `iters` round trips on each of `threads` threads started together;
/// returns the wall time (per-thread round trips happen in parallel).
fn run(pool: &Arc<dyn RoundTrip>, threads: usize, iters: u64) -> Duration {
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (pool, barrier) = (pool.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for _ in 0..iters {
                    pool.round_trip();
                }
                barrier.wait();
            })
        })
        .collect();
    barrier.wait();
    let t0 = Instant::now();
    barrier.wait();
    let elapsed = t0.elapsed();
    for h in handles {
        h.join().unwrap();
    }
    elapsed
}

/// Median ns per round trip over several runs.
fn ns_per_op(pool: &Arc<dyn RoundTrip>, threads: usize, iters: u64) -> f64 {
    run(pool, threads, iters / 10);
    let mut v: Vec<f64> = (0..7)
        .map(|_| run(pool, threads, iters).as_nanos() as f64 / iters as f64)
        .collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn summary() {
    let fk: Arc<dyn RoundTrip> = Arc::new(framekeep());
    let mv: Arc<dyn RoundTrip> = Arc::new(mutex_vec());
    let aq: Arc<dyn RoundTrip> = Arc::new(bare_queue());
    let fresh: Arc<dyn RoundTrip> = Arc::new(FreshVec);
    println!(
        "\n== pool round trip, 1920x1080 BGR24 buffers (median of 7 runs, ns per round trip) =="
    );
    let mut rows = Vec::new();
    for threads in [1, 2] {
        let f = ns_per_op(&fk, threads, 2_000_000);
        let m = ns_per_op(&mv, threads, 2_000_000);
        let a = ns_per_op(&aq, threads, 2_000_000);
        let v = ns_per_op(&fresh, threads, 2_000);
        println!(
            "{threads} thread(s): framekeep {f:8.1}  mutex<vec> {m:8.1}  arrayqueue {a:8.1}  fresh vec {v:10.1}"
        );
        rows.push((threads, f, m, a, v));
    }
    for (threads, f, m, a, v) in rows {
        println!(
            "{threads} thread(s): framekeep/arrayqueue = {:.2}x (target <= 2x)   mutex<vec>/framekeep = {:.2}x{}   fresh/framekeep = {:.0}x",
            f / a,
            m / f,
            if threads == 2 { " (target >= 2x)" } else { "" },
            v / f
        );
    }
    // Steady state: allocations and minor faults per frame.
    let pool = framekeep();
    for _ in 0..1000 {
        pool.round_trip();
    }
    let (a0, f0) = (ALLOCS.load(Ordering::Relaxed), minor_faults());
    let frames = 100_000;
    for _ in 0..frames {
        pool.round_trip();
    }
    let (a1, f1) = (ALLOCS.load(Ordering::Relaxed), minor_faults());
    println!(
        "steady state over {frames} frames: heap allocations per frame {:.4}, minor page faults per frame {:.4}",
        (a1 - a0) as f64 / frames as f64,
        (f1 - f0) as f64 / frames as f64
    );
    let (a0, f0) = (ALLOCS.load(Ordering::Relaxed), minor_faults());
    for _ in 0..200 {
        FreshVec.round_trip();
    }
    let (a1, f1) = (ALLOCS.load(Ordering::Relaxed), minor_faults());
    println!(
        "fresh vec per frame, for comparison: heap allocations per frame {:.1}, minor page faults per frame {:.0}\n",
        (a1 - a0) as f64 / 200.0,
        (f1 - f0) as f64 / 200.0
    );
}

fn criterion_benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("pool_round_trip");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    let kinds: Vec<(&str, Arc<dyn RoundTrip>)> = vec![
        ("framekeep", Arc::new(framekeep())),
        ("mutex_vec", Arc::new(mutex_vec())),
        ("arrayqueue", Arc::new(bare_queue())),
        ("fresh_vec", Arc::new(FreshVec)),
    ];
    for (name, pool) in &kinds {
        for threads in [1usize, 2] {
            g.bench_with_input(BenchmarkId::new(*name, threads), &threads, |b, &threads| {
                b.iter_custom(|iters| run(pool, threads, iters));
            });
        }
    }
    g.finish();
}

fn main() {
    // `cargo test --all-targets` runs this binary without `--bench`: a quick
    // smoke run of every variant then, not a measurement.
    if !std::env::args().any(|a| a == "--bench") {
        for pool in [
            Arc::new(framekeep()) as Arc<dyn RoundTrip>,
            Arc::new(mutex_vec()),
            Arc::new(bare_queue()),
        ] {
            run(&pool, 2, 1000);
        }
        FreshVec.round_trip();
        println!("pool bench: smoke run ok (use `cargo bench` to measure)");
        return;
    }
    summary();
    if std::env::args().any(|a| a == "--summary-only") {
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    criterion_benches(&mut c);
    c.final_summary();
}
