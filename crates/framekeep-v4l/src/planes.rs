//! Multi-planar formats whose planes live in separate memory buffers (NV12M, YUV420M).
//!
//! A framekeep [`Frame`](framekeep_core::frame::Frame) is one buffer, so such a format
//! cannot be handed out zero-copy: each dequeued buffer is copied, plane by plane and row by
//! row, into a pooled frame of the contiguous equivalent format (NV12M into NV12, YUV420M
//! into I420), and the driver's buffer is re-queued at once. Formats with no contiguous
//! framekeep equivalent (NV21M, the 4:2:2 ones, ...) are refused at negotiation with
//! [`CaptureError::UnsupportedPlanes`].
//!
//! One-plane formats used through the multi-planar API (YUYV, NV12 with `num_planes == 1`)
//! never come here: they are zero-copy like single-planar ones.

use framekeep_core::frame::{FrameLayout, PixelFormat};

use crate::device::{Dequeued, Negotiated, PlaneData, MAX_PLANES};
use crate::error::{CaptureError, Result};
use crate::fourcc::FourCc;
use crate::mem::Mapping;

/// How one memory plane is copied into the contiguous frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PlaneCopy {
    /// Bytes per line in the driver's plane.
    src_stride: usize,
    /// Rows of the plane.
    rows: usize,
    /// Bytes of pixels per row (what is copied).
    row_bytes: usize,
    /// Where the plane starts in the frame.
    dst_offset: usize,
    /// Bytes per line in the frame.
    dst_stride: usize,
}

impl PlaneCopy {
    /// Bytes of the driver's plane the copy reads.
    fn needed(&self) -> usize {
        self.src_stride * (self.rows - 1) + self.row_bytes
    }
}

/// The copy of a multi-planar format into its contiguous framekeep equivalent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PlanarCopy {
    planes: Vec<PlaneCopy>,
    layout: FrameLayout,
}

fn refuse(fourcc: FourCc, reason: impl Into<String>) -> CaptureError {
    CaptureError::UnsupportedPlanes {
        fourcc,
        reason: reason.into(),
    }
}

impl PlanarCopy {
    /// The copy plan of a granted format with more than one memory plane, or why it cannot
    /// be delivered.
    pub(crate) fn plan(n: &Negotiated) -> Result<PlanarCopy> {
        let planes = usize::from(n.num_planes);
        if planes > MAX_PLANES {
            return Err(refuse(
                n.fourcc,
                format!("{planes} memory planes (framekeep handles at most {MAX_PLANES})"),
            ));
        }
        let format = match (n.fourcc, planes) {
            (FourCc::NV12M, 2) => PixelFormat::Nv12,
            (FourCc::YUV420M, 3) => PixelFormat::I420,
            _ => {
                return Err(refuse(
                    n.fourcc,
                    format!(
                        "{planes} memory planes with no contiguous framekeep pixel format \
                         to copy them into (only NV12M is, as NV12, and YUV420M, as I420)"
                    ),
                ))
            }
        };
        let (w, h) = (n.width as usize, n.height as usize);
        let layout = FrameLayout::packed(format, w, h)?;
        // (rows, bytes per row, offset in the frame) of each plane, packed.
        // NV12: the Y plane (w bytes x h rows), then interleaved UV (w bytes x h/2 rows).
        // I420: the Y plane, then U and V (w/2 bytes x h/2 rows each).
        let (cw, ch) = (w / 2, h / 2);
        let geometry: &[(usize, usize, usize)] = match format {
            PixelFormat::Nv12 => &[(h, w, 0), (ch, w, w * h)],
            _ => &[(h, w, 0), (ch, cw, w * h), (ch, cw, w * h + cw * ch)],
        };
        let mut out = Vec::with_capacity(planes);
        for (p, &(rows, row_bytes, dst_offset)) in geometry.iter().enumerate() {
            let src_stride = n.planes[p].stride as usize;
            if src_stride < row_bytes {
                return Err(CaptureError::BadBuffer(format!(
                    "{}: plane {p} has {src_stride} bytes per line for {row_bytes} bytes of \
                     pixels",
                    n.fourcc
                )));
            }
            out.push(PlaneCopy {
                src_stride,
                rows,
                row_bytes,
                dst_offset,
                dst_stride: row_bytes,
            });
        }
        Ok(PlanarCopy {
            planes: out,
            layout,
        })
    }

