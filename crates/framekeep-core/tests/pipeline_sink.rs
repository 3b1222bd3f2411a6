//! The null sink's measurements: counts, gaps, checksums, latency percentiles.

use std::time::Duration;

use framekeep_core::frame::{Frame, FrameLayout, FrameMeta, PixelFormat};
use framekeep_core::pipeline::Sink;
use framekeep_core::testing::{checksum, frame_checksum, Checksum, NullSink};
use framekeep_core::time::monotonic_now;
use framekeep_core::time::LatencyHistogram;

fn frame(seq: u64, timestamp: Duration) -> Frame {
    let layout = FrameLayout::packed(PixelFormat::Gray8, 16, 4).unwrap();
    let mut f = Frame::from_vec(layout, (0..64).map(|i| (i * 7 + seq) as u8).collect()).unwrap();
    f.set_meta(FrameMeta {
        sequence: seq,
        timestamp,
    });
    f
}

#[test]
fn counts_gaps_and_order() {
    let mut sink = NullSink::new();
    let stats = sink.stats();
    for seq in [3, 4, 7, 8, 6] {
        sink.consume(&frame(seq, Duration::ZERO)).unwrap();
    }
    let snap = stats.snapshot();
    assert_eq!(snap.frames, 5);
    assert_eq!(snap.gaps, 2);
    assert_eq!(snap.out_of_order, 1);
    assert_eq!(
        (snap.first_sequence, snap.last_sequence),
        (Some(3), Some(6))
    );
    assert_eq!(snap.bytes, 5 * 64);
    // Frames without a timestamp give no latency sample.
    assert_eq!(snap.latency_samples, 0);
}

#[test]
fn checksums_follow_the_bytes() {
    let mut sink = NullSink::new();
    let stats = sink.stats();
    let a = frame(1, Duration::ZERO);
    sink.consume(&a).unwrap();
    assert_eq!(stats.snapshot().last_checksum, checksum(a.data()));
    assert_ne!(
        checksum(a.data()),
        checksum(frame(2, Duration::ZERO).data())
    );
    // Order matters, and the tail past the last 32-byte block counts.
    assert_ne!(checksum(&[1, 2, 3]), checksum(&[3, 2, 1]));
    let long: Vec<u8> = (0..100).collect();
    let mut changed = long.clone();
    changed[99] ^= 1;
    assert_ne!(checksum(&long), checksum(&changed));
    let mut off = NullSink::new().checksum(Checksum::Off);
    off.consume(&a).unwrap();
}

#[test]
fn strided_frames_checksum_their_visible_bytes_only() {
    let packed = FrameLayout::packed(PixelFormat::Gray8, 32, 3).unwrap();
    let strided = packed.with_stride(48).unwrap();
    let rows: Vec<u8> = (0..96).map(|i| i as u8).collect();
    let mut padded = vec![0xEE; strided.len()];
    for y in 0..3 {
        padded[y * 48..y * 48 + 32].copy_from_slice(&rows[y * 32..y * 32 + 32]);
    }
    let a = Frame::from_vec(packed, rows).unwrap();
    let b = Frame::from_vec(strided, padded).unwrap();
    // 32-byte rows: the strided checksum equals the packed one.
    assert_eq!(frame_checksum(&a), frame_checksum(&b));
}

#[test]
fn latency_is_measured_from_the_timestamp() {
    let mut sink = NullSink::new();
    let stats = sink.stats();
    let old = monotonic_now().saturating_sub(Duration::from_millis(5));
    sink.consume(&frame(0, old)).unwrap();
    let snap = stats.snapshot();
    assert_eq!(snap.latency_samples, 1);
    assert!(snap.latency_p50 >= Duration::from_millis(5), "{snap}");
    assert!(snap.latency_p50 < Duration::from_secs(5), "{snap}");
    stats.reset_latency();
    assert_eq!(stats.snapshot().latency_samples, 0);
}

#[test]
fn histogram_quantiles() {
    let mut h = LatencyHistogram::new();
    assert_eq!(h.quantile(0.5), Duration::ZERO);
    for us in 1..=100u64 {
        h.record(Duration::from_micros(us));
    }
    assert_eq!(h.count(), 100);
    assert_eq!(h.quantile(0.5), Duration::from_micros(51));
    assert_eq!(h.quantile(0.99), Duration::from_micros(100));
    assert_eq!(h.max(), Duration::from_micros(100));
    // Coarse range: 1 ms buckets, never above the maximum.
    h.record(Duration::from_millis(20));
    assert_eq!(h.quantile(1.0), Duration::from_millis(20));
    h.record(Duration::from_secs(100));
    assert_eq!(h.quantile(1.0), Duration::from_secs(100));
    h.clear();
    assert_eq!(h.count(), 0);
}
