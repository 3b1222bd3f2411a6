//! The driver interface: what a capture stream needs from a V4L2-like device.
//!
//! [`CaptureStream`](crate::CaptureStream) is written against this trait rather than
//! against the kernel directly, so that the same stream logic (zero-copy hand-out, copy
//! fallback, gap detection, cancellation, stop order) runs both on a real driver
//! ([`V4l2Device`](crate::V4l2Device)) and on the in-process
//! fake driver (`testing::FakeDevice`) that unit tests program with faults.
//!
//! Methods take `&self`: V4L2 ioctls on one file descriptor are serialised by the kernel, so
//! a frame dropped on a consumer thread may re-queue its buffer while the capture thread is
//! blocked in [`CaptureDevice::wait`].

use std::fmt;
use std::time::Duration;

use crate::error::{CaptureError, Result};
use crate::fourcc::FourCc;
use crate::mem::{Mapping, UserBuffer};
use crate::waker::Waker;

/// A frame interval (seconds per frame) as the exact fraction V4L2 uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interval {
    /// Numerator (seconds).
    pub num: u32,
    /// Denominator.
    pub den: u32,
}

impl Interval {
    /// The interval of `fps` frames per second.
    pub fn from_fps(fps: u32) -> Interval {
        Interval {
            num: 1,
            den: fps.max(1),
        }
    }

    /// Frames per second (0.0 for a zero interval).
    pub fn fps(&self) -> f64 {
        if self.num == 0 {
            0.0
        } else {
            self.den as f64 / self.num as f64
        }
    }
}

/// Identity of a device (`VIDIOC_QUERYCAP`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Device node, e.g. `/dev/video0` (empty for a fake).
    pub path: String,
    /// Driver name, e.g. `vivid`, `uvcvideo`.
    pub driver: String,
    /// Card (human readable) name.
    pub card: String,
    /// Bus info, e.g. `usb-0000:00:14.0-1`; stable across reboots for a given port.
    pub bus: String,
    /// True when the node captures through the multi-planar API
    /// (`V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE`, as many SoC capture drivers do), because it
    /// offers no single-planar capture.
    pub multiplanar: bool,
}

/// One frame size a format offers, with its frame intervals.
#[derive(Clone, Debug, PartialEq)]
pub struct SizeInfo {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Discrete intervals (empty when the driver reports a continuous or stepwise range).
    pub intervals: Vec<Interval>,
}

/// One pixel format a device offers.
#[derive(Clone, Debug, PartialEq)]
pub struct FormatInfo {
    /// The code.
    pub fourcc: FourCc,
    /// The driver's description.
    pub description: String,
    /// Discrete sizes (stepwise ranges are reported by their min and max).
    pub sizes: Vec<SizeInfo>,
}

/// Most memory planes a buffer may have here (the kernel allows 8; YUV 4:2:0 needs 3).
pub const MAX_PLANES: usize = 3;

/// Bytes per line and bytes of one memory plane, as the driver granted them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlaneFormat {
    /// Bytes per line (`bytesperline`).
    pub stride: u32,
    /// Bytes of the plane (`sizeimage`).
    pub size: u32,
}

/// Whose memory a stream's frames are captured into (the V4L2 memory type, and whether
/// frames are copied out of it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum BufferMode {
    /// `V4L2_MEMORY_MMAP`: the driver's buffers, mapped; frames are the driver's buffers
    /// (zero copy, copied only under the copy threshold or for multi-buffer formats).
    #[default]
    Mmap,
    /// `V4L2_MEMORY_USERPTR`: the driver fills frames taken from the stream's
    /// [`CaptureBuffers`](crate::CaptureBuffers) supplier; a dequeued one is delivered as it
    /// is (zero copy).
    UserPtr,
    /// User buffers were asked for but the driver refused `V4L2_MEMORY_USERPTR` (or the
    /// format has several memory planes): the driver's mmap buffers, each frame copied into
    /// a supplier frame (one copy per frame, counted in
    /// [`StreamStats::copied`](crate::StreamStats::copied)).
    MmapCopy,
}