    /// The layout of the delivered (copied) frames.
    pub(crate) fn layout(&self) -> FrameLayout {
        self.layout
    }

    /// Checks that every memory plane of `m` can hold its plane's rows.
    pub(crate) fn check_mapping(&self, m: &Mapping) -> Result<()> {
        for (p, plane) in self.planes.iter().enumerate() {
            let len = m.plane_len(p).unwrap_or(0);
            if len < plane.needed() {
                return Err(CaptureError::BadBuffer(format!(
                    "memory plane {p} of {len} bytes for {} bytes of image",
                    plane.needed()
                )));
            }
        }
        Ok(())
    }

    /// Copies the dequeued buffer `d` (memory `m`, out of the driver) into `dst` (the
    /// frame's bytes, `layout().len()` long). A plane whose payload is too short is an error,
    /// unless the buffer is error-flagged (`partial`): then the rows it has are copied.
    pub(crate) fn copy(
        &self,
        m: &Mapping,
        d: &Dequeued,
        partial: bool,
        dst: &mut [u8],
    ) -> Result<()> {
        for (p, plane) in self.planes.iter().enumerate() {
            let data = match p {
                0 => PlaneData {
                    offset: d.offset,
                    bytesused: d.bytesused,
                },
                n => d.later_planes[n - 1],
            };
            let src = m
                .plane_bytes(p)
                .and_then(|b| b.get(data.offset..))
                .ok_or_else(|| {
                    CaptureError::BadBuffer(format!(
                        "memory plane {p}: data offset {} past the buffer",
                        data.offset
                    ))
                })?;
            let used = data.bytesused.min(src.len());
            if used < plane.needed() && !partial {
                return Err(CaptureError::BadBuffer(format!(
                    "memory plane {p}: bytesused {} < {} bytes of image",
                    data.bytesused,
                    plane.needed()
                )));
            }
            for row in 0..plane.rows {
                let s = row * plane.src_stride;
                let Some(from) = src[..used].get(s..s + plane.row_bytes) else {
                    break;
                };
                let t = plane.dst_offset + row * plane.dst_stride;
                dst[t..t + plane.row_bytes].copy_from_slice(from);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::PlaneFormat;

    fn nv12m(w: u32, h: u32, strides: [u32; 2]) -> Negotiated {
        let mut n = Negotiated::single(FourCc::NV12M, w, h, strides[0], strides[0] * h);
        n.num_planes = 2;
        n.planes[1] = PlaneFormat {
            stride: strides[1],
            size: strides[1] * h / 2,
        };
        n.size_image = n.planes[0].size + n.planes[1].size;
        n
    }

    #[test]
    fn nv12m_becomes_packed_nv12_row_by_row() {
        let n = nv12m(4, 2, [6, 8]);
        let plan = PlanarCopy::plan(&n).unwrap();
        assert_eq!(plan.layout().format(), PixelFormat::Nv12);
        assert_eq!(plan.layout().len(), 4 * 3);
        // Plane 0 (behind a 2-byte data offset): rows "abcd.." and "efgh..".
        let (m, regions) = Mapping::heap_planes(&[2 + 12, 8]);
        regions[0].give_to_driver();
        regions[1].give_to_driver();
        regions[0].fill(|b| b.copy_from_slice(b"__abcd..efgh.."));
        regions[1].fill(|b| b.copy_from_slice(b"UVUV----"));
        regions[0].take_from_driver();
        regions[1].take_from_driver();
        let d = Dequeued {
            index: 0,
            bytesused: 12,
            offset: 2,
            later_planes: [
                PlaneData {
                    offset: 0,
                    bytesused: 8,
                },
                PlaneData::default(),
            ],
            sequence: 0,
            timestamp: Default::default(),
            error: false,
        };
        plan.check_mapping(&m).unwrap();
        let mut dst = vec![0u8; 12];
        plan.copy(&m, &d, false, &mut dst).unwrap();
        assert_eq!(&dst, b"abcdefghUVUV");
        // A short plane is refused unless the buffer is error-flagged.
        let short = Dequeued { bytesused: 5, ..d };
        assert!(matches!(
            plan.copy(&m, &short, false, &mut dst),
            Err(CaptureError::BadBuffer(_))
        ));
        plan.copy(&m, &short, true, &mut dst).unwrap();
    }

    #[test]
    fn yuv420m_becomes_packed_i420_plane_by_plane() {
        // 4x2: Y rows 6 bytes apart, U and V one row of 2 pixels each, in planes of
        // 3 and 4 bytes per line.
        let mut n = nv12m(4, 2, [6, 3]);
        n.fourcc = FourCc::YUV420M;
        n.num_planes = 3;
        n.planes[1] = PlaneFormat { stride: 3, size: 3 };
        n.planes[2] = PlaneFormat { stride: 4, size: 4 };
        let plan = PlanarCopy::plan(&n).unwrap();
        assert_eq!(
            plan.layout(),
            FrameLayout::packed(PixelFormat::I420, 4, 2).unwrap()
        );
        assert_eq!(plan.layout().len(), 4 * 2 + 2 + 2);
        let (m, regions) = Mapping::heap_planes(&[12, 1 + 3, 4]);
        for r in &regions {
            r.give_to_driver();
        }
        regions[0].fill(|b| b.copy_from_slice(b"abcd..efgh.."));
        regions[1].fill(|b| b.copy_from_slice(b"_uU."));
        regions[2].fill(|b| b.copy_from_slice(b"vV--"));
        for r in &regions {
            r.take_from_driver();
        }
        let d = Dequeued {
            index: 0,
            bytesused: 12,
            offset: 0,
            later_planes: [
                PlaneData {
                    offset: 1,
                    bytesused: 4,
                },
                PlaneData {
                    offset: 0,
                    bytesused: 4,
                },
            ],
            sequence: 0,
            timestamp: Default::default(),
            error: false,
        };
        plan.check_mapping(&m).unwrap();
        let mut dst = vec![0u8; 12];
        plan.copy(&m, &d, false, &mut dst).unwrap();
        assert_eq!(&dst, b"abcdefghuUvV");
        // A short V plane is refused.
        let mut short = d;
        short.later_planes[1].bytesused = 1;
        assert!(matches!(
            plan.copy(&m, &short, false, &mut dst),
            Err(CaptureError::BadBuffer(_))
        ));
        // A chroma plane with fewer bytes per line than its pixels is refused.
        n.planes[2].stride = 1;
        assert!(matches!(
            PlanarCopy::plan(&n),
            Err(CaptureError::BadBuffer(_))
        ));
    }

    #[test]
    fn formats_without_a_contiguous_equivalent_are_refused_by_name() {
        let mut n = nv12m(64, 48, [64, 64]);
        n.fourcc = FourCc(*b"NM21");
        let e = PlanarCopy::plan(&n).unwrap_err();
        assert!(
            matches!(e, CaptureError::UnsupportedPlanes { fourcc, .. } if fourcc == FourCc(*b"NM21"))
        );
        assert!(e.to_string().contains("NM21"), "{e}");
        // YUV420M with other than three planes has no copy plan either.
        n.fourcc = FourCc::YUV420M;
        assert!(PlanarCopy::plan(&n)
            .unwrap_err()
            .to_string()
            .contains("YM12"));
    }
}
