//! framekeep-cv: the OpenCV bridge of framekeep.
//!
//! framekeep owns every frame and every OpenCV `Mat` of a camera pipeline. This crate
//! makes OpenCV fit that ownership model instead of working around it:
//!
//! * [`mat`]: zero-copy `Mat` views of frames that keep their frame alive
//!   ([`MatView`](mat::MatView)) or borrow a unique one for writing
//!   ([`MatViewMut`](mat::MatViewMut)), and [`TrackedMat`](mat::TrackedMat), an
//!   OpenCV-allocated `Mat` registered in the ledger while it lives. The crate's
//!   `unsafe` code is the views', the JPEG decoder's FFI and one call into an AVX2 build.
//! * [`convert`]: pixel formats to BGR (YUYV/UYVY by framekeep's own code, bit-exact with
//!   `cvtColor`; others through `cvtColor` or `yuvutils-rs`; MJPEG through a strict
//!   libjpeg-turbo decoder: a corrupt frame is an error, never a picture), into pooled frames.
//! * [`display`]: the highgui display sink, one GUI thread per process, headless fallbacks.
//! * [`io`]: image sequences, snapshots and video files as sources and sinks.
//! * `testing` (feature `testing`): error injection, so tests can prove that failing
//!   helpers release all.
//!
//! Every public function returns [`CvError`]. Helpers return owned
//! ([`TrackedMat`](mat::TrackedMat), [`Frame`](framekeep_core::frame::Frame)) or view
//! types; none returns a raw `Mat` the caller must remember to free.
//!
//! Every item has one path: the modules above are the crate's namespaces, and
//! everything below them is private.
#![warn(missing_docs)]

pub mod convert;
pub mod display;
mod error;
mod fault;
pub mod io;
mod jpeg;
pub mod mat;
mod yuv;

pub use error::CvError;
/// The `opencv` crate this bridge is built on, so users need no second dependency.
pub use opencv;

/// Switches OpenCV's own logging off (the `[ERROR:0@0.1] persistence.cpp ...` lines it
/// writes to stderr), unless the user asked for it with `OPENCV_LOG_LEVEL`. Returns
/// whether it did.
///
/// Every binary calls this first, so that its stderr holds its own messages only. OpenCV
/// 4.6 (Debian 12) has no callback to route its log through `tracing` (4.8 added
/// `replaceWriteLogMessage`), so it is silenced instead; nothing is lost that matters:
/// an OpenCV failure reaches framekeep as an exception, which becomes a typed error.
pub fn silence_opencv_log() -> bool {
    if std::env::var_os("OPENCV_LOG_LEVEL").is_some() {
        return false;
    }
    opencv::core::set_log_level(opencv::core::LogLevel::LOG_LEVEL_SILENT).is_ok()
}

/// Test kits, for tests and benchmarks only (enable the `testing` feature in
/// dev-dependencies, as tokio's `test-util`).
///
/// The promise of this crate is that a helper which fails half-way releases every `Mat`
/// and frame it created. RAII makes that true by construction, and this module lets
/// tests check it: [`fail_at_mat`](testing::fail_at_mat) arms the calling thread so
/// that its N-th `Mat` creation from now (views and tracked Mats alike) fails with
/// [`CvError::Injected`].
///
/// ```
/// use framekeep_core::frame::{Frame, FrameLayout, PixelFormat};
/// use framekeep_cv::mat::MatView;
/// use framekeep_cv::{testing, CvError};
///
/// let frame = Frame::zeroed(FrameLayout::packed(PixelFormat::Gray8, 8, 8)?)?;
/// let guard = testing::fail_at_mat(2);
/// let first = MatView::new(&frame)?; // the first Mat: fine
/// assert!(matches!(MatView::new(&frame), Err(CvError::Injected(2))));
/// drop(guard);
/// drop(first);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(feature = "testing")]
pub mod testing {
    pub use crate::fault::{fail_at_mat, FaultGuard};
}
