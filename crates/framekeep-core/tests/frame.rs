//! Frames: sharing, views, copy-on-write, external buffers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use framekeep_core::frame::{
    BufferHome, ExternalBuffer, Frame, FrameError, FrameLayout, FrameMeta, PixelFormat,
};
use framekeep_core::pool::{Exhausted, PoolOptions};
use proptest::prelude::*;

fn numbered(layout: FrameLayout) -> Frame {
    let data: Vec<u8> = (0..layout.len()).map(|i| (i % 251) as u8).collect();
    Frame::from_vec(layout, data).unwrap()
}

#[test]
fn frames_are_send_and_sync() {
    fn check<T: Send + Sync + Clone>() {}
    check::<Frame>();
}

#[test]
fn layouts_check_their_sizes() {
    assert!(matches!(
        FrameLayout::packed(PixelFormat::Bgr24, 0, 4),
        Err(FrameError::EmptySize { .. })
    ));
    assert!(matches!(
        FrameLayout::packed(PixelFormat::Yuyv, 3, 4),
        Err(FrameError::OddSize { .. })
    ));
    assert!(matches!(
        FrameLayout::packed(PixelFormat::Nv12, 4, 3),
        Err(FrameError::OddSize { .. })
    ));
    assert!(matches!(
        FrameLayout::strided(PixelFormat::Bgr24, 4, 4, 11),
        Err(FrameError::StrideTooSmall {
            stride: 11,
            min: 12
        })
    ));
    assert!(matches!(
        FrameLayout::packed(PixelFormat::Mjpeg, 4, 4),
        Err(FrameError::Compressed(_))
    ));
    assert!(matches!(
        FrameLayout::packed(PixelFormat::Bgr24, usize::MAX / 2, 2),
        Err(FrameError::TooLarge { .. })
    ));
    let nv12 = FrameLayout::packed(PixelFormat::Nv12, 8, 4).unwrap();
    assert_eq!(nv12.len(), 8 * 4 + 8 * 2);
    for (w, h) in [(3, 4), (4, 3)] {
        assert!(matches!(
            FrameLayout::packed(PixelFormat::I420, w, h),
            Err(FrameError::OddSize { .. })
        ));
    }
    assert!(matches!(
        FrameLayout::strided(PixelFormat::I420, 4, 4, 5),
        Err(FrameError::OddStride { stride: 5, .. })
    ));
    assert!(matches!(
        FrameLayout::packed(PixelFormat::I420, usize::MAX / 2 + 1, 2),
        Err(FrameError::TooLarge { .. })
    ));
    assert!(matches!(
        FrameLayout::packed(PixelFormat::I420, 2, usize::MAX - 1),
        Err(FrameError::TooLarge { .. })
    ));
    // Y 8x6, then U and V 4x3 each with rows 4 bytes apart.
    let i420 = FrameLayout::packed(PixelFormat::I420, 8, 6).unwrap();
    assert_eq!((i420.stride(), i420.len()), (8, 8 * 6 + 2 * 4 * 3));
    let i420 = FrameLayout::strided(PixelFormat::I420, 6, 6, 10).unwrap();
    assert_eq!(i420.len(), 10 * 6 + 2 * 5 * 3);
    assert_eq!(PixelFormat::I420.planes(), 3);
    assert_eq!(PixelFormat::I420.fourcc(), *b"YU12");
    let padded = FrameLayout::strided(PixelFormat::Bgr24, 5, 3, 16).unwrap();
    assert_eq!(
        (padded.stride(), padded.len(), padded.row_bytes()),
        (16, 48, 15)
    );
    for f in PixelFormat::ALL {
        assert_eq!(PixelFormat::from_fourcc(f.fourcc()), Some(f));
    }
}

#[test]
fn clones_share_and_get_mut_needs_uniqueness() {
    let layout = FrameLayout::packed(PixelFormat::Gray8, 4, 2).unwrap();
    let mut a = Frame::zeroed(layout).unwrap();
    a.get_mut().unwrap()[0] = 7;
    let b = a.clone();
    assert!(a.shares_buffer_with(&b));
    assert_eq!(a.handle_count(), 2);
    assert!(a.get_mut().is_none(), "shared frames must not be writable");
    drop(b);
    assert!(a.get_mut().is_some());
    assert_eq!(a.data()[0], 7);
}

