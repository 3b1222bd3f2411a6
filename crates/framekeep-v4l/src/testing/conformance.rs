//! Conformance cases: what any driver behind a [`CaptureStream`] must get right.
//!
//! The same cases run against [`FakeDevice`] in unit tests (fast, everywhere) and against
//! the kernel's vivid driver inside a VM (`tests/vivid.rs` boots it and runs the
//! `framekeep-vivid` binary, which calls [`run_cases`]). Faults are injected through
//! vivid's own control names, which the fake also understands. Every case runs inside a
//! [`LeakCheck`]: a stream, buffer or pooled copy still alive at its end fails it.
//!
//! The `userptr_*` cases capture into frames of a [`FramePool`] (`V4L2_MEMORY_USERPTR`,
//! [`StreamOptions::user_buffers`]) and check that delivered frames are the pool's buffers
//! (zero copy), or copies into them where the driver refuses user memory.
//!
//! Cases that leave a driver unusable come last (`fatal_error` needs a STREAMOFF to
//! recover, `disconnect` unregisters vivid's node for good).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use framekeep_core::cancel::CancelToken;
use framekeep_core::frame::{Frame, FrameError, FrameLayout, PixelFormat};
use framekeep_core::ledger::{LeakCheck, LedgerReport};
use framekeep_core::pool::{FramePool, PoolError};
use parking_lot::Mutex;

use crate::buffers::CaptureBuffers;
use crate::device::{BufferMode, CaptureDevice};
use crate::error::CaptureError;
use crate::fourcc::FourCc;
use crate::options::{FormatRequest, StreamOptions};
use crate::stream::CaptureStream;
use crate::v4l2_device::V4l2Device;

use super::fake::{FakeConfig, FakeDevice, PATTERN_RED, PATTERN_WHITE, RED_YUV};

/// Where the cases get a fresh device from.
pub trait Rig {
    /// A label for reports.
    fn name(&self) -> String;
    /// Opens the device (a fresh handle per case).
    fn open(&self) -> crate::Result<Box<dyn CaptureDevice>>;
}

/// A rig of fresh default [`FakeDevice`]s.
#[derive(Debug, Default, Clone, Copy)]
pub struct FakeRig;

impl Rig for FakeRig {
    fn name(&self) -> String {
        "fake".into()
    }
    fn open(&self) -> crate::Result<Box<dyn CaptureDevice>> {
        Ok(Box::new(FakeDevice::default()))
    }
}

/// A rig of fresh [`FakeDevice`]s presenting themselves as multi-planar-only nodes
/// ([`FakeConfig::multiplanar`]: NV12M, YUV420M and NV21M offered, a data offset in
/// plane 0).
#[derive(Debug, Default, Clone, Copy)]
pub struct FakeMultiplanarRig;

impl Rig for FakeMultiplanarRig {
    fn name(&self) -> String {
        "fake (multi-planar)".into()
    }
    fn open(&self) -> crate::Result<Box<dyn CaptureDevice>> {
        Ok(Box::new(FakeDevice::new(FakeConfig::multiplanar())))
    }
}

/// A rig that opens a V4L2 node (vivid at `/dev/video0` in the VM).
#[derive(Debug, Clone)]
pub struct NodeRig(pub String);

impl Rig for NodeRig {
    fn name(&self) -> String {
        self.0.clone()
    }
    fn open(&self) -> crate::Result<Box<dyn CaptureDevice>> {
        Ok(Box::new(V4l2Device::open(&self.0)?))
    }
}

/// The result of one case.
#[derive(Debug)]
pub struct Outcome {
    /// Case name.
    pub name: &'static str,
    /// `Ok(summary)` or why the case failed.
    pub result: Result<String, CaseFailure>,
    /// Wall time of the case.
    pub elapsed: Duration,
}

/// Why a conformance case failed.
#[derive(Debug, thiserror::Error)]
pub enum CaseFailure {
    /// A capture call the case needed failed.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// A capture call failed while the case was doing something it names.
    #[error("{during}: {source}")]
    During {
        /// What the case was doing, e.g. `start`.
        during: String,
        /// The error.
        #[source]
        source: CaptureError,
    },
    /// A capture call failed otherwise than the case expected it to.
    #[error("expected {expected}, got {got}")]
    Unexpected {
        /// The outcome the case expected, e.g. `a VIDIOC_QBUF error`.
        expected: String,
        /// The error the call returned instead.
        #[source]
        got: CaptureError,
    },
    /// A frame view the case checks pixels through was refused.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The pool a case captures into could not be made.
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// The device or the stream did something the case does not accept.
    #[error("{0}")]
    Check(String),
    /// The case left streams, driver buffers or frames behind (after passing, or after
    /// failing with `failure`).
    #[error("{}leaks after the case: {report}", failure.as_ref().map(|f| format!("{f}; ")).unwrap_or_default())]
    Leaked {
        /// The leak check's report.
        #[source]
        report: LedgerReport,
        /// How the case failed before that, if it did.
        failure: Option<Box<CaseFailure>>,
    },
}

/// A failed check.
fn check(what: impl Into<String>) -> CaseFailure {
    CaseFailure::Check(what.into())
}

/// A capture call that failed otherwise than `expected`.
fn unexpected(expected: impl Into<String>, got: CaptureError) -> CaseFailure {
    CaseFailure::Unexpected {
        expected: expected.into(),
        got,
    }
}

/// Names what a case was doing when a capture call failed.
trait During<T> {
    fn during(self, what: impl Into<String>) -> Result<T, CaseFailure>;
}

impl<T> During<T> for crate::Result<T> {
    fn during(self, what: impl Into<String>) -> Result<T, CaseFailure> {
        self.map_err(|source| CaseFailure::During {
            during: what.into(),
            source,
        })
    }
}

type CaseResult = Result<String, CaseFailure>;

/// One named check (see [`cases`]).
pub struct Case {
    /// Name (stable, used to filter).
    pub name: &'static str,
    run: fn(&dyn Rig) -> CaseResult,
}

impl std::fmt::Debug for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Case").field("name", &self.name).finish()
    }
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(check(format!($($fmt)+)));
        }
    };
}

/// Opens a device with the fault controls reset (vivid keeps control values across opens).
fn open(rig: &dyn Rig) -> Result<Box<dyn CaptureDevice>, CaseFailure> {
    let dev = rig.open()?;
    for (name, v) in [
        ("percentage_of_dropped_buffers", 0),
        ("wrap_sequence_number", 0),
        ("test_pattern", 0),
    ] {
        dev.set_control(name, v)?;
    }
    Ok(dev)
}

