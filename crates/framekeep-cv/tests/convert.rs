//! BGR conversions against OpenCV's own allocating calls, and error paths that release all.

use std::time::Duration;

use framekeep_core::frame::{Frame, FrameLayout, PixelFormat};
use framekeep_core::ledger::{Kind, LeakCheck};
use framekeep_core::pool::PoolOptions;
use framekeep_cv::convert::{bgr_code, BgrConverter};
use framekeep_cv::mat::{MatView, TrackedMat};
use framekeep_cv::{testing, CvError};
use opencv::core::{Mat, Size, Vector};
use opencv::imgcodecs::{imdecode, imencode, IMREAD_COLOR};
use opencv::imgproc::{cvt_color_def, resize, INTER_AREA};
use opencv::prelude::*;

fn patterned(layout: FrameLayout) -> Frame {
    let data: Vec<u8> = (0..layout.len()).map(|i| (i * 13 + i / 97) as u8).collect();
    Frame::from_vec(layout, data).unwrap()
}

fn bytes(m: &impl MatTraitConst) -> Vec<u8> {
    m.try_clone().unwrap().data_bytes().unwrap().to_vec()
}

/// The largest per-byte difference of two equally long images (`None`: lengths differ).
fn max_diff(a: &[u8], b: &[u8]) -> Option<u8> {
    (a.len() == b.len()).then(|| {
        a.iter()
            .zip(b)
            .map(|(x, y)| x.abs_diff(*y))
            .max()
            .unwrap_or(0)
    })
}

fn converter() -> BgrConverter {
    let layout = FrameLayout::packed(PixelFormat::Bgr24, 64, 48).unwrap();
    let pool = PoolOptions::new(layout)
        .min_buffers(1)
        .max_buffers(2)
        .acquire_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    BgrConverter::new(pool)
}

#[test]
fn conversions_match_opencv_on_the_same_data() {
    let check = LeakCheck::new();
    let conv = converter();
    for format in [
        PixelFormat::Gray8,
        PixelFormat::Rgb24,
        PixelFormat::Bgra32,
        PixelFormat::Yuyv,
        PixelFormat::Uyvy,
        PixelFormat::Nv12,
    ] {
        let packed = FrameLayout::packed(format, 64, 48).unwrap();
        let layout = packed.with_stride(packed.stride() + 32).unwrap();
        let src = patterned(layout);
        let out = conv.convert(&src).unwrap();
        assert_eq!(out.format(), PixelFormat::Bgr24);
        assert_eq!((out.width(), out.height()), (64, 48));
        assert_eq!(out.meta(), src.meta());
        // NV12 here has padded rows, so it goes through cvtColor too: exact. (Unpadded
        // NV12 goes through yuvutils-rs: nv12_is_within_one_of_cvtcolor.)
        assert_eq!(
            bytes(&MatView::new(&out).unwrap()),
            opencv_to_bgr(&src),
            "{format}"
        );
    }
    assert_eq!(conv.pool().stats().checked_out, 0);
    let bgr = patterned(FrameLayout::packed(PixelFormat::Bgr24, 64, 48).unwrap());
    let same = conv.convert(&bgr).unwrap();
    assert!(
        same.shares_buffer_with(&bgr),
        "BGR input is passed through without a copy"
    );
    drop((same, bgr));
    check.finish().unwrap();
}

/// OpenCV's own BGR conversion of an I420 frame, from its planes gathered by hand
/// (Y rows `stride` apart, then U and V rows `stride / 2` apart) into the packed
/// layout OpenCV expects.
fn opencv_i420_to_bgr(src: &Frame) -> Mat {
    let (w, h, stride) = (src.width(), src.height(), src.stride());
    let d = src.data();
    let mut packed = Vec::new();
    for r in 0..h {
        packed.extend_from_slice(&d[r * stride..][..w]);
    }
    for plane in 0..2 {
        let base = stride * h + plane * (stride / 2) * (h / 2);
        for r in 0..h / 2 {
            packed.extend_from_slice(&d[base + r * stride / 2..][..w / 2]);
        }
    }
    let mat = Mat::from_slice(&packed).unwrap();
    let mat = mat.reshape(1, (h * 3 / 2) as i32).unwrap();
    let mut expected = Mat::default();
    cvt_color_def(&mat, &mut expected, opencv::imgproc::COLOR_YUV2BGR_I420).unwrap();
    expected
}

