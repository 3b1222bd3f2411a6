//! The one error type of the calibration tools.
//!
//! Every failure a user can cause (a missing image, a board that is never found, mismatched
//! stereo lists, ...) has its own variant that names the culprit, so the CLIs can print one
//! clear line and exit non-zero instead of panicking. OpenCV failures keep the call that
//! failed as context.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = CalibError> = std::result::Result<T, E>;

/// Everything that can go wrong while calibrating.
#[derive(Debug, thiserror::Error)]
pub enum CalibError {
    /// The input specification (directory, glob or list file) matched no image.
    #[error("no images found in {spec}")]
    NoImages {
        /// The directory, glob or list file as given.
        spec: String,
    },
    /// An image named by the input does not exist.
    #[error("image {} does not exist", path.display())]
    MissingImage {
        /// The missing file.
        path: PathBuf,
    },
    /// An image exists but cannot be decoded.
    #[error("cannot read image {}: not a decodable image", path.display())]
    UnreadableImage {
        /// The undecodable file.
        path: PathBuf,
    },
    /// An image is truncated or corrupt (found while decoding it, or from its structure).
    #[error("image {} is corrupt: {reason}", path.display())]
    CorruptImage {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An image's header announces more pixels than the tools read; nothing was decoded.
    #[error("image {} is {width}x{height}, larger than the limit of {max_pixels} pixels", path.display())]
    ImageTooLarge {
        /// The file.
        path: PathBuf,
        /// Its width, from the header.
        width: u32,
        /// Its height, from the header.
        height: u32,
        /// The limit.
        max_pixels: u64,
    },
    /// Views of one camera must all have the same size.
    #[error(
        "image {} is {width}x{height} but {} is {expected_width}x{expected_height}: all views of a camera must have the same size",
        path.display(), first.display()
    )]
    SizeMismatch {
        /// The image whose size differs.
        path: PathBuf,
        /// Its width.
        width: i32,
        /// Its height.
        height: i32,
        /// The first image, which set the expected size.
        first: PathBuf,
        /// The expected width.
        expected_width: i32,
        /// The expected height.
        expected_height: i32,
    },
    /// The board was not detected in any image: usually a wrong `--board-size`.
    #[error(
        "the {board} was not found in any of the {count} images (check the board size and type)"
    )]
    BoardNotFound {
        /// Description of the board that was searched for.
        board: String,
        /// Number of images searched.
        count: usize,
    },
    /// Too few views survived detection (and outlier removal) to calibrate.
    #[error("only {usable} usable views, at least {needed} needed; skipped: {}", if skipped.is_empty() { "none".to_string() } else { skipped.join(", ") })]
    TooFewViews {
        /// Views that can be used.
        usable: usize,
        /// Views required.
        needed: usize,
        /// Names of the views that were skipped, and why.
        skipped: Vec<String>,
    },
    /// Left and right inputs of a stereo calibration do not pair up.
    #[error("{left} left images ({left_spec}) but {right} right images ({right_spec}): stereo inputs must pair up")]
    PairCountMismatch {
        /// Number of left images.
        left: usize,
        /// Number of right images.
        right: usize,
        /// Left input as given.
        left_spec: String,
        /// Right input as given.
        right_spec: String,
    },
    /// A command-line value is invalid.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An intrinsics file could not be used to seed a stereo calibration.
    #[error("cannot use intrinsics file {}: {reason}", path.display())]
    BadIntrinsics {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A file-system operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was attempted ("cannot write", "cannot read", ...).
        action: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An OpenCV call failed.
    #[error("OpenCV error in {context}: {source}")]
    OpenCv {
        /// The operation that failed.
        context: &'static str,
        /// The OpenCV error.
        #[source]
        source: opencv::Error,
    },
    /// A framekeep-cv helper failed.
    #[error("{0}")]
    Cv(#[from] framekeep_cv::CvError),
    /// The run was cancelled (Ctrl-C) before it finished; nothing was written.
    #[error("cancelled ({0}); no output written")]
    Cancelled(String),
    /// A worker thread failed in a way that is not an input error (a panic).
    #[error("detection worker failed: {0}")]
    Worker(String),
    /// Two live cameras whose frames never come close enough in time to pair up.
    #[error("cameras {left} and {right} are not synchronised: {frames} frames in a row had no partner within {max_skew_ms:.1} ms (last difference {last_skew_ms:.1} ms); check that both run at the same frame rate, or raise --max-skew-ms")]
    Unsynchronised {
        /// The left camera.
        left: String,
        /// The right camera.
        right: String,
        /// Frames dropped in a row.
        frames: u64,
        /// The pairing bound, milliseconds.
        max_skew_ms: f64,
        /// The last capture-time difference, milliseconds.
        last_skew_ms: f64,
    },
    /// A live camera could not be opened or failed while streaming.
    #[error("camera {device}: {message}")]
    Device {
        /// The device as given.
        device: String,
        /// What went wrong.
        message: String,
    },
    /// The publisher of a live service (`--service`) went away mid-run: it closed, or its
    /// process died. The views written so far stay; nothing is calibrated.
    #[error("service {service}: its publisher is gone ({}); nothing calibrated", if *crashed { "its process died" } else { "it closed" })]
    PublisherGone {
        /// The service as given.
        service: String,
        /// Whether the publisher's process died instead of closing.
        crashed: bool,
    },
    /// A live service could not be used: no publisher sent a frame in time, the service
    /// refused the subscription, or a frame could not be received.
    #[error("service {service}: {message}")]
    Service {
        /// The service as given.
        service: String,
        /// What went wrong.
        message: String,
    },
}

/// Adds the name of the failing operation to OpenCV results.
pub(crate) trait CvContext<T> {
    /// Maps an `opencv::Error` into [`CalibError::OpenCv`] with `context`.
    fn cv(self, context: &'static str) -> Result<T>;
}

impl<T> CvContext<T> for std::result::Result<T, opencv::Error> {
    fn cv(self, context: &'static str) -> Result<T> {
        self.map_err(|source| CalibError::OpenCv { context, source })
    }
}