/// 320x180 YUYV at 60 fps: vivid's fastest mode, for cases about counting, not pixels.
fn fast() -> FormatRequest {
    FormatRequest::new(FourCc::YUYV, 320, 180).fps(60)
}

fn start(rig: &dyn Rig, opts: StreamOptions) -> Result<CaptureStream, CaseFailure> {
    CaptureStream::start(open(rig)?, opts.timeout(Duration::from_secs(5))).during("start")
}

/// Frames the sequence numbers say were lost. Real drivers may repeat a number (vivid does
/// when its thread runs late), so only forward jumps count.
fn gaps(seqs: &[u64]) -> u64 {
    seqs.windows(2)
        .map(|w| w[1].saturating_sub(w[0]).saturating_sub(1))
        .sum()
}

fn capture_format(rig: &dyn Rig, req: FormatRequest, n: usize) -> CaseResult {
    let mut st = start(rig, StreamOptions::new().format(req).strict(true))?;
    let g = st.negotiated();
    let layout = st.layout().ok_or_else(|| check("no layout"))?;
    let mut frames = Vec::new();
    for _ in 0..n {
        let f = st.next_frame()?;
        ensure!(
            f.data().len() == layout.len(),
            "frame of {} bytes, layout says {}",
            f.data().len(),
            layout.len()
        );
        ensure!(
            f.width() == req.width as usize && f.height() == req.height as usize,
            "size {}x{}",
            f.width(),
            f.height()
        );
        frames.push((f.sequence(), f.timestamp()));
    }
    for w in frames.windows(2) {
        ensure!(w[1].0 >= w[0].0, "sequence went backwards: {:?}", w);
        ensure!(w[1].1 > w[0].1, "timestamp not increasing: {:?}", w);
    }
    let stats = st.close()?;
    let seqs: Vec<u64> = frames.iter().map(|f| f.0).collect();
    ensure!(
        stats.frames == n as u64 && stats.copied == 0,
        "stats {stats}"
    );
    ensure!(
        stats.dropped == gaps(&seqs),
        "dropped {} but sequence numbers {seqs:?}",
        stats.dropped
    );
    Ok(format!("{g}, {} bytes/frame, {stats}", layout.len()))
}

fn case_list_formats(rig: &dyn Rig) -> CaseResult {
    let dev = open(rig)?;
    let formats = dev.formats()?;
    for (cc, w, h) in [
        (FourCc::YUYV, 640, 480),
        (FourCc::NV12, 1280, 720),
        (FourCc::RGB24, 1920, 1080),
    ] {
        let f = formats
            .iter()
            .find(|f| f.fourcc == cc)
            .ok_or_else(|| check(format!("{cc} not listed")))?;
        let size = f
            .sizes
            .iter()
            .find(|z| z.width == w && z.height == h)
            .ok_or_else(|| check(format!("{cc} {w}x{h} not listed")))?;
        ensure!(
            !size.intervals.is_empty(),
            "{cc} {w}x{h} has no frame intervals"
        );
    }
    let api = if dev.info().multiplanar {
        "multi-planar"
    } else {
        "single-planar"
    };
    Ok(format!("{} formats, {api} API", formats.len()))
}

/// A node that does not offer `fourcc` (a single-planar one, for NV12M, YUV420M and
/// NV21M): a strict request for it must be refused with what the driver granted instead.
fn refused_when_not_offered(rig: &dyn Rig, fourcc: FourCc) -> CaseResult {
    let req = FormatRequest::new(fourcc, 640, 480);
    match CaptureStream::start(open(rig)?, StreamOptions::new().format(req).strict(true)) {
        Err(CaptureError::FormatMismatch { granted, .. }) => Ok(format!(
            "{fourcc} not offered; a strict request is refused (driver granted {granted})"
        )),
        Err(e) => Err(unexpected(format!("FormatMismatch for {fourcc}"), e)),
        Ok(st) => Err(check(format!(
            "{fourcc} not listed, yet the driver granted {}",
            st.negotiated()
        ))),
    }
}

fn offers(rig: &dyn Rig, fourcc: FourCc) -> Result<bool, CaseFailure> {
    let dev = open(rig)?;
    let formats = dev.formats()?;
    Ok(formats.iter().any(|f| f.fourcc == fourcc))
}

/// NV12M (Y and UV in separate memory planes): every frame is copied into a contiguous
/// NV12 frame, with the right pixels.
fn case_nv12m(rig: &dyn Rig) -> CaseResult {
    let copied = Copied {
        fourcc: FourCc::NV12M,
        planes: 2,
        delivered: PixelFormat::Nv12,
        pattern: PATTERN_WHITE,
        pixels: "contiguous NV12, every Y 235 and UV 128",
        user: false,
    };
    copied.check(rig, check_white_nv12)
}

/// The pixels of a contiguous 640x480 NV12 frame painted 100% white: every Y 235, every
/// U and V 128 (within 1).
fn check_white_nv12(f: &Frame) -> Result<(), CaseFailure> {
    let (y, uv) = f.data().split_at(640 * 480);
    let bad_y = y.iter().filter(|&&v| v.abs_diff(235) > 1).count();
    let bad_uv = uv.iter().filter(|&&v| v.abs_diff(128) > 1).count();
    ensure!(
        bad_y == 0 && bad_uv == 0,
        "{bad_y} Y bytes not 235 and {bad_uv} UV bytes not 128 (Y starts {:?}, UV starts {:?})",
        &y[..8],
        &uv[..8]
    );
    Ok(())
}

/// The I420 pixels of a frame painted 100% red ([`PATTERN_RED`]): every Y, U and V byte
/// within 3 of [`RED_YUV`], the U plane before the V plane. `Err` says how many are not.
fn check_red_i420(f: &Frame) -> Result<(), CaseFailure> {
    let mut report = Vec::new();
    for (i, want) in RED_YUV.into_iter().enumerate() {
        let plane = f.plane(i)?;
        let mut bad = 0usize;
        let mut first = None;
        for r in 0..plane.height() {
            let row = plane.row(r).ok_or_else(|| check("row out of range"))?;
            first.get_or_insert_with(|| row[..row.len().min(4)].to_vec());
            bad += row.iter().filter(|&&v| v.abs_diff(want) > 3).count();
        }
        if bad > 0 {
            report.push(format!(
                "{bad} bytes of plane {i} not {want} (first row starts {:?})",
                first.unwrap_or_default()
            ));
        }
    }
    if report.is_empty() {
        Ok(())
    } else {
        Err(check(report.join(", ")))
    }
}

