//! Frames: refcounted handles ("smart tensors") over reusable pixel buffers.
//!
//! Why a custom handle instead of `Arc<Vec<u8>>`: a frame must go *back* to
//! where it came from (a pool's free list, a V4L2 driver queue) when the last
//! user lets go, without a heap allocation, and views must keep the whole
//! buffer alive. [`Frame`] counts its handles on the buffer slot; the handle
//! that drops last sends the slot home. Mutation needs a unique handle
//! ([`Frame::get_mut`]) or copy-on-write ([`Frame::make_mut`]), so a reader
//! never sees a torn write.
//!
//! * [`format`](self::FrameLayout): pixel formats and byte layouts.
//! * `buffer`: the slot, its home, and the only `unsafe` code of frames.
//! * `handle`: the [`Frame`] handle, views and copy-on-write.

mod buffer;
mod error;
mod format;
mod handle;

pub(crate) use buffer::{Buffer, Home};
pub use buffer::{BufferHome, ExternalBuffer};
pub use error::FrameError;
pub use format::{FrameLayout, FrameSize, ParseError, PixelFormat};
pub use handle::{Frame, FrameMeta};
