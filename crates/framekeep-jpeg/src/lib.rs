//! A JPEG's structure, checked without decoding it.
//!
//! This crate stands apart from `framekeep-core` (which owns frames, not their
//! encodings) so that every reader of JPEG bytes, the V4L2 capture stream,
//! framekeep-cv's decoder and file readers, and the calibration tools, share one
//! check without pulling in OpenCV.
//!
//! ```
//! // Without a start-of-image marker it is not a JPEG at all.
//! assert_eq!(framekeep_jpeg::inspect(b"GIF89a"), Err(framekeep_jpeg::JpegDefect::NotJpeg));
//! ```
//!
//! USB webcams deliver truncated MJPEG frames routinely (bandwidth pressure,
//! a lost packet), and a decoder that runs out of data invents the end of the
//! image: libjpeg warns "premature end of data segment" and fills the rest
//! gray, and OpenCV's `imdecode` swallows the warning. [`inspect`] walks
//! the markers and the scan data, a few microseconds for a 640x480 frame, so a
//! capture stream can afford it on every frame: a frame whose scan has no end
//! (no EOI), is missing or too short for the image, or holds bytes that cannot
//! appear in a JPEG where the scan should end, is a [`JpegDefect`]. Bytes after
//! the EOI marker are padding (cameras pad frames with zeros) and are ignored.
//!
//! A structurally sound JPEG can still hold corrupt entropy-coded data; only a
//! decoder sees that (framekeep-cv's decoder treats every libjpeg warning as
//! an error).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// What a structurally sound JPEG's markers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JpegInfo {
    /// Width from the frame header (SOF).
    pub width: usize,
    /// Height from the frame header.
    pub height: usize,
    /// Colour components (1 gray, 3 YCbCr, 4 CMYK or YCCK).
    pub components: u8,
    /// Bytes up to and including the end-of-image marker; what follows it is
    /// padding.
    pub len: usize,
}

/// Why data is not a complete JPEG.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JpegDefect {
    /// The data does not start with a JPEG start-of-image marker (also: empty).
    #[error("not a JPEG (no start-of-image marker)")]
    NotJpeg,
    /// The data ends inside the headers, before any scan.
    #[error("the data ends inside the JPEG headers, at byte {at}")]
    TruncatedHeader {
        /// Length of the data.
        at: usize,
    },
    /// A marker segment's length is impossible.
    #[error("marker 0xFF{marker:02X} at byte {at} has a bad length")]
    BadSegment {
        /// The marker code.
        marker: u8,
        /// Offset of its 0xFF.
        at: usize,
    },
    /// A byte where a marker must start, or a marker that cannot appear there:
    /// garbage where the headers, or the scan, should end.
    #[error("garbage where a JPEG marker should be: 0xFF{code:02X} at byte {at}")]
    BadMarker {
        /// The byte after 0xFF (or the stray byte itself when no 0xFF was there).
        code: u8,
        /// Offset of the stray bytes.
        at: usize,
    },
    /// The frame header (SOF) is missing before the scan, or invalid.
    #[error("no valid frame header (SOF) before the scan")]
    NoFrameHeader,
    /// The frame header announces a size of zero.
    #[error("the frame header announces an empty {width}x{height} image")]
    EmptyImage {
        /// Announced width.
        width: usize,
        /// Announced height.
        height: usize,
    },
    /// No scan (SOS) before the end-of-image marker.
    #[error("no scan data: the image ends before any scan")]
    NoScan,
    /// The scan holds fewer bytes than the image needs: at least 2 bits per
    /// 8x8 block, whatever the Huffman tables.
    #[error("the scan holds {bytes} bytes, fewer than the {min} a {width}x{height} image needs")]
    ShortScan {
        /// Bytes of entropy-coded data.
        bytes: usize,
        /// The fewest the image's blocks can take.
        min: usize,
        /// Image width.
        width: usize,
        /// Image height.
        height: usize,
    },
    /// The scan runs to the end of the data without an end-of-image marker:
    /// the frame was truncated.
    #[error("no end-of-image marker: the scan runs to the end of the data ({len} bytes), the frame is truncated")]
    MissingEoi {
        /// Length of the data.
        len: usize,
    },
}

/// The frame header's content, as far as the checks need it.
#[derive(Debug, Clone, Copy)]
struct FrameHeader {
    width: usize,
    height: usize,
    components: u8,
    /// Huffman-coded sequential DCT (SOF0, SOF1): one interleaved scan
    /// carries every block, so its minimum size is known.
    sequential: bool,
    /// Sum over the components of h x v (blocks per MCU) and the largest
    /// sampling factors.
    blocks_per_mcu: usize,
    h_max: usize,
    v_max: usize,
}

