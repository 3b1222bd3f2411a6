//! Per-thread shards: where [`Tracked`] tokens keep their entries.
//!
//! Why shards: a registration happens for every frame and every `Mat`, on every thread of
//! the pipeline, and must be cheap enough to leave on in release builds. A single
//! `Mutex<HashMap>` (or any shared counter) puts one cache line in the path of every
//! thread, and two threads hammering it spend most of their time passing that line back
//! and forth (200-340 ns per register+drop pair measured on two cores, against ~10 ns for
//! an uncontended pair of atomic increments).
//!
//! So each thread registers into its *own* shard: a slab of entries behind a lock that
//! only that thread takes in the common case. The lock is there because entries may be
//! dropped on another thread (a frame captured on one thread is released on another: the
//! token remembers its shard and slot) and because reports read every shard; neither
//! happens often enough to contend. Ids come from a per-shard block reserved from a global
//! counter once per [`ID_BLOCK`] registrations, so no shared line is written in steady
//! state, and freed slots are reused, so no heap allocation happens either (a `&'static
//! str` name is stored as is; only an owned name allocates, and the caller made that).
//!
//! Shards are process-wide, shared by every [`Ledger`](super::Ledger) (each entry records
//! which ledger it belongs to), allocated once and never freed: a token can then point at
//! its shard with a plain `&'static` reference instead of a reference count that every
//! registration would have to touch. When a thread exits its shard goes back to a free
//! list and the next new thread adopts it, so the number of shards is bounded by the peak
//! number of threads alive at once. Entries still alive in an adopted shard (a frame that
//! outlived the thread that captured it) keep the name of the thread that made them.

use std::backtrace::Backtrace;
use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crossbeam_utils::CachePadded;
use parking_lot::{const_mutex, Mutex};

use super::clock::Stamp;
use super::spin::SpinMutex;
use super::Kind;

/// How many ids a shard reserves from the global counter at a time.
pub(crate) const ID_BLOCK: u64 = 1024;

/// The global id counter; only touched once per [`ID_BLOCK`] registrations per shard.
/// Starts at 1: id 0 marks a free slot.
static NEXT_ID_BLOCK: AtomicU64 = AtomicU64::new(1);

/// Every shard ever created (reports walk this list).
static ALL_SHARDS: Mutex<Vec<&'static Shard>> = const_mutex(Vec::new());

/// Shards whose thread exited, ready to be adopted by a new thread.
static FREE_SHARDS: Mutex<Vec<&'static Shard>> = const_mutex(Vec::new());

/// The shard used by threads whose thread-locals are already destroyed (registrations
/// from other thread-locals' destructors). Shared, hence contended, but only ever used
/// during thread teardown.
static ORPHAN_SHARD: OnceLock<&'static Shard> = OnceLock::new();

/// Marks the end of a shard's free list.
const NO_SLOT: usize = usize::MAX;

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

impl EntryName for String {
    #[inline]
    fn into_cow(self) -> Cow<'static, str> {
        Cow::Owned(self)
    }
}

