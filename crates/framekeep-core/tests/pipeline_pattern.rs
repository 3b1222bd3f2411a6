//! The synthetic source draws exactly the documented pattern, in every format.

use std::time::{Duration, Instant};

use framekeep_core::cancel::CancelToken;
use framekeep_core::frame::{Frame, FrameLayout, PixelFormat};
use framekeep_core::pipeline::{Source, StageError, SyntheticError, SyntheticSource};
use framekeep_core::pool::{Exhausted, PoolError, PoolOptions};
use framekeep_core::testing::{
    counter_block, decode_counter, gray, pattern_rgb, yuv, TestPattern, BAR_COLOURS, CELL, SPEED,
};

const FORMATS: [PixelFormat; 8] = [
    PixelFormat::Gray8,
    PixelFormat::Bgr24,
    PixelFormat::Rgb24,
    PixelFormat::Bgra32,
    PixelFormat::Yuyv,
    PixelFormat::Uyvy,
    PixelFormat::Nv12,
    PixelFormat::I420,
];

/// The bytes the pattern specifies for pixel (x, y) of plane 0 (luma for YUV).
fn expected(format: PixelFormat, n: u64, x: usize, y: usize, w: usize, h: usize) -> Vec<u8> {
    let rgb = pattern_rgb(n, x, y, w, h);
    match format {
        PixelFormat::Gray8 => vec![gray(rgb)],
        PixelFormat::Bgr24 => vec![rgb[2], rgb[1], rgb[0]],
        PixelFormat::Rgb24 => rgb.to_vec(),
        PixelFormat::Bgra32 => vec![rgb[2], rgb[1], rgb[0], 255],
        PixelFormat::Yuyv | PixelFormat::Uyvy | PixelFormat::Nv12 | PixelFormat::I420 => {
            vec![yuv(rgb)[0]]
        }
        _ => unreachable!(),
    }
}

fn luma_at(frame: &Frame, x: usize, y: usize) -> Vec<u8> {
    let row = frame.row(y).unwrap();
    match frame.format() {
        PixelFormat::Gray8 | PixelFormat::Nv12 | PixelFormat::I420 => vec![row[x]],
        PixelFormat::Bgr24 | PixelFormat::Rgb24 => row[3 * x..3 * x + 3].to_vec(),
        PixelFormat::Bgra32 => row[4 * x..4 * x + 4].to_vec(),
        PixelFormat::Yuyv => vec![row[2 * x]],
        PixelFormat::Uyvy => vec![row[2 * x + 1]],
        _ => unreachable!(),
    }
}

#[test]
fn every_pixel_matches_the_definition_in_every_format() {
    let token = CancelToken::new();
    for format in FORMATS {
        for (w, h) in [(64, 48), (130, 70), (2, 2), (320, 40)] {
            let mut source = SyntheticSource::builder(format, w, h)
                .frames(3)
                .build()
                .unwrap();
            for n in 0..3u64 {
                let frame = source.next_frame(&token).unwrap().unwrap();
                assert_eq!(frame.sequence(), n);
                for y in 0..h {
                    for x in 0..w {
                        assert_eq!(
                            luma_at(&frame, x, y),
                            expected(format, n, x, y, w, h),
                            "{format} {w}x{h} frame {n} at ({x},{y})"
                        );
                    }
                }
                if matches!(
                    format,
                    PixelFormat::Nv12 | PixelFormat::I420 | PixelFormat::Yuyv
                ) {
                    check_chroma(&frame, n);
                }
            }
            assert!(source.next_frame(&token).unwrap().is_none());
        }
    }
}

fn check_chroma(frame: &Frame, n: u64) {
    let (w, h) = (frame.width(), frame.height());
    for y in (0..h).step_by(2) {
        for x in (0..w).step_by(2) {
            let [_, u, v] = yuv(pattern_rgb(n, x, y, w, h));
            let got = if frame.format() == PixelFormat::Nv12 {
                let uv = frame.plane(1).unwrap();
                let row = uv.row(y / 2).unwrap();
                (row[x], row[x + 1])
            } else if frame.format() == PixelFormat::I420 {
                let (u, v) = (frame.plane(1).unwrap(), frame.plane(2).unwrap());
                (u.row(y / 2).unwrap()[x / 2], v.row(y / 2).unwrap()[x / 2])
            } else {
                let row = frame.row(y).unwrap();
                (row[2 * x + 1], row[2 * x + 3])
            };
            assert_eq!(got, (u, v), "{} chroma at ({x},{y})", frame.format());
        }
    }
}

