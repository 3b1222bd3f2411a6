//! Errors of frame layouts and views.

use super::PixelFormat;

/// Why a layout, view or frame operation was refused.
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
    /// The size overflows `usize`.
    #[error("frame size overflows the address space")]
    TooLarge,
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
    /// The format has no such plane.
    #[error("{format} has no plane {index}")]
    NoSuchPlane {
        /// The format.
        format: PixelFormat,
        /// Requested plane.
        index: usize,
    },
}
