//! [`FramePool`]: the bounded, preallocated buffer pool behind every frame.
//!
//! Allocating a fresh 6 MB frame every frame costs page faults and
//! allocator time; a pool hands the same buffers round. This one also knows
//! who holds each buffer (a lease with a label, a thread and a checkout time),
//! reports leases held too long, writes off buffers that were forgotten so the
//! pipeline keeps running, and on close tells you what is still out.
//!
//! Layout, as in sqlx's pool: [`FramePool`] is a cheap handle over shared
//! state (`shared`), options live in `options`, the lease records in each
//! buffer (`frame::lease`),
//! the idle buffers (per-thread slots and free list) in the frame-side
//! `ReturnPath` that releases reach without this module, stats in `stats`, the background leak
//! monitor in `monitor`. The guard type
//! is [`Frame`](crate::frame::Frame) itself: dropping the last handle of a
//! frame is the release.
//!
//! When the last `FramePool` handle drops, the pool closes: idle buffers are
//! freed at once and checked-out ones when their frames drop.

mod error;
mod handle;
#[cfg(all(test, loom))]
mod loom_models;
mod monitor;
mod options;
mod shared;
mod stats;

pub use error::{AcquireError, PoolError};
pub use handle::FramePool;
pub use options::{BufferInfo, Exhausted, PoolOptions};
pub use stats::PoolStats;
