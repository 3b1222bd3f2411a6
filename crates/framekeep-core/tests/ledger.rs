//! Integration tests of the leak ledger: tokens, reports, checkpoints, sources, and the
//! scoped `LeakCheck`.

use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use framekeep_core::ledger::{
    Kind, LeakCheck, Ledger, LedgerReport, LedgerSource, LiveEntry, ScopeId, Tracked,
};
use proptest::prelude::*;

const CUSTOM: Kind = Kind::new("custom");

#[test]
fn handles_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Ledger>();
    send_sync::<Tracked>();
    send_sync::<LiveEntry>();
    send_sync::<LedgerReport>();
}

#[test]
fn reports_run_while_other_threads_register_and_drop() {
    let ledger = Ledger::new();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let keeper = ledger.track(Kind::LEASE, "kept");
    let churners: Vec<_> = (0..2)
        .map(|t| {
            let ledger = ledger.clone();
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut held = Vec::new();
                let mut rounds = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && rounds < 200_000 {
                    held.push(ledger.track(Kind::FRAME, if t == 0 { "even" } else { "odd" }));
                    if held.len() > 50 {
                        // Drop half, oldest first, so slots get reused out of order.
                        held.drain(..25);
                    }
                    rounds += 1;
                }
                held.len()
            })
        })
        .collect();
    for _ in 0..200 {
        let live = ledger.live();
        assert!(live.iter().any(|e| e.id == keeper.id()));
        for entry in &live {
            match entry.kind {
                k if k == Kind::FRAME => assert!(entry.name == "even" || entry.name == "odd"),
                k => assert_eq!((k, entry.name.as_ref()), (Kind::LEASE, "kept")),
            }
        }
        assert!(ledger.count(Kind::FRAME) <= 2 * 51);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let held: usize = churners.into_iter().map(|c| c.join().unwrap()).sum();
    // The churners' tokens were dropped when their threads ended.
    assert_eq!(ledger.count(Kind::FRAME), 0, "{held} were held at the end");
    assert_eq!(ledger.live().len(), 1);
}

#[test]
fn drop_and_untrack_remove_entries() {
    let ledger = Ledger::new();
    let a = ledger.track(Kind::FRAME, "a");
    let b = ledger.track(Kind::FRAME, String::from("b"));
    let c = ledger.track(Kind::MAT, "c");
    assert_ne!(a.id(), b.id());
    assert_eq!(ledger.count(Kind::FRAME), 2);
    assert_eq!(ledger.count(Kind::MAT), 1);
    drop(a);
    assert_eq!(ledger.count(Kind::FRAME), 1);
    b.untrack();
    assert_eq!(ledger.count(Kind::FRAME), 0);
    let live = ledger.live();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].name, "c");
    assert_eq!(live[0].kind, Kind::MAT);
    assert_eq!(live[0].id, c.id());
    drop(c);
    assert!(ledger.live().is_empty());
}

#[test]
fn ledgers_are_independent() {
    let one = Ledger::new();
    let two = Ledger::new();
    let _a = one.track(Kind::LEASE, "one");
    let _b = two.track(Kind::LEASE, "two");
    let clone = one.clone();
    assert_eq!(one.count(Kind::LEASE), 1);
    assert_eq!(clone.live()[0].name, "one");
    assert_eq!(two.live()[0].name, "two");
}

#[test]
fn entries_record_thread_scope_and_time() {
    let ledger = Ledger::new();
    let before = Instant::now();
    let scope = ScopeId::fresh();
    let token = scope.run(|| ledger.track(CUSTOM, "here"));
    let live = ledger.live();
    let entry = &live[0];
    assert_eq!(entry.scope, scope);
    assert_eq!(entry.thread.as_deref(), thread::current().name());
    // Creation times may read a few clock ticks early, never late.
    assert!(entry.created_at <= Instant::now());
    assert!(entry.created_at + Duration::from_millis(500) >= before);
    assert!(entry.backtrace.is_none() || Ledger::captures_backtraces());
    drop(token);
}

