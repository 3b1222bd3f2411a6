//! Per-thread shards: where [`Tracked`] tokens keep their entries.
//!
//! Why shards: a registration happens for every frame and every `Mat`, on every thread of
//! the pipeline, and must be cheap enough to leave on in release builds. A single
//! `Mutex<HashMap>` (or any shared counter) puts one cache line in the path of every
//! thread, and two threads hammering it spend most of their time passing that line back
//! and forth, an order of magnitude more than an uncontended pair of atomic increments
//! (the figures are in BENCHMARKS.md, section 2).
//!
//! So each thread registers into its *own* shard, and the bookkeeping that only the
//! registering thread needs (the free list, a block of ids reserved from the global
//! counter once per [`ID_BLOCK`] registrations) lives in that thread's thread-local, where
//! it costs no atomic operation at all. What other threads must see goes into the slot:
//!
//! * the entry's fields, behind a per-slot spin lock (one atomic swap to take, a plain
//!   store to release) that reports take too, so they copy a consistent entry;
//! * the entry's id, an atomic published after the fields; dropping the token just
//!   stores 0 there, so a drop is a plain store, on whichever thread it happens (frames
//!   cross threads: the token points at its slot).
//!
//! A register+drop pair on one thread thus costs one atomic read-modify-write. The freed
//! slot goes back on the owner's free list directly when it is dropped on the owner
//! thread, and through a small locked "remote free" list otherwise; the owner takes those
//! back when its own list runs dry. No heap allocation happens in steady state (a
//! `&'static str` name is stored as is; only an owned name allocates, and the caller made
//! that one; it is freed when its slot is reused).
//!
//! Slots live in chunks that are allocated once and never freed (`Box::leak`), and
//! shards likewise: a token can then point at its slot with a plain `&'static` reference
//! instead of a reference count every registration would have to touch, without any
//! `unsafe`. Shards are process-wide, shared by every [`Ledger`](super::Ledger) (each
//! entry records its ledger's id). When a thread exits, its shard (with its free list)
//! goes back to a free list of shards and the next new thread adopts it, so memory is
//! bounded by the peak number of threads alive at once times their peak live entries.
//! Entries still alive in an adopted shard (a frame that outlived the thread that
//! captured it) keep the name of the thread that made them.

use std::backtrace::Backtrace;
use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crossbeam_utils::CachePadded;
use parking_lot::{const_mutex, Mutex};

use super::clock::Stamp;
use super::kind::Kind;
use super::spin::SpinMutex;

/// How many ids a shard reserves from the global counter at a time.
pub(crate) const ID_BLOCK: u64 = 1024;

/// Slots per chunk (a chunk is about 6 KiB).
const CHUNK: usize = 64;

/// The global id counter; only touched once per [`ID_BLOCK`] registrations per shard.
/// Starts at 1: id 0 marks a free slot.
static NEXT_ID_BLOCK: AtomicU64 = AtomicU64::new(1);

/// Every shard ever created (reports walk this list).
static ALL_SHARDS: Mutex<Vec<&'static Shard>> = const_mutex(Vec::new());

/// Shards whose thread exited, ready to be adopted by a new thread.
static FREE_SHARDS: Mutex<Vec<&'static Shard>> = const_mutex(Vec::new());

/// The owner state used by threads whose thread-locals are already destroyed
/// (registrations from other thread-locals' destructors). Shared, hence locked, but only
/// ever used during thread teardown.
static ORPHAN: OnceLock<Mutex<Owner>> = OnceLock::new();

/// A name as given to a registration: stored without allocating when it is static.
pub(crate) trait EntryName {
    /// The name as stored in a slot.
    fn into_cow(self) -> Cow<'static, str>;
}

impl EntryName for &'static str {
    #[inline]
    fn into_cow(self) -> Cow<'static, str> {
        Cow::Borrowed(self)
    }
}

impl EntryName for Cow<'static, str> {
    #[inline]
    fn into_cow(self) -> Cow<'static, str> {
        self
    }
}