impl fmt::Display for BufferMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BufferMode::Mmap => "mmap",
            BufferMode::UserPtr => "userptr",
            BufferMode::MmapCopy => "mmap copied into user buffers",
        })
    }
}

/// The format the driver granted (`VIDIOC_S_FMT`/`G_FMT` answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// Pixel format.
    pub fourcc: FourCc,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes per line of plane 0.
    pub stride: u32,
    /// Bytes of a whole image (all memory planes together).
    pub size_image: u32,
    /// Memory planes per buffer: 1, except for multi-planar formats such as NV12M (2) or
    /// YUV420M (3), whose planes live in separate buffers.
    pub num_planes: u8,
    /// Each memory plane's geometry (the first `num_planes` entries; plane 0 repeats
    /// `stride`, and `size_image` when there is one plane).
    pub planes: [PlaneFormat; MAX_PLANES],
    /// Whose memory frames are captured into. Set by the stream
    /// ([`CaptureStream::negotiated`](crate::CaptureStream::negotiated)) once it has its
    /// buffers; a device's format calls report [`BufferMode::Mmap`].
    pub memory: BufferMode,
}

impl Negotiated {
    /// A format with one memory plane of `stride` bytes per line and `size_image` bytes.
    pub fn single(fourcc: FourCc, width: u32, height: u32, stride: u32, size_image: u32) -> Self {
        let mut planes = [PlaneFormat::default(); MAX_PLANES];
        planes[0] = PlaneFormat {
            stride,
            size: size_image,
        };
        Negotiated {
            fourcc,
            width,
            height,
            stride,
            size_image,
            num_planes: 1,
            planes,
            memory: BufferMode::Mmap,
        }
    }
}

impl fmt::Display for Negotiated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}x{} stride {}",
            self.fourcc, self.width, self.height, self.stride
        )?;
        if self.num_planes > 1 {
            write!(f, " ({} memory planes)", self.num_planes)?;
        }
        if self.memory != BufferMode::Mmap {
            write!(f, ", {}", self.memory)?;
        }
        Ok(())
    }
}

/// What `VIDIOC_DQBUF` returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dequeued {
    /// Buffer index.
    pub index: usize,
    /// Bytes of payload of plane 0 from `offset` on (never the buffer length).
    pub bytesused: usize,
    /// Where plane 0's payload starts in its buffer (`data_offset` of the multi-planar
    /// API; 0 otherwise).
    pub offset: usize,
    /// Planes 1 and 2 of a multi-planar buffer (zero for one-plane formats).
    pub later_planes: [PlaneData; MAX_PLANES - 1],
    /// Driver sequence number (wraps at `u32::MAX`).
    pub sequence: u32,
    /// Capture timestamp (CLOCK_MONOTONIC for every modern driver).
    pub timestamp: Duration,
    /// `V4L2_BUF_FLAG_ERROR`: the data may be corrupt.
    pub error: bool,
}

/// Where the payload of one memory plane of a dequeued buffer is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlaneData {
    /// Bytes before the payload (`data_offset`).
    pub offset: usize,
    /// Bytes of payload from `offset` on (`bytesused` minus `data_offset`).
    pub bytesused: usize,
}

/// Why [`CaptureDevice::wait`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// A buffer can be dequeued (or the device reports an error: dequeue tells which).
    Ready,
    /// The timeout elapsed.
    TimedOut,
    /// The waker was signalled (cancellation or stop).
    Woken,
}

