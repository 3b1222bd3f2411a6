//! The buffer slot behind every frame: its memory, its handle count, its
//! lease record, and where it goes when the last handle drops.
//!
//! This module and `hazard` hold the only `unsafe` code of frames: this one
//! owns raw pixel memory (heap or external, e.g. a V4L2 mmap region) and
//! hands out slices under the rule that makes them sound: shared slices
//! while any handle may read, a mutable slice only to the one unique handle.
//!
//! A buffer is reused, not reallocated: a pool keeps `Arc<Buffer>`s in its
//! idle slots and free list and moves them into frames and back, so an
//! acquire/release round trip touches no shared reference count. Frame
//! handles count themselves in `handles`; the handle that brings it to zero
//! sends the `Arc` home.
//!
//! # Going home
//!
//! Frames know nothing of pools or drivers. Each buffer carries its [`Home`],
//! and [`send_home`] is the only place a released buffer changes owner:
//!
//! * no home ([`Home::Orphan`], a frame made from a `Vec` or a heap copy): the
//!   memory is freed;
//! * a [`Recycle`] home (a frame pool): the releasing thread pins the home
//!   (`hazard`) for the duration, parks the buffer on the home's
//!   [`ReturnPath`] itself (no dynamic call when that is all there is to
//!   do), hands it to the home otherwise, unpins, and only then drops what
//!   the home gave back to free: one of those buffers may hold the last
//!   reference to the home;
//! * an external home (a V4L2 stream, any owner of external memory: the
//!   public `BufferHome` of the `external` module): the buffer comes back
//!   as an `ExternalBuffer` through that trait.
//!
//! A copy-on-write copy ([`Frame::make_mut`](super::Frame::make_mut)) asks
//! the same home for a buffer to copy into ([`Recycle::copy_target`]), so a
//! pooled frame's copy stays in its pool.

use std::alloc::{self, Layout};
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::Arc;

use super::error::FrameError;
use super::hazard::Pinned;
use super::layout::FrameLayout;
use super::lease::LeaseCell;
use super::return_path::ReturnPath;
use crate::cancel::CancelToken;
use crate::sync::atomic::{fence, AtomicUsize, Ordering};

/// What owns the memory and frees it when the slot itself is dropped.
enum Memory {
    /// Allocated by framekeep (`alloc_zeroed` of `cap.max(1)` bytes; freed in `Drop`).
    Heap,
    /// Owned by someone else; the buffer's home keeps it valid.
    External,
}

/// One reusable block of pixel memory plus the bookkeeping of its checkout.
///
/// Laid out for the cache: the handle count and the lease fields that every
/// checkout writes share the first 64-byte line; the fields after them are
/// read-only once the buffer exists, so the cores a buffer travels between
/// keep them cached instead of invalidating them on every acquire.
#[repr(C, align(64))]
pub(crate) struct Buffer {
    /// Number of live [`super::Frame`] handles sharing this buffer.
    pub(crate) handles: AtomicUsize,
    pub(crate) lease: LeaseCell,
    ptr: NonNull<u8>,
    cap: usize,
    memory: Memory,
    /// False for memory others read too (a shared-memory sample): no handle
    /// ever gets `&mut` to it, a unique one included.
    pub(crate) writable: bool,
    pub(crate) home: Home,
    /// Index among the home's buffers (external buffers; pool slot number).
    pub(crate) index: usize,
    /// The pool generation this buffer was made for (see `FramePool::reconfigure`).
    pub(crate) generation: u64,
    /// The layout a frame gets when this buffer is checked out of a pool.
    pub(crate) layout: FrameLayout,
    /// Under loom: stands for the pixel memory, so that loom checks every
    /// shared and mutable access to it for a data race.
    #[cfg(loom)]
    pixels: loom::cell::UnsafeCell<()>,
}

// SAFETY: the memory behind `ptr` is only read through `&[u8]` while any handle
// exists, and written through `&mut [u8]` only by the single handle that holds
// `&mut Frame` after observing `handles == 1` (see `Frame::get_mut`). All other
// fields are atomics or immutable after construction; the home's `path`
// points at a `ReturnPath`, which is itself `Sync` (atomics, a lock-free
// queue, atomic slots) and lives as long as the home the buffer holds.
unsafe impl Send for Buffer {}
// SAFETY: as for `Send`: shared access never hands out a mutable alias.
unsafe impl Sync for Buffer {}

