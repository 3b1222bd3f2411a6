//! The one error type of the OpenCV bridge.
//!
//! OpenCV reports failures as C++ exceptions that the `opencv` crate turns into
//! [`opencv::Error`]; framekeep adds its own refusals (a format OpenCV cannot view, a
//! shared frame where a unique one is needed, a missing display). Every public function
//! of this crate returns [`CvError`], so callers match one enum and nothing panics on bad
//! input. Errors of other crates are kept as `source()`s, never flattened into text.

use std::sync::Arc;

use framekeep_core::frame::{FrameError, PixelFormat};
use framekeep_core::pipeline::StageError;
use framekeep_core::pool::{AcquireError, PoolError};
use framekeep_core::supervisor::SpawnError;
use framekeep_jpeg::JpegDefect;

use crate::display::DetectError;
use crate::display::Platform;

/// Why compressed data was judged corrupt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Corruption {
    /// Its structure is broken (found without decoding: truncated, no scan, garbage).
    #[error(transparent)]
    Structure(#[from] JpegDefect),
    /// The decoder refused it or warned about it (libjpeg's message, e.g. "Corrupt JPEG
    /// data: bad Huffman code").
    #[error("libjpeg: {0}")]
    Decoder(String),
    /// It decodes to another size than announced (the camera's format, the first
    /// image of a sequence).
    #[error("it is a {width}x{height} image, not the {expected_width}x{expected_height} expected")]
    Size {
        /// The image's width.
        width: usize,
        /// The image's height.
        height: usize,
        /// The width expected.
        expected_width: usize,
        /// The height expected.
        expected_height: usize,
    },
}

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
    /// [`BgrConverter`](crate::convert::BgrConverter)) refused the frame.
    #[error("conversion: {0}")]
    Convert(String),
    /// Decoding produced no image (corrupt or empty data).
    #[error("could not decode {0}")]
    Decode(String),
    /// Compressed data is corrupt or incomplete (a truncated MJPEG frame, a JPEG file
    /// that ends early, a decoder warning): no picture is made of it.
    #[error("corrupt {what}: {reason}")]
    Corrupt {
        /// What was corrupt: `MJPEG frame 12`, a file's path.
        what: String,
        /// Why.
        reason: Corruption,
    },
    /// An image or video file (or a directory or list of them) cannot be used.
    #[error("{}: {reason}", path.display())]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An image file's header announces more pixels than the reader's limit; nothing was
    /// decoded.
    #[error("{}: a {width}x{height} image is larger than the limit of {max_pixels} pixels", path.display())]
    ImageTooLarge {
        /// The file.
        path: std::path::PathBuf,
        /// Its width, from the header.
        width: usize,
        /// Its height, from the header.
        height: usize,
        /// The limit.
        max_pixels: usize,
    },
    /// Reading or writing a file or directory failed.
    #[error("I/O error on {}", path.display())]
    Io {
        /// The file or directory.
        path: std::path::PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// An injected failure at the `n`-th Mat (tests of error paths; only with the
    /// `testing` feature, see `testing::fail_at_mat`).
    #[error("injected failure at Mat #{0}")]
    Injected(u32),
    /// No display is available for highgui windows (the source says why).
    #[error("no display")]
    NoDisplay(#[from] DetectError),
    /// The process's GUI thread could not be started (it is started once per process,
    /// so every later display gets this error too).
    #[error("cannot start the GUI thread")]
    GuiStart(#[source] Arc<std::io::Error>),
    /// The GUI thread has exited.
    #[error("the GUI thread has exited")]
    GuiExited,
    /// The GUI of this process already runs on another platform (Qt is initialised once
    /// per process).
    #[error(
        "the GUI of this process already runs on {running:?} (Qt is initialised once per \
         process); asked for {asked:?}"
    )]
    GuiPlatform {
        /// The platform the GUI thread runs on.
        running: Platform,
        /// The platform asked for.
        asked: Platform,
    },
    /// The display already has a window of this name.
    #[error("window {0:?} already exists")]
    DuplicateWindow(String),
    /// The supervised worker of a display window could not be spawned.
    #[error("cannot start the worker of display window {window:?}")]
    DisplayWorker {
        /// The window's name.
        window: String,
        /// Why the supervisor refused.
        #[source]
        source: SpawnError,
    },
}

/// A bridge failure inside a pipeline element (the bridge's sources, stages and sinks
/// return it with `?`): a pool's error stays a [`StageError::Acquire`] (so a cancelled or
/// closed pool is an orderly stop), a frame's a [`StageError::Frame`], and anything else
/// is a [`StageError::Failed`] carrying the [`CvError`] and its `source()` chain.
impl From<CvError> for StageError {
    fn from(error: CvError) -> StageError {
        match error {
            CvError::Acquire(e) => StageError::Acquire(e),
            CvError::Frame(e) => StageError::Frame(e),
            e => StageError::from_error(e),
        }
    }
}
