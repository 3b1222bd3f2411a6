//! A capture stream as a pipeline source, on the in-process fake driver: frames flow
//! to a sink, the stream is closed with the pipeline, and a shutdown wakes a dequeue
//! that is waiting for a slow camera at once.

use std::time::{Duration, Instant};

use framekeep_core::cancel::CancelToken;
use framekeep_core::ledger::LeakCheck;
use framekeep_core::pipeline::{Link, PipelineBuilder};
use framekeep_core::testing::NullSink;
use framekeep_v4l::testing::{FakeConfig, FakeDevice};
use framekeep_v4l::{CaptureStream, FormatRequest, FourCc, StreamOptions, StreamSource};

fn options() -> StreamOptions {
    StreamOptions::new()
        .format(FormatRequest::new(FourCc::YUYV, 640, 480))
        .timeout(Duration::from_secs(5))
}

fn stream(period: Duration, options: StreamOptions) -> CaptureStream {
    let device = FakeDevice::new(FakeConfig {
        period,
        ..FakeConfig::default()
    });
    CaptureStream::start(Box::new(device), options).expect("fake stream")
}

#[test]
fn frames_flow_to_the_sink_and_the_stream_closes_with_the_pipeline() {
    let check = LeakCheck::new();
    let (stats_tx, stats) = std::sync::mpsc::channel();
    let options = options().with_on_close(move |s| stats_tx.send(*s).expect("test waits"));
    let source = StreamSource::new(stream(Duration::ZERO, options)).frames(25);
    let sink = NullSink::new();
    let counts = sink.stats();
    let pipeline = PipelineBuilder::new("camera")
        .source("camera", source)
        .sink("null", Link::block(2), sink)
        .start()
        .unwrap();
    assert!(
        pipeline.wait(Duration::from_secs(10)),
        "the source ends after 25 frames"
    );
    let report = pipeline.shutdown();
    assert!(report.is_clean(), "{report}");
    assert_eq!(counts.snapshot().frames, 25);
    let stats = stats
        .try_recv()
        .expect("the stream closed with the pipeline, reporting its stats");
    assert_eq!(stats.frames, 25);
    check
        .finish_within(Duration::from_secs(3))
        .expect("no frame, buffer or thread left");
}

/// One frame every 30 s: the source is blocked in a dequeue when shutdown comes, and the
/// shutdown must wake it at once, whether the stream has a cancel token of its own or not.
fn shutdown_wakes_a_dequeue_waiting_for_a_slow_camera(options: StreamOptions) {
    let check = LeakCheck::new();
    let source = StreamSource::new(stream(Duration::from_secs(30), options));
    let pipeline = PipelineBuilder::new("slow")
        .source("camera", source)
        .sink("null", Link::block(2), NullSink::new())
        .start()
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let t0 = Instant::now();
    let report = pipeline.shutdown();
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "shutdown took {:?}",
        t0.elapsed()
    );
    assert!(report.is_clean(), "{report}");
    check
        .finish_within(Duration::from_secs(3))
        .expect("no frame, buffer or thread left");
}

#[test]
fn shutdown_wakes_a_dequeue_on_a_stream_with_its_own_token() {
    let token = CancelToken::new();
    shutdown_wakes_a_dequeue_waiting_for_a_slow_camera(options().with_cancel(&token));
    assert!(
        token.is_cancelled(),
        "the pipeline's shutdown cancels the stream's token"
    );
}

#[test]
fn shutdown_wakes_a_dequeue_on_a_stream_without_a_token() {
    shutdown_wakes_a_dequeue_waiting_for_a_slow_camera(options());
}
