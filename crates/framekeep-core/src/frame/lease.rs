//! The lease registry: who holds each checked-out buffer, since when.
//!
//! Every buffer slot carries its own lease record, written by the thread that
//! checks it out and read by `leases()` and the leak monitor. Keeping the
//! record in the slot (atomics, no lock, no shared counter) is what keeps the
//! acquire path as cheap as a bare free list; readers accept a record only if
//! its lease id is the same before and after they read it (a seqlock).

use std::backtrace::Backtrace;
use std::borrow::Cow;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::ledger::clock::Stamp;
use crate::ledger::{Kind, LiveEntry, ScopeId};
use crate::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use crate::sync::{model_static, model_thread_local};

/// A lease record inside a buffer slot.
///
/// `repr(C)` keeps the fields every checkout writes (the first seven, 56
/// bytes) together, so that with the buffer's handle count in front of them
/// (see `Buffer`) a checkout dirties one cache line; the rarely written
/// fields follow.
#[derive(Default)]
#[repr(C)]
pub(crate) struct LeaseCell {
    /// Lease id, 0 while the buffer is idle.
    id: AtomicU64,
    /// How many times this buffer has been checked out.
    uses: AtomicU64,
    /// `checkout_now()` at checkout.
    since: AtomicU64,
    thread: AtomicU64,
    scope: AtomicU64,
    label_ptr: AtomicUsize,
    label_len: AtomicUsize,
    /// The pool's ledger's checkpoint epoch at checkout (see `Ledger::checkpoint`).
    epoch: AtomicU64,
    /// The lease id last reported as a leak (each lease is reported once).
    warned: AtomicU64,
    /// Set when the leak monitor has written this lease off.
    pub(crate) written_off: AtomicBool,
    backtrace: Mutex<Option<Arc<Backtrace>>>,
}

/// The checkout clock: the ledger's ticking copy of the time (one atomic
/// load; up to a tick, 4 ms, early). Reading even the coarse system clock
/// costs more than the rest of an acquire on a VM.
#[inline]
pub(crate) fn checkout_now() -> u64 {
    Stamp::now().nanos()
}

/// The clock for readers (reports, the leak monitor): precise, so that an age
/// computed against a checkout stamp is never under-estimated.
pub(crate) fn reader_now() -> u64 {
    Stamp::precise().nanos()
}

impl LeaseCell {
    /// Records a checkout. Only the thread that just took the buffer (from a
    /// slot or the free list) calls this, so plain loads of its own fields are race-free.
    #[inline(always)]
    pub(crate) fn check_out(
        &self,
        index: usize,
        label: &'static str,
        epoch: u64,
        backtrace: bool,
    ) -> u64 {
        // The seqlock's writer side: the record is invalid (id 0, stored by
        // `check_in`, which happened before this checkout) while the fields
        // change. Release fence: a reader that sees any field stored below
        // also sees that id 0 (its Acquire fence in `snapshot`), so it
        // rejects a record mixing this checkout with the previous one.
        // (No instruction on x86: it only keeps the compiler from hoisting
        // the field stores.)
        fence(Ordering::Release);
        let uses = self.uses.load(Ordering::Relaxed).wrapping_add(1);
        self.uses.store(uses, Ordering::Relaxed);
        let id = ((index as u64 + 1) << 40) | (uses & ((1 << 40) - 1));
        self.since.store(checkout_now(), Ordering::Relaxed);
        self.thread.store(thread_tag(), Ordering::Relaxed);
        self.scope.store(ScopeId::current().0, Ordering::Relaxed);
        self.label_ptr
            .store(label.as_ptr() as usize, Ordering::Relaxed);
        self.label_len.store(label.len(), Ordering::Relaxed);
        self.epoch.store(epoch, Ordering::Relaxed);
        if backtrace {
            *self.backtrace.lock() = Some(Arc::new(Backtrace::force_capture()));
        }
        // Release publishes the fields above to readers that see this id.
        self.id.store(id, Ordering::Release);
        id
    }

    /// Marks the buffer idle.
    #[inline]
    pub(crate) fn check_in(&self) {
        self.id.store(0, Ordering::Release);
    }

    /// The current lease id (0 when idle).
    pub(crate) fn id(&self) -> u64 {
        self.id.load(Ordering::Acquire)
    }

    /// Checkouts of this buffer so far.
    pub(crate) fn uses(&self) -> u64 {
        self.uses.load(Ordering::Relaxed)
    }

    /// Nanoseconds since checkout (`now` from `reader_now`), if out.
    pub(crate) fn age_nanos(&self, now: u64) -> Option<u64> {
        if self.id() == 0 {
            return None;
        }
        Some(now.saturating_sub(self.since.load(Ordering::Relaxed)))
    }

