//! The pipeline builder: end to end, close propagation, drain order, reports.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use framekeep_core::cancel::{CancelToken, Cause};
use framekeep_core::frame::{Frame, PixelFormat};
use framekeep_core::ledger::LeakCheck;
use framekeep_core::pipeline::{
    edge, run_sink, stage_fn, BuildError, CloseReason, Link, Output, PipelineBuilder, Sink,
    SinkOptions, SourceOptions, Stage, StageError, SyntheticSource,
};
use framekeep_core::testing::decode_counter;
use framekeep_core::testing::NullSink;
use parking_lot::Mutex;

const BOUND: Duration = Duration::from_secs(10);

fn source(frames: u64) -> SyntheticSource {
    SyntheticSource::builder(PixelFormat::Bgr24, 64, 48)
        .frames(frames)
        .build()
        .unwrap()
}

#[test]
fn frames_flow_end_to_end_intact() {
    let check = LeakCheck::new();
    let sink = NullSink::new();
    let stats = sink.stats();
    let counters = Arc::new(Mutex::new(Vec::new()));
    let seen = counters.clone();
    let pipeline = PipelineBuilder::new("e2e")
        .source("pattern", source(50))
        .stage(
            "read-counter",
            Link::block(2),
            stage_fn(move |f: Frame| {
                seen.lock().push(decode_counter(&f));
                Ok(Some(f))
            }),
        )
        .stage("identity", Link::block(2), stage_fn(|f| Ok(Some(f))))
        .sink("null", Link::block(2), sink)
        .start()
        .unwrap();
    assert!(pipeline.wait(BOUND));
    let report = pipeline.shutdown();
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.dropped().total(), 0);
    assert!(report.balances(), "{report}");
    assert_eq!(report.edges.len(), 3);
    assert_eq!(report.edges[0].name, "pattern->read-counter");
    for name in ["pattern", "read-counter", "identity", "null"] {
        let element = report.element(name).unwrap();
        assert_eq!(element.frames_in, 50, "{name}");
        assert_eq!(element.reason, CloseReason::EndOfStream, "{name}");
    }
    let snap = stats.snapshot();
    assert_eq!(
        (snap.frames, snap.gaps, snap.last_sequence),
        (50, 0, Some(49))
    );
    assert_eq!(
        *counters.lock(),
        (0..50).map(Some).collect::<Vec<Option<u32>>>()
    );
    check.finish_within(BOUND).unwrap();
}

#[test]
fn closing_the_source_drains_downstream_and_calls_on_close() {
    let check = LeakCheck::new();
    let closed = Arc::new(Mutex::new(Vec::new()));
    let (c1, c2) = (closed.clone(), closed.clone());
    let sink = NullSink::new();
    let stats = sink.stats();
    let pipeline = PipelineBuilder::new("close")
        .source_with(
            "pattern",
            SyntheticSource::builder(PixelFormat::Gray8, 64, 48)
                .fps(500.0)
                .build()
                .unwrap(),
            SourceOptions::new().with_on_close(move |r| c1.lock().push(("source", r.clone()))),
        )
        .stage(
            "slow",
            Link::block(4),
            stage_fn(|f| {
                std::thread::sleep(Duration::from_millis(2));
                Ok(Some(f))
            }),
        )
        .sink_with(
            "null",
            Link::block(4),
            sink,
            SinkOptions::new()
                .with_release()
                .with_on_close(move |r| c2.lock().push(("sink", r.clone()))),
        )
        .start()
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    pipeline.close_source();
    assert!(pipeline.wait(BOUND), "downstream did not drain");
    let report = pipeline.shutdown();
    assert!(report.is_clean(), "{report}");
    let produced = report.element("pattern").unwrap().frames_out;
    assert!(produced > 0);
    // Everything sent was consumed: drain, not cancel.
    assert_eq!(stats.snapshot().frames, produced);
    assert_eq!(
        report.element("null").unwrap().reason,
        CloseReason::EndOfStream
    );
    let closed = closed.lock().clone();
    assert_eq!(
        closed,
        vec![
            ("source", CloseReason::Cancelled(Some(Cause::Closed))),
            ("sink", CloseReason::EndOfStream)
        ]
    );
    check.finish_within(BOUND).unwrap();
}

