//! Test kits: a sink that measures, checksums, the test pattern's definition
//! and decoder, and child processes for process-level tests (feature
//! `testing`).
//!
//! These are for tests and benchmarks of framekeep and of code built on it,
//! as tokio's `test-util` is: a program enables the feature only in its
//! dev-dependencies. The [`SyntheticSource`](crate::pipeline::SyntheticSource)
//! that draws the pattern is not here: the main job uses it.
//!
//! ```
//! use std::time::Duration;
//! use framekeep_core::frame::PixelFormat;
//! use framekeep_core::pipeline::{Link, PipelineBuilder, SyntheticSource};
//! use framekeep_core::testing::NullSink;
//!
//! let sink = NullSink::new();
//! let stats = sink.stats();
//! let pipeline = PipelineBuilder::new("count")
//!     .source("pattern", SyntheticSource::builder(PixelFormat::Bgr24, 64, 48).frames(5).build()?)
//!     .sink("null", Link::block(2), sink)
//!     .start()?;
//! assert!(pipeline.wait(Duration::from_secs(10)));
//! assert!(pipeline.shutdown().is_clean());
//! assert_eq!(stats.snapshot().frames, 5);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod child;
mod null_sink;

pub use crate::pipeline::pattern::{
    counter_block, decode_counter, encode, gray, pattern_rgb, supports, yuv, TestPattern,
    BAR_COLOURS, CELL, SPEED,
};
pub use child::{wait_until, Running, Signal};
pub use null_sink::{
    checksum, frame_checksum, Checksum, NullSink, NullSinkSnapshot, NullSinkStats,
};
