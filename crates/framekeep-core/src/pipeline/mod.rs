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
//! * [`edge()`]: bounded channels, each described by a [`Link`] (capacity
//!   and overflow rule: backpressure, drop newest, drop oldest, latest-only),
//!   with drop counts; a dropped frame goes back to its pool at once.
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
//! * [`SyntheticSource`]: a camera stand-in drawing a test pattern that
//!   tests can verify (the `testing` module has its decoder and a null
//!   sink): a complete pipeline with no camera and no display.
//!
//! Everything here is generic over the frame's origin (pool, V4L2 buffer,
//! `Vec`): an edge moves [`Frame`](crate::frame::Frame) handles, never pixels.

mod builder;
mod drops;
mod edge;
mod element;
mod error;
mod options;
pub(crate) mod pattern;
mod run;
mod stage;
mod summary;
mod synthetic;

pub use builder::{BuildError, Pipeline, PipelineBuilder, PipelineReport};
pub use drops::Drops;
pub use edge::{edge, EdgeReceiver, EdgeSender, EdgeStats, Link, RecvError, SendError};
pub use error::{CloseReason, StageError};
pub use options::{OnCorrupt, SinkOptions, SourceOptions};
pub use run::{run_sink, run_source, run_stage};
pub use stage::{stage_fn, Output, Sink, Source, Stage};
pub use summary::RunSummary;
pub use synthetic::{SyntheticBuilder, SyntheticError, SyntheticSource};
