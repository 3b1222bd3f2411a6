//! Pipeline elements under `PanicPolicy::Restart`: a panicking source, stage or sink
//! carries on with the next frame, keeps its edges, state and totals, runs `on_close`
//! once at its real end, and past its restart budget the panic escalates. Every test
//! ends with the leak check: no frame, lease or thread outlives the pipeline.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use framekeep_core::cancel::{CancelToken, Cause};
use framekeep_core::frame::{Frame, PixelFormat};
use framekeep_core::ledger::LeakCheck;
use framekeep_core::pipeline::{
    stage_fn, CloseReason, Link, PipelineBuilder, Sink, SinkOptions, Source, SourceOptions,
    StageError, SyntheticSource,
};
use framekeep_core::supervisor::{Outcome, PanicPolicy, SupervisorOptions};
use framekeep_core::testing::NullSink;
use parking_lot::Mutex;

const BOUND: Duration = Duration::from_secs(10);

fn restart(max_restarts: u32) -> SupervisorOptions {
    SupervisorOptions::new().on_panic(PanicPolicy::Restart {
        max_restarts,
        window: Duration::from_secs(60),
    })
}

fn source(frames: u64) -> SyntheticSource {
    SyntheticSource::builder(PixelFormat::Gray8, 64, 48)
        .frames(frames)
        .build()
        .unwrap()
}

/// Records every `on_close` call.
fn recorder() -> (Arc<Mutex<Vec<CloseReason>>>, impl Fn(&CloseReason) + Send) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    (seen, move |r: &CloseReason| s.lock().push(r.clone()))
}

#[test]
fn a_restarted_stage_carries_on_with_the_next_frame() {
    let check = LeakCheck::new();
    let sink = NullSink::new();
    let stats = sink.stats();
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let pipeline = PipelineBuilder::new("restart-stage")
        .supervisor_options(restart(3))
        .source("pattern", source(20))
        .stage(
            "flaky",
            Link::block(2),
            stage_fn(move |frame: Frame| {
                // State kept across restarts: it counts every call.
                c.fetch_add(1, Ordering::Relaxed);
                if matches!(frame.sequence(), 5 | 9) {
                    panic!("bad frame {}", frame.sequence());
                }
                Ok(Some(frame))
            }),
        )
        .sink("null", Link::block(2), sink)
        .start()
        .unwrap();
    assert!(pipeline.wait(BOUND), "the pipeline did not finish");
    let report = pipeline.shutdown();
    assert!(report.is_clean(), "{report}");
    let flaky = report.supervisor.worker("restart-stage/flaky").unwrap();
    assert_eq!(flaky.restarts, 2, "{report}");
    assert_eq!(flaky.outcome, Outcome::Ok, "{report}");
    let summary = report.element("flaky").unwrap();
    assert_eq!(summary.reason, CloseReason::EndOfStream);
    assert_eq!(
        (summary.frames_in, summary.frames_out),
        (20, 18),
        "{report}"
    );
    assert_eq!(calls.load(Ordering::Relaxed), 20);
    let snap = stats.snapshot();
    assert_eq!((snap.frames, snap.gaps), (18, 2), "{snap:?}");
    check.finish_within(BOUND).unwrap();
}

