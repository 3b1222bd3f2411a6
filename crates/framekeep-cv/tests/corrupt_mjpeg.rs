//! Issue 11, finding 1: a corrupt MJPEG frame is a typed error, counted, and never a
//! picture: not the previous frame's pixels left in a pooled buffer, not a gray-filled
//! half frame. Webcam-like frames (no Huffman tables, zero padding) throughout.

mod common;

use std::time::Duration;

use common::{scan_start, webcam_frame};
use framekeep_core::frame::{Frame, FrameLayout, PixelFormat};
use framekeep_core::ledger::LeakCheck;
use framekeep_core::pipeline::{edge, run_stage, CloseReason, Link, OnCorrupt};
use framekeep_core::pool::PoolOptions;
use framekeep_cv::convert::{decode_jpeg, BgrConverter, Corruption, JpegColor};
use framekeep_cv::mat::MatView;
use framekeep_cv::CvError;
use framekeep_jpeg::JpegDefect;
use opencv::imgcodecs::{imdecode, IMREAD_COLOR};
use opencv::prelude::*;

const W: usize = 320;
const H: usize = 240;

/// A converter whose pool has ONE buffer: every output reuses it, so a conversion that
/// leaves it untouched would show the previous frame.
fn one_buffer_converter() -> BgrConverter {
    let layout = FrameLayout::packed(PixelFormat::Bgr24, W, H).unwrap();
    let pool = PoolOptions::new(layout)
        .min_buffers(1)
        .max_buffers(1)
        .acquire_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    BgrConverter::new(pool)
}

fn mjpeg(data: Vec<u8>, sequence: u64) -> Frame {
    let mut f = Frame::from_vec(FrameLayout::mjpeg(W, H, data.len()), data).unwrap();
    f.set_meta(framekeep_core::frame::FrameMeta {
        sequence,
        timestamp: Duration::from_millis(sequence),
    });
    f
}

fn imdecode_bytes(jpeg: &[u8]) -> Vec<u8> {
    let m = imdecode(&jpeg, IMREAD_COLOR).unwrap();
    m.data_bytes().unwrap().to_vec()
}

/// The reason of a `CvError::Corrupt`, or a panic naming what came instead.
fn corruption(result: Result<Frame, CvError>) -> Corruption {
    match result {
        Err(CvError::Corrupt { reason, .. }) => reason,
        Err(e) => panic!("expected a corrupt-frame error, got {e}"),
        Ok(frame) => panic!(
            "a corrupt frame converted with Ok (first pixels {:?})",
            &frame.data()[..6]
        ),
    }
}

#[test]
fn headers_without_scan_data_are_corrupt_not_the_previous_picture() {
    let check = LeakCheck::new();
    let conv = one_buffer_converter();
    let good = webcam_frame(W, H, 1);
    let out = conv.convert(&mjpeg(good.clone(), 1)).unwrap();
    assert_eq!(out.data(), imdecode_bytes(&good).as_slice());
    drop(out);
    // Intact headers, then the end-of-image marker where the scan should be.
    let mut no_scan = good[..scan_start(&good)].to_vec();
    no_scan.extend_from_slice(&[0xFF, 0xD9]);
    let reason = corruption(conv.convert(&mjpeg(no_scan, 2)));
    assert!(
        matches!(
            reason,
            Corruption::Structure(JpegDefect::ShortScan { bytes: 0, .. })
        ),
        "{reason}"
    );
    // Intact headers and nothing else.
    let headers = good[..scan_start(&good)].to_vec();
    let err = conv.convert(&mjpeg(headers, 3)).unwrap_err();
    assert!(
        err.to_string().starts_with("corrupt MJPEG frame 3:"),
        "{err}"
    );
    assert_eq!(conv.corrupt(), 2);
    assert_eq!(conv.pool().stats().checked_out, 0);
    check.finish().unwrap();
}

#[test]
fn truncated_frames_are_corrupt_with_or_without_zero_padding() {
    let check = LeakCheck::new();
    let conv = one_buffer_converter();
    let good = webcam_frame(W, H, 2);
    let start = scan_start(&good);
    for cut in [
        start + 10,
        good.len() / 2,
        good.len() * 9 / 10,
        good.len() - 2,
    ] {
        for padding in [0, 2048] {
            let mut data = good[..cut].to_vec();
            data.resize(cut + padding, 0);
            let reason = corruption(conv.convert(&mjpeg(data, 7)));
            assert!(
                matches!(
                    reason,
                    Corruption::Structure(
                        JpegDefect::MissingEoi { .. } | JpegDefect::ShortScan { .. }
                    )
                ),
                "cut at {cut} of {}, {padding} bytes of padding: {reason}",
                good.len()
            );
        }
    }
    assert_eq!(conv.corrupt(), 8);
    assert_eq!(conv.pool().stats().checked_out, 0);
    check.finish().unwrap();
}