/// YU12 in one buffer (single-planar, or one plane of the multi-planar API): delivered
/// zero-copy as I420, with its Y, U and V planes where framekeep's layout says.
fn case_yu12(rig: &dyn Rig) -> CaseResult {
    let opts = StreamOptions::new()
        .format(FormatRequest::new(FourCc::YU12, 640, 480))
        .strict(true)
        .control("osd_text_mode", 2)
        .control("test_pattern", PATTERN_RED);
    let mut st = start(rig, opts)?;
    let g = st.negotiated();
    ensure!(
        st.pixel_format() == PixelFormat::I420 && g.num_planes <= 1,
        "delivered as {:?} from {} planes",
        st.pixel_format(),
        g.num_planes
    );
    let layout = st.layout().ok_or_else(|| check("no layout"))?;
    for _ in 0..3 {
        let f = st.next_frame()?;
        ensure!(
            f.data().len() == layout.len() && f.format() == PixelFormat::I420,
            "frame of {} bytes as {}, layout {layout:?}",
            f.data().len(),
            f.format()
        );
        check_red_i420(&f)?;
    }
    let stats = st.close()?;
    ensure!(
        stats.frames == 3 && stats.copied == 0,
        "expected 3 zero-copy frames: {stats}"
    );
    Ok(format!(
        "{g} -> I420 (stride {}), every Y/U/V within 3 of {RED_YUV:?}; {stats}",
        layout.stride()
    ))
}

/// YUV420M (Y, U and V in separate memory planes): every frame is copied into a
/// contiguous I420 frame, with the right pixels in the right planes.
fn case_yuv420m(rig: &dyn Rig) -> CaseResult {
    let pixels = format!("contiguous I420, every Y/U/V within 3 of {RED_YUV:?}");
    let copied = Copied {
        fourcc: FourCc::YUV420M,
        planes: 3,
        delivered: PixelFormat::I420,
        pattern: PATTERN_RED,
        pixels: &pixels,
        user: false,
    };
    copied.check(rig, check_red_i420)
}

/// A multi-planar format that the stream copies into a contiguous 640x480 frame.
struct Copied<'a> {
    fourcc: FourCc,
    planes: u8,
    delivered: PixelFormat,
    /// The vivid/fake test pattern to paint.
    pattern: i64,
    /// What the pixel check checks, for the case's report.
    pixels: &'a str,
    /// Copy into the frames of a pool given as user buffers (every frame must be one of
    /// them) instead of the stream's own copy pool.
    user: bool,
}

impl Copied<'_> {
    /// Streams 4 frames: each must be a copy in the contiguous layout whose pixels pass
    /// `pixels`, every driver buffer must be queued again at once, and the stats must
    /// agree. A rig that does not offer the format must refuse a strict request for it.
    fn check(
        &self,
        rig: &dyn Rig,
        pixels: impl Fn(&Frame) -> Result<(), CaseFailure>,
    ) -> CaseResult {
        if !offers(rig, self.fourcc)? {
            return refused_when_not_offered(rig, self.fourcc);
        }
        let mut opts = StreamOptions::new()
            .format(FormatRequest::new(self.fourcc, 640, 480))
            .strict(true)
            .control("osd_text_mode", 2)
            .control("test_pattern", self.pattern);
        let mut supplied = None;
        if self.user {
            let layout = FrameLayout::packed(self.delivered, 640, 480)?;
            let (supplier, seen) = Recorded::new(user_pool(layout, 6)?);
            opts = opts.user_buffers(supplier);
            supplied = Some(seen);
        }
        let mut st = start(rig, opts)?;
        let g = st.negotiated();
        let memory = if self.user {
            BufferMode::MmapCopy
        } else {
            BufferMode::Mmap
        };
        ensure!(
            g.memory == memory,
            "{} with{} user buffers: {g}",
            self.fourcc,
            if self.user { "" } else { "out" }
        );
        ensure!(
            g.num_planes == self.planes,
            "{} granted with {} planes",
            self.fourcc,
            g.num_planes
        );
        ensure!(
            st.pixel_format() == self.delivered,
            "delivered as {:?}",
            st.pixel_format()
        );
        let layout = st.layout().ok_or_else(|| check("no layout"))?;
        ensure!(
            layout.len() == 640 * 480 * 3 / 2 && layout.stride() == 640,
            "layout {layout:?} is not contiguous 640x480 {:?}",
            self.delivered
        );
        let mut seqs = Vec::new();
        for _ in 0..4 {
            let f = st.next_frame()?;
            ensure!(
                f.data().len() == layout.len(),
                "frame of {} bytes",
                f.data().len()
            );
            pixels(&f)?;
            if let Some(seen) = &supplied {
                ensure!(
                    seen.has(&f),
                    "frame at {:p} is not one of the user buffers",
                    f.as_ptr()
                );
            }
            seqs.push(f.sequence());
        }
        ensure!(
            st.queued() == st.buffer_count(),
            "{} of {} driver buffers queued while 0 are held (copies must re-queue at once)",
            st.queued(),
            st.buffer_count()
        );
        let stats = st.close()?;
        ensure!(
            stats.frames == 4 && stats.copied == 4,
            "expected 4 frames, all copies: {stats}"
        );
        ensure!(
            stats.dropped == gaps(&seqs),
            "dropped {} but sequence numbers {seqs:?}",
            stats.dropped
        );
        Ok(format!("{g} -> {}; {stats}", self.pixels))
    }
}

/// NV21M has no contiguous framekeep format: a typed error at negotiation naming it,
/// and the device stays usable.
fn case_nv21m_refused(rig: &dyn Rig) -> CaseResult {
    if !offers(rig, FourCc::NV21M)? {
        return refused_when_not_offered(rig, FourCc::NV21M);
    }
    let req = FormatRequest::new(FourCc::NV21M, 640, 480);
    let msg = match CaptureStream::start(open(rig)?, StreamOptions::new().format(req)) {
        Err(e @ CaptureError::UnsupportedPlanes { fourcc, .. }) if fourcc == FourCc::NV21M => {
            e.to_string()
        }
        Err(e) => return Err(unexpected("UnsupportedPlanes for NM21", e)),
        Ok(st) => return Err(check(format!("NV21M started: {}", st.negotiated()))),
    };
    ensure!(
        msg.contains("NM21"),
        "error does not name the format: {msg}"
    );
    let mut again = start(rig, StreamOptions::new().format(fast()))?;
    drop(again.next_frame()?);
    again.close()?;
    Ok(format!("{msg}; next open works"))
}