#[test]
fn make_mut_copies_only_when_shared() {
    let layout = FrameLayout::packed(PixelFormat::Gray8, 4, 2).unwrap();
    let mut a = numbered(layout);
    let p = a.as_ptr();
    a.make_mut().unwrap()[0] = 99;
    assert_eq!(a.as_ptr(), p, "a unique frame is written in place");

    let reader = a.clone();
    a.make_mut().unwrap()[0] = 42;
    assert_ne!(
        a.as_ptr(),
        reader.as_ptr(),
        "a shared frame is copied first"
    );
    assert_eq!(
        reader.data()[0],
        99,
        "the other handle keeps the old pixels"
    );
    assert_eq!(a.data()[0], 42);
    assert_eq!(&a.data()[1..], &reader.data()[1..]);
}

#[test]
fn make_mut_of_a_pooled_frame_copies_into_the_pool() {
    let layout = FrameLayout::packed(PixelFormat::Gray8, 8, 8).unwrap();
    let pool = PoolOptions::new(layout)
        .min_buffers(2)
        .max_buffers(2)
        .exhausted(Exhausted::FailFast)
        .build()
        .unwrap();
    let mut a = pool.acquire("test").unwrap();
    let keep = a.clone();
    a.make_mut().unwrap()[0] = 1;
    assert_eq!(pool.stats().checked_out, 2);
    assert_eq!(pool.stats().created, 2, "the copy came from the pool");
    drop((a, keep));
    assert!(pool.wait_idle(std::time::Duration::from_secs(1)));
}

#[test]
fn roi_reads_the_right_pixels_with_padded_strides() {
    let layout = FrameLayout::strided(PixelFormat::Bgr24, 6, 4, 20).unwrap();
    let f = numbered(layout);
    let roi = f.roi(2, 1, 3, 2).unwrap();
    assert_eq!(roi.stride(), 20);
    assert_eq!(roi.row(0).unwrap(), &f.data()[20 + 6..20 + 6 + 9]);
    assert_eq!(roi.row(1).unwrap(), &f.data()[40 + 6..40 + 6 + 9]);
    assert!(roi.row(2).is_none());
    // An ROI of an ROI is relative to its parent.
    let inner = roi.roi(1, 1, 1, 1).unwrap();
    assert_eq!(inner.data(), &f.data()[40 + 9..40 + 12]);
}

#[test]
fn bad_rois_are_errors_not_panics() {
    let f = numbered(FrameLayout::packed(PixelFormat::Bgr24, 6, 4).unwrap());
    assert!(matches!(
        f.roi(5, 0, 2, 1),
        Err(FrameError::RoiOutOfBounds { .. })
    ));
    assert!(matches!(
        f.roi(0, 3, 1, 2),
        Err(FrameError::RoiOutOfBounds { .. })
    ));
    assert!(matches!(
        f.roi(usize::MAX, 0, 2, 1),
        Err(FrameError::RoiOutOfBounds { .. })
    ));
    assert!(matches!(
        f.roi(0, 0, 0, 1),
        Err(FrameError::RoiOutOfBounds { .. })
    ));
    let yuyv = numbered(FrameLayout::packed(PixelFormat::Yuyv, 6, 4).unwrap());
    assert!(matches!(
        yuyv.roi(1, 0, 2, 1),
        Err(FrameError::OddSize { .. })
    ));
    let nv12 = numbered(FrameLayout::packed(PixelFormat::Nv12, 6, 4).unwrap());
    assert!(matches!(nv12.roi(0, 0, 2, 2), Err(FrameError::PlanarRoi)));
    assert!(matches!(nv12.plane(2), Err(FrameError::NoSuchPlane { .. })));
    let i420 = numbered(FrameLayout::packed(PixelFormat::I420, 6, 4).unwrap());
    assert!(matches!(i420.roi(0, 0, 2, 2), Err(FrameError::PlanarRoi)));
    assert!(matches!(i420.plane(3), Err(FrameError::NoSuchPlane { .. })));
    let jpeg = Frame::from_vec(FrameLayout::mjpeg(6, 4, 3), vec![1, 2, 3]).unwrap();
    assert!(matches!(
        jpeg.roi(0, 0, 1, 1),
        Err(FrameError::Compressed(_))
    ));
    assert_eq!(jpeg.data(), &[1, 2, 3]);
}

