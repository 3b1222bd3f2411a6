//! Faults with real processes (the `framekeep-ipc-peer` binary): a subscriber SIGKILLed
//! mid-stream, a publisher SIGKILLed, a format change, stale shared memory from a crashed
//! run. Every surviving process ends with an empty ledger (checked by `common::finish`),
//! and each test's domain removes its files when it drops, also when the test fails
//! (peers are declared after the domain, so they are killed before its files go).

mod common;

use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{all, finish, last, now_ns, shm_state, start, PATIENCE};
use framekeep_ipc::testing::{Line, Peer, TestDomain};

/// The publisher's report right now: its `SUBS n=` count and the `SUB` lines after it.
fn report(publisher: &mut Peer) -> (usize, Vec<String>) {
    publisher
        .send("report")
        .expect("the publisher reads commands");
    let n = publisher.expect("SUBS", PATIENCE).num("n").unwrap() as usize;
    let subs = (0..n)
        .map(|_| publisher.expect("SUB", PATIENCE).text)
        .collect();
    (n, subs)
}

/// Asks for reports until `pred` holds (or panics after `within`).
fn report_until(
    publisher: &mut Peer,
    within: Duration,
    pred: impl Fn(usize, &[String]) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let (n, subs) = report(publisher);
        if pred(n, &subs) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "publisher report still {n}: {subs:?}"
        );
        sleep(Duration::from_millis(20));
    }
}

/// The publisher kept its rate: frames per second over its `RATE` lines at least 80% of
/// `fps`, and no pause longer than `max_gap`.
fn assert_rate(lines: &[Line], fps: f64, max_gap: Duration) {
    let rates: Vec<_> = all(lines, "RATE").collect();
    assert!(rates.len() > 4, "too few RATE lines");
    let sent: f64 = rates.iter().map(|l| l.num("sent").unwrap()).sum();
    let ms: f64 = rates.iter().map(|l| l.num("ms").unwrap()).sum();
    let measured = sent / (ms / 1e3);
    assert!(
        measured >= 0.8 * fps,
        "published {measured:.1} frames/s, wanted {fps}"
    );
    let gap = rates
        .iter()
        .map(|l| l.num("gap_ms").unwrap())
        .fold(0.0, f64::max);
    assert!(
        gap <= max_gap.as_secs_f64() * 1e3,
        "the publisher paused {gap:.1} ms"
    );
}

#[test]
fn a_killed_subscriber_is_reclaimed_and_a_restarted_one_attaches_again() {
    let domain = TestDomain::new("sub-kill").unwrap();
    // Room for two subscribers only: a restart can only attach if the killed one's place
    // (and the samples it held) came back.
    let mut publisher = start(
        &domain,
        "publisher",
        "pub",
        "cam/front",
        &[
            "--size",
            "640x480",
            "--fps",
            "60",
            "--max-subscribers",
            "2",
            "--max-held",
            "4",
        ],
    );
    let mut viewer = start(
        &domain,
        "viewer",
        "sub",
        "cam/front",
        &["--policy", "latest", "--verify"],
    );
    viewer.expect("FIRST", PATIENCE);
    for round in 0..3 {
        let name = format!("holder{round}");
        let mut holder = start(
            &domain,
            &name,
            "sub",
            "cam/front",
            &["--policy", "drop-oldest:3", "--hold", "3", "--verify"],
        );
        holder.expect("FIRST", PATIENCE);
        sleep(Duration::from_millis(500));
        // It holds 3 samples; the publisher's report shows them.
        report_until(&mut publisher, PATIENCE, |n, subs| {
            n == 2
                && subs
                    .iter()
                    .any(|s| s.contains(&format!("name={name} ")) && s.contains("held=3"))
        });
        holder.kill();
        // The housekeeping thread cleans the dead process up (every 250 ms): its place
        // and samples come back.
        let reclaimed = report_until(&mut publisher, PATIENCE, |n, _| n == 1);
        assert!(
            reclaimed < Duration::from_secs(2),
            "reclaimed after {reclaimed:?}"
        );
        sleep(Duration::from_millis(500));
    }
    // A last restart attaches and receives.
    let mut last_holder = start(
        &domain,
        "holder-last",
        "sub",
        "cam/front",
        &["--policy", "drop-oldest:3", "--hold", "3", "--verify"],
    );
    last_holder.expect("FIRST", PATIENCE);
    sleep(Duration::from_millis(300));
    let holder_lines = finish(&mut last_holder);
    let viewer_lines = finish(&mut viewer);
    let publisher_lines = finish(&mut publisher);
    for lines in [&holder_lines, &viewer_lines] {
        assert_eq!(last(lines, "STATS").num("bad"), Some(0.0));
        assert!(last(lines, "STATS").num("received").unwrap() > 0.0);
    }
    let stats = last(&publisher_lines, "STATS");
    assert!(stats.num("dead_cleaned").unwrap() >= 3.0, "{}", stats.text);
    assert_eq!(stats.num("send_errors"), Some(0.0));
    assert_eq!(last(&publisher_lines, "POOL").num("checked_out"), Some(0.0));
    assert_rate(&publisher_lines, 60.0, Duration::from_millis(250));
}