/// Page size, and the alignment of heap buffers of at least that size.
const PAGE: usize = 4096;

/// The allocation behind a heap buffer of `cap` bytes: at least one byte (so
/// that the pointer is a real allocation even for an empty buffer), aligned
/// to a page from a page up (a driver given the memory as `V4L2_MEMORY_USERPTR`
/// may require it, and rows then start on cache lines), to a cache line below.
fn heap_layout(cap: usize) -> Result<Layout, FrameError> {
    let align = if cap >= PAGE { PAGE } else { 64 };
    Layout::from_size_align(cap.max(1), align).map_err(|_| FrameError::OutOfMemory { bytes: cap })
}

impl Buffer {
    /// A new heap buffer of `cap` bytes, zeroed; optionally with every page touched
    /// now so that the first frame written into it takes no page faults.
    ///
    /// The allocation is fallible: a size the allocator refuses is
    /// [`FrameError::OutOfMemory`], never an abort.
    pub(crate) fn heap(
        cap: usize,
        layout: FrameLayout,
        home: Home,
        index: usize,
        generation: u64,
        prefault: bool,
    ) -> Result<Buffer, FrameError> {
        let alloc_layout = heap_layout(cap)?;
        // SAFETY: `alloc_layout` has a non-zero size (`cap.max(1)`).
        let raw = unsafe { alloc::alloc_zeroed(alloc_layout) };
        let ptr = NonNull::new(raw).ok_or(FrameError::OutOfMemory { bytes: cap })?;
        if prefault {
            let mut off = 0;
            while off < cap {
                // SAFETY: `off < cap <= allocation length`; nobody else can see the
                // buffer yet. A volatile write keeps the compiler from eliding it.
                unsafe { ptr.as_ptr().add(off).write_volatile(0) };
                off += PAGE;
            }
        }
        Ok(Buffer {
            ptr,
            cap,
            memory: Memory::Heap,
            writable: true,
            handles: AtomicUsize::new(0),
            home,
            index,
            generation,
            layout,
            lease: LeaseCell::default(),
            #[cfg(loom)]
            pixels: loom::cell::UnsafeCell::new(()),
        })
    }

    /// A slot over `len` bytes at `ptr` that the buffer does not own.
    ///
    /// # Safety
    /// `ptr..ptr+len` must stay valid for reads and writes until this buffer
    /// has been dropped, and nothing else may write to it while a frame over
    /// it is alive (see [`super::ExternalBuffer::new`]).
    pub(crate) unsafe fn external(
        ptr: *mut u8,
        len: usize,
        index: usize,
        home: Home,
        writable: bool,
    ) -> Buffer {
        let ptr = NonNull::new(ptr);
        Buffer {
            cap: if ptr.is_some() { len } else { 0 },
            ptr: ptr.unwrap_or(NonNull::dangling()),
            memory: Memory::External,
            writable,
            handles: AtomicUsize::new(0),
            home,
            index,
            generation: 0,
            layout: FrameLayout::mjpeg(0, 0, 0),
            lease: LeaseCell::default(),
            #[cfg(loom)]
            pixels: loom::cell::UnsafeCell::new(()),
        }
    }

