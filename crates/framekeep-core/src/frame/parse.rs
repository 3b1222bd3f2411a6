//! Pixel formats and frame sizes from text (command lines, config files).
//!
//! Apart from `pixel` so that the pixel formats need not know the frame
//! error, which names them.

use super::error::FrameError;
use super::layout::FrameSize;
use super::pixel::PixelFormat;

impl std::str::FromStr for PixelFormat {
    type Err = FrameError;

    /// A V4L2 fourcc (`YUYV`, `BGR3`, ...; case-insensitive) or a format name
    /// (`bgr24`, `gray8`, ...).
    fn from_str(s: &str) -> Result<PixelFormat, FrameError> {
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
            _ => return Err(FrameError::UnknownFormat(s.to_string())),
        })
    }
}

impl std::str::FromStr for FrameSize {
    type Err = FrameError;

    fn from_str(s: &str) -> Result<FrameSize, FrameError> {
        let bad = || FrameError::BadSize(s.to_string());
        let (w, h) = s.trim().split_once(['x', 'X']).ok_or_else(bad)?;
        let width: usize = w.trim().parse().map_err(|_| bad())?;
        let height: usize = h.trim().parse().map_err(|_| bad())?;
        if width == 0 || height == 0 {
            return Err(bad());
        }
        Ok(FrameSize { width, height })
    }
}
