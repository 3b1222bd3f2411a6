//! [`V4l2Device`]: a real V4L2 capture node, through the `v4l` crate plus raw ioctls where
//! the crate's streaming API does not fit.
//!
//! Why raw ioctls: `v4l::io::mmap::Stream` ties every mapping to the stream and re-queues
//! the previous buffer on each `next()`, so only one frame can be out at a time. framekeep
//! hands buffers to the application and re-queues each one when its last frame handle drops,
//! so it needs `QBUF(index)` and `DQBUF` as separate calls. The crate's format API is also
//! single-planar only, so a node with only the multi-planar API
//! (`V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE`) is enumerated, negotiated (`v4l2_pix_format_mplane`)
//! and streamed (`v4l2_buffer` with a `planes` array) here with raw ioctls, and so are
//! user-memory buffers (`V4L2_MEMORY_USERPTR`: `m.userptr`, or `planes[0].m.userptr`). The
//! other modules with `unsafe` are `mem` (the mappings, [`UserBuffer`]), `home` (lending a
//! frame's memory to the driver), `waker` (the eventfd) and `poll`.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use std::{io, mem};

use parking_lot::Mutex;
use v4l::v4l2::vidioc;
use v4l::v4l_sys::{
    v4l2_buffer, v4l2_control, v4l2_fmtdesc, v4l2_format, v4l2_fract, v4l2_pix_format_mplane,
    v4l2_plane, v4l2_queryctrl, v4l2_requestbuffers, v4l2_streamparm,
};
use v4l::video::Capture;

use crate::device::{
    control_key, CaptureDevice, Dequeued, DeviceInfo, FormatInfo, Interval, Negotiated, PlaneData,
    PlaneFormat, SizeInfo, Wait, MAX_PLANES,
};
use crate::error::{CaptureError, Result};
use crate::fourcc::FourCc;
use crate::mem::{Mapping, UserBuffer};
use crate::poll::poll;
use crate::waker::Waker;

const BUF_TYPE_CAPTURE: u32 = 1; // V4L2_BUF_TYPE_VIDEO_CAPTURE
const BUF_TYPE_CAPTURE_MPLANE: u32 = 9; // V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE
/// VIDEO_MAX_PLANES: the size of the `planes` array of a multi-planar `v4l2_buffer`.
const VIDEO_MAX_PLANES: usize = 8;
const MEMORY_MMAP: u32 = 1; // V4L2_MEMORY_MMAP
const MEMORY_USERPTR: u32 = 2; // V4L2_MEMORY_USERPTR
const BUF_CAP_SUPPORTS_USERPTR: u32 = 0x2;
const BUF_FLAG_ERROR: u32 = 0x40;
const CTRL_FLAG_NEXT_CTRL: u32 = 0x8000_0000;
const CTRL_TYPE_CTRL_CLASS: u32 = 6;
const CAP_VIDEO_CAPTURE: u32 = 0x1;
const CAP_VIDEO_CAPTURE_MPLANE: u32 = 0x1000;
const CAP_STREAMING: u32 = 0x0400_0000;
const CAP_DEVICE_CAPS: u32 = 0x8000_0000;

/// Issues one ioctl on `fd` with `arg` as its argument struct.
///
/// A multi-planar `v4l2_buffer` also carries a pointer to its `planes` array: the one
/// caller that passes such a buffer ([`PlanesBuf::ioctl`]) points it at an array of
/// `VIDEO_MAX_PLANES` planes that it owns and holds borrowed across the call.
fn ioctl<T>(fd: RawFd, op: &'static str, request: vidioc::_IOC_TYPE, arg: &mut T) -> Result<()> {
    // SAFETY: every caller pairs `request` with the struct type the kernel expects for it
    // (the request code encodes that struct's size), and `arg` is a valid exclusive pointer
    // for the duration of the call (as is any `planes` array it points to, see above).
    unsafe { v4l::v4l2::ioctl(fd, request, (arg as *mut T).cast()) }
        .map_err(|e| CaptureError::from_os(op, e))
}

/// A zero-initialised kernel struct.
fn zeroed<T: Copy>() -> T {
    // SAFETY: only used for the bindgen'd V4L2 C structs, for which all-zero bytes is a
    // valid value (integers, arrays, unions of those and raw pointers).
    unsafe { mem::zeroed() }
}