/// A sink that panics on the listed sequences.
struct PanicsOn(&'static [u64]);
impl Sink for PanicsOn {
    fn consume(&mut self, frame: &Frame) -> Result<(), StageError> {
        if self.0.contains(&frame.sequence()) {
            panic!("sink exploded on {}", frame.sequence());
        }
        Ok(())
    }
}

#[test]
fn a_restarted_sink_calls_on_close_once_at_its_real_end() {
    let check = LeakCheck::new();
    let (closed, on_close) = recorder();
    let pipeline = PipelineBuilder::new("restart-sink")
        .supervisor_options(restart(1))
        .source("pattern", source(12))
        .sink_with(
            "boom",
            Link::block(2),
            PanicsOn(&[4]),
            SinkOptions::new().with_release().with_on_close(on_close),
        )
        .start()
        .unwrap();
    assert!(pipeline.wait(BOUND), "the pipeline did not finish");
    // The worker's exit is reported after its element ended: on_close has run.
    assert_eq!(*closed.lock(), vec![CloseReason::EndOfStream]);
    let report = pipeline.shutdown();
    assert!(report.is_clean(), "{report}");
    assert_eq!(
        report
            .supervisor
            .worker("restart-sink/boom")
            .unwrap()
            .restarts,
        1
    );
    let summary = report.element("boom").unwrap();
    // The frame it panicked on counts as taken in, not as released by the sink:
    // the unwind dropped it.
    assert_eq!(
        (summary.frames_in, summary.frames_out),
        (12, 11),
        "{report}"
    );
    check.finish_within(BOUND).unwrap();
}

/// A source that panics once, before producing its `at`-th frame.
struct PanicsOnce {
    inner: SyntheticSource,
    at: u64,
    produced: u64,
    panicked: bool,
}

impl Source for PanicsOnce {
    fn next_frame(&mut self, token: &CancelToken) -> Result<Option<Frame>, StageError> {
        if self.produced == self.at && !self.panicked {
            self.panicked = true;
            panic!("source glitch");
        }
        let frame = self.inner.next_frame(token)?;
        self.produced += frame.is_some() as u64;
        Ok(frame)
    }
}

#[test]
fn a_restarted_source_keeps_its_stream_going() {
    let check = LeakCheck::new();
    let (closed, on_close) = recorder();
    let sink = NullSink::new();
    let stats = sink.stats();
    let flaky = PanicsOnce {
        inner: source(10),
        at: 3,
        produced: 0,
        panicked: false,
    };
    let pipeline = PipelineBuilder::new("restart-source")
        .supervisor_options(restart(1))
        .source_with(
            "glitchy",
            flaky,
            SourceOptions::new().with_on_close(on_close),
        )
        .sink("null", Link::block(2), sink)
        .start()
        .unwrap();
    assert!(pipeline.wait(BOUND), "the pipeline did not finish");
    let report = pipeline.shutdown();
    assert!(report.is_clean(), "{report}");
    assert_eq!(*closed.lock(), vec![CloseReason::EndOfStream]);
    let snap = stats.snapshot();
    // Nothing lost: the panic came before a frame was made.
    assert_eq!((snap.frames, snap.gaps), (10, 0), "{snap:?}");
    assert_eq!(report.element("glitchy").unwrap().frames_out, 10);
    check.finish_within(BOUND).unwrap();
}

#[test]
fn past_the_restart_budget_the_panic_escalates_and_everything_comes_back() {
    let check = LeakCheck::new();
    let root = CancelToken::new();
    let (closed, on_close) = recorder();
    let pipeline = PipelineBuilder::new("budget")
        .with_cancel(&root)
        .supervisor_options(restart(2))
        .source("pattern", source(u64::MAX))
        .stage(
            "broken",
            Link::block(2),
            stage_fn(|frame: Frame| {
                if frame.sequence() >= 3 {
                    panic!("always broken now");
                }
                Ok(Some(frame))
            }),
        )
        .sink_with(
            "null",
            Link::block(2),
            NullSink::new(),
            SinkOptions::new().with_release().with_on_close(on_close),
        )
        .start()
        .unwrap();
    assert!(
        pipeline.wait(BOUND),
        "the escalation did not stop the pipeline"
    );
    assert!(root.is_cancelled());
    assert!(
        matches!(root.cause(), Some(Cause::Error { .. })),
        "{:?}",
        root.cause()
    );
    let report = pipeline.shutdown();
    let broken = report.supervisor.worker("budget/broken").unwrap();
    assert_eq!(broken.restarts, 2, "{report}");
    assert!(matches!(broken.outcome, Outcome::Panicked(_)), "{report}");
    // Its totals span the three runs: frames 0-2 passed, then 3 frames panicked.
    let summary = report.element("broken").unwrap();
    assert_eq!(summary.reason, CloseReason::Panicked, "{report}");
    assert_eq!((summary.frames_in, summary.frames_out), (6, 3), "{report}");
    assert_eq!(closed.lock().len(), 1, "on_close runs once");
    check.finish_within(BOUND).unwrap();
}
