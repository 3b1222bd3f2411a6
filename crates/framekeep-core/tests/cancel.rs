//! Tests of `framekeep_core::cancel`: the token tree, causes, deadlines, waiting, receivers,
//! callbacks, Ctrl-C. Every wait is bounded; a hang fails the test instead of stalling CI.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, unbounded, RecvTimeoutError};
use framekeep_core::cancel::{install_ctrlc, CancelToken, Cause, CtrlcError};

/// Upper bound for anything that should happen "promptly".
const BOUND: Duration = Duration::from_secs(10);

#[test]
fn token_is_send_sync_and_cheap_to_clone() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<CancelToken>();
    let a = CancelToken::new();
    let b = a.clone();
    assert!(a.same_as(&b));
    assert!(!a.same_as(&CancelToken::new()));
    b.cancel();
    assert!(a.is_cancelled());
}

#[test]
fn parent_cancels_descendants_never_the_reverse() {
    let root = CancelToken::new();
    let a = root.child();
    let b = root.child();
    let a1 = a.child();
    let a2 = a.child();
    a1.cancel();
    assert!(a1.is_cancelled());
    assert!(!a.is_cancelled() && !a2.is_cancelled() && !root.is_cancelled() && !b.is_cancelled());
    a.cancel_with(Cause::Closed);
    assert!(a2.is_cancelled());
    assert!(!root.is_cancelled() && !b.is_cancelled());
    root.cancel_with(Cause::Interrupted);
    assert!(b.is_cancelled());
    assert_eq!(root.cause(), Some(Cause::Interrupted));
    assert_eq!(b.cause(), Some(Cause::Interrupted));
    // Already-cancelled descendants keep their own, earlier cause.
    assert_eq!(a.cause(), Some(Cause::Closed));
    assert_eq!(a2.cause(), Some(Cause::Closed));
    assert_eq!(a1.cause(), Some(Cause::Shutdown));
}

#[test]
fn first_cancel_wins_and_descendants_see_the_parent_cause() {
    let root = CancelToken::new();
    let child = root.child();
    let grandchild = child.child();
    assert_eq!(root.cause(), None);
    root.cancel_with(Cause::error("decoder", "bad frame"));
    root.cancel_with(Cause::Shutdown);
    child.cancel_with(Cause::Closed);
    let expected = Cause::error("decoder", "bad frame");
    assert_eq!(root.cause(), Some(expected.clone()));
    assert_eq!(child.cause(), Some(expected.clone()));
    assert_eq!(grandchild.cause(), Some(expected.clone()));
    assert!(expected.is_error());
    assert_eq!(expected.to_string(), "error in decoder: bad frame");
}

#[test]
fn child_of_cancelled_parent_is_born_cancelled() {
    let root = CancelToken::new();
    root.cancel_with(Cause::Closed);
    let child = root.child();
    assert!(child.is_cancelled());
    assert_eq!(child.cause(), Some(Cause::Closed));
    assert!(child.wait_timeout(Duration::ZERO));
    assert_eq!(root.child_count(), 0);
    let late = root.child_with_timeout(Duration::from_secs(3600));
    assert_eq!(late.cause(), Some(Cause::Closed));
}

#[test]
fn dropped_and_cancelled_children_detach_from_long_lived_parent() {
    let root = CancelToken::new();
    for _ in 0..10_000 {
        let child = root.child();
        let _grandchild = child.child();
    }
    assert_eq!(root.child_count(), 0);
    let kept: Vec<_> = (0..100).map(|_| root.child()).collect();
    assert_eq!(root.child_count(), 100);
    for child in &kept[..40] {
        child.cancel();
    }
    assert_eq!(root.child_count(), 60);
    drop(kept);
    assert_eq!(root.child_count(), 0);
    // A clone keeps the child attached; the last handle detaches it.
    let child = root.child();
    let clone = child.clone();
    drop(child);
    assert_eq!(root.child_count(), 1);
    drop(clone);
    assert_eq!(root.child_count(), 0);
}