#[test]
fn tokens_can_be_dropped_on_another_thread() {
    let ledger = Ledger::new();
    let tokens: Vec<Tracked> = (0..100)
        .map(|_| ledger.track(Kind::FRAME, "moved"))
        .collect();
    assert_eq!(ledger.count(Kind::FRAME), 100);
    thread::spawn(move || drop(tokens)).join().unwrap();
    assert_eq!(ledger.count(Kind::FRAME), 0);

    // And registered on a thread that exits before they are dropped.
    let kept = thread::Builder::new()
        .name("maker".into())
        .spawn({
            let ledger = ledger.clone();
            move || ledger.track(Kind::FRAME, "outlives its thread")
        })
        .unwrap()
        .join()
        .unwrap();
    let live = ledger.live();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].thread.as_deref(), Some("maker"));
    drop(kept);
    assert_eq!(ledger.count(Kind::FRAME), 0);
}

#[test]
fn live_lists_oldest_first() {
    let ledger = Ledger::new();
    let first = ledger.track(Kind::FRAME, "first");
    let second = ledger.track(Kind::MAT, "second");
    // Entries made within one tick of the ledger's clock are ordered by id, which follows
    // creation order within a thread only: let the clock move on before switching threads.
    wait_for_clock_to_pass(&ledger);
    let third = thread::spawn({
        let ledger = ledger.clone();
        move || ledger.track(Kind::FRAME, "third")
    })
    .join()
    .unwrap();
    wait_for_clock_to_pass(&ledger);
    let fourth = ledger.track(Kind::FRAME, "fourth");
    let names: Vec<_> = ledger.live().into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["first", "second", "third", "fourth"]);
    let report = ledger.report();
    assert_eq!(report.len(), 4);
    assert_eq!(report.by_kind(), vec![(Kind::FRAME, 3), (Kind::MAT, 1)]);
    assert!(ledger.live().iter().all(|e| e.kind != Kind::new("probe")));
    let third_age = report.entries()[2].age_at(report.taken_at());
    assert_eq!(report.older_than(third_age).count(), 3);
    let text = report.to_string();
    assert!(
        text.starts_with("ledger: 4 live (frame: 3, mat: 1)"),
        "{text}"
    );
    let first_line = text.lines().nth(1).unwrap();
    assert!(first_line.contains("frame  \"first\""), "{text}");
    drop((first, second, third, fourth));
}

/// Waits (boundedly) until a new entry's creation time is later than every live one's.
fn wait_for_clock_to_pass(ledger: &Ledger) {
    let newest = ledger.live().iter().map(|e| e.created_at).max();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let probe = ledger.track(Kind::new("probe"), "probe");
        let probe_at = ledger
            .live()
            .iter()
            .find(|e| e.id == probe.id())
            .map(|e| e.created_at);
        if probe_at > newest {
            return;
        }
        thread::sleep(Duration::from_millis(1));
    }
    panic!("the ledger's clock did not advance within 5 s");
}

#[test]
fn checkpoints_list_what_was_created_since() {
    let ledger = Ledger::new();
    let before = ledger.track(Kind::FRAME, "before");
    let cp = ledger.checkpoint();
    let after = ledger.track(Kind::FRAME, "after");
    let dropped = ledger.track(Kind::FRAME, "dropped");
    drop(dropped);
    let since: Vec<_> = ledger.live_since(cp).into_iter().map(|e| e.name).collect();
    assert_eq!(since, ["after"]);
    let cp2 = ledger.checkpoint();
    assert!(cp2.epoch() > cp.epoch());
    assert!(cp2.at() >= cp.at());
    assert!(ledger.live_since(cp2).is_empty());
    let entries = ledger.live();
    assert_eq!(entries.len(), 2);
    assert!(entries[0].epoch < cp.epoch() && entries[1].epoch >= cp.epoch());
    drop((before, after));
}

/// A fake pool: reports its "leases" when asked.
struct FakePool {
    leases: Mutex<Vec<LiveEntry>>,
}

