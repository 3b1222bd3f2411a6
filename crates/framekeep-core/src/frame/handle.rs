//! [`Frame`]: the refcounted handle ("smart tensor") over a buffer slot.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::buffer::{Buffer, Handle, Home, UniqueProof, Wait};
use super::error::FrameError;
use super::layout::FrameLayout;
use super::pixel::PixelFormat;
use crate::cancel::CancelToken;

/// Per-frame metadata that travels with every handle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FrameMeta {
    /// Sequence number (the driver's for captured frames).
    pub sequence: u64,
    /// Capture time on the monotonic clock (`CLOCK_MONOTONIC`).
    pub timestamp: Duration,
}

/// A cheap-to-clone handle to a pixel buffer plus its layout and metadata.
///
/// Clones share the buffer. When the last handle drops (or is
/// [`release`](Frame::release)d) the buffer goes back where it came from: its
/// pool, its driver queue, or the allocator. A view ([`Frame::roi`],
/// [`Frame::plane`]) is just another handle with another offset and layout,
/// so it keeps the whole buffer alive.
///
/// Pixels are mutable only through a unique handle ([`Frame::get_mut`]) or
/// after copy-on-write ([`Frame::make_mut`]), so a reader never sees a torn
/// write; using a released frame is impossible because `release` consumes it.
///
/// ```
/// use framekeep_core::frame::{Frame, FrameLayout, PixelFormat};
///
/// let layout = FrameLayout::packed(PixelFormat::Gray8, 4, 2)?;
/// let mut frame = Frame::from_vec(layout, vec![0; 8])?;
/// frame.get_mut().unwrap()[0] = 9;          // the only handle: writable in place
/// let view = frame.roi(0, 0, 2, 1)?;        // a second handle on the same buffer
/// assert!(frame.get_mut().is_none());       // shared now: no in-place writes
/// frame.make_mut()?[1] = 5;                 // copy-on-write: `frame` gets its own copy
/// assert_eq!(view.data(), &[9, 0][..]);     // the view still sees the old pixels
/// assert_eq!(frame.data()[..2], [9, 5]);
/// # Ok::<(), framekeep_core::frame::FrameError>(())
/// ```
pub struct Frame {
    buf: Handle,
    offset: usize,
    layout: FrameLayout,
    meta: FrameMeta,
}

impl Frame {
    /// Arms a buffer whose handle count is zero (fresh, or just taken from a
    /// free list) as a frame with one handle.
    #[inline(always)]
    pub(crate) fn arm(buf: Arc<Buffer>, layout: FrameLayout, meta: FrameMeta) -> Frame {
        debug_assert!(layout.len() <= buf.capacity());
        Frame {
            buf: Handle::first(buf),
            offset: 0,
            layout,
            meta,
        }
    }

    /// A frame over `data` with no pool: the memory is freed on last drop.
    pub fn from_vec(layout: FrameLayout, data: Vec<u8>) -> Result<Frame, FrameError> {
        // `alloc_orphan` refuses data shorter than the layout.
        let mut frame = Frame::alloc_orphan(layout, data.len())?;
        let dst = frame.get_mut().ok_or(FrameError::Shared)?;
        dst.copy_from_slice(&data[..dst.len()]);
        Ok(frame)
    }

    /// A zeroed frame with no pool. The allocation is fallible: a size the
    /// allocator refuses is [`FrameError::OutOfMemory`], not an abort.
    pub fn zeroed(layout: FrameLayout) -> Result<Frame, FrameError> {
        Frame::alloc_orphan(layout, layout.len())
    }

    fn alloc_orphan(layout: FrameLayout, cap: usize) -> Result<Frame, FrameError> {
        if cap < layout.len() {
            return Err(FrameError::BufferTooSmall {
                needed: layout.len(),
                capacity: cap,
            });
        }
        let buf = Arc::new(Buffer::heap(cap, layout, Home::Orphan, 0, 0, false)?);
        Ok(Frame::arm(buf, layout, FrameMeta::default()))
    }