fn case_yuyv(rig: &dyn Rig) -> CaseResult {
    capture_format(rig, FormatRequest::new(FourCc::YUYV, 640, 480).fps(25), 6)
}

fn case_nv12(rig: &dyn Rig) -> CaseResult {
    let mut req = FormatRequest::new(FourCc::NV12, 1280, 720);
    req.fps = None;
    capture_format(rig, req, 4)
}

fn case_rgb24(rig: &dyn Rig) -> CaseResult {
    capture_format(rig, FormatRequest::new(FourCc::RGB24, 1920, 1080).fps(5), 3)
}

fn case_white_pattern(rig: &dyn Rig) -> CaseResult {
    let opts = StreamOptions::new()
        .format(FormatRequest::new(FourCc::YUYV, 640, 480).fps(25))
        .control("osd_text_mode", 2)
        .control("test_pattern", PATTERN_WHITE);
    let mut st = start(rig, opts)?;
    let f = st.next_frame()?;
    let checked = check_white_yuyv(&f);
    drop(f);
    st.close()?;
    Ok(format!("every pixel pair is {:?}", checked?))
}

/// The pixels of a YUYV frame painted 100% white: every pixel pair `[235, 128, 235, 128]`
/// (within 1). Returns the middle row's first pair.
fn check_white_yuyv(f: &Frame) -> Result<Vec<u8>, CaseFailure> {
    let mut bad = 0usize;
    for y in 0..f.height() {
        let row = f.row(y).ok_or_else(|| check("row out of range"))?;
        for px in row.chunks_exact(4) {
            let want = [235u8, 128, 235, 128];
            if px.iter().zip(want).any(|(&a, b)| a.abs_diff(b) > 1) {
                bad += 1;
            }
        }
    }
    let first = f
        .row(f.height() / 2)
        .ok_or_else(|| check("no middle row"))?[..4]
        .to_vec();
    ensure!(
        bad == 0,
        "{bad} YUYV pixel pairs are not 100% white (middle row starts {first:?})"
    );
    Ok(first)
}

/// A pool of `buffers` frames of `layout` for user buffers, each with a page of slack past
/// the image (for a driver whose `sizeimage` includes a data offset).
fn user_pool(layout: FrameLayout, buffers: usize) -> Result<FramePool, CaseFailure> {
    Ok(FramePool::options(layout)
        .name("userptr case")
        .buffer_bytes(layout.len() + 4096)
        .max_buffers(buffers)
        .build()?)
}

/// A pool as user-buffer supplier that records the address of every frame it hands out.
struct Recorded {
    pool: FramePool,
    seen: Supplied,
}

/// The addresses a [`Recorded`] supplier handed out.
#[derive(Clone, Default)]
struct Supplied(Arc<Mutex<HashSet<usize>>>);

impl Supplied {
    /// Whether `f` starts at the first byte of a buffer the supplier handed out.
    fn has(&self, f: &Frame) -> bool {
        self.0.lock().contains(&(f.as_ptr() as usize))
    }

    fn len(&self) -> usize {
        self.0.lock().len()
    }
}

impl Recorded {
    fn new(pool: FramePool) -> (Recorded, Supplied) {
        let seen = Supplied::default();
        (
            Recorded {
                pool,
                seen: seen.clone(),
            },
            seen,
        )
    }
}

impl CaptureBuffers for Recorded {
    fn next_buffer(&mut self, bytes: usize) -> crate::Result<Option<Frame>> {
        let frame = self.pool.next_buffer(bytes)?;
        if let Some(f) = &frame {
            self.seen.0.lock().insert(f.as_ptr() as usize);
        }
        Ok(frame)
    }
}

/// 640x480 YUYV painted 100% white, captured into a pool of `buffers` user buffers.
fn white_user_opts(buffers: usize) -> Result<(StreamOptions, Supplied), CaseFailure> {
    let layout = FrameLayout::packed(PixelFormat::Yuyv, 640, 480)?;
    let (supplier, seen) = Recorded::new(user_pool(layout, buffers)?);
    let opts = StreamOptions::new()
        .format(FormatRequest::new(FourCc::YUYV, 640, 480).fps(25))
        .strict(true)
        .control("osd_text_mode", 2)
        .control("test_pattern", PATTERN_WHITE)
        .user_buffers(supplier);
    Ok((opts, seen))
}

/// Checks `n` frames of a user-buffer stream: each one of the supplier's buffers, 100%
/// white; frames held past the close stay intact (they are the supplier's, not the
/// driver's). Returns the stats and how many frames were held over the close.
fn capture_white_user(
    mut st: CaptureStream,
    seen: &Supplied,
    n: usize,
) -> Result<(crate::StreamStats, usize), CaseFailure> {
    let mut held = Vec::new();
    for i in 0..n {
        let f = st.next_frame()?;
        ensure!(
            seen.has(&f),
            "frame {i} at {:p} is not one of the user buffers",
            f.as_ptr()
        );
        ensure!(
            f.is_unique() && f.lease_id() != 0,
            "frame {i} is not a pool frame of its own (handles {}, lease {})",
            f.handle_count(),
            f.lease_id()
        );
        check_white_yuyv(&f)?;
        if i % 2 == 0 {
            held.push(f);
        }
    }
    let stats = st.close()?;
    for f in &held {
        check_white_yuyv(f).map_err(|e| check(format!("a frame held over the close: {e}")))?;
    }
    Ok((stats, held.len()))
}

/// USERPTR into a pool's frames: every delivered frame is one of the pool's buffers,
/// filled by the driver (zero copy), each buffer keeping its V4L2 index.
fn case_userptr_zero_copy(rig: &dyn Rig) -> CaseResult {
    let (opts, seen) = white_user_opts(8)?;
    let st = start(rig, opts)?;
    let g = st.negotiated();
    ensure!(
        g.memory == BufferMode::UserPtr,
        "the driver did not take user memory: {g}"
    );
    let n = 6;
    let (stats, held) = capture_white_user(st, &seen, n)?;
    // A driver that puts the image at a data offset gets it moved to the first byte, a copy
    // within the frame (the fake's multi-planar mode does; vivid does not for YUYV).
    ensure!(
        stats.frames == n as u64 && (stats.copied == 0 || stats.copied == n as u64),
        "stats {stats}"
    );
    ensure!(
        stats.repinned == 0,
        "buffer indices changed address {} times with {} pool buffers",
        stats.repinned,
        seen.len()
    );
    let moved = if stats.copied > 0 {
        " (moved from a data offset)"
    } else {
        ""
    };
    Ok(format!(
        "{g}: every frame one of {} pool buffers, 100% white{moved}, {held} held over the close intact; {stats}",
        seen.len()
    ))
}

