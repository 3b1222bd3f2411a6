//! The buffer slot behind every frame, and where it goes when the last handle drops.
//!
//! This is the only module of the frame code with `unsafe`: it owns raw pixel
//! memory (heap or external, e.g. a V4L2 mmap region) and hands out slices
//! under the rule that makes them sound: shared slices while any handle may
//! read, a mutable slice only to the one unique handle.
//!
//! A buffer is reused, not reallocated: the pool keeps `Arc<Buffer>`s in its
//! idle slots and free list and moves them into frames and back, so an acquire/release round
//! trip touches no shared reference count. Frame handles count themselves in
//! `handles`; the handle that brings it to zero sends the `Arc` home.

use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicUsize, Ordering};
use std::sync::Arc;

use super::FrameLayout;
use crate::pool::lease::LeaseCell;
use crate::pool::shared::PoolShared;

/// Where a buffer goes when the last frame handle on it drops.
pub(crate) enum Home {
    /// No pool: the memory is freed.
    Orphan,
    /// Back into a [`crate::pool::FramePool`] (or freed if the pool is closed).
    Pool(Arc<PoolShared>),
    /// Back to an external owner, such as a V4L2 stream that re-queues it.
    External(Arc<dyn BufferHome>),
}

/// What owns the memory and frees it when the slot itself is dropped.
enum Memory {
    /// Allocated by framekeep (`Box<[u8]>` turned raw; freed in `Drop`).
    Heap,
    /// Owned by someone else; the [`BufferHome`] keeps it valid.
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
    pub(crate) home: Home,
    /// Index among the home's buffers (external buffers; pool slot number).
    pub(crate) index: usize,
    /// The pool generation this buffer was made for (see `FramePool::reconfigure`).
    pub(crate) generation: u64,
    /// The layout a frame gets when this buffer is checked out of a pool.
    pub(crate) layout: FrameLayout,
}

// SAFETY: the memory behind `ptr` is only read through `&[u8]` while any handle
// exists, and written through `&mut [u8]` only by the single handle that holds
// `&mut Frame` after observing `handles == 1` (see `Frame::get_mut`). All other
// fields are atomics or immutable after construction.
unsafe impl Send for Buffer {}
// SAFETY: as for `Send`: shared access never hands out a mutable alias.
unsafe impl Sync for Buffer {}

impl Buffer {
    /// A new heap buffer of `cap` bytes, zeroed; optionally with every page touched
    /// now so that the first frame written into it takes no page faults.
    pub(crate) fn heap(
        cap: usize,
        layout: FrameLayout,
        home: Home,
        index: usize,
        generation: u64,
        prefault: bool,
    ) -> Buffer {
        let boxed: Box<[u8]> = vec![0u8; cap.max(1)].into_boxed_slice();
        let raw = Box::into_raw(boxed);
        // SAFETY: `Box::into_raw` never returns null.
        let ptr = unsafe { NonNull::new_unchecked(raw as *mut u8) };
        if prefault {
            const PAGE: usize = 4096;
            let mut off = 0;
            while off < cap {
                // SAFETY: `off < cap <= allocation length`; nobody else can see the
                // buffer yet. A volatile write keeps the compiler from eliding it.
                unsafe { ptr.as_ptr().add(off).write_volatile(0) };
                off += PAGE;
            }
        }
        Buffer {
            ptr,
            cap,
            memory: Memory::Heap,
            handles: AtomicUsize::new(0),
            home,
            index,
            generation,
            layout,
            lease: LeaseCell::default(),
        }
    }

    /// Capacity in bytes.
    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }

    /// The bytes `[offset, offset + len)`. The caller has checked the range.
    #[inline]
    pub(crate) fn bytes(&self, offset: usize, len: usize) -> &[u8] {
        assert!(
            offset.checked_add(len).is_some_and(|end| end <= self.cap),
            "view outside buffer"
        );
        // SAFETY: in bounds (asserted); no `&mut` alias exists while shared
        // handles read (invariant documented on `Send`/`Sync` above).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(offset), len) }
    }

    /// Mutable bytes; `unique` proves the caller is the only handle.
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
        // SAFETY: in bounds (asserted); the caller holds `&mut Frame` and saw
        // `handles == 1` with Acquire ordering, so no other handle can read or
        // write these bytes for as long as the returned borrow lives.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(offset), len) }
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

