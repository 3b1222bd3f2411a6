//! User buffers (`V4L2_MEMORY_USERPTR`) against the fake driver: what the conformance
//! cases (`userptr_*`, also run against vivid) cannot set up on a real driver: refusals
//! by configuration, buffer-index reuse counted by the driver itself, a supplier that
//! misbehaves, a starved stream's cancel and timeout, the ledger of held frames.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use framekeep_core::cancel::CancelToken;
use framekeep_core::frame::{Frame, FrameLayout, PixelFormat};
use framekeep_core::ledger::LeakCheck;
use framekeep_core::pool::{AcquireError, FramePool};
use framekeep_v4l::testing::{FakeConfig, FakeDevice};
use framekeep_v4l::{
    BufferMode, CaptureBuffers, CaptureDevice, CaptureError, CaptureStream, FormatInfo,
    FormatRequest, FourCc, Interval, SizeInfo, StreamOptions,
};

const W: usize = 320;
const H: usize = 180;

fn layout() -> FrameLayout {
    FrameLayout::packed(PixelFormat::Yuyv, W, H).expect("layout")
}

fn pool(buffers: usize) -> FramePool {
    FramePool::options(layout())
        .name("userptr test")
        .max_buffers(buffers)
        .build()
        .expect("pool")
}

fn opts(pool: &FramePool) -> StreamOptions {
    StreamOptions::new()
        .format(FormatRequest::new(FourCc::YUYV, W as u32, H as u32))
        .timeout(Duration::from_secs(2))
        .user_buffers(pool.clone())
}

fn start(config: FakeConfig, opts: StreamOptions) -> (FakeDevice, CaptureStream) {
    let device = FakeDevice::new(config);
    let stream = CaptureStream::start(Box::new(device.clone()), opts).expect("stream starts");
    (device, stream)
}

/// The fake's default pattern: every byte of frame `seq` is `seq as u8`, except the first
/// four, which hold `seq` little-endian.
fn check_pattern(f: &Frame) {
    let seq = f.sequence() as u32;
    let d = f.data();
    assert_eq!(&d[..4], &seq.to_le_bytes(), "frame {seq} header");
    assert!(d[4..].iter().all(|&b| b == seq as u8), "frame {seq} body");
}

#[test]
fn frames_are_the_pools_buffers_with_the_drivers_meta() {
    let pool = pool(8);
    let (device, mut st) = start(FakeConfig::default(), opts(&pool));
    assert_eq!(st.negotiated().memory, BufferMode::UserPtr);
    assert_eq!(st.buffer_count(), 4, "the frames kept queued");
    assert_eq!(device.buffers_allocated(), 32, "buffer indices granted");
    let mut last: Option<Frame> = None;
    let mut gaps = 0;
    for i in 0..20 {
        if i == 10 {
            // Frames already captured come first; the gap shows a few frames later.
            device.skip_frames(3);
        }
        let f = st.next_frame().expect("frame");
        assert_eq!(f.layout(), &layout());
        assert!(
            f.is_unique() && f.lease_id() != 0,
            "a pool frame of its own"
        );
        check_pattern(&f);
        if let Some(prev) = &last {
            assert!(f.sequence() > prev.sequence());
            assert!(f.timestamp() > prev.timestamp());
            gaps += f.sequence() - prev.sequence() - 1;
        }
        last = Some(f);
    }
    assert_eq!(gaps, 3, "the skipped frames are missing from the sequence");
    let stats = st.close().expect("close");
    assert_eq!(
        (stats.frames, stats.dropped, stats.copied, stats.repinned),
        (20, 3, 0, 0)
    );
    drop(last);
    assert!(pool.wait_idle(Duration::from_secs(1)), "every frame back");
}

#[test]
fn a_driver_without_user_memory_gets_copies() {
    let pool = pool(8);
    let config = FakeConfig {
        userptr: false,
        ..FakeConfig::default()
    };
    let (device, mut st) = start(config, opts(&pool));
    assert_eq!(st.negotiated().memory, BufferMode::MmapCopy);
    assert!(st
        .negotiated()
        .to_string()
        .ends_with("mmap copied into user buffers"));
    assert_eq!(device.buffers_allocated(), 4, "mmap buffers");
    for _ in 0..6 {
        let f = st.next_frame().expect("frame");
        assert_ne!(f.lease_id(), 0, "copied into a pool frame");
        check_pattern(&f);
        assert_eq!(st.queued(), 4, "the mmap buffer is queued again at once");
    }
    let stats = st.close().expect("close");
    assert_eq!((stats.frames, stats.copied), (6, 6));
}