#[test]
fn i420_converts_like_opencv_packed_or_padded() {
    let check = LeakCheck::new();
    let conv = converter();
    // 64x48 and 64x46 (h % 4 == 2: OpenCV's V plane starts mid-row).
    for (h, pad) in [(48, 0), (48, 32), (46, 0), (46, 6)] {
        let layout = FrameLayout::strided(PixelFormat::I420, 64, h, 64 + pad).unwrap();
        let src = patterned(layout);
        let out = conv.convert(&src).unwrap();
        assert_eq!(
            (out.format(), out.width(), out.height()),
            (PixelFormat::Bgr24, 64, h)
        );
        assert_eq!(out.meta(), src.meta());
        let expected = opencv_i420_to_bgr(&src);
        assert_eq!(
            bytes(&MatView::new(&out).unwrap()),
            bytes(&expected),
            "64x{h} pad {pad}"
        );
        let resized = conv.convert_resized(&src, 32, 24).unwrap();
        let mut small = Mat::default();
        resize(
            &expected,
            &mut small,
            Size::new(32, 24),
            0.0,
            0.0,
            INTER_AREA,
        )
        .unwrap();
        assert_eq!(
            bytes(&MatView::new(&resized).unwrap()),
            bytes(&small),
            "resized 64x{h} pad {pad}"
        );
        drop((out, resized));
        // The U and V planes are not mixed up: U only moves blue, V only red.
        let mut yellow = src.deep_copy().unwrap();
        let buf = yellow.get_mut().unwrap();
        buf.fill(0);
        let (y, u) = (64 * h, 64 * h / 4);
        buf[..y].fill(210);
        buf[y..y + u].fill(16);
        buf[y + u..].fill(146);
        let bgr = conv.convert(&yellow).unwrap();
        let px = &bgr.data()[..3];
        assert!(px[0] < 40 && px[1] > 200 && px[2] > 200, "yellow: {px:?}");
        drop(bgr);
    }
    assert_eq!(conv.pool().stats().checked_out, 0);
    check.finish().unwrap();
}

#[test]
fn mjpeg_decodes_into_the_pooled_frame() {
    let check = LeakCheck::new();
    let conv = converter();
    let bgr = patterned(FrameLayout::packed(PixelFormat::Bgr24, 64, 48).unwrap());
    let mut jpeg = Vector::<u8>::new();
    imencode(
        ".jpg",
        &MatView::new(&bgr).unwrap(),
        &mut jpeg,
        &Vector::new(),
    )
    .unwrap();
    let jpeg = jpeg.to_vec();
    let frame = Frame::from_vec(FrameLayout::mjpeg(64, 48, jpeg.len()), jpeg.clone()).unwrap();
    let out = conv.convert(&frame).unwrap();
    let expected = imdecode(&jpeg.as_slice(), IMREAD_COLOR).unwrap();
    assert_eq!(bytes(&MatView::new(&out).unwrap()), bytes(&expected));
    // A JPEG of another size than announced is refused, and nothing stays out.
    let lie = Frame::from_vec(FrameLayout::mjpeg(32, 24, jpeg.len()), jpeg).unwrap();
    assert!(matches!(
        conv.convert(&lie),
        Err(CvError::Corrupt {
            reason: framekeep_cv::convert::Corruption::Size { .. },
            ..
        })
    ));
    let garbage = Frame::from_vec(FrameLayout::mjpeg(64, 48, 100), vec![1; 100]).unwrap();
    assert!(conv.convert(&garbage).is_err());
    drop(out);
    assert_eq!(conv.pool().stats().checked_out, 0);
    check.finish().unwrap();
}

#[test]
fn resized_conversion_matches_opencv() {
    let check = LeakCheck::new();
    let conv = converter();
    let src = patterned(FrameLayout::packed(PixelFormat::Yuyv, 128, 96).unwrap());
    let out = conv.convert_resized(&src, 64, 48).unwrap();
    let mut bgr = Mat::default();
    cvt_color_def(
        &MatView::new(&src).unwrap(),
        &mut bgr,
        opencv::imgproc::COLOR_YUV2BGR_YUYV,
    )
    .unwrap();
    let mut expected = Mat::default();
    resize(&bgr, &mut expected, Size::new(64, 48), 0.0, 0.0, INTER_AREA).unwrap();
    assert_eq!(bytes(&MatView::new(&out).unwrap()), bytes(&expected));
    drop(out);
    check.finish().unwrap();
}

