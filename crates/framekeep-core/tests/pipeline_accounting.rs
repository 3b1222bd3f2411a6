//! The conservation law: every frame a pipeline's source produces is delivered
//! or dropped with a reason, and the counts read the same at every element and
//! every edge, however the pipeline stops (`RunSummary::balances`,
//! `PipelineReport::balances`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use framekeep_core::cancel::CancelToken;
use framekeep_core::frame::{Frame, PixelFormat};
use framekeep_core::ledger::LeakCheck;
use framekeep_core::pipeline::{
    stage_fn, CloseReason, Link, Output, PipelineBuilder, PipelineReport, Sink, SourceOptions,
    Stage, StageError, SyntheticSource,
};
use framekeep_core::supervisor::{PanicPolicy, SupervisorOptions};
use framekeep_core::testing::NullSink;

const BOUND: Duration = Duration::from_secs(10);

fn source(frames: Option<u64>) -> SyntheticSource {
    let mut b = SyntheticSource::builder(PixelFormat::Gray8, 64, 48).buffers(8);
    if let Some(n) = frames {
        b = b.frames(n);
    }
    b.build().unwrap()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < BOUND, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Asserts the law everywhere and prints the report on failure.
fn assert_balanced(report: &PipelineReport) {
    for (name, s) in &report.elements {
        assert!(
            s.balances(),
            "{name}: in {} + created {} != out {} + dropped {}\n{report}",
            s.frames_in,
            s.created,
            s.frames_out,
            s.dropped
        );
    }
    assert!(report.balances(), "{report}");
}

/// A sink that blocks in `consume` until the test lets each frame go.
struct Gated {
    gate: mpsc::Receiver<()>,
    entered: Arc<AtomicU64>,
}

impl Sink for Gated {
    fn consume(&mut self, _frame: &Frame) -> Result<(), StageError> {
        self.entered.fetch_add(1, Ordering::SeqCst);
        // A closed gate lets everything through.
        let _ = self.gate.recv();
        Ok(())
    }
}

#[test]
fn a_frame_held_in_a_blocked_send_when_the_source_closes_is_counted_as_cancelled() {
    let check = LeakCheck::new();
    let (open, gate) = mpsc::channel();
    let entered = Arc::new(AtomicU64::new(0));
    let (source_ended, ended) = mpsc::channel();
    let pipeline = PipelineBuilder::new("blocked-send")
        .source_with(
            "src",
            source(None),
            SourceOptions::new().with_on_close(move |_| {
                let _ = source_ended.send(());
            }),
        )
        .sink(
            "gated",
            Link::block(1),
            Gated {
                gate,
                entered: entered.clone(),
            },
        )
        .start()
        .unwrap();
    // The sink holds one frame in `consume`, the edge holds one, and the
    // source is blocked sending the next.
    wait_until("the sink to hold a frame", || {
        entered.load(Ordering::SeqCst) == 1
    });
    wait_until("the edge to fill", || pipeline.edge_stats()[0].queued == 1);
    thread::sleep(Duration::from_millis(20));
    pipeline.close_source();
    ended.recv_timeout(BOUND).expect("the source ends");
    assert_eq!(pipeline.edge_stats()[0].sent, 2);
    drop(open); // let the sink drain what was queued
    assert!(pipeline.wait(BOUND));
    let report = pipeline.shutdown();
    assert!(report.is_clean(), "{report}");
    assert_balanced(&report);
    let src = report.element("src").unwrap();
    assert_eq!(
        (src.frames_in, src.frames_out, src.dropped.cancelled),
        (3, 2, 1),
        "{report}"
    );
    assert!(matches!(src.reason, CloseReason::Cancelled(_)), "{report}");
    assert_eq!(report.element("gated").unwrap().frames_out, 2, "{report}");
    check.finish_within(BOUND).unwrap();
}

#[test]
fn cancelling_at_any_moment_leaves_every_frame_accounted_for() {
    let check = LeakCheck::new();
    for link in Link::all(2) {
        for delay_us in [0u64, 50, 200, 1_000, 3_000] {
            let root = CancelToken::new();
            let pipeline = PipelineBuilder::new("cancel")
                .with_cancel(&root)
                .source("src", source(None))
                .stage(
                    "copy",
                    link,
                    stage_fn(|f| {
                        thread::sleep(Duration::from_micros(100));
                        Ok(Some(f))
                    }),
                )
                .sink("null", link, NullSink::new())
                .start()
                .unwrap();
            thread::sleep(Duration::from_micros(delay_us));
            root.cancel();
            assert!(pipeline.wait(BOUND), "{link} after {delay_us} µs");
            let report = pipeline.shutdown();
            assert_balanced(&report);
        }
    }
    check.finish_within(BOUND).unwrap();
}

/// A sink that panics at its `n`-th frame.
struct PanicsAt(u64, u64);

impl Sink for PanicsAt {
    fn consume(&mut self, _frame: &Frame) -> Result<(), StageError> {
        self.1 += 1;
        if self.1 == self.0 {
            panic!("sink gave up at frame {}", self.0);
        }
        Ok(())
    }
}

#[test]
fn a_panicking_sink_accounts_for_the_frame_it_held_under_every_policy() {
    let check = LeakCheck::new();
    for policy in [
        PanicPolicy::Escalate,
        PanicPolicy::Isolate,
        PanicPolicy::Restart {
            max_restarts: 1,
            window: Duration::from_secs(60),
        },
    ] {
        let pipeline = PipelineBuilder::new("panicking-sink")
            .supervisor_options(SupervisorOptions::new().on_panic(policy))
            .source("src", source(Some(40)))
            .sink("dies", Link::block(2), PanicsAt(11, 0))
            .start()
            .unwrap();
        // Under Isolate the source finds its consumer gone; under Escalate
        // the root is cancelled; a restarted sink goes on to the end.
        assert!(pipeline.wait(BOUND), "{policy:?}");
        let report = pipeline.shutdown();
        assert_balanced(&report);
        let sink = report.element("dies").unwrap();
        assert!(sink.dropped.panic >= 1, "{policy:?}: {report}");
        assert_eq!(sink.panics, 1, "{policy:?}: {report}");
        assert_eq!(
            sink.last_panic.as_deref(),
            Some("sink gave up at frame 11"),
            "{policy:?}: {report}"
        );
        if matches!(policy, PanicPolicy::Restart { .. }) {
            // Restarted: every frame but the one in the panic was delivered.
            assert_eq!((sink.frames_in, sink.frames_out), (40, 39), "{report}");
            assert!(report
                .to_string()
                .contains("panicked 1x, last: sink gave up at frame 11"));
        }
    }
    check.finish_within(BOUND).unwrap();
}

/// A stage that emits each frame twice, drops every third, and panics once.
struct Uneven {
    seen: u64,
}

impl Stage for Uneven {
    fn process(&mut self, frame: Frame, out: &mut Output<'_>) -> Result<(), StageError> {
        self.seen += 1;
        match self.seen % 3 {
            0 => Ok(()), // filtered
            1 => {
                out.emit(frame.clone())?;
                if self.seen == 4 {
                    panic!("stage panicked after emitting one");
                }
                out.emit(frame)
            }
            _ => out.emit(frame),
        }
    }
}

#[test]
fn stages_that_filter_multiply_and_restart_still_balance() {
    let check = LeakCheck::new();
    let pipeline = PipelineBuilder::new("uneven")
        .supervisor_options(SupervisorOptions::new().on_panic(PanicPolicy::Restart {
            max_restarts: 3,
            window: Duration::from_secs(60),
        }))
        .source("src", source(Some(30)))
        .stage("uneven", Link::block(4), Uneven { seen: 0 })
        .sink("null", Link::block(4), NullSink::new())
        .start()
        .unwrap();
    assert!(pipeline.wait(BOUND));
    let report = pipeline.shutdown();
    assert!(report.is_clean(), "{report}");
    assert_balanced(&report);
    let stage = report.element("uneven").unwrap();
    assert_eq!(stage.frames_in, 30, "{report}");
    assert_eq!(stage.dropped.filtered, 10, "{report}");
    // Ten frames emitted twice, but frame 4 panicked after its first emit.
    assert_eq!((stage.created, stage.dropped.panic), (9, 0), "{report}");
    assert_eq!(stage.frames_out, 30 - 10 + 9, "{report}");
    assert_eq!(
        stage.last_panic.as_deref(),
        Some("stage panicked after emitting one")
    );
    check.finish_within(BOUND).unwrap();
}
