//! What crosses the process boundary: the frame header of every sample and the hold
//! report subscribers send back. Both are versioned by their iceoryx2 type names: a peer
//! with another layout is refused when it opens the service
//! ([`IpcError::Incompatible`](crate::IpcError::Incompatible)).

use std::time::Duration;

use framekeep_core::frame::{FrameError, FrameLayout, FrameMeta, PixelFormat};
use iceoryx2::prelude::ZeroCopySend;

use crate::error::IpcError;

/// The metadata of one frame sample.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, ZeroCopySend)]
#[type_name("framekeep.FrameHeader.v1")]
#[repr(C)]
pub(crate) struct FrameHeader {
    /// The pixel format's V4L2 fourcc.
    pub(crate) format: [u8; 4],
    pub(crate) width: u32,
    pub(crate) height: u32,
    /// Bytes between row starts (0 for MJPEG).
    pub(crate) stride: u32,
    /// Bytes of the layout (the payload may be longer).
    pub(crate) len: u64,
    /// The frame's own sequence number (the driver's for a camera).
    pub(crate) sequence: u64,
    /// The frame's capture time, CLOCK_MONOTONIC nanoseconds.
    pub(crate) timestamp_ns: u64,
    /// The publisher's id of the frame (its pool lease id, or loan id).
    pub(crate) frame_id: u64,
    /// The publisher's count of samples sent, from 0: a subscriber counts its drops from
    /// the gaps.
    pub(crate) publish_seq: u64,
    /// When the publisher sent it, CLOCK_MONOTONIC nanoseconds.
    pub(crate) published_ns: u64,
}

/// The user header as iceoryx2 stores it: aligned (and so sized) to a page. iceoryx2 puts
/// the payload right after the user header in a chunk aligned to the largest alignment,
/// so every payload starts on a page: a V4L2 driver can capture into it (USERPTR), rows
/// start on cache lines. (`payload_alignment(4096)` on a `[u8]` payload would align each
/// byte instead.) The derive only accepts a bare `repr(C)`, hence two attributes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, ZeroCopySend)]
#[type_name("framekeep.PageFrameHeader.v1")]
#[repr(C)]
#[repr(align(4096))]
pub(crate) struct PageHeader(pub(crate) FrameHeader);

impl FrameHeader {
    /// The header of a frame with `layout` and `meta` (the send fields are filled at send).
    pub(crate) fn new(
        layout: &FrameLayout,
        meta: FrameMeta,
        frame_id: u64,
    ) -> Result<FrameHeader, IpcError> {
        let too_large = || IpcError::TooLarge {
            format: layout.format(),
            width: layout.width(),
            height: layout.height(),
            stride: layout.stride(),
        };
        let narrow = |v: usize| u32::try_from(v).map_err(|_| too_large());
        Ok(FrameHeader {
            format: layout.format().fourcc(),
            width: narrow(layout.width())?,
            height: narrow(layout.height())?,
            stride: narrow(layout.stride())?,
            len: layout.len() as u64,
            sequence: meta.sequence,
            timestamp_ns: u64::try_from(meta.timestamp.as_nanos()).unwrap_or(u64::MAX),
            frame_id,
            publish_seq: 0,
            published_ns: 0,
        })
    }

    /// The layout this header describes, checked against a payload of `payload` bytes:
    /// `Err((what is wrong, framekeep's reason if it has one))`.
    pub(crate) fn layout(
        &self,
        payload: usize,
    ) -> Result<FrameLayout, (&'static str, Option<FrameError>)> {
        let format = PixelFormat::from_fourcc(self.format).ok_or(("unknown pixel format", None))?;
        let (w, h) = (self.width as usize, self.height as usize);
        let len = usize::try_from(self.len).unwrap_or(usize::MAX);
        let layout = match format {
            PixelFormat::Mjpeg => FrameLayout::mjpeg(w, h, len),
            f => FrameLayout::strided(f, w, h, self.stride as usize)
                .map_err(|e| ("invalid layout", Some(e)))?,
        };
        if layout.len() != len {
            return Err(("length disagrees with the layout", None));
        }
        if len > payload {
            return Err(("layout longer than the payload", None));
        }
        Ok(layout)
    }

    /// The frame metadata this header carries.
    pub(crate) fn meta(&self) -> FrameMeta {
        FrameMeta {
            sequence: self.sequence,
            timestamp: Duration::from_nanos(self.timestamp_ns),
        }
    }
}