/// Checks that `data` is one complete JPEG (see the module documentation);
/// bytes after its end-of-image marker are padding.
///
/// Never panics and reads each byte at most a few times, whatever `data` holds.
pub fn inspect(data: &[u8]) -> Result<JpegInfo, JpegDefect> {
    if data.get(..2) != Some(&[0xFF, 0xD8]) {
        return Err(JpegDefect::NotJpeg);
    }
    let mut frame: Option<FrameHeader> = None;
    let mut scans = 0usize;
    let mut i = 2;
    loop {
        let Some(&byte) = data.get(i) else {
            return Err(end_of_data(data.len(), scans));
        };
        if byte != 0xFF {
            return Err(JpegDefect::BadMarker { code: byte, at: i });
        }
        // Any number of 0xFF fill bytes may precede a marker code.
        let mut c = i + 1;
        while data.get(c) == Some(&0xFF) {
            c += 1;
        }
        let Some(&code) = data.get(c) else {
            return Err(end_of_data(data.len(), scans));
        };
        let at = c - 1;
        match code {
            0xD9 => {
                return match (frame, scans) {
                    (Some(f), 1..) => Ok(JpegInfo {
                        width: f.width,
                        height: f.height,
                        components: f.components,
                        len: c + 1,
                    }),
                    _ => Err(JpegDefect::NoScan),
                };
            }
            // TEM: a standalone marker without a segment.
            0x01 => i = c + 1,
            // Stuffing, a restart marker or a second SOI outside a scan, or a
            // reserved code: not a JPEG's.
            0x00 | 0xD0..=0xD8 | 0x02..=0xBF => return Err(JpegDefect::BadMarker { code, at }),
            _ => {
                let (Some(&hi), Some(&lo)) = (data.get(c + 1), data.get(c + 2)) else {
                    return Err(end_of_data(data.len(), scans));
                };
                let len = usize::from(u16::from_be_bytes([hi, lo]));
                if len < 2 {
                    return Err(JpegDefect::BadSegment { marker: code, at });
                }
                let body = c + 3;
                let end = c + 1 + len;
                let Some(segment) = data.get(body..end) else {
                    return Err(end_of_data(data.len(), scans));
                };
                match code {
                    // SOF0..SOF15 (DHT, JPG and DAC share the range).
                    0xC0..=0xCF if !matches!(code, 0xC4 | 0xC8 | 0xCC) => {
                        if frame.is_some() {
                            return Err(JpegDefect::BadMarker { code, at });
                        }
                        frame = Some(frame_header(code, segment)?);
                    }
                    0xDA => {
                        let f = frame.ok_or(JpegDefect::NoFrameHeader)?;
                        let scan_components = usize::from(*segment.first().unwrap_or(&0));
                        if scan_components == 0 || segment.len() != 4 + 2 * scan_components {
                            return Err(JpegDefect::BadSegment { marker: code, at });
                        }
                        let (bytes, next) = scan_data(data, end)?;
                        // The first scan of a sequential image with every
                        // component interleaved carries every block.
                        if scans == 0
                            && f.sequential
                            && scan_components == usize::from(f.components)
                        {
                            let min = min_scan_bytes(&f);
                            if bytes < min {
                                return Err(JpegDefect::ShortScan {
                                    bytes,
                                    min,
                                    width: f.width,
                                    height: f.height,
                                });
                            }
                        } else if bytes == 0 {
                            return Err(JpegDefect::ShortScan {
                                bytes,
                                min: 1,
                                width: f.width,
                                height: f.height,
                            });
                        }
                        scans += 1;
                        i = next;
                        continue;
                    }
                    _ => {}
                }
                i = end;
            }
        }
    }
}

/// The data ended where a marker should be: inside the headers, or after a
/// scan that has no end-of-image marker.
fn end_of_data(len: usize, scans: usize) -> JpegDefect {
    if scans == 0 {
        JpegDefect::TruncatedHeader { at: len }
    } else {
        JpegDefect::MissingEoi { len }
    }
}

