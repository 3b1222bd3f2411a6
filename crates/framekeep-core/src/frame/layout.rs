//! The byte layout of a frame, and frame sizes.
//!
//! A layout is plain data (`Copy`) so that every frame handle can carry the
//! layout of its own view: an ROI or a plane is the same buffer with a
//! different offset and layout, never a copy.

use serde::{Deserialize, Serialize};

use super::error::FrameError;
use super::pixel::PixelFormat;

/// Where the pixels of a frame (or of a view into one) lie in its buffer.
///
/// `stride` is the distance in bytes between the starts of two rows of plane 0
/// and may exceed `width * bytes_per_pixel` (drivers pad rows). `len` is the
/// number of bytes from the first pixel to one past the last: for a full
/// frame `stride * height` (plus the chroma planes for NV12 and I420, in all
/// `stride * height / 2`); for an ROI view the last row is not padded; for
/// MJPEG the compressed size.
///
/// A layout can only be made by its checked constructors ([`packed`],
/// [`strided`], [`mjpeg`]) or by a frame's views, so every layout a frame
/// carries is consistent: its rows fit in `len` bytes, and `len` is what the
/// format, size and stride need. That is what lets [`Frame::row`] and
/// [`Frame::data`] never fail on a frame that exists.
///
/// ```
/// use framekeep_core::frame::{FrameError, FrameLayout, PixelFormat};
///
/// let layout = FrameLayout::strided(PixelFormat::Yuyv, 640, 480, 1344)?;
/// assert_eq!((layout.row_bytes(), layout.len()), (1280, 1344 * 480));
/// assert!(matches!(
///     FrameLayout::strided(PixelFormat::Yuyv, 641, 480, 1344),
///     Err(FrameError::OddSize { .. })
/// ));
/// # Ok::<(), FrameError>(())
/// ```
///
/// [`packed`]: FrameLayout::packed
/// [`strided`]: FrameLayout::strided
/// [`mjpeg`]: FrameLayout::mjpeg
/// [`Frame::row`]: super::Frame::row
/// [`Frame::data`]: super::Frame::data
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawLayout")]
pub struct FrameLayout {
    format: PixelFormat,
    width: usize,
    height: usize,
    stride: usize,
    len: usize,
}

/// A layout as serialised, checked on the way in ([`FrameLayout`]'s
/// constructors decide what is valid, also for deserialised data).
#[derive(Deserialize)]
struct RawLayout {
    format: PixelFormat,
    width: usize,
    height: usize,
    stride: usize,
    len: usize,
}

impl TryFrom<RawLayout> for FrameLayout {
    type Error = FrameError;

    fn try_from(raw: RawLayout) -> Result<FrameLayout, FrameError> {
        if raw.format == PixelFormat::Mjpeg {
            return Ok(FrameLayout::mjpeg(raw.width, raw.height, raw.len));
        }
        let layout = FrameLayout::strided(raw.format, raw.width, raw.height, raw.stride)?;
        if layout.len != raw.len {
            return Err(FrameError::BufferTooSmall {
                needed: layout.len,
                capacity: raw.len,
            });
        }
        Ok(layout)
    }
}

impl FrameLayout {
    /// A tightly packed layout (no row padding).
    pub fn packed(
        format: PixelFormat,
        width: usize,
        height: usize,
    ) -> Result<FrameLayout, FrameError> {
        let bpp = format
            .bytes_per_pixel()
            .ok_or(FrameError::Compressed(format))?;
        let stride = width.checked_mul(bpp).ok_or(FrameError::TooLarge {
            format,
            width,
            height,
        })?;
        FrameLayout::strided(format, width, height, stride)
    }

    /// A layout whose rows are `stride` bytes apart (`stride >= width * bpp`).
    pub fn strided(
        format: PixelFormat,
        width: usize,
        height: usize,
        stride: usize,
    ) -> Result<FrameLayout, FrameError> {
        let bpp = format
            .bytes_per_pixel()
            .ok_or(FrameError::Compressed(format))?;
        if width == 0 || height == 0 {
            return Err(FrameError::EmptySize { width, height });
        }
        if (format.needs_even_width() && width % 2 != 0)
            || (format.is_planar_420() && height % 2 != 0)
        {
            return Err(FrameError::OddSize {
                format,
                width,
                height,
            });
        }
        let too_large = FrameError::TooLarge {
            format,
            width,
            height,
        };
        let row = width.checked_mul(bpp).ok_or(too_large.clone())?;
        if stride < row {
            return Err(FrameError::StrideTooSmall { stride, min: row });
        }
        if format == PixelFormat::I420 && stride % 2 != 0 {
            // The chroma planes' rows are `stride / 2` bytes apart.
            return Err(FrameError::OddStride { format, stride });
        }
        // I420: `stride * h + 2 * (stride / 2) * (h / 2)`, the same as NV12
        // for an even stride and height.
        let rows = if format.is_planar_420() {
            height.checked_add(height / 2).ok_or(too_large.clone())?
        } else {
            height
        };
        // A layout's bytes must be addressable as one slice (`isize::MAX`).
        let len = stride
            .checked_mul(rows)
            .filter(|&len| len <= isize::MAX as usize)
            .ok_or(too_large)?;
        Ok(FrameLayout {
            format,
            width,
            height,
            stride,
            len,
        })
    }

    /// A compressed (MJPEG) frame of `len` bytes that decodes to `width x height`
    /// (either may be 0 when the size is not known yet).
    pub fn mjpeg(width: usize, height: usize, len: usize) -> FrameLayout {
        FrameLayout {
            format: PixelFormat::Mjpeg,
            width,
            height,
            stride: 0,
            len,
        }
    }

    /// The layout of a view: `len` bytes from its first pixel, rows `stride`
    /// apart. Only for callers that derived every field from a valid layout
    /// (a frame's ROIs and planes).
    pub(crate) const fn view(
        format: PixelFormat,
        width: usize,
        height: usize,
        stride: usize,
        len: usize,
    ) -> FrameLayout {
        FrameLayout {
            format,
            width,
            height,
            stride,
            len,
        }
    }

    /// The same layout with its rows `stride` bytes apart.
    pub fn with_stride(self, stride: usize) -> Result<FrameLayout, FrameError> {
        FrameLayout::strided(self.format, self.width, self.height, stride)
    }

    /// Pixel format.
    pub const fn format(&self) -> PixelFormat {
        self.format
    }

    /// Width in pixels.
    pub const fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels (rows of plane 0).
    pub const fn height(&self) -> usize {
        self.height
    }

    /// Bytes between the starts of consecutive rows of plane 0 (0 for MJPEG).
    pub const fn stride(&self) -> usize {
        self.stride
    }

    /// Bytes from the first pixel to one past the last (MJPEG: the compressed size).
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether the layout holds no bytes (only an MJPEG layout of length 0).
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes of visible pixels in one row of plane 0 (`width * bpp`).
    pub fn row_bytes(&self) -> usize {
        self.width * self.format.bytes_per_pixel().unwrap_or(0)
    }

    /// Whether rows follow each other without padding.
    pub fn is_contiguous(&self) -> bool {
        self.format == PixelFormat::Mjpeg || self.stride == self.row_bytes()
    }
}

/// A frame size in pixels; parses from `WIDTHxHEIGHT` (e.g. `1920x1080`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FrameSize {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
}

impl std::fmt::Display for FrameSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}