/// One slot of a shard: a live entry, or a free slot (`id == 0`) on the free list.
///
/// A struct rather than an enum so that a registration writes the fields in place, one
/// store each, instead of assembling a whole entry on the stack and copying it in.
pub(crate) struct Entry {
    /// The entry's id; 0 when the slot is free.
    pub(crate) id: u64,
    /// When the slot is free: the next free slot, or [`NO_SLOT`].
    next_free: usize,
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

impl Entry {
    fn vacant() -> Entry {
        Entry {
            id: 0,
            next_free: NO_SLOT,
            ledger: 0,
            kind: Kind::FRAME,
            name: Cow::Borrowed(""),
            created: Stamp::ZERO,
            scope: 0,
            epoch: 0,
            backtrace: None,
            owner: 0,
        }
    }
}

/// The contents of a shard: a slab of entries with an intrusive free list.
struct Slab {
    slots: Vec<Entry>,
    free: usize,
    next_id: u64,
    id_end: u64,
    /// Generation of the current owner thread.
    owner: u32,
    /// Names of the owner threads that still have entries here, by generation.
    owners: Vec<(u32, Option<String>)>,
}

impl Slab {
    fn new() -> Slab {
        Slab {
            slots: Vec::new(),
            free: NO_SLOT,
            next_id: 0,
            id_end: 0,
            owner: 0,
            owners: vec![(0, None)],
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

    /// Stores a new entry; returns its id and slot.
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
    ) -> (u64, usize) {
        let id = self.take_id();
        let index = match self.slots.get(self.free) {
            Some(slot) => {
                let index = self.free;
                self.free = slot.next_free;
                index
            }
            None => {
                self.slots.push(Entry::vacant());
                self.slots.len() - 1
            }
        };
        let owner = self.owner;
        let slot = &mut self.slots[index];
        slot.id = id;
        slot.ledger = ledger;
        slot.kind = kind;
        slot.name = name.into_cow();
        slot.created = created;
        slot.scope = scope;
        slot.epoch = epoch;
        slot.backtrace = backtrace;
        slot.owner = owner;
        (id, index)
    }

    /// Frees the slot if it holds entry `id`; returns whether it did.
    #[inline]
    fn take(&mut self, index: usize, id: u64) -> bool {
        let free = self.free;
        let Some(slot) = self.slots.get_mut(index) else {
            return false;
        };
        if slot.id != id || id == 0 {
            return false;
        }
        slot.id = 0;
        slot.next_free = free;
        // Free an owned name or a backtrace now; in the common case there is neither and
        // nothing more is written.
        if matches!(slot.name, Cow::Owned(_)) {
            slot.name = Cow::Borrowed("");
        }
        if slot.backtrace.is_some() {
            slot.backtrace = None;
        }
        self.free = index;
        true
    }

    fn owner_name(&self, owner: u32) -> Option<&str> {
        self.owners
            .iter()
            .find(|(generation, _)| *generation == owner)
            .and_then(|(_, name)| name.as_deref())
    }

    fn live_entries(&self) -> impl Iterator<Item = &Entry> {
        self.slots.iter().filter(|e| e.id != 0)
    }

    /// A new thread takes over this slab.
    fn adopt(&mut self, thread_name: Option<String>) {
        let mut in_use: Vec<u32> = self.live_entries().map(|e| e.owner).collect();
        in_use.sort_unstable();
        in_use.dedup();
        self.owners
            .retain(|(generation, _)| in_use.binary_search(generation).is_ok());
        self.owner = self.owner.wrapping_add(1);
        self.owners.push((self.owner, thread_name));
    }

    /// The owner thread exits: give the memory back if nothing is left in the slab.
    fn abandon(&mut self) {
        if self.live_entries().next().is_none() {
            self.slots = Vec::new();
            self.free = NO_SLOT;
            self.owners.clear();
        }
    }
}

/// One thread's registrations. Padded to its own cache line so that neighbouring shards
/// never share one.
pub(crate) struct Shard {
    slab: CachePadded<SpinMutex<Slab>>,
}

impl Shard {
    fn create() -> &'static Shard {
        let shard: &'static Shard = Box::leak(Box::new(Shard {
            slab: CachePadded::new(SpinMutex::new(Slab::new())),
        }));
        ALL_SHARDS.lock().push(shard);
        shard
    }

    #[inline]
    fn remove(&self, slot: usize, id: u64) {
        self.slab.lock().take(slot, id);
    }
}

/// Adopts a free shard (or creates one) for the calling thread.
fn claim() -> &'static Shard {
    let recycled = FREE_SHARDS.lock().pop();
    let shard = recycled.unwrap_or_else(Shard::create);
    let current = std::thread::current();
    let name = match current.name() {
        Some(name) => name.to_owned(),
        None => format!("{:?}", current.id()),
    };
    shard.slab.lock().adopt(Some(name));
    shard
}

