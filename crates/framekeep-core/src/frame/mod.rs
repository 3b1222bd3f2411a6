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
//! * `pixel`: the pixel formats; `layout`: byte layouts ([`FrameLayout`] can
//!   only be built valid) and frame sizes; `parse`: both from text.
//! * `handle`: the [`Frame`] handle, views and copy-on-write.
//! * `buffer`: the slot, its memory, its handle count and the one dispatch
//!   point that sends it home (a pool, an external home, or the allocator).
//! * `external`: [`ExternalBuffer`] and its owner's [`BufferHome`].
//! * `hazard`: how a release keeps the home alive without a shared count.
//! * `lease`: the checkout record every buffer carries for its pool.
//!
//! A compressed (MJPEG) frame's structure is checked by the `framekeep-jpeg`
//! crate, which the capture stream and the decoders share.
//!
//! Frames do not depend on pools: a pool is one kind of home, reached
//! through a crate-private `Recycle` trait that the pool implements.

mod buffer;
mod error;
mod external;
mod handle;
pub(crate) mod hazard;
mod layout;
pub(crate) mod lease;
mod local_slots;
#[cfg(all(test, loom))]
mod loom_models;
mod parse;
mod pixel;
mod return_path;

pub(crate) use buffer::{Buffer, Home, Leftovers, Recycle, Wait};
pub use error::FrameError;
pub use external::{BufferHome, ExternalBuffer};
pub use handle::{Frame, FrameMeta};
pub use layout::{FrameLayout, FrameSize};
pub use pixel::PixelFormat;
pub(crate) use return_path::ReturnPath;