#[test]
fn nv12_planes_are_views() {
    let layout = FrameLayout::strided(PixelFormat::Nv12, 4, 4, 8).unwrap();
    let f = numbered(layout);
    let y = f.plane(0).unwrap();
    let uv = f.plane(1).unwrap();
    assert_eq!(
        (y.format(), y.width(), y.height()),
        (PixelFormat::Gray8, 4, 4)
    );
    assert_eq!(
        (uv.format(), uv.width(), uv.height()),
        (PixelFormat::Uv88, 2, 2)
    );
    assert_eq!(uv.row(0).unwrap(), &f.data()[32..36]);
    assert_eq!(uv.row(1).unwrap(), &f.data()[40..44]);
    assert!(uv.shares_buffer_with(&f));
}

#[test]
fn i420_planes_are_views() {
    // Y: 4 rows of 4 pixels, 8 bytes apart (0..32); U: 2x2, rows 4 bytes
    // apart (32..40); V: 2x2 (40..48).
    let layout = FrameLayout::strided(PixelFormat::I420, 4, 4, 8).unwrap();
    assert_eq!(layout.len(), 48);
    let f = numbered(layout);
    let y = f.plane(0).unwrap();
    let u = f.plane(1).unwrap();
    let v = f.plane(2).unwrap();
    assert_eq!(
        (y.format(), y.width(), y.height(), y.stride()),
        (PixelFormat::Gray8, 4, 4, 8)
    );
    assert_eq!(y.row(3).unwrap(), &f.data()[24..28]);
    for (plane, base) in [(&u, 32), (&v, 40)] {
        assert_eq!(
            (
                plane.format(),
                plane.width(),
                plane.height(),
                plane.stride()
            ),
            (PixelFormat::Gray8, 2, 2, 4)
        );
        assert_eq!(plane.row(0).unwrap(), &f.data()[base..base + 2]);
        assert_eq!(plane.row(1).unwrap(), &f.data()[base + 4..base + 6]);
        assert!(plane.row(2).is_none());
        assert!(plane.shares_buffer_with(&f));
    }
    assert_eq!(v.data().as_ptr_range().end, f.data().as_ptr_range().end);
}

#[test]
fn a_padded_i420_frame_copies_packed_plane_by_plane() {
    let layout = FrameLayout::strided(PixelFormat::I420, 4, 6, 10).unwrap();
    let f = numbered(layout);
    let copy = f.deep_copy().unwrap();
    assert_eq!(
        *copy.layout(),
        FrameLayout::packed(PixelFormat::I420, 4, 6).unwrap()
    );
    for i in 0..3 {
        let (a, b) = (f.plane(i).unwrap(), copy.plane(i).unwrap());
        assert_eq!((a.width(), a.height()), (b.width(), b.height()));
        for r in 0..a.height() {
            assert_eq!(a.row(r), b.row(r), "plane {i} row {r}");
        }
    }
}

#[test]
fn views_keep_the_buffer_alive() {
    let layout = FrameLayout::packed(PixelFormat::Gray8, 8, 8).unwrap();
    let pool = PoolOptions::new(layout)
        .min_buffers(1)
        .max_buffers(1)
        .exhausted(Exhausted::FailFast)
        .build()
        .unwrap();
    let frame = pool.acquire("owner").unwrap();
    let roi = frame.roi(1, 1, 2, 2).unwrap();
    frame.release();
    assert_eq!(
        pool.stats().checked_out,
        1,
        "the ROI still holds the buffer"
    );
    assert!(pool.try_acquire("other").is_err());
    drop(roi);
    assert_eq!(pool.stats().checked_out, 0);
    assert!(pool.try_acquire("other").is_ok());
}