    /// Capacity in bytes.
    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }

    /// The bytes `[offset, offset + len)`.
    ///
    /// # Panics
    /// If the range leaves the buffer. Frames only ask for ranges their
    /// (validated) layouts put inside it, so a panic here is a framekeep bug.
    #[inline]
    pub(crate) fn bytes(&self, offset: usize, len: usize) -> &[u8] {
        assert!(
            offset.checked_add(len).is_some_and(|end| end <= self.cap),
            "view outside buffer"
        );
        #[cfg(loom)]
        self.pixels.with(|_| ());
        // SAFETY: in bounds (asserted); no `&mut` alias exists while shared
        // handles read (invariant documented on `Send`/`Sync` above).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(offset), len) }
    }

    /// Mutable bytes; `unique` proves the caller is the only handle.
    ///
    /// # Panics
    /// As [`Buffer::bytes`].
    // `&self -> &mut`: the slot is shared by design (`Arc`); exclusivity comes
    // from the handle count, which `UniqueProof` attests.
    #[allow(clippy::mut_from_ref)]
    #[inline]
    pub(crate) fn bytes_mut(
        &self,
        offset: usize,
        len: usize,
        _unique: &mut UniqueProof,
    ) -> &mut [u8] {
        assert!(
            offset.checked_add(len).is_some_and(|end| end <= self.cap),
            "view outside buffer"
        );
        #[cfg(loom)]
        self.pixels.with_mut(|_| ());
        // SAFETY: in bounds (asserted); the caller holds `&mut Frame` and saw
        // `handles == 1` with Acquire ordering, so no other handle can read or
        // write these bytes for as long as the returned borrow lives.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(offset), len) }
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // The buffer's count on its home goes with it (see `sync`).
        crate::sync::count_given_back();
        if let Memory::Heap = self.memory {
            if let Ok(layout) = heap_layout(self.cap) {
                // SAFETY: `ptr` came from `alloc_zeroed` with exactly this layout in
                // `Buffer::heap` (the layout is a pure function of `cap`, which never
                // changes), and is freed only here.
                unsafe { alloc::dealloc(self.ptr.as_ptr(), layout) };
            }
        }
    }
}

/// One counted handle on a buffer: the reference count of frames.
///
/// Cloning adds a handle; dropping the last one sends the buffer home. The
/// handles together own one `Arc<Buffer>` each, so the `Arc` keeps the memory
/// alive while `handles` decides who returns it.
pub(crate) struct Handle(ManuallyDrop<Arc<Buffer>>);

impl Handle {
    /// Arms a buffer whose handle count is zero as the first handle.
    #[inline(always)]
    pub(crate) fn first(buf: Arc<Buffer>) -> Handle {
        buf.handles.store(1, Ordering::Relaxed);
        Handle(ManuallyDrop::new(buf))
    }

    /// Whether two handles share a buffer.
    pub(crate) fn same_buffer(&self, other: &Handle) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Takes the buffer out of the only handle on it, without sending it
    /// home: its handle count goes back to zero, ready to be armed again.
    pub(crate) fn into_buffer(self) -> Arc<Buffer> {
        debug_assert_eq!(self.0.handles.load(Ordering::Acquire), 1);
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped (ManuallyDrop), so the `Arc` is taken
        // exactly once, here.
        let buf = unsafe { ManuallyDrop::take(&mut this.0) };
        buf.handles.store(0, Ordering::Relaxed);
        buf
    }
}

impl std::ops::Deref for Handle {
    type Target = Buffer;
    fn deref(&self) -> &Buffer {
        &self.0
    }
}

impl Clone for Handle {
    fn clone(&self) -> Handle {
        // Relaxed suffices to add a handle, as for `Arc::clone`: the new handle
        // is made from an existing one, which keeps the count above zero.
        self.0.handles.fetch_add(1, Ordering::Relaxed);
        Handle(ManuallyDrop::new(Arc::clone(&self.0)))
    }
}

impl Drop for Handle {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the `Arc` is taken exactly once, here, and `self` is never used again.
        let buf = unsafe { ManuallyDrop::take(&mut self.0) };
        // The common case, a frame nobody cloned: if this is the only handle,
        // no other thread can add or drop one, so a plain store will do and the
        // release costs no read-modify-write. Acquire pairs with the Release
        // decrements of handles dropped earlier, as in `Arc::get_mut`.
        if buf.handles.load(Ordering::Acquire) == 1 {
            buf.handles.store(0, Ordering::Relaxed);
            send_home(buf);
        } else if buf.handles.fetch_sub(1, Ordering::Release) == 1 {
            // Synchronise with every other handle's Release decrement before the
            // buffer is reused (as `Arc`'s drop does before freeing).
            fence(Ordering::Acquire);
            send_home(buf);
        }
    }
}

/// A token only `Frame::get_mut` can make, after proving uniqueness.
pub(crate) struct UniqueProof(());