impl Drop for Buffer {
    fn drop(&mut self) {
        if let Memory::Heap = self.memory {
            let slice = std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.cap.max(1));
            // SAFETY: `ptr`/`cap` came from `Box::into_raw` of a `Box<[u8]>` of
            // exactly this length in `Buffer::heap`, and are freed only here.
            drop(unsafe { Box::from_raw(slice) });
        }
    }
}

/// The owner of external buffers (for example a V4L2 capture stream).
///
/// When the last frame handle on an [`ExternalBuffer`] drops, the buffer is
/// given back through [`BufferHome::recycle`]; the home then re-queues it to
/// the driver, or drops it. The home must keep the memory valid until every
/// `ExternalBuffer` it made has been dropped: each buffer holds an `Arc` to
/// its home, so keeping the mapping inside the home does exactly that.
pub trait BufferHome: Send + Sync + 'static {
    /// Takes back a buffer whose last frame handle has dropped.
    fn recycle(&self, buffer: ExternalBuffer);
}

/// A reusable slot over memory that framekeep does not own (e.g. a V4L2 mmap
/// buffer). Turn it into a [`super::Frame`] with [`ExternalBuffer::into_frame`];
/// it comes back to its [`BufferHome`] when that frame's last handle drops.
pub struct ExternalBuffer(pub(crate) Arc<Buffer>);

impl ExternalBuffer {
    /// Wraps `len` bytes at `ptr`, slot number `index` of `home`.
    ///
    /// # Safety
    /// `ptr..ptr+len` must stay valid for reads and writes until this buffer
    /// (and every frame made from it) has been dropped — the `home` is kept
    /// alive that long, so memory owned by the home qualifies — and nothing
    /// but framekeep may write to it while a frame over it is alive.
    pub unsafe fn new(
        ptr: *mut u8,
        len: usize,
        index: usize,
        home: Arc<dyn BufferHome>,
    ) -> ExternalBuffer {
        let ptr = NonNull::new(ptr).unwrap_or(NonNull::dangling());
        ExternalBuffer(Arc::new(Buffer {
            ptr,
            cap: if ptr == NonNull::dangling() { 0 } else { len },
            memory: Memory::External,
            handles: AtomicUsize::new(0),
            home: Home::External(home),
            index,
            generation: 0,
            layout: FrameLayout::mjpeg(0, 0, 0),
            lease: LeaseCell::default(),
        }))
    }

    /// The slot number given at creation.
    pub fn index(&self) -> usize {
        self.0.index
    }

    /// Capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.0.cap
    }

    /// The buffer's bytes (read-only: the home may look at a buffer it holds).
    pub fn bytes(&self) -> &[u8] {
        self.0.bytes(0, self.0.cap)
    }
}

impl std::fmt::Debug for ExternalBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalBuffer")
            .field("index", &self.0.index)
            .field("capacity", &self.0.cap)
            .finish()
    }
}

/// Sends a buffer whose handle count reached zero back to its home.
///
/// The home is reached through the buffer itself, never by cloning the
/// home's `Arc`: a shared reference count touched on every release is what
/// makes naive pools slow under contention.
#[inline]
pub(crate) fn send_home(buffer: Arc<Buffer>) {
    debug_assert_eq!(buffer.handles.load(Ordering::Relaxed), 0);
    match &buffer.home {
        Home::Pool(_) => PoolShared::recycle(buffer),
        _ => send_home_elsewhere(buffer),
    }
}

/// `send_home` for buffers without a pool.
#[inline(never)]
fn send_home_elsewhere(buffer: Arc<Buffer>) {
    match &buffer.home {
        Home::Orphan | Home::Pool(_) => drop(buffer),
        Home::External(_) => {
            // Keep the buffer (and through it the home) alive while the home runs.
            let keep = Arc::clone(&buffer);
            if let Home::External(home) = &keep.home {
                home.recycle(ExternalBuffer(buffer));
            }
        }
    }
}
