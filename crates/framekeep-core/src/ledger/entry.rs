//! What the ledger reports: live entries, pull-model sources and checkpoints.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use super::kind::Kind;
use super::scope::ScopeId;

/// One live resource, as reported by [`Ledger::live`](super::Ledger::live), a
/// pool's [`leases`](crate::pool::FramePool::leases) and every report.
///
/// Entries come either from [`Tracked`](super::Tracked) tokens or from a
/// [`LedgerSource`] (a pool reporting its checked-out buffers as kind
/// `frame`, named by the lease's label; a V4L2 stream reporting the driver
/// buffers its users hold).
#[derive(Clone, Debug)]
pub struct LiveEntry {
    /// The resource's category.
    pub kind: Kind,
    /// Who or what holds it (a pool lease label, a stage name, ...).
    pub name: Cow<'static, str>,
    /// Its id: unique among tracked tokens; sources use their own ids (e.g. lease ids).
    pub id: u64,
    /// When it was registered. For tokens this comes from the ledger's ticking clock, so
    /// it may read up to one tick (4 ms, more if the machine is overloaded) early.
    pub created_at: Instant,
    /// The name of the registering thread (its `ThreadId` if unnamed), if known.
    pub thread: Option<String>,
    /// The test scope of the registering thread (see [`ScopeId::current`]).
    pub scope: ScopeId,
    /// The ledger's checkpoint epoch at registration (see
    /// [`Ledger::checkpoint`](super::Ledger::checkpoint)). Sources may leave it at 0: the
    /// ledger derives it from `created_at` and the times of its checkpoints.
    pub epoch: u64,
    /// The backtrace captured at registration, if capture was on (see
    /// [`Ledger::set_capture_backtraces`](super::Ledger::set_capture_backtraces)).
    pub backtrace: Option<String>,
    /// Bytes the resource holds, when its owner knows (pool leases, driver
    /// buffers).
    pub bytes: Option<usize>,
    /// A pool lease the leak monitor wrote off: the pool replaced its
    /// capacity and frees the buffer if it ever comes back.
    pub written_off: bool,
}

impl LiveEntry {
    /// How long the resource has been alive at `now`.
    pub fn age_at(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.created_at)
    }

    /// How long the resource has been alive.
    pub fn age(&self) -> Duration {
        self.age_at(Instant::now())
    }
}

/// A provider of live entries that the ledger asks on demand (pull model).
///
/// A pool already keeps a registry of its leases for its own bookkeeping; registering each
/// checkout in the ledger as well would double the cost of the hottest path in the
/// program. Instead the pool registers itself once with
/// [`Ledger::add_source`](super::Ledger::add_source) and lists its leases only when
/// someone asks for a report. The ledger holds sources as `Weak` references, so a dropped
/// pool simply disappears from the reports.
pub trait LedgerSource: Send + Sync {
    /// Calls `visit` once for every resource this source currently has alive.
    ///
    /// Must not call back into the ledger the source is registered with.
    fn visit_live(&self, visit: &mut dyn FnMut(LiveEntry));
}

/// A point in a ledger's history: entries registered after it can be listed with
/// [`Ledger::live_since`](super::Ledger::live_since), like GStreamer's leaks tracer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub(crate) epoch: u64,
    pub(crate) at: Instant,
}

impl Checkpoint {
    /// The epoch this checkpoint opened: entries registered after it carry an epoch at
    /// least this large.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// When the checkpoint was taken.
    pub fn at(&self) -> Instant {
        self.at
    }
}
