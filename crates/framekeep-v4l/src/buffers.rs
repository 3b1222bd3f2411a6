//! [`CaptureBuffers`]: where a `V4L2_MEMORY_USERPTR` stream gets the memory the driver fills.
//!
//! With [`StreamOptions::user_buffers`](crate::StreamOptions::user_buffers) the stream asks
//! its supplier for a frame per driver buffer it queues, lends that frame's whole buffer to
//! the driver, and delivers the dequeued frame itself (zero copy). Where the driver refuses
//! user memory the stream copies each frame out of its mmap buffers into a supplier frame
//! instead (see [`BufferMode`](crate::BufferMode)).

use framekeep_core::frame::{Frame, FrameError, FrameLayout};
use framekeep_core::pool::{AcquireError, FramePool};

use crate::error::{CaptureError, Result};

/// Where a USERPTR stream gets the memory the driver fills.
///
/// The stream calls it from its capture thread: once per buffer it queues at start, then
/// once after each dequeue for the slot the delivered frame leaves empty (and, while the
/// supplier is dry, again on later calls). Delivered frames are the supplier's: when their
/// last handle drops they go back wherever the supplier's frames go (a [`FramePool`]: its
/// idle list), never to the stream.
///
/// An error of the supplier is returned by the [`next_frame`](crate::CaptureStream::next_frame)
/// call that asked (by the following call when it asked right after a dequeue, so that the
/// dequeued frame is delivered) and counted in [`StreamStats::errors`](crate::StreamStats::errors).
///
/// A supplier should have at least the stream's buffer count plus the frames the
/// application holds at once plus one: with fewer, the driver has fewer buffers queued
/// (and drops frames when it has none), which the stream survives.
///
/// The memory must stay where it is while the stream runs: the stream picks the V4L2
/// buffer index by address so that the driver maps each buffer's memory once, and a driver
/// re-maps an index only when its address changes. Memory freed and mapped again at the
/// same address in the meantime (a pool that frees idle buffers and allocates new ones)
/// would keep receiving frames into the old pages. Pools that keep their buffers (a
/// [`FramePool`], an iceoryx2 publisher's static data segment) qualify.
///
/// ```no_run
/// use framekeep_core::frame::{FrameLayout, PixelFormat};
/// use framekeep_core::pool::FramePool;
/// use framekeep_v4l::{BufferMode, CaptureStream, FormatRequest, FourCc, StreamOptions};
///
/// // 4 queued in the driver + up to 3 held by the application + 1.
/// let pool = FramePool::options(FrameLayout::packed(PixelFormat::Yuyv, 1280, 720)?)
///     .max_buffers(8)
///     .build()?;
/// let opts = StreamOptions::new()
///     .format(FormatRequest::new(FourCc::YUYV, 1280, 720))
///     .user_buffers(pool.clone());
/// let mut stream = CaptureStream::open("/dev/video0", opts)?;
/// assert_eq!(stream.negotiated().memory, BufferMode::UserPtr); // MmapCopy if refused
/// let frame = stream.next_frame()?; // a frame of `pool`, filled by the driver
/// assert_ne!(frame.lease_id(), 0);
/// drop(frame); // back to `pool`
/// println!("{}", stream.close()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait CaptureBuffers: Send + 'static {
    /// A unique, writable frame whose buffer holds at least `bytes` bytes for the driver to
    /// fill (its whole buffer, from its first byte, is queued). `Ok(None)`: none free now (the
    /// stream tries again after its next dequeue; meanwhile the driver has fewer buffers).
    fn next_buffer(&mut self, bytes: usize) -> Result<Option<Frame>, CaptureError>;
}

/// Frames of the pool, taken with [`FramePool::try_acquire`] (never waits; an exhausted
/// pool is `Ok(None)`). Their lease label is `v4l2 capture`. A closed pool, or one whose
/// allocator fails, is [`CaptureError::Acquire`].
impl CaptureBuffers for FramePool {
    fn next_buffer(&mut self, bytes: usize) -> Result<Option<Frame>, CaptureError> {
        let _ = bytes; // the stream checks the capacity of what it gets
        match self.try_acquire("v4l2 capture") {
            Ok(frame) => Ok(Some(frame)),
            Err(AcquireError::Exhausted { .. }) => Ok(None),
            Err(e) => Err(CaptureError::Acquire(e)),
        }
    }
}

/// A supplier frame as the driver gets it: its whole buffer as one byte run, checked to be
/// unique, writable and at least `bytes` long. `Ok(None)`: the supplier is dry.
pub(crate) fn take_for_driver(
    supplier: &mut dyn CaptureBuffers,
    bytes: usize,
) -> Result<Option<Frame>> {
    let Some(mut frame) = supplier.next_buffer(bytes)? else {
        return Ok(None);
    };
    if !frame.is_unique() || !frame.is_writable() {
        return Err(CaptureError::UserBufferNotWritable);
    }
    // The whole buffer from this handle's first byte: a handle that starts past the
    // buffer's first byte (a view that outlived its parent) gets what follows it.
    let mut capacity = frame.buffer_capacity();
    if let Err(FrameError::BufferTooSmall { capacity: rest, .. }) =
        frame.reshape(FrameLayout::mjpeg(0, 0, capacity))
    {
        capacity = rest;
        frame.reshape(FrameLayout::mjpeg(0, 0, capacity))?;
    }
    if capacity < bytes {
        return Err(CaptureError::UserBufferTooSmall {
            needed: bytes,
            capacity,
        });
    }
    Ok(Some(frame))
}

/// A supplier frame to copy a frame of `layout` into, reshaped to it. `Ok(None)`: the
/// supplier is dry.
pub(crate) fn take_for_copy(
    supplier: &mut dyn CaptureBuffers,
    layout: FrameLayout,
) -> Result<Option<Frame>> {
    let Some(mut frame) = supplier.next_buffer(layout.len())? else {
        return Ok(None);
    };
    if !frame.is_unique() || !frame.is_writable() {
        return Err(CaptureError::UserBufferNotWritable);
    }
    match frame.reshape(layout) {
        Ok(()) => Ok(Some(frame)),
        Err(FrameError::BufferTooSmall { needed, capacity }) => {
            Err(CaptureError::UserBufferTooSmall { needed, capacity })
        }
        Err(e) => Err(e.into()),
    }
}
