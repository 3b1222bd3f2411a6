//! Issue 11, finding 1, at the capture stream: a truncated MJPEG frame (what a USB webcam
//! under bandwidth pressure delivers) is never handed out; it is counted as `corrupt` and
//! the stream's `on_corrupt` policy says what the caller sees. Zero padding after a
//! complete frame (what cameras add) is not corruption.

use std::time::Duration;

use framekeep_core::ledger::LeakCheck;
use framekeep_core::pipeline::{Link, OnCorrupt, PipelineBuilder};
use framekeep_core::testing::NullSink;
use framekeep_jpeg::JpegDefect;
use framekeep_v4l::testing::{FakeConfig, FakeDevice, FakePayload};
use framekeep_v4l::{
    CaptureError, CaptureStream, FormatInfo, FormatRequest, FourCc, Interval, SizeInfo,
    StreamOptions, StreamSource,
};

const W: u32 = 64;
const H: u32 = 48;

/// A structurally complete baseline JPEG of W x H (one component), its scan `seq`-coloured
/// bytes, followed by zero padding as cameras send it.
fn good(seq: u32) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8];
    let (w, h) = ((W as u16).to_be_bytes(), (H as u16).to_be_bytes());
    v.extend_from_slice(&[0xFF, 0xC0, 0, 11, 8, h[0], h[1], w[0], w[1], 1, 1, 0x11, 0]);
    v.extend_from_slice(&[0xFF, 0xDA, 0, 8, 1, 1, 0x00, 0, 63, 0]);
    v.extend(std::iter::repeat_n(0x40 | (seq as u8 & 0x3F), 64));
    v.extend_from_slice(&[0xFF, 0xD9]);
    v.extend(std::iter::repeat_n(0u8, 512));
    v
}

/// Every third frame (sequence 1, 4, 7, ...) is cut off before its end, zero-padded.
fn camera(options: StreamOptions) -> CaptureStream {
    camera_with(options, false)
}

/// [`camera`], its driver taking user memory when `userptr`.
fn camera_with(options: StreamOptions, userptr: bool) -> CaptureStream {
    let config = FakeConfig {
        userptr,
        formats: vec![FormatInfo {
            fourcc: FourCc::MJPEG,
            description: "Motion-JPEG".into(),
            sizes: vec![SizeInfo {
                width: W,
                height: H,
                intervals: vec![Interval::from_fps(30)],
            }],
        }],
        payload: Some(FakePayload::new(|seq| {
            let mut frame = good(seq);
            if seq % 3 == 1 {
                frame.truncate(40);
                frame.resize(600, 0);
            }
            frame
        })),
        ..FakeConfig::default()
    };
    let options = options
        .format(FormatRequest::new(FourCc::MJPEG, W, H))
        .timeout(Duration::from_secs(5));
    CaptureStream::start(Box::new(FakeDevice::new(config)), options).expect("fake MJPEG stream")
}

#[test]
fn corrupt_frames_are_skipped_and_counted_by_default() {
    let check = LeakCheck::new();
    let mut stream = camera(StreamOptions::new());
    let mut sequences = Vec::new();
    for _ in 0..8 {
        let frame = stream.next_frame().unwrap();
        let info =
            framekeep_jpeg::inspect(frame.data()).expect("only complete frames are handed out");
        assert_eq!((info.width, info.height), (W as usize, H as usize));
        sequences.push(frame.sequence());
    }
    assert_eq!(sequences, [0, 2, 3, 5, 6, 8, 9, 11]);
    let stats = stream.close().unwrap();
    assert_eq!((stats.frames, stats.corrupt), (8, 4), "{stats}");
    check.finish().unwrap();
}

#[test]
fn user_buffers_are_checked_too() {
    let check = LeakCheck::new();
    let pool = framekeep_core::pool::PoolOptions::new(framekeep_core::frame::FrameLayout::mjpeg(
        W as usize,
        H as usize,
        (W * H * 2) as usize,
    ))
    .max_buffers(8)
    .build()
    .unwrap();
    let mut stream = camera_with(StreamOptions::new().user_buffers(pool.clone()), true);
    assert_eq!(
        stream.negotiated().memory,
        framekeep_v4l::BufferMode::UserPtr
    );
    let sequences: Vec<u64> = (0..4)
        .map(|_| {
            let frame = stream.next_frame().unwrap();
            framekeep_jpeg::inspect(frame.data()).expect("only complete frames are handed out");
            frame.sequence()
        })
        .collect();
    assert_eq!(sequences, [0, 2, 3, 5]);
    let stats = stream.close().unwrap();
    assert_eq!((stats.frames, stats.corrupt), (4, 2), "{stats}");
    drop(pool);
    check.finish().unwrap();
}

#[test]
fn deliver_as_error_returns_the_corrupt_frame_as_an_error_and_goes_on() {
    let check = LeakCheck::new();
    let mut stream = camera(StreamOptions::new().on_corrupt(OnCorrupt::Error));
    assert_eq!(stream.next_frame().unwrap().sequence(), 0);
    match stream.next_frame() {
        Err(CaptureError::Corrupt {
            sequence: 1,
            defect: JpegDefect::MissingEoi { .. },
        }) => {}
        other => panic!("expected frame 1 as a corrupt-frame error, got {other:?}"),
    }
    assert_eq!(stream.next_frame().unwrap().sequence(), 2);
    let stats = stream.close().unwrap();
    assert_eq!((stats.frames, stats.corrupt), (2, 1), "{stats}");
    check.finish().unwrap();
}

#[test]
fn fail_ends_the_stream_at_the_first_corrupt_frame() {
    let check = LeakCheck::new();
    let mut stream = camera(StreamOptions::new().on_corrupt(OnCorrupt::Fail));
    assert_eq!(stream.next_frame().unwrap().sequence(), 0);
    let err = stream.next_frame().unwrap_err();
    assert_eq!(
        err.to_string(),
        "corrupt MJPEG frame 1: no end-of-image marker: the scan runs to the end of the data (600 bytes), the frame is truncated"
    );
    assert!(matches!(stream.next_frame(), Err(CaptureError::Stopped)));
    let stats = stream.close().unwrap();
    assert_eq!((stats.frames, stats.corrupt), (1, 1), "{stats}");
    check.finish().unwrap();
}

#[test]
fn in_a_pipeline_the_sink_gets_only_complete_frames() {
    let check = LeakCheck::new();
    let (stats_tx, stats) = std::sync::mpsc::channel();
    let stream = camera(StreamOptions::new().with_on_close(move |s| {
        let _ = stats_tx.send(*s);
    }));
    let sink = NullSink::new();
    let counts = sink.stats();
    let pipeline = PipelineBuilder::new("mjpeg")
        .source("camera", StreamSource::new(stream).frames(20))
        .sink("null", Link::block(2), sink)
        .start()
        .unwrap();
    assert!(
        pipeline.wait(Duration::from_secs(10)),
        "the source ends after 20 frames"
    );
    let report = pipeline.shutdown();
    assert!(report.is_clean(), "{report}");
    assert!(report.balances(), "{report}");
    let stats = stats.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(counts.snapshot().frames, 20);
    assert_eq!((stats.frames, stats.corrupt), (20, 10), "{stats}");
    check.finish().unwrap();
}