/// Parses a SOF segment body.
fn frame_header(code: u8, s: &[u8]) -> Result<FrameHeader, JpegDefect> {
    let Some((header, specs)) = s.split_first_chunk::<6>() else {
        return Err(JpegDefect::NoFrameHeader);
    };
    let [_precision, h1, h0, w1, w0, n] = *header;
    let width = usize::from(u16::from_be_bytes([w1, w0]));
    let height = usize::from(u16::from_be_bytes([h1, h0]));
    if !(1..=4).contains(&n) || specs.len() != 3 * usize::from(n) {
        return Err(JpegDefect::NoFrameHeader);
    }
    if width == 0 || height == 0 {
        return Err(JpegDefect::EmptyImage { width, height });
    }
    let (mut blocks_per_mcu, mut h_max, mut v_max) = (0, 1, 1);
    for spec in specs.chunks_exact(3) {
        let (h, v) = (usize::from(spec[1] >> 4), usize::from(spec[1] & 0x0F));
        if !(1..=4).contains(&h) || !(1..=4).contains(&v) {
            return Err(JpegDefect::NoFrameHeader);
        }
        blocks_per_mcu += h * v;
        h_max = h_max.max(h);
        v_max = v_max.max(v);
    }
    Ok(FrameHeader {
        width,
        height,
        components: n,
        sequential: matches!(code, 0xC0 | 0xC1),
        blocks_per_mcu,
        h_max,
        v_max,
    })
}

/// The fewest bytes an interleaved scan of every component can take: each
/// 8x8 block costs at least a 1-bit DC code and a 1-bit end-of-block code.
fn min_scan_bytes(f: &FrameHeader) -> usize {
    let blocks = if f.components == 1 {
        // A single-component scan is not interleaved: one block per 8x8.
        f.width.div_ceil(8) * f.height.div_ceil(8)
    } else {
        f.width.div_ceil(8 * f.h_max) * f.height.div_ceil(8 * f.v_max) * f.blocks_per_mcu
    };
    blocks.div_ceil(4)
}

/// Walks entropy-coded data from `start` to the marker that ends it: returns
/// the scan's length and the offset of that marker's first 0xFF.
fn scan_data(data: &[u8], start: usize) -> Result<(usize, usize), JpegDefect> {
    let mut i = start;
    loop {
        let Some(ff) = data
            .get(i..)
            .and_then(|rest| rest.iter().position(|&b| b == 0xFF))
        else {
            return Err(JpegDefect::MissingEoi { len: data.len() });
        };
        let j = i + ff;
        match data.get(j + 1) {
            None => return Err(JpegDefect::MissingEoi { len: data.len() }),
            // Stuffed 0xFF, or a restart marker: still the scan.
            Some(0x00 | 0xD0..=0xD7) => i = j + 2,
            // The scan ends at the first other marker (fill bytes included).
            Some(_) => return Ok((j - start, j)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal baseline JPEG: 16x8, one component, the given scan bytes.
    fn jpeg(scan: &[u8]) -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8];
        // SOF0: 8-bit, 8 rows, 16 columns, 1 component (id 1, 1x1, table 0).
        v.extend_from_slice(&[0xFF, 0xC0, 0, 11, 8, 0, 8, 0, 16, 1, 1, 0x11, 0]);
        // SOS: one component, tables 0/0, spectral 0..63, approx 0.
        v.extend_from_slice(&[0xFF, 0xDA, 0, 8, 1, 1, 0x00, 0, 63, 0]);
        v.extend_from_slice(scan);
        v
    }

    #[test]
    fn a_complete_jpeg_and_its_padding() {
        let mut j = jpeg(&[0x12, 0xFF, 0x00, 0x34]);
        j.extend_from_slice(&[0xFF, 0xD9]);
        let len = j.len();
        j.extend_from_slice(&[0; 100]);
        let info = inspect(&j).unwrap();
        assert_eq!(
            (info.width, info.height, info.components, info.len),
            (16, 8, 1, len)
        );
    }

    #[test]
    fn defects() {
        assert_eq!(inspect(&[]), Err(JpegDefect::NotJpeg));
        let mut no_eoi = jpeg(&[1, 2, 3]);
        no_eoi.extend_from_slice(&[0; 16]);
        assert!(matches!(
            inspect(&no_eoi),
            Err(JpegDefect::MissingEoi { .. })
        ));
        let mut empty = jpeg(&[]);
        empty.extend_from_slice(&[0xFF, 0xD9]);
        assert!(matches!(
            inspect(&empty),
            Err(JpegDefect::ShortScan { bytes: 0, .. })
        ));
        let mut garbage = jpeg(&[1, 2, 3, 0xFF, 0x42, 9]);
        garbage.extend_from_slice(&[0xFF, 0xD9]);
        assert!(matches!(
            inspect(&garbage),
            Err(JpegDefect::BadMarker { code: 0x42, .. })
        ));
        let headers = jpeg(&[]);
        assert!(matches!(
            inspect(&headers[..10]),
            Err(JpegDefect::TruncatedHeader { .. })
        ));
        assert_eq!(inspect(&[0xFF, 0xD8, 0xFF, 0xD9]), Err(JpegDefect::NoScan));
    }
}