/// A `v4l2_buffer` for `VIDIOC_QUERYBUF`/`QBUF`/`DQBUF` of either API, with the `planes`
/// array the multi-planar one fills (the single-planar one ignores it). Inline, not boxed:
/// a dequeue and a queue per frame must not allocate.
struct PlanesBuf {
    buf: v4l2_buffer,
    planes: [v4l2_plane; VIDEO_MAX_PLANES],
}

impl PlanesBuf {
    fn new(buf_type: u32, memory: u32, index: u32) -> PlanesBuf {
        let mut b = PlanesBuf {
            buf: zeroed(),
            planes: [zeroed(); VIDEO_MAX_PLANES],
        };
        b.buf.index = index;
        b.buf.type_ = buf_type;
        b.buf.memory = memory;
        if b.multiplanar() {
            b.buf.length = VIDEO_MAX_PLANES as u32;
        }
        b
    }

    fn multiplanar(&self) -> bool {
        self.buf.type_ == BUF_TYPE_CAPTURE_MPLANE
    }

    /// Issues `request` with this buffer. The `planes` pointer is set here, right before
    /// the call, because `self` may have moved since it was made; the kernel fills the
    /// array through it.
    fn ioctl(&mut self, fd: RawFd, op: &'static str, request: vidioc::_IOC_TYPE) -> Result<()> {
        if self.multiplanar() {
            self.buf.m.planes = self.planes.as_mut_ptr();
        }
        ioctl(fd, op, request, &mut self.buf)
    }

    /// The planes the kernel reported (`length` of a multi-planar buffer, at most 8); none
    /// for the single-planar API, whose `length` is the buffer's size.
    fn planes(&self) -> &[v4l2_plane] {
        if !self.multiplanar() {
            return &[];
        }
        let n = (self.buf.length as usize).min(VIDEO_MAX_PLANES);
        &self.planes[..n]
    }

    /// What a `VIDIOC_DQBUF` returned: the payload of the buffer (single-planar) or of
    /// plane 0 with its data offset, and the further planes' (multi-planar).
    fn dequeued(&self) -> Dequeued {
        // `bytesused` includes `data_offset` (V4L2 spec, struct v4l2_plane).
        let data = |p: &v4l2_plane| PlaneData {
            offset: p.data_offset as usize,
            bytesused: p.bytesused.saturating_sub(p.data_offset) as usize,
        };
        let planes = self.planes();
        let first = match planes.first() {
            Some(p) => data(p),
            None if self.multiplanar() => PlaneData::default(),
            None => PlaneData {
                offset: 0,
                bytesused: self.buf.bytesused as usize,
            },
        };
        let mut later_planes = [PlaneData::default(); MAX_PLANES - 1];
        for (slot, p) in later_planes.iter_mut().zip(planes.iter().skip(1)) {
            *slot = data(p);
        }
        let t = self.buf.timestamp;
        Dequeued {
            index: self.buf.index as usize,
            bytesused: first.bytesused,
            offset: first.offset,
            later_planes,
            sequence: self.buf.sequence,
            timestamp: Duration::new(t.tv_sec.max(0) as u64, 0)
                + Duration::from_micros(t.tv_usec.max(0) as u64),
            error: self.buf.flags & BUF_FLAG_ERROR != 0,
        }
    }
}

/// A real V4L2 video capture node.
pub struct V4l2Device {
    dev: v4l::Device,
    info: DeviceInfo,
    /// `V4L2_BUF_TYPE_VIDEO_CAPTURE`, or `_MPLANE` for a node with only the multi-planar API.
    buf_type: u32,
    /// The memory type of the buffers last requested (`V4L2_MEMORY_MMAP` or `_USERPTR`).
    memory: AtomicU32,
    controls: Mutex<Option<HashMap<String, u32>>>,
}

