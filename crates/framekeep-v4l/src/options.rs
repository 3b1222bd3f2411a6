//! How a [`CaptureStream`](crate::CaptureStream) is configured, and what it reports.

use std::fmt;
use std::time::Duration;

use framekeep_core::cancel::CancelToken;
use framekeep_core::ledger::Ledger;
use framekeep_core::pipeline::OnCorrupt;

use crate::buffers::CaptureBuffers;
use crate::fourcc::FourCc;

/// The format to ask the driver for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FormatRequest {
    /// Pixel format.
    pub fourcc: FourCc,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second (None: keep the driver's rate).
    pub fps: Option<u32>,
}

impl FormatRequest {
    /// `fourcc` at `width` x `height`, driver's frame rate.
    pub fn new(fourcc: FourCc, width: u32, height: u32) -> FormatRequest {
        FormatRequest {
            fourcc,
            width,
            height,
            fps: None,
        }
    }

    /// The same request at `fps` frames per second.
    pub fn fps(mut self, fps: u32) -> FormatRequest {
        self.fps = Some(fps);
        self
    }
}

impl fmt::Display for FormatRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}x{}", self.fourcc, self.width, self.height)?;
        if let Some(fps) = self.fps {
            write!(f, " @{fps}")?;
        }
        Ok(())
    }
}

/// Called once when a stream closes, with its final statistics.
pub(crate) type OnClose = Box<dyn FnOnce(&StreamStats) + Send + 'static>;

/// Options of a capture stream, builder style. Defaults: the driver's current format, 4
/// mmap buffers, 2 s timeout, copy when fewer than 2 buffers would stay queued,
/// error-flagged buffers skipped, corrupt MJPEG frames skipped, every frame delivered (not
/// latest-only), 200 ms close grace.
pub struct StreamOptions {
    pub(crate) format: Option<FormatRequest>,
    pub(crate) strict: bool,
    pub(crate) buffers: u32,
    pub(crate) timeout: Duration,
    pub(crate) min_queued: usize,
    pub(crate) latest_only: bool,
    pub(crate) deliver_errors: bool,
    pub(crate) on_corrupt: OnCorrupt,
    pub(crate) cancel: Option<CancelToken>,
    pub(crate) on_close: Option<OnClose>,
    pub(crate) ledger: Option<Ledger>,
    pub(crate) controls: Vec<(String, i64)>,
    pub(crate) close_grace: Duration,
    pub(crate) user_buffers: Option<Box<dyn CaptureBuffers>>,
}

impl Default for StreamOptions {
    fn default() -> StreamOptions {
        StreamOptions {
            format: None,
            strict: false,
            buffers: 4,
            timeout: Duration::from_secs(2),
            min_queued: 2,
            latest_only: false,
            deliver_errors: false,
            on_corrupt: OnCorrupt::Skip,
            cancel: None,
            on_close: None,
            ledger: None,
            controls: Vec::new(),
            close_grace: Duration::from_millis(200),
            user_buffers: None,
        }
    }
}

impl StreamOptions {
    /// Default options.
    pub fn new() -> StreamOptions {
        StreamOptions::default()
    }

    /// Asks for a format (and rate).
    pub fn format(mut self, request: FormatRequest) -> Self {
        self.format = Some(request);
        self
    }

    /// With `true`, a granted format or rate that differs from the request is an error
    /// ([`CaptureError::FormatMismatch`](crate::CaptureError::FormatMismatch)) instead of
    /// being accepted and reported.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Number of buffers to request (at least 2; the driver may grant more). With
    /// [`user_buffers`](Self::user_buffers): how many supplier frames the stream keeps
    /// queued in the driver when the supplier has them.
    pub fn buffers(mut self, count: u32) -> Self {
        self.buffers = count.max(2);
        self
    }

    /// Longest wait for one frame before [`CaptureError::Timeout`](crate::CaptureError::Timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Copy threshold: when handing a buffer out would leave fewer than `n` buffers queued
    /// in the driver, the frame is copied into a pooled buffer and the driver's buffer is
    /// re-queued at once (GStreamer's copy threshold). Clamped to `1..buffers`. Unused with
    /// [`user_buffers`](Self::user_buffers): delivered frames are then the supplier's.
    pub fn min_queued(mut self, n: usize) -> Self {
        self.min_queued = n;
        self
    }

    /// Deliver only the newest ready frame; older ready ones are re-queued and counted as
    /// skipped. For displays and controllers that want the lowest latency.
    pub fn latest_only(mut self, on: bool) -> Self {
        self.latest_only = on;
        self
    }

    /// Deliver buffers the driver flagged `V4L2_BUF_FLAG_ERROR` (default: skip them). They
    /// are counted in [`StreamStats::errors`] either way. A delivered one has the stream's
    /// full layout even when the driver filled less of it: the bytes past its payload are
    /// whatever the buffer held before.
    pub fn deliver_errors(mut self, on: bool) -> Self {
        self.deliver_errors = on;
        self
    }