    /// The layout of this view.
    pub fn layout(&self) -> &FrameLayout {
        &self.layout
    }
    /// Pixel format.
    pub fn format(&self) -> PixelFormat {
        self.layout.format()
    }
    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.layout.width()
    }
    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.layout.height()
    }
    /// Bytes between row starts.
    pub fn stride(&self) -> usize {
        self.layout.stride()
    }
    /// Metadata (sequence, timestamp).
    pub fn meta(&self) -> FrameMeta {
        self.meta
    }
    /// Sequence number.
    pub fn sequence(&self) -> u64 {
        self.meta.sequence
    }
    /// Capture timestamp.
    pub fn timestamp(&self) -> Duration {
        self.meta.timestamp
    }
    /// Replaces the metadata of this handle (other handles keep theirs).
    pub fn set_meta(&mut self, meta: FrameMeta) {
        self.meta = meta;
    }

    /// The lease id of the pool checkout behind this frame (0 when not pooled).
    pub fn lease_id(&self) -> u64 {
        self.buf.lease.id()
    }

    /// Bytes of the buffer behind this frame (may exceed the view).
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Number of handles sharing the buffer (views included).
    pub fn handle_count(&self) -> usize {
        self.buf.handles.load(Ordering::Acquire)
    }

    /// Whether this is the only handle on its buffer.
    pub fn is_unique(&self) -> bool {
        self.handle_count() == 1
    }

    /// Whether the pixels may ever be written in place: false for frames over
    /// read-only shared memory ([`ExternalBuffer::new_read_only`](super::ExternalBuffer::new_read_only)), which
    /// [`make_mut`](Self::make_mut) always copies.
    pub fn is_writable(&self) -> bool {
        self.buf.writable
    }

    /// Pointer to the first byte of this view, for zero-copy adapters (OpenCV
    /// Mat views). Valid for [`FrameLayout::len`] bytes while this handle lives.
    pub fn as_ptr(&self) -> *const u8 {
        self.data().as_ptr()
    }

    /// Whether two handles share one buffer.
    pub fn shares_buffer_with(&self, other: &Frame) -> bool {
        self.buf.same_buffer(&other.buf)
    }

    /// The bytes of this view, from its first pixel to its last (rows `stride` apart).
    #[inline]
    pub fn data(&self) -> &[u8] {
        self.buf.bytes(self.offset, self.layout.len())
    }

    /// Row `y` of plane 0 (visible pixels only), or `None` past the last row
    /// (and for MJPEG, which has no rows).
    pub fn row(&self, y: usize) -> Option<&[u8]> {
        let l = &self.layout;
        if y >= l.height() || l.format() == PixelFormat::Mjpeg {
            return None;
        }
        let start = y * l.stride();
        self.data().get(start..start + l.row_bytes())
    }

    /// Mutable pixels, only if this handle is the only one on the buffer
    /// (and the buffer is not read-only shared memory).
    #[inline]
    pub fn get_mut(&mut self) -> Option<&mut [u8]> {
        // Acquire pairs with the Release decrement of handles that dropped, so
        // their reads happen before our writes (as in `Arc::get_mut`).
        if self.buf.handles.load(Ordering::Acquire) != 1 || !self.buf.writable {
            return None;
        }
        let mut proof = UniqueProof::checked();
        Some(
            self.buf
                .bytes_mut(self.offset, self.layout.len(), &mut proof),
        )
    }

    /// Mutable pixels, never waiting: a unique handle writes in place; a
    /// shared one first becomes a copy of this view (packed) so that the other
    /// handles keep the old pixels. The copy comes from the frame's pool when
    /// it has one, which must have an idle buffer now
    /// ([`FrameError::PoolDry`] otherwise: use
    /// [`make_mut_until`](Self::make_mut_until) to wait), and from the heap
    /// otherwise (V4L2 buffers, `Vec` frames).
    pub fn make_mut(&mut self) -> Result<&mut [u8], FrameError> {
        self.make_unique(Wait::No)
    }

    /// Like [`make_mut`](Self::make_mut), but a copy may wait for a buffer of
    /// the frame's pool, up to the pool's acquire timeout or until `token` is
    /// cancelled ([`FrameError::Cancelled`]).
    pub fn make_mut_until(&mut self, token: &CancelToken) -> Result<&mut [u8], FrameError> {
        self.make_unique(Wait::Until(token))
    }

    fn make_unique(&mut self, wait: Wait<'_>) -> Result<&mut [u8], FrameError> {
        if !self.is_unique() || !self.buf.writable {
            *self = self.copy(wait)?;
        }
        self.get_mut().ok_or(FrameError::Shared)
    }

    /// A new unique frame with the same pixels, layout and metadata, packed
    /// (an ROI view becomes a tight full frame), without waiting: from the
    /// frame's pool if it has one and an idle buffer ([`FrameError::PoolDry`]
    /// otherwise), else from the heap.
    pub fn deep_copy(&self) -> Result<Frame, FrameError> {
        self.copy(Wait::No)
    }

    /// Like [`deep_copy`](Self::deep_copy), waiting for a pool buffer as
    /// [`make_mut_until`](Self::make_mut_until) does.
    pub fn deep_copy_until(&self, token: &CancelToken) -> Result<Frame, FrameError> {
        self.copy(Wait::Until(token))
    }

    /// A packed copy of this view on the heap, whatever its origin (no pool is
    /// asked, nothing waits): for handing pixels to code that needs them
    /// contiguous, such as an OpenCV call on a padded frame.
    pub fn to_packed(&self) -> Result<Frame, FrameError> {
        let layout = self.packed_layout();
        let buf = Buffer::heap(layout.len(), layout, Home::Orphan, 0, 0, false)?;
        Ok(self.fill_copy(Frame::arm(Arc::new(buf), layout, self.meta)))
    }

    fn copy(&self, wait: Wait<'_>) -> Result<Frame, FrameError> {
        let layout = self.packed_layout();
        let heap = || Buffer::heap(layout.len(), layout, Home::Orphan, 0, 0, false);
        let target = match &self.buf.home {
            Home::Recycler { home, .. } => {
                Frame::arm(home.copy_target(layout, wait)?, layout, self.meta)
            }
            Home::External(home) => match home.copy_target(layout.len()) {
                Some(buf) => Frame::arm(buf, layout, self.meta),
                None => Frame::arm(Arc::new(heap()?), layout, self.meta),
            },
            Home::Orphan => Frame::arm(Arc::new(heap()?), layout, self.meta),
        };
        Ok(self.fill_copy(target))
    }

    /// The buffer of this frame, for a copy target: only when this is the only
    /// handle, the buffer is writable, the view starts at its first byte and
    /// it holds `bytes`; `None` drops the frame (it goes home).
    pub(crate) fn into_unique_buffer(self, bytes: usize) -> Option<Arc<Buffer>> {
        let fits = self.is_unique()
            && self.buf.writable
            && self.offset == 0
            && self.buf.capacity() >= bytes;
        fits.then(|| self.buf.into_buffer())
    }

    /// Copies this view's pixels into `out`, a fresh unique, writable frame
    /// with this view's packed layout (every caller makes it so).
    fn fill_copy(&self, out: Frame) -> Frame {
        let layout = out.layout;
        let mut proof = UniqueProof::checked();
        debug_assert!(out.is_unique() && out.is_writable());
        let dst = out.buf.bytes_mut(out.offset, layout.len(), &mut proof);
        copy_rows(self, &layout, dst);
        out
    }

    fn packed_layout(&self) -> FrameLayout {
        let l = self.layout;
        match l.format() {
            PixelFormat::Mjpeg => l,
            f => FrameLayout::packed(f, l.width(), l.height()).unwrap_or(l),
        }
    }

    /// A rectangular view sharing this buffer. Offsets are relative to this view.
    pub fn roi(
        &self,
        x: usize,
        y: usize,
        width: usize,
        height: usize,
    ) -> Result<Frame, FrameError> {
        let l = &self.layout;
        let bpp = match l.format() {
            PixelFormat::Mjpeg => return Err(FrameError::Compressed(l.format())),
            f if f.is_planar_420() => return Err(FrameError::PlanarRoi),
            f => f.bytes_per_pixel().unwrap_or(1),
        };
        let fits = |a: usize, b: usize, max: usize| a.checked_add(b).is_some_and(|end| end <= max);
        if width == 0 || height == 0 || !fits(x, width, l.width()) || !fits(y, height, l.height()) {
            return Err(FrameError::RoiOutOfBounds {
                x,
                y,
                width,
                height,
                frame_width: l.width(),
                frame_height: l.height(),
            });
        }
        if matches!(l.format(), PixelFormat::Yuyv | PixelFormat::Uyvy)
            && (x % 2 != 0 || width % 2 != 0)
        {
            return Err(FrameError::OddSize {
                format: l.format(),
                width,
                height,
            });
        }
        // Inside the parent view (checked above), so inside its bytes.
        let len = l.stride() * (height - 1) + width * bpp;
        let layout = FrameLayout::view(l.format(), width, height, l.stride(), len);
        Ok(self.view(self.offset + y * l.stride() + x * bpp, layout))
    }

    /// Plane `index` of a planar frame as its own view (NV12: 0 = Y as GRAY8,
    /// 1 = interleaved UV as [`PixelFormat::Uv88`] at half size; I420: 0 = Y,
    /// 1 = U, 2 = V, all GRAY8, the chroma planes at half size with half the
    /// stride). Plane 0 of a packed frame is the frame itself.
    pub fn plane(&self, index: usize) -> Result<Frame, FrameError> {
        let l = &self.layout;
        // Planar layouts are always full frames (no ROIs), so their planes lie
        // inside `len` as `FrameLayout::strided` computed it.
        let (stride, width, height) = (l.stride(), l.width(), l.height());
        match (l.format(), index) {
            (PixelFormat::Nv12 | PixelFormat::I420, 0) => {
                let layout =
                    FrameLayout::view(PixelFormat::Gray8, width, height, stride, stride * height);
                Ok(self.view(self.offset, layout))
            }
            (PixelFormat::Nv12, 1) => {
                let h = height / 2;
                let layout = FrameLayout::view(PixelFormat::Uv88, width / 2, h, stride, stride * h);
                Ok(self.view(self.offset + stride * height, layout))
            }
            (PixelFormat::I420, 1 | 2) => {
                let (w, h, chroma_stride) = (width / 2, height / 2, stride / 2);
                let layout =
                    FrameLayout::view(PixelFormat::Gray8, w, h, chroma_stride, chroma_stride * h);
                let offset = stride * height + (index - 1) * chroma_stride * h;
                Ok(self.view(self.offset + offset, layout))
            }
            (_, 0) => Ok(self.clone()),
            (format, index) => Err(FrameError::NoSuchPlane { format, index }),
        }
    }

    fn view(&self, offset: usize, layout: FrameLayout) -> Frame {
        let mut v = self.clone();
        v.offset = offset;
        v.layout = layout;
        v
    }

    /// Reinterprets a unique frame's buffer with another layout (e.g. the size
    /// an MJPEG frame really used, or a format change), without copying.
    pub fn reshape(&mut self, layout: FrameLayout) -> Result<(), FrameError> {
        if !self.is_unique() {
            return Err(FrameError::Shared);
        }
        if self
            .offset
            .checked_add(layout.len())
            .is_none_or(|end| end > self.buf.capacity())
        {
            return Err(FrameError::BufferTooSmall {
                needed: layout.len(),
                capacity: self.buf.capacity().saturating_sub(self.offset),
            });
        }
        self.layout = layout;
        Ok(())
    }

    /// Drops this handle. Reads better than `drop(frame)` at the end of a
    /// consumer; does exactly the same.
    pub fn release(self) {}
}

