//! framekeep-core: ownership of video frames without OpenCV or V4L.
//!
//! * [`frame`]: [`Frame`], the refcounted smart tensor, and its layouts.
//! * [`pool`]: [`FramePool`], the bounded buffer pool with a lease registry.
//! * [`ledger`]: [`Ledger`], leak accounting for every kind of resource.
//! * [`cancel`]: [`CancelToken`], context-style cancellation for threads.
//! * [`supervisor`]: [`Supervisor`], owned, joinable worker threads with ordered shutdown.
//! * [`pipeline`]: bounded edges with drop policies, the pipeline builder, test sources and sinks.
#![warn(missing_docs)]

pub mod cancel;
pub mod frame;
pub mod ledger;
pub mod pipeline;
pub mod pool;
pub mod supervisor;

pub use cancel::CancelToken;
pub use frame::{Frame, FrameLayout, FrameMeta, PixelFormat};
pub use ledger::{LeakCheck, Ledger};
pub use pool::{FramePool, PoolOptions};
pub use supervisor::Supervisor;