#[test]
fn grandchild_outliving_its_dropped_parent_still_hears_the_root() {
    let root = CancelToken::new();
    let middle = root.child();
    let leaf = middle.child();
    drop(middle);
    assert_eq!(
        root.child_count(),
        1,
        "the leaf keeps the middle node attached"
    );
    root.cancel_with(Cause::Closed);
    assert_eq!(leaf.cause(), Some(Cause::Closed));
}

#[test]
fn very_deep_chains_cancel_and_drop_without_recursion() {
    let root = CancelToken::new();
    let mut leaf = root.child();
    for _ in 0..200_000 {
        leaf = leaf.child();
    }
    root.cancel();
    assert!(leaf.is_cancelled());
    drop(leaf);
    let mut leaf = root.child();
    for _ in 0..200_000 {
        leaf = leaf.child();
    }
    drop(leaf); // uncancelled chain, released iteratively
    let other = CancelToken::new();
    let mut chain = other.child();
    for _ in 0..200_000 {
        chain = chain.child();
    }
    drop(chain);
    assert_eq!(other.child_count(), 0);
}

#[test]
fn deadline_child_cancels_with_deadline_exceeded() {
    let root = CancelToken::new();
    let start = Instant::now();
    let op = root.child_with_timeout(Duration::from_millis(50));
    assert!(op.deadline().is_some());
    assert!(!root.is_cancelled());
    assert!(op.wait_timeout(BOUND), "deadline did not fire");
    assert!(start.elapsed() >= Duration::from_millis(50));
    assert_eq!(op.cause(), Some(Cause::DeadlineExceeded));
    assert!(!root.is_cancelled(), "a deadline never cancels the parent");
}

#[test]
fn deadline_is_inherited_and_propagates_to_children() {
    let root = CancelToken::new();
    let at = Instant::now() + Duration::from_millis(60);
    let op = root.child_with_deadline(at);
    let sub = op.child();
    let later = op.child_with_timeout(Duration::from_secs(3600));
    let earlier = op.child_with_timeout(Duration::from_millis(10));
    assert_eq!(sub.deadline(), Some(at));
    assert_eq!(later.deadline(), Some(at));
    assert!(earlier.deadline().is_some_and(|d| d < at));
    assert!(earlier.wait_timeout(BOUND));
    assert!(!op.is_cancelled());
    assert!(later.wait_timeout(BOUND));
    assert_eq!(sub.cause(), Some(Cause::DeadlineExceeded));
    assert_eq!(later.cause(), Some(Cause::DeadlineExceeded));
}

#[test]
fn parent_cancel_before_deadline_keeps_parent_cause() {
    let root = CancelToken::new();
    let op = root.child_with_timeout(Duration::from_millis(100));
    root.cancel();
    assert_eq!(op.cause(), Some(Cause::Shutdown));
    thread::sleep(Duration::from_millis(150));
    assert_eq!(op.cause(), Some(Cause::Shutdown));
}

#[test]
fn past_deadline_cancels_immediately() {
    let root = CancelToken::new();
    let op = root.child_with_deadline(Instant::now() - Duration::from_millis(1));
    assert!(op.is_cancelled());
    assert_eq!(op.cause(), Some(Cause::DeadlineExceeded));
    let zero = root.child_with_timeout(Duration::ZERO);
    assert!(zero.is_cancelled());
    let never = root.child_with_timeout(Duration::MAX);
    assert!(!never.is_cancelled());
    assert_eq!(never.deadline(), None);
}

fn threads_named(prefix: &str) -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end().starts_with(prefix))
        .count()
}

#[test]
fn many_deadlines_share_one_timer_thread_and_all_fire() {
    let root = CancelToken::new();
    let tokens: Vec<_> = (0..500u64)
        .map(|i| root.child_with_timeout(Duration::from_millis(20 + (i * 7919) % 200)))
        .collect();
    if cfg!(target_os = "linux") {
        assert_eq!(threads_named("framekeep-deadl"), 1);
    }
    let bound = Instant::now() + BOUND;
    for token in &tokens {
        assert!(token.wait_deadline(bound), "a deadline did not fire");
        assert_eq!(token.cause(), Some(Cause::DeadlineExceeded));
    }
}