/// Which memory the driver gave a user-buffer stream, and frames consistent with it: the
/// summary says `USERPTR accepted` (zero copy) or `USERPTR refused` (every frame a copy
/// into a pool buffer). Meant for nodes whose answer is known (vivid's default allocator
/// takes user memory, its dma-contig one does not).
fn case_userptr_mode(rig: &dyn Rig) -> CaseResult {
    let (opts, seen) = white_user_opts(8)?;
    let st = start(rig, opts)?;
    let g = st.negotiated();
    let n = 4;
    let (stats, _) = capture_white_user(st, &seen, n)?;
    match g.memory {
        BufferMode::UserPtr => {
            ensure!(
                stats.copied == 0 || stats.copied == n as u64,
                "user memory, yet {stats}"
            );
            Ok(format!("USERPTR accepted: {g}, {stats}"))
        }
        BufferMode::MmapCopy => {
            ensure!(
                stats.copied == n as u64,
                "user memory refused, yet not every frame a copy: {stats}"
            );
            Ok(format!("USERPTR refused: {g}, {stats}"))
        }
        BufferMode::Mmap => Err(check(format!("user buffers ignored: {g}"))),
    }
}

/// A driver that refuses user memory (an injected `VIDIOC_REQBUFS` error fails the
/// USERPTR request): mmap buffers, every frame copied into a pool buffer, each driver
/// buffer re-queued at once.
fn case_userptr_refused(rig: &dyn Rig) -> CaseResult {
    let (opts, seen) = white_user_opts(8)?;
    let mut st = start(rig, opts.control("inject_vidioc_reqbufs_error", 1))?;
    let g = st.negotiated();
    ensure!(
        g.memory == BufferMode::MmapCopy,
        "refused user memory, yet {g}"
    );
    let mut held = Vec::new();
    for _ in 0..5 {
        let f = st.next_frame()?;
        ensure!(
            seen.has(&f),
            "frame at {:p} is not one of the user buffers",
            f.as_ptr()
        );
        check_white_yuyv(&f)?;
        held.push(f);
    }
    ensure!(
        st.queued() == st.buffer_count(),
        "{} of {} driver buffers queued while 5 copies are held",
        st.queued(),
        st.buffer_count()
    );
    drop(held);
    let stats = st.close()?;
    ensure!(
        stats.frames == 5 && stats.copied == 5,
        "expected 5 frames, all copies: {stats}"
    );
    Ok(format!(
        "{g}: 5 copies into pool buffers, 100% white; {stats}"
    ))
}

/// A dry supplier: the driver gets fewer buffers (none at all while the application
/// holds every pool frame), the stream keeps delivering, and refills as frames come back.
fn case_userptr_pool_dry(rig: &dyn Rig) -> CaseResult {
    let layout = FrameLayout::packed(PixelFormat::Yuyv, 320, 180)?;
    // 4 queued + 1: the pool runs dry as soon as the application holds 2 frames.
    let (supplier, seen) = Recorded::new(user_pool(layout, 5)?);
    let opts = StreamOptions::new()
        .format(fast())
        .buffers(4)
        .user_buffers(supplier);
    let mut st = start(rig, opts)?;
    ensure!(
        st.negotiated().memory == BufferMode::UserPtr && st.queued() == 4,
        "{}: {} queued at start",
        st.negotiated(),
        st.queued()
    );
    let mut held = Vec::new();
    let mut queued = Vec::new();
    for _ in 0..5 {
        held.push(st.next_frame()?);
        queued.push(st.queued());
    }
    ensure!(
        queued == [4, 3, 2, 1, 0],
        "queued after each of 5 held frames: {queued:?} (expected 4, 3, 2, 1, 0)"
    );
    // Nothing queued: the next frame needs a frame back in the pool.
    let back = held.remove(0);
    let giver = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        drop(back);
    });
    let t = Instant::now();
    let f = st.next_frame();
    let waited = t.elapsed();
    giver.join().map_err(|_| check("giver panicked"))?;
    let f = f.during("next frame while the pool was dry")?;
    ensure!(
        seen.has(&f),
        "frame at {:p} is not one of the user buffers",
        f.as_ptr()
    );
    ensure!(
        waited >= Duration::from_millis(150) && waited < Duration::from_secs(4),
        "a frame {waited:?} after the one pool frame came back at 200 ms"
    );
    held.push(f);
    held.clear();
    // Everything back: the next call refills the driver to 4 again.
    drop(st.next_frame()?);
    let recovered = st.queued();
    ensure!(
        recovered == 4,
        "{recovered} queued after every frame came back (expected 4)"
    );
    let stats = st.close()?;
    ensure!(
        stats.frames == 7
            && (stats.copied == 0 || stats.copied == 7)
            && stats.errors == 0
            && stats.skipped == 0,
        "stats {stats}"
    );
    Ok(format!(
        "queued {queued:?} while holding 5 of 5 pool frames; a frame {waited:?} after one came back; {recovered} queued again; {stats}"
    ))
}

/// NV12M (separate memory planes) with user buffers: copied plane by plane into pool
/// frames (mmap buffers, never user memory), with the right pixels.
fn case_userptr_nv12m(rig: &dyn Rig) -> CaseResult {
    let copied = Copied {
        fourcc: FourCc::NV12M,
        planes: 2,
        delivered: PixelFormat::Nv12,
        pattern: PATTERN_WHITE,
        pixels: "contiguous NV12 in pool buffers, every Y 235 and UV 128",
        user: true,
    };
    copied.check(rig, check_white_nv12)
}