#[test]
fn reshape_needs_uniqueness_and_room() {
    let mut f = Frame::zeroed(FrameLayout::packed(PixelFormat::Bgr24, 4, 4).unwrap()).unwrap();
    f.reshape(FrameLayout::packed(PixelFormat::Gray8, 8, 6).unwrap())
        .unwrap();
    assert_eq!(f.width(), 8);
    assert!(matches!(
        f.reshape(FrameLayout::packed(PixelFormat::Gray8, 8, 7).unwrap()),
        Err(FrameError::BufferTooSmall { .. })
    ));
    let g = f.clone();
    assert!(matches!(
        f.reshape(FrameLayout::packed(PixelFormat::Gray8, 2, 2).unwrap()),
        Err(FrameError::Shared)
    ));
    drop(g);
    // A layout whose length overflows past the view's offset (an MJPEG
    // length can be anything) is an error too, not a wrapped check and a
    // panic later.
    let mut view = f.roi(1, 1, 2, 2).unwrap();
    drop(f);
    let huge = FrameLayout::mjpeg(2, 2, usize::MAX);
    assert!(matches!(
        view.reshape(huge),
        Err(FrameError::BufferTooSmall { .. })
    ));
    assert_eq!(view.data().len(), view.layout().len());
}

#[derive(Default)]
struct CountingHome {
    back: AtomicUsize,
    held: std::sync::Mutex<Vec<ExternalBuffer>>,
}

impl BufferHome for CountingHome {
    fn recycle(&self, buffer: ExternalBuffer) {
        self.back.fetch_add(1, Ordering::SeqCst);
        self.held.lock().unwrap().push(buffer);
    }
}

#[test]
fn external_buffers_go_home_once_on_last_drop() {
    let home = Arc::new(CountingHome::default());
    let mut memory = vec![5u8; 64].into_boxed_slice();
    // SAFETY: `memory` outlives every frame of this test (dropped at the end,
    // after the home has given back the buffer).
    let buf = unsafe { ExternalBuffer::new(memory.as_mut_ptr(), memory.len(), 3, home.clone()) };
    assert_eq!(buf.index(), 3);
    let layout = FrameLayout::packed(PixelFormat::Gray8, 8, 8).unwrap();
    let meta = FrameMeta {
        sequence: 9,
        timestamp: std::time::Duration::from_millis(5),
    };
    let f = buf.into_frame(layout, meta).unwrap();
    assert_eq!((f.sequence(), f.data()[0]), (9, 5));
    let views = (f.clone(), f.roi(0, 0, 2, 2).unwrap());
    drop(f);
    assert_eq!(home.back.load(Ordering::SeqCst), 0);
    drop(views);
    assert_eq!(home.back.load(Ordering::SeqCst), 1);

    // A layout that does not fit is refused, and the buffer still goes home.
    let again = home.held.lock().unwrap().pop().unwrap();
    let big = FrameLayout::packed(PixelFormat::Gray8, 9, 8).unwrap();
    assert!(matches!(
        again.into_frame(big, meta),
        Err(FrameError::BufferTooSmall { .. })
    ));
    assert_eq!(home.back.load(Ordering::SeqCst), 2);
    home.held.lock().unwrap().clear();
    drop(memory);
}

proptest! {
    #[test]
    fn roi_rows_match_the_parent(
        w in 1usize..24, h in 1usize..24, pad in 0usize..9, fmt in 0usize..4,
        x in 0usize..24, y in 0usize..24, rw in 1usize..24, rh in 1usize..24,
    ) {
        let format = [PixelFormat::Gray8, PixelFormat::Bgr24, PixelFormat::Rgb24, PixelFormat::Bgra32][fmt];
        let bpp = format.bytes_per_pixel().unwrap();
        let layout = FrameLayout::strided(format, w, h, w * bpp + pad).unwrap();
        let f = numbered(layout);
        match f.roi(x, y, rw, rh) {
            Ok(roi) => {
                prop_assert!(x + rw <= w && y + rh <= h);
                for r in 0..rh {
                    let start = (y + r) * layout.stride() + x * bpp;
                    prop_assert_eq!(roi.row(r).unwrap(), &f.data()[start..start + rw * bpp]);
                }
            }
            Err(e) => {
                prop_assert!(x + rw > w || y + rh > h, "refused a valid ROI: {}", e);
            }
        }
    }
}

