//! Tests of `framekeep_core::supervisor`: ordering, timeouts, panics, restarts, errors, drop,
//! ledger accounting. Every wait is bounded; shutdown timeouts are short where a worker is
//! expected to misbehave, so a regression fails fast instead of hanging.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select};
use framekeep_core::cancel::{CancelToken, Cause};
use framekeep_core::ledger::{Kind, LeakCheck, Ledger};
use framekeep_core::supervisor::{
    current_thread_cpus, Outcome, PanicPolicy, ShutdownOrder, SpawnError, Supervisor,
    SupervisorOptions, WorkerError, WorkerOptions,
};

/// Upper bound for anything that should happen "promptly".
const BOUND: Duration = Duration::from_secs(10);

type Log = Arc<Mutex<Vec<String>>>;

fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn entries(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

/// Options with a private ledger, so thread counts are exact even with parallel tests.
fn private(ledger: &Ledger) -> SupervisorOptions {
    SupervisorOptions::new()
        .with_ledger(ledger)
        .shutdown_timeout(BOUND)
}

/// Polls `cond` until it holds or BOUND passes.
fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + BOUND;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn supervisor_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Supervisor>();
}

#[test]
fn default_order_is_reverse_start_order_one_at_a_time() {
    let ledger = Ledger::new();
    let root = CancelToken::new();
    let sup = Supervisor::with_options(&root, private(&ledger));
    let seen = log();
    for name in ["a", "b", "c"] {
        let seen = Arc::clone(&seen);
        sup.spawn(name, move |ctx| {
            assert!(ctx.token().wait_timeout(BOUND), "never cancelled");
            // Dawdle a little: the next worker must not be cancelled before we exit.
            thread::sleep(Duration::from_millis(20));
            seen.lock()
                .unwrap()
                .push(format!("{} cancelled", ctx.name()));
            Ok(())
        })
        .unwrap();
    }
    eventually("3 threads registered", || ledger.count(Kind::THREAD) == 3);
    let report = sup.shutdown();
    assert_eq!(
        entries(&seen),
        vec!["c cancelled", "b cancelled", "a cancelled"]
    );
    assert_eq!(report.stop_order(), vec!["c", "b", "a"]);
    assert!(report.is_clean(), "{report}");
    assert!(report.workers.iter().all(|w| w.cancelled));
    assert!(report
        .workers
        .iter()
        .all(|w| w.stop_time >= Duration::from_millis(15)));
    assert_eq!(ledger.count(Kind::THREAD), 0);
    assert!(
        !root.is_cancelled(),
        "shutdown cancels the supervisor, not the root"
    );
}

#[test]
fn drain_order_stops_the_source_then_lets_downstream_drain() {
    let ledger = Ledger::new();
    let root = CancelToken::new();
    let sup = Supervisor::with_options(
        &root,
        private(&ledger)
            .order(ShutdownOrder::Drain)
            .drain_timeout(BOUND),
    );
    let seen = log();
    let (to_stage, stage_in) = bounded::<u32>(4);
    let (to_sink, sink_in) = bounded::<u32>(4);
    let total = Arc::new(AtomicUsize::new(0));

    let s = Arc::clone(&seen);
    sup.spawn("source", move |ctx| {
        let mut n = 0;
        while !ctx.is_cancelled() {
            let cancelled = ctx.token().receiver();
            select! {
                send(to_stage, n) -> res => { if res.is_err() { break; } n += 1; }
                recv(cancelled) -> _ => break,
            }
        }
        s.lock().unwrap().push("source stopped".into());
        Ok(()) // dropping `to_stage` closes the stage's input
    })
    .unwrap();
    let s = Arc::clone(&seen);
    sup.spawn("stage", move |_ctx| {
        // Ignores its token on purpose: it must be allowed to drain.
        for v in stage_in.iter() {
            thread::sleep(Duration::from_micros(200));
            if to_sink.send(v).is_err() {
                break;
            }
        }
        s.lock().unwrap().push("stage drained".into());
        Ok(())
    })
    .unwrap();
    let s = Arc::clone(&seen);
    let t = Arc::clone(&total);
    sup.spawn("sink", move |_ctx| {
        for _ in sink_in.iter() {
            t.fetch_add(1, Ordering::Relaxed);
        }
        s.lock().unwrap().push("sink drained".into());
        Ok(())
    })
    .unwrap();
    eventually("frames flowing", || total.load(Ordering::Relaxed) > 20);
    let report = sup.shutdown();
    assert_eq!(
        entries(&seen),
        vec!["source stopped", "stage drained", "sink drained"]
    );
    assert_eq!(report.stop_order(), vec!["source", "stage", "sink"]);
    assert!(report.is_clean(), "{report}");
    let cancelled: Vec<bool> = report.workers.iter().map(|w| w.cancelled).collect();
    assert_eq!(cancelled, vec![true, false, false], "{report}");
    assert_eq!(ledger.count(Kind::THREAD), 0);
}

