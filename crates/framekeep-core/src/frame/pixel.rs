//! Pixel formats: what framekeep understands, their V4L2 codes and names.

use serde::{Deserialize, Serialize};

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
    /// are refused ([`FrameError::PlanarRoi`](super::FrameError::PlanarRoi)).
    pub const fn is_planar_420(self) -> bool {
        matches!(self, PixelFormat::Nv12 | PixelFormat::I420)
    }

    /// Whether the width must be even (horizontal chroma subsampling).
    pub(crate) const fn needs_even_width(self) -> bool {
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
