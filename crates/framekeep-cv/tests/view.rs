//! Mat views against OpenCV's own functions on the same data, lifetimes, and leaks.

use std::time::Duration;

use framekeep_core::frame::{Frame, FrameLayout, PixelFormat};
use framekeep_core::ledger::{Kind, LeakCheck};
use framekeep_core::pool::{FramePool, PoolOptions};
use framekeep_cv::mat::{copy_to_frame, MatShape, MatView, MatViewMut, TrackedMat};
use framekeep_cv::CvError;
use opencv::core::{Mat, Rect, Vec3b, CV_8UC1, CV_8UC2, CV_8UC3, CV_8UC4};
use opencv::prelude::*;

/// A frame whose every byte (padding included) is a function of its offset.
fn patterned(layout: FrameLayout) -> Frame {
    let data: Vec<u8> = (0..layout.len()).map(|i| (i * 7 + i / 251) as u8).collect();
    Frame::from_vec(layout, data).unwrap()
}

/// The visible bytes of a Mat, row by row, through OpenCV's own deep copy.
fn mat_bytes(m: &impl MatTraitConst) -> Vec<u8> {
    let copy = m.try_clone().unwrap();
    assert!(copy.is_continuous());
    copy.data_bytes().unwrap().to_vec()
}

/// The visible bytes of a frame, row by row (plane 0 rows, plus `height / 2` rows of
/// `stride` bytes below them for NV12 and I420).
fn frame_bytes(f: &Frame) -> Vec<u8> {
    let l = f.layout();
    let rows = if l.format().is_planar_420() {
        l.height() * 3 / 2
    } else {
        l.height()
    };
    let row = l.row_bytes();
    (0..rows)
        .flat_map(|y| f.data()[y * l.stride()..y * l.stride() + row].to_vec())
        .collect()
}

#[test]
fn every_format_maps_to_the_right_type_and_step() {
    let check = LeakCheck::new();
    let cases = [
        (PixelFormat::Gray8, CV_8UC1, 64, 48),
        (PixelFormat::Bgr24, CV_8UC3, 64, 48),
        (PixelFormat::Rgb24, CV_8UC3, 64, 48),
        (PixelFormat::Bgra32, CV_8UC4, 64, 48),
        (PixelFormat::Yuyv, CV_8UC2, 64, 48),
        (PixelFormat::Uyvy, CV_8UC2, 64, 48),
        (PixelFormat::Nv12, CV_8UC1, 64, 72),
        (PixelFormat::I420, CV_8UC1, 64, 72),
    ];
    for (format, typ, w, rows) in cases {
        let packed = FrameLayout::packed(format, 64, 48).unwrap();
        for pad in [0, 13, 64] {
            if format == PixelFormat::I420 && pad % 2 == 1 {
                assert!(packed.with_stride(packed.stride() + pad).is_err());
                continue;
            }
            let layout = packed.with_stride(packed.stride() + pad).unwrap();
            let frame = patterned(layout);
            let view = MatView::new(&frame).unwrap();
            assert_eq!(view.typ(), typ, "{format}");
            assert_eq!((view.cols(), view.rows()), (w, rows), "{format}");
            assert_eq!(
                *view.mat_step().first().unwrap(),
                layout.stride(),
                "{format}"
            );
            assert_eq!(view.data(), frame.as_ptr(), "{format}: no copy");
            assert_eq!(mat_bytes(&view), frame_bytes(&frame), "{format} pad {pad}");
        }
    }
    let jpeg = Frame::from_vec(FrameLayout::mjpeg(64, 48, 1000), vec![9; 1000]).unwrap();
    let view = MatView::new(&jpeg).unwrap();
    assert_eq!((view.rows(), view.cols(), view.typ()), (1, 1000, CV_8UC1));
    drop((view, jpeg));
    check.finish().unwrap();
}

