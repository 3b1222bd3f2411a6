//! framekeep-calib: mono and stereo camera calibration on framekeep.
//!
//! * [`board`]: calibration targets and their detection.
//! * [`synth`]: synthetic ground truth (views rendered through a known camera).
//! * [`tracked`]: owned, accounted OpenCV Mats.
//! * [`error`]: the typed errors every tool reports.
#![warn(missing_docs)]

pub mod board;
pub mod error;
pub mod synth;
pub mod tracked;

pub use error::{CalibError, Result};
pub mod cli;
pub mod detect;
pub mod input;
pub mod mono;
pub mod output;
pub mod report;
pub mod run;
pub mod select;
pub mod stereo;