/// Fails the helper at each of its Mats in turn (source view, intermediate, output
/// view): every time, the error comes back and nothing it made stays alive.
#[test]
fn failing_half_way_releases_every_mat_and_frame() {
    let check = LeakCheck::new();
    let conv = converter();
    let src = patterned(FrameLayout::packed(PixelFormat::Yuyv, 128, 96).unwrap());
    for at in 1..=3 {
        let before = check.leaks().len();
        let guard = testing::fail_at_mat(at);
        let result = conv.convert_resized(&src, 64, 48);
        drop(guard);
        assert!(
            matches!(result, Err(CvError::Injected(n)) if n == at),
            "at {at}: {result:?}"
        );
        assert_eq!(check.leaks().len(), before, "at {at}: {:?}", check.leaks());
        assert_eq!(conv.pool().stats().checked_out, 0, "at {at}");
        assert!(check.leaks().iter().all(|e| e.kind != Kind::MAT));
    }
    // The fourth Mat is past the helper: it succeeds with the injection armed.
    let guard = testing::fail_at_mat(4);
    let ok = conv.convert_resized(&src, 64, 48).unwrap();
    let extra = TrackedMat::empty("fourth");
    assert!(matches!(extra, Err(CvError::Injected(4))));
    drop((guard, ok));
    // Same for the simple conversion through cvtColor (source view, output view). (YUYV
    // and UYVY make no Mat there: see yuyv_is_bit_exact_with_cvtcolor_on_every_triple.)
    let i420 = patterned(FrameLayout::packed(PixelFormat::I420, 128, 96).unwrap());
    for at in 1..=2 {
        let _guard = testing::fail_at_mat(at);
        assert!(conv.convert(&i420).is_err());
        assert_eq!(conv.pool().stats().checked_out, 0);
    }
    drop((src, i420));
    check.finish().unwrap();
}

#[test]
fn unsupported_formats_are_typed_errors() {
    let check = LeakCheck::new();
    let conv = converter();
    let nv12 = patterned(FrameLayout::packed(PixelFormat::Nv12, 64, 48).unwrap());
    let uv = nv12.plane(1).unwrap();
    assert!(matches!(
        conv.convert(&uv),
        Err(CvError::Unsupported { .. })
    ));
    assert_eq!(conv.pool().stats().checked_out, 0);
    drop((uv, nv12));
    check.finish().unwrap();
}

#[test]
fn a_converter_is_a_pipeline_stage() {
    use std::sync::{Arc, Mutex};

    use framekeep_core::pipeline::{Link, PipelineBuilder, Sink, StageError, SyntheticSource};
    use framekeep_core::testing::decode_counter;

    /// Keeps the last frame it consumed. Not a display's recording stand-in:
    /// that one records only where no display is reachable, so on a desktop
    /// (or under Xvfb) this test used to find nothing recorded.
    struct KeepLast(Arc<Mutex<Option<Frame>>>);
    impl Sink for KeepLast {
        fn consume(&mut self, frame: &Frame) -> Result<(), StageError> {
            *self.0.lock().unwrap() = Some(frame.clone());
            Ok(())
        }
    }

    let check = LeakCheck::new();
    let source = SyntheticSource::builder(PixelFormat::Nv12, 64, 48)
        .frames(12)
        .build()
        .unwrap();
    let kept = Arc::new(Mutex::new(None));
    let pipeline = PipelineBuilder::new("convert")
        .source("pattern", source)
        .stage("bgr", Link::block(2), converter())
        .sink("keep", Link::block(2), KeepLast(Arc::clone(&kept)))
        .start()
        .unwrap();
    assert!(pipeline.wait(Duration::from_secs(20)));
    let report = pipeline.shutdown();
    assert!(report.is_clean(), "{report}");
    let last = kept.lock().unwrap().take().expect("the sink kept a frame");
    assert_eq!(last.format(), PixelFormat::Bgr24);
    assert_eq!(decode_counter(&last), Some(11));
    drop(last);
    check.finish_within(Duration::from_secs(5)).unwrap();
}

