//! A snapshot of a pool's counters, for people (`Display`) and machines (`serde`).

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;

use super::shared::PoolShared;

/// Counters and gauges of one pool at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct PoolStats {
    /// The pool's name.
    pub name: &'static str,
    /// Buffers that exist now (idle + checked out).
    pub capacity: usize,
    /// Buffers on the free list.
    pub idle: usize,
    /// Buffers checked out now.
    pub checked_out: usize,
    /// Most buffers ever checked out at once.
    pub high_watermark: usize,
    /// Successful acquires so far.
    pub acquires: u64,
    /// Acquires that had to wait.
    pub wait_count: u64,
    /// Acquires that timed out.
    pub timeouts: u64,
    /// Acquires refused because the pool was exhausted (fail-fast, or past the hard cap).
    pub exhausted: u64,
    /// Acquires ended by a cancellation token.
    pub cancelled: u64,
    /// Buffers allocated past `max_buffers` (grow policy).
    pub grown: u64,
    /// Buffers allocated in all.
    pub created: u64,
    /// Buffers freed in all.
    pub freed: u64,
    /// Buffers refused by the `before_acquire` hook.
    pub rejected: u64,
    /// Leases written off after the write-off deadline.
    pub written_off: u64,
    /// Leases reported as leaks.
    pub leaks_reported: u64,
    /// Fraction of acquires served by a reused buffer.
    pub reuse_rate: f64,
    /// Bytes of all buffers alive.
    pub bytes_allocated: usize,
    /// Bytes of checked-out buffers.
    pub bytes_in_use: usize,
    /// Age of the oldest lease out.
    pub oldest_lease: Option<Duration>,
    /// Acquire latency, median.
    pub acquire_p50: Duration,
    /// Acquire latency, 95th percentile.
    pub acquire_p95: Duration,
    /// Acquire latency, 99th percentile.
    pub acquire_p99: Duration,
    /// Whether the pool is closed.
    pub closed: bool,
}

impl PoolStats {
    pub(crate) fn collect(shared: &PoolShared) -> PoolStats {
        let c = &shared.counters;
        let usage = shared.usage();
        let acquires = usage.uses + c.retired_uses.load(Ordering::Relaxed);
        let checked_out = usage.checked_out;
        // A sample taken now is a sample like any other: keep it, so the
        // watermark never falls once the buffers come back.
        shared.note_checked_out(checked_out);
        let bytes_in_use = usage.bytes_in_use;
        let oldest = usage.oldest_nanos.map(Duration::from_nanos);
        let created = c.created.load(Ordering::Relaxed);
        // Only acquires that waited are timed; the others count as zero, so
        // the fast path never reads a clock.
        let mut hist = shared.latency.lock().clone();
        hist.record_n(Duration::ZERO, acquires.saturating_sub(hist.count()));
        PoolStats {
            name: shared.opts.name,
            capacity: usage.buffers,
            idle: shared.ret.idle.len() + shared.ret.local.len(),
            checked_out,
            high_watermark: c.high_watermark.load(Ordering::Relaxed),
            acquires,
            wait_count: c.waits.load(Ordering::Relaxed),
            timeouts: c.timeouts.load(Ordering::Relaxed),
            exhausted: c.exhausted.load(Ordering::Relaxed),
            cancelled: c.cancelled.load(Ordering::Relaxed),
            grown: c.grown.load(Ordering::Relaxed),
            created,
            freed: c.freed.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
            written_off: c.written_off.load(Ordering::Relaxed),
            leaks_reported: c.leaks_reported.load(Ordering::Relaxed),
            reuse_rate: if acquires == 0 {
                0.0
            } else {
                acquires.saturating_sub(created) as f64 / acquires as f64
            },
            bytes_allocated: c.bytes_allocated.load(Ordering::Relaxed),
            bytes_in_use,
            oldest_lease: oldest,
            acquire_p50: hist.quantile(0.50),
            acquire_p95: hist.quantile(0.95),
            acquire_p99: hist.quantile(0.99),
            closed: shared.ret.closed.load(Ordering::Relaxed),
        }
    }
}

impl std::fmt::Display for PoolStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
        writeln!(
            f,
            "pool '{}'{}",
            self.name,
            if self.closed { " (closed)" } else { "" }
        )?;
        writeln!(
            f,
            "  buffers   capacity {}  idle {}  out {}  high-water {}",
            self.capacity, self.idle, self.checked_out, self.high_watermark
        )?;
        writeln!(
            f,
            "  acquires  {}  waited {}  timed out {}  exhausted {}  cancelled {}  reuse {:.1}%",
            self.acquires,
            self.wait_count,
            self.timeouts,
            self.exhausted,
            self.cancelled,
            self.reuse_rate * 100.0
        )?;
        writeln!(
            f,
            "  buffers   created {}  freed {}  grown {}  rejected {}  written off {}  leaks reported {}",
            self.created, self.freed, self.grown, self.rejected, self.written_off, self.leaks_reported
        )?;
        writeln!(
            f,
            "  memory    {:.1} MiB allocated, {:.1} MiB in use, oldest lease {}",
            mib(self.bytes_allocated),
            mib(self.bytes_in_use),
            self.oldest_lease
                .map_or("-".to_string(), |d| format!("{:.3}s", d.as_secs_f64()))
        )?;
        write!(
            f,
            "  latency   p50 {:?}  p95 {:?}  p99 {:?}",
            self.acquire_p50, self.acquire_p95, self.acquire_p99
        )
    }
}