#[test]
fn drain_order_cancels_a_worker_that_does_not_drain_in_time() {
    let ledger = Ledger::new();
    let root = CancelToken::new();
    let sup = Supervisor::with_options(&root, private(&ledger).order(ShutdownOrder::Drain));
    let seen = log();
    for name in ["source", "display"] {
        let s = Arc::clone(&seen);
        let opts = WorkerOptions::new().drain_timeout(Duration::from_millis(50));
        sup.spawn_with(name, opts, move |ctx| {
            assert!(ctx.token().wait_timeout(BOUND));
            s.lock().unwrap().push(ctx.name().to_owned());
            Ok(())
        })
        .unwrap();
    }
    let report = sup.shutdown();
    assert_eq!(entries(&seen), vec!["source", "display"]);
    let display = report.worker("display").unwrap();
    assert!(display.cancelled);
    assert!(display.stop_time >= Duration::from_millis(40), "{report}");
    assert!(report.is_clean());
}

#[test]
fn a_worker_that_ignores_cancel_is_reported_by_name_and_shutdown_goes_on() {
    let ledger = Ledger::new();
    let root = CancelToken::new();
    let sup = Supervisor::with_options(&root, private(&ledger));
    let release = Arc::new(AtomicBool::new(false));
    let stopped = log();
    let s = Arc::clone(&stopped);
    sup.spawn("first", move |ctx| {
        ctx.token().wait_timeout(BOUND);
        s.lock().unwrap().push("first".into());
        Ok(())
    })
    .unwrap();
    let r = Arc::clone(&release);
    let opts = WorkerOptions::new().shutdown_timeout(Duration::from_millis(100));
    sup.spawn_with("stubborn", opts, move |_ctx| {
        let deadline = Instant::now() + BOUND;
        while !r.load(Ordering::Acquire) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    })
    .unwrap();
    let started = Instant::now();
    let report = sup.shutdown();
    assert!(started.elapsed() < BOUND / 2, "shutdown waited too long");
    assert_eq!(entries(&stopped), vec!["first"], "shutdown went on");
    let stubborn = report.worker("stubborn").unwrap();
    assert_eq!(stubborn.outcome, Outcome::TimedOut);
    assert!(stubborn.stop_time >= Duration::from_millis(100));
    assert_eq!(report.timed_out().count(), 1);
    assert!(!report.is_clean());
    let text = report.to_string();
    assert!(
        text.contains("'stubborn'") && text.contains("TIMED OUT"),
        "{text}"
    );
    assert!(text.contains("cannot be killed"), "{text}");
    // The detached thread still counts in the ledger until it really exits.
    assert_eq!(ledger.count(Kind::THREAD), 1);
    release.store(true, Ordering::Release);
    eventually("stubborn thread gone", || ledger.count(Kind::THREAD) == 0);
}