impl std::fmt::Debug for V4l2Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("V4l2Device")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl V4l2Device {
    /// Opens a node (non-blocking, as the stream polls) and checks it can stream video.
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<V4l2Device> {
        let path = path.as_ref();
        let dev = v4l::Device::with_path(path).map_err(|e| CaptureError::from_os("open", e))?;
        let caps = dev
            .query_caps()
            .map_err(|e| CaptureError::from_os("VIDIOC_QUERYCAP", e))?;
        let mut info = DeviceInfo {
            path: path.display().to_string(),
            driver: caps.driver.clone(),
            card: caps.card.clone(),
            bus: caps.bus.clone(),
            multiplanar: false,
        };
        let mut raw: v4l::v4l_sys::v4l2_capability = zeroed();
        ioctl(
            dev.handle().fd(),
            "VIDIOC_QUERYCAP",
            vidioc::VIDIOC_QUERYCAP,
            &mut raw,
        )?;
        let node_caps = if raw.capabilities & CAP_DEVICE_CAPS != 0 {
            raw.device_caps
        } else {
            raw.capabilities
        };
        let single = node_caps & CAP_VIDEO_CAPTURE != 0;
        let multi = node_caps & CAP_VIDEO_CAPTURE_MPLANE != 0;
        if !(single || multi) || node_caps & CAP_STREAMING == 0 {
            return Err(CaptureError::NotCapture(info.path));
        }
        // The single-planar API when the node has it (every USB camera); the multi-planar
        // one otherwise (many SoC capture drivers offer only that).
        info.multiplanar = !single;
        Ok(V4l2Device {
            dev,
            info,
            buf_type: if single {
                BUF_TYPE_CAPTURE
            } else {
                BUF_TYPE_CAPTURE_MPLANE
            },
            memory: AtomicU32::new(MEMORY_MMAP),
            controls: Mutex::new(None),
        })
    }

    fn fd(&self) -> RawFd {
        self.dev.handle().fd()
    }

    fn multiplanar(&self) -> bool {
        self.buf_type == BUF_TYPE_CAPTURE_MPLANE
    }

    /// `VIDIOC_REQBUFS` of `count` buffers of `memory`; returns the driver's answer.
    fn reqbufs(&self, count: u32, memory: u32) -> Result<v4l2_requestbuffers> {
        let mut req: v4l2_requestbuffers = zeroed();
        req.count = count;
        req.type_ = self.buf_type;
        req.memory = memory;
        ioctl(
            self.fd(),
            "VIDIOC_REQBUFS",
            vidioc::VIDIOC_REQBUFS,
            &mut req,
        )?;
        Ok(req)
    }

    /// `VIDIOC_ENUM_FMT` on this node's buffer type: every code with its description.
    fn enum_formats(&self) -> Result<Vec<(FourCc, String)>> {
        let mut out = Vec::new();
        // Bounded: the kernel ends the list with EINVAL; 1024 guards a broken driver.
        for index in 0..1024 {
            let mut d: v4l2_fmtdesc = zeroed();
            d.index = index;
            d.type_ = self.buf_type;
            match ioctl(
                self.fd(),
                "VIDIOC_ENUM_FMT",
                vidioc::VIDIOC_ENUM_FMT,
                &mut d,
            ) {
                Ok(()) => {}
                Err(CaptureError::Io { source, .. })
                    if source.raw_os_error() == Some(libc::EINVAL) =>
                {
                    break
                }
                Err(e) => return Err(e),
            }
            let raw: Vec<u8> = d
                .description
                .iter()
                .take_while(|&&c| c != 0)
                .copied()
                .collect();
            out.push((
                FourCc::from_u32(d.pixelformat),
                String::from_utf8_lossy(&raw).into_owned(),
            ));
        }
        Ok(out)
    }

    /// `VIDIOC_G_FMT` of the multi-planar API.
    fn format_mp(&self) -> Result<v4l2_format> {
        let mut f: v4l2_format = zeroed();
        f.type_ = BUF_TYPE_CAPTURE_MPLANE;
        ioctl(self.fd(), "VIDIOC_G_FMT", vidioc::VIDIOC_G_FMT, &mut f)?;
        Ok(f)
    }

