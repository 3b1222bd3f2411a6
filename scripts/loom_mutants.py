#!/usr/bin/env python3
"""Shows that each loom model fails on the mutation SPEC.md names for it.

For every mutation: a scratch copy of the committed tree (a detached git
worktree under target/loom-mutants, removed at the end), the one change applied, the crate
built with --cfg loom (target dir target/loom-mutants/target), and the
model run. A mutation passes this check when its model FAILS. Not part of
the test command (one build per mutation: about a minute each on 2 cores):

    python3 scripts/loom_mutants.py            # every mutation
    python3 scripts/loom_mutants.py lease      # those whose name contains "lease"
"""

import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRATCH = os.path.join(ROOT, "target", "loom-mutants")
TREE = os.path.join(SCRATCH, "tree")
CORE = "crates/framekeep-core/src/"

# (name, file, old text, new text, model filter)
MUTANTS = [
    (
        "1a release vs close: no re-check of `closed` after the park",
        "frame/buffer.rs",
        """        if overflow.is_none()
            && path.waiters.load(Ordering::SeqCst) == 0
            && !path.closed.load(Ordering::SeqCst)
        {""",
        """        if overflow.is_none() && path.waiters.load(Ordering::SeqCst) == 0 {""",
        "pool::loom_models::release_racing_close",
    ),
    (
        "1b TLS destructor: the old bug, an unpublished pin when the slot is gone",
        "frame/hazard.rs",
        "            Err(_) => Self::owned(home),",
        """            Err(_) => Pinned {
                home: NonNull::from(&**home),
                previous: 0,
            },""",
        "pool::loom_models::release_in_thread_local",
    ),
    (
        "2 steal: a slot emptied by a load and a store, not a swap",
        "frame/local_slots.rs",
        "    let raw = slot.swap(ptr::null_mut(), Ordering::SeqCst);",
        """    let raw = slot.load(Ordering::SeqCst);
    if !raw.is_null() {
        slot.store(ptr::null_mut(), Ordering::SeqCst);
    }""",
        "pool::loom_models::acquire_steals",
    ),
    (
        "3 hazard pin: the release does not publish the pool in its slot",
        "frame/hazard.rs",
        "            s.0.store(addr, Ordering::Relaxed);",
        "            s.0.store(previous, Ordering::Relaxed);",
        "pool::loom_models::hazard_pin",
    ),
    (
        "4 frame handle: get_mut's uniqueness check Relaxed, not Acquire",
        "frame/handle.rs",
        "        if self.buf.handles.load(Ordering::Acquire) != 1 || !self.buf.writable {",
        "        if self.buf.handles.load(Ordering::Relaxed) != 1 || !self.buf.writable {",
        "frame::loom_models::clone_and_drop",
    ),
    (
        "5a lease seqlock: no Acquire fence before the reader's second look",
        "frame/lease.rs",
        """        fence(Ordering::Acquire);
        if self.id.load(Ordering::Relaxed) != id {""",
        """        if self.id.load(Ordering::Acquire) != id {""",
        "frame::loom_models::lease",
    ),
    (
        "5b lease seqlock: no Release fence before a checkout writes",
        "frame/lease.rs",
        """        fence(Ordering::Release);
        let uses = self.uses.load(Ordering::Relaxed).wrapping_add(1);""",
        """        let uses = self.uses.load(Ordering::Relaxed).wrapping_add(1);""",
        "frame::loom_models::lease",
    ),
    (
        "6a ledger clock: the old bug, wake-once keyed on WANTED (37cb0fb^)",
        "ledger/clock.rs",
        """                if !WOKEN.load(Ordering::Relaxed) {
                    wake();
                }""",
        """                if !WANTED.load(Ordering::Relaxed) {
                    WANTED.store(true, Ordering::Relaxed);
                    if let Some(ticker) = TICKER.thread() {
                        ticker.unpark();
                    }
                }""",
        "ledger::clock::loom_models",
    ),
    (
        "6b ledger clock: the withdrawal clears WOKEN with a relaxed store",
        "ledger/clock.rs",
        "        WOKEN.swap(false, Ordering::Release);",
        "        WOKEN.store(false, Ordering::Relaxed);",
        "ledger::clock::loom_models",
    ),
    (
        "9 ledger clock: the parked ticker waits for WANTED, not WOKEN (1df9f10)",
        "ledger/clock.rs",
        "        while !WOKEN.load(Ordering::Acquire) {",
        "        while !WANTED.load(Ordering::Relaxed) {",
        "ledger::clock::loom_models::clock_park_and_wake_two_readers",
    ),
    (
        "7 cancel tree: a child made during a cancel is not born cancelled",
        "cancel/tree.rs",
        "        let born_cancelled = guard.cause.clone();",
        "        let born_cancelled: Option<Cause> = None;",
        "cancel::loom_models",
    ),
    (
        "8 edge: the sender does not re-check rx_closed after queueing",
        "pipeline/edge/sender.rs",
        """        self.shared.sent.fetch_add(1, Ordering::Relaxed);
        if self.shared.rx_closed.load(Ordering::SeqCst) {
            self.shared.drain(&self.rx);
        }""",
        """        self.shared.sent.fetch_add(1, Ordering::Relaxed);""",
        "pipeline::edge::loom_models",
    ),
]


def run(cmd, **kw):
    return subprocess.run(cmd, text=True, capture_output=True, **kw)


def main():
    wanted = sys.argv[1] if len(sys.argv) > 1 else ""
    os.makedirs(SCRATCH, exist_ok=True)
    if os.path.exists(TREE):
        run(["git", "-C", ROOT, "worktree", "remove", "--force", TREE])
    run(["git", "-C", ROOT, "worktree", "prune"])
    made = run(["git", "-C", ROOT, "worktree", "add", "--detach", TREE, "HEAD"])
    if made.returncode != 0:
        sys.exit(made.stderr)
    env = dict(os.environ, RUSTFLAGS="--cfg loom")
    failures = 0
    try:
        for name, path, old, new, model in MUTANTS:
            if wanted not in name:
                continue
            run(["git", "-C", TREE, "checkout", "--", "."])
            full = os.path.join(TREE, CORE, path)
            text = open(full).read()
            if text.count(old) != 1:
                print(f"FAIL  {name}: the code to mutate is not in {path} (once)")
                failures += 1
                continue
            open(full, "w").write(text.replace(old, new))
            started = time.time()
            test = run(
                ["cargo", "test", "--release", "-p", "framekeep-core", "--lib",
                 "--target-dir", os.path.join(SCRATCH, "target"), "--", model,
                 "--test-threads", "1"],
                cwd=TREE, env=env)
            out = test.stdout + test.stderr
            took = time.time() - started
            ran = "test result:" in out
            why = next((l.strip() for l in out.splitlines()
                        if "panicked at" not in l and any(k in l for k in (
                            "Causality violation", "exceeded maximum", "assertion",
                            "torn lease", "leaked", "lost or doubled", "two owners",
                            "stuck", "stayed parked", "deadlock", "child"))), "")
            if ran and test.returncode != 0:
                print(f"ok    {name}: the model fails ({took:.0f}s incl. build): {why}")
            else:
                failures += 1
                state = "passes" if ran else "did not build/run"
                print(f"FAIL  {name}: the model {state}")
                print(out[-2000:])
    finally:
        # The scratch tree goes; its target dir stays for the next run.
        run(["git", "-C", ROOT, "worktree", "remove", "--force", TREE])
    print(f"{failures} mutation(s) not caught")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