#[test]
fn a_blocking_publisher_is_released_when_its_slow_subscriber_is_killed() {
    let domain = TestDomain::new("block-kill").unwrap();
    let mut publisher = start(
        &domain,
        "publisher",
        "pub",
        "cam/rec",
        &[
            "--size",
            "320x240",
            "--fps",
            "60",
            "--delivery",
            "blocking:2000",
        ],
    );
    // A recorder that takes 100 ms per frame paces the publisher down to ~10 fps...
    let mut recorder = start(
        &domain,
        "recorder",
        "sub",
        "cam/rec",
        &["--policy", "block:1", "--work-ms", "100", "--verify"],
    );
    recorder.expect("FIRST", PATIENCE);
    sleep(Duration::from_millis(800));
    let paced = last(publisher.lines(), "RATE").num("sent").unwrap();
    assert!(
        paced <= 8.0,
        "the publisher waited for the recorder ({paced} frames in 250 ms)"
    );
    // ... until it is killed: then the publisher is back to full rate at once.
    recorder.kill();
    let killed = Instant::now();
    let mut resumed = None;
    while killed.elapsed() < PATIENCE {
        let line = publisher.expect("RATE", PATIENCE);
        if line.at > killed + Duration::from_millis(250) && line.num("sent").unwrap() >= 10.0 {
            resumed = Some(line.at - killed);
            break;
        }
    }
    let resumed = resumed.expect("the publisher never resumed its rate");
    assert!(
        resumed < Duration::from_secs(2),
        "resumed {resumed:?} after the kill"
    );
    let lines = finish(&mut publisher);
    assert!(last(&lines, "STATS").num("blocked_sends").unwrap() > 0.0);
}

#[test]
fn a_killed_publisher_is_reported_gone_within_a_second_and_a_restart_is_picked_up() {
    let domain = TestDomain::new("pub-kill").unwrap();
    // The publisher sends loaned frames (zero copy across processes).
    let pub_args = ["--size", "640x480", "--fps", "60", "--loan"];
    let mut publisher = start(&domain, "publisher", "pub", "cam/front", &pub_args);
    let mut a = start(
        &domain,
        "a",
        "sub",
        "cam/front",
        &["--policy", "latest", "--verify"],
    );
    let mut b = start(
        &domain,
        "b",
        "sub",
        "cam/front",
        &["--policy", "drop-oldest:2", "--hold", "2", "--verify"],
    );
    a.expect("FIRST", PATIENCE);
    b.expect("FIRST", PATIENCE);
    sleep(Duration::from_millis(300));
    let killed_at = now_ns();
    publisher.kill();
    for sub in [&mut a, &mut b] {
        let gone = sub.expect("GONE", PATIENCE);
        assert_eq!(gone.fields()["crashed"], "true", "{}", gone.text);
        let after = (gone.num("t").unwrap() - killed_at) / 1e6;
        assert!(
            after < 1000.0,
            "{}: gone reported {after:.0} ms after the kill",
            sub.name()
        );
    }
    // A restarted publisher is picked up by the same subscribers.
    let mut restarted = start(&domain, "restarted", "pub", "cam/front", &pub_args);
    a.expect("FIRST", PATIENCE);
    b.expect("FIRST", PATIENCE);
    sleep(Duration::from_millis(300));
    let publisher_lines = finish(&mut restarted);
    assert!(last(&publisher_lines, "STATS").num("zero_copy").unwrap() > 0.0);
    assert_eq!(last(&publisher_lines, "STATS").num("copied"), Some(0.0));
    for sub in [&mut a, &mut b] {
        // The restarted publisher's clean exit ends its stream too.
        let gone = sub.expect("GONE", PATIENCE);
        assert_eq!(gone.fields()["crashed"], "false");
        let lines = finish(sub);
        let stats = last(&lines, "STATS");
        assert_eq!(stats.num("bad"), Some(0.0), "{}", stats.text);
        assert_eq!(stats.num("gone"), Some(2.0));
        assert_eq!(stats.num("publishers"), Some(2.0));
    }
}

