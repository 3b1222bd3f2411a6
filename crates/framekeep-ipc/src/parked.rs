//! [`Parked`]: what a buffer home keeps while frames point into it (a loan of the
//! publisher, a sample a subscriber received), by slot number, and how it shows in the
//! ledger.
//!
//! Both homes of this crate do the same bookkeeping: park the iceoryx2 object whose
//! memory a frame's `ExternalBuffer` points into under the buffer's index, take it back
//! when the frame's last handle drops, and list what is parked as ledger entries of kind
//! `frame` (pull model: nothing is registered per frame).

use std::time::{Duration, Instant};

use framekeep_core::ledger::{Kind, LiveEntry, ScopeId};

use crate::wire::monotonic_ns;

/// One parked item and what the ledger reports of it.
struct Slot<T> {
    item: T,
    id: u64,
    /// When it was parked, CLOCK_MONOTONIC ns (one clock read per frame; the ledger's
    /// `Instant` is derived from it when a report asks).
    since_ns: u64,
    scope: ScopeId,
    bytes: usize,
}

/// Items parked by slot number, reused.
pub(crate) struct Parked<T> {
    slots: Vec<Option<Slot<T>>>,
    free: Vec<usize>,
    held: usize,
    next_id: u64,
    /// The same moment as an `Instant` and as CLOCK_MONOTONIC ns.
    origin: (Instant, u64),
}

impl<T> Parked<T> {
    pub(crate) fn new() -> Parked<T> {
        Parked {
            slots: Vec::new(),
            free: Vec::new(),
            held: 0,
            next_id: 1,
            origin: (Instant::now(), monotonic_ns()),
        }
    }

    /// Parks `item` (`bytes` long, for the ledger) and returns its slot number and id;
    /// the ledger scope is the calling thread's.
    pub(crate) fn park(&mut self, item: T, bytes: usize) -> (usize, u64) {
        let id = self.next_id;
        self.next_id += 1;
        let slot = Some(Slot {
            item,
            id,
            since_ns: monotonic_ns(),
            scope: ScopeId::current(),
            bytes,
        });
        self.held += 1;
        let index = match self.free.pop() {
            Some(i) => {
                self.slots[i] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                self.slots.len() - 1
            }
        };
        (index, id)
    }

    /// Takes back the item of slot `index`, if one is parked there.
    pub(crate) fn take(&mut self, index: usize) -> Option<T> {
        let slot = self.slots.get_mut(index)?.take()?;
        self.held -= 1;
        self.free.push(index);
        Some(slot.item)
    }

    /// Items parked right now.
    pub(crate) fn held(&self) -> usize {
        self.held
    }

    /// When the oldest parked item was parked (CLOCK_MONOTONIC ns; 0 when none is).
    pub(crate) fn oldest_ns(&self) -> u64 {
        self.slots
            .iter()
            .flatten()
            .map(|s| s.since_ns)
            .min()
            .unwrap_or(0)
    }

    /// The first parked item (with its id) for which `matches` holds.
    pub(crate) fn find_mut(
        &mut self,
        mut matches: impl FnMut(&T) -> bool,
    ) -> Option<(&mut T, u64)> {
        self.slots
            .iter_mut()
            .flatten()
            .find(|s| matches(&s.item))
            .map(|s| (&mut s.item, s.id))
    }

    /// The ledger entries of what is parked (kind `frame`, named `name`); collected under
    /// the caller's lock, visited after it.
    pub(crate) fn entries(&self, name: &str) -> Vec<LiveEntry> {
        let (at, at_ns) = self.origin;
        self.slots
            .iter()
            .flatten()
            .map(|s| LiveEntry {
                kind: Kind::FRAME,
                name: name.to_string().into(),
                id: s.id,
                created_at: at + Duration::from_nanos(s.since_ns.saturating_sub(at_ns)),
                thread: None,
                scope: s.scope,
                epoch: 0,
                backtrace: None,
                bytes: Some(s.bytes),
                written_off: false,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_reused_and_reported() {
        let mut parked = Parked::new();
        let (a, id_a) = parked.park("a", 10);
        let (b, _) = parked.park("b", 20);
        assert_eq!((parked.held(), a, b), (2, 0, 1));
        assert!(parked.oldest_ns() > 0);
        let entries = parked.entries("cam");
        assert_eq!(entries.len(), 2);
        assert_eq!(
            (entries[0].name.as_ref(), entries[0].id, entries[0].bytes),
            ("cam", id_a, Some(10))
        );
        assert_eq!(parked.take(a), Some("a"));
        assert_eq!(parked.take(a), None, "taken once");
        assert_eq!(parked.find_mut(|s| *s == "b").map(|(s, _)| *s), Some("b"));
        let (c, id_c) = parked.park("c", 30);
        assert_eq!(c, a, "the free slot is reused");
        assert!(id_c > id_a, "ids are not reused");
        assert_eq!(parked.take(99), None);
    }
}
