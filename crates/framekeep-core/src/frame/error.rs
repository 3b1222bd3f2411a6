//! Errors of frame layouts, views and copies.

use std::time::Duration;

use super::pixel::PixelFormat;

/// Why a layout, view or frame operation was refused, or a pixel format or
/// frame size did not parse.
///
/// Frames have this one error type: a copy-on-write copy that needs a buffer
/// from the frame's pool reports why it got none here too
/// ([`PoolDry`](FrameError::PoolDry), [`PoolClosed`](FrameError::PoolClosed),
/// [`Cancelled`](FrameError::Cancelled), [`TimedOut`](FrameError::TimedOut)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The operation needs pixels but the format is compressed.
    #[error("{0} is a compressed format: it has no pixel rows")]
    Compressed(PixelFormat),
    /// A zero width or height.
    #[error("empty frame size {width}x{height}")]
    EmptySize {
        /// Requested width.
        width: usize,
        /// Requested height.
        height: usize,
    },
    /// The format subsamples chroma and needs an even size.
    #[error("{format} needs an even size, got {width}x{height}")]
    OddSize {
        /// The format.
        format: PixelFormat,
        /// Requested width.
        width: usize,
        /// Requested height.
        height: usize,
    },
    /// Rows would overlap.
    #[error("stride {stride} is smaller than one row ({min} bytes)")]
    StrideTooSmall {
        /// Requested stride.
        stride: usize,
        /// Bytes of one row of pixels.
        min: usize,
    },
    /// The format's chroma rows are half a luma row apart (I420), so the
    /// stride must be even.
    #[error("{format} needs an even stride, got {stride}")]
    OddStride {
        /// The format.
        format: PixelFormat,
        /// Requested stride.
        stride: usize,
    },
    /// The layout's byte size overflows the address space.
    #[error(
        "a {width}x{height} {format} frame is too large: its size overflows the address space"
    )]
    TooLarge {
        /// The format.
        format: PixelFormat,
        /// Requested width.
        width: usize,
        /// Requested height.
        height: usize,
    },
    /// The allocator refused a buffer of this size (no abort: the caller decides).
    #[error("out of memory: cannot allocate a buffer of {bytes} bytes")]
    OutOfMemory {
        /// Bytes asked for.
        bytes: usize,
    },
    /// The buffer cannot hold the layout.
    #[error("layout needs {needed} bytes but the buffer holds {capacity}")]
    BufferTooSmall {
        /// Bytes the layout needs.
        needed: usize,
        /// Bytes the buffer has.
        capacity: usize,
    },
    /// The operation needs the only handle, and the buffer is shared.
    #[error("the frame's buffer is shared with other handles")]
    Shared,
    /// An ROI of a planar frame: take a plane first.
    #[error("an ROI of a planar frame is not supported: take a plane first")]
    PlanarRoi,
    /// The rectangle leaves the frame.
    #[error("ROI {width}x{height} at ({x},{y}) is outside the {frame_width}x{frame_height} frame")]
    RoiOutOfBounds {
        /// Left edge.
        x: usize,
        /// Top edge.
        y: usize,
        /// ROI width.
        width: usize,
        /// ROI height.
        height: usize,
        /// Width of the frame.
        frame_width: usize,
        /// Height of the frame.
        frame_height: usize,
    },
    /// A copy-on-write copy found no idle buffer in the frame's pool and did
    /// not wait (see [`Frame::make_mut_until`](super::Frame::make_mut_until)).
    #[error("pool '{pool}' has no idle buffer for a copy")]
    PoolDry {
        /// The pool's name.
        pool: &'static str,
    },
    /// The frame's pool is closed, so a copy cannot come from it.
    #[error("pool '{pool}' is closed")]
    PoolClosed {
        /// The pool's name.
        pool: &'static str,
    },
    /// Waiting for a buffer to copy into was cancelled.
    #[error("copy cancelled while waiting for a buffer")]
    Cancelled,
    /// No buffer to copy into came back within the pool's acquire timeout.
    #[error("no buffer of pool '{pool}' came back within {waited:?} for a copy")]
    TimedOut {
        /// The pool's name.
        pool: &'static str,
        /// How long the copy waited.
        waited: Duration,
    },
    /// The format has no such plane.
    #[error("{format} has no plane {index}")]
    NoSuchPlane {
        /// The format.
        format: PixelFormat,
        /// Requested plane.
        index: usize,
    },
    /// Not a known fourcc or format name (`PixelFormat::from_str`).
    #[error("unknown pixel format {0:?}: expected a fourcc (YUYV, UYVY, NV12, YU12, MJPG, GREY, BGR3, RGB3, AR24) or a name (gray8, bgr24, rgb24, bgra32, yuyv, uyvy, nv12, i420, mjpeg)")]
    UnknownFormat(String),
    /// Not `WIDTHxHEIGHT` with both parts positive (`FrameSize::from_str`).
    #[error("bad frame size {0:?}: expected WIDTHxHEIGHT, e.g. 640x480")]
    BadSize(String),
}