    /// Maps `len` bytes of the device at the `offset` QUERYBUF gave.
    fn map(&self, len: usize, offset: u32) -> Result<Mapping> {
        // SAFETY: a fresh shared mapping of the device at the offset QUERYBUF gave; the
        // kernel validates offset and length and we check the result below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                self.fd(),
                offset as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(CaptureError::from_os("mmap", io::Error::last_os_error()));
        }
        let ptr = NonNull::new(ptr.cast::<u8>())
            .ok_or_else(|| CaptureError::BadBuffer("mmap returned null".into()))?;
        // SAFETY: ptr/len is the live mapping just created; the Mapping unmaps it once.
        Ok(unsafe { Mapping::from_mmap(ptr, len) })
    }

    fn control_id(&self, name: &str) -> Result<u32> {
        let mut cache = self.controls.lock();
        if cache.is_none() {
            let mut map = HashMap::new();
            let mut q: v4l2_queryctrl = zeroed();
            q.id = CTRL_FLAG_NEXT_CTRL;
            // Bounded: the kernel ends the walk with EINVAL; 4096 guards a broken driver.
            for _ in 0..4096 {
                if ioctl(
                    self.fd(),
                    "VIDIOC_QUERYCTRL",
                    vidioc::VIDIOC_QUERYCTRL,
                    &mut q,
                )
                .is_err()
                {
                    break;
                }
                if q.type_ != CTRL_TYPE_CTRL_CLASS {
                    let raw: Vec<u8> = q.name.iter().take_while(|&&c| c != 0).copied().collect();
                    map.insert(control_key(&String::from_utf8_lossy(&raw)), q.id);
                }
                q.id |= CTRL_FLAG_NEXT_CTRL;
            }
            *cache = Some(map);
        }
        cache
            .as_ref()
            .and_then(|m| m.get(&control_key(name)).copied())
            .ok_or_else(|| CaptureError::NoSuchControl(name.to_string()))
    }
}

fn negotiated(f: &v4l::Format) -> Negotiated {
    Negotiated::single(FourCc(f.fourcc.repr), f.width, f.height, f.stride, f.size)
}

/// What a multi-planar `VIDIOC_G_FMT`/`S_FMT` granted (planes past [`MAX_PLANES`] are
/// counted in `num_planes` but not described; the stream refuses such a format).
fn negotiated_mp(p: &v4l2_pix_format_mplane) -> Negotiated {
    let n = usize::from(p.num_planes).clamp(1, VIDEO_MAX_PLANES);
    let plane = |i: usize| PlaneFormat {
        stride: p.plane_fmt[i].bytesperline,
        size: p.plane_fmt[i].sizeimage,
    };
    let first = plane(0);
    let mut out = Negotiated::single(
        FourCc::from_u32(p.pixelformat),
        p.width,
        p.height,
        first.stride,
        first.size,
    );
    out.num_planes = p.num_planes.max(1);
    out.size_image = (0..n).fold(0u32, |sum, i| sum.saturating_add(plane(i).size));
    for (i, slot) in out.planes.iter_mut().enumerate().take(n.min(MAX_PLANES)) {
        *slot = plane(i);
    }
    out
}

impl CaptureDevice for V4l2Device {
    fn info(&self) -> DeviceInfo {
        self.info.clone()
    }

