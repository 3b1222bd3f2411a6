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

#[path = "support/affinity.rs"]
mod affinity;
#[path = "support/counting_alloc.rs"]
mod counting_alloc;
#[path = "support/rusage.rs"]
mod rusage;
use affinity::pin_to_cpu;
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
    rusage::rusage(libc::RUSAGE_SELF).ru_minflt as u64
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
        let mut v = vec![0u8; layout().len()];
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
            .map(|_| vec![0u8; layout().len()].into_boxed_slice())
            .collect(),
    ))
}

fn bare_queue() -> BareQueue {
    let q = ArrayQueue::new(BUFFERS);
    for _ in 0..BUFFERS {
        let _ = q.push(vec![0u8; layout().len()].into_boxed_slice());
    }
    BareQueue(q)
}

/// Runs `iters` round trips on each of `threads` threads started together,
/// each pinned to a CPU of its own; returns the wall time (per-thread round
/// trips happen in parallel).
fn run(pool: &Arc<dyn RoundTrip>, threads: usize, iters: u64) -> Duration {
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|cpu| {
            let (pool, barrier) = (pool.clone(), barrier.clone());
            std::thread::spawn(move || {
                pin_to_cpu(cpu);
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

/// ns per round trip of one run.
fn ns_per_op(pool: &Arc<dyn RoundTrip>, threads: usize, iters: u64) -> f64 {
    run(pool, threads, iters).as_nanos() as f64 / iters as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Rounds of the summary; in each, every pool runs once, back to back, so
/// that a change in machine load hits all of them alike.
const ROUNDS: usize = 9;

fn summary() {
    let fk: Arc<dyn RoundTrip> = Arc::new(framekeep());
    let mv: Arc<dyn RoundTrip> = Arc::new(mutex_vec());
    let aq: Arc<dyn RoundTrip> = Arc::new(bare_queue());
    let fresh: Arc<dyn RoundTrip> = Arc::new(FreshVec);
    println!(
        "\n== pool round trip, 1920x1080 BGR24 buffers (ns per round trip, median of {ROUNDS} interleaved rounds) =="
    );
    let mut rows = Vec::new();
    for threads in [1, 2] {
        for pool in [&fk, &mv, &aq] {
            run(pool, threads, 200_000); // warm up
        }
        let (mut f, mut m, mut a, mut v) = (vec![], vec![], vec![], vec![]);
        let (mut f_a, mut m_f) = (vec![], vec![]);
        for _ in 0..ROUNDS {
            let rf = ns_per_op(&fk, threads, 1_000_000);
            let rm = ns_per_op(&mv, threads, 1_000_000);
            let ra = ns_per_op(&aq, threads, 1_000_000);
            v.push(ns_per_op(&fresh, threads, 200));
            f_a.push(rf / ra);
            m_f.push(rm / rf);
            f.push(rf);
            m.push(rm);
            a.push(ra);
        }
        let (f, m, a, v) = (median(f), median(m), median(a), median(v));
        println!(
            "{threads} thread(s): framekeep {f:8.1}  mutex<vec> {m:8.1}  arrayqueue {a:8.1}  fresh vec {v:10.1}"
        );
        rows.push((threads, median(f_a), median(m_f), v / f));
    }
    for (threads, f_a, m_f, fresh_f) in rows {
        println!(
            "{threads} thread(s): framekeep/arrayqueue = {f_a:.2}x (target <= 2x)   mutex<vec>/framekeep = {m_f:.2}x{}   fresh/framekeep = {fresh_f:.0}x",
            if threads == 2 { " (target >= 2x)" } else { "" },
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
    // `--profile N`: only framekeep's 1-thread round trip, N times, for
    // `valgrind --tool=callgrind` (instruction counts per round trip).
    if let Some(n) = std::env::args()
        .skip_while(|a| a != "--profile")
        .nth(1)
        .and_then(|n| n.parse::<u64>().ok())
    {
        let pool = framekeep();
        for _ in 0..n {
            pool.round_trip();
        }
        return;
    }
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