/// NV12 frames of `width x height` (row stride `stride`) from a luma and a chroma function.
fn nv12(
    width: usize,
    height: usize,
    stride: usize,
    y: impl Fn(usize, usize) -> u8,
    uv: impl Fn(usize, usize) -> (u8, u8),
) -> Frame {
    let layout = FrameLayout::strided(PixelFormat::Nv12, width, height, stride).unwrap();
    let mut d = vec![0u8; layout.len()];
    for r in 0..height {
        for c in 0..width {
            d[r * stride + c] = y(c, r);
        }
    }
    for r in 0..height / 2 {
        for c in 0..width / 2 {
            let (u, v) = uv(c, r);
            d[stride * height + r * stride + 2 * c] = u;
            d[stride * height + r * stride + 2 * c + 1] = v;
        }
    }
    Frame::from_vec(layout, d).unwrap()
}

/// OpenCV's own answer: `cvtColor` (the code [`bgr_code`] gives for `src`'s format) of a
/// packed deep copy of `src`, allocating.
fn opencv_to_bgr(src: &Frame) -> Vec<u8> {
    let packed = MatView::new(src).unwrap().try_clone().unwrap();
    let mut expected = Mat::default();
    cvt_color_def(&packed, &mut expected, bgr_code(src.format()).unwrap()).unwrap();
    bytes(&expected)
}

/// The NV12 path (yuvutils-rs, `Professional`) against OpenCV's own conversion: within ±1
/// per byte on every chroma pair with varied luma, luma extremes (0..16 and 235..255, where
/// OpenCV clamps luma to 16 first), camera-like colour bars with noise, full-range noise
/// and small sizes; padded rows (cvtColor's path) are exact.
#[test]
fn nv12_is_within_one_of_cvtcolor() {
    let check = LeakCheck::new();
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 24) as u8
    };
    let noise: Vec<u8> = (0..3 * 640 * 480).map(|_| rand()).collect();
    // vivid's 100% colour bars (BT.601 limited range Y, Cb, Cr).
    const BARS: [[u8; 3]; 8] = [
        [235, 128, 128],
        [210, 16, 146],
        [170, 166, 16],
        [145, 54, 34],
        [106, 202, 222],
        [81, 90, 240],
        [41, 240, 110],
        [16, 128, 128],
    ];
    let jitter = |v: u8, n: u8| (i32::from(v) + i32::from(n % 9) - 4).clamp(0, 255) as u8;
    let cases: Vec<(&str, Frame)> = vec![
        (
            "every (U, V) pair, luma sweeping",
            nv12(
                512,
                512,
                512,
                |c, r| ((c + 7 * r) % 256) as u8,
                |c, r| (c as u8, r as u8),
            ),
        ),
        (
            "every (U, V) pair, luma 0..16 and 235..255",
            nv12(
                512,
                512,
                544,
                |c, r| {
                    if (c + r) % 2 == 0 {
                        (c % 17) as u8
                    } else {
                        235 + (r % 21) as u8
                    }
                },
                |c, r| (r as u8, c as u8),
            ),
        ),
        (
            "colour bars with noise",
            nv12(
                640,
                480,
                640,
                |c, r| jitter(BARS[c * 8 / 640][0], noise[r * 640 + c]),
                |c, r| {
                    let b = BARS[c * 2 * 8 / 640];
                    let k = 640 * 480 + r * 320 + c;
                    (
                        jitter(b[1], noise[k]),
                        jitter(b[2], noise[2 * k % noise.len()]),
                    )
                },
            ),
        ),
        (
            "full-range noise, padded rows",
            nv12(
                320,
                240,
                352,
                |c, r| noise[r * 320 + c],
                |c, r| (noise[100_000 + r * 160 + c], noise[200_000 + r * 160 + c]),
            ),
        ),
        ("2x2", nv12(2, 2, 2, |_, _| 200, |_, _| (40, 220))),
        (
            "66x34, padded",
            nv12(
                66,
                34,
                80,
                |c, r| (c * r) as u8,
                |c, r| ((c * 3) as u8, (r * 5) as u8),
            ),
        ),
    ];
    for (name, src) in &cases {
        let layout = FrameLayout::packed(PixelFormat::Bgr24, src.width(), src.height()).unwrap();
        let conv = BgrConverter::new(
            PoolOptions::new(layout)
                .min_buffers(1)
                .max_buffers(1)
                .build()
                .unwrap(),
        );
        let out = conv.convert(src).unwrap();
        assert_eq!(
            (out.format(), out.width(), out.height(), out.meta()),
            (PixelFormat::Bgr24, src.width(), src.height(), src.meta())
        );
        let got = bytes(&MatView::new(&out).unwrap());
        let want = opencv_to_bgr(src);
        let off = got.iter().zip(&want).filter(|(a, b)| a != b).count();
        assert!(
            max_diff(&got, &want).is_some_and(|d| d <= 1),
            "{name}: max difference {:?} ({off} bytes differ)",
            max_diff(&got, &want)
        );
        // Mostly exact: a difference of one is a rounding step, not a different matrix.
        assert!(
            off * 10 < got.len(),
            "{name}: {off} of {} bytes differ",
            got.len()
        );
        drop(out);
        assert_eq!(conv.pool().stats().checked_out, 0);
    }
    check.finish().unwrap();
}