    /// What happens to a corrupt MJPEG frame: one whose structure is broken (truncated, no
    /// end-of-image marker, no or too little scan data, garbage where the scan should end;
    /// see [`framekeep_jpeg::inspect`]), checked on every frame
    /// without decoding it. Such a frame is never handed out; it is counted in
    /// [`StreamStats::corrupt`] and its buffer goes straight back to the driver. Then:
    /// [`OnCorrupt::Skip`] (default) waits for the next frame;
    /// [`OnCorrupt::Error`] returns [`CaptureError::Corrupt`](crate::CaptureError::Corrupt)
    /// from this call and goes on with the next; [`OnCorrupt::Fail`] returns it and ends the
    /// stream (later calls: [`CaptureError::Stopped`](crate::CaptureError::Stopped)).
    pub fn on_corrupt(mut self, policy: OnCorrupt) -> Self {
        self.on_corrupt = policy;
        self
    }

    /// A token that, when cancelled, makes a waiting [`CaptureStream::next_frame`](crate::CaptureStream::next_frame)
    /// return [`CaptureError::Cancelled`](crate::CaptureError::Cancelled) at once.
    pub fn with_cancel(mut self, token: &CancelToken) -> Self {
        self.cancel = Some(token.clone());
        self
    }

    /// A callback run once when the stream closes, with its final statistics.
    pub fn with_on_close(mut self, f: impl FnOnce(&StreamStats) + Send + 'static) -> Self {
        self.on_close = Some(Box::new(f));
        self
    }

    /// The ledger that tracks the stream and its held buffers (default: the global one).
    pub fn with_ledger(mut self, ledger: &Ledger) -> Self {
        self.ledger = Some(ledger.clone());
        self
    }

    /// How long closing waits for frames the application still holds (default 200 ms).
    /// Frames still held after that stay valid: their buffers are unmapped when they drop.
    pub fn close_grace(mut self, grace: Duration) -> Self {
        self.close_grace = grace;
        self
    }

    /// Captures into frames of `buffers` (`V4L2_MEMORY_USERPTR`): the driver fills the
    /// supplier's frames and a dequeued one is delivered as it is, zero copy, reshaped to the
    /// negotiated layout (MJPEG: to `bytesused`) with the driver's sequence and timestamp.
    /// The stream then takes a fresh frame from the supplier for the driver.
    ///
    /// Where the driver refuses user memory (`VIDIOC_REQBUFS` `EINVAL`, capabilities
    /// without `V4L2_BUF_CAP_SUPPORTS_USERPTR`, or the first `VIDIOC_QBUF` of user memory
    /// refused) and for formats whose planes are separate buffers (NV12M, YUV420M), the
    /// stream uses mmap buffers and copies each frame into a supplier frame (counted in
    /// [`StreamStats::copied`]). [`CaptureStream::negotiated`](crate::CaptureStream::negotiated)
    /// says which ([`BufferMode`](crate::BufferMode)). See [`CaptureBuffers`] for the rules
    /// a supplier follows.
    pub fn user_buffers(mut self, buffers: impl CaptureBuffers) -> Self {
        self.user_buffers = Some(Box::new(buffers));
        self
    }

    /// A control to set (by `v4l2-ctl -L` name) after negotiation, before streaming.
    pub fn control(mut self, name: impl Into<String>, value: i64) -> Self {
        self.controls.push((name.into(), value));
        self
    }
}

impl fmt::Debug for StreamOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamOptions")
            .field("format", &self.format)
            .field("strict", &self.strict)
            .field("buffers", &self.buffers)
            .field("timeout", &self.timeout)
            .field("min_queued", &self.min_queued)
            .field("latest_only", &self.latest_only)
            .field("deliver_errors", &self.deliver_errors)
            .field("on_corrupt", &self.on_corrupt)
            .field("close_grace", &self.close_grace)
            .field("user_buffers", &self.user_buffers.is_some())
            .finish_non_exhaustive()
    }
}

/// Counters of a stream (a snapshot).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Frames delivered.
    pub frames: u64,
    /// Frames the driver never delivered (sequence gaps).
    pub dropped: u64,
    /// Delivered frames that were copies: the application held too many buffers, the
    /// format's planes are separate buffers, or (user buffers) the driver refused user
    /// memory, or put the image at a data offset that had to be moved to the first byte.
    pub copied: u64,
    /// Error-flagged buffers plus failed re-queues.
    pub errors: u64,
    /// Ready frames passed over in latest-only mode, or discarded because the copy pool was
    /// exhausted.
    pub skipped: u64,
    /// Compressed (MJPEG) frames refused as corrupt (see [`StreamOptions::on_corrupt`]).
    pub corrupt: u64,
    /// Driver buffers still held by frames when the stream closed (kept mapped until they drop).
    pub held_at_close: u64,
    /// User buffers: queues of a buffer index with another address than it had before,
    /// each of which makes the driver map new memory for it. The stream picks indices by
    /// address, so this stays 0 while the supplier cycles through no more distinct buffers
    /// than the driver granted indices.
    pub repinned: u64,
}

impl fmt::Display for StreamStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "frames {} dropped {} copied {} errors {} skipped {} corrupt {}",
            self.frames, self.dropped, self.copied, self.errors, self.skipped, self.corrupt
        )?;
        if self.repinned > 0 {
            write!(f, " repinned {}", self.repinned)?;
        }
        Ok(())
    }
}