/// The operations a capture stream needs from a driver.
///
/// Implementations: [`V4l2Device`](crate::V4l2Device) (the kernel through the `v4l` crate)
/// and, with the feature `testing`, `testing::FakeDevice` (in-process, programmable
/// faults). Only this crate can make the [`Mapping`]s that `request_buffers` returns, so
/// other implementations wrap one of these.
pub trait CaptureDevice: Send + Sync + 'static {
    /// Identity of the device.
    fn info(&self) -> DeviceInfo;
    /// Every format with its sizes and intervals.
    fn formats(&self) -> Result<Vec<FormatInfo>>;
    /// The current format.
    fn format(&self) -> Result<Negotiated>;
    /// Asks for a format; returns what the driver granted (stride chosen by the driver).
    fn set_format(&self, fourcc: FourCc, width: u32, height: u32) -> Result<Negotiated>;
    /// Asks for a frame interval; returns the granted one (None: the driver has no rate control).
    fn set_interval(&self, interval: Interval) -> Result<Option<Interval>>;
    /// Allocates `count` mmap buffers and maps them; returns the mappings by index (one
    /// [`Mapping`] per buffer, holding every memory plane of a multi-planar one).
    fn request_buffers(&self, count: u32) -> Result<Vec<Mapping>>;
    /// Frees the driver's buffers (`REQBUFS(0)`, of the memory type last requested);
    /// called after every mapping is gone.
    fn release_buffers(&self) -> Result<()>;
    /// Hands buffer `index` to the driver (`VIDIOC_QBUF`).
    fn queue(&self, index: usize) -> Result<()>;
    /// Asks for `count` buffer indices of `V4L2_MEMORY_USERPTR` (`VIDIOC_REQBUFS`; no
    /// memory is allocated: the application lends it with every
    /// [`queue_user`](Self::queue_user)). Returns how many the driver granted, or `None`
    /// when it does not take user memory (`EINVAL`, or its `capabilities` lack
    /// `V4L2_BUF_CAP_SUPPORTS_USERPTR`); the stream then falls back to mmap buffers. The
    /// default says `None`.
    fn request_user_buffers(&self, count: u32) -> Result<Option<u32>> {
        let _ = count;
        Ok(None)
    }
    /// Hands buffer index `index` to the driver with `buffer` as its memory (`VIDIOC_QBUF`
    /// of `V4L2_MEMORY_USERPTR`: `m.userptr`, or `planes[0].m.userptr` on a multi-planar
    /// node). The default refuses (`EINVAL`), as a driver without user memory does.
    fn queue_user(&self, index: usize, buffer: UserBuffer) -> Result<()> {
        let _ = (index, buffer);
        Err(CaptureError::from_os(
            "VIDIOC_QBUF",
            std::io::Error::from_raw_os_error(libc::EINVAL),
        ))
    }
    /// Takes a filled buffer back without blocking; `None` when none is ready.
    fn dequeue(&self) -> Result<Option<Dequeued>>;
    /// Waits until a buffer is ready, `timeout` elapses or `waker` (if any) is signalled.
    fn wait(&self, timeout: Duration, waker: Option<&Waker>) -> Result<Wait>;
    /// Starts streaming.
    fn stream_on(&self) -> Result<()>;
    /// Stops streaming; the driver gives back every queued buffer.
    fn stream_off(&self) -> Result<()>;
    /// Sets an integer/boolean/menu control (or presses a button control) by its name as
    /// `v4l2-ctl -L` prints it (lower case, spaces as `_`).
    fn set_control(&self, name: &str, value: i64) -> Result<()>;
}

/// Normalises a control name the way `v4l2-ctl -L` prints it.
pub(crate) fn control_key(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    out.trim_end_matches('_').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_names_match_v4l2_ctl() {
        assert_eq!(
            control_key("Percentage of Dropped Buffers"),
            "percentage_of_dropped_buffers"
        );
        assert_eq!(
            control_key("Inject V4L2_BUF_FLAG_ERROR"),
            "inject_v4l2_buf_flag_error"
        );
        assert_eq!(control_key("Test Pattern"), "test_pattern");
        assert_eq!(
            control_key("Inject VIDIOC_REQBUFS Error"),
            "inject_vidioc_reqbufs_error"
        );
    }
}
