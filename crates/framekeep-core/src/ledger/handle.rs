//! [`Ledger`]: the handle over one ledger's state (its id, checkpoint epoch,
//! checkpoints and pull-model sources), and the queries that collect live
//! entries from the token shards and the sources.

use std::backtrace::Backtrace;
use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Instant;

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;

use super::clock;
use super::entry::{Checkpoint, LedgerSource, LiveEntry};
use super::kind::Kind;
use super::report::{LedgerReport, BACKTRACE_ENV};
use super::scope::ScopeId;
use super::shard::{self, Tracked};

const CAPTURE_UNKNOWN: u8 = 0;
const CAPTURE_OFF: u8 = 1;
const CAPTURE_ON: u8 = 2;

/// Whether registrations capture a backtrace; process-wide, read from the environment once.
static CAPTURE: AtomicU8 = AtomicU8::new(CAPTURE_UNKNOWN);

/// Source of ledger ids (entries record the id of the ledger they belong to).
static NEXT_LEDGER: AtomicU64 = AtomicU64::new(1);

/// A ledger of live resources: process-wide ([`Ledger::global`]) or private
/// ([`Ledger::new`], for tests). Cloning is cheap and yields a handle to the same ledger.
///
/// ```
/// use framekeep_core::ledger::{Kind, Ledger};
///
/// let ledger = Ledger::new();
/// let before = ledger.checkpoint();
/// let mat = ledger.track(Kind::MAT, "undistort map"); // lives as long as the token
/// let frame = ledger.track(Kind::FRAME, "capture");
/// assert_eq!(ledger.live_since(before).len(), 2);      // "what was made since, and lives?"
/// drop(mat);
/// let report = ledger.report();
/// assert_eq!(report.by_kind(), vec![(Kind::FRAME, 1)]);
/// assert!(report.to_string().starts_with("ledger: 1 live (frame: 1)"));
/// drop(frame);
/// ```
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

struct Inner {
    /// Read by every registration, written only by `checkpoint`: kept on its own line.
    hot: CachePadded<Hot>,
    /// The time of each checkpoint; checkpoint `n` (1-based) opened epoch `n`.
    checkpoints: Mutex<Vec<Instant>>,
    sources: Mutex<Vec<Weak<dyn LedgerSource>>>,
}

struct Hot {
    id: u64,
    epoch: AtomicU64,
}

/// Which entries a query wants.
#[derive(Clone, Copy, Default)]
struct Filter {
    kind: Option<Kind>,
    min_epoch: u64,
    scope: Option<ScopeId>,
}

impl Filter {
    fn matches(&self, kind: Kind, epoch: u64, scope: ScopeId) -> bool {
        let kind_ok = match self.kind {
            Some(k) => k == kind,
            None => true,
        };
        let scope_ok = match self.scope {
            Some(s) => s == scope,
            None => true,
        };
        kind_ok && scope_ok && epoch >= self.min_epoch
    }
}

// No ledger operation leaves shared state half-updated if it panics (critical sections
// do not call user code), so a ledger may be used across `catch_unwind`.
impl std::panic::UnwindSafe for Ledger {}
impl std::panic::RefUnwindSafe for Ledger {}

impl Default for Ledger {
    fn default() -> Self {
        Ledger::new()
    }
}

