//! Per-thread idle slots: where a release puts a buffer first, and where an
//! acquire looks first.
//!
//! A free list shared by every thread is one cache line (its head and tail)
//! that moves between cores on every acquire and every release; under
//! contention that transfer, not the work, is the cost of a pool. Most
//! threads that release a buffer acquire one again soon (a stage that takes
//! a frame, fills it and drops the one it read), so each thread gets a slot
//! of its own, on a cache line of its own, holding one idle buffer: the
//! buffer it released last. Its next acquire takes that buffer back without
//! touching anything another core writes, and the pixels are still in its
//! cache.
//!
//! A slot always holds the buffer its thread released last (a release that
//! finds the slot full moves the older buffer to the shared free list), and
//! an acquire that finds its own slot empty looks in the other threads'
//! slots before the free list. So in a pipeline, where one thread releases
//! (the sink) and another acquires (the source), the source gets the buffer
//! the sink has just finished with, whose pixels are still in the shared
//! cache, rather than the one idle longest: for frames of several megabytes
//! that is the difference between writing into cache and writing to memory.
//!
//! A slot is only a preference. Slots are indexed by a small per-thread
//! number, so two threads may share one (they just contend on it); a buffer
//! in a slot is still idle and any thread may take it ([`LocalSlots::steal`])
//! before the pool counts itself dry, waits, or grows. So nothing is hidden:
//! a thread that released and never acquires again (a display sink, say)
//! parks at most one buffer, which the others take, and a thread that exits
//! leaves its slot to be emptied the same way.

use std::ptr;
use std::sync::Arc;

use crossbeam_utils::CachePadded;

use super::lease::thread_tag;
use crate::sync::atomic::{AtomicPtr, Ordering};

/// Slots per pool: threads beyond this share slots (correct, just contended).
const SLOTS: usize = 16;

/// One idle buffer per thread (see the module docs); generic over the
/// buffer type only so that this module need not import the buffer's (which
/// refers to it).
pub(crate) struct LocalSlots<T> {
    /// Each holds null or a pointer from `Arc::into_raw` (one reference).
    slots: [CachePadded<AtomicPtr<T>>; SLOTS],
}

impl<T> LocalSlots<T> {
    pub(crate) fn new() -> LocalSlots<T> {
        LocalSlots {
            slots: std::array::from_fn(|_| CachePadded::new(AtomicPtr::new(ptr::null_mut()))),
        }
    }

    #[inline(always)]
    fn mine(&self) -> &AtomicPtr<T> {
        &self.slots[thread_tag() as usize % SLOTS]
    }

    /// The buffer in this thread's slot, if any.
    #[inline(always)]
    pub(crate) fn take_mine(&self) -> Option<Arc<T>> {
        let slot = self.mine();
        // A plain load first: a thread that never releases (a capture source)
        // finds its slot empty without a read-modify-write.
        if slot.load(Ordering::Relaxed).is_null() {
            return None;
        }
        take(slot)
    }

    /// Puts `buf` in this thread's slot; returns the buffer it displaced.
    ///
    /// SeqCst, with the loads of `closed` and `waiters` that follow it in
    /// `take_back` (the `buffer` module): either a concurrent close (or waiter) sees this
    /// buffer in the slot, or the release sees the close (or the waiter).
    #[inline(always)]
    pub(crate) fn put_mine(&self, buf: Arc<T>) -> Option<Arc<T>> {
        let raw = Arc::into_raw(buf).cast_mut();
        let older = self.mine().swap(raw, Ordering::SeqCst);
        if older.is_null() {
            return None;
        }
        // SAFETY: a non-null slot value came from `Arc::into_raw` here, and
        // the swap removed it from the slot, so this thread now owns that one
        // reference.
        Some(unsafe { Arc::from_raw(older) })
    }

    /// Any idle buffer parked in any thread's slot.
    pub(crate) fn steal(&self) -> Option<Arc<T>> {
        self.slots.iter().find_map(|slot| take(slot))
    }

    /// Buffers parked in slots now (a snapshot).
    pub(crate) fn len(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| !s.load(Ordering::Relaxed).is_null())
            .count()
    }
}

/// Empties `slot`, taking the reference it held.
#[inline]
fn take<T>(slot: &AtomicPtr<T>) -> Option<Arc<T>> {
    // SeqCst: pairs with `put_mine` (see there) for a close draining slots.
    let raw = slot.swap(ptr::null_mut(), Ordering::SeqCst);
    if raw.is_null() {
        return None;
    }
    // SAFETY: a non-null slot value came from `Arc::into_raw` in `put_mine`,
    // and the swap removed it from the slot, so this thread now owns that one
    // reference; the SeqCst swap synchronises with the exchange that stored it.
    Some(unsafe { Arc::from_raw(raw) })
}

impl<T> Drop for LocalSlots<T> {
    fn drop(&mut self) {
        while self.steal().is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Buffer, FrameLayout, Home, PixelFormat};

    fn buffer() -> Arc<Buffer> {
        let layout = FrameLayout::packed(PixelFormat::Gray8, 4, 4).unwrap();
        Arc::new(Buffer::heap(16, layout, Home::Orphan, 0, 0, false).unwrap())
    }

    #[test]
    fn a_slot_keeps_the_last_buffer_parked_and_gives_it_back() {
        let slots = LocalSlots::<Buffer>::new();
        assert!(slots.take_mine().is_none());
        let (a, b) = (buffer(), buffer());
        assert!(slots.put_mine(Arc::clone(&a)).is_none());
        let displaced = slots.put_mine(Arc::clone(&b)).expect("the older buffer");
        assert!(Arc::ptr_eq(&displaced, &a));
        assert_eq!(slots.len(), 1);
        assert!(Arc::ptr_eq(&slots.take_mine().unwrap(), &b));
        assert_eq!(slots.len(), 0);
    }

    #[test]
    fn other_threads_steal_parked_buffers_and_drop_frees_the_rest() {
        let slots = Arc::new(LocalSlots::<Buffer>::new());
        let a = buffer();
        let parker = Arc::clone(&slots);
        let parked = Arc::clone(&a);
        std::thread::spawn(move || assert!(parker.put_mine(parked).is_none()))
            .join()
            .unwrap();
        // Not this thread's slot (unless the tags collide), but stealable.
        let stolen = slots.steal().unwrap();
        assert!(Arc::ptr_eq(&stolen, &a));
        assert!(slots.steal().is_none());
        assert!(slots.put_mine(stolen).is_none());
        assert_eq!(Arc::strong_count(&a), 2);
        drop(slots);
        assert_eq!(
            Arc::strong_count(&a),
            1,
            "drop released the parked reference"
        );
    }
}