/// Copies the visible rows of `src` into `dst` laid out as `layout` (packed).
fn copy_rows(src: &Frame, layout: &FrameLayout, dst: &mut [u8]) {
    let l = src.layout();
    if l.stride() == layout.stride() || l.format() == PixelFormat::Mjpeg {
        let n = dst.len().min(src.data().len());
        dst[..n].copy_from_slice(&src.data()[..n]);
        return;
    }
    let data = src.data();
    let (width, height) = (l.width(), l.height());
    if l.format() == PixelFormat::I420 {
        // Three planes; the chroma planes' rows are half a luma row apart.
        let (cw, ch) = (width / 2, height / 2);
        let (ss, ds) = (l.stride() / 2, layout.stride() / 2);
        copy_plane(data, l.stride(), dst, layout.stride(), width, height);
        for i in 0..2 {
            let s = l.stride() * height + i * ss * ch;
            let d = layout.stride() * height + i * ds * ch;
            copy_plane(&data[s..], ss, &mut dst[d..], ds, cw, ch);
        }
        return;
    }
    let rows = if l.format() == PixelFormat::Nv12 {
        height + height / 2
    } else {
        height
    };
    copy_plane(
        data,
        l.stride(),
        dst,
        layout.stride(),
        layout.row_bytes(),
        rows,
    );
}

/// Copies `rows` rows of `row` bytes, `src_stride` apart in `src`, to
/// `dst_stride` apart in `dst`.
fn copy_plane(
    src: &[u8],
    src_stride: usize,
    dst: &mut [u8],
    dst_stride: usize,
    row: usize,
    rows: usize,
) {
    for y in 0..rows {
        let s = y * src_stride;
        let d = y * dst_stride;
        dst[d..d + row].copy_from_slice(&src[s..s + row]);
    }
}

impl Clone for Frame {
    fn clone(&self) -> Frame {
        Frame {
            buf: self.buf.clone(),
            offset: self.offset,
            layout: self.layout,
            meta: self.meta,
        }
    }
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("format", &self.layout.format())
            .field("width", &self.layout.width())
            .field("height", &self.layout.height())
            .field("stride", &self.layout.stride())
            .field("sequence", &self.meta.sequence)
            .field("handles", &self.handle_count())
            .finish()
    }
}
