//! The V4L2 capture stream (`CaptureStream`) fed by the fake driver (framekeep-v4l's
//! `testing::FakeDevice`) through a device that rewrites every dequeued buffer's record
//! as the input says: `bytesused`, the data offset, the sequence number, the error flag
//! and the timestamp, each kept, set to an edge value or to anything. The input's first
//! bytes pick the format (packed, planar, MJPEG; single- or multi-planar API) and the
//! stream's options (latest-only, error delivery, what to do with corrupt frames).
//!
//! Invariants: no panic; every frame handed out has a layout its bytes fill (the
//! negotiated size and format, or for MJPEG a payload `framekeep_jpeg::inspect` accepts),
//! the timestamp the driver gave and a sequence number that never goes back; every other
//! outcome is a typed `CaptureError`; the stream counts each delivered frame; once the
//! stream is closed and the frames dropped, the driver holds no buffer and is stopped.
#![no_main]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use framekeep_core::frame::{Frame, PixelFormat};
use framekeep_core::pipeline::OnCorrupt;
use framekeep_v4l::testing::{FakeConfig, FakeDevice};
use framekeep_v4l::{
    CaptureDevice, CaptureError, CaptureStream, Dequeued, DeviceInfo, FormatInfo, FormatRequest,
    FourCc, Interval, Mapping, Negotiated, Result, SizeInfo, StreamOptions, Wait, Waker,
};
use libfuzzer_sys::fuzz_target;

/// How one dequeued record is rewritten.
#[derive(Clone, Copy, Debug)]
struct Edit {
    bytesused: Option<usize>,
    offset: Option<usize>,
    sequence: Option<u32>,
    timestamp: Option<Duration>,
    error: Option<bool>,
}

/// A driver whose dequeued records say what the input says (the buffers' bytes are the
/// fake's).
struct Rewriting {
    inner: FakeDevice,
    edits: Mutex<VecDeque<Edit>>,
    /// Timestamps of the records handed to the stream, by (rewritten) sequence number.
    given: Arc<Mutex<Vec<(u32, Duration)>>>,
}

impl CaptureDevice for Rewriting {
    fn info(&self) -> DeviceInfo {
        self.inner.info()
    }
    fn formats(&self) -> Result<Vec<FormatInfo>> {
        self.inner.formats()
    }
    fn format(&self) -> Result<Negotiated> {
        self.inner.format()
    }
    fn set_format(&self, fourcc: FourCc, width: u32, height: u32) -> Result<Negotiated> {
        self.inner.set_format(fourcc, width, height)
    }
    fn set_interval(&self, interval: Interval) -> Result<Option<Interval>> {
        self.inner.set_interval(interval)
    }
    fn request_buffers(&self, count: u32) -> Result<Vec<Mapping>> {
        self.inner.request_buffers(count)
    }
    fn release_buffers(&self) -> Result<()> {
        self.inner.release_buffers()
    }
    fn queue(&self, index: usize) -> Result<()> {
        self.inner.queue(index)
    }
    fn dequeue(&self) -> Result<Option<Dequeued>> {
        let Some(mut d) = self.inner.dequeue()? else {
            return Ok(None);
        };
        if let Some(e) = self.edits.lock().unwrap().pop_front() {
            d.bytesused = e.bytesused.unwrap_or(d.bytesused);
            d.offset = e.offset.unwrap_or(d.offset);
            d.sequence = e.sequence.unwrap_or(d.sequence);
            d.timestamp = e.timestamp.unwrap_or(d.timestamp);
            d.error = e.error.unwrap_or(d.error);
        }
        self.given.lock().unwrap().push((d.sequence, d.timestamp));
        Ok(Some(d))
    }
    fn wait(&self, timeout: Duration, waker: Option<&Waker>) -> Result<Wait> {
        self.inner.wait(timeout, waker)
    }
    fn stream_on(&self) -> Result<()> {
        self.inner.stream_on()
    }
    fn stream_off(&self) -> Result<()> {
        self.inner.stream_off()
    }
    fn set_control(&self, name: &str, value: i64) -> Result<()> {
        self.inner.set_control(name, value)
    }
}

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | u64::from(self.u32()) << 32
    }
    /// A length around `near` (the image size), or an edge value, or anything.
    fn length(&mut self, near: usize) -> Option<usize> {
        match self.byte() % 8 {
            0 => None,
            1 => Some(0),
            2 => Some(near.saturating_sub(usize::from(self.byte()))),
            3 => Some(near + usize::from(self.byte())),
            4 => Some(usize::MAX - usize::from(self.byte())),
            5 => Some(self.u32() as usize),
            6 => Some(self.u64() as usize),
            _ => Some(usize::from(self.byte())),
        }
    }
    fn edit(&mut self, image: usize) -> Edit {
        let flags = self.byte();
        Edit {
            bytesused: if flags & 1 != 0 {
                self.length(image)
            } else {
                None
            },
            offset: if flags & 2 != 0 { self.length(0) } else { None },
            sequence: match (flags >> 2) & 3 {
                0 => None,
                1 => Some(self.byte().into()),
                2 => Some(u32::MAX - u32::from(self.byte())),
                _ => Some(self.u32()),
            },
            timestamp: match (flags >> 4) & 3 {
                0 => None,
                1 => Some(Duration::ZERO),
                2 => Some(Duration::from_nanos(self.u64())),
                _ => Some(Duration::new(self.u64(), self.u32() % 1_000_000_000)),
            },
            error: if flags & 0x40 != 0 {
                Some(flags & 0x80 != 0)
            } else {
                None
            },
        }
    }
}