#[test]
fn a_panic_escalates_and_cancels_siblings() {
    let ledger = Ledger::new();
    let root = CancelToken::new();
    let sup = Supervisor::with_options(&root, private(&ledger));
    let sibling_cause = Arc::new(Mutex::new(None));
    let c = Arc::clone(&sibling_cause);
    sup.spawn("steady", move |ctx| {
        assert!(ctx.token().wait_timeout(BOUND));
        *c.lock().unwrap() = ctx.token().cause();
        Ok(())
    })
    .unwrap();
    sup.spawn("faulty", |_ctx| -> Result<(), WorkerError> {
        panic!("bad frame size (expected by the test)")
    })
    .unwrap();
    assert!(root.wait_timeout(BOUND), "the panic did not escalate");
    match root.cause() {
        Some(Cause::Error { source, message }) => {
            assert_eq!(source, "faulty");
            assert!(message.contains("bad frame size"), "{message}");
        }
        other => panic!("unexpected cause {other:?}"),
    }
    assert!(sup.wait(BOUND), "siblings did not stop");
    let report = sup.shutdown();
    match &report.worker("faulty").unwrap().outcome {
        Outcome::Panicked(message) => assert!(message.contains("bad frame size")),
        other => panic!("unexpected outcome {other:?}"),
    }
    assert_eq!(report.worker("steady").unwrap().outcome, Outcome::Ok);
    assert!(matches!(
        sibling_cause.lock().unwrap().clone(),
        Some(Cause::Error { .. })
    ));
    assert_eq!(report.panics().count(), 1);
    assert_eq!(ledger.count(Kind::THREAD), 0);
}

#[test]
fn an_isolated_panic_stops_only_its_worker() {
    let ledger = Ledger::new();
    let root = CancelToken::new();
    let sup = Supervisor::with_options(&root, private(&ledger).on_panic(PanicPolicy::Isolate));
    let steady = sup
        .spawn("steady", |ctx| {
            ctx.token().wait_timeout(BOUND);
            Ok(())
        })
        .unwrap();
    let faulty = sup
        .spawn("faulty", |_ctx| -> Result<(), WorkerError> {
            panic!("isolated (expected by the test)")
        })
        .unwrap();
    assert!(faulty.wait_timeout(BOUND));
    assert!(faulty.is_finished());
    assert!(!steady.is_finished());
    assert!(!root.is_cancelled());
    let report = sup.shutdown();
    assert!(matches!(
        report.worker("faulty").unwrap().outcome,
        Outcome::Panicked(_)
    ));
    assert_eq!(report.worker("steady").unwrap().outcome, Outcome::Ok);
}

#[test]
fn restart_policy_restarts_up_to_the_limit_then_escalates() {
    let ledger = Ledger::new();
    let root = CancelToken::new();
    let sup = Supervisor::with_options(&root, private(&ledger));
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    let restarts_seen = log();
    let r = Arc::clone(&restarts_seen);
    let opts = WorkerOptions::new().restart(3, Duration::from_secs(60));
    sup.spawn_with("flaky", opts, move |ctx| -> Result<(), WorkerError> {
        c.fetch_add(1, Ordering::SeqCst);
        r.lock().unwrap().push(ctx.restarts().to_string());
        panic!("always fails (expected by the test)")
    })
    .unwrap();
    assert!(root.wait_timeout(BOUND), "restart limit did not escalate");
    assert!(matches!(root.cause(), Some(Cause::Error { ref source, .. }) if source == "flaky"));
    let report = sup.shutdown();
    assert_eq!(calls.load(Ordering::SeqCst), 4, "1 run + 3 restarts");
    assert_eq!(entries(&restarts_seen), vec!["0", "1", "2", "3"]);
    let flaky = report.worker("flaky").unwrap();
    assert_eq!(flaky.restarts, 3);
    assert!(matches!(flaky.outcome, Outcome::Panicked(_)));
    assert!(report.to_string().contains("3 restart(s)"), "{report}");
}

#[test]
fn a_restarted_worker_can_recover() {
    let ledger = Ledger::new();
    let root = CancelToken::new();
    let sup = Supervisor::with_options(
        &root,
        private(&ledger).on_panic(PanicPolicy::Restart {
            max_restarts: 5,
            window: Duration::from_secs(60),
        }),
    );
    let running = Arc::new(AtomicBool::new(false));
    let r = Arc::clone(&running);
    let handle = sup
        .spawn("recovering", move |ctx| {
            if ctx.restarts() < 2 {
                panic!("transient (expected by the test)");
            }
            r.store(true, Ordering::SeqCst);
            ctx.token().wait_timeout(BOUND);
            Ok(())
        })
        .unwrap();
    eventually("running after 2 restarts", || {
        running.load(Ordering::SeqCst)
    });
    assert!(!handle.is_finished());
    assert_eq!(ledger.count(Kind::THREAD), 1, "restarts reuse the thread");
    assert!(!root.is_cancelled());
    let report = sup.shutdown();
    let w = report.worker("recovering").unwrap();
    assert_eq!(
        (w.outcome.clone(), w.restarts),
        (Outcome::Ok, 2),
        "{report}"
    );
}

