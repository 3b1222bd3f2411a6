//! Nothing allocates per frame once warm, including when every element blocks between
//! frames: a worker that waits on its input and its token with `select!`, and a paced
//! pipeline. Its own test binary, because it installs a counting global allocator; the
//! tests take turns (`SERIAL`) so one's allocations never land in the other's window.

use std::alloc::{GlobalAlloc, Layout, System};
use std::backtrace::Backtrace;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select};
use framekeep_core::cancel::CancelToken;
use framekeep_core::frame::{Frame, PixelFormat};
use framekeep_core::ledger::LeakCheck;
use framekeep_core::pipeline::{
    stage_fn, Link, PipelineBuilder, Sink, StageError, SyntheticSource,
};
use parking_lot::Mutex;

struct Counting;

thread_local! {
    static THREAD_ALLOCS: Cell<u64> = const { Cell::new(0) };
}

/// Allocations by every thread of the process.
static ALLOCS: AtomicU64 = AtomicU64::new(0);

/// One test at a time: the pipeline test counts every thread's allocations.
static SERIAL: Mutex<()> = Mutex::new(());

/// While set, the first allocations' backtraces are kept, so a failure names them.
static TRACING: AtomicBool = AtomicBool::new(false);
static TRACES: StdMutex<Vec<String>> = StdMutex::new(Vec::new());

thread_local! {
    /// Set while this thread records a trace: that recording allocates too.
    static RECORDING: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    // `try_with` throughout: allocations during thread teardown must not panic.
    if RECORDING.try_with(Cell::get) == Ok(true) {
        return; // the recording's own allocations are not the code's under test
    }
    ALLOCS.fetch_add(1, Ordering::Relaxed);
    let _ = THREAD_ALLOCS.try_with(|n| n.set(n.get() + 1));
    if TRACING.load(Ordering::Relaxed) && RECORDING.try_with(|r| !r.replace(true)) == Ok(true) {
        let trace = format!(
            "on thread {:?}:\n{}",
            thread::current().name(),
            Backtrace::force_capture()
        );
        if let Ok(mut traces) = TRACES.lock() {
            if traces.len() < 4 {
                traces.push(trace);
            }
        }
        let _ = RECORDING.try_with(|r| r.set(false));
    }
}

/// The backtraces recorded while `TRACING` was set, for a failure message.
fn traces() -> String {
    TRACES.lock().map(|t| t.join("\n")).unwrap_or_default()
}

// SAFETY: forwards every call to the system allocator unchanged; only counts, in an
// atomic and a const-initialised thread-local, neither of which allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs_here() -> u64 {
    THREAD_ALLOCS.with(Cell::get)
}

/// Receives `warm_up + n` messages, each only after this thread has blocked in
/// `select!` (the producer waits for the consumer's request before sending), selecting
/// on the input and the token's receiver. Returns the allocations this thread made in
/// the last `n` (the first waits may grow the wakers' entry lists once).
fn blocking_selects(
    token: &CancelToken,
    warm_up: u32,
    n: u32,
    fresh_receiver_each_time: bool,
) -> u64 {
    let (ask_tx, ask_rx) = bounded::<()>(1);
    let (tx, rx) = bounded::<u32>(1);
    let producer = thread::spawn(move || {
        while ask_rx.recv().is_ok() {
            // Long enough that the consumer has given up spinning and parked.
            thread::sleep(Duration::from_micros(300));
            if tx.send(0).is_err() {
                break;
            }
        }
    });
    let cached = token.receiver();
    let mut before = allocs_here();
    for i in 0..warm_up + n {
        if i == warm_up {
            before = allocs_here();
        }
        ask_tx.send(()).expect("producer alive");
        let cancelled = if fresh_receiver_each_time {
            token.receiver()
        } else {
            cached.clone()
        };
        select! {
            recv(rx) -> msg => { msg.expect("a message"); }
            recv(cancelled) -> _ => panic!("the token was not cancelled"),
        }
    }
    let made = allocs_here() - before;
    drop(ask_tx);
    producer.join().expect("producer");
    made
}