#[test]
fn shutdown_stops_an_endless_pipeline_in_drain_order() {
    let check = LeakCheck::new();
    let pipeline = PipelineBuilder::new("endless")
        .source("pattern", source(u64::MAX))
        .stage("a", Link::drop_oldest(2), stage_fn(|f| Ok(Some(f))))
        .sink("null", Link::latest(), NullSink::new())
        .start()
        .unwrap();
    std::thread::sleep(Duration::from_millis(30));
    let report = pipeline.shutdown();
    assert!(report.is_clean(), "{report}");
    assert_eq!(
        report.supervisor.stop_order(),
        vec!["endless/pattern", "endless/a", "endless/null"]
    );
    // Only the source was cancelled; the rest drained and ended by themselves.
    assert!(
        report.supervisor.workers[1..].iter().all(|w| !w.cancelled),
        "{report}"
    );
    assert!(report.supervisor.total < Duration::from_secs(2));
    check.finish_within(BOUND).unwrap();
}

#[test]
fn cancelling_the_root_stops_everything_at_once() {
    let check = LeakCheck::new();
    let root = CancelToken::new();
    let pipeline = PipelineBuilder::new("root")
        .with_cancel(&root)
        .source("pattern", source(u64::MAX))
        .stage(
            "slow",
            Link::block(2),
            stage_fn(|f| {
                std::thread::sleep(Duration::from_millis(1));
                Ok(Some(f))
            }),
        )
        .sink("null", Link::block(2), NullSink::new())
        .start()
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    root.cancel_with(Cause::Interrupted);
    assert!(pipeline.wait(BOUND));
    let report = pipeline.shutdown();
    assert!(report.is_clean(), "{report}");
    // Each element stops on its token or because a neighbour already did.
    let cancelled = CloseReason::Cancelled(Some(Cause::Interrupted));
    assert!(
        report.elements.iter().any(|(_, s)| s.reason == cancelled),
        "{report}"
    );
    for (_, s) in &report.elements {
        assert!(
            [
                cancelled.clone(),
                CloseReason::OutputClosed,
                CloseReason::EndOfStream
            ]
            .contains(&s.reason),
            "{report}"
        );
    }
    check.finish_within(BOUND).unwrap();
}

#[test]
fn a_failing_stage_ends_the_pipeline_and_is_reported() {
    let check = LeakCheck::new();
    let mut n = 0;
    let pipeline = PipelineBuilder::new("fail")
        .source("pattern", source(u64::MAX))
        .stage(
            "flaky",
            Link::block(2),
            stage_fn(move |f| {
                n += 1;
                if n == 10 {
                    return Err(StageError::failed("bad frame"));
                }
                Ok(Some(f))
            }),
        )
        .sink("null", Link::block(2), NullSink::new())
        .start()
        .unwrap();
    assert!(pipeline.wait(BOUND), "an error must wind the pipeline down");
    let report = pipeline.shutdown();
    assert!(!report.is_clean());
    assert_eq!(report.supervisor.errors().count(), 1, "{report}");
    assert_eq!(
        report.element("pattern").unwrap().reason,
        CloseReason::OutputClosed
    );
    assert_eq!(
        report.element("null").unwrap().reason,
        CloseReason::EndOfStream
    );
    check.finish_within(BOUND).unwrap();
}

#[test]
fn missing_parts_are_build_errors() {
    assert!(matches!(
        PipelineBuilder::new("x")
            .sink("s", Link::default(), NullSink::new())
            .start(),
        Err(BuildError::NoSource)
    ));
    assert!(matches!(
        PipelineBuilder::new("x").source("s", source(1)).start(),
        Err(BuildError::NoSink)
    ));
    let check = LeakCheck::new();
    let dup = PipelineBuilder::new("dup")
        .source("same", source(1))
        .sink("same", Link::default(), NullSink::new())
        .start();
    assert!(matches!(dup, Err(BuildError::Spawn(_))));
    check.finish_within(BOUND).unwrap();
}

/// A stage that emits each frame twice (a view and the frame): one in, many out.
struct Twice;

impl Stage for Twice {
    fn process(&mut self, frame: Frame, out: &mut Output<'_>) -> Result<(), StageError> {
        out.emit(frame.roi(0, 0, 8, 8)?)?;
        out.emit(frame)
    }
}

#[test]
fn stages_may_emit_several_frames() {
    let check = LeakCheck::new();
    let sink = NullSink::new();
    let stats = sink.stats();
    // Enough buffers that the source never starves, however slow the machine
    // (a starved source skips a frame after its pool's acquire timeout).
    let source = SyntheticSource::builder(PixelFormat::Bgr24, 64, 48)
        .frames(20)
        .buffers(8)
        .build()
        .unwrap();
    let pipeline = PipelineBuilder::new("twice")
        .source("pattern", source)
        .stage("twice", Link::block(2), Twice)
        .sink("null", Link::block(2), sink)
        .start()
        .unwrap();
    assert!(pipeline.wait(BOUND));
    let report = pipeline.shutdown();
    assert!(report.is_clean(), "{report}");
    assert!(report.balances(), "{report}");
    let produced = report.element("pattern").unwrap().frames_in;
    assert_eq!(produced, 20, "{report}");
    let twice = report.element("twice").unwrap();
    assert_eq!((twice.frames_out, twice.created), (40, 20), "{report}");
    assert_eq!(stats.snapshot().frames, 40);
    check.finish_within(BOUND).unwrap();
}