#[derive(Debug, thiserror::Error)]
#[error("device went away")]
struct DeviceGone(#[source] std::io::Error);

#[test]
fn returned_errors_are_collected_with_their_source_chain() {
    let ledger = Ledger::new();
    let root = CancelToken::new();
    let sup = Supervisor::with_options(&root, private(&ledger));
    sup.spawn("parser", |_ctx| Err(WorkerError::msg("bad header")))
        .unwrap();
    sup.spawn("capture", |_ctx| {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "/dev/video0");
        Err(DeviceGone(io))?;
        Ok(())
    })
    .unwrap();
    sup.spawn("fine", |_ctx| Ok(())).unwrap();
    assert!(sup.wait(BOUND));
    assert!(
        !root.is_cancelled(),
        "errors are collected, not escalated, by default"
    );
    let report = sup.shutdown();
    let mut errors: Vec<(String, String)> = report
        .errors()
        .map(|(n, m)| (n.to_owned(), m.to_owned()))
        .collect();
    errors.sort();
    assert_eq!(
        errors,
        vec![
            ("capture".into(), "device went away: /dev/video0".into()),
            ("parser".into(), "bad header".into()),
        ]
    );
    assert_eq!(report.worker("fine").unwrap().outcome, Outcome::Ok);
    assert!(
        report.workers.iter().all(|w| !w.cancelled),
        "all exited by themselves"
    );
}

#[test]
fn escalating_errors_cancel_the_root() {
    let root = CancelToken::new();
    let ledger = Ledger::new();
    let sup = Supervisor::with_options(&root, private(&ledger).escalate_errors(true));
    sup.spawn("waiting", |ctx| {
        ctx.token().wait_timeout(BOUND);
        Ok(())
    })
    .unwrap();
    sup.spawn("failing", |_ctx| Err(WorkerError::msg("disk full")))
        .unwrap();
    assert!(root.wait_timeout(BOUND));
    assert_eq!(root.cause(), Some(Cause::error("failing", "disk full")));
    assert!(sup.wait(BOUND));
}

