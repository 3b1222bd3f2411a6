//! [`FourCc`]: the four-character pixel format codes V4L2 names formats by.
//!
//! A code is plain data shared by every layer (the driver interface, the errors, the
//! options), so it lives apart from all of them.

use std::fmt;

/// A V4L2 pixel format code (four ASCII bytes, e.g. `YUYV`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FourCc(pub [u8; 4]);

impl FourCc {
    /// Packed YUV 4:2:2.
    pub const YUYV: FourCc = FourCc(*b"YUYV");
    /// Packed YUV 4:2:2, chroma first.
    pub const UYVY: FourCc = FourCc(*b"UYVY");
    /// Semi-planar YUV 4:2:0 in one buffer.
    pub const NV12: FourCc = FourCc(*b"NV12");
    /// Planar YUV 4:2:0 (Y, then U, then V) in one buffer: framekeep's I420.
    pub const YU12: FourCc = FourCc(*b"YU12");
    /// 24-bit RGB.
    pub const RGB24: FourCc = FourCc(*b"RGB3");
    /// 24-bit BGR.
    pub const BGR24: FourCc = FourCc(*b"BGR3");
    /// 8-bit greyscale.
    pub const GREY: FourCc = FourCc(*b"GREY");
    /// Motion JPEG.
    pub const MJPEG: FourCc = FourCc(*b"MJPG");
    /// NV12 with its Y and UV planes in two separate memory planes (multi-planar API).
    pub const NV12M: FourCc = FourCc(*b"NM12");
    /// YUV 4:2:0 with Y, U and V in three separate memory planes (multi-planar API).
    pub const YUV420M: FourCc = FourCc(*b"YM12");
    /// NV21 (chroma V first) with its Y and VU planes in two separate memory planes
    /// (multi-planar API); framekeep has no contiguous equivalent.
    pub const NV21M: FourCc = FourCc(*b"NM21");

    /// Builds a code from its four characters.
    pub const fn new(code: &[u8; 4]) -> FourCc {
        FourCc(*code)
    }

    /// The little-endian `u32` the kernel uses.
    pub fn to_u32(self) -> u32 {
        u32::from_le_bytes(self.0)
    }

    /// The inverse of [`FourCc::to_u32`].
    pub fn from_u32(v: u32) -> FourCc {
        FourCc(v.to_le_bytes())
    }
}

impl fmt::Display for FourCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in &self.0 {
            let c = if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            };
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for FourCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FourCc({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_code_round_trips_and_prints_safely() {
        assert_eq!(FourCc::YUYV.to_u32(), 0x5659_5559);
        assert_eq!(FourCc::from_u32(FourCc::NV12M.to_u32()), FourCc::NV12M);
        assert_eq!(FourCc::YU12.to_string(), "YU12");
        assert_eq!(FourCc([b'A', 0, b'\n', b' ']).to_string(), "A?? ");
        assert_eq!(format!("{:?}", FourCc::MJPEG), "FourCc(MJPG)");
    }
}