#[test]
fn after_a_format_change_subscribers_get_the_new_layout_and_keep_their_old_frames() {
    let domain = TestDomain::new("format").unwrap();
    let mut publisher = start(
        &domain,
        "publisher",
        "pub",
        "cam/front",
        &[
            "--format",
            "YUYV",
            "--size",
            "320x240",
            "--fps",
            "60",
            "--change-at",
            "60",
            "--format2",
            "BGR3",
            "--size2",
            "800x600",
        ],
    );
    let mut sub = start(
        &domain,
        "sub",
        "sub",
        "cam/front",
        &["--policy", "drop-oldest:4", "--hold", "3", "--verify"],
    );
    let first = sub.expect("FORMAT", PATIENCE);
    assert_eq!(
        (first.num("w"), first.fields()["format"]),
        (Some(320.0), "YUYV")
    );
    let second = sub.expect("FORMAT", PATIENCE);
    assert_eq!(
        (second.num("w"), second.num("h"), second.fields()["format"]),
        (Some(800.0), Some(600.0), "BGR3")
    );
    // Frame 60 is the first of the new format (a drop-oldest subscriber starved of CPU may
    // have lost it: then it is counted as a drop).
    assert!(second.num("seq").unwrap() >= 60.0, "{}", second.text);
    // The frames it held from before the change kept their layout and pixels.
    let held = sub.expect("HELD", PATIENCE);
    assert_eq!(
        (held.num("ok"), held.num("bad")),
        (Some(3.0), Some(0.0)),
        "{}",
        held.text
    );
    sleep(Duration::from_millis(200));
    let sub_lines = finish(&mut sub);
    assert_eq!(last(&sub_lines, "STATS").num("bad"), Some(0.0));
    // No frame of the old layout came after the first of the new one.
    assert_eq!(all(&sub_lines, "FORMAT").count(), 2);
    // Every frame since its first was received or counted as dropped, across the change.
    let stats = last(&sub_lines, "STATS");
    let n = |k: &str| stats.num(k).unwrap();
    let span = n("last_publish_seq") - n("first_publish_seq") + 1.0;
    assert_eq!(n("received") + n("dropped"), span, "{}", stats.text);
    let publisher_lines = finish(&mut publisher);
    assert_eq!(last(&publisher_lines, "STATS").num("resizes"), Some(1.0));
}

#[test]
fn stale_shared_memory_of_a_crashed_run_never_blocks_the_next_start() {
    let domain = TestDomain::new("stale").unwrap();
    // A crashed run with other settings (a blocking service, a blocked recorder holding
    // samples): everything SIGKILLed.
    {
        let mut publisher = start(
            &domain,
            "crashed-pub",
            "pub",
            "cam/front",
            &["--size", "320x240", "--delivery", "blocking:500"],
        );
        let mut recorder = start(
            &domain,
            "crashed-sub",
            "sub",
            "cam/front",
            &["--policy", "block:2", "--hold", "2", "--work-ms", "50"],
        );
        recorder.expect("FIRST", PATIENCE);
        sleep(Duration::from_millis(200));
        publisher.kill();
        recorder.kill();
    }
    let stale = shm_state(&domain);
    assert!(stale.len() >= 3, "the crash left state behind: {stale:?}");
    // The next run starts on that state, with other settings, at once.
    let started = Instant::now();
    let mut publisher = start(
        &domain,
        "publisher",
        "pub",
        "cam/front",
        &["--size", "640x480"],
    );
    let mut sub = start(
        &domain,
        "sub",
        "sub",
        "cam/front",
        &["--policy", "latest", "--verify"],
    );
    sub.expect("FIRST", PATIENCE);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "first frame after {:?}",
        started.elapsed()
    );
    sleep(Duration::from_millis(200));
    finish(&mut sub);
    finish(&mut publisher);
    // The new processes cleaned the dead ones up: nothing of the crashed run is left.
    let left = shm_state(&domain);
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn ctrl_c_still_reaches_framekeep_while_a_subscriber_waits() {
    let domain = TestDomain::new("ctrlc").unwrap();
    // No publisher: the subscriber sleeps in its wait set, with framekeep's Ctrl-C handler
    // installed before iceoryx2 was touched.
    let mut sub = start(&domain, "sub", "sub", "cam/none", &["--ctrlc"]);
    sleep(Duration::from_millis(300));
    // SAFETY: kill(2) with SIGINT on our own, still running child.
    unsafe { libc::kill(sub.pid() as libc::pid_t, libc::SIGINT) };
    let stopped = sub.expect("STOPPED", PATIENCE);
    assert!(stopped.text.contains("Interrupted"), "{}", stopped.text);
    sub.expect("DONE", PATIENCE);
    finish(&mut sub);
}