impl Ledger {
    /// The process-wide ledger, used by frames, pools, `Mat`s and supervised threads.
    pub fn global() -> &'static Ledger {
        static GLOBAL: OnceLock<Ledger> = OnceLock::new();
        GLOBAL.get_or_init(Ledger::new)
    }

    /// A new, empty ledger, independent of the global one.
    pub fn new() -> Ledger {
        clock::start();
        Ledger {
            inner: Arc::new(Inner {
                hot: CachePadded::new(Hot {
                    id: NEXT_LEDGER.fetch_add(1, Ordering::Relaxed),
                    epoch: AtomicU64::new(0),
                }),
                checkpoints: Mutex::new(Vec::new()),
                sources: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Registers a live resource of `kind` called `name`; the entry lives as long as the
    /// returned token.
    ///
    /// The entry records the calling thread, its [`ScopeId::current`], the current checkpoint
    /// epoch, the time, and a backtrace if capture is on. A `&'static str` name is stored
    /// without allocating; an owned name (and a backtrace) is kept until the slot is
    /// reused by a later registration of the same thread.
    #[inline]
    pub fn track(&self, kind: Kind, name: impl Into<Cow<'static, str>>) -> Tracked {
        // Split here, where the caller's `into()` is visible: a static name then reaches
        // the shard as a plain `&'static str`.
        match name.into() {
            Cow::Borrowed(name) => self.track_named(kind, name),
            Cow::Owned(name) => self.track_named(kind, name),
        }
    }

    #[inline]
    fn track_named(&self, kind: Kind, name: impl shard::EntryName) -> Tracked {
        let backtrace = if Ledger::captures_backtraces() {
            Some(Arc::new(Backtrace::force_capture()))
        } else {
            None
        };
        shard::insert(
            self.inner.hot.id,
            kind,
            name,
            ScopeId::current().0,
            self.epoch(),
            backtrace,
        )
    }

    /// Every live resource (tokens and sources), oldest first. Entries created within the
    /// same tick of the ledger's clock are ordered by id (which follows creation order
    /// within a thread).
    pub fn live(&self) -> Vec<LiveEntry> {
        self.collect(Filter::default())
    }

    /// How many resources of `kind` are alive (tokens and sources).
    pub fn count(&self, kind: Kind) -> usize {
        let id = self.inner.hot.id;
        let mut count = 0;
        shard::for_each_entry(|_, e, _| {
            count += usize::from(e.ledger == id && e.kind == kind);
        });
        self.visit_sources(&mut |entry| count += usize::from(entry.kind == kind));
        count
    }

    /// The current checkpoint epoch (0 before the first checkpoint), for sources that
    /// record it at creation (pool leases), as tokens do.
    #[inline(always)]
    pub(crate) fn epoch(&self) -> u64 {
        self.inner.hot.epoch.load(Ordering::Relaxed)
    }

    /// Opens a new epoch: entries registered from now on can be listed with
    /// [`Ledger::live_since`].
    pub fn checkpoint(&self) -> Checkpoint {
        let mut checkpoints = self.inner.checkpoints.lock();
        let at = Instant::now();
        checkpoints.push(at);
        let epoch = checkpoints.len() as u64;
        self.inner.hot.epoch.store(epoch, Ordering::Release);
        Checkpoint { epoch, at }
    }

    /// The resources registered after `cp` was taken and still alive, oldest first.
    ///
    /// Tokens and pool leases are placed by the epoch they recorded; other source entries
    /// (and leases taken before the first checkpoint) by their creation time relative to
    /// the ledger's checkpoints.
    pub fn live_since(&self, cp: Checkpoint) -> Vec<LiveEntry> {
        self.collect(Filter {
            min_epoch: cp.epoch,
            ..Filter::default()
        })
    }

    /// An aging report of everything alive, oldest first; its `Display` is a readable dump.
    pub fn report(&self) -> LedgerReport {
        let entries = self.live();
        LedgerReport::ledger(Instant::now(), entries)
    }

    /// Registers a pull-model source (e.g. a pool's lease registry). The ledger keeps only
    /// a weak reference: once the source is dropped it no longer appears in reports.
    pub fn add_source(&self, source: Weak<dyn LedgerSource>) {
        let mut sources = self.inner.sources.lock();
        sources.retain(|s| s.strong_count() > 0);
        sources.push(source);
    }

    /// Turns backtrace capture at registration on or off, for every ledger of the
    /// process. Overrides the `FRAMEKEEP_BACKTRACE` environment variable.
    pub fn set_capture_backtraces(on: bool) {
        CAPTURE.store(if on { CAPTURE_ON } else { CAPTURE_OFF }, Ordering::Relaxed);
    }

    /// Whether registrations capture a backtrace (see
    /// [`Ledger::set_capture_backtraces`] and the `FRAMEKEEP_BACKTRACE` environment
    /// variable: `1`, `true`, `yes` or `full` turn it on).
    #[inline]
    pub fn captures_backtraces() -> bool {
        match CAPTURE.load(Ordering::Relaxed) {
            CAPTURE_ON => true,
            CAPTURE_OFF => false,
            _ => capture_from_env(),
        }
    }

    /// Entries matching `filter`, oldest first.
    fn collect(&self, filter: Filter) -> Vec<LiveEntry> {
        let id = self.inner.hot.id;
        let mut tracked = Vec::new();
        shard::for_each_entry(|entry_id, e, thread| {
            if e.ledger == id && filter.matches(e.kind, e.epoch, ScopeId(e.scope)) {
                // Backtraces are rendered after every shard lock has been released.
                tracked.push((
                    LiveEntry {
                        kind: e.kind,
                        name: e.name.clone(),
                        id: entry_id,
                        created_at: e.created.to_instant(),
                        thread: thread.map(str::to_owned),
                        scope: ScopeId(e.scope),
                        epoch: e.epoch,
                        backtrace: None,
                        bytes: None,
                        written_off: false,
                    },
                    e.backtrace.clone(),
                ));
            }
        });
        let mut out: Vec<LiveEntry> = tracked
            .into_iter()
            .map(|(mut entry, backtrace)| {
                entry.backtrace = backtrace.map(|b| b.to_string());
                entry
            })
            .collect();
        let checkpoints = self.inner.checkpoints.lock().clone();
        self.visit_sources(&mut |mut entry| {
            if entry.epoch == 0 {
                entry.epoch = checkpoints.partition_point(|at| *at <= entry.created_at) as u64;
            }
            if filter.matches(entry.kind, entry.epoch, entry.scope) {
                out.push(entry);
            }
        });
        out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        out
    }

    /// Calls `visit` with the entries of every live source; forgets dropped sources.
    fn visit_sources(&self, visit: &mut dyn FnMut(LiveEntry)) {
        let sources: Vec<Arc<dyn LedgerSource>> = {
            let mut sources = self.inner.sources.lock();
            sources.retain(|s| s.strong_count() > 0);
            sources.iter().filter_map(Weak::upgrade).collect()
        };
        // The lock is released: a source may register further sources while visited.
        for source in sources {
            source.visit_live(visit);
        }
    }

    /// Entries created in `scope` (tokens and sources), oldest first.
    pub(crate) fn live_in_scope(&self, scope: ScopeId) -> Vec<LiveEntry> {
        self.collect(Filter {
            scope: Some(scope),
            ..Filter::default()
        })
    }
}

#[cold]
fn capture_from_env() -> bool {
    let on = matches!(
        std::env::var(BACKTRACE_ENV).as_deref(),
        Ok("1" | "true" | "yes" | "full")
    );
    let state = if on { CAPTURE_ON } else { CAPTURE_OFF };
    // An explicit `set_capture_backtraces` that raced with us wins.
    match CAPTURE.compare_exchange(CAPTURE_UNKNOWN, state, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => on,
        Err(current) => current == CAPTURE_ON,
    }
}

impl fmt::Debug for Ledger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ledger")
            .field("id", &self.inner.hot.id)
            .field("epoch", &self.inner.hot.epoch.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
