//! framekeep-cv: the OpenCV bridge of framekeep.
//!
//! framekeep owns every frame and every OpenCV `Mat` of a camera pipeline. This crate
//! makes OpenCV fit that ownership model instead of working around it:
//!
//! * [`view`]: zero-copy `Mat` views of frames that keep their frame alive
//!   ([`MatView`]) or borrow a unique one for writing ([`MatViewMut`]). The crate's only
//!   `unsafe` code lives there.
//! * [`tracked`]: [`TrackedMat`], an OpenCV-allocated `Mat` registered in the ledger
//!   while it lives, and [`copy_to_frame`] to bring a `Mat` back into a pooled frame.
//! * [`convert`]: pixel formats to BGR through `cvtColor`/`imdecode`, into pooled frames.
//! * [`display`]: the highgui display sink, one GUI thread per process, headless fallbacks.
//! * [`io`]: image sequences, snapshots and video files as sources and sinks.
//! * [`fault`]: error injection, so tests can prove that failing helpers release all.
//!
//! Helpers return owned ([`TrackedMat`], [`Frame`](framekeep_core::frame::Frame)) or view
//! types; none returns a raw `Mat` the caller must remember to free.
#![warn(missing_docs)]

pub mod convert;
pub mod display;
mod error;
pub mod fault;
pub mod io;
pub mod tracked;
pub mod view;

pub use convert::{BgrConverter, SizedBgrConverter};
pub use error::CvError;
/// The `opencv` crate this bridge is built on, so users need no second dependency.
pub use opencv;
pub use tracked::{copy_to_frame, TrackedMat};
pub use view::{MatShape, MatView, MatViewMut};