/// User buffers under faults: an error-flagged buffer is skipped and its frame queued
/// again; a failed `VIDIOC_QBUF` of a fresh frame is reported once and retried.
fn case_userptr_faults(rig: &dyn Rig) -> CaseResult {
    let layout = FrameLayout::packed(PixelFormat::Yuyv, 320, 180)?;
    let (supplier, seen) = Recorded::new(user_pool(layout, 8)?);
    let mut st = start(
        rig,
        StreamOptions::new().format(fast()).user_buffers(supplier),
    )?;
    ensure!(
        st.negotiated().memory == BufferMode::UserPtr,
        "{}",
        st.negotiated()
    );
    drop(st.next_frame()?);
    st.device().set_control("inject_v4l2_buf_flag_error", 1)?;
    for _ in 0..6 {
        drop(st.next_frame()?);
    }
    let flagged = st.stats();
    ensure!(
        flagged.errors >= 1 && flagged.frames == 7,
        "error-flagged buffer not counted, or delivered: {flagged}"
    );
    st.device().set_control("inject_vidioc_qbuf_error", 1)?;
    // The refill after this frame fails to queue the fresh pool frame.
    let mut err = None;
    for _ in 0..4 {
        match st.next_frame() {
            Ok(f) => drop(f),
            Err(
                e @ CaptureError::Io {
                    op: "VIDIOC_QBUF", ..
                },
            ) => {
                err = Some(e.to_string());
                break;
            }
            Err(e) => return Err(unexpected("the failed VIDIOC_QBUF", e)),
        }
    }
    let err = err.ok_or_else(|| check("failed user-buffer queue not reported"))?;
    for _ in 0..4 {
        let f = st.next_frame().during("stream did not recover")?;
        ensure!(
            seen.has(&f),
            "frame at {:p} is not a pool buffer",
            f.as_ptr()
        );
    }
    let q = st.queued();
    let stats = st.close()?;
    ensure!(stats.errors >= 2, "faults not counted: {stats}");
    ensure!(q == 4, "{q} queued after recovering (expected 4)");
    Ok(format!("{err}; recovered, {q} queued, {stats}"))
}

fn case_strict_mismatch(rig: &dyn Rig) -> CaseResult {
    let req = FormatRequest::new(FourCc::YUYV, 642, 482);
    match CaptureStream::start(open(rig)?, StreamOptions::new().format(req).strict(true)) {
        Err(CaptureError::FormatMismatch { requested, granted }) => {
            let lax = CaptureStream::start(open(rig)?, StreamOptions::new().format(req))?;
            let g = lax.negotiated();
            lax.close()?;
            ensure!(g.width != 642, "driver granted the odd size after all");
            Ok(format!("strict: {requested} -> {granted}; lax granted {g}"))
        }
        Err(e) => Err(unexpected("FormatMismatch", e)),
        Ok(_) => Err(check(
            "driver granted 642x482 exactly; cannot test strict mode",
        )),
    }
}

fn case_dropped(rig: &dyn Rig) -> CaseResult {
    let mut st = start(
        rig,
        StreamOptions::new()
            .format(fast())
            .control("percentage_of_dropped_buffers", 50),
    )?;
    let mut seqs = Vec::new();
    for _ in 0..20 {
        seqs.push(st.next_frame()?.sequence());
    }
    let stats = st.close()?;
    ensure!(
        seqs.windows(2).all(|w| w[1] >= w[0]),
        "sequence went backwards: {seqs:?}"
    );
    ensure!(
        stats.dropped > 0,
        "no drops detected with 50% dropped buffers: {seqs:?}"
    );
    ensure!(
        stats.dropped == gaps(&seqs),
        "dropped {} but sequence numbers {seqs:?}",
        stats.dropped
    );
    Ok(format!(
        "{stats}, sequence {}..={}",
        seqs[0],
        seqs[seqs.len() - 1]
    ))
}

fn case_error_flag(rig: &dyn Rig) -> CaseResult {
    let mut st = start(rig, StreamOptions::new().format(fast()))?;
    drop(st.next_frame()?);
    st.device().set_control("inject_v4l2_buf_flag_error", 1)?;
    for _ in 0..6 {
        drop(st.next_frame()?);
    }
    let stats = st.close()?;
    ensure!(
        stats.errors >= 1,
        "error-flagged buffer not counted: {stats}"
    );
    ensure!(
        stats.frames == 7,
        "error-flagged buffer delivered or frames lost: {stats}"
    );
    Ok(stats.to_string())
}

fn expect_op_error(r: Result<CaptureStream, CaptureError>, op: &str) -> CaseResult {
    match r {
        Err(CaptureError::Io { op: got, source }) if got == op => Ok(format!("{got}: {source}")),
        Err(e) => Err(unexpected(format!("a {op} error"), e)),
        Ok(_) => Err(check(format!(
            "stream started despite the injected {op} error"
        ))),
    }
}

fn case_reqbufs_error(rig: &dyn Rig) -> CaseResult {
    let dev = open(rig)?;
    dev.set_control("inject_vidioc_reqbufs_error", 1)?;
    let msg = expect_op_error(
        CaptureStream::start(dev, StreamOptions::new().format(fast())),
        "VIDIOC_REQBUFS",
    )?;
    let mut again = start(rig, StreamOptions::new().format(fast()))?;
    drop(again.next_frame()?);
    again.close()?;
    Ok(format!("{msg}; next open works"))
}

fn case_streamon_error(rig: &dyn Rig) -> CaseResult {
    let dev = open(rig)?;
    dev.set_control("inject_vidioc_streamon_error", 1)?;
    let msg = expect_op_error(
        CaptureStream::start(dev, StreamOptions::new().format(fast())),
        "VIDIOC_STREAMON",
    )?;
    let mut again = start(rig, StreamOptions::new().format(fast()))?;
    drop(again.next_frame()?);
    again.close()?;
    Ok(format!("{msg}; next open works"))
}

fn case_qbuf_error(rig: &dyn Rig) -> CaseResult {
    let mut st = start(rig, StreamOptions::new().format(fast()))?;
    let f = st.next_frame()?;
    st.device().set_control("inject_vidioc_qbuf_error", 1)?;
    drop(f); // this re-queue fails
    let err = match st.next_frame() {
        Err(
            e @ CaptureError::Io {
                op: "VIDIOC_QBUF", ..
            },
        ) => e.to_string(),
        Err(e) => return Err(unexpected("the failed VIDIOC_QBUF", e)),
        Ok(_) => return Err(check("failed re-queue not reported")),
    };
    for _ in 0..3 {
        drop(st.next_frame().during("stream did not recover")?);
    }
    let q = st.queued();
    let stats = st.close()?;
    ensure!(stats.errors >= 1, "failed re-queue not counted: {stats}");
    Ok(format!("{err}; recovered, {q} queued, {stats}"))
}

