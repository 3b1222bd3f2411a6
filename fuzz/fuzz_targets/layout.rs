//! Frame layouts, ROIs, planes, rows, reshapes and copies (framekeep-core's public API),
//! driven by a byte string read as a little program: build a layout (any constructor, any
//! sizes, including ones whose byte count overflows), allocate a frame when it is small,
//! then apply a list of operations to the frame or to views of it.
//!
//! Invariants: no panic; a constructor accepts exactly the consistent layouts (its `len`
//! is what format, size and stride need); every view lies inside the bytes of the view
//! it was taken from, and its `data()` is `len()` long; `row(y)` is `row_bytes()` long
//! below the height and `None` past it; an ROI or plane outside the frame, a reshape to
//! a larger layout or of a shared frame, is a typed error; copies hold the same rows.
#![no_main]

use framekeep_core::frame::{Frame, FrameError, FrameLayout, PixelFormat};
use libfuzzer_sys::fuzz_target;

/// Largest frame allocated (bytes): layouts beyond are only built.
const MAX_BYTES: usize = 1 << 22;

/// Reads the program's bytes; zeros once they run out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn more(&self) -> bool {
        !self.0.is_empty()
    }

    /// A size: mostly small, sometimes anything (to reach the overflow checks).
    fn size(&mut self) -> usize {
        match self.byte() % 8 {
            0 => usize::from(self.byte()) << 8 | usize::from(self.byte()),
            1 => {
                let mut v = 0u64;
                for _ in 0..8 {
                    v = v << 8 | u64::from(self.byte());
                }
                v as usize
            }
            2 => usize::MAX - usize::from(self.byte()),
            _ => usize::from(self.byte() % 64),
        }
    }
}

fn layout(input: &mut Input) -> Result<FrameLayout, FrameError> {
    let format = PixelFormat::ALL[usize::from(input.byte()) % PixelFormat::ALL.len()];
    let (w, h) = (input.size(), input.size());
    match input.byte() % 4 {
        0 => FrameLayout::packed(format, w, h),
        1 => {
            let stride = input.size();
            FrameLayout::strided(format, w, h, stride)
        }
        2 => {
            let stride = input.size();
            FrameLayout::packed(format, w, h).and_then(|l| l.with_stride(stride))
        }
        _ => {
            let len = input.size();
            Ok(FrameLayout::mjpeg(w, h, len))
        }
    }
}

/// What a constructor must have checked.
fn check_layout(l: &FrameLayout) {
    if l.format() == PixelFormat::Mjpeg {
        assert_eq!(l.stride(), 0);
        return;
    }
    let bpp = l.format().bytes_per_pixel().expect("uncompressed");
    assert!(l.width() > 0 && l.height() > 0, "{l:?}");
    let row = l.width().checked_mul(bpp).expect("row overflow accepted");
    assert_eq!(l.row_bytes(), row);
    assert!(l.stride() >= row, "{l:?}");
    let rows = if l.format().is_planar_420() {
        assert!(l.width() % 2 == 0 && l.height() % 2 == 0, "{l:?}");
        l.height() + l.height() / 2
    } else {
        l.height()
    };
    if matches!(l.format(), PixelFormat::Yuyv | PixelFormat::Uyvy) {
        assert!(l.width() % 2 == 0, "{l:?}");
    }
    let len = l.stride().checked_mul(rows).expect("len overflow accepted");
    assert_eq!(l.len(), len, "{l:?}");
    assert!(len <= isize::MAX as usize);
    assert_eq!(l.is_contiguous(), l.stride() == row);
}

/// `view` lies inside `parent`'s bytes and its accessors agree with its layout.
fn check_view(parent: &Frame, view: &Frame) {
    let (p, v) = (parent.data(), view.data());
    assert_eq!(v.len(), view.layout().len());
    let (ps, vs) = (p.as_ptr() as usize, v.as_ptr() as usize);
    assert!(
        vs >= ps && vs + v.len() <= ps + p.len(),
        "a view outside its parent"
    );
    check_rows(view);
}

fn check_rows(f: &Frame) {
    let l = *f.layout();
    if l.format() == PixelFormat::Mjpeg {
        assert!(f.row(0).is_none());
        return;
    }
    for y in [0, l.height() / 2, l.height() - 1] {
        assert_eq!(
            f.row(y).map(<[u8]>::len),
            Some(l.row_bytes()),
            "row {y} of {l:?}"
        );
    }
    assert!(f.row(l.height()).is_none());
    assert!(f.row(usize::MAX).is_none());
}