#[test]
fn dropped_deadline_tokens_leave_the_timer() {
    let root = CancelToken::new();
    let tokens: Vec<_> = (0..2_000)
        .map(|_| root.child_with_timeout(Duration::from_secs(3600)))
        .collect();
    assert!(CancelToken::pending_deadlines() >= 2_000);
    drop(tokens);
    // Other tests may have a few hundred pending deadlines of their own, never thousands.
    assert!(CancelToken::pending_deadlines() < 1_000);
    assert_eq!(root.child_count(), 0);
}

#[test]
fn wait_timeout_times_out_without_cancel() {
    let token = CancelToken::new();
    let start = Instant::now();
    assert!(!token.wait_timeout(Duration::from_millis(30)));
    assert!(start.elapsed() >= Duration::from_millis(30));
    assert!(!token.wait_deadline(Instant::now()));
}

#[test]
fn no_lost_wakeups_under_concurrent_wait_and_cancel() {
    const WAITERS: usize = 6;
    for round in 0..300 {
        let root = CancelToken::new();
        let child = root.child();
        let barrier = Arc::new(Barrier::new(WAITERS + 2));
        let woke = AtomicUsize::new(0);
        thread::scope(|s| {
            for w in 0..WAITERS {
                let (child, barrier, woke) = (&child, &barrier, &woke);
                s.spawn(move || {
                    // Receivers taken before and after the barrier race the cancel too.
                    let early = child.receiver();
                    barrier.wait();
                    let ok = match w % 4 {
                        0 => child.wait_timeout(BOUND),
                        1 => {
                            child.wait();
                            true
                        }
                        2 => matches!(
                            early.recv_timeout(BOUND),
                            Err(RecvTimeoutError::Disconnected)
                        ),
                        _ => matches!(
                            child.receiver().recv_timeout(BOUND),
                            Err(RecvTimeoutError::Disconnected)
                        ),
                    };
                    assert!(ok, "round {round}: waiter {w} missed the cancel");
                    assert!(child.is_cancelled());
                    woke.fetch_add(1, Ordering::Relaxed);
                });
            }
            s.spawn(|| {
                barrier.wait();
                root.cancel_with(Cause::Closed);
            });
            barrier.wait();
            if round % 2 == 0 {
                // Racing second canceller on the child: it must not win over the parent
                // unless it got there first; either way exactly one cause is visible.
                child.cancel_with(Cause::Interrupted);
            }
        });
        assert_eq!(woke.load(Ordering::Relaxed), WAITERS);
        let cause = child.cause().expect("cancelled");
        assert!(cause == Cause::Closed || cause == Cause::Interrupted);
        assert_eq!(root.cause(), Some(Cause::Closed));
    }
}

#[test]
fn concurrent_cancellers_agree_on_one_cause() {
    for _ in 0..200 {
        let token = CancelToken::new();
        let leaf = token.child().child();
        let barrier = Barrier::new(4);
        let seen = Mutex::new(Vec::new());
        thread::scope(|s| {
            for i in 0..4 {
                let (token, leaf, barrier, seen) = (&token, &leaf, &barrier, &seen);
                s.spawn(move || {
                    barrier.wait();
                    token.cancel_with(Cause::error(format!("w{i}"), "boom"));
                    seen.lock().unwrap().push(leaf.cause());
                });
            }
        });
        let seen = seen.into_inner().unwrap();
        let first = seen[0].clone().expect("cancelled");
        assert!(seen.iter().all(|c| c.as_ref() == Some(&first)));
        assert_eq!(token.cause(), Some(first));
    }
}

#[test]
fn a_token_seen_cancelled_implies_its_whole_subtree_is() {
    for _ in 0..50 {
        let root = CancelToken::new();
        let mids: Vec<_> = (0..20).map(|_| root.child()).collect();
        let leaves: Vec<_> = mids
            .iter()
            .flat_map(|m| (0..20).map(|_| m.child()).collect::<Vec<_>>())
            .collect();
        thread::scope(|s| {
            s.spawn(|| {
                let bound = Instant::now() + BOUND;
                while !root.is_cancelled() {
                    assert!(Instant::now() < bound, "never saw the cancel");
                    std::hint::spin_loop();
                }
                assert!(mids.iter().all(CancelToken::is_cancelled));
                assert!(leaves.iter().all(CancelToken::is_cancelled));
            });
            s.spawn(|| root.cancel());
        });
    }
}

