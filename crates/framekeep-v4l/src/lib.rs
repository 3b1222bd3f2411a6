//! framekeep-v4l: zero-copy V4L2 capture that yields framekeep [`Frame`]s.
//!
//! ```no_run
//! use framekeep_v4l::{CaptureStream, FormatRequest, FourCc, StreamOptions};
//!
//! let opts = StreamOptions::new().format(FormatRequest::new(FourCc::YUYV, 640, 480).fps(30));
//! let mut stream = CaptureStream::open("/dev/video0", opts)?;
//! for _ in 0..10 {
//!     let frame = stream.next_frame()?;   // holds the driver's buffer, no copy
//!     println!("#{} {} bytes", frame.sequence(), frame.data().len());
//! }                                       // each drop re-queues its buffer
//! println!("{}", stream.close()?);
//! # Ok::<(), framekeep_v4l::CaptureError>(())
//! ```
//!
//! * [`CaptureStream`]: negotiation, mmap buffers, zero-copy hand-out with a copy
//!   threshold, gap and error accounting, cancellation, ordered stop; configured by
//!   [`StreamOptions`], counted in [`StreamStats`], failing with a [`CaptureError`].
//!   [`StreamSource`] runs one as a pipeline source.
//! * [`CaptureBuffers`]: capture into the caller's own frames
//!   ([`StreamOptions::user_buffers`], `V4L2_MEMORY_USERPTR`), e.g. a [`FramePool`]'s or
//!   shared-memory samples: the driver fills them and the dequeued frame is delivered as
//!   it is; where the driver refuses user memory, one copy per frame into them
//!   ([`BufferMode`] says which).
//! * [`CaptureDevice`]: the driver interface the stream is written against, with the data
//!   it speaks ([`FourCc`], [`Negotiated`], [`Dequeued`], ...). [`V4l2Device`] (the
//!   kernel) implements it, and so does the in-process fake driver of the test kits.
//! * [`list_devices`], [`open_device`]: finding cameras by path, name or bus.
//! * `testing` (feature `testing`, for dev-dependencies): the fake driver with
//!   programmable faults, the conformance cases any device/stream pair must pass (run
//!   against the fake in unit tests and against the kernel's vivid driver in a VM,
//!   `tests/vivid.rs`, harness in `vm/`, see `vm/README.md`), and the VM harness. CPU
//!   cost against a bare `v4l` loop: `BENCHMARKS.md`.
//!
//! A stream is also an [`Iterator`] of `Result<Frame>` that ends on cancel or stop, and
//! held driver buffers appear in the framekeep ledger (kind `FRAME`, named
//! `v4l2 buffer (/dev/videoN)`), so a `LeakCheck` catches a frame kept too long.
//!
//! Pixel formats: a driver's fourcc maps to the framekeep [`PixelFormat`] with the same
//! code (YUYV, UYVY, NV12, YU12 as I420, GREY, RGB3, BGR3, AR24, MJPG); any other is
//! [`CaptureError::UnsupportedFormat`].
//!
//! Nodes with only the multi-planar API (`V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE`, as many SoC
//! capture drivers offer: Rockchip, i.MX, Qualcomm camss) are driven through it with raw
//! ioctls ([`DeviceInfo::multiplanar`] says which API a node uses). Formats with one memory
//! plane (YUYV, NV12, RGB24, ... with `num_planes == 1`) are zero-copy there exactly as on a
//! single-planar node, sliced from the plane's `data_offset`. Formats whose planes live in
//! separate buffers cannot be one [`Frame`]: NV12M is copied into a pooled contiguous NV12
//! frame and YUV420M (YM12) into a pooled contiguous I420 one, plane by plane (counted as
//! copied, the driver buffer re-queued at once); the others (NV21M, the 4:2:2 ones, ...)
//! are refused at negotiation with [`CaptureError::UnsupportedPlanes`].
//!
//! With user buffers the driver writes into memory it did not allocate:
//!
//! ```no_run
//! use framekeep_core::frame::{FrameLayout, PixelFormat};
//! use framekeep_core::pool::FramePool;
//! use framekeep_v4l::{BufferMode, CaptureStream, FormatRequest, FourCc, StreamOptions};
//!
//! let pool = FramePool::options(FrameLayout::packed(PixelFormat::Yuyv, 640, 480)?)
//!     .max_buffers(8) // 4 queued + up to 3 held + 1
//!     .build()?;
//! let opts = StreamOptions::new()
//!     .format(FormatRequest::new(FourCc::YUYV, 640, 480))
//!     .user_buffers(pool.clone());
//! let mut stream = CaptureStream::open("/dev/video0", opts)?;
//! let frame = stream.next_frame()?;   // one of the pool's frames, filled by the driver
//! match stream.negotiated().memory {
//!     BufferMode::UserPtr => assert_eq!(stream.stats().copied, 0),
//!     _ => assert_eq!(stream.stats().copied, 1), // refused: copied into the pool frame
//! }
//! drop(frame);                        // back to the pool, not to the driver
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`Frame`]: framekeep_core::frame::Frame
//! [`FramePool`]: framekeep_core::pool::FramePool
//! [`PixelFormat`]: framekeep_core::frame::PixelFormat
#![warn(missing_docs)]

mod buffers;
mod device;
mod error;
mod fourcc;
mod home;
mod list;
mod mem;
mod options;
mod planes;
mod poll;
mod seq;
mod source;
mod stream;
#[cfg(feature = "testing")]
pub mod testing;
mod v4l2_device;
mod waker;

pub use buffers::CaptureBuffers;
pub use device::{
    BufferMode, CaptureDevice, Dequeued, DeviceInfo, FormatInfo, Interval, Negotiated, PlaneData,
    PlaneFormat, SizeInfo, Wait, MAX_PLANES,
};
pub use error::{CaptureError, Result};
pub use fourcc::FourCc;
pub use home::STREAM_KIND;
pub use list::{list_devices, open_device, DeviceListing};
pub use mem::{Mapping, UserBuffer};
pub use options::{FormatRequest, StreamOptions, StreamStats};
pub use source::StreamSource;
pub use stream::CaptureStream;
pub use v4l2_device::V4l2Device;
pub use waker::Waker;
