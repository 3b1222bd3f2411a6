//! The ledger's clock thread ticks only while someone takes timestamps: idle,
//! it parks, so a process whose hot path registers nothing (a zero-copy
//! capture loop) pays no wake-ups. Its own test binary, so that no other test
//! reads the clock meanwhile.

use std::thread;
use std::time::{Duration, Instant};

use framekeep_core::ledger::{Kind, Ledger};

/// Voluntary context switches of the clock thread so far (from /proc).
fn clock_switches() -> Option<u64> {
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = task.ok()?.path();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        // comm is cut to 15 bytes: "framekeep-ledge".
        if name.trim_end().starts_with("framekeep-ledg") {
            let status = std::fs::read_to_string(dir.join("status")).ok()?;
            return status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse().ok());
        }
    }
    None
}

#[test]
fn the_clock_thread_parks_while_nobody_reads_it_and_wakes_on_demand() {
    let ledger = Ledger::new();
    drop(ledger.track(Kind::FRAME, "warm-up"));
    // Let it notice there are no readers.
    thread::sleep(Duration::from_millis(100));
    let Some(idle_start) = clock_switches() else {
        eprintln!("no /proc task info for the clock thread: skipped");
        return;
    };
    thread::sleep(Duration::from_millis(400));
    let idle = clock_switches().unwrap() - idle_start;
    // Ticking every 4 ms would be about 100 switches in 400 ms.
    assert!(
        idle <= 5,
        "the idle clock thread woke {idle} times in 400 ms"
    );

    // Readers wake it, and stamps stay right across the park.
    let busy_start = clock_switches().unwrap();
    let t0 = Instant::now();
    let mut last = None;
    while t0.elapsed() < Duration::from_millis(200) {
        let token = ledger.track(Kind::FRAME, "reader");
        let live = ledger.live();
        let entry = live.iter().find(|e| e.id == token.id()).expect("tracked");
        assert!(
            entry.created_at + Duration::from_millis(100) >= t0,
            "stamp far in the past"
        );
        last = Some(entry.created_at);
        drop(token);
        thread::sleep(Duration::from_millis(1));
    }
    let busy = clock_switches().unwrap() - busy_start;
    assert!(
        busy >= 10,
        "the clock thread did not tick while read: {busy} switches"
    );
    assert!(last.is_some());
}