impl EntryName for String {
    #[inline]
    fn into_cow(self) -> Cow<'static, str> {
        Cow::Owned(self)
    }
}

/// The fields of an entry, as reports see them.
pub(crate) struct Entry {
    /// The id of the ledger the entry belongs to.
    pub(crate) ledger: u64,
    pub(crate) kind: Kind,
    pub(crate) name: Cow<'static, str>,
    pub(crate) created: Stamp,
    pub(crate) scope: u64,
    pub(crate) epoch: u64,
    pub(crate) backtrace: Option<Arc<Backtrace>>,
    /// Which of the shard's successive owner threads registered it.
    owner: u32,
}

/// One slot of a shard.
pub(crate) struct Slot {
    /// The id of the entry in the slot; 0 while the slot is free. Published (Release)
    /// after the fields are written, cleared by the token's drop.
    id: AtomicU64,
    /// The shard the slot belongs to (fixed).
    shard: &'static Shard,
    entry: SpinMutex<Entry>,
}

impl Slot {
    fn vacant(shard: &'static Shard) -> Slot {
        Slot {
            id: AtomicU64::new(0),
            shard,
            entry: SpinMutex::new(Entry {
                ledger: 0,
                kind: Kind::FRAME,
                name: Cow::Borrowed(""),
                created: Stamp::ZERO,
                scope: 0,
                epoch: 0,
                backtrace: None,
                owner: 0,
            }),
        }
    }
}

/// What only the owning thread of a shard touches: kept in its thread-local, parked in
/// the shard while no thread owns it.
struct Owner {
    shard: &'static Shard,
    /// How many slots the shard has.
    capacity: usize,
    /// Free slots, most recently freed last.
    free: Vec<&'static Slot>,
    next_id: u64,
    id_end: u64,
    /// Generation of the owning thread.
    generation: u32,
}

impl Owner {
    fn new(shard: &'static Shard) -> Owner {
        Owner {
            shard,
            capacity: 0,
            free: Vec::new(),
            next_id: 0,
            id_end: 0,
            generation: 0,
        }
    }

    #[inline]
    fn take_id(&mut self) -> u64 {
        if self.next_id == self.id_end {
            self.next_id = NEXT_ID_BLOCK.fetch_add(ID_BLOCK, Ordering::Relaxed);
            self.id_end = self.next_id + ID_BLOCK;
        }
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// A free slot: from the free list, from the remote frees, or a new chunk.
    #[inline]
    fn free_slot(&mut self) -> &'static Slot {
        match self.free.pop() {
            Some(slot) => slot,
            None => self.refill(),
        }
    }

    #[cold]
    fn refill(&mut self) -> &'static Slot {
        {
            let mut remote = self.shard.remote_free.lock();
            self.free.append(&mut remote);
        }
        if let Some(slot) = self.free.pop() {
            return slot;
        }
        let chunk: Vec<Slot> = (0..CHUNK).map(|_| Slot::vacant(self.shard)).collect();
        let chunk: &'static [Slot] = Box::leak(chunk.into_boxed_slice());
        self.capacity += CHUNK;
        self.shard.chunks.lock().push(chunk);
        // Hand out the chunk's slots in order.
        self.free.extend(chunk[1..].iter().rev());
        &chunk[0]
    }

    /// Stores a new entry in a free slot.
    ///
    /// Takes the fields one by one (no entry struct) so that they travel in registers and
    /// are written straight into the slot: copying a whole entry through the stack costs
    /// more than the rest of the registration (store-forwarding stalls).
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn put(
        &mut self,
        ledger: u64,
        kind: Kind,
        name: impl EntryName,
        created: Stamp,
        scope: u64,
        epoch: u64,
        backtrace: Option<Arc<Backtrace>>,
    ) -> Tracked {
        let id = self.take_id();
        let generation = self.generation;
        let slot = self.free_slot();
        {
            let mut entry = slot.entry.lock();
            entry.ledger = ledger;
            entry.kind = kind;
            // Drops the previous occupant's name and backtrace (if it had its own).
            entry.name = name.into_cow();
            entry.created = created;
            entry.scope = scope;
            entry.epoch = epoch;
            entry.backtrace = backtrace;
            entry.owner = generation;
        }
        slot.id.store(id, Ordering::Release);
        Tracked { slot, id }
    }
}