#[test]
fn garbage_where_the_scan_should_end_is_corrupt() {
    let check = LeakCheck::new();
    let conv = one_buffer_converter();
    let good = webcam_frame(W, H, 3);
    // The frame cut at 60%, then bytes that are no JPEG's, then an end-of-image marker.
    let cut = good.len() * 6 / 10;
    let mut garbage = good[..cut].to_vec();
    let mut x = 0x9E37_79B9u32;
    for _ in 0..4000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        garbage.push((x >> 24) as u8);
    }
    garbage.extend_from_slice(&[0xFF, 0xD9]);
    corruption(conv.convert(&mjpeg(garbage, 1)));
    // Structurally sound, but a marker in the middle of the scan of a frame without
    // restart intervals: only the decoder sees it, as a warning ("Corrupt JPEG data:
    // premature end of data segment"), which imdecode lets pass.
    let mid = scan_start(&good) + (good.len() - scan_start(&good)) / 2;
    let mut warned = good[..mid].to_vec();
    warned.extend_from_slice(&[0xFF, 0xD0]);
    warned.extend_from_slice(&good[mid..]);
    let reason = corruption(conv.convert(&mjpeg(warned, 2)));
    assert!(
        matches!(&reason, Corruption::Decoder(m) if m.contains("Corrupt JPEG data")),
        "{reason}"
    );
    assert_eq!(conv.corrupt(), 2);
    assert_eq!(conv.pool().stats().checked_out, 0);
    check.finish().unwrap();
}

#[test]
fn zero_padding_after_the_end_marker_is_not_corruption() {
    let check = LeakCheck::new();
    let conv = one_buffer_converter();
    let good = webcam_frame(W, H, 4);
    let mut padded = good.clone();
    padded.resize(good.len() + 8192, 0);
    let out = conv.convert(&mjpeg(padded, 1)).unwrap();
    assert_eq!(out.data(), imdecode_bytes(&good).as_slice());
    assert_eq!(conv.corrupt(), 0);
    drop(out);
    check.finish().unwrap();
}

#[test]
fn good_frames_decode_pixel_for_pixel_as_imdecode() {
    let check = LeakCheck::new();
    for (w, h) in [(640, 480), (1280, 720), (33, 17)] {
        let jpeg = webcam_frame(w, h, 5);
        let mut out = vec![0u8; w * h * 3];
        let info = decode_jpeg(&jpeg, JpegColor::Bgr, &mut out, w * 3).unwrap();
        assert_eq!((info.width, info.height), (w, h));
        assert!(out == imdecode_bytes(&jpeg), "{w}x{h}");
        // The gray output is imread's IMREAD_GRAYSCALE (the luma plane).
        let mut gray = vec![0u8; w * h];
        decode_jpeg(&jpeg, JpegColor::Gray, &mut gray, w).unwrap();
        let expected = imdecode(&jpeg.as_slice(), opencv::imgcodecs::IMREAD_GRAYSCALE).unwrap();
        assert!(gray == expected.data_bytes().unwrap(), "{w}x{h} gray");
    }
    // An output too small is refused before decoding.
    let jpeg = webcam_frame(64, 48, 6);
    let mut small = vec![0u8; 64 * 48 * 3 - 1];
    assert!(matches!(
        decode_jpeg(&jpeg, JpegColor::Bgr, &mut small, 64 * 3),
        Err(CvError::MatMismatch(_))
    ));
    check.finish().unwrap();
}

#[test]
fn as_a_stage_the_converter_skips_corrupt_frames_or_fails_on_them() {
    let check = LeakCheck::new();
    let good = webcam_frame(W, H, 7);
    let truncated = good[..good.len() / 2].to_vec();
    for (policy, emitted) in [
        (OnCorrupt::Skip, 2),
        (OnCorrupt::Error, 1),
        (OnCorrupt::Fail, 1),
    ] {
        let (tx, rx) = edge("in", Link::block(4));
        let (out_tx, out_rx) = edge("out", Link::block(4));
        for (i, data) in [&good, &truncated, &good].into_iter().enumerate() {
            tx.send(mjpeg(data.clone(), i as u64)).unwrap();
        }
        drop(tx);
        let mut stage = one_buffer_converter().on_corrupt(policy);
        let counter = stage.clone();
        let consumer = std::thread::spawn(move || {
            let mut n = 0;
            while let Ok(frame) = out_rx.recv_timeout(Duration::from_secs(5)) {
                n += 1;
                drop(frame);
            }
            n
        });
        let summary = run_stage(
            &mut stage,
            rx,
            Some(out_tx),
            &framekeep_core::cancel::CancelToken::new(),
        );
        assert_eq!(consumer.join().unwrap(), emitted, "{policy:?}");
        assert_eq!(counter.corrupt(), 1, "{policy:?}");
        match policy {
            OnCorrupt::Skip => {
                assert_eq!(summary.reason, CloseReason::EndOfStream);
                assert_eq!(summary.dropped.filtered, 1);
            }
            _ => assert!(
                matches!(summary.reason, CloseReason::Failed(_)),
                "{policy:?}"
            ),
        }
        assert!(summary.balances(), "{summary:?}");
        drop(stage);
    }
    check.finish().unwrap();
}

#[test]
fn mat_views_of_a_decoded_frame_see_the_new_pixels() {
    // The pooled output is written in place: a Mat view of it shows the decode.
    let check = LeakCheck::new();
    let conv = one_buffer_converter();
    let jpeg = webcam_frame(W, H, 8);
    let out = conv.convert(&mjpeg(jpeg.clone(), 1)).unwrap();
    let view = MatView::new(&out).unwrap();
    assert_eq!(view.data_bytes().unwrap(), imdecode_bytes(&jpeg).as_slice());
    drop((view, out));
    check.finish().unwrap();
}
