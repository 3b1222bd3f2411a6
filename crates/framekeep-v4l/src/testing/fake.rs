//! [`FakeDevice`]: an in-process driver with programmable faults.
//!
//! It implements [`CaptureDevice`] with the same observable rules as a videobuf2 driver
//! (buffers are written only while queued, STREAMOFF returns every buffer, sequence numbers
//! count frames the application never saw), and it understands vivid's fault-injection
//! controls by their vivid names, so one conformance suite ([`run_cases`](super::run_cases))
//! runs against both this fake (fast, everywhere) and the real vivid driver in a VM.
//!
//! Frames are produced on demand: a frame is "captured" when the stream waits or dequeues
//! and a buffer is queued and the frame period has elapsed since the previous one. No
//! wall-clock loss happens, so tests are deterministic; gaps come only from
//! `percentage_of_dropped_buffers` or [`FakeDevice::skip_frames`].
//!
//! Timestamps come from one clock shared by every fake in the process (as CLOCK_MONOTONIC
//! is shared by real drivers), so frames of two fakes can be paired by capture time, and a
//! [`FakePainter`] can draw each frame's pixels (a synthetic scene) instead of the built-in
//! patterns.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::device::{
    control_key, CaptureDevice, Dequeued, DeviceInfo, FormatInfo, Interval, Negotiated, PlaneData,
    PlaneFormat, SizeInfo, Wait, MAX_PLANES,
};
use crate::error::{CaptureError, Result};
use crate::fourcc::FourCc;
use crate::mem::{HeapRegion, Mapping, UserBuffer};
use crate::waker::Waker;

/// vivid's `test_pattern` value for "100% White" (a control value for
/// [`CaptureDevice::set_control`] and [`StreamOptions::control`](crate::StreamOptions::control)).
/// The fake paints it in every format it offers, as vivid does.
pub const PATTERN_WHITE: i64 = 6;

/// vivid's `test_pattern` value for "100% Red". The fake paints it in `YU12` (and
/// `YM12`) only, as BT.601 limited range [`RED_YUV`].
pub(crate) const PATTERN_RED: i64 = 7;

/// 100% red in BT.601 limited range `(Y, U, V)`, what vivid paints (within a step).
pub(crate) const RED_YUV: [u8; 3] = [82, 90, 240];

fn os_err(op: &'static str, errno: i32) -> CaptureError {
    CaptureError::from_os(op, io::Error::from_raw_os_error(errno))
}

/// The geometry of a format the fake can produce: one memory plane, or (multi-planar
/// mode only) NV12M's and NV21M's two and YUV420M's three.
fn geometry(fourcc: FourCc, w: u32, h: u32, multiplanar: bool) -> Option<Negotiated> {
    // A V4L2 image size is a u32: a size whose image would not fit is refused (EINVAL),
    // as a driver would, instead of overflowing.
    let bytes_per_pixel: u64 = match &fourcc.0 {
        b"RGB3" | b"BGR3" => 3,
        b"YUYV" | b"UYVY" | b"MJPG" => 2,
        _ => 2, // 4:2:0 formats take 1.5, rounded up
    };
    if u64::from(w) * u64::from(h) * bytes_per_pixel > u64::from(u32::MAX) {
        return None;
    }
    let (stride, size) = match &fourcc.0 {
        b"YUYV" | b"UYVY" => (w * 2, w * 2 * h),
        b"RGB3" | b"BGR3" => (w * 3, w * 3 * h),
        b"GREY" => (w, w * h),
        // Compressed: no lines, `sizeimage` the worst case; each frame uses part of it.
        b"MJPG" => (0, w * h),
        b"NV12" | b"YU12" => (w, w * h * 3 / 2),
        b"NM12" | b"NM21" | b"YM12" if multiplanar => {
            let chroma: &[(u32, u32)] = if fourcc != FourCc::YUV420M {
                &[(w, w * h / 2)]
            } else {
                &[(w / 2, w * h / 4), (w / 2, w * h / 4)]
            };
            let mut n = Negotiated::single(fourcc, w, h, w, w * h);
            for (i, &(stride, size)) in chroma.iter().enumerate() {
                n.planes[i + 1] = PlaneFormat { stride, size };
                n.size_image += size;
            }
            n.num_planes = 1 + chroma.len() as u8;
            return Some(n);
        }
        _ => return None,
    };
    Some(Negotiated::single(fourcc, w, h, stride, size))
}