fn same_rows(a: &Frame, b: &Frame) {
    assert_eq!(
        (a.width(), a.height(), a.format()),
        (b.width(), b.height(), b.format())
    );
    if a.format() == PixelFormat::Mjpeg {
        assert_eq!(a.data(), b.data());
        return;
    }
    for y in 0..a.height() {
        assert_eq!(a.row(y), b.row(y), "row {y}");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let l = match layout(&mut input) {
        Ok(l) => l,
        Err(_) => return,
    };
    check_layout(&l);
    if l.len() > MAX_BYTES {
        return;
    }
    let mut frame = match Frame::zeroed(l) {
        Ok(f) => f,
        Err(e) => panic!("a {}-byte frame: {e}", l.len()),
    };
    // Distinct bytes, so that views and copies can be compared.
    for (i, b) in frame.get_mut().expect("unique").iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    check_rows(&frame);
    let mut views: Vec<Frame> = Vec::new();
    let mut steps = 0;
    while input.more() && steps < 32 {
        steps += 1;
        // The frame an operation applies to: the frame itself or one of its views.
        let pick = usize::from(input.byte());
        let base = if views.is_empty() || pick % 3 == 0 {
            frame.clone()
        } else {
            views[pick % views.len()].clone()
        };
        match input.byte() % 6 {
            0 => {
                let (x, y, w, h) = (input.size(), input.size(), input.size(), input.size());
                let fits =
                    |a: usize, b: usize, max: usize| a.checked_add(b).is_some_and(|e| e <= max);
                let bl = base.layout();
                let inside = w > 0 && h > 0 && fits(x, w, bl.width()) && fits(y, h, bl.height());
                match base.roi(x, y, w, h) {
                    Ok(v) => {
                        assert!(inside, "roi {x},{y} {w}x{h} of {bl:?} accepted");
                        assert_eq!((v.width(), v.height(), v.format()), (w, h, bl.format()));
                        check_view(&base, &v);
                        let bpp = bl.format().bytes_per_pixel().expect("uncompressed");
                        for r in [0, h - 1] {
                            let row =
                                &base.row(y + r).expect("a row inside")[x * bpp..(x + w) * bpp];
                            assert_eq!(v.row(r), Some(row));
                        }
                        views.push(v);
                    }
                    Err(FrameError::RoiOutOfBounds { .. }) => assert!(!inside),
                    Err(
                        FrameError::Compressed(_)
                        | FrameError::PlanarRoi
                        | FrameError::OddSize { .. },
                    ) => {}
                    Err(e) => panic!("roi: unexpected {e:?}"),
                }
            }
            1 => {
                let index = usize::from(input.byte() % 4);
                match base.plane(index) {
                    Ok(v) => {
                        assert!(
                            index < base.format().planes(),
                            "plane {index} of {:?}",
                            base.layout()
                        );
                        check_view(&base, &v);
                        views.push(v);
                    }
                    Err(FrameError::NoSuchPlane { .. }) => {
                        assert!(index >= base.format().planes() || index > 0)
                    }
                    Err(e) => panic!("plane: unexpected {e:?}"),
                }
            }
            2 => {
                let y = input.size();
                let row = base.row(y);
                if y >= base.height() || base.format() == PixelFormat::Mjpeg {
                    assert!(row.is_none());
                } else {
                    assert_eq!(row.map(<[u8]>::len), Some(base.layout().row_bytes()));
                }
            }
            3 => {
                let copy = base.to_packed().expect("a small copy");
                assert!(copy.layout().is_contiguous());
                assert_eq!(copy.data().len(), copy.layout().len());
                same_rows(&base, &copy);
                let deep = base.deep_copy().expect("a small copy");
                same_rows(&base, &deep);
            }
            4 => {
                // Reshape the frame itself: refused while views share it.
                drop(base);
                if input.byte() % 2 == 0 {
                    views.clear();
                }
                let Ok(new) = layout(&mut input) else {
                    continue;
                };
                check_layout(&new);
                let shared = !frame.is_unique();
                let capacity = frame.buffer_capacity();
                match frame.reshape(new) {
                    Ok(()) => {
                        assert!(!shared && new.len() <= capacity, "{new:?} into {capacity}");
                        assert_eq!(frame.data().len(), new.len());
                        if !new.is_empty() {
                            check_rows(&frame);
                        }
                    }
                    Err(FrameError::Shared) => assert!(shared),
                    Err(FrameError::BufferTooSmall { .. }) => assert!(new.len() > capacity),
                    Err(e) => panic!("reshape: unexpected {e:?}"),
                }
            }
            _ => {
                if let Some(v) = views.pop() {
                    drop(v);
                }
            }
        }
    }
});