impl FakePool {
    fn new() -> Arc<FakePool> {
        Arc::new(FakePool {
            leases: Mutex::new(Vec::new()),
        })
    }

    fn lease(&self, label: &'static str, id: u64) {
        self.leases.lock().unwrap().push(LiveEntry {
            kind: Kind::FRAME,
            name: Cow::Borrowed(label),
            id,
            created_at: Instant::now(),
            thread: thread::current().name().map(str::to_owned),
            scope: ScopeId::current(),
            epoch: 0,
            backtrace: None,
            bytes: None,
            written_off: false,
        });
    }

    fn give_back(&self, id: u64) {
        self.leases.lock().unwrap().retain(|l| l.id != id);
    }
}

impl LedgerSource for FakePool {
    fn visit_live(&self, visit: &mut dyn FnMut(LiveEntry)) {
        for lease in self.leases.lock().unwrap().iter() {
            visit(lease.clone());
        }
    }
}

fn register(ledger: &Ledger, pool: &Arc<FakePool>) {
    let source: Arc<dyn LedgerSource> = pool.clone();
    ledger.add_source(Arc::downgrade(&source));
}

#[test]
fn sources_are_pulled_and_forgotten_once_dropped() {
    let ledger = Ledger::new();
    let pool = FakePool::new();
    register(&ledger, &pool);
    let token = ledger.track(Kind::MAT, "mat");
    thread::sleep(Duration::from_millis(10));
    pool.lease("capture", 7);
    assert_eq!(ledger.count(Kind::FRAME), 1);
    assert_eq!(ledger.count(Kind::MAT), 1);
    let live = ledger.live();
    assert_eq!(live.len(), 2);
    assert_eq!((live[1].name.as_ref(), live[1].id), ("capture", 7));

    // Source entries are placed relative to checkpoints by their creation time.
    let cp = ledger.checkpoint();
    pool.lease("display", 8);
    let since: Vec<_> = ledger.live_since(cp).into_iter().map(|e| e.id).collect();
    assert_eq!(since, [8]);

    pool.give_back(7);
    assert_eq!(ledger.count(Kind::FRAME), 1);
    drop(pool);
    assert_eq!(ledger.count(Kind::FRAME), 0, "a dropped source is skipped");
    assert_eq!(ledger.live().len(), 1);
    drop(token);
}

#[test]
fn leak_check_passes_a_clean_scope() {
    let ledger = Ledger::new();
    let outside = ledger.track(Kind::FRAME, "outside the scope");
    let check = LeakCheck::on(&ledger);
    assert_ne!(ScopeId::current(), ScopeId::NONE);
    assert_eq!(ScopeId::current(), check.scope());
    let inside = ledger.track(Kind::FRAME, "inside");
    assert_eq!(check.leaks().len(), 1);
    drop(inside);
    assert!(check.finish().is_ok());
    assert_eq!(
        ScopeId::current(),
        ScopeId::NONE,
        "the previous scope is restored"
    );
    drop(outside);
}

#[test]
fn leak_check_reports_a_leak_by_kind_and_name() {
    let ledger = Ledger::new();
    let check = LeakCheck::on(&ledger);
    let leaked = ledger.track(Kind::MAT, "undistort map");
    let report = check.finish().unwrap_err();
    assert_eq!(report.entries().len(), 1);
    assert_eq!(report.entries()[0].kind, Kind::MAT);
    assert_eq!(report.by_kind(), vec![(Kind::MAT, 1)]);
    let text = report.to_string();
    assert!(text.contains("mat"), "{text}");
    assert!(text.contains("\"undistort map\""), "{text}");
    assert!(text.contains(&format!("#{}", leaked.id())), "{text}");
    drop(leaked);
}

