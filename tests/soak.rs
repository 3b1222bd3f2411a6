//! Soak mode: the synthetic 1080p pipeline for `FRAMEKEEP_SOAK_MINUTES`
//! minutes. After a warm-up, resident memory must stay flat and the ledger
//! must stay at its baseline (the pipeline's threads and at most its pool's
//! frames), and at the end nothing may be left. Skipped (returns early with
//! a message) when the variable is unset, so it costs nothing in CI.

mod common;

use std::time::{Duration, Instant};

use framekeep::core::frame::PixelFormat;
use framekeep::core::ledger::{Kind, LeakCheck, Ledger};
use framekeep::core::pipeline::{stage_fn, Link, PipelineBuilder, SyntheticSource};
use framekeep::core::testing::NullSink;

/// RSS growth tolerated after warm-up (allocator noise, lazily mapped pages
/// of thread stacks): far below one 6 MB frame per minute of leak.
const RSS_SLACK: u64 = 8 << 20;
const BUFFERS: usize = 6;

/// Resident set size of this process in bytes, from `/proc/self/statm`.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("statm resident field");
    // SAFETY: sysconf has no preconditions; _SC_PAGESIZE is always valid.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096)
}

#[test]
fn soak_1080p_pipeline() {
    let Some(minutes) = std::env::var("FRAMEKEEP_SOAK_MINUTES")
        .ok()
        .and_then(|m| m.parse::<f64>().ok())
    else {
        println!("soak skipped: set FRAMEKEEP_SOAK_MINUTES=N to run the 1080p soak for N minutes");
        return;
    };
    let total = Duration::from_secs_f64(minutes * 60.0);
    let warm_up = (total / 10).clamp(Duration::from_secs(2), Duration::from_secs(30));
    let check = LeakCheck::new();
    let source = SyntheticSource::builder(PixelFormat::Bgr24, 1920, 1080)
        .buffers(BUFFERS)
        .build()
        .expect("source");
    let sink = NullSink::new();
    let stats = sink.stats();
    let pipeline = PipelineBuilder::new("soak")
        .source("pattern", source)
        .stage("a", Link::block(2), stage_fn(|f| Ok(Some(f))))
        .stage("b", Link::drop_oldest(2), stage_fn(|f| Ok(Some(f))))
        .sink("null", Link::block(2), sink)
        .start()
        .expect("start");
    let started = Instant::now();
    std::thread::sleep(warm_up);
    let baseline_rss = rss_bytes();
    let ledger = Ledger::global();
    let threads = ledger.count(Kind::THREAD);
    let mut max_rss = baseline_rss;
    let mut samples = 0u64;
    while started.elapsed() < total {
        std::thread::sleep(Duration::from_secs(1));
        let rss = rss_bytes();
        max_rss = max_rss.max(rss);
        samples += 1;
        assert!(
            rss <= baseline_rss + RSS_SLACK,
            "RSS grew from {baseline_rss} to {rss} bytes after {:?}",
            started.elapsed()
        );
        let live = check.leaks();
        let frames = live.iter().filter(|e| e.kind == Kind::FRAME).count();
        let workers = live.iter().filter(|e| e.kind == Kind::THREAD).count();
        assert!(frames <= BUFFERS, "{frames} frames alive: {live:?}");
        assert_eq!(workers, 4, "pipeline threads: {live:?}");
    }
    assert!(ledger.count(Kind::THREAD) <= threads, "threads grew");
    let report = pipeline.shutdown();
    assert!(report.is_clean(), "{report}");
    let snap = stats.snapshot();
    println!(
        "soak: {minutes} min, {} frames, RSS {} -> max {} bytes over {samples} samples, {snap}",
        snap.frames, baseline_rss, max_rss
    );
    assert!(snap.frames > 0);
    check
        .finish_within(common::SETTLE)
        .expect("leaks after the soak");
}