impl UniqueProof {
    /// Made by the frame handle once it has checked it is the only one.
    pub(crate) fn checked() -> UniqueProof {
        UniqueProof(())
    }
}

/// Where a buffer goes when the last frame handle on it drops.
pub(crate) enum Home {
    /// No owner: the memory is freed.
    Orphan,
    /// Back to an internal recycler (a frame pool), or freed if it is closed.
    /// Made by [`Home::recycler`] only.
    Recycler {
        home: Arc<dyn Recycle>,
        /// `home.return_path()`: valid while `home` is alive.
        path: NonNull<ReturnPath<Buffer>>,
    },
    /// Back to an external owner, such as a V4L2 stream that re-queues it
    /// (a public `BufferHome`, seen here through `ExternalHome`).
    External(Arc<dyn ExternalHome>),
}

impl Home {
    /// The home of a buffer that goes back to `home`.
    pub(crate) fn recycler(home: Arc<dyn Recycle>) -> Home {
        // A reference borrowed from `home` (see `Recycle::return_path`): it
        // stays valid for as long as `home` is alive.
        let path = NonNull::from(home.return_path());
        Home::Recycler { home, path }
    }
}

/// How long a copy target may be waited for.
#[derive(Clone, Copy)]
pub(crate) enum Wait<'a> {
    /// Not at all: a dry home is an error at once.
    No,
    /// Up to the home's own timeout, or until the token is cancelled.
    Until(&'a CancelToken),
}

/// What a recycler gave back to be freed once it is unpinned: only ever
/// freed (by `send_home`), which is the point.
///
/// A boxed slice: two words, returned in registers, empty (no allocation) in
/// the common case and then freed by one inlined test. A value returned
/// through memory cost the release a stall: on the short path the empty
/// value was copied from a constant right after the park's locked exchange.
#[must_use = "freed by `send_home` after unpinning the home"]
pub(crate) struct Leftovers(Box<[Arc<Buffer>]>);

impl Leftovers {
    /// Nothing to free.
    #[inline(always)]
    pub(crate) fn none() -> Leftovers {
        Leftovers(Box::default())
    }

    /// A buffer that found no room or must not be reused (`dead`), and idle
    /// buffers a close asked to free (`drained`).
    pub(crate) fn new(dead: Option<Arc<Buffer>>, mut drained: Vec<Arc<Buffer>>) -> Leftovers {
        drained.extend(dead);
        Leftovers(drained.into_boxed_slice())
    }

    /// Frees what is left; nothing to do, inline, when nothing is.
    #[inline(always)]
    fn free(self) {
        if !self.0.is_empty() {
            free_leftovers(self.0);
        } else {
            // An empty boxed slice owns no allocation.
            std::mem::forget(self);
        }
    }
}

/// The out-of-line half of [`Leftovers::free`].
#[cold]
#[inline(never)]
fn free_leftovers(buffers: Box<[Arc<Buffer>]>) {
    drop(buffers);
}

/// An internal owner that takes buffers back (a frame pool).
///
/// A release parks a buffer on the home's [`ReturnPath`] itself (see
/// [`send_home`]) and calls the home only for the rest.
///
/// Obligations of an implementation:
/// * its `Drop` calls [`super::hazard::wait_unpinned`] with its own address
///   before freeing anything, since a releasing thread may still be inside a
///   release through a pin;
/// * `recycle` and `settle` never drop a buffer themselves (one may hold the
///   last reference to `self`): they return it in the [`Leftovers`].
pub(crate) trait Recycle: Send + Sync + 'static {
    /// The path a release takes first; a part of `self`.
    fn return_path(&self) -> &ReturnPath<Buffer>;

    /// Takes back `buffer` (already checked in), whose last handle just
    /// dropped and which the short path could not park: hooks, backtraces,
    /// a buffer to free. The caller has pinned `self` and keeps it pinned
    /// until this returns.
    fn recycle(&self, buffer: Arc<Buffer>) -> Leftovers;

    /// Finishes a release the short path parked: wakes waiters, finishes a
    /// close that raced with it, and takes `overflow` (a buffer that found no
    /// room on the free list) to be freed. Pinned as for `recycle`.
    fn settle(&self, overflow: Option<Arc<Buffer>>) -> Leftovers;

    /// A buffer from this home that can hold `layout`, checked out (its
    /// lease recorded) with no handle yet, for a copy-on-write copy; waits
    /// for one only as `wait` allows.
    fn copy_target(&self, layout: FrameLayout, wait: Wait<'_>) -> Result<Arc<Buffer>, FrameError>;
}