#[test]
fn leak_check_drop_panics_with_the_report() {
    let ledger = Ledger::new();
    let mut leaked = None;
    let result = catch_unwind(AssertUnwindSafe(|| {
        let _check = LeakCheck::on(&ledger);
        leaked = Some(ledger.track(Kind::LEASE, "forgotten lease"));
    }));
    let payload = result.expect_err("the guard panics on drop");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("lease"), "{message}");
    assert!(message.contains("forgotten lease"), "{message}");
    drop(leaked);

    // A clean scope drops quietly.
    let clean = catch_unwind(|| {
        let _check = LeakCheck::on(&ledger);
        drop(ledger.track(Kind::LEASE, "returned"));
    });
    assert!(clean.is_ok());
}

#[test]
fn leak_check_sees_source_entries_of_its_scope() {
    let ledger = Ledger::new();
    let pool = FakePool::new();
    register(&ledger, &pool);
    pool.lease("before the check", 1);
    let check = LeakCheck::on(&ledger);
    pool.lease("calibration", 2);
    let report = check.finish().unwrap_err();
    let ids: Vec<u64> = report.entries().iter().map(|e| e.id).collect();
    assert_eq!(ids, [2]);
    assert!(report.to_string().contains("\"calibration\""));
}

#[test]
fn parallel_leak_checks_do_not_see_each_other() {
    // Both use the global ledger, as parallel tests do.
    let barrier = Arc::new(Barrier::new(2));
    let leaky = thread::spawn({
        let barrier = Arc::clone(&barrier);
        move || {
            let check = LeakCheck::new();
            let token = Ledger::global().track(CUSTOM, "leaky thread");
            barrier.wait(); // both scopes have live entries now
            barrier.wait();
            let result = check.finish();
            drop(token);
            result
        }
    });
    let clean = thread::spawn({
        let barrier = Arc::clone(&barrier);
        move || {
            let check = LeakCheck::new();
            let token = Ledger::global().track(CUSTOM, "clean thread");
            barrier.wait();
            drop(token);
            barrier.wait();
            check.finish()
        }
    });
    let leaky = leaky.join().unwrap().unwrap_err();
    assert_eq!(leaky.entries().len(), 1);
    assert_eq!(leaky.entries()[0].name, "leaky thread");
    assert!(clean.join().unwrap().is_ok());
}

#[test]
fn leak_check_follows_threads_that_enter_its_scope() {
    let ledger = Ledger::new();
    let check = LeakCheck::on(&ledger);
    let scope = ScopeId::current();
    let worker = thread::Builder::new()
        .name("scoped worker".into())
        .spawn({
            let ledger = ledger.clone();
            move || scope.run(|| ledger.track(Kind::THREAD, "worker state"))
        })
        .unwrap();
    let token = worker.join().unwrap();
    // A thread that did not enter the scope is not charged to it.
    let stranger = thread::spawn({
        let ledger = ledger.clone();
        move || ledger.track(Kind::THREAD, "stranger")
    })
    .join()
    .unwrap();
    let report = check.finish().unwrap_err();
    assert_eq!(report.entries().len(), 1);
    assert_eq!(report.entries()[0].thread.as_deref(), Some("scoped worker"));
    assert!(report.to_string().contains("\"worker state\""));
    drop((token, stranger));
}

#[test]
fn finish_within_waits_for_late_drops() {
    let ledger = Ledger::new();
    let check = LeakCheck::on(&ledger);
    let token = ledger.track(Kind::THREAD, "exiting worker");
    let worker = thread::spawn(move || {
        thread::sleep(Duration::from_millis(30));
        drop(token);
    });
    assert!(check.finish_within(Duration::from_secs(5)).is_ok());
    worker.join().unwrap();

    let check = LeakCheck::on(&ledger);
    let stuck = ledger.track(Kind::THREAD, "stuck worker");
    let started = Instant::now();
    let report = check.finish_within(Duration::from_millis(30)).unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(30));
    assert!(report.to_string().contains("stuck worker"));
    drop(stuck);
}

