//! The tools' runs as library functions: inputs in, files out.
//!
//! Keeping each whole run here (not in the binaries) lets tests and the benchmark drive
//! exactly what the CLIs do, and keeps the binaries thin argument parsers.

mod live;
mod mono;
mod stereo;

pub use live::{run_mono_live, run_stereo_live};
pub use mono::{collect_inputs, detect_views, run_mono, MonoOptions, MonoOutcome};
pub use stereo::{run_stereo, StereoInputs, StereoOptions, StereoOutcome};
