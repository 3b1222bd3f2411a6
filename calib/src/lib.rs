//! framekeep-calib: mono and stereo camera calibration on framekeep.
//!
//! The library holds everything the `calib-mono` and `calib-stereo` tools do, so tests and
//! benchmarks drive the same code:
//!
//! * [`board`]: calibration targets (chessboard, symmetric and asymmetric circle grids),
//!   their geometry and their detection with sanity checks.
//! * [`detect`]: board detection over an image set on supervised worker threads.
//! * [`select`]: ROS-style view selection by coverage (X, Y, size, skew).
//! * [`mono`]: single-camera calibration (`calibrateCameraExtended`), flags, outliers.
//! * [`stereo`]: stereo calibration, rectification, epipolar error, rectified preview.
//! * [`output`]: all-or-nothing output files (FileStorage YAML, JSON).
//! * [`report`]: the report image and the one-screen summary.
//! * [`live`]: live input, one camera or a stereo pair (timestamp pairing): views chosen
//!   by coverage as frames arrive, written out, then calibrated like an image set.
//! * [`run`]: the tools' complete runs; [`cli`]: their shared command-line pieces.
//! * [`synth`]: synthetic ground truth (views rendered through a known camera or rig).
//! * [`input`]: directories, globs and list files; [`imageio`]: image files without
//!   OpenCV's imgcodecs (which would load ~115 more libraries); [`tracked`]: ledger-tracked Mats;
//!   [`error`]: the typed errors every tool reports.
//!
//! Every OpenCV Mat the crate creates is a [`tracked::TrackedMat`] registered in
//! framekeep's ledger, and detection threads are framekeep supervisor workers, so a test's
//! `LeakCheck` sees anything a run leaves behind.
#![warn(missing_docs)]

pub mod board;
pub mod cli;
pub mod detect;
pub mod error;
pub mod imageio;
pub mod input;
mod intrinsics_file;
pub mod live;
pub mod mono;
pub mod output;
pub mod report;
pub mod run;
pub mod select;
pub mod stereo;
pub mod synth;
pub mod tracked;

pub use error::{CalibError, Result};