#[test]
fn concurrent_child_creation_and_cancel_never_misses_a_child() {
    for _ in 0..100 {
        let root = CancelToken::new();
        let children = Mutex::new(Vec::new());
        let barrier = Barrier::new(3);
        thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    barrier.wait();
                    for _ in 0..200 {
                        let child = root.child().child();
                        children.lock().unwrap().push(child);
                    }
                });
            }
            barrier.wait();
            root.cancel();
        });
        for child in children.into_inner().unwrap() {
            assert!(child.is_cancelled());
            assert_eq!(child.cause(), Some(Cause::Shutdown));
        }
    }
}

#[test]
fn receiver_in_select_next_to_an_input_channel() {
    let token = CancelToken::new();
    let (tx, rx) = unbounded::<u32>();
    let worker_token = token.child();
    let worker = thread::spawn(move || {
        let cancelled = worker_token.receiver();
        let mut sum = 0;
        loop {
            select! {
                recv(rx) -> msg => match msg {
                    Ok(v) => sum += v,
                    Err(_) => return (sum, "closed"),
                },
                recv(cancelled) -> _ => return (sum, "cancelled"),
            }
        }
    });
    for v in 1..=10 {
        tx.send(v).unwrap();
    }
    // Wait (bounded) for the worker to consume everything, then cancel.
    let bound = Instant::now() + BOUND;
    while !tx.is_empty() && Instant::now() < bound {
        thread::sleep(Duration::from_millis(1));
    }
    token.cancel();
    let (sum, why) = worker.join().unwrap();
    assert_eq!((sum, why), (55, "cancelled"));
    drop(tx);
}

#[test]
fn receiver_after_cancel_is_ready_and_nothing_is_ever_sent() {
    let token = CancelToken::new();
    let before = token.receiver();
    assert_eq!(
        before.recv_timeout(Duration::from_millis(10)),
        Err(RecvTimeoutError::Timeout)
    );
    token.cancel();
    assert_eq!(
        before.recv_timeout(Duration::ZERO),
        Err(RecvTimeoutError::Disconnected)
    );
    assert_eq!(
        token.receiver().recv_timeout(Duration::ZERO),
        Err(RecvTimeoutError::Disconnected)
    );
}

#[test]
fn receiver_of_a_dropped_token_fails_safe() {
    let root = CancelToken::new();
    let child = root.child();
    let rx = child.receiver();
    drop(child);
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(1)),
        Err(RecvTimeoutError::Disconnected)
    );
    assert!(!root.is_cancelled());
}

#[test]
fn on_cancel_runs_once_with_the_cause() {
    let root = CancelToken::new();
    let child = root.child();
    let calls = Arc::new(Mutex::new(Vec::new()));
    let c = Arc::clone(&calls);
    let _guard = child.on_cancel(move |cause| c.lock().unwrap().push(cause.clone()));
    assert!(calls.lock().unwrap().is_empty());
    root.cancel_with(Cause::Closed);
    child.cancel();
    root.cancel();
    assert_eq!(*calls.lock().unwrap(), vec![Cause::Closed]);
}

#[test]
fn on_cancel_on_a_cancelled_token_runs_immediately() {
    let token = CancelToken::new();
    token.cancel_with(Cause::Interrupted);
    let ran = Arc::new(Mutex::new(None));
    let r = Arc::clone(&ran);
    let guard = token.on_cancel(move |cause| *r.lock().unwrap() = Some(cause.clone()));
    assert_eq!(*ran.lock().unwrap(), Some(Cause::Interrupted));
    assert!(!guard.stop());
}

#[test]
fn on_cancel_guard_drop_and_stop_deregister() {
    let token = CancelToken::new();
    let count = Arc::new(AtomicUsize::new(0));
    let c1 = Arc::clone(&count);
    let dropped = token.on_cancel(move |_| {
        c1.fetch_add(1, Ordering::SeqCst);
    });
    drop(dropped);
    let c2 = Arc::clone(&count);
    let stopped = token.on_cancel(move |_| {
        c2.fetch_add(10, Ordering::SeqCst);
    });
    assert!(stopped.stop());
    let c3 = Arc::clone(&count);
    token
        .on_cancel(move |_| {
            c3.fetch_add(100, Ordering::SeqCst);
        })
        .forget();
    let c4 = Arc::clone(&count);
    let kept = token.on_cancel(move |_| {
        c4.fetch_add(1000, Ordering::SeqCst);
    });
    token.cancel();
    assert_eq!(count.load(Ordering::SeqCst), 1100);
    assert!(!kept.stop(), "already ran");
}

