//! [`LatencyHistogram`]: fixed-size latency percentiles without allocating
//! per sample.
//!
//! A sink records one latency per frame at up to hundreds of frames per
//! second for hours; keeping samples would grow without bound and sorting
//! them would stall the sink. Buckets are 1 µs wide up to 4.096 ms (where
//! the interesting percentiles of a healthy pipeline are) and 1 ms wide up
//! to 4.1 s; anything slower lands in the last bucket. 64 KiB, allocated
//! once.

use std::fmt;
use std::time::Duration;

const FINE: usize = 4096; // 1 µs buckets: [0, 4096) µs
const COARSE: usize = 4096; // 1 ms buckets: [4.096 ms, 4.1 s)

/// A latency histogram with 1 µs resolution below 4 ms.
#[derive(Clone)]
pub struct LatencyHistogram {
    buckets: Box<[u64]>,
    count: u64,
    max: Duration,
    sum: Duration,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram::new()
    }
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        LatencyHistogram {
            buckets: vec![0; FINE + COARSE].into_boxed_slice(),
            count: 0,
            max: Duration::ZERO,
            sum: Duration::ZERO,
        }
    }

    fn bucket(latency: Duration) -> usize {
        let micros = latency.as_micros();
        if micros < FINE as u128 {
            micros as usize
        } else {
            let millis = usize::try_from(micros / 1000).unwrap_or(usize::MAX);
            (FINE + millis.saturating_sub(FINE / 1000)).min(FINE + COARSE - 1)
        }
    }

    /// Records one sample.
    pub fn record(&mut self, latency: Duration) {
        self.buckets[Self::bucket(latency)] += 1;
        self.count += 1;
        self.max = self.max.max(latency);
        self.sum = self.sum.saturating_add(latency);
    }

    /// Records `n` samples of the same latency at once (e.g. the acquires a
    /// pool served without waiting, as zero).
    pub fn record_n(&mut self, latency: Duration, n: u64) {
        if n == 0 {
            return;
        }
        self.buckets[Self::bucket(latency)] += n;
        self.count += n;
        self.max = self.max.max(latency);
        self.sum = self
            .sum
            .saturating_add(latency.saturating_mul(u32::try_from(n).unwrap_or(u32::MAX)));
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest sample.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The mean, or zero without samples.
    pub fn mean(&self) -> Duration {
        match u32::try_from(self.count) {
            Ok(0) => Duration::ZERO,
            Ok(n) => self.sum / n,
            Err(_) => Duration::from_secs_f64(self.sum.as_secs_f64() / self.count as f64),
        }
    }

    /// The `q` quantile (`0.0..=1.0`, e.g. 0.99), as the upper edge of its
    /// bucket (never below the true value by more than the bucket width,
    /// never above the maximum); zero without samples.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                if index == FINE + COARSE - 1 {
                    return self.max; // the overflow bucket has no upper edge
                }
                let upper = if index < FINE {
                    Duration::from_micros(index as u64 + 1)
                } else {
                    Duration::from_millis((index - FINE) as u64 + FINE as u64 / 1000 + 1)
                };
                return upper.min(self.max);
            }
        }
        self.max
    }

    /// Forgets every sample.
    pub fn clear(&mut self) {
        self.buckets.fill(0);
        self.count = 0;
        self.max = Duration::ZERO;
        self.sum = Duration::ZERO;
    }
}

impl fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LatencyHistogram")
            .field("count", &self.count)
            .field("p50", &self.quantile(0.5))
            .field("p99", &self.quantile(0.99))
            .field("max", &self.max)
            .finish()
    }
}