/// Paints a frame of `fmt` into `planes` (one region per memory plane; plane 0's image
/// starts `offset` bytes in). A multi-planar format is painted as its contiguous
/// equivalent (NV12M as NV12, YUV420M as YU12) and split into its planes.
fn paint_planes(
    planes: &[Arc<HeapRegion>],
    offset: usize,
    fmt: &Negotiated,
    draw: &dyn Fn(&mut [u8], &Negotiated),
) {
    if fmt.num_planes <= 1 {
        if let Some(r) = planes.first() {
            r.fill(|b| {
                let skip = offset.min(b.len());
                let b = &mut b[skip..];
                let len = (fmt.size_image as usize).min(b.len());
                draw(&mut b[..len], fmt)
            });
        }
        return;
    }
    let mut image = vec![0u8; fmt.size_image as usize];
    let contiguous = match fmt.fourcc {
        FourCc::NV12M => Some(FourCc::NV12),
        FourCc::YUV420M => Some(FourCc::YU12),
        _ => None,
    };
    let as_contiguous = match contiguous {
        Some(cc) => Negotiated::single(cc, fmt.width, fmt.height, fmt.width, fmt.size_image),
        None => *fmt,
    };
    draw(&mut image, &as_contiguous);
    let mut rest = &image[..];
    for (i, r) in planes.iter().enumerate() {
        let size = (fmt.planes.get(i).map_or(0, |p| p.size) as usize).min(rest.len());
        let (part, tail) = rest.split_at(size);
        let skip = if i == 0 { offset } else { 0 };
        r.fill(|b| {
            let skip = skip.min(b.len());
            let b = &mut b[skip..];
            let n = part.len().min(b.len());
            b[..n].copy_from_slice(&part[..n]);
        });
        rest = tail;
    }
}

/// `fmt` as the driver reports it when plane 0's image starts `offset` bytes in: plane 0's
/// `sizeimage` (and the total) include the offset, as vivid's do, so that a buffer of
/// `sizeimage` bytes holds offset and image.
fn with_offset(mut fmt: Negotiated, offset: usize) -> Negotiated {
    let offset = offset as u32;
    fmt.planes[0].size += offset;
    fmt.size_image += offset;
    fmt
}

/// The image of a format [`with_offset`] made: what is painted after the offset.
fn image_of(mut fmt: Negotiated, offset: usize) -> Negotiated {
    let offset = offset as u32;
    fmt.planes[0].size = fmt.planes[0].size.saturating_sub(offset);
    fmt.size_image = fmt.size_image.saturating_sub(offset);
    fmt
}

/// Fills `buf` (a `fmt` image) with a frame: vivid's 100% white, or a per-frame value.
/// Bytes of MJPEG frame `seq` in a buffer of `size` bytes: a quarter of it and up to 15
/// sixty-fourths more, so that consecutive frames differ in length.
fn mjpeg_len(seq: u32, size: u32) -> usize {
    let len = size / 4 + (seq % 16) * (size / 64);
    len.clamp(8.min(size), size) as usize
}

/// Writes the fake's MJPEG frame `seq` into all of `b` (see [`paint`]); a buffer too short
/// for the headers and the scan a `width x height` image needs is filled as far as it goes.
fn fake_jpeg(b: &mut [u8], width: u32, height: u32, seq: u32) {
    let (w, h) = ((width as u16).to_be_bytes(), (height as u16).to_be_bytes());
    let mut head = vec![0xFF, 0xD8, 0xFF, 0xFE, 0, 6];
    head.extend_from_slice(&seq.to_le_bytes());
    head.extend_from_slice(&[0xFF, 0xC0, 0, 11, 8, h[0], h[1], w[0], w[1], 1, 1, 0x11, 0]);
    head.extend_from_slice(&[0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0]);
    let n = head.len().min(b.len());
    b[..n].copy_from_slice(&head[..n]);
    // Filler: never 0xFF, so the scan runs to the end marker.
    b[n..].fill(1 | (seq as u8 & 0x7F));
    if b.len() >= head.len() + 2 {
        let end = b.len();
        b[end - 2..].copy_from_slice(&[0xFF, 0xD9]);
    }
}