/// One thread's registrations. Padded so that neighbouring shards never share a line.
pub(crate) struct Shard {
    /// The slot chunks, for reports.
    chunks: CachePadded<Mutex<Vec<&'static [Slot]>>>,
    /// Slots freed by threads other than the owner.
    remote_free: CachePadded<Mutex<Vec<&'static Slot>>>,
    /// The owner state while no thread owns the shard.
    parked: Mutex<Option<Owner>>,
    /// Names of the owner threads that may still have entries here, by generation.
    owners: Mutex<Vec<(u32, Option<String>)>>,
}

impl Shard {
    fn create() -> &'static Shard {
        let shard: &'static Shard = Box::leak(Box::new(Shard {
            chunks: CachePadded::new(Mutex::new(Vec::new())),
            remote_free: CachePadded::new(Mutex::new(Vec::new())),
            parked: Mutex::new(None),
            owners: Mutex::new(vec![(0, None)]),
        }));
        ALL_SHARDS.lock().push(shard);
        shard
    }

    /// Hands the shard to a new thread called `thread_name`.
    fn adopt(&'static self, thread_name: Option<String>) -> Owner {
        let mut owner = self
            .parked
            .lock()
            .take()
            .unwrap_or_else(|| Owner::new(self));
        let mut in_use: Vec<u32> = Vec::new();
        self.visit(|_, entry| in_use.push(entry.owner));
        in_use.sort_unstable();
        in_use.dedup();
        let mut owners = self.owners.lock();
        owners.retain(|(generation, _)| in_use.binary_search(generation).is_ok());
        owner.generation = owner.generation.wrapping_add(1);
        owners.push((owner.generation, thread_name));
        owner
    }

    /// Calls `visit` with the id and fields of every live entry of the shard.
    fn visit(&self, mut visit: impl FnMut(u64, &Entry)) {
        let chunks = self.chunks.lock().clone();
        for slot in chunks.iter().flat_map(|chunk| chunk.iter()) {
            let id = slot.id.load(Ordering::Acquire);
            if id == 0 {
                continue;
            }
            let entry = slot.entry.lock();
            // The slot may have been freed (and even reused) since `id` was read; under
            // the lock, an unchanged id means the fields are that entry's.
            if slot.id.load(Ordering::Acquire) == id {
                visit(id, &entry);
            }
        }
    }

    fn owner_name(owners: &[(u32, Option<String>)], generation: u32) -> Option<&str> {
        owners
            .iter()
            .find(|(g, _)| *g == generation)
            .and_then(|(_, name)| name.as_deref())
    }
}

/// The calling thread's ownership of a shard, claimed at its first registration; parks
/// the shard for the next thread when the thread exits.
struct Local(Option<Owner>);

impl Drop for Local {
    fn drop(&mut self) {
        if let Some(owner) = self.0.take() {
            let shard = owner.shard;
            *shard.parked.lock() = Some(owner);
            FREE_SHARDS.lock().push(shard);
        }
    }
}

thread_local! {
    static LOCAL: RefCell<Local> = const { RefCell::new(Local(None)) };
}

/// Adopts a free shard (or creates one) for the calling thread.
fn claim() -> Owner {
    let recycled = FREE_SHARDS.lock().pop();
    let shard = recycled.unwrap_or_else(Shard::create);
    let current = std::thread::current();
    let name = match current.name() {
        Some(name) => name.to_owned(),
        None => format!("{:?}", current.id()),
    };
    shard.adopt(Some(name))
}