#[test]
fn the_pattern_moves_and_has_bars_and_squares() {
    let (w, h) = (640, 480);
    // Frame 0: bar i starts at x = i * w / 8 (below the counter rows).
    for (i, colour) in BAR_COLOURS.iter().enumerate() {
        assert_eq!(pattern_rgb(0, i * w / 8, 100, w, h), *colour);
    }
    // Frame 1: everything moved SPEED pixels left.
    assert_eq!(pattern_rgb(1, w / 8 - SPEED, 100, w, h), BAR_COLOURS[1]);
    let bars_end = h - h / 4;
    assert_eq!(pattern_rgb(0, 0, bars_end, w, h), [255; 3]);
    assert_eq!(pattern_rgb(0, CELL, bars_end, w, h), [0; 3]);
    assert_eq!(pattern_rgb(0, CELL, bars_end + CELL, w, h), [255; 3]);
}

#[test]
fn the_counter_reads_back_in_every_format() {
    let token = CancelToken::new();
    for format in FORMATS {
        let pool = PoolOptions::new(FrameLayout::packed(format, 256, 16).unwrap())
            .min_buffers(2)
            .max_buffers(2)
            .build()
            .unwrap();
        let mut source = SyntheticSource::builder(format, 256, 16)
            .pool(pool)
            .build()
            .unwrap();
        for n in 0..40u64 {
            let frame = source.next_frame(&token).unwrap().unwrap();
            assert_eq!(decode_counter(&frame), Some(n as u32), "{format}");
        }
    }
    assert_eq!(counter_block(1920), 8);
    assert_eq!(counter_block(40), 1);
}

#[test]
fn strided_pools_leave_padding_alone() {
    let layout = FrameLayout::packed(PixelFormat::Bgr24, 64, 8)
        .unwrap()
        .with_stride(256)
        .unwrap();
    let mut pattern = TestPattern::new(layout).unwrap();
    let mut buf = vec![0xAB; layout.len()];
    assert!(pattern.render(5, &mut buf));
    assert!(buf[64 * 3..256].iter().all(|b| *b == 0xAB));
    assert!(!pattern.render(5, &mut buf[..10]));
    let frame = Frame::from_vec(layout, buf).unwrap();
    assert_eq!(decode_counter(&frame), Some(5));
}

#[test]
fn a_padded_i420_pattern_puts_each_plane_in_place() {
    let (w, h, stride) = (64, 8, 80);
    let layout = FrameLayout::strided(PixelFormat::I420, w, h, stride).unwrap();
    let mut pattern = TestPattern::new(layout).unwrap();
    let mut buf = vec![0xAB; layout.len()];
    assert!(pattern.render(3, &mut buf));
    // Padding of every plane is left alone: Y rows 80 apart, chroma 40.
    assert!(buf[w..stride].iter().all(|b| *b == 0xAB));
    let chroma = stride * h;
    for r in 0..h {
        // The two chroma planes have h / 2 rows each: 2 * h / 2 = h rows.
        let pad = chroma + r * stride / 2 + w / 2..chroma + (r + 1) * stride / 2;
        assert!(buf[pad].iter().all(|b| *b == 0xAB), "chroma row {r}");
    }
    let frame = Frame::from_vec(layout, buf).unwrap();
    assert_eq!(decode_counter(&frame), Some(3));
    check_chroma(&frame, 3);
}