#[test]
fn formats_and_sizes_parse_from_text() {
    use framekeep_core::frame::{FrameError, FrameSize};
    assert_eq!("YUYV".parse::<PixelFormat>(), Ok(PixelFormat::Yuyv));
    assert_eq!("yuyv".parse::<PixelFormat>(), Ok(PixelFormat::Yuyv));
    assert_eq!("bgr24".parse::<PixelFormat>(), Ok(PixelFormat::Bgr24));
    assert_eq!("GREY".parse::<PixelFormat>(), Ok(PixelFormat::Gray8));
    assert_eq!("MJPG".parse::<PixelFormat>(), Ok(PixelFormat::Mjpeg));
    assert_eq!("YU12".parse::<PixelFormat>(), Ok(PixelFormat::I420));
    assert_eq!("i420".parse::<PixelFormat>(), Ok(PixelFormat::I420));
    for f in PixelFormat::ALL {
        assert_eq!(
            f.to_string().parse::<PixelFormat>(),
            Ok(f),
            "fourcc round trip"
        );
    }
    assert!(matches!(
        "ZZZZ".parse::<PixelFormat>(),
        Err(FrameError::UnknownFormat(_))
    ));
    assert!(matches!(
        "".parse::<PixelFormat>(),
        Err(FrameError::UnknownFormat(_))
    ));
    assert_eq!(
        "640x480".parse::<FrameSize>(),
        Ok(FrameSize {
            width: 640,
            height: 480
        })
    );
    assert_eq!(
        " 1920X1080 ".parse::<FrameSize>().unwrap().to_string(),
        "1920x1080"
    );
    for bad in [
        "640by480",
        "0x480",
        "640x",
        "x",
        "-1x2",
        "99999999999999999999999x1",
    ] {
        assert!(
            matches!(bad.parse::<FrameSize>(), Err(FrameError::BadSize(_))),
            "{bad}"
        );
    }
}

#[test]
fn heap_buffers_of_a_page_or_more_are_page_aligned() {
    // A driver given pool memory as V4L2 USERPTR may require page alignment.
    for (w, h) in [(64, 64), (641, 480), (1920, 1080)] {
        let layout = FrameLayout::packed(PixelFormat::Bgr24, w, h).unwrap();
        let frame = Frame::zeroed(layout).unwrap();
        assert_eq!(frame.as_ptr() as usize % 4096, 0, "{w}x{h}");
        let pool = PoolOptions::new(layout).min_buffers(1).build().unwrap();
        let pooled = pool.acquire("aligned").unwrap();
        assert_eq!(pooled.as_ptr() as usize % 4096, 0, "{w}x{h} pooled");
    }
    let small = Frame::zeroed(FrameLayout::packed(PixelFormat::Gray8, 8, 8).unwrap()).unwrap();
    assert_eq!(small.as_ptr() as usize % 64, 0);
}

/// A home over read-only memory that lends copy targets from a pool of its own.
struct SharedMemoryHome {
    back: AtomicUsize,
    local: framekeep_core::pool::FramePool,
}

impl BufferHome for SharedMemoryHome {
    fn recycle(&self, _buffer: ExternalBuffer) {
        self.back.fetch_add(1, Ordering::SeqCst);
    }

    fn copy_target(&self, bytes: usize) -> Option<Frame> {
        assert!(bytes <= 16);
        self.local.try_acquire("local copy").ok()
    }
}