fn paint(buf: &mut [u8], fmt: &Negotiated, pattern: i64, seq: u32) {
    let len = (fmt.size_image as usize).min(buf.len());
    let buf = &mut buf[..len];
    if fmt.fourcc == FourCc::MJPEG {
        // A structurally complete JPEG (`bytesused` long) that decodes to nothing useful:
        // the frame's number in a comment segment, a frame header of the negotiated size
        // (one gray component), a scan of filler bytes, the end marker. The capture
        // stream's check (`framekeep_jpeg::inspect`) passes it; a decoder would not.
        let n = mjpeg_len(seq, fmt.size_image).min(len);
        fake_jpeg(&mut buf[..n], fmt.width, fmt.height, seq);
    } else if pattern == PATTERN_WHITE {
        match &fmt.fourcc.0 {
            b"YUYV" => buf
                .chunks_exact_mut(4)
                .for_each(|c| c.copy_from_slice(&[235, 128, 235, 128])),
            b"UYVY" => buf
                .chunks_exact_mut(4)
                .for_each(|c| c.copy_from_slice(&[128, 235, 128, 235])),
            b"NV12" | b"YU12" => {
                let luma = (fmt.stride * fmt.height) as usize;
                let (y, uv) = buf.split_at_mut(luma.min(len));
                y.fill(235);
                uv.fill(128);
            }
            b"GREY" => buf.fill(235),
            _ => buf.fill(255),
        }
    } else if pattern == PATTERN_RED && &fmt.fourcc.0 == b"YU12" {
        // Y plane, then U and V planes of a quarter of its size each.
        let luma = ((fmt.stride * fmt.height) as usize).min(len);
        let chroma = (fmt.stride / 2 * fmt.height / 2) as usize;
        let (y, uv) = buf.split_at_mut(luma);
        let (u, v) = uv.split_at_mut(chroma.min(uv.len()));
        y.fill(RED_YUV[0]);
        u.fill(RED_YUV[1]);
        v.fill(RED_YUV[2]);
    } else {
        buf.fill(seq as u8);
        let n = buf.len().min(4);
        buf[..n].copy_from_slice(&seq.to_le_bytes()[..n]);
    }
}

/// Draws a frame in place of the built-in patterns: it gets the frame's bytes
/// (`size_image` of the negotiated format; a multi-planar format as its contiguous
/// equivalent, NV12M as NV12), the format, the driver sequence number and the
/// capture timestamp (the fakes' shared clock). It runs with the device locked, so it
/// should only copy or fill pixels.
#[derive(Clone)]
pub struct FakePainter(Arc<PaintFn>);

type PaintFn = dyn Fn(&mut [u8], &Negotiated, u32, Duration) + Send + Sync;

impl FakePainter {
    /// A painter from a closure `(bytes, format, sequence, timestamp)`.
    pub fn new(
        f: impl Fn(&mut [u8], &Negotiated, u32, Duration) + Send + Sync + 'static,
    ) -> FakePainter {
        FakePainter(Arc::new(f))
    }
}

/// The bytes of every frame of a compressed format (MJPG) in place of a painter: it gets
/// the driver sequence number and returns the frame's payload, whose length becomes the
/// buffer's `bytesused` (cut to the buffer's size). A test feeds truncated, padded or
/// garbage frames through it.
#[derive(Clone)]
pub struct FakePayload(Arc<PayloadFn>);

type PayloadFn = dyn Fn(u32) -> Vec<u8> + Send + Sync;

impl FakePayload {
    /// A payload source from a closure `(sequence) -> bytes`.
    pub fn new(f: impl Fn(u32) -> Vec<u8> + Send + Sync + 'static) -> FakePayload {
        FakePayload(Arc::new(f))
    }
}

impl std::fmt::Debug for FakePayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FakePayload")
    }
}

impl std::fmt::Debug for FakePainter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FakePainter")
    }
}

