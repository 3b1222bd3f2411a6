//! Loom models of the pool's release path: the per-thread idle slots, the
//! re-check of `closed` after a park, and the hazard pin that keeps the pool
//! alive through a release (`--cfg loom`, see `scripts/loom.sh` and SPEC.md,
//! "How the concurrency is checked").
//!
//! The pool is the real one (`PoolShared`); its free list (crossbeam's
//! `ArrayQueue`) is a linearizable step to loom (see `sync::opaque_op`).
//! Loom sees the pool's final free: `PoolShared`'s `Drop` then accesses
//! `waiters` non-atomically, so a release still reading the pool without a
//! happens-before edge to that free is a data race loom reports.

use std::cell::RefCell;
use std::sync::{Arc, Weak};

use loom::thread;

use super::options::{Exhausted, PoolOptions};
use super::shared::PoolShared;
use crate::frame::hazard::Pinned;
use crate::frame::{Frame, FrameLayout, FrameMeta, PixelFormat};
use crate::sync::atomic::Ordering;
use crate::sync::check;

/// A pool of `buffers` 2-byte buffers that fails fast when dry.
fn pool(buffers: usize) -> Arc<PoolShared> {
    let layout = FrameLayout::packed(PixelFormat::Gray8, 2, 1).expect("layout");
    PoolShared::new(
        PoolOptions::new(layout)
            .name("loom")
            .min_buffers(buffers)
            .max_buffers(buffers)
            .exhausted(Exhausted::FailFast),
    )
    .expect("pool")
}

/// A frame if the pool has an idle buffer (`None` when dry or closed).
fn acquire(pool: &Arc<PoolShared>) -> Option<Frame> {
    let buf = pool.try_take("loom").ok().flatten()?;
    let layout = buf.layout;
    Some(Frame::arm(buf, layout, FrameMeta::default()))
}

/// Buffers idle in the pool (its free list and every thread's slot).
fn idle(pool: &PoolShared) -> usize {
    pool.ret.idle.len() + pool.ret.local.len()
}

/// Drops a pool handle, telling loom what std's `Arc` does then (a Release
/// decrement, see `sync::count_given_back`): loom cannot see std's `Arc`.
fn let_go(pool: Arc<PoolShared>) {
    crate::sync::count_given_back();
    drop(pool);
}

/// Waits (yielding to the other model threads) until the pool is freed: a
/// pool that is never freed makes loom give up on the execution.
fn wait_freed(pool: &Weak<PoolShared>) {
    while pool.strong_count() > 0 {
        thread::yield_now();
    }
}

/// Model 1a: a release racing `close()`. Whatever the interleaving, the
/// buffer is not left parked in the closed pool: it is freed by the close or
/// by the release itself.
#[test]
fn release_racing_close() {
    check("pool: release vs close", Some(3), || {
        let pool = pool(1);
        let frame = acquire(&pool).expect("a buffer");
        let t = thread::spawn(move || drop(frame));
        let _report = pool.close();
        t.join().unwrap();
        assert_eq!(idle(&pool), 0, "a buffer stayed parked in a closed pool");
        let c = &pool.counters;
        assert_eq!(
            c.created.load(Ordering::SeqCst),
            c.freed.load(Ordering::SeqCst)
        );
    });
}

loom::thread_local! {
    /// A frame a model thread leaves to its thread-local destructors.
    static HELD: RefCell<Option<Frame>> = RefCell::new(None);
}

/// Model 1b: a release from a thread-local destructor (the thread's hazard
/// slot is already gone: the `OWNED` fallback) racing `close()` and the
/// drop of the last pool handle. The pool is freed exactly when its last
/// buffer is, never under the release (loom checks the free against every
/// access), and never leaks.
#[test]
fn release_in_thread_local_destructor_racing_close() {
    check(
        "pool: release in a TLS destructor vs close",
        Some(3),
        || {
            let pool = pool(1);
            let frame = acquire(&pool).expect("a buffer");
            let freed = Arc::downgrade(&pool);
            let t = thread::spawn(move || {
                // Give this thread a hazard slot, so that it is destroyed at the
                // thread's exit with `HELD` (loom destroys every thread-local
                // before running any destructor): the release then finds it gone.
                drop(Pinned::new(&Arc::new(0u8)));
                HELD.with(|held| *held.borrow_mut() = Some(frame));
            });
            let _report = pool.close();
            let_go(pool);
            wait_freed(&freed);
            t.join().unwrap();
        },
    );
}

/// Model 2: an acquire stealing from another thread's idle slot while that
/// thread releases into it and acquires again. One buffer: it ends with
/// exactly one owner or parked, never lost or owned twice, and the
/// writes of its successive owners are ordered (loom checks the pixels).
#[test]
fn acquire_steals_from_a_releasing_thread() {
    check("pool: steal vs release", Some(3), || {
        let pool = pool(1);
        let mut mine = acquire(&pool).expect("a buffer");
        mine.get_mut().expect("unique")[0] = 1;
        let thief = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || {
                acquire(&pool).map(|mut frame| {
                    frame.get_mut().expect("unique")[0] = 2;
                    frame
                })
            })
        };
        drop(mine);
        let again = acquire(&pool).map(|mut frame| {
            frame.get_mut().expect("unique")[0] = 3;
            frame
        });
        let stolen = thief.join().unwrap();
        assert!(
            !(again.is_some() && stolen.is_some()),
            "one buffer, two owners"
        );
        let owned = usize::from(again.is_some()) + usize::from(stolen.is_some());
        assert_eq!(owned + idle(&pool), 1, "the buffer was lost or doubled");
    });
}

/// Model 3: the hazard pin against the pool's final free. A thread releases
/// (parks its buffer, then reads the pool) while the main thread closes the
/// pool (which may take that buffer from the slot and free it), drops its
/// handle and releases the last other buffer, which frees the pool. The
/// free waits for the pin: no access after it (loom), and no leak.
#[test]
fn hazard_pin_holds_the_pool_through_its_final_free() {
    check("pool: hazard pin vs final free", Some(3), || {
        let pool = pool(2);
        let first = acquire(&pool).expect("a buffer");
        let last = acquire(&pool).expect("another buffer");
        let freed = Arc::downgrade(&pool);
        let t = thread::spawn(move || drop(first));
        let _report = pool.close();
        let_go(pool);
        drop(last);
        t.join().unwrap();
        assert_eq!(freed.strong_count(), 0, "the pool leaked");
    });
}