#[test]
fn on_cancel_guard_keeps_the_token_attached() {
    let root = CancelToken::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&ran);
    let guard = root.child().on_cancel(move |_| {
        r.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(root.child_count(), 1);
    root.cancel();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    drop(guard);
}

#[test]
fn callbacks_may_use_tokens_and_panics_are_contained() {
    let root = CancelToken::new();
    let other = CancelToken::new();
    let o = other.clone();
    let r = root.clone();
    let _a = root.on_cancel(move |_| {
        // Re-entrant use of the cancelled token and of another token: no deadlock.
        r.cancel();
        assert!(r.is_cancelled());
        let _late = r.on_cancel(|_| {});
        o.cancel_with(Cause::Closed);
    });
    let _b = root.on_cancel(|_| panic!("callback panic (expected by the test)"));
    let child = root.child();
    let seen = Arc::new(AtomicUsize::new(0));
    let s = Arc::clone(&seen);
    let _c = child.on_cancel(move |_| {
        s.fetch_add(1, Ordering::SeqCst);
    });
    root.cancel();
    assert_eq!(other.cause(), Some(Cause::Closed));
    assert_eq!(seen.load(Ordering::SeqCst), 1);
}

#[test]
fn drop_guard_cancels_unless_disarmed() {
    let root = CancelToken::new();
    let a = root.child();
    let b = root.child();
    {
        let _g = a.clone().drop_guard();
    }
    assert!(a.is_cancelled());
    let g = b.clone().drop_guard();
    assert!(g.token().is_some());
    let back = g.disarm();
    assert!(back.same_as(&b));
    assert!(!b.is_cancelled());
}

#[test]
fn debug_shows_state() {
    let token = CancelToken::new();
    token.cancel_with(Cause::Closed);
    let text = format!("{token:?}");
    assert!(
        text.contains("cancelled: true") && text.contains("Closed"),
        "{text}"
    );
}

/// Environment variable that turns this test binary into the Ctrl-C child process.
const CTRLC_CHILD: &str = "FRAMEKEEP_TEST_CTRLC_CHILD";

#[test]
fn ctrlc_child_process_entry() {
    if std::env::var_os(CTRLC_CHILD).is_none() {
        return; // only meaningful inside the child spawned by `ctrlc_first_cancels_second_exits_130`
    }
    let root = CancelToken::new();
    install_ctrlc(&root).expect("first install");
    assert!(matches!(
        install_ctrlc(&root),
        Err(CtrlcError::AlreadyInstalled)
    ));
    // SAFETY: getpid and kill have no memory-safety preconditions.
    unsafe { libc::kill(libc::getpid(), libc::SIGINT) };
    assert!(root.wait_timeout(BOUND), "first SIGINT did not cancel");
    assert_eq!(root.cause(), Some(Cause::Interrupted));
    println!("CHILD-CANCELLED-INTERRUPTED");
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    // SAFETY: as above.
    unsafe { libc::kill(libc::getpid(), libc::SIGINT) };
    thread::sleep(BOUND);
    std::process::exit(3); // the second signal should have exited with 130 before this
}

#[test]
fn ctrlc_first_cancels_second_exits_130() {
    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new(exe)
        .args([
            "--exact",
            "ctrlc_child_process_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CTRLC_CHILD, "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + BOUND * 2;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("ctrl-c child did not exit in time");
        }
        thread::sleep(Duration::from_millis(10));
    };
    let mut out = String::new();
    use std::io::Read;
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(
        out.contains("CHILD-CANCELLED-INTERRUPTED"),
        "child output: {out}"
    );
    assert_eq!(status.code(), Some(130), "child output: {out}");
}

/// A model of the token tree: random creates, drops and cancels, checked against the real
/// tokens after every step (cancelled state, cause, registered children).
#[test]
fn random_tree_operations_match_the_model() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    struct ModelNode {
        parent: Option<usize>,
        handle: Option<CancelToken>,
        cause: Option<Cause>,
    }

    fn alive(nodes: &[ModelNode], i: usize) -> bool {
        nodes[i].handle.is_some()
            || (0..nodes.len()).any(|j| nodes[j].parent == Some(i) && alive(nodes, j))
    }

    let causes = [
        Cause::Shutdown,
        Cause::Closed,
        Cause::Interrupted,
        Cause::error("stage", "boom"),
    ];
    for seed in 0..40u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut nodes = vec![ModelNode {
            parent: None,
            handle: Some(CancelToken::new()),
            cause: None,
        }];
        for step in 0..150 {
            let live: Vec<usize> = (0..nodes.len())
                .filter(|&i| nodes[i].handle.is_some())
                .collect();
            let pick = live[rng.gen_range(0..live.len())];
            match rng.gen_range(0..10) {
                0..=4 => {
                    let parent = nodes[pick].handle.as_ref().unwrap();
                    let token = if rng.gen_bool(0.2) {
                        parent.child_with_timeout(Duration::from_secs(3600))
                    } else {
                        parent.child()
                    };
                    let cause = nodes[pick].cause.clone();
                    nodes.push(ModelNode {
                        parent: Some(pick),
                        handle: Some(token),
                        cause,
                    });
                }
                5..=6 if pick != 0 => {
                    nodes[pick].handle = None;
                }
                _ => {
                    let cause = causes[rng.gen_range(0..causes.len())].clone();
                    nodes[pick]
                        .handle
                        .as_ref()
                        .unwrap()
                        .cancel_with(cause.clone());
                    // Model: the node and every not-yet-cancelled descendant take the cause.
                    let mut stack = vec![pick];
                    while let Some(i) = stack.pop() {
                        if nodes[i].cause.is_some() {
                            continue;
                        }
                        nodes[i].cause = Some(cause.clone());
                        stack.extend((0..nodes.len()).filter(|&j| nodes[j].parent == Some(i)));
                    }
                }
            }
            for (i, node) in nodes.iter().enumerate() {
                let Some(token) = &node.handle else { continue };
                let ctx = format!("seed {seed} step {step} node {i}");
                assert_eq!(token.cause(), node.cause, "{ctx}");
                assert_eq!(token.is_cancelled(), node.cause.is_some(), "{ctx}");
                let registered = (0..nodes.len())
                    .filter(|&j| {
                        nodes[j].parent == Some(i) && nodes[j].cause.is_none() && alive(&nodes, j)
                    })
                    .count();
                assert_eq!(
                    token.child_count(),
                    registered,
                    "{ctx}: registered children"
                );
            }
        }
    }
}