#[test]
fn roi_views_match_opencv_roi_of_a_copy() {
    let check = LeakCheck::new();
    let layout = FrameLayout::packed(PixelFormat::Bgr24, 40, 30)
        .unwrap()
        .with_stride(40 * 3 + 17)
        .unwrap();
    let frame = patterned(layout);
    let full = MatView::new(&frame).unwrap();
    let copy = full.try_clone().unwrap(); // OpenCV's own, continuous
    for (x, y, w, h) in [
        (0, 0, 40, 30),
        (3, 5, 10, 7),
        (39, 29, 1, 1),
        (10, 0, 30, 30),
    ] {
        let ours = full.roi(x, y, w, h).unwrap();
        let theirs = Mat::roi(&copy, Rect::new(x as i32, y as i32, w as i32, h as i32)).unwrap();
        assert_eq!(mat_bytes(&ours), mat_bytes(&theirs), "roi {x},{y} {w}x{h}");
        assert_eq!(*ours.mat_step().first().unwrap(), layout.stride());
        for (r, c) in [(0, 0), (h - 1, w - 1), (h / 2, w / 2)] {
            let a = *ours.at_2d::<Vec3b>(r as i32, c as i32).unwrap();
            let b = *copy.at_2d::<Vec3b>((y + r) as i32, (x + c) as i32).unwrap();
            assert_eq!(a, b);
        }
    }
    assert!(matches!(full.roi(35, 0, 10, 1), Err(CvError::Frame(_))));
    drop((full, frame));
    check.finish().unwrap();
}

#[test]
fn nv12_planes_and_yuyv_roi() {
    let check = LeakCheck::new();
    let layout = FrameLayout::packed(PixelFormat::Nv12, 32, 16)
        .unwrap()
        .with_stride(48)
        .unwrap();
    let frame = patterned(layout);
    let uv = MatView::from_frame(frame.plane(1).unwrap()).unwrap();
    assert_eq!((uv.rows(), uv.cols(), uv.typ()), (8, 16, CV_8UC2));
    let whole = MatView::new(&frame).unwrap().try_clone().unwrap();
    let theirs = Mat::roi(&whole, Rect::new(0, 16, 32, 8)).unwrap();
    assert_eq!(mat_bytes(&uv), mat_bytes(&theirs));
    let yuyv = patterned(FrameLayout::packed(PixelFormat::Yuyv, 16, 4).unwrap());
    let roi = MatView::from_frame(yuyv.roi(2, 1, 4, 2).unwrap()).unwrap();
    let copy = MatView::new(&yuyv).unwrap().try_clone().unwrap();
    assert_eq!(
        mat_bytes(&roi),
        mat_bytes(&Mat::roi(&copy, Rect::new(2, 1, 4, 2)).unwrap())
    );
    drop((uv, roi));
    check.finish().unwrap();
}

#[test]
fn i420_planes_are_gray_views_at_half_stride() {
    let check = LeakCheck::new();
    let (w, h, stride) = (32, 16, 48);
    let layout = FrameLayout::strided(PixelFormat::I420, w, h, stride).unwrap();
    let frame = patterned(layout);
    let whole = MatView::new(&frame).unwrap();
    assert_eq!((whole.rows(), whole.cols(), whole.typ()), (24, 32, CV_8UC1));
    let y = MatView::from_frame(frame.plane(0).unwrap()).unwrap();
    let copy = whole.try_clone().unwrap();
    let theirs = Mat::roi(&copy, Rect::new(0, 0, 32, 16)).unwrap();
    assert_eq!(mat_bytes(&y), mat_bytes(&theirs));
    // U at stride * h, V after it; each w/2 x h/2 with rows stride/2 apart.
    for (i, base) in [(1, stride * h), (2, stride * h + stride / 2 * h / 2)] {
        let plane = MatView::from_frame(frame.plane(i).unwrap()).unwrap();
        assert_eq!((plane.rows(), plane.cols(), plane.typ()), (8, 16, CV_8UC1));
        assert_eq!(*plane.mat_step().first().unwrap(), stride / 2);
        assert_eq!(
            plane.data(),
            frame.data()[base..].as_ptr(),
            "plane {i}: no copy"
        );
        let expected: Vec<u8> = (0..h / 2)
            .flat_map(|r| frame.data()[base + r * stride / 2..][..w / 2].to_vec())
            .collect();
        assert_eq!(mat_bytes(&plane), expected, "plane {i}");
    }
    drop(theirs);
    drop((copy, whole, y, frame));
    check.finish().unwrap();
}

fn one_buffer_pool(format: PixelFormat) -> FramePool {
    PoolOptions::new(FrameLayout::packed(format, 32, 16).unwrap())
        .min_buffers(1)
        .max_buffers(1)
        .acquire_timeout(Duration::from_millis(50))
        .build()
        .unwrap()
}

