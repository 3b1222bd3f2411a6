//! The one error type of the OpenCV bridge.
//!
//! OpenCV reports failures as C++ exceptions that the `opencv` crate turns into
//! [`opencv::Error`]; framekeep adds its own refusals (a format OpenCV cannot view, a
//! shared frame where a unique one is needed, a missing display). Every public function
//! of this crate returns [`CvError`], so callers match one enum and nothing panics on bad
//! input.

use framekeep_core::frame::{FrameError, PixelFormat};
use framekeep_core::pool::{AcquireError, PoolError};

/// Why an OpenCV bridge operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CvError {
    /// OpenCV itself raised an error.
    #[error("OpenCV: {0}")]
    OpenCv(#[from] opencv::Error),
    /// A frame layout or view was refused.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// No output frame could be acquired from a pool.
    #[error(transparent)]
    Acquire(#[from] AcquireError),
    /// A pool could not be built.
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// A mutable view was asked for a frame whose buffer other handles share.
    #[error("a mutable Mat view needs the only handle on the frame's buffer")]
    SharedFrame,
    /// The frame is larger than OpenCV's `int` dimensions allow.
    #[error("frame of {width}x{height} (stride {stride}) is too large for an OpenCV Mat")]
    TooLarge {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
        /// Bytes per row.
        stride: usize,
    },
    /// The operation does not support this pixel format.
    #[error("{operation} does not support pixel format {format}")]
    Unsupported {
        /// What was attempted.
        operation: &'static str,
        /// The format it got.
        format: PixelFormat,
    },
    /// A Mat does not have the shape or type needed.
    #[error("Mat mismatch: {0}")]
    MatMismatch(String),
    /// OpenCV reallocated an output instead of writing into the frame's buffer
    /// (its size or type did not match what the call produced).
    #[error("OpenCV reallocated the output of {0} instead of writing into the frame")]
    Reallocated(&'static str),
    /// A conversion done outside OpenCV (the SIMD NV12 path of
    /// [`BgrConverter`](crate::BgrConverter)) refused the frame.
    #[error("conversion: {0}")]
    Convert(String),
    /// Decoding produced no image (corrupt or empty data).
    #[error("could not decode {0}")]
    Decode(String),
    /// An image or video file could not be read or written.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// An I/O error while listing or reading inputs.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// An injected failure (tests of error paths; see [`crate::fault`]).
    #[error("injected failure at Mat #{0}")]
    Injected(u32),
    /// No display is available for highgui windows.
    #[error("no display: {0}")]
    NoDisplay(String),
    /// The GUI thread is gone or did not answer in time.
    #[error("GUI thread unavailable: {0}")]
    Gui(String),
}
