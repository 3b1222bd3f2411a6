//! framekeep-cv: the OpenCV bridge of framekeep.
//!
//! framekeep owns every frame and every OpenCV `Mat` of a camera pipeline. This crate
//! makes OpenCV fit that ownership model instead of working around it:
//!
//! * [`mat`]: zero-copy `Mat` views of frames that keep their frame alive
//!   ([`MatView`](mat::MatView)) or borrow a unique one for writing
//!   ([`MatViewMut`](mat::MatViewMut)), and [`TrackedMat`](mat::TrackedMat), an
//!   OpenCV-allocated `Mat` registered in the ledger while it lives. The crate's only
//!   `unsafe` code is the views'.
//! * [`convert`]: pixel formats to BGR through `cvtColor`/`imdecode`, into pooled frames.
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

pub use error::CvError;
/// The `opencv` crate this bridge is built on, so users need no second dependency.
pub use opencv;

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