#[test]
fn a_view_keeps_its_frame_alive_after_every_other_handle_drops() {
    let check = LeakCheck::new();
    let pool = one_buffer_pool(PixelFormat::Gray8);
    let mut frame = pool.acquire("test").unwrap();
    frame.get_mut().unwrap().fill(77);
    let view = MatView::new(&frame).unwrap();
    let roi = view.roi(4, 4, 8, 8).unwrap();
    drop(frame);
    drop(view);
    assert_eq!(pool.stats().checked_out, 1, "the ROI view holds the lease");
    assert!(pool.try_acquire("other").is_err());
    assert_eq!(*roi.at_2d::<u8>(7, 7).unwrap(), 77);
    assert!(check.leaks().iter().any(|e| e.kind == Kind::MAT));
    let frame = roi.into_frame();
    assert_eq!(pool.stats().checked_out, 1);
    drop(frame);
    assert_eq!(pool.stats().checked_out, 0);
    check.finish().unwrap();
}

#[test]
fn mutable_views_need_a_unique_frame_and_write_in_place() {
    let check = LeakCheck::new();
    let pool = one_buffer_pool(PixelFormat::Bgr24);
    let mut frame = pool.acquire("test").unwrap();
    let other = frame.clone();
    assert!(matches!(
        MatViewMut::new(&mut frame),
        Err(CvError::SharedFrame)
    ));
    drop(other);
    {
        let mut view = MatViewMut::new(&mut frame).unwrap();
        view.set_to_def(&opencv::core::Scalar::new(1.0, 2.0, 3.0, 0.0))
            .unwrap();
        view.ensure_in_place("set_to").unwrap();
        // Writing a differently sized result reallocates: detected, frame untouched.
        let other = Mat::new_rows_cols_with_default(2, 2, CV_8UC3, 9.into()).unwrap();
        other.copy_to(&mut view).unwrap();
        assert!(matches!(
            view.ensure_in_place("copy_to"),
            Err(CvError::Reallocated(_))
        ));
    }
    assert_eq!(&frame.row(15).unwrap()[..6], &[1, 2, 3, 1, 2, 3]);
    drop(frame);
    check.finish().unwrap();
}

#[test]
fn tracked_mats_are_counted_and_copied_into_pooled_frames() {
    let check = LeakCheck::new();
    let pool = one_buffer_pool(PixelFormat::Bgr24);
    let mat = TrackedMat::filled(16, 32, CV_8UC3, (5.0, 6.0, 7.0).into(), "test-mat").unwrap();
    assert_eq!(
        check.leaks().iter().filter(|e| e.kind == Kind::MAT).count(),
        1
    );
    let frame = copy_to_frame(&mat, PixelFormat::Bgr24, &pool, "copy").unwrap();
    assert_eq!(&frame.row(3).unwrap()[..3], &[5, 6, 7]);
    assert!(matches!(
        copy_to_frame(&mat, PixelFormat::Gray8, &pool, "copy"),
        Err(CvError::MatMismatch(_))
    ));
    let back = MatView::new(&frame).unwrap();
    assert_eq!(mat_bytes(&back), mat_bytes(&mat));
    drop((back, frame));
    let plain: Mat = mat.into_mat();
    assert!(check.leaks().is_empty(), "into_mat leaves the accounting");
    drop(plain);
    check.finish().unwrap();
}

#[test]
fn leak_check_reports_a_forgotten_tracked_mat() {
    let check = LeakCheck::new();
    let mat = TrackedMat::empty("forgotten-mat").unwrap();
    std::mem::forget(mat);
    let report = check.finish().expect_err("a forgotten Mat is a leak");
    assert_eq!(report.entries()[0].name, "forgotten-mat");
    assert_eq!(report.entries()[0].kind, Kind::MAT);
}

#[test]
fn shapes_reject_what_opencv_cannot_hold() {
    // A valid frame layout whose width does not fit OpenCV's `int`.
    let huge = FrameLayout::packed(PixelFormat::Gray8, 1 << 31, 1).unwrap();
    assert!(matches!(MatShape::of(&huge), Err(CvError::TooLarge { .. })));
}

#[test]
fn tracked_mats_carry_a_creation_backtrace_when_enabled() {
    let check = LeakCheck::new();
    framekeep_core::ledger::Ledger::set_capture_backtraces(true);
    let mat = TrackedMat::empty("with-backtrace").unwrap();
    framekeep_core::ledger::Ledger::set_capture_backtraces(false);
    let leaks = check.leaks();
    let bt = leaks[0].backtrace.as_deref().expect("captured");
    assert!(
        bt.contains("tracked_mats_carry_a_creation_backtrace"),
        "{bt}"
    );
    drop(mat);
    check.finish().unwrap();
}