#[test]
fn blocking_select_on_input_and_token_allocates_nothing_in_steady_state() {
    let _serial = SERIAL.lock();
    let root = CancelToken::new();
    let token = root.child();
    for fresh in [true, false] {
        let made = blocking_selects(&token, 20, 200, fresh);
        assert_eq!(
            made, 0,
            "200 blocking selects (fresh receiver each time: {fresh}) allocated {made} times"
        );
    }
}

#[test]
fn the_receiver_still_wakes_a_blocked_select_on_cancel() {
    let _serial = SERIAL.lock();
    let token = CancelToken::new();
    let (_tx, input) = bounded::<u32>(1);
    let cancelled = token.receiver();
    let canceller = {
        let token = token.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            token.cancel();
        })
    };
    select! {
        recv(input) -> _ => panic!("nothing was sent"),
        recv(cancelled) -> msg => assert!(msg.is_err(), "ready by disconnection, never a message"),
        default(Duration::from_secs(10)) => panic!("cancel did not wake the select"),
    }
    canceller.join().expect("canceller");
    assert!(token.is_cancelled());
}

/// A sink that is slow for its first frames, so that during warm-up every edge fills
/// and every sender blocks once (crossbeam sizes a waker's list on its first blocked
/// operation), then keeps up.
struct SlowStart {
    seen: Arc<AtomicU64>,
}

impl Sink for SlowStart {
    fn consume(&mut self, _frame: &Frame) -> Result<(), StageError> {
        if self.seen.fetch_add(1, Ordering::Relaxed) < 20 {
            thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}

#[test]
fn a_paced_pipeline_allocates_nothing_per_frame() {
    let _serial = SERIAL.lock();
    let check = LeakCheck::new();
    // At 500 fps, once the sink keeps up, every element finds its input empty and
    // blocks between frames: the path where a wait could allocate.
    // More buffers than the edges and elements can hold, so that during the slow start
    // the source blocks on its send, not on the pool.
    let source = SyntheticSource::builder(PixelFormat::Gray8, 64, 48)
        .buffers(16)
        .fps(500.0)
        .build()
        .unwrap();
    let seen = Arc::new(AtomicU64::new(0));
    let frames = || seen.load(Ordering::Relaxed);
    let pipeline = PipelineBuilder::new("alloc")
        .source("pattern", source)
        .stage("a", Link::block(2), stage_fn(|f: Frame| Ok(Some(f))))
        .stage("b", Link::block(2), stage_fn(|f: Frame| Ok(Some(f))))
        .sink(
            "slow-start",
            Link::block(2),
            SlowStart { seen: seen.clone() },
        )
        .start()
        .unwrap();
    // Warm up: the slow start, then the pool monitor's first look at this pool (it
    // sizes its list of pools then; it ticks every 250 ms).
    let warm = Instant::now();
    while frames() < 50 {
        assert!(warm.elapsed() < Duration::from_secs(10), "no frames arrive");
        thread::sleep(Duration::from_millis(10));
    }
    thread::sleep(Duration::from_millis(400));
    let (frames0, allocs0) = (frames(), ALLOCS.load(Ordering::Relaxed));
    TRACING.store(true, Ordering::Relaxed);
    thread::sleep(Duration::from_millis(500));
    TRACING.store(false, Ordering::Relaxed);
    let (frames1, allocs1) = (frames(), ALLOCS.load(Ordering::Relaxed));
    let report = pipeline.shutdown();
    assert!(report.is_clean(), "{report}");
    let frames = frames1 - frames0;
    assert!(frames >= 50, "only {frames} frames in 500 ms at 500 fps");
    assert_eq!(
        allocs1 - allocs0,
        0,
        "{} allocations over {frames} frames; the first:\n{}",
        allocs1 - allocs0,
        traces()
    );
    check.finish().unwrap();
}