#[test]
fn a_driver_refusing_the_first_user_queue_gets_copies() {
    // REQBUFS of user memory succeeds, the probe QBUF fails (as a dma-contig driver does
    // with memory that is not contiguous): mmap buffers and copies.
    let pool = pool(8);
    let (device, mut st) = start(
        FakeConfig::default(),
        opts(&pool).control("inject_vidioc_qbuf_error", 1),
    );
    assert_eq!(st.negotiated().memory, BufferMode::MmapCopy);
    assert_eq!(device.buffers_allocated(), 4, "mmap buffers");
    check_pattern(&st.next_frame().expect("frame"));
    let stats = st.close().expect("close");
    assert_eq!((stats.frames, stats.copied, stats.errors), (1, 1, 0));
}

/// Runs `n` frames holding a rotating window of `hold` frames; returns the distinct
/// buffer addresses delivered.
fn run_holding(st: &mut CaptureStream, n: usize, hold: usize) -> HashSet<usize> {
    let mut held = std::collections::VecDeque::new();
    let mut seen = HashSet::new();
    for _ in 0..n {
        let f = st.next_frame().expect("frame");
        check_pattern(&f);
        seen.insert(f.as_ptr() as usize);
        held.push_back(f);
        if held.len() > hold {
            held.pop_front();
        }
    }
    seen
}

#[test]
fn each_buffer_keeps_its_index() {
    let pool = pool(7);
    let (device, mut st) = start(FakeConfig::default(), opts(&pool));
    let seen = run_holding(&mut st, 80, 2);
    let stats = st.close().expect("close");
    assert!(
        seen.len() > 4,
        "the pool cycled through {} buffers",
        seen.len()
    );
    assert_eq!(stats.repinned, 0, "{stats}");
    assert_eq!(device.user_pointer_changes(), 0);
}

#[test]
fn more_buffers_than_indices_change_addresses_and_say_so() {
    // The driver grants 4 indices; the pool has 8 buffers in rotation.
    let pool = pool(8);
    let config = FakeConfig {
        max_buffers: 4,
        ..FakeConfig::default()
    };
    let (device, mut st) = start(config, opts(&pool));
    let seen = run_holding(&mut st, 60, 3);
    let stats = st.close().expect("close");
    assert!(
        seen.len() > 4,
        "the pool cycled through {} buffers",
        seen.len()
    );
    assert!(stats.repinned > 0, "{stats}");
    assert_eq!(stats.repinned, device.user_pointer_changes());
    assert_eq!(stats.copied, 0);
}

#[test]
fn latest_only_queues_skipped_frames_again_as_they_are() {
    let pool = pool(8);
    let config = FakeConfig {
        period: Duration::from_millis(5),
        ..FakeConfig::default()
    };
    let (device, mut st) = start(config, opts(&pool).latest_only(true));
    let a = st.next_frame().expect("frame").sequence();
    std::thread::sleep(Duration::from_millis(100));
    let b = st.next_frame().expect("frame");
    assert!(b.sequence() > a + 1, "{a} -> {}", b.sequence());
    check_pattern(&b);
    drop(b);
    assert_eq!(st.queued(), 4);
    let stats = st.close().expect("close");
    assert!(stats.skipped >= 1, "{stats}");
    assert_eq!(device.user_pointer_changes(), 0);
}

