//! The frame pool: policies, leases, leaks, close, stats, hooks.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use framekeep_core::cancel::CancelToken;
use framekeep_core::frame::{FrameLayout, PixelFormat};
use framekeep_core::ledger::{Kind, LeakCheck, Ledger};
use framekeep_core::pool::{AcquireError, Exhausted, FramePool, PoolError, PoolOptions};
use rand::{Rng, SeedableRng};

fn layout() -> FrameLayout {
    FrameLayout::packed(PixelFormat::Bgr24, 16, 8).unwrap()
}

fn pool(n: usize, policy: Exhausted) -> FramePool {
    PoolOptions::new(layout())
        .min_buffers(n)
        .max_buffers(n)
        .exhausted(policy)
        .acquire_timeout(Duration::from_secs(5))
        .with_ledger(&Ledger::new())
        .build()
        .unwrap()
}

/// A tracing subscriber that writes into a shared string, for checking warnings.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// The process-wide capture (the leak monitor logs from its own thread).
    fn global() -> &'static Captured {
        static LOG: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
        LOG.get_or_init(|| {
            let log = Captured::default();
            let me = log.clone();
            let sub = tracing_subscriber::fmt()
                .with_writer(move || me.clone())
                .with_ansi(false)
                .finish();
            tracing::subscriber::set_global_default(sub)
                .expect("no other subscriber in this test binary");
            log
        })
    }
    /// Lines logged so far that mention `pool`.
    fn lines_of(&self, pool: &str) -> String {
        let text = String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned();
        let tag = format!("pool=\"{pool}\"");
        text.lines()
            .filter(|l| l.contains(&tag))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[test]
fn buffers_are_reused_not_reallocated() {
    let pool = pool(2, Exhausted::FailFast);
    let first = pool.acquire("a").unwrap();
    let p = first.as_ptr();
    drop(first);
    for _ in 0..100 {
        let f = pool.acquire("a").unwrap();
        let g = pool.acquire("b").unwrap();
        assert!(f.as_ptr() == p || g.as_ptr() == p);
    }
    let s = pool.stats();
    assert_eq!(s.created, 2);
    assert_eq!(s.acquires, 201);
    assert!(s.reuse_rate > 0.98, "{s}");
}

#[test]
fn bad_options_are_errors() {
    assert!(matches!(
        PoolOptions::new(layout())
            .min_buffers(3)
            .max_buffers(2)
            .build(),
        Err(PoolError::BadLimits { .. })
    ));
    assert!(matches!(
        PoolOptions::new(layout())
            .max_buffers(0)
            .min_buffers(0)
            .build(),
        Err(PoolError::BadLimits { .. })
    ));
    assert!(matches!(
        PoolOptions::new(layout()).buffer_bytes(10).build(),
        Err(PoolError::BufferTooSmall { .. })
    ));
    assert!(matches!(
        PoolOptions::new(layout())
            .max_buffers(4)
            .exhausted(Exhausted::Grow { hard_cap: 2 })
            .build(),
        Err(PoolError::BadLimits { .. })
    ));
}

#[test]
fn fail_fast_wait_and_grow_policies() {
    let ff = pool(1, Exhausted::FailFast);
    let held = ff.acquire("holder").unwrap();
    assert!(matches!(
        ff.acquire("late"),
        Err(AcquireError::Exhausted { label: "late", .. })
    ));
    drop(held);
    assert!(ff.acquire("late").is_ok());

    let wait = pool(1, Exhausted::Wait);
    let held = wait.acquire("holder").unwrap();
    let t0 = Instant::now();
    assert!(matches!(
        wait.acquire_timeout("late", Duration::from_millis(30)),
        Err(AcquireError::Timeout { .. })
    ));
    assert!(t0.elapsed() >= Duration::from_millis(30));
    let returner = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        drop(held);
    });
    assert!(
        wait.acquire_timeout("late", Duration::from_secs(5)).is_ok(),
        "a returned buffer wakes the waiter"
    );
    returner.join().unwrap();
    let s = wait.stats();
    assert_eq!((s.wait_count, s.timeouts), (2, 1));

    let grow = PoolOptions::new(layout())
        .min_buffers(1)
        .max_buffers(1)
        .exhausted(Exhausted::Grow { hard_cap: 3 })
        .with_ledger(&Ledger::new())
        .build()
        .unwrap();
    let frames: Vec<_> = (0..3).map(|_| grow.acquire("g").unwrap()).collect();
    assert!(matches!(
        grow.acquire("g"),
        Err(AcquireError::Exhausted { capacity: 3, .. })
    ));
    let s = grow.stats();
    assert_eq!((s.grown, s.exhausted, s.high_watermark), (2, 1, 3));
    drop(frames);
}