/// The calling thread's claim on its shard; returns the shard when the thread exits.
struct LocalShard(&'static Shard);

impl Drop for LocalShard {
    fn drop(&mut self) {
        self.0.slab.lock().abandon();
        FREE_SHARDS.lock().push(self.0);
    }
}

thread_local! {
    static LOCAL: LocalShard = LocalShard(claim());
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
    let shard = LOCAL
        .try_with(|local| local.0)
        .unwrap_or_else(|_| *ORPHAN_SHARD.get_or_init(Shard::create));
    let created = Stamp::now();
    let (id, slot) = shard
        .slab
        .lock()
        .put(ledger, kind, name, created, scope, epoch, backtrace);
    Tracked { shard, slot, id }
}

/// Calls `visit` with every live entry of every shard and the name of its thread.
///
/// Each shard is locked while it is visited: `visit` must not register or drop tokens.
pub(crate) fn for_each_entry(mut visit: impl FnMut(&Entry, Option<&str>)) {
    let shards: Vec<&'static Shard> = ALL_SHARDS.lock().clone();
    for shard in shards {
        let slab = shard.slab.lock();
        for entry in slab.live_entries() {
            visit(entry, slab.owner_name(entry.owner));
        }
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
    shard: &'static Shard,
    slot: usize,
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
        self.shard.remove(self.slot, self.id);
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

    fn put(slab: &mut Slab, name: &'static str) -> (u64, usize) {
        slab.put(TEST_LEDGER, Kind::FRAME, name, Stamp::precise(), 0, 0, None)
    }

    #[test]
    fn slots_are_reused_and_ids_stay_unique() {
        let mut slab = Slab::new();
        let (a, ia) = put(&mut slab, "a");
        let (b, ib) = put(&mut slab, "b");
        assert_eq!(slab.live_entries().count(), 2);
        // A wrong id does not free someone else's slot.
        assert!(!slab.take(ia, b));
        assert!(slab.take(ia, a));
        assert!(!slab.take(ia, a));
        assert!(!slab.take(99, a));
        let (c, ic) = put(&mut slab, "c");
        assert_eq!(ic, ia, "the freed slot is reused");
        assert_eq!(slab.slots.len(), 2);
        let mut ids = vec![a, b, c];
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 3);
        assert!(ids.iter().all(|id| *id != 0));
        let names: Vec<&str> = slab.live_entries().map(|e| &*e.name).collect();
        assert_eq!(names, ["c", "b"]);
        assert!(slab.take(ib, b));
        assert!(slab.take(ic, c));
        assert_eq!(slab.live_entries().count(), 0);
    }

    #[test]
    fn ids_span_blocks() {
        let mut slab = Slab::new();
        let ids: Vec<u64> = (0..ID_BLOCK + 2).map(|_| slab.take_id()).collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "increasing within a shard"
        );
    }

    #[test]
    fn adoption_keeps_names_of_owners_with_live_entries() {
        let mut slab = Slab::new();
        slab.adopt(Some("first".into()));
        let (id, index) = put(&mut slab, "x");
        let first = slab.owner;
        slab.abandon();
        slab.adopt(Some("second".into()));
        assert_eq!(slab.owner_name(first), Some("first"));
        assert_eq!(slab.owner_name(slab.owner), Some("second"));
        assert!(slab.take(index, id));
        slab.abandon();
        assert!(slab.slots.is_empty(), "an empty slab gives its memory back");
        slab.adopt(Some("third".into()));
        assert_eq!(slab.owner_name(first), None);
        assert_eq!(slab.owners.len(), 1);
    }

    #[test]
    fn entries_outlive_their_thread_and_keep_its_name() {
        let token = std::thread::Builder::new()
            .name("short-lived".into())
            .spawn(|| {
                insert(
                    TEST_LEDGER,
                    Kind::MAT,
                    "from a thread that exits",
                    0,
                    0,
                    None,
                )
            })
            .unwrap()
            .join()
            .unwrap();
        let id = token.id();
        let mut names = Vec::new();
        for_each_entry(|e, thread| {
            if e.id == id {
                names.push(thread.map(str::to_owned));
            }
        });
        assert_eq!(names, vec![Some("short-lived".to_owned())]);
        token.untrack();
        let mut still = 0;
        for_each_entry(|e, _| still += usize::from(e.id == id));
        assert_eq!(still, 0);
    }
}