    /// A consistent snapshot as a ledger entry of kind `frame` named by the
    /// lease's label, or `None` if idle (or re-leased while reading).
    pub(crate) fn snapshot(&self, bytes: usize) -> Option<LiveEntry> {
        let id = self.id();
        if id == 0 {
            return None;
        }
        let since = self.since.load(Ordering::Relaxed);
        let thread = self.thread.load(Ordering::Relaxed);
        let scope = self.scope.load(Ordering::Relaxed);
        let ptr = self.label_ptr.load(Ordering::Relaxed);
        let len = self.label_len.load(Ordering::Relaxed);
        let epoch = self.epoch.load(Ordering::Relaxed);
        let backtrace = self.backtrace.lock().clone();
        // Acquire fence, then the second look at the id: if any field above
        // came from a later checkout, the id read here is that checkout's
        // (or 0), not `id` (see the Release fence in `check_out`). An Acquire
        // load alone would not do: the loads above could still be satisfied
        // after it. (No instruction on x86, as there.)
        fence(Ordering::Acquire);
        if self.id.load(Ordering::Relaxed) != id {
            return None;
        }
        Some(LiveEntry {
            kind: Kind::FRAME,
            name: Cow::Borrowed(LABELS.lookup(ptr, len)),
            id,
            created_at: Stamp::from_nanos(since).to_instant(),
            thread: Some(thread_name(thread)),
            scope: ScopeId(scope),
            epoch,
            backtrace: backtrace.map(|b| b.to_string()),
            bytes: Some(bytes),
            written_off: self.written_off.load(Ordering::Relaxed),
        })
    }

    /// Records that lease `id` was reported; `false` if it already was.
    pub(crate) fn mark_warned(&self, id: u64) -> bool {
        self.warned.swap(id, Ordering::AcqRel) != id
    }

    /// Clears the stored backtrace (when the buffer comes back).
    pub(crate) fn clear_backtrace(&self) {
        *self.backtrace.lock() = None;
    }
}

/// Labels are `&'static str`; the lease stores pointer and length as two
/// atomics. To turn them back into a `&'static str` without `unsafe`, every
/// label passed to a pool is interned here once (on first use, by its
/// address) and looked up by address when a report is made.
struct LabelTable(Mutex<BTreeMap<(usize, usize), &'static str>>);

static LABELS: LabelTable = LabelTable(Mutex::new(BTreeMap::new()));

thread_local! {
    /// The last label this thread interned: skips the table on the hot path.
    static LAST_LABEL: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

impl LabelTable {
    fn lookup(&self, ptr: usize, len: usize) -> &'static str {
        self.0
            .lock()
            .get(&(ptr, len))
            .copied()
            .unwrap_or("<unknown>")
    }
}

/// Makes `label` known to reports. Cheap when the thread used it last time.
#[inline]
pub(crate) fn intern_label(label: &'static str) {
    let key = (label.as_ptr() as usize, label.len());
    if LAST_LABEL.with(|l| l.get()) != key {
        LABELS.0.lock().insert(key, label);
        LAST_LABEL.with(|l| l.set(key));
    }
}

/// Names of the threads that took buffers, by tag. Bounded: a process that
/// keeps starting threads forgets the oldest names first (a report then says
/// `thread-N` for a lease taken by a long-gone thread).
static THREAD_NAMES: Mutex<BTreeMap<u64, String>> = Mutex::new(BTreeMap::new());

/// Most thread names kept.
const MAX_THREAD_NAMES: usize = 4096;

model_static! {
    /// The next thread's tag. (Per model execution under loom: a thread's tag
    /// picks its idle slot in every pool, so it must not depend on how many
    /// executions ran before.)
    static NEXT_TAG: AtomicU64 = AtomicU64::new(1);
}

model_thread_local! {
    /// 0 until the thread first checks out a buffer (const-initialised: no
    /// lazy-init check on the hot path).
    static THREAD_TAG: Cell<u64> = const { Cell::new(0) };
}

/// A small number naming the current thread (its name is kept for reports).
#[inline(always)]
pub(crate) fn thread_tag() -> u64 {
    // `try_with`: std keeps this thread-local (no destructor) to the end of
    // its thread, so there it never fails and compiles to `with`; loom
    // destroys it when a model thread ends, and a release running in another
    // thread-local's destructor then uses tag 0 (a slot shared by such
    // releases: slots are only a preference).
    match THREAD_TAG.try_with(Cell::get) {
        Ok(0) => new_thread_tag(),
        Ok(tag) => tag,
        Err(_) => 0,
    }
}

/// Gives the calling thread its tag (once per thread).
#[cold]
#[inline(never)]
fn new_thread_tag() -> u64 {
    let tag = NEXT_TAG.fetch_add(1, Ordering::Relaxed);
    let name = std::thread::current()
        .name()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("thread-{tag}"));
    let mut names = THREAD_NAMES.lock();
    names.insert(tag, name);
    while names.len() > MAX_THREAD_NAMES {
        names.pop_first();
    }
    drop(names);
    THREAD_TAG.with(|t| t.set(tag));
    tag
}

fn thread_name(tag: u64) -> String {
    THREAD_NAMES
        .lock()
        .get(&tag)
        .cloned()
        .unwrap_or_else(|| format!("thread-{tag}"))
}
