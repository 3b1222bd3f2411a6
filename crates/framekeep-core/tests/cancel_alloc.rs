//! A worker that waits on its input and its token with `select!` allocates nothing in
//! steady state, including when it blocks. Its own test binary, because it installs a
//! counting global allocator (counting per thread, so other tests cannot disturb it).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::thread;
use std::time::Duration;

use crossbeam_channel::{bounded, select};
use framekeep_core::cancel::CancelToken;

struct PerThreadCounting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: allocations during thread teardown must not panic.
    let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: forwards every call to the system allocator unchanged; only counts, in a
// const-initialised thread-local that itself never allocates.
unsafe impl GlobalAlloc for PerThreadCounting {
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
static GLOBAL: PerThreadCounting = PerThreadCounting;

fn allocs_here() -> u64 {
    ALLOCS.with(Cell::get)
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
