//! Pipeline leak regression suite: real pipelines with injected faults.
//!
//! Every test runs its body on a thread under a `LeakCheck` (see
//! `common::bounded`) and fails if the body hangs past its bound, or if any
//! frame, lease or thread it created is still alive at the end; each also
//! checks that its pool has every buffer back.

mod common;

use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use common::{assert_pool_idle, bounded, pool, Fault, Faulty, SlowSink};
use framekeep::core::cancel::{CancelToken, Cause};
use framekeep::core::frame::PixelFormat;
use framekeep::core::pipeline::{
    stage_fn, BuildError, CloseReason, Link, PipelineBuilder, SyntheticSource,
};
use framekeep::core::pool::{Exhausted, FramePool};
use framekeep::core::testing::NullSink;

const LIMIT: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(10);

fn synthetic(pool: &FramePool) -> SyntheticSource {
    SyntheticSource::builder(PixelFormat::Bgr24, 64, 48)
        .pool(pool.clone())
        .build()
        .expect("source")
}

fn synthetic_n(pool: &FramePool, frames: u64) -> SyntheticSource {
    SyntheticSource::builder(PixelFormat::Bgr24, 64, 48)
        .pool(pool.clone())
        .frames(frames)
        .build()
        .expect("source")
}

#[test]
fn a_stage_that_panics_mid_stream() {
    bounded("panic", LIMIT, || {
        let pool = pool(4, Exhausted::Wait);
        let sink = NullSink::new();
        let stats = sink.stats();
        let pipeline = PipelineBuilder::new("panic")
            .source("src", synthetic(&pool))
            .stage("faulty", Link::block(2), Faulty::new(Fault::Panic(10)))
            .stage("after", Link::block(2), stage_fn(|f| Ok(Some(f))))
            .sink("null", Link::block(2), sink)
            .start()
            .unwrap();
        assert!(pipeline.wait(WAIT), "a panic must stop the pipeline");
        let report = pipeline.shutdown();
        let panics: Vec<_> = report.supervisor.panics().collect();
        assert_eq!(panics.len(), 1, "{report}");
        assert!(panics[0].0.ends_with("faulty") && panics[0].1.contains("injected panic"));
        assert!(stats.snapshot().frames <= 9);
        assert_pool_idle(&pool);
    });
}

#[test]
fn a_stage_that_returns_an_error() {
    bounded("error", LIMIT, || {
        let pool = pool(4, Exhausted::Wait);
        let sink = NullSink::new();
        let stats = sink.stats();
        let pipeline = PipelineBuilder::new("error")
            .source("src", synthetic(&pool))
            .stage("faulty", Link::block(2), Faulty::new(Fault::Error(10)))
            .sink("null", Link::block(2), sink)
            .start()
            .unwrap();
        assert!(pipeline.wait(WAIT), "an error must wind the pipeline down");
        let report = pipeline.shutdown();
        let errors: Vec<_> = report.supervisor.errors().collect();
        assert_eq!(errors.len(), 1, "{report}");
        assert!(errors[0].1.contains("injected error at frame 10"));
        // Downstream drained what the stage had handed on before failing.
        assert_eq!(stats.snapshot().frames, 9);
        assert_eq!(
            report.element("null").unwrap().reason,
            CloseReason::EndOfStream
        );
        assert_pool_idle(&pool);
    });
}

#[test]
fn cancel_before_start() {
    bounded("cancel-before-start", LIMIT, || {
        let pool = pool(4, Exhausted::Wait);
        let root = CancelToken::new();
        root.cancel();
        let started = PipelineBuilder::new("early")
            .with_cancel(&root)
            .source("src", synthetic(&pool))
            .sink("null", Link::block(2), NullSink::new())
            .start();
        assert!(matches!(started, Err(BuildError::Spawn(_))));
        assert_pool_idle(&pool);
    });
}

#[test]
fn cancel_during_acquire() {
    bounded("cancel-during-acquire", LIMIT, || {
        // The sink holds every buffer: the source blocks in acquire.
        let pool = pool(2, Exhausted::Wait);
        let root = CancelToken::new();
        let source = synthetic(&pool);
        let pipeline = PipelineBuilder::new("acquire")
            .with_cancel(&root)
            .source("src", source)
            .sink(
                "hoard",
                Link::block(2),
                SlowSink::new(Duration::ZERO).hold(2),
            )
            .start()
            .unwrap();
        let start = Instant::now();
        while pool.stats().wait_count == 0 {
            assert!(start.elapsed() < WAIT, "source never waited for a buffer");
            thread::sleep(Duration::from_millis(1));
        }
        let cancelled_at = Instant::now();
        root.cancel();
        assert!(pipeline.wait(WAIT));
        assert!(cancelled_at.elapsed() < Duration::from_secs(1));
        let report = pipeline.shutdown();
        assert!(report.is_clean(), "{report}");
        assert_eq!(report.element("src").unwrap().frames_in, 2);
        assert_eq!(
            report.element("src").unwrap().reason,
            CloseReason::Cancelled(Some(Cause::Shutdown))
        );
        assert_pool_idle(&pool);
    });
}

