//! Image and video file I/O as pipeline sources and sinks.
//!
//! Files are where test inputs come from and where snapshots go. The sources decode
//! with OpenCV (`imread`, `VideoCapture`) and hand out frames from their own
//! [`FramePool`](framekeep_core::pool::FramePool), writing into the pooled buffer
//! directly where OpenCV allows it (video frames) and with one `copyTo`/`resize`
//! otherwise (still images, which OpenCV always allocates). The sink writes PNG or JPEG
//! from a zero-copy view.
//!
//! * [`images`]: [`ImageSequence`], a directory, a glob, a list file or explicit paths.
//! * [`snapshots`]: [`ImageSink`], every Nth frame and/or on a [`SnapshotTrigger`].
//! * [`video`]: [`VideoFileSource`], any file `videoio` reads.

pub mod images;
pub mod snapshots;
pub mod video;

pub use images::ImageSequence;
pub use snapshots::{ImageFormat, ImageSink, SnapshotTrigger};
pub use video::VideoFileSource;