#[test]
fn bad_options_are_typed_errors() {
    assert!(matches!(
        SyntheticSource::builder(PixelFormat::Mjpeg, 64, 48).build(),
        Err(SyntheticError::Unsupported(_))
    ));
    assert!(matches!(
        SyntheticSource::builder(PixelFormat::Nv12, 63, 48).build(),
        Err(SyntheticError::Layout(_))
    ));
    assert!(matches!(
        SyntheticSource::builder(PixelFormat::Gray8, 64, 48)
            .fps(0.0)
            .build(),
        Err(SyntheticError::BadFps(_))
    ));
    let other = PoolOptions::new(FrameLayout::packed(PixelFormat::Gray8, 8, 8).unwrap())
        .build()
        .unwrap();
    assert!(matches!(
        SyntheticSource::builder(PixelFormat::Gray8, 64, 48)
            .pool(other)
            .build(),
        Err(SyntheticError::LayoutMismatch { .. })
    ));
}

#[test]
fn paced_source_keeps_its_rate_and_stamps_frames() {
    let token = CancelToken::new();
    let mut source = SyntheticSource::builder(PixelFormat::Gray8, 64, 48)
        .fps(200.0)
        .frames(20)
        .build()
        .unwrap();
    let start = Instant::now();
    let mut last = Duration::ZERO;
    while let Some(frame) = source.next_frame(&token).unwrap() {
        assert!(frame.timestamp() > last);
        last = frame.timestamp();
    }
    // 20 frames at 200 fps: 19 periods of 5 ms at least.
    assert!(
        start.elapsed() >= Duration::from_millis(90),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_dry_fail_fast_pool_starves_the_source_instead_of_failing() {
    let token = CancelToken::new();
    let pool = PoolOptions::new(FrameLayout::packed(PixelFormat::Gray8, 64, 48).unwrap())
        .min_buffers(1)
        .max_buffers(1)
        .exhausted(Exhausted::FailFast)
        .build()
        .unwrap();
    let mut source = SyntheticSource::builder(PixelFormat::Gray8, 64, 48)
        .pool(pool)
        .frames(4)
        .build()
        .unwrap();
    let pool = source.pool().clone();
    let held = source.next_frame(&token).unwrap().unwrap();
    // Every later number is starved while `held` is out: the stream ends.
    assert!(source.next_frame(&token).unwrap().is_none());
    let stats = pool.stats();
    // One frame produced; the three starved acquires are the pool's refusals.
    assert_eq!((stats.acquires, stats.exhausted), (1, 3));
    drop(held);
}

#[test]
fn a_waiting_source_stops_on_cancel() {
    let token = CancelToken::new();
    let mut source = SyntheticSource::builder(PixelFormat::Gray8, 64, 48)
        .buffers(1)
        .build()
        .unwrap();
    let held = source.next_frame(&token).unwrap().unwrap();
    let t2 = token.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        t2.cancel();
    });
    let start = Instant::now();
    let err = source.next_frame(&token).unwrap_err();
    assert!(err.is_stop(), "{err}");
    assert!(start.elapsed() < Duration::from_secs(1));
    canceller.join().unwrap();
    drop(held);
}

#[test]
fn rates_whose_period_the_clock_cannot_hold_are_errors_not_panics() {
    for fps in [1e-20, f64::MIN_POSITIVE, 0.0, -1.0, f64::NAN, f64::INFINITY] {
        let built = SyntheticSource::builder(PixelFormat::Gray8, 64, 48)
            .fps(fps)
            .build();
        assert!(
            matches!(built, Err(SyntheticError::BadFps(_))),
            "{fps}: {:?}",
            built.map(|_| ())
        );
    }
    // A slow but representable rate is fine: the first frame comes at once,
    // the next one is due in 30 million years, so a cancel ends the wait.
    let mut slow = SyntheticSource::builder(PixelFormat::Gray8, 64, 48)
        .fps(1e-15)
        .build()
        .unwrap();
    let token = CancelToken::new();
    let first = slow.next_frame(&token).unwrap().unwrap();
    drop(first);
    let t2 = token.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(20));
        t2.cancel();
    });
    assert!(matches!(
        slow.next_frame(&token),
        Err(StageError::Cancelled)
    ));
    canceller.join().unwrap();
}

#[test]
fn a_source_too_large_for_its_pool_is_an_error_not_an_abort() {
    let built = SyntheticSource::builder(PixelFormat::Bgr24, 100_000, 100_000).build();
    assert!(
        matches!(built, Err(SyntheticError::Pool(PoolError::TooLarge { .. }))),
        "{:?}",
        built.map(|_| ())
    );
}
