//! Pixel formats and the byte layout of a frame.
//!
//! A layout is plain data (`Copy`) so that every frame handle can carry the
//! layout of its own view: an ROI or a plane is the same buffer with a
//! different offset and layout, never a copy.

use serde::{Deserialize, Serialize};

use super::error::FrameError;

/// The pixel formats framekeep understands.
///
/// Packed formats have a fixed number of bytes per pixel. [`PixelFormat::Nv12`]
/// is planar (a luma plane followed by an interleaved chroma plane with the same
/// stride), [`PixelFormat::I420`] too (a luma plane followed by a U and a V
/// plane at half the stride). [`PixelFormat::Mjpeg`] is opaque compressed bytes with a length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PixelFormat {
    /// 8-bit grey, one byte per pixel.
    Gray8,
    /// 8-bit blue, green, red.
    Bgr24,
    /// 8-bit red, green, blue.
    Rgb24,
    /// 8-bit blue, green, red, alpha.
    Bgra32,
    /// Packed 4:2:2 luma/chroma, Y0 U Y1 V; two bytes per pixel.
    Yuyv,
    /// Packed 4:2:2 luma/chroma, U Y0 V Y1; two bytes per pixel.
    Uyvy,
    /// Planar 4:2:0: a Y plane then an interleaved UV plane at half height.
    Nv12,
    /// Planar 4:2:0 with separate chroma planes (V4L2 `YU12`): a Y plane of
    /// `height` rows `stride` bytes apart, then a U plane and a V plane, each
    /// `width / 2 x height / 2` with rows `stride / 2` bytes apart. Width,
    /// height and stride must be even. Its planes, seen on their own
    /// ([`crate::frame::Frame::plane`]), are [`PixelFormat::Gray8`].
    I420,
    /// The interleaved UV plane of an NV12 frame seen on its own (two bytes per
    /// chroma sample). Produced by [`crate::frame::Frame::plane`].
    Uv88,
    /// Motion JPEG: compressed bytes, only the length is meaningful.
    Mjpeg,
}

impl PixelFormat {
    /// Every format, for tests and format listings.
    pub const ALL: [PixelFormat; 10] = [
        PixelFormat::Gray8,
        PixelFormat::Bgr24,
        PixelFormat::Rgb24,
        PixelFormat::Bgra32,
        PixelFormat::Yuyv,
        PixelFormat::Uyvy,
        PixelFormat::Nv12,
        PixelFormat::I420,
        PixelFormat::Uv88,
        PixelFormat::Mjpeg,
    ];

    /// Bytes per pixel of plane 0, or `None` for compressed formats.
    pub const fn bytes_per_pixel(self) -> Option<usize> {
        match self {
            PixelFormat::Gray8 | PixelFormat::Nv12 | PixelFormat::I420 => Some(1),
            PixelFormat::Yuyv | PixelFormat::Uyvy | PixelFormat::Uv88 => Some(2),
            PixelFormat::Bgr24 | PixelFormat::Rgb24 => Some(3),
            PixelFormat::Bgra32 => Some(4),
            PixelFormat::Mjpeg => None,
        }
    }

    /// Number of planes (2 for NV12, 3 for I420, 1 otherwise).
    pub const fn planes(self) -> usize {
        match self {
            PixelFormat::Nv12 => 2,
            PixelFormat::I420 => 3,
            _ => 1,
        }
    }

    /// The V4L2 fourcc code of this format.
    pub const fn fourcc(self) -> [u8; 4] {
        match self {
            PixelFormat::Gray8 => *b"GREY",
            PixelFormat::Bgr24 => *b"BGR3",
            PixelFormat::Rgb24 => *b"RGB3",
            PixelFormat::Bgra32 => *b"AR24",
            PixelFormat::Yuyv => *b"YUYV",
            PixelFormat::Uyvy => *b"UYVY",
            PixelFormat::Nv12 => *b"NV12",
            PixelFormat::I420 => *b"YU12",
            PixelFormat::Uv88 => *b"UV88",
            PixelFormat::Mjpeg => *b"MJPG",
        }
    }

    /// The format for a V4L2 fourcc code, if framekeep knows it.
    pub fn from_fourcc(code: [u8; 4]) -> Option<PixelFormat> {
        PixelFormat::ALL.into_iter().find(|f| f.fourcc() == code)
    }

    /// Whether the format is planar with 4:2:0 chroma below the luma rows
    /// (NV12, I420): a full frame holds `height * 3 / 2` rows of `stride`
    /// bytes, width and height must be even (chroma subsampling), and ROIs
    /// are refused ([`FrameError::PlanarRoi`]).
    pub const fn is_planar_420(self) -> bool {
        matches!(self, PixelFormat::Nv12 | PixelFormat::I420)
    }

    /// Whether the width must be even (horizontal chroma subsampling).
    const fn needs_even_width(self) -> bool {
        matches!(
            self,
            PixelFormat::Yuyv | PixelFormat::Uyvy | PixelFormat::Nv12 | PixelFormat::I420
        )
    }
}

impl std::fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cc = self.fourcc();
        write!(f, "{}", String::from_utf8_lossy(&cc))
    }
}

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

/// Why a pixel format or frame size did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not a known fourcc or format name.
    #[error("unknown pixel format {0:?}: expected a fourcc (YUYV, UYVY, NV12, YU12, MJPG, GREY, BGR3, RGB3, AR24) or a name (gray8, bgr24, rgb24, bgra32, yuyv, uyvy, nv12, i420, mjpeg)")]
    Format(String),
    /// Not `WIDTHxHEIGHT` with both parts positive.
    #[error("bad frame size {0:?}: expected WIDTHxHEIGHT, e.g. 640x480")]
    Size(String),
}

impl std::str::FromStr for PixelFormat {
    type Err = ParseError;

    /// A V4L2 fourcc (`YUYV`, `BGR3`, ...; case-insensitive) or a format name
    /// (`bgr24`, `gray8`, ...).
    fn from_str(s: &str) -> Result<PixelFormat, ParseError> {
        let upper = s.trim().to_ascii_uppercase();
        if let Ok(code) = <[u8; 4]>::try_from(upper.as_bytes()) {
            if let Some(f) = PixelFormat::from_fourcc(code) {
                return Ok(f);
            }
        }
        Ok(match upper.as_str() {
            "GRAY8" | "GRAY" | "GREY8" => PixelFormat::Gray8,
            "BGR24" | "BGR" => PixelFormat::Bgr24,
            "RGB24" | "RGB" => PixelFormat::Rgb24,
            "BGRA32" | "BGRA" => PixelFormat::Bgra32,
            "I420" | "YUV420" => PixelFormat::I420,
            "MJPEG" | "JPEG" => PixelFormat::Mjpeg,
            _ => return Err(ParseError::Format(s.to_string())),
        })
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

impl std::str::FromStr for FrameSize {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<FrameSize, ParseError> {
        let bad = || ParseError::Size(s.to_string());
        let (w, h) = s.trim().split_once(['x', 'X']).ok_or_else(bad)?;
        let width: usize = w.trim().parse().map_err(|_| bad())?;
        let height: usize = h.trim().parse().map_err(|_| bad())?;
        if width == 0 || height == 0 {
            return Err(bad());
        }
        Ok(FrameSize { width, height })
    }
}

impl std::fmt::Display for FrameSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}