#[test]
fn read_only_external_frames_are_never_written_and_copy_into_the_homes_pool() {
    let layout = FrameLayout::packed(PixelFormat::Gray8, 4, 4).unwrap();
    let local = PoolOptions::new(layout)
        .min_buffers(1)
        .max_buffers(1)
        .exhausted(Exhausted::FailFast)
        .build()
        .unwrap();
    let home = Arc::new(SharedMemoryHome {
        back: AtomicUsize::new(0),
        local: local.clone(),
    });
    let memory = vec![5u8; 16];
    // SAFETY: `memory` outlives every frame made here and is never written.
    let buf = unsafe { ExternalBuffer::new_read_only(memory.as_ptr(), 16, 0, home.clone()) };
    let mut frame = buf.into_frame(layout, FrameMeta::default()).unwrap();
    assert!(frame.is_unique());
    assert!(!frame.is_writable());
    assert!(frame.get_mut().is_none(), "unique, but read-only");
    // make_mut copies into the home's own pool, and the sample goes home.
    frame.make_mut().unwrap()[0] = 9;
    assert!(frame.is_writable());
    assert_eq!(home.back.load(Ordering::SeqCst), 1);
    assert_eq!(
        local.leases().len(),
        1,
        "the copy is a lease of the local pool"
    );
    assert_eq!(&frame.data()[..2], &[9, 5]);
    assert_eq!(memory, vec![5u8; 16], "the shared memory is untouched");
    drop(frame);
    // With the local pool dry the copy goes to the heap.
    let _held = local.try_acquire("hold").unwrap();
    // SAFETY: as above.
    let buf = unsafe { ExternalBuffer::new_read_only(memory.as_ptr(), 16, 1, home.clone()) };
    let frame = buf.into_frame(layout, FrameMeta::default()).unwrap();
    let copy = frame.deep_copy().unwrap();
    assert_eq!(copy.data(), frame.data());
    assert!(copy.is_writable());
}

/// 100000 x 100000 BGR: 30 GB, more than this machine (or the allocator) will
/// give: an error naming the size, never an abort.
#[test]
fn a_frame_too_large_for_memory_is_an_error_not_an_abort() {
    let layout = FrameLayout::packed(PixelFormat::Bgr24, 100_000, 100_000).unwrap();
    match Frame::zeroed(layout) {
        Err(FrameError::OutOfMemory { bytes }) => assert_eq!(bytes, 30_000_000_000),
        // A machine with that much memory to overcommit may hand it out (lazily).
        Ok(frame) => assert_eq!(frame.data().len(), 30_000_000_000),
        Err(other) => panic!("unexpected {other}"),
    }
    assert!(matches!(
        FrameLayout::packed(PixelFormat::Bgr24, usize::MAX / 4, 8),
        Err(FrameError::TooLarge { .. })
    ));
}

proptest! {
    /// Every layout a frame can have is consistent with its bytes: no row, ROI,
    /// plane or data access of a valid frame panics, whatever the sizes.
    #[test]
    fn no_view_of_a_valid_frame_panics(
        format in prop::sample::select(PixelFormat::ALL.to_vec()),
        w in 1usize..70,
        h in 1usize..70,
        pad in 0usize..9,
        x in 0usize..80,
        y in 0usize..80,
        rw in 0usize..80,
        rh in 0usize..80,
    ) {
        let Some(bpp) = format.bytes_per_pixel() else { return Ok(()) };
        let Ok(layout) = FrameLayout::strided(format, w, h, w * bpp + pad) else { return Ok(()) };
        let frame = Frame::zeroed(layout).unwrap();
        for row in 0..h + 2 {
            if let Some(r) = frame.row(row) {
                prop_assert_eq!(r.len(), layout.row_bytes());
            }
        }
        if let Ok(roi) = frame.roi(x, y, rw, rh) {
            prop_assert!(roi.data().len() <= frame.data().len());
            for row in 0..rh + 1 {
                let _ = roi.row(row);
            }
            let _ = roi.deep_copy().unwrap();
        }
        for p in 0..4 {
            if let Ok(plane) = frame.plane(p) {
                let _ = plane.data();
                let _ = plane.row(plane.height() - 1).unwrap();
            }
        }
        // Deserialised layouts are checked like built ones.
        let json = serde_json::to_string(&layout).unwrap();
        prop_assert_eq!(serde_json::from_str::<FrameLayout>(&json).unwrap(), layout);
    }
}

#[test]
fn a_deserialised_layout_is_validated() {
    // `len` 10 for 100x100 GRAY8: refused, not trusted.
    let bad = r#"{"format":"Gray8","width":100,"height":100,"stride":100,"len":10}"#;
    assert!(serde_json::from_str::<FrameLayout>(bad).is_err());
    let odd = r#"{"format":"Yuyv","width":3,"height":2,"stride":6,"len":12}"#;
    assert!(serde_json::from_str::<FrameLayout>(odd).is_err());
}