#[test]
fn an_unplug_ends_the_stream_and_frames_stay_the_pools() {
    let pool = pool(8);
    let check = LeakCheck::new();
    let (device, mut st) = start(FakeConfig::default(), opts(&pool));
    let held = st.next_frame().expect("frame");
    device.set_control("disconnect", 1).expect("unplug");
    let err = st.next_frame().expect_err("unplugged");
    assert!(matches!(err, CaptureError::Disconnected { .. }), "{err}");
    let stats = st.close().expect("close after an unplug");
    assert_eq!(stats.held_at_close, 0, "frames out are the pool's");
    // STREAMOFF failed, so the queued frames came back only when the device was closed
    // (with the stream): now only the held one is out.
    assert_eq!(pool.stats().checked_out, 1);
    check_pattern(&held);
    let leaks = check.leaks();
    assert!(
        leaks.iter().any(|e| e.name == "v4l2 capture"),
        "the held frame is a pool lease: {leaks:?}"
    );
    drop(held);
    assert!(pool.wait_idle(Duration::from_secs(1)));
    drop(pool);
    check
        .finish_within(Duration::from_secs(1))
        .expect("nothing left");
}

/// A stream whose pool is held empty by the application: nothing is queued.
fn starved(timeout: Duration, token: &CancelToken) -> (FramePool, CaptureStream, Vec<Frame>) {
    let pool = pool(4);
    let (_device, mut st) = start(
        FakeConfig::default(),
        opts(&pool).timeout(timeout).with_cancel(token),
    );
    let held: Vec<Frame> = (0..4).map(|_| st.next_frame().expect("frame")).collect();
    assert_eq!(st.queued(), 0, "every pool frame is held");
    (pool, st, held)
}

#[test]
fn a_starved_stream_times_out() {
    let (_pool, mut st, held) = starved(Duration::from_millis(300), &CancelToken::new());
    let t = Instant::now();
    let err = st.next_frame().expect_err("nothing can be captured");
    let waited = t.elapsed();
    assert!(matches!(err, CaptureError::Timeout(_)), "{err}");
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(2),
        "{waited:?}"
    );
    drop(held);
    // Frames back in the pool: the next call refills the driver and captures again.
    check_pattern(&st.next_frame().expect("frame after the pool refilled"));
    st.close().expect("close");
}

#[test]
fn a_starved_stream_wakes_on_cancel() {
    let token = CancelToken::new();
    let (_pool, mut st, held) = starved(Duration::from_secs(20), &token);
    let canceller = std::thread::spawn({
        let token = token.clone();
        move || {
            std::thread::sleep(Duration::from_millis(100));
            token.cancel();
        }
    });
    let t = Instant::now();
    let err = st.next_frame().expect_err("nothing can be captured");
    let waited = t.elapsed();
    canceller.join().expect("canceller");
    assert!(matches!(err, CaptureError::Cancelled), "{err}");
    assert!(
        waited < Duration::from_secs(5),
        "woke {waited:?} after the wait began"
    );
    drop(held);
    st.close().expect("close");
}

#[test]
fn a_too_small_pool_is_refused_at_start() {
    let small =
        FramePool::options(FrameLayout::packed(PixelFormat::Yuyv, 160, 90).expect("layout"))
            .max_buffers(4)
            .build()
            .expect("pool");
    let device = FakeDevice::default();
    let err = CaptureStream::start(Box::new(device.clone()), opts(&small)).expect_err("too small");
    assert!(
        matches!(err, CaptureError::UserBufferTooSmall { needed, capacity }
            if needed == W * H * 2 && capacity == 160 * 90 * 2),
        "{err}"
    );
    assert_eq!(device.buffers_allocated(), 0, "user indices released");
    assert!(small.wait_idle(Duration::from_secs(1)));
}

/// A supplier that keeps a second handle on every frame it gives.
struct Sharing {
    pool: FramePool,
    kept: Vec<Frame>,
}

impl CaptureBuffers for Sharing {
    fn next_buffer(&mut self, bytes: usize) -> Result<Option<Frame>, CaptureError> {
        let frame = self.pool.next_buffer(bytes)?;
        self.kept.extend(frame.clone());
        Ok(frame)
    }
}

#[test]
fn a_shared_frame_is_refused() {
    let supplier = Sharing {
        pool: pool(4),
        kept: Vec::new(),
    };
    let options = StreamOptions::new()
        .format(FormatRequest::new(FourCc::YUYV, W as u32, H as u32))
        .user_buffers(supplier);
    let err = CaptureStream::start(Box::new(FakeDevice::default()), options)
        .expect_err("shared frames cannot be lent to the driver");
    assert!(matches!(err, CaptureError::UserBufferNotWritable), "{err}");
}