#[test]
fn cancel_while_a_frame_is_in_flight() {
    bounded("cancel-in-flight", LIMIT, || {
        let pool = pool(4, Exhausted::Wait);
        let root = CancelToken::new();
        let stage = Faulty::new(Fault::Cancel(3))
            .delay(Duration::from_millis(20))
            .cancelling(&root);
        let pipeline = PipelineBuilder::new("in-flight")
            .with_cancel(&root)
            .source("src", synthetic(&pool))
            .stage("slow", Link::block(2), stage)
            .sink("null", Link::block(2), NullSink::new())
            .start()
            .unwrap();
        assert!(pipeline.wait(WAIT));
        let report = pipeline.shutdown();
        assert!(report.is_clean(), "{report}");
        // The third frame was being processed when the cancel came: it was
        // finished, then the stage stopped.
        assert_eq!(report.element("slow").unwrap().frames_in, 3);
        assert_pool_idle(&pool);
    });
}

#[test]
fn cancel_during_shutdown() {
    for delay_us in [0u64, 50, 200, 1000, 5000] {
        bounded("cancel-during-shutdown", LIMIT, move || {
            let pool = pool(4, Exhausted::Wait);
            let root = CancelToken::new();
            let pipeline = PipelineBuilder::new("shutdown-race")
                .with_cancel(&root)
                .source("src", synthetic(&pool))
                .stage("a", Link::block(2), stage_fn(|f| Ok(Some(f))))
                .stage("b", Link::drop_oldest(1), stage_fn(|f| Ok(Some(f))))
                .sink(
                    "null",
                    Link::block(2),
                    SlowSink::new(Duration::from_micros(300)),
                )
                .start()
                .unwrap();
            thread::sleep(Duration::from_millis(5));
            let canceller = {
                let root = root.clone();
                thread::spawn(move || {
                    thread::sleep(Duration::from_micros(delay_us));
                    root.cancel_with(Cause::Interrupted);
                })
            };
            let report = pipeline.shutdown();
            canceller.join().unwrap();
            assert!(report.is_clean(), "{report}");
            assert!(report.supervisor.timed_out().next().is_none());
            assert_pool_idle(&pool);
        });
    }
}

#[test]
fn a_slow_consumer_with_each_edge_policy() {
    for link in Link::all(2) {
        bounded("slow-consumer", LIMIT, move || {
            const FRAMES: u64 = 100;
            let pool = pool(8, Exhausted::Wait);
            let sink = NullSink::new();
            let stats = sink.stats();
            let pipeline = PipelineBuilder::new("slow")
                .source("src", synthetic_n(&pool, FRAMES))
                .stage(
                    "slow",
                    link,
                    Faulty::new(Fault::None).delay(Duration::from_millis(1)),
                )
                .sink("null", Link::block(2), sink)
                .start()
                .unwrap();
            assert!(pipeline.wait(WAIT), "{link}");
            let report = pipeline.shutdown();
            assert!(report.is_clean(), "{link}: {report}");
            let edge = &report.edges[0];
            let snap = stats.snapshot();
            assert_eq!(snap.out_of_order, 0, "{link}");
            // Every frame is either consumed or counted as dropped on the edge.
            let dropped = edge.dropped.policy;
            assert_eq!(edge.dropped.total(), dropped, "{link}: {report}");
            assert_eq!(snap.frames + dropped, FRAMES, "{link}: {report}");
            assert!(report.balances(), "{link}: {report}");
            if link == Link::block(2) {
                assert_eq!((dropped, snap.gaps), (0, 0), "{link}");
            } else {
                assert!(dropped > 0, "{link}: {report}");
                // Drops before the first and after the last frame consumed are not gaps.
                let leading = snap.first_sequence.unwrap();
                let trailing = FRAMES - 1 - snap.last_sequence.unwrap();
                assert_eq!(snap.gaps + leading + trailing, dropped, "{link}");
            }
            if link == Link::drop_newest(2) {
                // The first frames are kept, the last ones refused.
                assert!(snap.last_sequence < Some(FRAMES - 1), "{link}");
            } else {
                assert_eq!(snap.last_sequence, Some(FRAMES - 1), "{link}");
            }
            assert_pool_idle(&pool);
        });
    }
}