#[test]
fn on_cancel_racing_cancel_runs_every_kept_callback_exactly_once() {
    for _ in 0..100 {
        let root = CancelToken::new();
        let child = root.child();
        let runs = Arc::new(AtomicUsize::new(0));
        let barrier = Barrier::new(4);
        let guards = Mutex::new(Vec::new());
        thread::scope(|s| {
            for t in 0..3 {
                let (child, runs, barrier, guards) = (&child, &runs, &barrier, &guards);
                s.spawn(move || {
                    barrier.wait();
                    for i in 0..50 {
                        let r = Arc::clone(runs);
                        let guard = child.on_cancel(move |_| {
                            r.fetch_add(1, Ordering::SeqCst);
                        });
                        if (t + i) % 5 == 0 {
                            // Dropped guards may or may not have run; keep them out of the count.
                            if guard.stop() {
                                continue;
                            }
                            runs.fetch_sub(1, Ordering::SeqCst);
                            continue;
                        }
                        guards.lock().unwrap().push(guard);
                    }
                });
            }
            barrier.wait();
            root.cancel();
        });
        assert!(child.is_cancelled());
        let kept = guards.lock().unwrap().len();
        assert_eq!(
            runs.load(Ordering::SeqCst),
            kept,
            "a kept callback ran 0 or 2 times"
        );
    }
}
