//! The short way home for a pooled buffer: the part of a pool that a release
//! needs, kept beside the buffer.
//!
//! Why it is here and not in the pool: frames must not know pools (a buffer
//! reaches its pool only through the [`Recycle`](super::buffer::Recycle)
//! trait), but a call through that trait object on every release is an
//! indirect call and a second function frame on the hottest path there is.
//! So the state a common release touches (this thread's idle slot, the shared
//! free list, and the flags that say whether anything else must happen) lives
//! in this frame-side type, which the pool embeds in its shared state and
//! which every pooled buffer points at beside its home. `send_home` (in
//! `buffer`) parks a buffer here with no dynamic dispatch and calls the pool
//! only when there is more to do: hooks or backtraces, waiters to wake, a
//! close to finish, a free list that is full.
//!
//! Generic over the buffer type only so that this module does not import the
//! `buffer` module, which refers to it.

use std::sync::Arc;

use super::local_slots::LocalSlots;
use crate::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use crate::sync::ArrayQueue;

/// Where idle buffers wait, and what a release must check (see the module docs).
pub(crate) struct ReturnPath<T> {
    /// Idle buffers parked per thread: where a release puts a buffer first
    /// and an acquire looks first.
    pub(crate) local: LocalSlots<T>,
    /// The shared free list: buffers displaced from a slot, and the ones
    /// made in advance.
    pub(crate) idle: ArrayQueue<Arc<T>>,
    /// Set once, by the pool's close: releases then free what they bring.
    pub(crate) closed: AtomicBool,
    /// The generation a buffer must have to be reused (a reconfigure moves it on).
    pub(crate) generation: AtomicU64,
    /// Threads blocked in an acquire, for a release to wake.
    pub(crate) waiters: AtomicUsize,
    /// No `after_release` hook and no backtraces to clear: a release may
    /// park its buffer without the pool.
    pub(crate) plain_release: bool,
}

impl<T> ReturnPath<T> {
    /// An open path with room for `capacity` buffers on the free list.
    pub(crate) fn new(capacity: usize, plain_release: bool) -> ReturnPath<T> {
        ReturnPath {
            local: LocalSlots::new(),
            idle: ArrayQueue::new(capacity.max(1)),
            closed: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            waiters: AtomicUsize::new(0),
            plain_release,
        }
    }

    /// Keeps an idle buffer: in this thread's slot, and the buffer that
    /// displaces on the free list. Returns a buffer that found no room there,
    /// for the pool to retire and free.
    #[inline(always)]
    pub(crate) fn park(&self, buffer: Arc<T>) -> Option<Arc<T>> {
        let older = self.local.put_mine(buffer)?;
        self.idle.push(older).err()
    }
}