/// A packed 4:2:2 frame holding every (Y, U, V) triple once: row `U·256 + V`, pixel pair
/// `k` is (Y0 = 2k, Y1 = 2k + 1) with that row's U and V; `stride_pad` bytes after each row.
fn every_triple(format: PixelFormat, stride_pad: usize) -> Frame {
    let (w, h) = (256usize, 65536usize);
    let packed = FrameLayout::packed(format, w, h).unwrap();
    let layout = packed.with_stride(packed.stride() + stride_pad).unwrap();
    let mut data = vec![0u8; layout.len()];
    for (r, row) in data.chunks_mut(layout.stride()).enumerate() {
        let (u, v) = ((r >> 8) as u8, r as u8);
        for (k, px) in row[..2 * w].chunks_exact_mut(4).enumerate() {
            let (y0, y1) = (2 * k as u8, 2 * k as u8 + 1);
            px.copy_from_slice(&match format {
                PixelFormat::Yuyv => [y0, u, y1, v],
                _ => [u, y0, v, y1],
            });
        }
    }
    Frame::from_vec(layout, data).unwrap()
}

/// YUYV and UYVY go through framekeep's own conversion (src/yuv.rs): bit-exact with
/// `cvtColor` on all 2^24 (Y, U, V) triples, with packed and padded rows, and on frames
/// of random bytes whose width is not a multiple of the 16-pixel block.
#[test]
fn yuyv_is_bit_exact_with_cvtcolor_on_every_triple() {
    let check = LeakCheck::new();
    for format in [PixelFormat::Yuyv, PixelFormat::Uyvy] {
        for pad in [0, 24] {
            let src = every_triple(format, pad);
            let conv = BgrConverter::with_size(src.width(), src.height(), 1).unwrap();
            let out = conv.convert(&src).unwrap();
            let got = bytes(&MatView::new(&out).unwrap());
            let expected = opencv_to_bgr(&src);
            let wrong = got.iter().zip(&expected).filter(|(a, b)| a != b).count();
            assert_eq!(wrong, 0, "{format}, row padding {pad}: bytes differ");
            assert_eq!(got.len(), expected.len());
        }
        // Random bytes, widths around the block size, odd strides.
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for (w, h) in [(2, 1), (14, 3), (16, 2), (18, 5), (46, 7), (640, 3)] {
            let packed = FrameLayout::packed(format, w, h).unwrap();
            let layout = packed.with_stride(packed.stride() + 6).unwrap();
            let data: Vec<u8> = (0..layout.len())
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed >> 24) as u8
                })
                .collect();
            let src = Frame::from_vec(layout, data).unwrap();
            let conv = BgrConverter::with_size(w, h, 1).unwrap();
            let out = conv.convert(&src).unwrap();
            assert_eq!(
                bytes(&MatView::new(&out).unwrap()),
                opencv_to_bgr(&src),
                "{format} {w}x{h}"
            );
        }
    }
    check.finish().unwrap();
}
