//! A capture stream as a pipeline source, on the in-process fake driver: frames flow
//! to a sink, the stream is closed with the pipeline, and a shutdown wakes a dequeue
//! that is waiting for a slow camera at once.

use std::time::{Duration, Instant};

use framekeep_core::cancel::CancelToken;
use framekeep_core::ledger::LeakCheck;
use framekeep_core::pipeline::{Link, NullSink, PipelineBuilder};
use framekeep_v4l::device::FourCc;
use framekeep_v4l::{
    CaptureStream, FakeConfig, FakeDevice, FormatRequest, StreamOptions, StreamSource,
};

fn stream(period: Duration, token: &CancelToken) -> CaptureStream {
    let device = FakeDevice::new(FakeConfig {
        period,
        ..FakeConfig::default()
    });
    let options = StreamOptions::new()
        .format(FormatRequest::new(FourCc::YUYV, 640, 480))
        .timeout(Duration::from_secs(5))
        .with_cancel(token.clone());
    CaptureStream::start(Box::new(device), options).expect("fake stream")
}

#[test]
fn frames_flow_to_the_sink_and_the_stream_closes_with_the_pipeline() {
    let check = LeakCheck::new();
    let token = CancelToken::new();
    let source = StreamSource::new(stream(Duration::ZERO, &token), token).frames(25);
    let stats = source.stats();
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
    let stats = stats.lock().expect("closed stream reports its stats");
    assert_eq!(stats.frames, 25);
    check
        .finish_within(Duration::from_secs(3))
        .expect("no frame, buffer or thread left");
}

#[test]
fn shutdown_wakes_a_dequeue_waiting_for_a_slow_camera() {
    let check = LeakCheck::new();
    let token = CancelToken::new();
    // One frame every 30 s: the source is blocked in a dequeue when shutdown comes.
    let source = StreamSource::new(stream(Duration::from_secs(30), &token), token);
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