/// The clock of every fake's timestamps: one epoch per process, so timestamps of
/// different fakes compare like CLOCK_MONOTONIC ones.
fn clock_epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// What a test can program into a [`FakeDevice`].
#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// Formats offered (pixel formats the fake can paint: YUYV, UYVY, RGB3, BGR3,
    /// GREY, NV12, YU12, and MJPG, whose frames are its markers around the frame number,
    /// of a length that varies from frame to frame).
    pub formats: Vec<FormatInfo>,
    /// Time between frames (a slow camera: e.g. 500 ms).
    pub period: Duration,
    /// Most buffers `request_buffers` grants.
    pub max_buffers: u32,
    /// Draws every frame instead of the built-in patterns (`test_pattern` is then ignored).
    pub painter: Option<FakePainter>,
    /// The frames of a compressed format (offer `MJPG` in `formats`); without it a
    /// compressed frame is the built-in pattern over the whole buffer (not a JPEG).
    pub payload: Option<FakePayload>,
    /// Presents the fake as a node with only the multi-planar API
    /// (`V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE`, [`DeviceInfo::multiplanar`]), like vivid
    /// loaded with `multiplanar=2`: every format is negotiated with per-plane strides and
    /// NV12M / NV21M / YUV420M (if offered) have their planes in separate buffers.
    pub multiplanar: bool,
    /// Multi-planar mode: bytes before the image in memory plane 0 of every buffer (the
    /// `data_offset` some drivers report; vivid does for NV16M). Plane 0's `sizeimage`
    /// includes it, as vivid's does.
    pub data_offset: u32,
    /// Takes user memory (`V4L2_MEMORY_USERPTR`, one-plane formats) as vivid with its
    /// default allocator does; `false` refuses it at `VIDIOC_REQBUFS`, as vivid with its
    /// dma-contig allocator (`allocators=1`) does.
    pub userptr: bool,
}

impl FakeConfig {
    /// The default formats plus NV12M, YUV420M and NV21M, multi-planar only, with a
    /// 128-byte `data_offset` in plane 0 (so that frames must be sliced from the offset).
    pub fn multiplanar() -> FakeConfig {
        let mut c = FakeConfig::default();
        let sizes = c.formats[0].sizes.clone();
        for (fourcc, d) in [
            (FourCc::NV12M, "Y/UV 4:2:0 (N-C)"),
            (FourCc::YUV420M, "Planar YUV 4:2:0 (N-C)"),
            (FourCc::NV21M, "Y/VU 4:2:0 (N-C)"),
        ] {
            c.formats.push(FormatInfo {
                fourcc,
                description: d.into(),
                sizes: sizes.clone(),
            });
        }
        c.multiplanar = true;
        c.data_offset = 128;
        c
    }

    /// Plane 0's data offset in this configuration (0 unless multi-planar).
    fn offset(&self) -> usize {
        if self.multiplanar {
            self.data_offset as usize
        } else {
            0
        }
    }
}

impl Default for FakeConfig {
    fn default() -> FakeConfig {
        let sizes = |list: &[(u32, u32)]| -> Vec<SizeInfo> {
            list.iter()
                .map(|&(width, height)| SizeInfo {
                    width,
                    height,
                    intervals: vec![Interval::from_fps(30), Interval::from_fps(60)],
                })
                .collect()
        };
        let std_sizes = [(320, 180), (640, 480), (1280, 720), (1920, 1080)];
        let f = |fourcc, d: &str| FormatInfo {
            fourcc,
            description: d.into(),
            sizes: sizes(&std_sizes),
        };
        FakeConfig {
            formats: vec![
                f(FourCc::YUYV, "YUYV 4:2:2"),
                f(FourCc::NV12, "Y/UV 4:2:0"),
                f(FourCc::YU12, "Planar YUV 4:2:0"),
                f(FourCc::RGB24, "24-bit RGB 8-8-8"),
                f(FourCc::GREY, "8-bit Greyscale"),
            ],
            period: Duration::ZERO,
            max_buffers: 32,
            painter: None,
            payload: None,
            multiplanar: false,
            data_offset: 0,
            userptr: true,
        }
    }
}

#[derive(Default)]
struct Faults {
    drop_percent: i64,
    drop_acc: i64,
    flag_error_next: bool,
    reqbufs_error: bool,
    qbuf_error: bool,
    streamon_error: bool,
    fatal: bool,
    disconnected: bool,
    wrap_sequence: bool,
    skip: u32,
}

struct State {
    format: Negotiated,
    interval: Interval,
    period: Duration,
    /// Per buffer, one region per memory plane (mmap buffers).
    regions: Vec<Vec<Arc<HeapRegion>>>,
    /// User-memory buffer indices (after `request_user_buffers`): the memory each was last
    /// queued with, written only while the index is queued.
    user: Vec<Option<UserBuffer>>,
    /// Queues of a user index with another address than its previous one.
    user_changes: u64,
    queued: VecDeque<usize>,
    done: VecDeque<Dequeued>,
    streaming: bool,
    sequence: u32,
    next_due: Instant,
    pattern: i64,
    faults: Faults,
    stream_ons: u32,
}