struct Keep(Arc<AtomicUsize>);
impl Sink for Keep {
    fn consume(&mut self, _frame: &Frame) -> Result<(), StageError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[test]
fn a_pass_through_sink_forwards_and_a_releasing_sink_does_not() {
    let check = LeakCheck::new();
    let token = CancelToken::new();
    let mut src = source(10);
    for release in [false, true] {
        let (tx, rx) = edge::<Frame>("in", Link::block(8));
        let (out_tx, out_rx) = edge::<Frame>("out", Link::block(8));
        for _ in 0..3 {
            tx.send(
                framekeep_core::pipeline::Source::next_frame(&mut src, &token)
                    .unwrap()
                    .unwrap(),
            )
            .unwrap();
        }
        drop(tx);
        let count = Arc::new(AtomicUsize::new(0));
        let options = if release {
            SinkOptions::new().with_release()
        } else {
            SinkOptions::new()
        };
        let summary = run_sink(&mut Keep(count.clone()), rx, Some(out_tx), &token, options);
        assert_eq!(summary.reason, CloseReason::EndOfStream);
        assert_eq!(count.load(Ordering::Relaxed), 3);
        let forwarded = std::iter::from_fn(|| out_rx.try_recv().ok().flatten()).count();
        assert_eq!(forwarded, if release { 0 } else { 3 }, "release {release}");
        if !release {
            // Forwarded frames were still alive until received here.
            assert_eq!(out_rx.stats().received, 3);
        }
    }
    drop(src);
    check.finish_within(BOUND).unwrap();
}

#[test]
fn an_option_token_stops_just_its_element_and_the_rest_winds_down() {
    let check = LeakCheck::new();
    let sink_token = CancelToken::new();
    let closed = Arc::new(Mutex::new(None));
    let c = closed.clone();
    let pipeline = PipelineBuilder::new("option-token")
        .source("pattern", source(u64::MAX))
        .stage("a", Link::block(2), stage_fn(|f| Ok(Some(f))))
        .sink_with(
            "null",
            Link::block(2),
            NullSink::new(),
            SinkOptions::new()
                .with_release()
                .with_cancel(&sink_token)
                .with_on_close(move |r| *c.lock() = Some(r.clone())),
        )
        .start()
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    sink_token.cancel_with(Cause::error("test", "sink told to stop"));
    // The sink stops; its input edge goes, so the stage and then the source
    // see their output closed and stop too.
    assert!(pipeline.wait(BOUND));
    let report = pipeline.shutdown();
    assert!(report.is_clean(), "{report}");
    assert_eq!(
        *closed.lock(),
        Some(CloseReason::Cancelled(Some(Cause::error(
            "test",
            "sink told to stop"
        ))))
    );
    assert_eq!(
        report.element("pattern").unwrap().reason,
        CloseReason::OutputClosed
    );
    check.finish_within(BOUND).unwrap();
}

struct Explodes;
impl Sink for Explodes {
    fn consume(&mut self, frame: &Frame) -> Result<(), StageError> {
        if frame.sequence() == 5 {
            panic!("sink exploded");
        }
        Ok(())
    }
}

#[test]
fn on_close_runs_after_a_panic_too() {
    let check = LeakCheck::new();
    let closed = Arc::new(Mutex::new(None));
    let c = closed.clone();
    let pipeline = PipelineBuilder::new("panic-close")
        .source("pattern", source(u64::MAX))
        .sink_with(
            "boom",
            Link::block(2),
            Explodes,
            SinkOptions::new().with_on_close(move |r| *c.lock() = Some(r.clone())),
        )
        .start()
        .unwrap();
    assert!(pipeline.wait(BOUND));
    // A worker's exit is reported only after its closure (the element's
    // edges and callback) is gone: `wait` returning means on_close ran.
    assert_eq!(*closed.lock(), Some(CloseReason::Panicked));
    let report = pipeline.shutdown();
    assert_eq!(report.supervisor.panics().count(), 1, "{report}");
    // Its totals are reported all the same: the frame it panicked on was the 6th.
    let boom = report.element("boom").unwrap();
    assert_eq!(
        (boom.reason.clone(), boom.frames_in),
        (CloseReason::Panicked, 6)
    );
    check.finish_within(BOUND).unwrap();
}
