//! framekeep: owns every video frame and OpenCV `Mat` in a camera pipeline.
//!
//! This facade re-exports the workspace crates so that `examples/` and `tests/`
//! live at the top of the repository:
//!
//! * [`core`]: frames, the pool, the ledger, cancellation, the supervisor, pipelines.
//! * `cv` (feature `cv`): the OpenCV bridge and the display sink.
//! * `v4l` (feature `v4l`): V4L2 capture.
#![warn(missing_docs)]
#![doc = ""]
#![doc = "## The README (its examples are compiled as doctests)"]
#![doc = include_str!("../README.md")]

pub use framekeep_core as core;
#[cfg(feature = "cv")]
pub use framekeep_cv as cv;
#[cfg(feature = "v4l")]
pub use framekeep_v4l as v4l;