#[test]
fn backtraces_are_captured_when_enabled() {
    let ledger = Ledger::new();
    // The switch is process-wide: other tests only ever see more backtraces, not fewer
    // entries, while it is on.
    Ledger::set_capture_backtraces(true);
    let token = ledger.track(Kind::FRAME, "with backtrace");
    Ledger::set_capture_backtraces(false);
    let plain = ledger.track(Kind::FRAME, "without");
    let live = ledger.live();
    let traced = live.iter().find(|e| e.name == "with backtrace").unwrap();
    let backtrace = traced.backtrace.as_deref().unwrap_or_default();
    assert!(!backtrace.is_empty());
    let untraced = live.iter().find(|e| e.name == "without").unwrap();
    assert!(untraced.backtrace.is_none());
    let check = LeakCheck::on(&ledger);
    Ledger::set_capture_backtraces(true);
    let leaked = ledger.track(Kind::FRAME, "leaked with backtrace");
    Ledger::set_capture_backtraces(false);
    let text = check.finish().unwrap_err().to_string();
    assert!(text.contains("created at:"), "{text}");
    drop((token, plain, leaked));
}

#[derive(Debug, Clone)]
enum Op {
    /// Register a token of kind `kind % 3` on thread `thread % 3`.
    Track { thread: usize, kind: usize },
    /// Drop the `index % len`-th live token on thread `thread % 3`.
    Drop { thread: usize, index: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3usize, 0..3usize).prop_map(|(thread, kind)| Op::Track { thread, kind }),
        (0..3usize, any::<usize>()).prop_map(|(thread, index)| Op::Drop { thread, index }),
    ]
}

const KINDS: [Kind; 3] = [Kind::FRAME, Kind::MAT, Kind::LEASE];

/// Worker threads that run closures on request, so tokens are made and dropped on
/// different threads.
struct Workers {
    senders: Vec<std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>>,
    handles: Vec<thread::JoinHandle<()>>,
}

impl Workers {
    fn new(n: usize) -> Workers {
        let mut senders = Vec::new();
        let mut handles = Vec::new();
        for _ in 0..n {
            let (tx, rx) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
            senders.push(tx);
            handles.push(thread::spawn(move || {
                for job in rx {
                    job();
                }
            }));
        }
        Workers { senders, handles }
    }

    fn run<R: Send + 'static>(&self, thread: usize, f: impl FnOnce() -> R + Send + 'static) -> R {
        let (tx, rx) = std::sync::mpsc::channel();
        self.senders[thread]
            .send(Box::new(move || {
                let _ = tx.send(f());
            }))
            .unwrap();
        rx.recv_timeout(Duration::from_secs(10)).unwrap()
    }

    fn join(self) {
        drop(self.senders);
        for h in self.handles {
            h.join().unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn counts_match_random_track_and_drop_across_threads(ops in prop::collection::vec(op(), 1..60)) {
        let ledger = Ledger::new();
        let workers = Workers::new(3);
        let mut live: Vec<(usize, Tracked)> = Vec::new();
        for op in ops {
            match op {
                Op::Track { thread, kind } => {
                    let ledger = ledger.clone();
                    let token = workers.run(thread % 3, move || ledger.track(KINDS[kind % 3], "prop"));
                    live.push((kind % 3, token));
                }
                Op::Drop { thread, index } => {
                    if !live.is_empty() {
                        let (_, token) = live.swap_remove(index % live.len());
                        workers.run(thread % 3, move || drop(token));
                    }
                }
            }
            for (k, kind) in KINDS.iter().enumerate() {
                let expected = live.iter().filter(|(lk, _)| *lk == k).count();
                prop_assert_eq!(ledger.count(*kind), expected);
            }
        }
        let mut ids: Vec<u64> = live.iter().map(|(_, t)| t.id()).collect();
        let mut listed: Vec<u64> = ledger.live().into_iter().map(|e| e.id).collect();
        ids.sort_unstable();
        listed.sort_unstable();
        prop_assert_eq!(ids, listed);
        drop(live);
        workers.join();
        prop_assert!(ledger.live().is_empty());
    }
}
