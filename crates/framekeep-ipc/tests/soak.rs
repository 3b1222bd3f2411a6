//! 1920x1080 BGR24 for 30 seconds across three processes: a pipeline (synthetic source →
//! publisher sink) at 30 fps, a `latest` viewer and a slower `drop-oldest` recorder that
//! holds frames, both checking the pixels. Every frame is accounted for (received or
//! counted as dropped), and every process ends with an empty ledger. Takes ~35 s; its own
//! test binary, so that it runs alone.

mod common;

use std::time::Duration;

use common::{finish, last, start, PATIENCE};
use framekeep_ipc::testing::TestDomain;

const SECONDS: f64 = 30.0;
const FPS: f64 = 30.0;

#[test]
fn thirty_seconds_of_1080p_bgr_with_zero_leaks_in_every_process() {
    let domain = TestDomain::new("soak").unwrap();
    let seconds = SECONDS.to_string();
    let fps = FPS.to_string();
    let mut publisher = start(
        &domain,
        "publisher",
        "pub",
        "cam/soak",
        &[
            "--pipeline",
            "--format",
            "BGR3",
            "--size",
            "1920x1080",
            "--fps",
            &fps,
            "--seconds",
            &seconds,
        ],
    );
    let mut viewer = start(
        &domain,
        "viewer",
        "sub",
        "cam/soak",
        &["--policy", "latest", "--verify"],
    );
    let mut recorder = start(
        &domain,
        "recorder",
        "sub",
        "cam/soak",
        &[
            "--policy",
            "drop-oldest:4",
            "--hold",
            "2",
            "--work-ms",
            "20",
            "--verify",
        ],
    );
    // The publisher stops by itself after SECONDS; the subscribers see it close.
    let publisher_lines = {
        let done = publisher.expect("DONE", Duration::from_secs_f64(SECONDS) + 4 * PATIENCE);
        assert_eq!(done.num("live"), Some(0.0));
        finish(&mut publisher)
    };
    let published = last(&publisher_lines, "STATS").num("published").unwrap();
    assert!(
        published >= 0.8 * SECONDS * FPS,
        "published only {published}"
    );
    assert_eq!(last(&publisher_lines, "PIPELINE").fields()["clean"], "true");
    assert_eq!(last(&publisher_lines, "POOL").num("checked_out"), Some(0.0));
    assert_eq!(
        last(&publisher_lines, "STATS").num("send_errors"),
        Some(0.0)
    );
    for (sub, min_share) in [(&mut viewer, 0.5), (&mut recorder, 0.3)] {
        let gone = sub.expect("GONE", PATIENCE);
        assert_eq!(gone.fields()["crashed"], "false");
        let name = sub.name().to_string();
        let lines = finish(sub);
        let stats = last(&lines, "STATS");
        let n = |k: &str| stats.num(k).unwrap();
        assert_eq!(n("bad"), 0.0, "{name}: {}", stats.text);
        // Every frame sent since its first one was either received or counted as dropped.
        let span = n("last_publish_seq") - n("first_publish_seq") + 1.0;
        assert_eq!(n("received") + n("dropped"), span, "{name}: {}", stats.text);
        assert!(
            n("received") >= min_share * published,
            "{name}: {}",
            stats.text
        );
    }
}