const FORMATS: [(FourCc, bool); 9] = [
    (FourCc::YUYV, false),
    (FourCc::NV12, false),
    (FourCc::YU12, false),
    (FourCc::GREY, false),
    (FourCc::RGB24, false),
    (FourCc::MJPEG, false),
    (FourCc::NV12M, true),
    (FourCc::YUV420M, true),
    (FourCc::YUYV, true),
];

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let (fourcc, multiplanar) = FORMATS[usize::from(input.byte()) % FORMATS.len()];
    let options = input.byte();
    let mut config = if multiplanar {
        FakeConfig::multiplanar()
    } else {
        FakeConfig::default()
    };
    // Small frames only: an input should cost milliseconds.
    let small = vec![SizeInfo {
        width: 64,
        height: 48,
        intervals: vec![Interval::from_fps(30)],
    }];
    for f in &mut config.formats {
        f.sizes = small.clone();
    }
    if fourcc == FourCc::MJPEG {
        config.formats.push(FormatInfo {
            fourcc,
            description: "Motion-JPEG".into(),
            sizes: small,
        });
    }
    let fake = FakeDevice::new(config);
    let given = Arc::new(Mutex::new(Vec::new()));
    let image = 64 * 48 * 2;
    let mut edits = VecDeque::new();
    while !input.0.is_empty() && edits.len() < 12 {
        edits.push_back(input.edit(image));
    }
    let frames_wanted = edits.len().max(1);
    let device = Rewriting {
        inner: fake.clone(),
        edits: Mutex::new(edits),
        given: Arc::clone(&given),
    };
    let on_corrupt = [OnCorrupt::Skip, OnCorrupt::Error, OnCorrupt::Fail][usize::from(options % 3)];
    let stream_options = StreamOptions::new()
        .format(FormatRequest::new(fourcc, 64, 48))
        .buffers(2 + u32::from(options >> 2 & 3))
        .latest_only(options & 0x10 != 0)
        .deliver_errors(options & 0x20 != 0)
        .on_corrupt(on_corrupt)
        .timeout(Duration::from_millis(20))
        // Frames still held at close stay valid; closing need not wait for them here.
        .close_grace(Duration::from_millis(1));
    let mut stream = match CaptureStream::start(Box::new(device), stream_options) {
        Ok(s) => s,
        Err(e) => panic!("the fake refused {fourcc:?}: {e}"),
    };
    let negotiated = stream.negotiated();
    let mut held: Vec<Frame> = Vec::new();
    let mut delivered = 0u64;
    let mut last_sequence: Option<u64> = None;
    for _ in 0..frames_wanted + 2 {
        match stream.next_frame() {
            Ok(frame) => {
                delivered += 1;
                check_frame(&frame, &negotiated);
                if let Some(last) = last_sequence {
                    assert!(
                        frame.sequence() >= last,
                        "sequence went back: {last} then {}",
                        frame.sequence()
                    );
                }
                last_sequence = Some(frame.sequence());
                let ts = frame.timestamp();
                assert!(
                    given.lock().unwrap().iter().any(|&(_, t)| t == ts),
                    "a timestamp the driver never gave: {ts:?}"
                );
                // Hold some frames (the stream must copy or skip), let others go.
                if held.len() < 2 && frame.sequence() % 2 == 0 {
                    held.push(frame);
                }
            }
            Err(
                CaptureError::Timeout(_)
                | CaptureError::BadBuffer(_)
                | CaptureError::Corrupt { .. }
                | CaptureError::Frame(_)
                | CaptureError::Pool(_),
            ) => {}
            Err(CaptureError::Stopped) => {
                assert_eq!(on_corrupt, OnCorrupt::Fail);
                break;
            }
            Err(e) => panic!("unexpected error from the fake driver: {e:?}"),
        }
    }
    let stats = stream.stats();
    assert_eq!(stats.frames, delivered, "{stats}");
    let closed = stream.close();
    // Frames held across the close stay readable until they drop.
    for f in &held {
        check_frame(f, &negotiated);
    }
    drop(held);
    if let Ok(stats) = closed {
        assert_eq!(stats.frames, delivered, "{stats}");
    }
    assert_eq!(fake.buffers_in_driver(), 0);
    assert!(!fake.is_streaming());
});

fn check_frame(frame: &Frame, negotiated: &Negotiated) {
    assert_eq!(frame.data().len(), frame.layout().len());
    assert_eq!(
        (frame.width(), frame.height()),
        (negotiated.width as usize, negotiated.height as usize)
    );
    match frame.format() {
        PixelFormat::Mjpeg => {
            let info =
                framekeep_jpeg::inspect(frame.data()).expect("a corrupt MJPEG frame handed out");
            assert!(info.len <= frame.data().len());
        }
        f => {
            let l = frame.layout();
            assert!(
                l.stride() >= l.row_bytes() && l.row_bytes() > 0,
                "{l:?} as {f:?}"
            );
            for y in 0..frame.height() {
                assert_eq!(frame.row(y).map(<[u8]>::len), Some(l.row_bytes()));
            }
        }
    }
}
