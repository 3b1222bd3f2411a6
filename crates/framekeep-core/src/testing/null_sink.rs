//! [`NullSink`]: a sink that only measures, and the checksums it uses.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::frame::Frame;
use crate::pipeline::{Sink, StageError};
use crate::time::{monotonic_now, LatencyHistogram};

/// How much of each frame the [`NullSink`] checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Checksum {
    /// Every visible byte (row by row, skipping stride padding).
    #[default]
    Full,
    /// Nothing: count and latency only.
    Off,
}

/// Checksum of a byte slice: FNV-1a over 8-byte words in four independent
/// lanes (so the multiplies pipeline instead of waiting on each other), the
/// lanes folded together with the tail bytes at the end. Order sensitive,
/// and fast enough to run on every 1080p frame without being the
/// bottleneck of the pipeline it measures.
pub fn checksum(bytes: &[u8]) -> u64 {
    let mut state = Lanes::new();
    state.feed(bytes);
    state.finish()
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

/// The running state of [`checksum`] over several slices (rows).
struct Lanes {
    lanes: [u64; 4],
    tail: u64,
}

impl Lanes {
    fn new() -> Self {
        Lanes {
            lanes: [FNV_OFFSET, FNV_OFFSET ^ 1, FNV_OFFSET ^ 2, FNV_OFFSET ^ 3],
            tail: FNV_OFFSET,
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        let mut blocks = bytes.chunks_exact(32);
        for block in &mut blocks {
            for (lane, word) in self.lanes.iter_mut().zip(block.chunks_exact(8)) {
                let mut w = [0u8; 8];
                w.copy_from_slice(word);
                *lane = (*lane ^ u64::from_le_bytes(w)).wrapping_mul(FNV_PRIME);
            }
        }
        for byte in blocks.remainder() {
            self.tail = (self.tail ^ u64::from(*byte)).wrapping_mul(FNV_PRIME);
        }
    }

    fn finish(&self) -> u64 {
        let mut hash = self.tail;
        for lane in self.lanes {
            hash = (hash ^ lane).wrapping_mul(FNV_PRIME);
        }
        hash
    }
}

/// The checksum [`NullSink`] computes for one frame: [`checksum`] over its
/// visible bytes (padding excluded), of every plane. For a strided frame
/// the rows are fed in order, so it equals [`checksum`] of the packed
/// bytes only when rows are multiples of 32 bytes.
pub fn frame_checksum(frame: &Frame) -> u64 {
    let layout = frame.layout();
    let row_bytes = layout.row_bytes();
    if layout.is_contiguous() {
        return checksum(&frame.data()[..layout.len().min(frame.data().len())]);
    }
    let data = frame.data();
    let rows = layout.len().div_ceil(layout.stride().max(1));
    let mut state = Lanes::new();
    for r in 0..rows {
        let start = r * layout.stride();
        let end = (start + row_bytes).min(data.len());
        if start >= end {
            break;
        }
        state.feed(&data[start..end]);
    }
    state.finish()
}

/// What a [`NullSink`] saw, from [`NullSinkStats::snapshot`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NullSinkSnapshot {
    /// Frames consumed.
    pub frames: u64,
    /// Bytes of pixels consumed (layout lengths).
    pub bytes: u64,
    /// Sequence numbers missing between consecutive frames (dropped upstream).
    pub gaps: u64,
    /// Frames whose sequence was not above the previous one.
    pub out_of_order: u64,
    /// Sequence of the first frame.
    pub first_sequence: Option<u64>,
    /// Sequence of the last frame.
    pub last_sequence: Option<u64>,
    /// Checksum of the last frame (0 with [`Checksum::Off`]).
    pub last_checksum: u64,
    /// Wrapping sum of every frame's checksum.
    pub checksum_sum: u64,
    /// Latency (arrival minus frame timestamp) percentiles; frames without a
    /// timestamp (zero) are not counted.
    pub latency_p50: Duration,
    /// 99th percentile latency.
    pub latency_p99: Duration,
    /// Largest latency.
    pub latency_max: Duration,
    /// Frames with a latency sample.
    pub latency_samples: u64,
}

impl fmt::Display for NullSinkSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} frames, {} gaps, latency p50 {:.0?} p99 {:.0?} max {:.0?}, checksum {:016x}",
            self.frames,
            self.gaps,
            self.latency_p50,
            self.latency_p99,
            self.latency_max,
            self.checksum_sum
        )
    }
}

#[derive(Default)]
struct Inner {
    snap: NullSinkSnapshot,
    latency: LatencyHistogram,
}

/// A shared view of a [`NullSink`]'s counters, valid after the sink moved
/// into a pipeline (and after it finished).
#[derive(Clone, Default)]
pub struct NullSinkStats {
    inner: Arc<Mutex<Inner>>,
}

impl NullSinkStats {
    /// The counters now.
    pub fn snapshot(&self) -> NullSinkSnapshot {
        let inner = self.inner.lock();
        let mut snap = inner.snap.clone();
        snap.latency_p50 = inner.latency.quantile(0.50);
        snap.latency_p99 = inner.latency.quantile(0.99);
        snap.latency_max = inner.latency.max();
        snap.latency_samples = inner.latency.count();
        snap
    }

    /// A copy of the latency histogram.
    pub fn latency(&self) -> LatencyHistogram {
        self.inner.lock().latency.clone()
    }

    /// Forgets latency samples so far (e.g. after warm-up); counts stay.
    pub fn reset_latency(&self) {
        self.inner.lock().latency.clear();
    }
}

impl fmt::Debug for NullSinkStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.snapshot(), f)
    }
}

/// A [`Sink`] that only measures: the end of every test and benchmark
/// pipeline. It counts frames, detects gaps in sequence numbers (frames
/// dropped upstream), checksums pixels (so a test can tell that the bytes
/// arrived intact, and a benchmark touches every pixel once, as a real
/// consumer would), and measures latency from the frame's capture timestamp
/// to its arrival.
#[derive(Debug, Default)]
pub struct NullSink {
    mode: Checksum,
    stats: NullSinkStats,
}

impl NullSink {
    /// A sink that checksums every byte.
    pub fn new() -> NullSink {
        NullSink::default()
    }

    /// Sets how much it checksums.
    pub fn checksum(mut self, mode: Checksum) -> NullSink {
        self.mode = mode;
        self
    }

    /// A handle on its counters.
    pub fn stats(&self) -> NullSinkStats {
        self.stats.clone()
    }
}

impl Sink for NullSink {
    fn consume(&mut self, frame: &Frame) -> Result<(), StageError> {
        // Latency first: it measures the trip here, not the checksum below.
        let timestamp = frame.timestamp();
        let latency = (!timestamp.is_zero()).then(|| monotonic_now().saturating_sub(timestamp));
        let sum = match self.mode {
            Checksum::Full => frame_checksum(frame),
            Checksum::Off => 0,
        };
        let sequence = frame.sequence();
        let mut inner = self.stats.inner.lock();
        let snap = &mut inner.snap;
        snap.frames += 1;
        snap.bytes += frame.layout().len() as u64;
        match snap.last_sequence {
            Some(last) if sequence > last => snap.gaps += sequence - last - 1,
            Some(_) => snap.out_of_order += 1,
            None => snap.first_sequence = Some(sequence),
        }
        snap.last_sequence = Some(sequence);
        snap.last_checksum = sum;
        snap.checksum_sum = snap.checksum_sum.wrapping_add(sum);
        if let Some(latency) = latency {
            inner.latency.record(latency);
        }
        Ok(())
    }
}
