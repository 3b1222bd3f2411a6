//! External buffers: memory framekeep does not own (a V4L2 mmap region, a
//! shared-memory sample), the public [`BufferHome`] trait of its owner, and
//! how the buffer slot's crate-private `ExternalHome` reaches that trait.

use std::sync::Arc;

use super::buffer::{send_home, Buffer, ExternalHome, Home};
use super::error::FrameError;
use super::handle::{Frame, FrameMeta};
use super::layout::FrameLayout;

/// The owner of external buffers (for example a V4L2 capture stream).
///
/// When the last frame handle on an [`ExternalBuffer`] drops, the buffer is
/// given back through [`BufferHome::recycle`]; the home then re-queues it to
/// the driver, or drops it. The home must keep the memory valid until every
/// `ExternalBuffer` it made has been dropped: each buffer holds an `Arc` to
/// its home, so keeping the mapping inside the home does exactly that.
pub trait BufferHome: Send + Sync + 'static {
    /// Takes back a buffer whose last frame handle has dropped.
    fn recycle(&self, buffer: ExternalBuffer);

    /// A unique, writable frame with a buffer of at least `bytes` bytes for a
    /// copy-on-write copy of one of this home's frames
    /// ([`Frame::make_mut`]), e.g. from a pool of the home's own; `None` (the
    /// default, and also a frame that is shared, read-only or a view) copies
    /// to the heap. Must not wait.
    fn copy_target(&self, bytes: usize) -> Option<Frame> {
        let _ = bytes;
        None
    }
}

/// A reusable slot over memory that framekeep does not own (e.g. a V4L2 mmap
/// buffer). Turn it into a [`Frame`] with [`ExternalBuffer::into_frame`];
/// it comes back to its [`BufferHome`] when that frame's last handle drops.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use framekeep_core::frame::{BufferHome, ExternalBuffer, FrameLayout, FrameMeta, PixelFormat};
///
/// /// Owns the memory and keeps the buffers that came back.
/// struct Home {
///     memory: Box<[u8]>,
///     back: Mutex<Vec<ExternalBuffer>>,
/// }
/// impl BufferHome for Home {
///     fn recycle(&self, buffer: ExternalBuffer) {
///         self.back.lock().unwrap().push(buffer);
///     }
/// }
///
/// let mut memory = vec![7u8; 16].into_boxed_slice();
/// let ptr = memory.as_mut_ptr();
/// let home = Arc::new(Home { memory, back: Mutex::new(Vec::new()) });
/// // SAFETY: the home owns the memory and outlives every buffer over it.
/// let buffer = unsafe { ExternalBuffer::new(ptr, 16, 0, home.clone()) };
/// let frame = buffer.into_frame(FrameLayout::packed(PixelFormat::Gray8, 4, 4)?, FrameMeta::default())?;
/// assert_eq!(frame.data(), &[7u8; 16][..]);
/// drop(frame);
/// assert_eq!(home.back.lock().unwrap().len(), 1);
/// # Ok::<(), framekeep_core::frame::FrameError>(())
/// ```
pub struct ExternalBuffer(pub(crate) Arc<Buffer>);

impl ExternalBuffer {
    /// Wraps `len` bytes at `ptr`, slot number `index` of `home`.
    ///
    /// # Safety
    /// `ptr..ptr+len` must stay valid for reads and writes until this buffer
    /// (and every frame made from it) has been dropped — the `home` is kept
    /// alive that long, so memory owned by the home qualifies — and nothing
    /// but framekeep may write to it while a frame over it is alive.
    pub unsafe fn new<H: BufferHome>(
        ptr: *mut u8,
        len: usize,
        index: usize,
        home: Arc<H>,
    ) -> ExternalBuffer {
        // SAFETY: the caller upholds `Buffer::external`'s contract, which is this one.
        let buffer = unsafe { Buffer::external(ptr, len, index, Home::External(home), true) };
        ExternalBuffer(Arc::new(buffer))
    }

    /// Wraps `len` bytes at `ptr` that others read too (a shared-memory
    /// sample): frames over it are never writable in place, not even a unique
    /// one ([`Frame::get_mut`] returns `None`, [`Frame::make_mut`] copies).
    ///
    /// # Safety
    /// `ptr..ptr+len` must stay valid for reads until this buffer (and every
    /// frame made from it) has been dropped, and must not change while a
    /// frame over it is alive.
    pub unsafe fn new_read_only<H: BufferHome>(
        ptr: *const u8,
        len: usize,
        index: usize,
        home: Arc<H>,
    ) -> ExternalBuffer {
        // SAFETY: as for `new`, minus writes: the buffer is marked read-only,
        // so no `&mut` to this memory is ever made.
        let buffer =
            unsafe { Buffer::external(ptr.cast_mut(), len, index, Home::External(home), false) };
        ExternalBuffer(Arc::new(buffer))
    }

    /// The slot number given at creation.
    pub fn index(&self) -> usize {
        self.0.index
    }

    /// Capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.0.capacity()
    }

    /// The buffer's bytes (read-only: the home may look at a buffer it holds).
    pub fn bytes(&self) -> &[u8] {
        self.0.bytes(0, self.0.capacity())
    }
}

impl std::fmt::Debug for ExternalBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalBuffer")
            .field("index", &self.0.index)
            .field("capacity", &self.0.capacity())
            .finish()
    }
}

impl ExternalBuffer {
    /// Turns this buffer into a frame with one handle. When its last handle
    /// drops, the buffer goes back to its [`super::BufferHome`].
    pub fn into_frame(self, layout: FrameLayout, meta: FrameMeta) -> Result<Frame, FrameError> {
        if layout.len() > self.0.capacity() {
            let capacity = self.0.capacity();
            // Nothing is lost on a bad layout: the buffer goes straight home.
            send_home(self.0);
            return Err(FrameError::BufferTooSmall {
                needed: layout.len(),
                capacity,
            });
        }
        Ok(Frame::arm(self.0, layout, meta))
    }
}

/// Every public home, as buffers see it.
impl<H: BufferHome> ExternalHome for H {
    fn give_back(&self, buffer: Arc<Buffer>) {
        self.recycle(ExternalBuffer(buffer));
    }

    fn copy_target(&self, bytes: usize) -> Option<Arc<Buffer>> {
        BufferHome::copy_target(self, bytes)?.into_unique_buffer(bytes)
    }
}