fn case_held_copies(rig: &dyn Rig) -> CaseResult {
    let mut st = start(
        rig,
        StreamOptions::new().format(fast()).buffers(4).min_queued(2),
    )?;
    ensure!(
        st.buffer_count() == 4,
        "driver granted {} buffers",
        st.buffer_count()
    );
    // A scope of its own, to see exactly what the held frames put in the ledger.
    let leaks = LeakCheck::new();
    let mut held: Vec<Frame> = Vec::new();
    for _ in 0..6 {
        held.push(st.next_frame()?);
    }
    let live = leaks.leaks();
    let zero_copy = live
        .iter()
        .filter(|e| e.name.starts_with("v4l2 buffer"))
        .count();
    let copies = live.iter().filter(|e| e.name == "v4l2 copy").count();
    let stats = st.stats();
    ensure!(
        stats.copied == 4,
        "expected 4 copies after holding 6 of 4 buffers: {stats}"
    );
    ensure!(st.queued() >= 1, "driver starved: {} queued", st.queued());
    let seqs: Vec<u64> = held.iter().map(|f| f.sequence()).collect();
    ensure!(
        seqs.windows(2).all(|w| w[1] >= w[0]),
        "copies out of order: {seqs:?}"
    );
    held.clear();
    ensure!(
        st.queued() == 4,
        "buffers not re-queued after the frames dropped: {} queued",
        st.queued()
    );
    drop(st.next_frame()?);
    let stats = st.close()?;
    ensure!(
        zero_copy == 2 && copies == 4,
        "ledger listed {zero_copy} driver buffers and {copies} copies for 2 + 4 held frames: {live:?}"
    );
    leaks
        .finish_within(Duration::from_secs(1))
        .map_err(|r| check(format!("held frames left entries behind: {r}")))?;
    Ok(format!(
        "ledger saw 2 driver buffers + 4 copies while held; {stats}"
    ))
}

fn case_latest_only(rig: &dyn Rig) -> CaseResult {
    let mut st = start(rig, StreamOptions::new().format(fast()).latest_only(true))?;
    let a = st.next_frame()?.sequence();
    std::thread::sleep(Duration::from_millis(300));
    let b = st.next_frame()?.sequence();
    ensure!(
        st.queued() == st.buffer_count(),
        "{} of {} buffers queued with no frame held",
        st.queued(),
        st.buffer_count()
    );
    let stats = st.close()?;
    ensure!(
        stats.skipped >= 1,
        "nothing skipped after a 300 ms pause: {stats}"
    );
    ensure!(b > a + 1, "latest frame {b} right after {a}");
    Ok(format!("{a} -> {b}, {stats}"))
}

fn case_timeout(rig: &dyn Rig) -> CaseResult {
    let opts = StreamOptions::new()
        .format(fast())
        .control("percentage_of_dropped_buffers", 100);
    let mut st = CaptureStream::start(open(rig)?, opts.timeout(Duration::from_millis(300)))?;
    let t = Instant::now();
    let r = st.next_frame();
    let el = t.elapsed();
    st.close()?;
    match r {
        Err(CaptureError::Timeout(_)) => {
            ensure!(
                el >= Duration::from_millis(250) && el < Duration::from_secs(3),
                "timed out after {el:?}"
            );
            Ok(format!("timed out after {el:?}"))
        }
        Err(e) => Err(unexpected("Timeout", e)),
        Ok(f) => Err(check(format!(
            "got frame {} with 100% dropped",
            f.sequence()
        ))),
    }
}

fn case_cancel(rig: &dyn Rig) -> CaseResult {
    let token = CancelToken::new();
    let opts = StreamOptions::new()
        .format(fast())
        .control("percentage_of_dropped_buffers", 100)
        .with_cancel(&token);
    let mut st = CaptureStream::start(open(rig)?, opts.timeout(Duration::from_secs(20)))?;
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        token.cancel();
    });
    let t = Instant::now();
    let r = st.next_frame();
    let el = t.elapsed();
    canceller.join().map_err(|_| check("canceller panicked"))?;
    let again = st.next_frame();
    st.close()?;
    ensure!(
        matches!(r, Err(CaptureError::Cancelled)),
        "expected Cancelled, got {r:?}"
    );
    ensure!(el < Duration::from_secs(3), "cancel took {el:?}");
    ensure!(
        matches!(again, Err(CaptureError::Cancelled)),
        "after cancel: {again:?}"
    );
    Ok(format!(
        "woke {el:?} after the wait began (cancel at 200 ms)"
    ))
}

fn case_wrap_sequence(rig: &dyn Rig) -> CaseResult {
    let mut st = start(
        rig,
        StreamOptions::new()
            .format(fast())
            .control("wrap_sequence_number", 1),
    )?;
    let mut seqs = vec![st.next_frame()?.sequence()];
    while seqs[seqs.len() - 1] < (1 << 32) + 4 && seqs.len() < 400 {
        let seq = st.next_frame()?.sequence();
        let last = seqs[seqs.len() - 1];
        ensure!(seq >= last, "sequence went from {last} to {seq}");
        seqs.push(seq);
    }
    let stats = st.close()?;
    let (first, last, n) = (seqs[0], seqs[seqs.len() - 1], seqs.len());
    ensure!(
        first >= 0xffff_0000 && last >= 1 << 32,
        "never wrapped: {first:#x}..{last:#x}"
    );
    ensure!(
        stats.dropped == gaps(&seqs),
        "gap count {} across the wrap ({first:#x}..{last:#x}, {n} frames)",
        stats.dropped
    );
    Ok(format!("{first:#x}..{last:#x} over {n} frames, {stats}"))
}

fn case_wrap_timestamp(rig: &dyn Rig) -> CaseResult {
    let mut st = start(
        rig,
        StreamOptions::new()
            .format(fast())
            .control("wrap_timestamp", 2),
    )?;
    let mut seqs = Vec::new();
    let mut stamps = Vec::new();
    for _ in 0..10 {
        let f = st.next_frame()?;
        seqs.push(f.sequence());
        stamps.push(f.timestamp());
    }
    let stats = st.close()?;
    ensure!(
        stats.dropped == gaps(&seqs),
        "timestamps confused gap counting: {stats}, {seqs:?}"
    );
    Ok(format!(
        "{stats}, timestamps {:?}..{:?}",
        stamps[0],
        stamps[stamps.len() - 1]
    ))
}