/// Registers an entry in the calling thread's shard.
#[inline]
pub(crate) fn insert(
    ledger: u64,
    kind: Kind,
    name: impl EntryName,
    scope: u64,
    epoch: u64,
    backtrace: Option<Arc<Backtrace>>,
) -> Tracked {
    let created = Stamp::now();
    let mut args = Some((name, backtrace));
    let fast = LOCAL.try_with(|local| {
        // Not re-entrant: nothing in `put` can register or drop a token.
        let mut local = local.try_borrow_mut().ok()?;
        let owner = local.0.get_or_insert_with(claim);
        let (name, backtrace) = args.take()?;
        Some(owner.put(ledger, kind, name, created, scope, epoch, backtrace))
    });
    if let Ok(Some(tracked)) = fast {
        return tracked;
    }
    insert_orphan(ledger, kind, &mut args, created, scope, epoch)
}

/// Registers an entry from a thread that cannot use its own shard (its thread-locals are
/// gone) in the shared orphan shard.
#[cold]
fn insert_orphan<N: EntryName>(
    ledger: u64,
    kind: Kind,
    args: &mut Option<(N, Option<Arc<Backtrace>>)>,
    created: Stamp,
    scope: u64,
    epoch: u64,
) -> Tracked {
    let orphan = ORPHAN.get_or_init(|| {
        let shard = Shard::create();
        Mutex::new(Owner::new(shard))
    });
    let (name, backtrace) = match args.take() {
        Some(args) => (args.0.into_cow(), args.1),
        // Only reached when the fast path did not take the arguments.
        None => (Cow::Borrowed("<lost>"), None),
    };
    orphan
        .lock()
        .put(ledger, kind, name, created, scope, epoch, backtrace)
}

/// Calls `visit` with the id, fields and thread name of every live entry of every shard.
///
/// Each slot is locked while it is visited: `visit` must not register or drop tokens.
pub(crate) fn for_each_entry(mut visit: impl FnMut(u64, &Entry, Option<&str>)) {
    let shards: Vec<&'static Shard> = ALL_SHARDS.lock().clone();
    for shard in shards {
        let owners = shard.owners.lock().clone();
        shard.visit(|id, entry| visit(id, entry, Shard::owner_name(&owners, entry.owner)));
    }
}

/// The RAII registration of one resource in a [`Ledger`](super::Ledger).
///
/// Dropping it (on any thread) removes the entry; [`Tracked::untrack`] does the same and
/// reads better where the intent matters. Store it inside the resource it accounts for,
/// so that the resource's drop untracks it. Forgetting it (`mem::forget`) leaves the
/// entry in the ledger for good, which is exactly what leak reports are for.
#[must_use = "dropping the token untracks the resource immediately"]
pub struct Tracked {
    slot: &'static Slot,
    id: u64,
}

impl Tracked {
    /// The entry's id, unique among all tokens of the process.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Removes the entry from its ledger (same as dropping the token).
    pub fn untrack(self) {
        drop(self);
    }
}

impl Drop for Tracked {
    #[inline]
    fn drop(&mut self) {
        // Only this token frees its slot, and only once: a plain store is enough.
        self.slot.id.store(0, Ordering::Release);
        let slot = self.slot;
        let shard = slot.shard;
        // Freed on the owning thread: straight back on its free list.
        let recycled = LOCAL
            .try_with(|local| {
                let Ok(mut local) = local.try_borrow_mut() else {
                    return false;
                };
                match &mut local.0 {
                    Some(owner) if ptr::eq(owner.shard, shard) => {
                        owner.free.push(slot);
                        true
                    }
                    _ => false,
                }
            })
            .unwrap_or(false);
        if !recycled {
            shard.remote_free.lock().push(slot);
        }
    }
}