/// The sink keeps every frame: the pool runs dry and stays dry.
fn run_dry(policy: Exhausted, buffers: usize) -> (u64, u64, FramePool) {
    let pool = pool(buffers, policy);
    let source = synthetic(&pool);
    // Starved frames are the pool's refusals (fail-fast) or timeouts (wait).
    let starved = |pool: &FramePool| {
        let s = pool.stats();
        s.exhausted + s.timeouts
    };
    let pipeline = PipelineBuilder::new("dry")
        .source("src", source)
        .sink(
            "hoard",
            Link::block(2),
            SlowSink::new(Duration::ZERO).hold(usize::MAX),
        )
        .start()
        .unwrap();
    let start = Instant::now();
    while starved(&pool) < 3 {
        assert!(start.elapsed() < WAIT, "the pool never ran dry");
        thread::sleep(Duration::from_millis(1));
    }
    pipeline.close_source();
    assert!(pipeline.wait(WAIT));
    let report = pipeline.shutdown();
    assert!(report.is_clean(), "{report}");
    let produced = report.element("src").unwrap().frames_in;
    (produced, starved(&pool), pool)
}

#[test]
fn the_pool_running_dry_with_wait() {
    bounded("dry-wait", LIMIT, || {
        let (produced, starved, pool) = run_dry(Exhausted::Wait, 3);
        assert_eq!(produced, 3);
        assert!(starved >= 3);
        assert!(pool.stats().timeouts >= 3);
        assert_pool_idle(&pool);
    });
}

#[test]
fn the_pool_running_dry_with_fail_fast() {
    bounded("dry-fail-fast", LIMIT, || {
        let (produced, _, pool) = run_dry(Exhausted::FailFast, 3);
        assert_eq!(produced, 3);
        assert!(pool.stats().exhausted >= 3);
        assert_pool_idle(&pool);
    });
}

#[test]
fn the_pool_running_dry_with_grow() {
    bounded("dry-grow", LIMIT, || {
        let (produced, _, pool) = run_dry(Exhausted::Grow { hard_cap: 6 }, 3);
        assert_eq!(produced, 6);
        assert_eq!(pool.stats().grown, 3);
        assert_pool_idle(&pool);
    });
}

#[test]
fn closing_the_pool_while_leases_are_out() {
    bounded("pool-close", LIMIT, || {
        let pool = pool(4, Exhausted::Wait);
        let sink = SlowSink::new(Duration::from_millis(1)).hold(2);
        let pipeline = PipelineBuilder::new("pool-close")
            .source("src", synthetic(&pool))
            .stage("a", Link::block(2), stage_fn(|f| Ok(Some(f))))
            .sink("hoard", Link::block(2), sink)
            .start()
            .unwrap();
        let start = Instant::now();
        while pool.stats().checked_out < 3 {
            assert!(start.elapsed() < WAIT);
            thread::sleep(Duration::from_millis(1));
        }
        let close = pool.close();
        assert!(!close.is_clean(), "leases were out");
        // The source's stream ends; downstream drains and stops by itself.
        assert!(pipeline.wait(WAIT));
        let report = pipeline.shutdown();
        assert!(report.is_clean(), "{report}");
        assert_eq!(
            report.element("src").unwrap().reason,
            CloseReason::PoolClosed
        );
        assert_eq!(
            report.element("hoard").unwrap().reason,
            CloseReason::EndOfStream
        );
        assert_pool_idle(&pool);
        assert_eq!(pool.stats().created, pool.stats().freed);
    });
}

#[test]
fn the_sink_counts_what_survives() {
    // Not a fault: a control that the harness sees frames at all.
    bounded("control", LIMIT, || {
        let pool = pool(4, Exhausted::Wait);
        let sink = SlowSink::new(Duration::ZERO);
        let consumed = sink.consumed.clone();
        let pipeline = PipelineBuilder::new("control")
            .source("src", synthetic_n(&pool, 25))
            .sink("sink", Link::block(2), sink)
            .start()
            .unwrap();
        assert!(pipeline.wait(WAIT));
        assert!(pipeline.shutdown().is_clean());
        assert_eq!(consumed.load(Ordering::Relaxed), 25);
        assert_pool_idle(&pool);
    });
}
