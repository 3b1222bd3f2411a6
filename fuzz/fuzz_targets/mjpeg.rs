//! MJPEG → BGR: `framekeep_jpeg::inspect`, framekeep-cv's strict decoder (`decode_jpeg`)
//! and `BgrConverter::convert` on an MJPEG frame. The input is the frame's bytes; its
//! length decides whether the frame announces the size the JPEG's header gives or
//! another one (the driver's negotiated size, which a broken camera may not keep).
//!
//! Invariants: no crash, abort or panic; `inspect` accepts only data whose end marker
//! lies inside it and whose size is not empty; the converter hands out a frame only for a
//! JPEG that `inspect` and the strict decoder both accept, of the announced size, with
//! exactly the pixels a fresh decode gives (never what its pool's buffer held before: the
//! buffer is painted first), otherwise a typed error, counted as corrupt when the data is;
//! after either, every pool buffer is back.
#![no_main]

use framekeep_core::frame::{Frame, FrameLayout, FrameMeta, PixelFormat};
use framekeep_cv::convert::{decode_jpeg, BgrConverter, JpegColor};
use framekeep_cv::CvError;
use libfuzzer_sys::fuzz_target;

/// Largest image decoded (pixels): bigger ones are only inspected, so that one input
/// costs milliseconds and a few MB.
const MAX_PIXELS: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let info = match framekeep_jpeg::inspect(data) {
        Ok(info) => info,
        Err(_) => {
            convert_announced(data, 16, 16, false);
            return;
        }
    };
    assert!(info.len <= data.len() && info.len >= 4, "{info:?}");
    assert_eq!(&data[info.len - 2..info.len], &[0xFF, 0xD9], "{info:?}");
    assert!(info.width > 0 && info.height > 0, "{info:?}");
    if info.width.saturating_mul(info.height) > MAX_PIXELS {
        return;
    }
    // A broken camera may send a frame of another size than it announced.
    let (w, h) = if data.len() % 7 == 3 {
        (info.width + 2, info.height)
    } else {
        (info.width, info.height)
    };
    convert_announced(data, w, h, true);
});

/// Converts `data` as an MJPEG frame announced as `w x h`.
fn convert_announced(data: &[u8], w: usize, h: usize, inspected: bool) {
    let converter = BgrConverter::with_size(w, h, 1).expect("a small converter");
    // Paint the pool's only buffer, so a stale output would show.
    {
        let mut f = converter.pool().acquire("fuzz-paint").expect("acquire");
        f.get_mut().expect("unique").fill(0xA5);
    }
    let layout = FrameLayout::mjpeg(w, h, data.len());
    let mut src = match Frame::from_vec(layout, data.to_vec()) {
        Ok(src) => src,
        // An empty buffer is not a frame (no driver hands one out).
        Err(_) if data.is_empty() => return,
        Err(e) => panic!("an MJPEG frame of {} bytes: {e}", data.len()),
    };
    let meta = FrameMeta {
        sequence: 7,
        timestamp: std::time::Duration::from_millis(1234),
    };
    src.set_meta(meta);
    let result = converter.convert(&src);
    match &result {
        Ok(out) => {
            assert!(inspected, "converted data inspect refuses");
            assert_eq!(out.format(), PixelFormat::Bgr24);
            assert_eq!((out.width(), out.height()), (w, h));
            assert_eq!(out.meta(), meta);
            assert_eq!(out.data().len(), out.layout().len());
            // Exactly what a fresh decode into zeroed memory gives.
            let stride = out.stride();
            let mut fresh = vec![0u8; stride * h];
            let info = decode_jpeg(data, JpegColor::Bgr, &mut fresh, stride)
                .expect("the converter accepted data the decoder refuses");
            assert_eq!((info.width, info.height), (w, h));
            assert!(
                out.data() == &fresh[..out.data().len()],
                "stale or partial pixels"
            );
            assert_eq!(converter.corrupt(), 0);
        }
        Err(CvError::Corrupt { what, .. }) => {
            assert!(what.contains("MJPEG frame 7"), "{what}");
            assert_eq!(converter.corrupt(), 1);
        }
        Err(e) => panic!("an MJPEG frame gave an error that is not Corrupt: {e}"),
    }
    drop(result);
    let stats = converter.pool().stats();
    assert_eq!(stats.checked_out, 0, "{stats:?}");
}