#[test]
fn close_wakes_a_blocked_acquirer_with_closed() {
    let pool = pool(1, Exhausted::Wait);
    let held = pool.acquire("holder").unwrap();
    let p2 = pool.clone();
    let waiter = thread::spawn(move || {
        let t0 = Instant::now();
        (
            p2.acquire_timeout("waiter", Duration::from_secs(10)),
            t0.elapsed(),
        )
    });
    thread::sleep(Duration::from_millis(50));
    let report = pool.close();
    let (result, waited) = waiter.join().unwrap();
    assert_eq!(result.unwrap_err(), AcquireError::Closed);
    assert!(
        waited < Duration::from_secs(5),
        "woken at once, not by the timeout"
    );
    assert!(pool.is_closed());
    assert_eq!(pool.acquire("after").unwrap_err(), AcquireError::Closed);
    // The close report names the lease still out.
    assert_eq!(report.len(), 1);
    assert_eq!(report.entries()[0].name, "holder");
    assert!(report.to_string().contains("holder"));
    drop(held);
}

#[test]
fn every_buffer_is_freed_after_close_once_leases_return() {
    let pool = pool(3, Exhausted::FailFast);
    let a = pool.acquire("a").unwrap();
    let b = pool.acquire("b").unwrap();
    let report = pool.close();
    assert_eq!(report.len(), 2);
    let s = pool.stats();
    assert_eq!(
        (s.capacity, s.idle),
        (2, 0),
        "the idle buffer was freed at close"
    );
    drop(a);
    assert_eq!(pool.stats().capacity, 1);
    drop(b);
    let s = pool.stats();
    assert_eq!((s.capacity, s.bytes_allocated, s.freed), (0, 0, 3));
    assert!(pool.wait_idle(Duration::from_millis(10)));
}

#[test]
fn dropping_the_last_pool_handle_closes_it() {
    let ledger = Ledger::new();
    let pool = PoolOptions::new(layout())
        .min_buffers(2)
        .max_buffers(2)
        .with_ledger(&ledger)
        .build()
        .unwrap();
    let frame = pool.acquire("survivor").unwrap();
    drop(pool);
    assert_eq!(
        ledger.count(Kind::FRAME),
        1,
        "the frame outlives its pool handle"
    );
    drop(frame);
    assert_eq!(ledger.count(Kind::FRAME), 0);
}

#[test]
fn cancellation_wakes_a_waiter_and_loses_nothing() {
    let pool = pool(1, Exhausted::Wait);
    let held = pool.acquire("holder").unwrap();
    let token = CancelToken::new();
    let (p2, t2) = (pool.clone(), token.clone());
    let waiter = thread::spawn(move || p2.acquire_cancellable("waiter", &t2));
    thread::sleep(Duration::from_millis(30));
    token.cancel();
    assert_eq!(waiter.join().unwrap().unwrap_err(), AcquireError::Cancelled);
    assert_eq!(
        pool.acquire_cancellable("again", &token).unwrap_err(),
        AcquireError::Cancelled
    );
    drop(held);
    let s = pool.stats();
    assert_eq!(
        (s.idle, s.checked_out, s.capacity, s.cancelled),
        (1, 0, 1, 1)
    );
}