/// Bytes of a subscriber's name in a hold report.
pub(crate) const NAME_BYTES: usize = 32;

/// What a subscriber reports to its publisher about itself, on the service's hold side
/// service: the samples it holds and since when, what it received and lost.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, ZeroCopySend)]
#[type_name("framekeep.HoldReport.v1")]
#[repr(C)]
pub(crate) struct HoldReport {
    /// The subscriber's iceoryx2 port id (high and low halves).
    pub(crate) port_hi: u64,
    pub(crate) port_lo: u64,
    pub(crate) pid: u32,
    /// The policy (`delivery::code`) and its depth.
    pub(crate) policy: u32,
    pub(crate) depth: u32,
    /// Samples held right now (received, not all frame handles dropped yet).
    pub(crate) held: u32,
    /// When the oldest held sample was received, CLOCK_MONOTONIC ns (0: none held).
    pub(crate) oldest_held_ns: u64,
    /// Frames received so far.
    pub(crate) received: u64,
    /// Samples lost so far (gaps in the publisher's send count).
    pub(crate) dropped: u64,
    /// When this report was made, CLOCK_MONOTONIC ns.
    pub(crate) reported_ns: u64,
    /// The subscriber's name, UTF-8, zero-padded.
    pub(crate) name: [u8; NAME_BYTES],
}

impl HoldReport {
    /// The subscriber port id this report is about.
    pub(crate) fn port(&self) -> u128 {
        (u128::from(self.port_hi) << 64) | u128::from(self.port_lo)
    }

    /// Sets the subscriber port id.
    pub(crate) fn set_port(&mut self, port: u128) {
        self.port_hi = (port >> 64) as u64;
        self.port_lo = port as u64;
    }

    /// Sets the name, cut to [`NAME_BYTES`] on a character boundary.
    pub(crate) fn set_name(&mut self, name: &str) {
        let mut end = name.len().min(NAME_BYTES);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        self.name = [0; NAME_BYTES];
        self.name[..end].copy_from_slice(&name.as_bytes()[..end]);
    }
}

/// CLOCK_MONOTONIC now, in nanoseconds: the clock of frame timestamps, comparable across
/// processes.
pub(crate) fn monotonic_ns() -> u64 {
    u64::try_from(framekeep_core::time::monotonic_now().as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_carries_the_layout_and_meta() {
        let layout = FrameLayout::strided(PixelFormat::Yuyv, 640, 480, 1536).unwrap();
        let meta = FrameMeta {
            sequence: 7,
            timestamp: Duration::from_millis(1234),
        };
        let h = FrameHeader::new(&layout, meta, 99).unwrap();
        assert_eq!(h.layout(layout.len()).unwrap(), layout);
        assert_eq!(h.meta(), meta);
        assert_eq!(h.frame_id, 99);
        // A payload shorter than the layout is refused, never read past.
        assert!(h.layout(layout.len() - 1).is_err());
        let jpeg = FrameLayout::mjpeg(1920, 1080, 12345);
        let h = FrameHeader::new(&jpeg, meta, 1).unwrap();
        assert_eq!(h.layout(20000).unwrap(), jpeg);
    }

    #[test]
    fn bad_headers_are_errors() {
        let mut h = FrameHeader::new(
            &FrameLayout::packed(PixelFormat::Bgr24, 4, 4).unwrap(),
            FrameMeta::default(),
            0,
        )
        .unwrap();
        h.format = *b"ZZZZ";
        assert!(h.layout(1 << 20).is_err());
        h.format = *b"BGR3";
        h.stride = 3; // below width * 3
        assert!(h.layout(1 << 20).is_err());
        h.stride = 12;
        h.len = 1; // disagrees with the layout
        assert!(h.layout(1 << 20).is_err());
    }

    #[test]
    fn the_page_header_aligns_payloads_to_pages() {
        assert_eq!(std::mem::align_of::<PageHeader>(), 4096);
    }

    #[test]
    fn hold_report_fields_round_trip() {
        let mut r = HoldReport::default();
        r.set_port(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);
        assert_eq!(r.port(), 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);
        r.set_name("viewer");
        assert_eq!(&r.name[..7], b"viewer\0");
        r.set_name(&"é".repeat(40)); // 80 bytes, cut on a character boundary
        assert_eq!(&r.name[..], "é".repeat(16).as_bytes());
    }
}
