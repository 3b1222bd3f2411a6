//! Pipelines: sources, stages and sinks wired by bounded edges.
//!
//! # Why
//!
//! A camera pipeline is a few threads passing frames along. Left to ad-hoc
//! channels it goes wrong in the same few ways: a slow consumer stalls
//! capture or lets memory grow; a frame dropped somewhere never returns to
//! its pool; on shutdown one thread waits forever for input that will never
//! come, or the sink stops before the frames in flight reach it. This module
//! fixes the shape once:
//!
//! * [`edge`](mod@edge): bounded channels with a per-edge overflow [`Policy`]
//!   (backpressure, drop newest, drop oldest, latest-only) and drop counts;
//!   a dropped frame goes back to its pool at once.
//! * [`Source`], [`Stage`], [`Sink`]: the per-frame logic, with ownership in
//!   the signatures (a producer never keeps what it hands on; a sink
//!   borrows, then the runner releases or forwards).
//! * [`run_source`], [`run_stage`], [`run_sink`]: the loops, which honour
//!   cancel tokens, propagate close (a finished source drops its sender;
//!   every consumer wakes, drains what is queued, and stops) and report why
//!   they stopped ([`CloseReason`], [`SourceOptions::with_on_close`]).
//! * [`PipelineBuilder`]: source → stages → sink, each on a supervised
//!   worker with its own token, shut down in drain order, with a
//!   [`PipelineReport`] (per-edge drops, per-element counts, supervisor
//!   outcomes).
//! * [`SyntheticSource`] (a [test pattern](pattern) a test can verify) and
//!   [`NullSink`] (counts, checksums, latency): a complete pipeline with no
//!   camera and no display, for tests, benchmarks and the default job.
//!
//! Everything here is generic over the frame's origin (pool, V4L2 buffer,
//! `Vec`): an edge moves [`Frame`](crate::frame::Frame) handles, never pixels.

mod builder;
pub mod clock;
pub mod edge;
mod element;
mod error;
pub mod null_sink;
mod options;
pub mod pattern;
mod run;
mod stage;
mod stats;
pub mod synthetic;

pub use builder::{BuildError, Link, Pipeline, PipelineBuilder, PipelineReport};
pub use edge::{
    edge, EdgeProbe, EdgeReceiver, EdgeSender, EdgeStats, Policy, RecvError, SendError, Sent,
};
pub use error::{CloseReason, StageError};
pub use null_sink::{
    checksum, frame_checksum, Checksum, NullSink, NullSinkSnapshot, NullSinkStats,
};
pub use options::{OnClose, SinkOptions, SourceOptions};
pub use run::{run_sink, run_source, run_stage, RunSummary};
pub use stage::{stage_fn, FnStage, Output, Sink, Source, Stage};
pub use stats::LatencyHistogram;
pub use synthetic::{SyntheticBuilder, SyntheticError, SyntheticSource, SyntheticStats};