fn case_iterate(rig: &dyn Rig) -> CaseResult {
    let token = CancelToken::new();
    let st = start(rig, StreamOptions::new().format(fast()).with_cancel(&token))?;
    let mut n = 0;
    for frame in st {
        let frame = frame?;
        n += 1;
        if n == 5 {
            token.cancel();
        }
        drop(frame);
        ensure!(n <= 5, "iteration went on after cancel");
    }
    ensure!(n == 5, "iteration ended after {n} frames");
    Ok("5 frames, then cancel ended the iteration".into())
}

fn case_drop_stream_early(rig: &dyn Rig) -> CaseResult {
    let (tx, rx) = std::sync::mpsc::channel();
    let mut st = start(
        rig,
        StreamOptions::new().format(fast()).with_on_close(move |s| {
            let _ = tx.send(*s);
        }),
    )?;
    let a = st.next_frame()?;
    let b = st.next_frame()?;
    let sum = |f: &Frame| f.data().iter().map(|&x| u64::from(x)).sum::<u64>();
    let (sa, sb) = (sum(&a), sum(&b));
    drop(st);
    let stats = rx
        .recv_timeout(Duration::from_secs(1))
        .map_err(|_| check("on_close not called"))?;
    ensure!(
        stats.held_at_close == 2,
        "held_at_close {}",
        stats.held_at_close
    );
    ensure!(
        sum(&a) == sa && sum(&b) == sb,
        "frame memory changed after the stream was dropped"
    );
    drop((a, b));
    // The buffers are freed with the last frame: the device can stream again.
    let mut again = start(rig, StreamOptions::new().format(fast()))?;
    drop(again.next_frame()?);
    again.close()?;
    Ok(format!(
        "frames stayed valid after the stream was dropped; {stats}"
    ))
}

fn case_close_waits(rig: &dyn Rig) -> CaseResult {
    let st = start(
        rig,
        StreamOptions::new()
            .format(fast())
            .close_grace(Duration::from_secs(3)),
    );
    let mut st = st?;
    let f = st.next_frame()?;
    let holder = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        drop(f);
    });
    let t = Instant::now();
    let stats = st.close()?;
    let el = t.elapsed();
    holder.join().map_err(|_| check("holder panicked"))?;
    ensure!(
        stats.held_at_close == 0,
        "close did not wait for the held frame: {stats:?}"
    );
    ensure!(
        el >= Duration::from_millis(90) && el < Duration::from_secs(3),
        "close took {el:?}"
    );
    Ok(format!(
        "close waited {el:?} for the frame held on another thread"
    ))
}

fn terminal_case(rig: &dyn Rig, control: &str, want: fn(&CaptureError) -> bool) -> CaseResult {
    let mut st = start(rig, StreamOptions::new().format(fast()))?;
    drop(st.next_frame()?);
    st.device().set_control(control, 1)?;
    let mut first = None;
    for _ in 0..10 {
        match st.next_frame() {
            Ok(f) => drop(f),
            Err(e) => {
                first = Some(e);
                break;
            }
        }
    }
    let first = first.ok_or_else(|| check(format!("no error within 10 frames of {control}")))?;
    if !want(&first) {
        return Err(unexpected(format!("the error {control} causes"), first));
    }
    let again = st.next_frame();
    ensure!(
        again.as_ref().is_err_and(want),
        "next call after {first}: {again:?}"
    );
    let stats = st.close().during(format!("close after {control}"))?;
    Ok(format!("{first}; {stats}"))
}

fn case_fatal_error(rig: &dyn Rig) -> CaseResult {
    terminal_case(rig, "inject_fatal_streaming_error", |e| {
        matches!(e, CaptureError::StreamFailed)
    })
}

fn case_disconnect(rig: &dyn Rig) -> CaseResult {
    terminal_case(rig, "disconnect", |e| {
        matches!(e, CaptureError::Disconnected { .. })
    })
}

/// Every case, in the order they must run (the last ones break the device).
pub fn cases() -> Vec<Case> {
    macro_rules! c {
        ($n:literal, $f:ident) => {
            Case { name: $n, run: $f }
        };
    }
    vec![
        c!("list_formats", case_list_formats),
        c!("yuyv_640x480", case_yuyv),
        c!("nv12_1280x720", case_nv12),
        c!("rgb24_1920x1080", case_rgb24),
        c!("white_pattern", case_white_pattern),
        c!("yu12_640x480", case_yu12),
        c!("nv12m_copied", case_nv12m),
        c!("yuv420m_copied", case_yuv420m),
        c!("nv21m_refused", case_nv21m_refused),
        c!("strict_mismatch", case_strict_mismatch),
        c!("dropped_frames", case_dropped),
        c!("error_flag", case_error_flag),
        c!("reqbufs_error", case_reqbufs_error),
        c!("streamon_error", case_streamon_error),
        c!("qbuf_error", case_qbuf_error),
        c!("held_frames_copy", case_held_copies),
        c!("userptr_zero_copy", case_userptr_zero_copy),
        c!("userptr_mode", case_userptr_mode),
        c!("userptr_refused", case_userptr_refused),
        c!("userptr_pool_dry", case_userptr_pool_dry),
        c!("userptr_nv12m_copied", case_userptr_nv12m),
        c!("userptr_faults", case_userptr_faults),
        c!("latest_only", case_latest_only),
        c!("timeout", case_timeout),
        c!("cancel", case_cancel),
        c!("wrap_sequence", case_wrap_sequence),
        c!("wrap_timestamp", case_wrap_timestamp),
        c!("iterate", case_iterate),
        c!("drop_stream_early", case_drop_stream_early),
        c!("close_waits_for_frames", case_close_waits),
        c!("fatal_error", case_fatal_error),
        c!("disconnect", case_disconnect),
    ]
}

/// Runs one case inside a [`LeakCheck`].
pub fn run_case(case: &Case, rig: &dyn Rig) -> Outcome {
    let leaks = LeakCheck::new();
    let t = Instant::now();
    let mut result = (case.run)(rig);
    if let Err(report) = leaks.finish_within(Duration::from_secs(1)) {
        result = Err(CaseFailure::Leaked {
            report,
            failure: result.err().map(Box::new),
        });
    }
    Outcome {
        name: case.name,
        result,
        elapsed: t.elapsed(),
    }
}

/// Runs every case whose name contains `filter` (all when empty), in order.
pub fn run_cases(rig: &dyn Rig, filter: &str) -> Vec<Outcome> {
    cases()
        .iter()
        .filter(|c| c.name.contains(filter))
        .map(|c| run_case(c, rig))
        .collect()
}