impl fmt::Debug for Tracked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracked").field("id", &self.id).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_LEDGER: u64 = u64::MAX;

    fn track(name: &'static str) -> Tracked {
        insert(TEST_LEDGER, Kind::MAT, name, 0, 0, None)
    }

    fn find(id: u64) -> Vec<(String, Option<String>)> {
        let mut found = Vec::new();
        for_each_entry(|entry_id, entry, thread| {
            if entry_id == id {
                found.push((entry.name.to_string(), thread.map(str::to_owned)));
            }
        });
        found
    }

    #[test]
    fn slots_are_reused_and_ids_stay_unique() {
        let shard = Shard::create();
        let mut owner = Owner::new(shard);
        let put = |owner: &mut Owner, name: &'static str| {
            owner.put(TEST_LEDGER, Kind::FRAME, name, Stamp::ZERO, 0, 0, None)
        };
        let a = put(&mut owner, "a");
        let b = put(&mut owner, "b");
        let (a_id, a_slot) = (a.id(), a.slot);
        let mut count = 0;
        shard.visit(|_, _| count += 1);
        assert_eq!(count, 2);
        // Not this thread's shard: the slot goes to the remote list, and back from it.
        drop(a);
        let remote = shard.remote_free.lock().clone();
        assert_eq!(remote.len(), 1);
        assert!(ptr::eq(remote[0], a_slot));
        owner.free.clear();
        let c = put(&mut owner, "c");
        assert!(ptr::eq(c.slot, a_slot), "the freed slot is reused");
        let mut ids = vec![a_id, b.id(), c.id()];
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 3);
        assert!(ids.iter().all(|id| *id != 0));
        let mut names = Vec::new();
        shard.visit(|_, e| names.push(e.name.to_string()));
        assert_eq!(names, ["c", "b"]);
        drop((b, c));
        let mut count = 0;
        shard.visit(|_, _| count += 1);
        assert_eq!(count, 0);
        assert_eq!(owner.capacity, CHUNK);
    }

    #[test]
    fn chunks_grow_and_ids_span_blocks() {
        let shard = Shard::create();
        let mut owner = Owner::new(shard);
        let ids: Vec<u64> = (0..ID_BLOCK + 2).map(|_| owner.take_id()).collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "increasing within a shard"
        );
        let tokens: Vec<Tracked> = (0..CHUNK + 1)
            .map(|_| owner.put(TEST_LEDGER, Kind::FRAME, "x", Stamp::ZERO, 0, 0, None))
            .collect();
        assert_eq!(owner.capacity, 2 * CHUNK);
        assert_eq!(shard.chunks.lock().len(), 2);
        let mut count = 0;
        shard.visit(|_, _| count += 1);
        assert_eq!(count, CHUNK + 1);
        drop(tokens);
    }

    #[test]
    fn same_thread_drops_recycle_locally() {
        let a = track("local");
        let slot = a.slot;
        let shard = a.slot.shard;
        drop(a);
        let recycled = LOCAL.with(|l| {
            let local = l.borrow();
            local.0.as_ref().and_then(|o| o.free.last().copied())
        });
        assert!(recycled.is_some_and(|s| ptr::eq(s, slot)));
        assert!(!shard.remote_free.lock().iter().any(|s| ptr::eq(*s, slot)));
        let b = track("local again");
        assert!(ptr::eq(b.slot, slot));
    }

    #[test]
    fn entries_outlive_their_thread_and_keep_its_name() {
        let token = std::thread::Builder::new()
            .name("short-lived".into())
            .spawn(|| track("from a thread that exits"))
            .unwrap()
            .join()
            .unwrap();
        let id = token.id();
        assert_eq!(
            find(id),
            [(
                "from a thread that exits".to_owned(),
                Some("short-lived".to_owned())
            )]
        );
        token.untrack();
        assert!(find(id).is_empty());
    }

    #[test]
    fn registrations_from_thread_local_destructors_still_work() {
        use std::sync::mpsc;

        struct LateRegistration(mpsc::Sender<Tracked>);
        impl Drop for LateRegistration {
            fn drop(&mut self) {
                // Runs while the thread's locals are being destroyed, possibly after the
                // thread's shard was given back.
                let _ = self.0.send(track("late"));
            }
        }
        thread_local! {
            static LATE: RefCell<Option<LateRegistration>> = const { RefCell::new(None) };
        }

        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Initialised before the shard's thread-local, so destroyed after it.
            LATE.with(|late| *late.borrow_mut() = Some(LateRegistration(tx)));
            drop(track("early"));
        })
        .join()
        .unwrap();
        let token = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("the destructor registered a token");
        let id = token.id();
        assert_eq!(find(id).len(), 1);
        drop(token);
        assert!(find(id).is_empty());
    }
}