    fn formats(&self) -> Result<Vec<FormatInfo>> {
        let descs = self.enum_formats()?;
        let mut out = Vec::with_capacity(descs.len());
        for (fourcc, description) in descs {
            let code = v4l::FourCC::new(&fourcc.0);
            let mut sizes = Vec::new();
            // Drivers may refuse ENUM_FRAMESIZES for some formats; list the format anyway.
            // (ENUM_FRAMESIZES/FRAMEINTERVALS take no buffer type: they serve both APIs.)
            for s in self.dev.enum_framesizes(code).unwrap_or_default() {
                let discrete: Vec<(u32, u32)> = match s.size {
                    v4l::framesize::FrameSizeEnum::Discrete(x) => vec![(x.width, x.height)],
                    v4l::framesize::FrameSizeEnum::Stepwise(x) => {
                        vec![(x.min_width, x.min_height), (x.max_width, x.max_height)]
                    }
                };
                for (width, height) in discrete {
                    let intervals = self
                        .dev
                        .enum_frameintervals(code, width, height)
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|i| match i.interval {
                            v4l::frameinterval::FrameIntervalEnum::Discrete(f) => Some(Interval {
                                num: f.numerator,
                                den: f.denominator,
                            }),
                            _ => None,
                        })
                        .collect();
                    sizes.push(SizeInfo {
                        width,
                        height,
                        intervals,
                    });
                }
            }
            out.push(FormatInfo {
                fourcc,
                description,
                sizes,
            });
        }
        Ok(out)
    }

    fn format(&self) -> Result<Negotiated> {
        if self.multiplanar() {
            let f = self.format_mp()?;
            // SAFETY: for the multi-planar buffer type the kernel answers in `pix_mp`; every
            // bit pattern is a valid `v4l2_pix_format_mplane` (integers and byte unions).
            return Ok(negotiated_mp(unsafe { &f.fmt.pix_mp }));
        }
        let f = self
            .dev
            .format()
            .map_err(|e| CaptureError::from_os("VIDIOC_G_FMT", e))?;
        Ok(negotiated(&f))
    }

    fn set_format(&self, fourcc: FourCc, width: u32, height: u32) -> Result<Negotiated> {
        if self.multiplanar() {
            let mut f = self.format_mp()?;
            // SAFETY: as in `format`: G_FMT filled `pix_mp`, any bit pattern is valid.
            let mut mp = unsafe { f.fmt.pix_mp };
            mp.pixelformat = fourcc.to_u32();
            mp.width = width;
            mp.height = height;
            // As below: let the driver choose every plane's stride and size afresh.
            for p in mp.plane_fmt.iter_mut() {
                p.bytesperline = 0;
                p.sizeimage = 0;
            }
            f.fmt.pix_mp = mp;
            ioctl(self.fd(), "VIDIOC_S_FMT", vidioc::VIDIOC_S_FMT, &mut f)?;
            // SAFETY: S_FMT answers in `pix_mp` too.
            return Ok(negotiated_mp(unsafe { &f.fmt.pix_mp }));
        }
        let mut f = self
            .dev
            .format()
            .map_err(|e| CaptureError::from_os("VIDIOC_G_FMT", e))?;
        f.fourcc = v4l::FourCC::new(&fourcc.0);
        f.width = width;
        f.height = height;
        // Passing the old stride/size back makes some drivers (vivid) keep a larger stride.
        f.stride = 0;
        f.size = 0;
        let granted = self
            .dev
            .set_format(&f)
            .map_err(|e| CaptureError::from_os("VIDIOC_S_FMT", e))?;
        Ok(negotiated(&granted))
    }

    /// `VIDIOC_S_PARM` on this node's buffer type (raw: the `v4l` crate's is single-planar
    /// only); `None` if the driver has no frame-rate control (ENOTTY).
    fn set_interval(&self, interval: Interval) -> Result<Option<Interval>> {
        let mut p: v4l2_streamparm = zeroed();
        p.type_ = self.buf_type;
        p.parm.capture.timeperframe = v4l2_fract {
            numerator: interval.num,
            denominator: interval.den,
        };
        match ioctl(self.fd(), "VIDIOC_S_PARM", vidioc::VIDIOC_S_PARM, &mut p) {
            Ok(()) => {}
            Err(CaptureError::Io { source, .. }) if source.raw_os_error() == Some(libc::ENOTTY) => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        }
        // SAFETY: for a capture buffer type the kernel answers in `parm.capture`; every bit
        // pattern is a valid `v4l2_captureparm` (plain integers).
        let t = unsafe { p.parm.capture.timeperframe };
        Ok(Some(Interval {
            num: t.numerator,
            den: t.denominator,
        }))
    }

    fn request_buffers(&self, count: u32) -> Result<Vec<Mapping>> {
        let req = self.reqbufs(count, MEMORY_MMAP)?;
        self.memory.store(MEMORY_MMAP, Ordering::Relaxed);
        let mut maps = Vec::with_capacity(req.count as usize);
        for index in 0..req.count {
            let mut buf = PlanesBuf::new(self.buf_type, MEMORY_MMAP, index);
            buf.ioctl(self.fd(), "VIDIOC_QUERYBUF", vidioc::VIDIOC_QUERYBUF)?;
            if !self.multiplanar() {
                // SAFETY: `m.offset` is the member the kernel fills for MMAP buffers.
                let offset = unsafe { buf.buf.m.offset };
                maps.push(self.map(buf.buf.length as usize, offset)?);
                continue;
            }
            let mut planes = Vec::with_capacity(buf.planes().len());
            for p in buf.planes() {
                // SAFETY: `m.mem_offset` is the member the kernel fills for MMAP planes.
                let offset = unsafe { p.m.mem_offset };
                planes.push(self.map(p.length as usize, offset)?);
            }
            let mut planes = planes.into_iter();
            let first = planes.next().ok_or_else(|| {
                CaptureError::BadBuffer(format!("buffer {index} has no memory plane"))
            })?;
            maps.push(first.with_planes(planes.collect()));
        }
        Ok(maps)
    }

    fn release_buffers(&self) -> Result<()> {
        self.reqbufs(0, self.memory.load(Ordering::Relaxed))
            .map(|_| ())
    }

    fn queue(&self, index: usize) -> Result<()> {
        PlanesBuf::new(self.buf_type, MEMORY_MMAP, index as u32).ioctl(
            self.fd(),
            "VIDIOC_QBUF",
            vidioc::VIDIOC_QBUF,
        )
    }

    /// `VIDIOC_REQBUFS` of `V4L2_MEMORY_USERPTR`. `EINVAL` (the driver's queue has no
    /// `VB2_USERPTR`, e.g. vivid with its dma-contig allocator) is a refusal, and so are
    /// `capabilities` (kernel 4.20 on) without `V4L2_BUF_CAP_SUPPORTS_USERPTR`.
    fn request_user_buffers(&self, count: u32) -> Result<Option<u32>> {
        let req = match self.reqbufs(count, MEMORY_USERPTR) {
            Ok(req) => req,
            Err(CaptureError::Io { source, .. }) if source.raw_os_error() == Some(libc::EINVAL) => {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        self.memory.store(MEMORY_USERPTR, Ordering::Relaxed);
        if req.capabilities != 0 && req.capabilities & BUF_CAP_SUPPORTS_USERPTR == 0 {
            self.release_buffers()?;
            return Ok(None);
        }
        Ok(Some(req.count))
    }

    fn queue_user(&self, index: usize, buffer: UserBuffer) -> Result<()> {
        let mut b = PlanesBuf::new(self.buf_type, MEMORY_USERPTR, index as u32);
        let len = u32::try_from(buffer.len()).map_err(|_| {
            CaptureError::BadBuffer(format!("user buffer of {} bytes", buffer.len()))
        })?;
        if b.multiplanar() {
            // One memory plane: the stream never uses user memory for multi-buffer formats.
            b.planes[0].m.userptr = buffer.addr() as libc::c_ulong;
            b.planes[0].length = len;
        } else {
            b.buf.m.userptr = buffer.addr() as libc::c_ulong;
            b.buf.length = len;
        }
        // The kernel writes into the buffer's memory until it gives the index back: that
        // memory is the stream's to lend (the rules of `UserBuffer`).
        b.ioctl(self.fd(), "VIDIOC_QBUF", vidioc::VIDIOC_QBUF)
    }

    fn dequeue(&self) -> Result<Option<Dequeued>> {
        let memory = self.memory.load(Ordering::Relaxed);
        let mut buf = PlanesBuf::new(self.buf_type, memory, 0);
        match buf.ioctl(self.fd(), "VIDIOC_DQBUF", vidioc::VIDIOC_DQBUF) {
            Ok(()) => Ok(Some(buf.dequeued())),
            Err(CaptureError::Io { source, .. }) if source.kind() == io::ErrorKind::WouldBlock => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    fn wait(&self, timeout: Duration, waker: Option<&Waker>) -> Result<Wait> {
        let mut fds = [
            libc::pollfd {
                fd: self.fd(),
                events: libc::POLLIN | libc::POLLPRI,
                revents: 0,
            },
            libc::pollfd {
                fd: waker.map_or(-1, |w| w.as_fd().as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // Without a waker (no cancel token) one descriptor is polled, as a bare loop does.
        let n = if waker.is_some() { 2 } else { 1 };
        match poll(&mut fds[..n], timeout).map_err(|e| CaptureError::from_os("poll", e))? {
            0 => Ok(Wait::TimedOut),
            _ if fds[1].revents != 0 => Ok(Wait::Woken),
            // Readable, or POLLERR/POLLHUP: the following DQBUF says which (ENODEV, EIO).
            _ => Ok(Wait::Ready),
        }
    }

    fn stream_on(&self) -> Result<()> {
        let mut t = self.buf_type as libc::c_int;
        ioctl(
            self.fd(),
            "VIDIOC_STREAMON",
            vidioc::VIDIOC_STREAMON,
            &mut t,
        )
    }

    fn stream_off(&self) -> Result<()> {
        let mut t = self.buf_type as libc::c_int;
        ioctl(
            self.fd(),
            "VIDIOC_STREAMOFF",
            vidioc::VIDIOC_STREAMOFF,
            &mut t,
        )
    }

    fn set_control(&self, name: &str, value: i64) -> Result<()> {
        let id = self.control_id(name)?;
        let mut c = v4l2_control {
            id,
            value: value as i32,
        };
        ioctl(self.fd(), "VIDIOC_S_CTRL", vidioc::VIDIOC_S_CTRL, &mut c)
    }
}
