//! Typed errors of the capture layer.
//!
//! Every failure a driver can produce maps onto one variant here, so that callers can tell
//! an unplugged camera ([`CaptureError::Disconnected`]) from a transient fault (an injected
//! `QBUF` error, a timeout) without parsing `errno` values, and nothing in this crate panics
//! on a misbehaving device.

use std::io;
use std::time::Duration;

use framekeep_core::frame::FrameError;
use framekeep_core::pool::{AcquireError, PoolError};
use framekeep_jpeg::JpegDefect;

use crate::fourcc::FourCc;

/// Result alias of this crate.
pub type Result<T, E = CaptureError> = std::result::Result<T, E>;

/// Everything that can go wrong while listing, negotiating or streaming.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The device went away (ENODEV, ENXIO, or POLLHUP/POLLERR after an unplug).
    #[error("device disconnected during {op}")]
    Disconnected {
        /// The operation that noticed the disconnect.
        op: &'static str,
    },
    /// No frame arrived within the stream's timeout.
    #[error("no frame within {0:?}")]
    Timeout(Duration),
    /// The stream's cancel token fired while waiting.
    #[error("capture cancelled")]
    Cancelled,
    /// The stream was stopped; no more frames will be delivered.
    #[error("stream stopped")]
    Stopped,
    /// A driver call failed.
    #[error("{op} failed: {source}")]
    Io {
        /// The ioctl or system call, e.g. `VIDIOC_QBUF`.
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The driver reported an unrecoverable streaming error (EIO from `VIDIOC_DQBUF`).
    #[error("fatal streaming error reported by the driver")]
    StreamFailed,
    /// `strict` negotiation: the driver granted something else than what was asked.
    #[error("format mismatch: requested {requested}, driver granted {granted}")]
    FormatMismatch {
        /// What the caller asked for.
        requested: String,
        /// What the driver granted.
        granted: String,
    },
    /// The pixel format has no framekeep equivalent.
    #[error("pixel format {0} is not supported by framekeep")]
    UnsupportedFormat(FourCc),
    /// A multi-planar format (separate memory planes, e.g. YUV420M) that framekeep's frame
    /// model cannot represent: a frame is one buffer, and only formats with a contiguous
    /// framekeep equivalent (NV12M as NV12) are copied into one.
    #[error("multi-planar format {fourcc} is not supported: {reason}")]
    UnsupportedPlanes {
        /// The format the driver granted.
        fourcc: FourCc,
        /// Why it cannot be delivered.
        reason: String,
    },
    /// No device matched a lookup by name or bus info.
    #[error("no V4L2 capture device matches {0:?}")]
    NotFound(String),
    /// The device cannot capture video with streaming I/O.
    #[error("{0} is not a streaming video capture device")]
    NotCapture(String),
    /// A named control does not exist on the device.
    #[error("no control named {0:?}")]
    NoSuchControl(String),
    /// The driver gave no buffers, or fewer than two.
    #[error("driver granted {0} buffers, need at least 2")]
    TooFewBuffers(u32),
    /// A dequeued buffer was inconsistent (bad index, `bytesused` too small for the format).
    #[error("driver returned a bad buffer: {0}")]
    BadBuffer(String),
    /// A compressed (MJPEG) frame is corrupt or incomplete (see
    /// [`StreamOptions::on_corrupt`](crate::StreamOptions::on_corrupt)).
    #[error("corrupt MJPEG frame {sequence}: {defect}")]
    Corrupt {
        /// The frame's sequence number.
        sequence: u64,
        /// What is wrong with it.
        defect: JpegDefect,
    },
    /// The granted format's frames are too large for a copy pool (over the pool byte
    /// ceiling): refused when the stream starts, before any buffer is mapped.
    #[error("the granted format's frames cannot be pooled: {0}")]
    Pool(#[from] PoolError),
    /// framekeep-core refused the granted format or a buffer as a frame (e.g. an odd size
    /// for a 4:2:0 format, a buffer too small for its layout).
    #[error("frame error: {0}")]
    Frame(#[from] FrameError),
    /// A frame from the stream's [`CaptureBuffers`](crate::CaptureBuffers) supplier is too
    /// small for what the driver fills (`sizeimage`) or for the frame's layout.
    #[error("user buffer of {capacity} bytes, the driver needs {needed}")]
    UserBufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes of the supplier's buffer.
        capacity: usize,
    },
    /// A frame from the stream's [`CaptureBuffers`](crate::CaptureBuffers) supplier cannot
    /// be written: another handle shares its buffer, or its memory is read-only.
    #[error("user buffer is shared or read-only: the driver cannot fill it")]
    UserBufferNotWritable,
    /// A [`FramePool`](framekeep_core::pool::FramePool) supplying user buffers failed
    /// (closed, or out of memory); a pool with no idle buffer is not an error.
    #[error("user buffer pool: {0}")]
    Acquire(#[from] AcquireError),
}

impl CaptureError {
    /// Maps an OS error from `op` to a typed error (ENODEV/ENXIO mean unplugged, EIO from
    /// DQBUF means the driver gave up streaming).
    pub fn from_os(op: &'static str, source: io::Error) -> Self {
        match source.raw_os_error() {
            Some(libc::ENODEV) | Some(libc::ENXIO) => CaptureError::Disconnected { op },
            Some(libc::EIO) if op == "VIDIOC_DQBUF" => CaptureError::StreamFailed,
            _ => CaptureError::Io { op, source },
        }
    }

    /// True for errors after which the stream cannot deliver again (disconnect, fatal error,
    /// stop).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            CaptureError::Disconnected { .. } | CaptureError::StreamFailed | CaptureError::Stopped
        )
    }
}