/// Many threads acquire with random timeouts and cancellations while others
/// hold frames for random times: at the end every buffer is back and none
/// was allocated beyond the limit.
#[test]
fn cancelled_and_timed_out_acquires_lose_nothing_under_stress() {
    let seed: u64 = std::env::var("FRAMEKEEP_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    let pool = pool(3, Exhausted::Wait);
    let ok = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    for t in 0..6u64 {
        let (pool, ok) = (pool.clone(), ok.clone());
        threads.push(thread::spawn(move || {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ t);
            for _ in 0..300 {
                let token = CancelToken::new();
                let canceller = if rng.gen_bool(0.3) {
                    let tk = token.clone();
                    let delay = Duration::from_micros(rng.gen_range(0..300));
                    Some(thread::spawn(move || {
                        thread::sleep(delay);
                        tk.cancel();
                    }))
                } else {
                    None
                };
                let r = if rng.gen_bool(0.5) {
                    pool.acquire_cancellable("stress", &token)
                } else {
                    pool.acquire_timeout("stress", Duration::from_micros(rng.gen_range(0..500)))
                };
                if let Ok(mut f) = r {
                    f.get_mut().unwrap()[0] = t as u8;
                    ok.fetch_add(1, Ordering::Relaxed);
                    thread::sleep(Duration::from_micros(rng.gen_range(0..200)));
                }
                if let Some(c) = canceller {
                    c.join().unwrap();
                }
            }
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    let s = pool.stats();
    assert_eq!(s.checked_out, 0, "seed {seed}: {s}");
    assert_eq!(s.idle, 3, "seed {seed}: {s}");
    assert_eq!(s.created, 3, "seed {seed}: no buffer lost or replaced: {s}");
    assert_eq!(
        s.acquires as usize,
        ok.load(Ordering::Relaxed),
        "seed {seed}"
    );
    assert!(s.high_watermark <= 3);
}

#[test]
fn a_lost_lease_is_detected_and_reported_with_its_label() {
    let log = Captured::global();
    let pool = PoolOptions::new(layout())
        .name("leaky")
        .min_buffers(2)
        .max_buffers(2)
        .leak_threshold(Some(Duration::from_millis(20)))
        .with_ledger(&Ledger::new())
        .build()
        .unwrap();
    let held = pool.acquire("display-stage").unwrap();
    let _fresh = pool.acquire("fresh").unwrap();
    thread::sleep(Duration::from_millis(40));
    let fresh2 = pool.acquire_timeout("late", Duration::ZERO);
    assert!(fresh2.is_err());
    pool.check_leaks();
    let text = log.lines_of("leaky");
    assert!(
        text.contains("display-stage"),
        "warning names the label: {text}"
    );
    assert!(text.contains("leak threshold"), "{text}");
    // Reported once per lease, not at every check (the dry acquire, the
    // monitor and the explicit check all looked).
    assert_eq!(text.matches("display-stage").count(), 1, "{text}");
    assert_eq!(pool.stats().leaks_reported, 2);
    pool.check_leaks();
    assert_eq!(pool.stats().leaks_reported, 2);
    let leases = pool.leases();
    assert_eq!(leases.len(), 2);
    assert!(leases[0].age() >= Duration::from_millis(20));
    assert!(leases.iter().any(|l| l.name == "display-stage"));
    drop(held);
}

#[test]
fn the_background_monitor_reports_leaks_on_its_own() {
    let pool = PoolOptions::new(layout())
        .min_buffers(1)
        .max_buffers(1)
        .leak_threshold(Some(Duration::from_millis(10)))
        .with_ledger(&Ledger::new())
        .build()
        .unwrap();
    let held = pool.acquire("forgotten").unwrap();
    let t0 = Instant::now();
    while pool.stats().leaks_reported == 0 && t0.elapsed() < Duration::from_secs(5) {
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(pool.stats().leaks_reported, 1);
    drop(held);
}

#[test]
fn a_forgotten_lease_is_written_off_and_its_capacity_replaced() {
    let pool = PoolOptions::new(layout())
        .min_buffers(1)
        .max_buffers(1)
        .exhausted(Exhausted::FailFast)
        .write_off_after(Some(Duration::from_millis(20)))
        .with_ledger(&Ledger::new())
        .build()
        .unwrap();
    std::mem::forget(pool.acquire("forgotten").unwrap());
    assert!(pool.try_acquire("next").is_err());
    thread::sleep(Duration::from_millis(40));
    pool.check_leaks();
    let f = pool
        .acquire("next")
        .expect("capacity replaced after the write-off");
    let s = pool.stats();
    assert_eq!((s.written_off, s.created), (1, 2));
    assert!(pool
        .leases()
        .iter()
        .any(|l| l.written_off && l.name == "forgotten"));
    drop(f);
}

#[test]
fn hooks_see_creation_and_may_refuse_buffers() {
    let created = Arc::new(AtomicUsize::new(0));
    let c2 = created.clone();
    let pool = PoolOptions::new(layout())
        .min_buffers(1)
        .max_buffers(2)
        .after_create(move |_| {
            c2.fetch_add(1, Ordering::SeqCst);
        })
        .before_acquire(|info| info.uses < 2)
        .after_release(|info| info.uses < 3)
        .with_ledger(&Ledger::new())
        .build()
        .unwrap();
    assert_eq!(created.load(Ordering::SeqCst), 1);
    for _ in 0..3 {
        pool.acquire("h").unwrap();
    }
    let s = pool.stats();
    assert!(s.rejected >= 1, "{s}");
    assert_eq!(created.load(Ordering::SeqCst) as u64, s.created);
    assert_eq!(s.checked_out, 0);
}

#[test]
fn reconfigure_frees_old_buffers_without_leaking() {
    let pool = pool(2, Exhausted::FailFast);
    let old = pool.acquire("old").unwrap();
    // A format change to a bigger frame (e.g. 720p to 1080p).
    let bigger = FrameLayout::packed(PixelFormat::Bgr24, 32, 8).unwrap();
    pool.reconfigure(bigger).unwrap();
    let new = pool.acquire("new").unwrap();
    assert_eq!(new.layout(), &bigger);
    assert_eq!(new.buffer_capacity(), bigger.len());
    assert_eq!(old.layout(), &layout());
    drop(old);
    let s = pool.stats();
    assert_eq!(
        s.capacity, 2,
        "old buffers freed; two of the new layout: {s}"
    );
    assert_eq!(s.freed, 2);
    assert_eq!(s.bytes_allocated, 2 * bigger.len());
    drop(new);
    pool.close();
    assert!(matches!(pool.reconfigure(layout()), Err(PoolError::Closed)));
}

#[test]
fn memory_levels_are_reported_once_per_change() {
    let log = Captured::global();
    let bytes = layout().len();
    let pool = PoolOptions::new(layout())
        .name("levels")
        .leak_threshold(None)
        .min_buffers(3)
        .max_buffers(3)
        .warn_bytes(Some(2 * bytes))
        .critical_bytes(Some(3 * bytes))
        .with_ledger(&Ledger::new())
        .build()
        .unwrap();
    let a = pool.acquire("a").unwrap();
    let b = pool.acquire("b").unwrap();
    pool.check_leaks();
    pool.check_leaks();
    let c = pool.acquire("c").unwrap();
    pool.check_leaks();
    drop((a, b, c));
    pool.check_leaks();
    let text = log.lines_of("levels");
    assert_eq!(text.matches("warning level").count(), 1, "{text}");
    assert_eq!(text.matches("critical level").count(), 1, "{text}");
    assert_eq!(text.matches("back to normal").count(), 1, "{text}");
}

#[test]
fn stats_display_and_serialise() {
    let pool = pool(2, Exhausted::Wait);
    let f = pool.acquire("s").unwrap();
    let s = pool.stats();
    assert_eq!(
        (s.capacity, s.idle, s.checked_out, s.acquires),
        (2, 1, 1, 1)
    );
    assert!(s.oldest_lease.is_some());
    let text = s.to_string();
    assert!(
        text.contains("capacity 2") && text.contains("p99"),
        "{text}"
    );
    let json: serde_json::Value = serde_json::to_value(&s).unwrap();
    assert_eq!(json["checked_out"], 1);
    drop(f);
}

#[test]
fn leases_show_in_the_ledger_and_a_leak_check_catches_them() {
    let ledger = Ledger::new();
    let pool = PoolOptions::new(layout())
        .min_buffers(1)
        .max_buffers(2)
        .with_ledger(&ledger)
        .build()
        .unwrap();
    let check = LeakCheck::on(&ledger);
    let leaked = pool.acquire("capture").unwrap();
    let live = ledger.live();
    assert_eq!(live.len(), 1);
    assert_eq!(
        (live[0].kind, live[0].name.as_ref()),
        (Kind::FRAME, "capture")
    );
    let err = check
        .finish()
        .expect_err("a frame acquired in the scope is still alive");
    assert!(err.to_string().contains("capture"), "{err}");
    drop(leaked);

    let clean = LeakCheck::on(&ledger);
    drop(pool.acquire("capture").unwrap());
    clean.finish().unwrap();
}

/// Frames released on many threads while the last pool handle drops: the
/// pool's state must outlive every release in flight (no crash, no leak).
#[test]
fn releases_racing_the_last_pool_handle_are_safe() {
    for round in 0..200 {
        let ledger = Ledger::new();
        let pool = PoolOptions::new(layout())
            .min_buffers(4)
            .max_buffers(4)
            .exhausted(Exhausted::FailFast)
            .leak_threshold(None)
            .with_ledger(&ledger)
            .build()
            .unwrap();
        let frames: Vec<_> = (0..4).map(|_| pool.acquire("race").unwrap()).collect();
        let barrier = Arc::new(std::sync::Barrier::new(5));
        let threads: Vec<_> = frames
            .into_iter()
            .map(|f| {
                let b = barrier.clone();
                thread::spawn(move || {
                    b.wait();
                    drop(f);
                })
            })
            .collect();
        barrier.wait();
        let kept = if round % 2 == 0 {
            drop(pool);
            None
        } else {
            pool.close();
            Some(pool)
        };
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(ledger.count(Kind::FRAME), 0, "round {round}");
        if let Some(pool) = kept {
            // Releases that parked a buffer after the close drained the
            // slots must have freed it themselves.
            let s = pool.stats();
            assert_eq!((s.capacity, s.bytes_allocated), (0, 0), "round {round}");
        }
    }
}

/// A release parks the buffer in the releasing thread's own slot; a thread
/// that then goes quiet (or exits) must not hide it from everyone else.
#[test]
fn buffers_parked_by_quiet_threads_stay_available() {
    let pool = pool(3, Exhausted::FailFast);
    let frames: Vec<_> = (0..3).map(|_| pool.acquire("out").unwrap()).collect();
    let (park, quiet) = (
        Arc::new(std::sync::Barrier::new(3)),
        Arc::new(std::sync::Barrier::new(3)),
    );
    let mut threads = Vec::new();
    for (i, f) in frames.into_iter().enumerate() {
        if i == 2 {
            // This one exits right after its release.
            thread::spawn(move || drop(f)).join().unwrap();
            continue;
        }
        let (park, quiet) = (park.clone(), quiet.clone());
        threads.push(thread::spawn(move || {
            drop(f);
            park.wait();
            quiet.wait(); // stays alive, never acquires
        }));
    }
    park.wait();
    let s = pool.stats();
    assert_eq!((s.idle, s.checked_out), (3, 0));
    let again: Vec<_> = (0..3).map(|_| pool.try_acquire("again").unwrap()).collect();
    let s = pool.stats();
    assert_eq!(s.created, 3, "every buffer was reused, none allocated");
    assert!(matches!(
        pool.try_acquire("one too many"),
        Err(AcquireError::Exhausted { .. })
    ));
    quiet.wait();
    for t in threads {
        t.join().unwrap();
    }
    drop(again);
    assert_eq!(pool.stats().idle, 3);
}

/// A waiter is woken by a release that parks its buffer in another
/// thread's slot (not on the shared free list).
#[test]
fn a_parked_release_wakes_a_waiter() {
    let pool = pool(1, Exhausted::Wait);
    let frame = pool.acquire("held").unwrap();
    let waiter = {
        let pool = pool.clone();
        thread::spawn(move || {
            let t0 = Instant::now();
            let f = pool.acquire_timeout("waiter", Duration::from_secs(5));
            (f.map(|f| f.lease_id()).is_ok(), t0.elapsed())
        })
    };
    while pool.stats().wait_count == 0 {
        thread::yield_now();
    }
    thread::spawn(move || drop(frame)).join().unwrap();
    let (ok, waited) = waiter.join().unwrap();
    assert!(ok, "the waiter got the buffer");
    assert!(waited < Duration::from_secs(5));
}

/// Leases record their ledger's checkpoint epoch, so `live_since` places them
/// exactly, even when the checkout and the checkpoint fall within one tick of
/// the ledger's clock (a time-based placement must then count a lease taken
/// just before the checkpoint as after it).
#[test]
fn leases_are_placed_against_checkpoints_by_epoch() {
    let ledger = Ledger::new();
    let pool = PoolOptions::new(layout())
        .min_buffers(3)
        .max_buffers(3)
        .with_ledger(&ledger)
        .build()
        .unwrap();
    let first = ledger.checkpoint();
    let before = pool.acquire("before").unwrap();
    let second = ledger.checkpoint();
    let after = pool.acquire("after").unwrap();
    let names = |cp| -> Vec<String> {
        ledger
            .live_since(cp)
            .into_iter()
            .map(|e| e.name.into_owned())
            .collect()
    };
    assert_eq!(names(first), ["before", "after"]);
    assert_eq!(names(second), ["after"]);
    assert_eq!(pool.leases().iter().map(|l| l.epoch).max(), Some(2));
    drop((before, after));
    assert!(names(first).is_empty());
}

thread_local! {
    /// Frames a thread keeps until it exits: their release runs in a
    /// thread-local destructor.
    static KEPT: std::cell::RefCell<Vec<framekeep_core::frame::Frame>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

#[test]
fn frames_released_by_thread_local_destructors_come_back() {
    for keep_pool_handle in [true, false] {
        let pool = pool(2, Exhausted::FailFast);
        let handle = pool.clone();
        thread::spawn(move || {
            // KEPT first, then the pool's per-thread state (a release): thread-local
            // destructors run in reverse order, so at exit the pool's state is gone
            // before KEPT drops its frame, and that release must do without it.
            KEPT.with(|_| {});
            drop(handle.try_acquire("warm").unwrap());
            KEPT.with(|k| k.borrow_mut().push(handle.try_acquire("kept").unwrap()));
            drop(handle);
        })
        .join()
        .unwrap();
        let stats = pool.stats();
        assert_eq!(stats.checked_out, 0, "{stats:?}");
        assert_eq!(stats.idle, 2, "{stats:?}");
        if !keep_pool_handle {
            // The last handle goes while nothing is checked out: a clean close.
            pool.close();
            assert!(pool.stats().closed);
        }
    }
}

#[test]
fn the_last_pool_reference_can_go_with_a_thread_local_frame() {
    // The thread holds the only handle and a frame in a thread-local: at exit the
    // handle drops first (closing the pool), then the frame's release retires the
    // buffer and with it the pool's last reference, after the thread's slot is gone.
    let ledger = Ledger::new();
    let pool = PoolOptions::new(layout())
        .min_buffers(1)
        .max_buffers(1)
        .with_ledger(&ledger)
        .build()
        .unwrap();
    thread::spawn(move || {
        KEPT.with(|_| {});
        drop(pool.try_acquire("warm").unwrap());
        KEPT.with(|k| k.borrow_mut().push(pool.try_acquire("kept").unwrap()));
        assert_eq!(pool.stats().checked_out, 1);
        drop(pool);
    })
    .join()
    .unwrap();
    // A lease still live would mean the frame was never released.
    assert!(ledger.live().is_empty(), "{}", ledger.report());
}

#[test]
fn pools_sized_from_outside_are_refused_before_anything_is_allocated() {
    let huge = FrameLayout::packed(PixelFormat::Bgr24, 100_000, 100_000).unwrap();
    // 8 buffers of 30 GB are over the default 4 GiB ceiling: refused at build.
    match PoolOptions::new(huge).build() {
        Err(PoolError::TooLarge {
            buffers,
            buffer_bytes,
            ceiling,
            ..
        }) => assert_eq!(
            (buffers, buffer_bytes, ceiling),
            (8, 30_000_000_000, 4 << 30)
        ),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // Reconfiguring a small pool to it is refused the same way.
    let small = PoolOptions::new(layout()).build().unwrap();
    assert!(matches!(
        small.reconfigure(huge),
        Err(PoolError::TooLarge { .. })
    ));
    // With the ceiling lifted and nothing preallocated, a lazy acquire that the
    // allocator refuses is an error naming the size, not an abort.
    let lazy = PoolOptions::new(huge)
        .max_bytes(usize::MAX)
        .min_buffers(0)
        .max_buffers(1)
        .prefault(false)
        .build()
        .unwrap();
    match lazy.try_acquire("huge") {
        Err(AcquireError::OutOfMemory { bytes }) => assert_eq!(bytes, 30_000_000_000),
        // A machine that overcommits that much hands it out lazily.
        Ok(frame) => assert_eq!(frame.data().len(), 30_000_000_000),
        Err(other) => panic!("unexpected {other}"),
    }
    assert_eq!(lazy.stats().checked_out, 0);
}

#[test]
fn waits_with_any_timeout_never_panic() {
    let pool = PoolOptions::new(layout()).build().unwrap();
    assert!(pool.wait_idle(Duration::MAX));
    let check = LeakCheck::new();
    check.finish_within(Duration::MAX).unwrap();
}

#[test]
fn the_high_water_mark_never_falls() {
    let pool = PoolOptions::new(layout()).min_buffers(1).build().unwrap();
    let frame = pool.acquire("one").unwrap();
    assert_eq!(pool.stats().high_watermark, 1);
    drop(frame);
    assert_eq!(pool.stats().high_watermark, 1, "a watermark is a maximum");
}
