//! framekeep-core: ownership of video frames without OpenCV or V4L.
//!
//! * [`frame`]: [`Frame`](frame::Frame), the refcounted smart tensor, its
//!   layouts, and external buffers.
//! * [`pool`]: [`FramePool`](pool::FramePool), the bounded buffer pool with a
//!   lease registry.
//! * [`ledger`]: [`Ledger`](ledger::Ledger) and
//!   [`LeakCheck`](ledger::LeakCheck), leak accounting for every kind of
//!   resource.
//! * [`cancel`]: [`CancelToken`](cancel::CancelToken), context-style
//!   cancellation for threads.
//! * [`supervisor`]: [`Supervisor`](supervisor::Supervisor), owned, joinable
//!   worker threads with ordered shutdown.
//! * [`pipeline`]: source → stages → sink on supervised workers, wired by
//!   bounded edges with drop policies; the synthetic source.
//! * [`time`]: the clock frames are stamped with, and latency percentiles.
//! * `testing` (feature `testing`): a null sink, checksums and the test
//!   pattern's decoder, for tests and benchmarks.
//!
//! Every item has one path: the modules above are the crate's namespaces,
//! and everything below them is private.
#![warn(missing_docs)]

pub mod cancel;
mod daemon;
pub mod frame;
pub mod ledger;
mod panic;
pub mod pipeline;
pub mod pool;
pub mod supervisor;
mod sync;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time;