impl ReturnPath<Buffer> {
    /// Whether `buf` counts among the home's buffers: of the current
    /// generation and not written off.
    #[inline(always)]
    pub(crate) fn counts(&self, buf: &Buffer) -> bool {
        buf.generation == self.generation.load(Ordering::Acquire)
            && !buf.lease.written_off.load(Ordering::Acquire)
    }
}

/// What the short way home did with a buffer.
enum Back {
    /// Parked, and nothing else to do.
    Parked,
    /// Parked; the home must finish (waiters, a close, or a buffer that
    /// found no room on the free list).
    Settle(Option<Arc<Buffer>>),
    /// Not for the short path: the home takes it.
    Slow(Arc<Buffer>),
}

/// The short way home (see `return_path`): checks the buffer in and parks it
/// when nothing else has to happen.
#[inline(always)]
fn take_back(path: &ReturnPath<Buffer>, buffer: Arc<Buffer>) -> Back {
    buffer.lease.check_in();
    if path.plain_release && path.counts(&buffer) && !path.closed.load(Ordering::Acquire) {
        let overflow = path.park(buffer);
        // SeqCst loads after the SeqCst put: see `LocalSlots::put_mine`.
        if overflow.is_none()
            && path.waiters.load(Ordering::SeqCst) == 0
            && !path.closed.load(Ordering::SeqCst)
        {
            return Back::Parked;
        }
        return Back::Settle(overflow);
    }
    Back::Slow(buffer)
}

/// An external owner as buffers see it: how a buffer goes back to it, and
/// where a copy of one of its frames goes. Implemented (in `external`) for
/// every public `BufferHome`, which works with frames and `ExternalBuffer`s
/// that this module does not know.
pub(crate) trait ExternalHome: Send + Sync + 'static {
    /// Takes back a buffer whose last handle dropped.
    fn give_back(&self, buffer: Arc<Buffer>);

    /// A unique, writable buffer of at least `bytes` bytes with no handle
    /// (its checkout, if pooled, still recorded), for a copy-on-write copy;
    /// `None`: copy to the heap.
    fn copy_target(&self, bytes: usize) -> Option<Arc<Buffer>>;
}

/// Sends a buffer whose handle count reached zero back to its home.
///
/// The home is reached through the buffer itself, never by cloning the
/// home's `Arc`: a shared reference count touched on every release is what
/// makes naive pools slow under contention.
#[inline]
pub(crate) fn send_home(buffer: Arc<Buffer>) {
    debug_assert_eq!(buffer.handles.load(Ordering::Relaxed), 0);
    if let Home::Recycler { home, path } = &buffer.home {
        let path = *path;
        let pinned = Pinned::new(home);
        // SAFETY: `path` is `home.return_path()` (`Home::recycler`), valid
        // while the home is alive; the pin keeps it alive until `pinned`
        // drops, after the last use of this reference.
        let back = take_back(unsafe { path.as_ref() }, buffer);
        let leftovers = match back {
            Back::Parked => Leftovers::none(),
            Back::Settle(overflow) => pinned.settle(overflow),
            Back::Slow(buffer) => pinned.recycle(buffer),
        };
        // Unpin first: a leftover may hold the last reference to the home.
        drop(pinned);
        leftovers.free();
        return;
    }
    send_home_elsewhere(buffer)
}

/// `send_home` for buffers without a recycler.
#[inline(never)]
fn send_home_elsewhere(buffer: Arc<Buffer>) {
    match &buffer.home {
        Home::Orphan | Home::Recycler { .. } => drop(buffer),
        Home::External(_) => {
            // Keep the buffer (and through it the home) alive while the home runs.
            let keep = Arc::clone(&buffer);
            if let Home::External(home) = &keep.home {
                home.give_back(buffer);
            }
        }
    }
}