#[test]
fn a_closed_pool_is_reported() {
    let pool = pool(8);
    let (_device, mut st) = start(FakeConfig::default(), opts(&pool));
    drop(st.next_frame().expect("frame"));
    pool.close();
    // The refill after this frame fails: reported by the next call.
    let f = st.next_frame().expect("frame");
    check_pattern(&f);
    let err = st.next_frame().expect_err("the pool is closed");
    assert!(
        matches!(err, CaptureError::Acquire(AcquireError::Closed)),
        "{err}"
    );
    assert!(std::error::Error::source(&err).is_some(), "keeps its cause");
    drop(f);
    let stats = st.close().expect("close");
    assert!(stats.errors >= 1, "{stats}");
}

#[test]
fn a_data_offset_is_moved_to_the_first_byte() {
    // The multi-planar fake puts every image 128 bytes into plane 0, and counts it in
    // sizeimage as vivid does: the pool's buffers need that much more.
    let pool = FramePool::options(layout())
        .buffer_bytes(layout().len() + 128)
        .max_buffers(8)
        .build()
        .expect("pool");
    let (_device, mut st) = start(FakeConfig::multiplanar(), opts(&pool));
    assert_eq!(st.negotiated().memory, BufferMode::UserPtr);
    for _ in 0..3 {
        let f = st.next_frame().expect("frame");
        assert_eq!(f.data().len(), layout().len());
        check_pattern(&f);
    }
    let stats = st.close().expect("close");
    assert_eq!((stats.frames, stats.copied), (3, 3), "{stats}");
}

/// A fake offering only MJPEG at 320x180.
fn mjpeg_fake(userptr: bool) -> FakeConfig {
    FakeConfig {
        formats: vec![FormatInfo {
            fourcc: FourCc::MJPEG,
            description: "Motion-JPEG".into(),
            sizes: vec![SizeInfo {
                width: W as u32,
                height: H as u32,
                intervals: vec![Interval::from_fps(30)],
            }],
        }],
        userptr,
        ..FakeConfig::default()
    }
}

/// Frames of the fake's MJPEG: a structurally complete JPEG with the frame number in a
/// comment segment, `bytesused` long.
fn check_mjpeg(f: &Frame) -> usize {
    let d = f.data();
    let n = d.len();
    assert_eq!(f.format(), PixelFormat::Mjpeg);
    assert!((8..W * H).contains(&n), "{n} bytes");
    assert_eq!(&d[..2], &[0xff, 0xd8], "SOI");
    assert_eq!(&d[6..10], &(f.sequence() as u32).to_le_bytes());
    assert_eq!(&d[n - 2..], &[0xff, 0xd9], "EOI at bytesused");
    let info = framekeep_jpeg::inspect(d).expect("structurally complete");
    assert_eq!((info.width, info.height, info.len), (W, H, n));
    n
}

#[test]
fn mjpeg_frames_are_sliced_to_bytesused_in_every_mode() {
    for (userptr, supplied, mode) in [
        (true, false, BufferMode::Mmap),
        (true, true, BufferMode::UserPtr),
        (false, true, BufferMode::MmapCopy),
    ] {
        let layout = FrameLayout::mjpeg(W, H, W * H);
        let pool = FramePool::options(layout)
            .max_buffers(8)
            .build()
            .expect("pool");
        let mut options =
            StreamOptions::new().format(FormatRequest::new(FourCc::MJPEG, W as u32, H as u32));
        if supplied {
            options = options.user_buffers(pool.clone());
        }
        let (_device, mut st) = start(mjpeg_fake(userptr), options);
        assert_eq!(st.negotiated().memory, mode);
        assert_eq!(st.layout(), None, "compressed: no fixed layout");
        let lens: HashSet<usize> = (0..6)
            .map(|_| check_mjpeg(&st.next_frame().expect("frame")))
            .collect();
        assert!(lens.len() > 1, "{mode}: every frame {lens:?} bytes");
        let stats = st.close().expect("close");
        let copies = if mode == BufferMode::MmapCopy { 6 } else { 0 };
        assert_eq!((stats.frames, stats.copied), (6, copies), "{mode}: {stats}");
    }
}