#[test]
fn dropping_a_supervisor_shuts_it_down() {
    let ledger = Ledger::new();
    let root = CancelToken::new();
    let stopped = Arc::new(AtomicUsize::new(0));
    {
        let sup = Supervisor::with_options(&root, private(&ledger));
        for i in 0..4 {
            let s = Arc::clone(&stopped);
            sup.spawn(format!("w{i}"), move |ctx| {
                ctx.token().wait_timeout(BOUND);
                s.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .unwrap();
        }
        eventually("4 threads", || ledger.count(Kind::THREAD) == 4);
    }
    assert_eq!(stopped.load(Ordering::SeqCst), 4);
    assert_eq!(ledger.count(Kind::THREAD), 0);
}

#[test]
fn threads_and_their_resources_belong_to_the_spawning_test_scope() {
    let check = LeakCheck::new();
    let root = CancelToken::new();
    let sup = Supervisor::new(&root);
    sup.spawn("holder", |ctx| {
        let _mat = Ledger::global().track(Kind::MAT, "held by worker");
        ctx.token().wait_timeout(BOUND);
        Ok(())
    })
    .unwrap();
    eventually("worker entries in scope", || check.leaks().len() == 2);
    let leaks = check.leaks();
    assert!(leaks
        .iter()
        .any(|e| e.kind == Kind::THREAD && e.name == "holder"));
    assert!(leaks.iter().any(|e| e.kind == Kind::MAT));
    assert!(leaks.iter().all(|e| e.scope == check.scope()));
    let report = sup.shutdown();
    assert!(report.is_clean());
    check.finish().expect("nothing left alive after shutdown");
}

#[test]
fn spawn_refuses_bad_names_duplicates_and_stopped_supervisors() {
    let ledger = Ledger::new();
    let root = CancelToken::new();
    let sup = Supervisor::with_options(&root, private(&ledger));
    sup.spawn("one", |ctx| {
        ctx.token().wait_timeout(BOUND);
        Ok(())
    })
    .unwrap();
    assert!(matches!(
        sup.spawn("one", |_| Ok(())),
        Err(SpawnError::DuplicateName(n)) if n == "one"
    ));
    assert!(matches!(
        sup.spawn("nul\0name", |_| Ok(())),
        Err(SpawnError::InvalidName(_))
    ));
    assert_eq!(sup.len(), 1);
    let report = sup.close();
    assert_eq!(report.workers.len(), 1);
    assert!(matches!(
        sup.spawn("late", |_| Ok(())),
        Err(SpawnError::ShutDown(n)) if n == "late"
    ));
    assert!(sup.close().workers.is_empty(), "second close is empty");
    assert!(sup.is_empty());

    let root2 = CancelToken::new();
    let sup2 = Supervisor::with_options(&root2, private(&ledger));
    root2.cancel_with(Cause::Interrupted);
    let err = sup2.spawn("after-cancel", |_| Ok(())).unwrap_err();
    assert!(matches!(
        err,
        SpawnError::Cancelled {
            cause: Cause::Interrupted,
            ..
        }
    ));
    assert!(err.to_string().contains("after-cancel"));
    drop(sup2);
    drop(sup);
    assert_eq!(ledger.count(Kind::THREAD), 0);
}

#[test]
fn wait_joins_workers_that_end_by_themselves_and_times_out_otherwise() {
    let ledger = Ledger::new();
    let root = CancelToken::new();
    let sup = Supervisor::with_options(&root, private(&ledger));
    sup.spawn("quick", |_ctx| Ok(())).unwrap();
    assert!(sup.wait(BOUND));
    assert_eq!(ledger.count(Kind::THREAD), 0);
    sup.spawn("slow", |ctx| {
        ctx.token().wait_timeout(BOUND);
        Ok(())
    })
    .unwrap();
    let started = Instant::now();
    assert!(!sup.wait(Duration::from_millis(30)));
    assert!(started.elapsed() >= Duration::from_millis(30));
    let report = sup.shutdown();
    assert_eq!(report.stop_order(), vec!["slow", "quick"]);
    assert!(!report.worker("quick").unwrap().cancelled);
    assert_eq!(report.worker("quick").unwrap().stop_time, Duration::ZERO);
    assert!(report.worker("slow").unwrap().cancelled);
}

#[test]
fn a_worker_handle_cancels_just_that_worker() {
    let ledger = Ledger::new();
    let root = CancelToken::new();
    let sup = Supervisor::with_options(&root, private(&ledger));
    let a = sup
        .spawn("a", |ctx| {
            ctx.token().wait_timeout(BOUND);
            Ok(())
        })
        .unwrap();
    let b = sup
        .spawn("b", |ctx| {
            ctx.token().wait_timeout(BOUND);
            Ok(())
        })
        .unwrap();
    assert_eq!(a.name(), "a");
    a.token().cancel();
    assert!(a.wait_timeout(BOUND));
    assert!(!b.is_finished());
    assert!(!sup.token().is_cancelled());
    drop(sup);
    assert!(b.is_finished());
}

#[test]
fn unlinked_workers_survive_a_root_cancel_until_shutdown_reaches_them() {
    let ledger = Ledger::new();
    let root = CancelToken::new();
    let sup = Supervisor::with_options(&root, private(&ledger).order(ShutdownOrder::Drain));
    let source = sup
        .spawn("source", |ctx| {
            ctx.token().wait_timeout(BOUND);
            Ok(())
        })
        .unwrap();
    let sink = sup
        .spawn_with(
            "sink",
            WorkerOptions::new()
                .unlinked()
                .drain_timeout(Duration::from_millis(20)),
            |ctx| {
                ctx.token().wait_timeout(BOUND);
                Ok(())
            },
        )
        .unwrap();
    root.cancel_with(Cause::Interrupted);
    assert!(source.wait_timeout(BOUND));
    assert!(!sink.token().is_cancelled());
    assert!(!sink.wait_timeout(Duration::from_millis(20)));
    let report = sup.shutdown();
    assert!(report.is_clean());
    assert!(report.worker("sink").unwrap().cancelled);
    assert_eq!(sink.token().cause(), Some(Cause::Shutdown));
}

#[test]
fn workers_use_deadline_tokens_and_select_on_their_token() {
    let ledger = Ledger::new();
    let root = CancelToken::new();
    let sup = Supervisor::with_options(&root, private(&ledger));
    let (tx, rx) = bounded::<u32>(1);
    let got = log();
    let g = Arc::clone(&got);
    sup.spawn("selector", move |ctx| {
        // A per-operation deadline under the worker's token.
        let op = ctx.token().child_with_timeout(Duration::from_millis(30));
        assert!(op.wait_timeout(BOUND));
        g.lock().unwrap().push(format!("{:?}", op.cause().unwrap()));
        let cancelled = ctx.token().receiver();
        loop {
            select! {
                recv(rx) -> v => match v {
                    Ok(v) => g.lock().unwrap().push(v.to_string()),
                    Err(_) => return Err(WorkerError::msg("input closed early")),
                },
                recv(cancelled) -> _ => return Ok(()),
            }
        }
    })
    .unwrap();
    tx.send(7).unwrap();
    eventually("value received", || entries(&got).len() == 2);
    let report = sup.shutdown();
    assert!(report.is_clean(), "{report}");
    assert_eq!(entries(&got), vec!["DeadlineExceeded", "7"]);
    drop(tx);
}

#[test]
fn report_display_is_readable() {
    let ledger = Ledger::new();
    let root = CancelToken::new();
    let sup = Supervisor::with_options(&root, private(&ledger).on_panic(PanicPolicy::Isolate));
    sup.spawn("ok-worker", |_| Ok(())).unwrap();
    sup.spawn("err-worker", |_| Err(WorkerError::msg("no luck")))
        .unwrap();
    sup.spawn("panic-worker", |_| -> Result<(), WorkerError> {
        panic!("oops (expected by the test)")
    })
    .unwrap();
    assert!(sup.wait(BOUND));
    let text = sup.shutdown().to_string();
    assert!(text.starts_with("shutdown of 3 worker(s)"), "{text}");
    assert!(text.contains("2 not ok"), "{text}");
    assert!(text.contains("worker 'ok-worker': ok"), "{text}");
    assert!(
        text.contains("worker 'err-worker': error: no luck"),
        "{text}"
    );
    assert!(
        text.contains("worker 'panic-worker': panicked: oops"),
        "{text}"
    );
    assert!(text.contains("exited by itself"), "{text}");
}

#[test]
fn repeated_start_stop_cycles_leave_nothing_behind() {
    let check = LeakCheck::new();
    for round in 0..40 {
        let root = CancelToken::new();
        let order = if round % 2 == 0 {
            ShutdownOrder::Reverse
        } else {
            ShutdownOrder::Drain
        };
        let sup = Supervisor::with_options(
            &root,
            SupervisorOptions::new()
                .order(order)
                .shutdown_timeout(BOUND)
                .drain_timeout(Duration::from_millis(1)),
        );
        for i in 0..4 {
            sup.spawn(format!("r{round}w{i}"), move |ctx| {
                let _held = Ledger::global().track(Kind::LEASE, "cycle");
                if i == round % 4 {
                    return Ok(()); // one worker ends by itself
                }
                ctx.token().wait_timeout(BOUND);
                Ok(())
            })
            .unwrap();
        }
        if round % 3 == 0 {
            root.cancel(); // everything at once, before shutdown
        }
        let report = sup.shutdown();
        assert!(report.is_clean(), "round {round}: {report}");
        assert_eq!(report.workers.len(), 4);
    }
    check.finish().expect("every cycle cleaned up");
}

#[test]
fn workers_can_be_spawned_concurrently_and_close_is_idempotent() {
    let ledger = Ledger::new();
    let root = CancelToken::new();
    let sup = Arc::new(Supervisor::with_options(&root, private(&ledger)));
    thread::scope(|s| {
        for t in 0..4 {
            let sup = Arc::clone(&sup);
            s.spawn(move || {
                for i in 0..5 {
                    sup.spawn(format!("t{t}-{i}"), |ctx| {
                        ctx.token().wait_timeout(BOUND);
                        Ok(())
                    })
                    .unwrap();
                }
            });
        }
    });
    assert_eq!(sup.len(), 20);
    let reports: Vec<_> = thread::scope(|s| {
        let a = s.spawn(|| sup.close());
        let b = s.spawn(|| sup.close());
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    assert_eq!(reports.iter().map(|r| r.workers.len()).sum::<usize>(), 20);
    assert!(reports.iter().all(|r| r.is_clean()));
    assert_eq!(
        ledger.count(Kind::THREAD),
        0,
        "both closes returned after all joined"
    );
    assert!(sup.token().is_cancelled());
}

#[test]
fn worker_error_conversions_keep_the_error() {
    let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "no frame");
    let err: WorkerError = io.into();
    assert_eq!(err.to_string(), "no frame");
    assert!(err.get_ref().downcast_ref::<std::io::Error>().is_some());
    let boxed: Box<dyn std::error::Error + Send + Sync> = "plain text".into();
    let err = WorkerError::boxed(boxed);
    assert_eq!(err.to_string(), "plain text");
    assert_eq!(err.into_inner().to_string(), "plain text");
    assert!(format!("{:?}", WorkerError::msg("x")).contains("WorkerError"));
}

/// The CPUs a worker spawned with `options` runs on, as it sees them.
fn cpus_seen(sup: &Supervisor, name: &str, options: WorkerOptions) -> Vec<usize> {
    let (tx, rx) = bounded(1);
    sup.spawn_with(name, options, move |_| {
        let cpus = current_thread_cpus().map_err(WorkerError::msg)?;
        tx.send(cpus.as_slice().to_vec()).ok();
        Ok(())
    })
    .unwrap();
    rx.recv_timeout(BOUND).expect("the worker reports its CPUs")
}

#[test]
fn workers_run_on_the_cpus_they_are_given() {
    let allowed = current_thread_cpus().unwrap();
    let first = allowed.as_slice()[0];
    let ledger = Ledger::new();
    let root = CancelToken::new();
    let sup = Supervisor::with_options(&root, private(&ledger).cpus([first]));
    assert_eq!(cpus_seen(&sup, "pinned", WorkerOptions::new()), vec![first]);
    if let Some(&other) = allowed.as_slice().get(1) {
        // A worker's own list overrides the supervisor's.
        let seen = cpus_seen(&sup, "elsewhere", WorkerOptions::new().cpus([other]));
        assert_eq!(seen, vec![other]);
    }
    // Without a list a worker keeps the spawner's CPUs.
    let free = Supervisor::with_options(&root, private(&ledger));
    assert_eq!(
        cpus_seen(&free, "free", WorkerOptions::new()),
        allowed.as_slice()
    );
    assert!(sup.shutdown().is_clean());
    assert!(free.shutdown().is_clean());
}

#[test]
fn unusable_cpu_lists_are_spawn_errors() {
    let ledger = Ledger::new();
    let root = CancelToken::new();
    let sup = Supervisor::with_options(&root, private(&ledger));
    let allowed = current_thread_cpus().unwrap();
    // A CPU number this process may not use (past the allowed ones).
    let unusable = allowed.last().unwrap() + 1;
    for (cpus, expect) in [
        (vec![], "empty"),
        (vec![1 << 20], "past the largest"),
        (vec![unusable], "none of CPUs"),
    ] {
        let err = sup
            .spawn_with("w", WorkerOptions::new().cpus(cpus.clone()), |_| Ok(()))
            .expect_err("an unusable CPU list");
        assert!(
            matches!(&err, SpawnError::Cpus { source, .. } if source.to_string().contains(expect)),
            "{cpus:?}: {err}"
        );
    }
    // Nothing was started, and the name is still free.
    sup.spawn("w", |_| Ok(())).unwrap();
    assert!(sup.shutdown().is_clean());
    assert_eq!(ledger.count(Kind::THREAD), 0);
}
