//! Image and video file I/O as pipeline sources and sinks.
//!
//! Files are where test inputs come from and where snapshots go. The sources decode
//! with OpenCV (`imread`, `VideoCapture`) and hand out frames from their own
//! [`FramePool`](framekeep_core::pool::FramePool), writing into the pooled buffer
//! directly where OpenCV allows it (video frames) and with one `copyTo`/`resize`
//! otherwise (still images, which OpenCV always allocates). The sink writes PNG or JPEG
//! from a zero-copy view.
//!
//! * [`ImageSequence`]: still images from a directory, a glob, a list file or explicit
//!   paths ([`is_image`], [`wildcard_match`] and [`IMAGE_EXTENSIONS`] say which files
//!   count).
//! * [`ImageSink`]: every Nth frame and/or a frame on a [`SnapshotTrigger`], as PNG or
//!   JPEG ([`ImageFormat`]).
//! * [`VideoFileSource`]: any file `videoio` reads.

mod error;
mod images;
mod read;
mod snapshots;
mod video;

pub use images::{is_image, wildcard_match, ImageSequence, IMAGE_EXTENSIONS};
pub use read::DEFAULT_MAX_PIXELS;
pub use snapshots::{ImageFormat, ImageSink, SnapshotTrigger};
pub use video::VideoFileSource;