/// An in-process [`CaptureDevice`] for tests. Cheap to clone: clones share one device, so a
/// test can keep a handle to inject faults while a stream owns another.
#[derive(Clone)]
pub struct FakeDevice {
    config: Arc<FakeConfig>,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for FakeDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.state.lock();
        f.debug_struct("FakeDevice")
            .field("format", &st.format)
            .field("streaming", &st.streaming)
            .field("buffers", &st.regions.len())
            .finish_non_exhaustive()
    }
}

impl Default for FakeDevice {
    fn default() -> FakeDevice {
        FakeDevice::new(FakeConfig::default())
    }
}

impl FakeDevice {
    /// A fake with `config`, starting at its first format's first size.
    pub fn new(config: FakeConfig) -> FakeDevice {
        let (fourcc, w, h) = config
            .formats
            .first()
            .and_then(|f| f.sizes.first().map(|s| (f.fourcc, s.width, s.height)))
            .unwrap_or((FourCc::YUYV, 640, 480));
        let format = geometry(fourcc, w, h, config.multiplanar)
            .map(|f| with_offset(f, config.offset()))
            .unwrap_or_else(|| Negotiated::single(fourcc, w, h, w * 2, w * 2 * h));
        let now = Instant::now();
        clock_epoch();
        let state = State {
            format,
            interval: Interval::from_fps(30),
            period: config.period,
            regions: Vec::new(),
            user: Vec::new(),
            user_changes: 0,
            queued: VecDeque::new(),
            done: VecDeque::new(),
            streaming: false,
            sequence: 0,
            next_due: now,
            pattern: 0,
            faults: Faults::default(),
            stream_ons: 0,
        };
        FakeDevice {
            config: Arc::new(config),
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// Makes the driver silently skip the next `n` frames (a sequence gap of `n`).
    pub fn skip_frames(&self, n: u32) {
        self.state.lock().faults.skip += n;
    }

    /// Changes the frame period (a slow or stalled camera).
    pub fn set_period(&self, period: Duration) {
        let mut st = self.state.lock();
        st.period = period;
        st.next_due = Instant::now() + period;
    }

    /// Buffers currently owned by the driver (queued or filled, not yet dequeued).
    pub fn buffers_in_driver(&self) -> usize {
        let st = self.state.lock();
        st.queued.len() + st.done.len()
    }

    /// Number of buffers allocated by the last `request_buffers`, or buffer indices of user
    /// memory granted by the last `request_user_buffers` (0 after release).
    pub fn buffers_allocated(&self) -> usize {
        let st = self.state.lock();
        st.regions.len() + st.user.len()
    }

    /// How many times a user-memory buffer index was queued with another address than the
    /// one it had (a real driver re-maps the memory each time).
    pub fn user_pointer_changes(&self) -> u64 {
        self.state.lock().user_changes
    }

    /// True between STREAMON and STREAMOFF.
    pub fn is_streaming(&self) -> bool {
        self.state.lock().streaming
    }

    /// How many times streaming was started.
    pub fn stream_ons(&self) -> u32 {
        self.state.lock().stream_ons
    }

    /// Produces every frame that is due now into the done list.
    fn advance(st: &mut State, config: &FakeConfig, now: Instant) {
        let (painter, offset) = (config.painter.as_ref(), config.offset());
        while st.streaming && !st.faults.disconnected && !st.queued.is_empty() && now >= st.next_due
        {
            let due = st.next_due;
            // At least 1 ms apart, so a fake that drops every frame cannot spin; frames
            // that fell due while the application was away are produced in a burst.
            st.next_due += st.period.max(Duration::from_millis(1));
            let seq = st.sequence;
            st.sequence = st.sequence.wrapping_add(1);
            if st.faults.skip > 0 {
                st.faults.skip -= 1;
                continue;
            }
            st.faults.drop_acc += st.faults.drop_percent;
            if st.faults.drop_acc >= 100 {
                st.faults.drop_acc -= 100;
                continue;
            }
            let Some(index) = st.queued.pop_front() else {
                break;
            };
            let fmt = image_of(st.format, offset);
            let pattern = st.pattern;
            let timestamp =
                Duration::from_secs(1000) + due.saturating_duration_since(clock_epoch());
            // A compressed frame from `payload` sets its own length (`bytesused`).
            let payload_len = std::cell::Cell::new(None);
            let draw = |b: &mut [u8], f: &Negotiated| match (&config.payload, painter) {
                (Some(payload), _) if f.fourcc == FourCc::MJPEG => {
                    let bytes = (payload.0)(seq);
                    let n = bytes.len().min(b.len());
                    b[..n].copy_from_slice(&bytes[..n]);
                    payload_len.set(Some(n));
                }
                (_, Some(p)) => (p.0)(b, f, seq, timestamp),
                (_, None) => paint(b, f, pattern, seq),
            };
            match (st.regions.get(index), st.user.get(index).copied().flatten()) {
                (Some(regions), _) => paint_planes(regions, offset, &fmt, &draw),
                (None, Some(user)) => {
                    // SAFETY: `index` was just taken off the queued list: the stream queued
                    // it with this memory and has not had it back, so the memory is this
                    // fake's to write until the dequeue (the rules of `UserBuffer`).
                    unsafe {
                        user.fill_queued(|b| {
                            let skip = offset.min(b.len());
                            let b = &mut b[skip..];
                            let len = (fmt.size_image as usize).min(b.len());
                            draw(&mut b[..len], &fmt);
                        })
                    };
                }
                (None, None) => {}
            }
            let error = std::mem::take(&mut st.faults.flag_error_next);
            let mut later_planes = [PlaneData::default(); MAX_PLANES - 1];
            for (i, p) in later_planes.iter_mut().enumerate() {
                if i + 1 < usize::from(fmt.num_planes) {
                    p.bytesused = fmt.planes[i + 1].size as usize;
                }
            }
            st.done.push_back(Dequeued {
                index,
                bytesused: match payload_len.get() {
                    Some(n) => n,
                    None if fmt.fourcc == FourCc::MJPEG => mjpeg_len(seq, fmt.planes[0].size),
                    None => fmt.planes[0].size as usize,
                },
                offset,
                later_planes,
                sequence: seq,
                timestamp,
                error,
            });
        }
    }

    fn check_connected(st: &State, op: &'static str) -> Result<()> {
        if st.faults.disconnected {
            Err(os_err(op, libc::ENODEV))
        } else {
            Ok(())
        }
    }
}

impl CaptureDevice for FakeDevice {
    fn info(&self) -> DeviceInfo {
        DeviceInfo {
            path: String::new(),
            driver: "framekeep-fake".into(),
            card: "framekeep fake camera".into(),
            bus: "fake:0".into(),
            multiplanar: self.config.multiplanar,
        }
    }

    fn formats(&self) -> Result<Vec<FormatInfo>> {
        Self::check_connected(&self.state.lock(), "VIDIOC_ENUM_FMT")?;
        Ok(self.config.formats.clone())
    }

    fn format(&self) -> Result<Negotiated> {
        let st = self.state.lock();
        Self::check_connected(&st, "VIDIOC_G_FMT")?;
        Ok(st.format)
    }

    fn set_format(&self, fourcc: FourCc, width: u32, height: u32) -> Result<Negotiated> {
        let mut st = self.state.lock();
        Self::check_connected(&st, "VIDIOC_S_FMT")?;
        if !st.regions.is_empty() || !st.user.is_empty() {
            return Err(os_err("VIDIOC_S_FMT", libc::EBUSY));
        }
        // Like real drivers: an unknown format falls back to the first, an unknown size to
        // the nearest offered one.
        let fmt = self
            .config
            .formats
            .iter()
            .find(|f| f.fourcc == fourcc)
            .or_else(|| self.config.formats.first())
            .ok_or_else(|| os_err("VIDIOC_S_FMT", libc::EINVAL))?;
        let size = fmt
            .sizes
            .iter()
            .min_by_key(|s| {
                (i64::from(s.width) - i64::from(width)).abs()
                    + (i64::from(s.height) - i64::from(height)).abs()
            })
            .ok_or_else(|| os_err("VIDIOC_S_FMT", libc::EINVAL))?;
        st.format = geometry(fmt.fourcc, size.width, size.height, self.config.multiplanar)
            .map(|f| with_offset(f, self.config.offset()))
            .ok_or_else(|| os_err("VIDIOC_S_FMT", libc::EINVAL))?;
        Ok(st.format)
    }

    fn set_interval(&self, interval: Interval) -> Result<Option<Interval>> {
        let mut st = self.state.lock();
        Self::check_connected(&st, "VIDIOC_S_PARM")?;
        if interval.num != 0 && interval.den != 0 {
            st.interval = interval;
        }
        Ok(Some(st.interval))
    }

    fn request_buffers(&self, count: u32) -> Result<Vec<Mapping>> {
        let mut st = self.state.lock();
        Self::check_connected(&st, "VIDIOC_REQBUFS")?;
        if std::mem::take(&mut st.faults.reqbufs_error) {
            return Err(os_err("VIDIOC_REQBUFS", libc::EINVAL));
        }
        if st.streaming || !st.regions.is_empty() || !st.user.is_empty() {
            return Err(os_err("VIDIOC_REQBUFS", libc::EBUSY));
        }
        let count = count.min(self.config.max_buffers);
        let fmt = st.format;
        // Plane 0's size includes the data offset (`with_offset`).
        let lens: Vec<usize> = (0..usize::from(fmt.num_planes).clamp(1, MAX_PLANES))
            .map(|p| fmt.planes[p].size as usize)
            .collect();
        let mut maps = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let (mapping, regions) = Mapping::heap_planes(&lens);
            st.regions.push(regions);
            maps.push(mapping);
        }
        Ok(maps)
    }

    fn release_buffers(&self) -> Result<()> {
        let mut st = self.state.lock();
        Self::check_connected(&st, "VIDIOC_REQBUFS")?;
        if st.streaming {
            return Err(os_err("VIDIOC_REQBUFS", libc::EBUSY));
        }
        st.regions.clear();
        st.user.clear();
        Ok(())
    }

    fn queue(&self, index: usize) -> Result<()> {
        let mut st = self.state.lock();
        Self::check_connected(&st, "VIDIOC_QBUF")?;
        if std::mem::take(&mut st.faults.qbuf_error) {
            return Err(os_err("VIDIOC_QBUF", libc::EINVAL));
        }
        if index >= st.regions.len()
            || !st.user.is_empty()
            || st.queued.contains(&index)
            || st.done.iter().any(|d| d.index == index)
        {
            return Err(os_err("VIDIOC_QBUF", libc::EINVAL));
        }
        st.regions[index].iter().for_each(|r| r.give_to_driver());
        st.queued.push_back(index);
        Ok(())
    }

    fn dequeue(&self) -> Result<Option<Dequeued>> {
        let mut st = self.state.lock();
        Self::check_connected(&st, "VIDIOC_DQBUF")?;
        if st.faults.fatal {
            return Err(os_err("VIDIOC_DQBUF", libc::EIO));
        }
        if !st.streaming {
            return Err(os_err("VIDIOC_DQBUF", libc::EINVAL));
        }
        Self::advance(&mut st, &self.config, Instant::now());
        let d = st.done.pop_front();
        if let Some(regions) = d.as_ref().and_then(|d| st.regions.get(d.index)) {
            regions.iter().for_each(|r| r.take_from_driver());
        }
        Ok(d)
    }

    fn wait(&self, timeout: Duration, waker: Option<&Waker>) -> Result<Wait> {
        let deadline = Instant::now() + timeout;
        loop {
            let now = Instant::now();
            let sleep = {
                let mut st = self.state.lock();
                if st.faults.disconnected || st.faults.fatal || !st.streaming {
                    return Ok(Wait::Ready);
                }
                Self::advance(&mut st, &self.config, now);
                if !st.done.is_empty() {
                    return Ok(Wait::Ready);
                }
                if st.queued.is_empty() {
                    deadline.saturating_duration_since(now)
                } else {
                    st.next_due
                        .saturating_duration_since(now)
                        .min(deadline.saturating_duration_since(now))
                }
            };
            let slice = sleep.min(Duration::from_millis(50));
            match waker {
                Some(w) if w.wait_timeout(slice) => return Ok(Wait::Woken),
                Some(_) => {}
                None => std::thread::sleep(slice),
            }
            if Instant::now() >= deadline {
                return Ok(Wait::TimedOut);
            }
        }
    }

    fn stream_on(&self) -> Result<()> {
        let mut st = self.state.lock();
        Self::check_connected(&st, "VIDIOC_STREAMON")?;
        if std::mem::take(&mut st.faults.streamon_error) {
            return Err(os_err("VIDIOC_STREAMON", libc::EINVAL));
        }
        if st.regions.is_empty() && st.user.is_empty() {
            return Err(os_err("VIDIOC_STREAMON", libc::EINVAL));
        }
        st.streaming = true;
        st.stream_ons += 1;
        st.sequence = if st.faults.wrap_sequence {
            0xffff_ff80
        } else {
            0
        };
        st.next_due = Instant::now();
        st.faults.fatal = false;
        Ok(())
    }

    fn stream_off(&self) -> Result<()> {
        let mut st = self.state.lock();
        Self::check_connected(&st, "VIDIOC_STREAMOFF")?;
        st.streaming = false;
        let st = &mut *st;
        for i in st
            .queued
            .drain(..)
            .chain(st.done.drain(..).map(|d| d.index))
        {
            if let Some(regions) = st.regions.get(i) {
                regions.iter().for_each(|r| r.take_from_driver());
            }
        }
        Ok(())
    }

    /// User memory as vivid (default allocator) takes it; refused (`None`, what
    /// [`V4l2Device`](crate::V4l2Device) reports for `EINVAL`) when the config says so, or
    /// once after `inject_vidioc_reqbufs_error` (vivid fails the `REQBUFS` of either memory).
    fn request_user_buffers(&self, count: u32) -> Result<Option<u32>> {
        let mut st = self.state.lock();
        Self::check_connected(&st, "VIDIOC_REQBUFS")?;
        if std::mem::take(&mut st.faults.reqbufs_error) || !self.config.userptr {
            return Ok(None);
        }
        if st.streaming || !st.regions.is_empty() || !st.user.is_empty() {
            return Err(os_err("VIDIOC_REQBUFS", libc::EBUSY));
        }
        let count = count.min(self.config.max_buffers);
        st.user = vec![None; count as usize];
        Ok(Some(count))
    }

    /// Takes `buffer` for index `index` if it holds plane 0's `sizeimage` (data offset
    /// included) of a one-plane format, like videobuf2's `length >= min_length` check.
    fn queue_user(&self, index: usize, buffer: UserBuffer) -> Result<()> {
        let mut st = self.state.lock();
        Self::check_connected(&st, "VIDIOC_QBUF")?;
        if std::mem::take(&mut st.faults.qbuf_error) {
            return Err(os_err("VIDIOC_QBUF", libc::EINVAL));
        }
        let fmt = st.format;
        if index >= st.user.len()
            || fmt.num_planes > 1
            || buffer.len() < fmt.planes[0].size as usize
            || st.queued.contains(&index)
            || st.done.iter().any(|d| d.index == index)
        {
            return Err(os_err("VIDIOC_QBUF", libc::EINVAL));
        }
        if st.user[index].is_some_and(|old| old.addr() != buffer.addr()) {
            st.user_changes += 1;
        }
        st.user[index] = Some(buffer);
        st.queued.push_back(index);
        Ok(())
    }

    fn set_control(&self, name: &str, value: i64) -> Result<()> {
        let mut st = self.state.lock();
        Self::check_connected(&st, "VIDIOC_S_CTRL")?;
        let f = &mut st.faults;
        match control_key(name).as_str() {
            "percentage_of_dropped_buffers" => f.drop_percent = value.clamp(0, 100),
            "disconnect" => f.disconnected = true,
            "inject_v4l2_buf_flag_error" => f.flag_error_next = true,
            "inject_vidioc_reqbufs_error" => f.reqbufs_error = true,
            "inject_vidioc_qbuf_error" => f.qbuf_error = true,
            "inject_vidioc_streamon_error" => f.streamon_error = true,
            "inject_fatal_streaming_error" => f.fatal = true,
            "wrap_sequence_number" => f.wrap_sequence = value != 0,
            "test_pattern" => st.pattern = value,
            // Accepted and ignored, so vivid-oriented setup code runs unchanged.
            "horizontal_movement" | "vertical_movement" | "osd_text_mode" | "wrap_timestamp" => {}
            _ => return Err(CaptureError::NoSuchControl(name.to_string())),
        }
        Ok(())
    }
}
