//! Buffer memory: kernel mmap regions, user memory lent to the driver
//! (`V4L2_MEMORY_USERPTR`, [`UserBuffer`]), and the fake driver's heap regions (feature
//! `testing`, and this crate's unit tests).
//!
//! A [`Mapping`] is one V4L2 buffer's memory as the process sees it. The capture stream's
//! shared state owns every mapping, and every `ExternalBuffer` handed to framekeep-core keeps
//! that shared state alive, so a mapping is unmapped only after the last frame that points
//! into it is gone — even when the stream itself was dropped first.

use std::ptr::NonNull;
#[cfg(any(test, feature = "testing"))]
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use framekeep_core::frame::{BufferHome, ExternalBuffer};

/// The memory of one driver buffer: its first memory plane, plus the further planes of a
/// multi-planar buffer (NV12M: the UV plane), each mapped on its own.
///
/// A [`CaptureDevice`](crate::CaptureDevice) hands them out from `request_buffers`; only
/// this crate's drivers can make one.
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    backing: Backing,
    /// Memory planes 1.. of a multi-planar buffer.
    later: Vec<Mapping>,
}

enum Backing {
    /// `mmap(2)`ed from a V4L2 device; unmapped on drop.
    Mmap,
    /// Heap memory shared with the fake driver (`testing::FakeDevice`).
    #[cfg(any(test, feature = "testing"))]
    Heap(#[allow(dead_code)] Arc<HeapRegion>),
}

// SAFETY: a Mapping is a raw region with no thread affinity; all access to its bytes goes
// through the buffer-ownership protocol (driver-owned while queued, reader-only while a
// frame holds it), which is what makes concurrent use sound, not the pointer type.
unsafe impl Send for Mapping {}
// SAFETY: see Send; `&Mapping` only exposes the address and length.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Wraps a region returned by `mmap(2)`.
    ///
    /// # Safety
    /// `ptr` must be the start of a live `len`-byte shared mapping that nothing else unmaps.
    pub(crate) unsafe fn from_mmap(ptr: NonNull<u8>, len: usize) -> Mapping {
        Mapping {
            ptr,
            len,
            backing: Backing::Mmap,
            later: Vec::new(),
        }
    }

    /// This mapping as plane 0 of a multi-planar buffer whose planes 1.. are `later`.
    pub(crate) fn with_planes(mut self, later: Vec<Mapping>) -> Mapping {
        self.later = later;
        self
    }

    /// A heap region for the fake driver, plus the handle the fake writes through.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn heap(len: usize) -> (Mapping, Arc<HeapRegion>) {
        let region = Arc::new(HeapRegion::new(len));
        let mapping = Mapping {
            ptr: region.ptr,
            len,
            backing: Backing::Heap(region.clone()),
            later: Vec::new(),
        };
        (mapping, region)
    }

    /// A heap buffer of one region per memory plane (`lens`, at least one), plus the
    /// handles the fake writes through.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn heap_planes(lens: &[usize]) -> (Mapping, Vec<Arc<HeapRegion>>) {
        let mut parts: Vec<(Mapping, Arc<HeapRegion>)> =
            lens.iter().map(|&len| Mapping::heap(len)).collect();
        if parts.is_empty() {
            parts.push(Mapping::heap(0));
        }
        let regions = parts.iter().map(|(_, r)| Arc::clone(r)).collect();
        let mut maps = parts.into_iter().map(|(m, _)| m);
        let first = maps.next().map(|m| m.with_planes(maps.collect()));
        (first.unwrap_or_else(|| Mapping::heap(0).0), regions)
    }

    /// Number of memory planes (1 unless the buffer is multi-planar).
    pub fn planes(&self) -> usize {
        1 + self.later.len()
    }

    /// Length in bytes of memory plane `plane` (None past the last plane).
    pub fn plane_len(&self, plane: usize) -> Option<usize> {
        self.plane(plane).map(|m| m.len)
    }

    fn plane(&self, plane: usize) -> Option<&Mapping> {
        match plane {
            0 => Some(self),
            n => self.later.get(n - 1),
        }
    }

    /// The bytes of memory plane `plane`, to copy a dequeued buffer out.
    ///
    /// The caller (the capture stream) guarantees the driver does not own the buffer while
    /// the slice lives: it calls this only between `DQBUF` and the re-queue of the buffer.
    pub(crate) fn plane_bytes(&self, plane: usize) -> Option<&[u8]> {
        let m = self.plane(plane)?;
        // SAFETY: `ptr..ptr+len` is live for as long as `self` (mmap'ed or heap memory
        // released only in Drop), and the caller holds the buffer out of the driver, so
        // nothing writes to it while the returned borrow of `self` lives.
        Some(unsafe { std::slice::from_raw_parts(m.ptr.as_ptr(), m.len) })
    }

    /// Length of the buffer in bytes (the driver's `length`, not a frame's `bytesused`).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a zero-length buffer.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Wraps this buffer's memory (plane 0) from byte `offset` on as a framekeep
    /// [`ExternalBuffer`] whose last drop hands it to `home`; None when `offset` is past
    /// the end.
    ///
    /// The caller (the capture stream) guarantees `home` owns this mapping, so the memory
    /// outlives the returned buffer, and that the driver does not own the buffer right now.
    pub(crate) fn external<H: BufferHome>(
        &self,
        index: usize,
        offset: usize,
        home: Arc<H>,
    ) -> Option<ExternalBuffer> {
        let len = self.len.checked_sub(offset)?;
        // SAFETY: `offset <= len`, so the pointer stays inside (or one past) the mapping.
        let ptr = unsafe { self.ptr.as_ptr().add(offset) };
        // SAFETY: `home` (the stream's shared state) owns this Mapping and is kept alive by
        // the ExternalBuffer itself, so `ptr..ptr+len` (inside the mapping) stays mapped
        // until the buffer and every frame made from it are dropped; the stream only calls
        // this for a buffer the driver does not own (before the first QBUF, or just
        // dequeued), so the driver does not write to it until `home.recycle` queues it.
        Some(unsafe { ExternalBuffer::new(ptr, len, index, home) })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        match self.backing {
            Backing::Mmap => {
                // SAFETY: `ptr`/`len` came from a successful mmap (see `from_mmap`) and this
                // is the only place that unmaps it; no frame can point into it any more
                // because frames keep the owner of this Mapping alive.
                let rc = unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
                if rc != 0 {
                    tracing::warn!("munmap failed: {}", std::io::Error::last_os_error());
                }
            }
            // The region frees itself when its last `Arc` goes.
            #[cfg(any(test, feature = "testing"))]
            Backing::Heap(_) => {}
        }
    }
}

/// Memory the application lends the driver for one capture (`V4L2_MEMORY_USERPTR`): the
/// address and length a `VIDIOC_QBUF` passes in `m.userptr` (`planes[0].m.userptr` on a
/// multi-planar node).
///
/// Only the capture stream makes one, from a supplier frame it holds uniquely in the slot
/// of the buffer index it queues (see [`CaptureBuffers`](crate::CaptureBuffers)), and it
/// keeps that frame untouched until the driver gives the buffer back (`VIDIOC_DQBUF`, or
/// `VIDIOC_STREAMOFF`); a [`CaptureDevice`](crate::CaptureDevice) may write into it only
/// between [`queue_user`](crate::CaptureDevice::queue_user) and the matching dequeue or
/// stream-off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserBuffer {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a UserBuffer is an address and a length; the memory behind it is written only by
// the driver while the buffer is queued (see the type's rules), never through this value
// by safe code.
unsafe impl Send for UserBuffer {}
// SAFETY: as for Send: `&UserBuffer` exposes the address and the length only.
unsafe impl Sync for UserBuffer {}

impl UserBuffer {
    /// The buffer of `len` bytes at `ptr`.
    ///
    /// # Safety
    /// `ptr..ptr+len` must be valid for writes, and must neither be freed nor read or
    /// written by anyone else, from the `VIDIOC_QBUF` that passes it until the driver gives
    /// the buffer back (`VIDIOC_DQBUF`, `VIDIOC_STREAMOFF`, or the device's close).
    pub(crate) unsafe fn new(ptr: NonNull<u8>, len: usize) -> UserBuffer {
        UserBuffer { ptr, len }
    }

    /// The address of the first byte (what `m.userptr` carries).
    pub fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// Length in bytes (what `length` carries).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a zero-length buffer.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The fake driver writes a queued buffer through this.
    ///
    /// # Safety
    /// The buffer must be queued to the caller (between its `queue_user` and the matching
    /// dequeue or stream-off), so that the rules of [`UserBuffer::new`] make the memory the
    /// caller's alone for the call.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) unsafe fn fill_queued(&self, f: impl FnOnce(&mut [u8])) {
        // SAFETY: the caller holds the buffer queued, so by `new`'s contract the memory is
        // valid for writes and nobody else touches it during the call.
        let bytes = unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) };
        f(bytes);
    }
}

/// Heap memory standing in for a driver buffer in the fake driver (`testing::FakeDevice`).
///
/// Writes are allowed only while the fake driver owns the buffer (between its `queue` and
/// `dequeue`), mirroring the kernel's rule, and the flag below enforces it.
#[cfg(any(test, feature = "testing"))]
pub(crate) struct HeapRegion {
    ptr: NonNull<u8>,
    len: usize,
    driver_owned: AtomicBool,
}

// SAFETY: the region is plain heap memory; writes are gated by `driver_owned` (see `fill`).
#[cfg(any(test, feature = "testing"))]
unsafe impl Send for HeapRegion {}
// SAFETY: as above.
#[cfg(any(test, feature = "testing"))]
unsafe impl Sync for HeapRegion {}

#[cfg(any(test, feature = "testing"))]
impl HeapRegion {
    fn new(len: usize) -> HeapRegion {
        let boxed: Box<[u8]> = vec![0u8; len.max(1)].into_boxed_slice();
        let ptr = NonNull::new(Box::into_raw(boxed).cast::<u8>()).unwrap_or(NonNull::dangling());
        HeapRegion {
            ptr,
            len,
            driver_owned: AtomicBool::new(false),
        }
    }

    /// Marks the buffer as owned by the fake driver (it was queued).
    pub(crate) fn give_to_driver(&self) {
        self.driver_owned.store(true, Ordering::Release);
    }

    /// Marks the buffer as owned by the application (it was dequeued).
    pub(crate) fn take_from_driver(&self) {
        self.driver_owned.store(false, Ordering::Release);
    }

    /// Lets the fake driver write into the buffer; returns false (and does nothing) when the
    /// application owns it.
    pub(crate) fn fill(&self, f: impl FnOnce(&mut [u8])) -> bool {
        if !self.driver_owned.load(Ordering::Acquire) {
            return false;
        }
        // SAFETY: the buffer is queued to the fake driver, so no frame reads it (frames are
        // only made from dequeued buffers) and only the fake driver, which serialises its
        // calls behind its own mutex, writes to it; ptr/len describe our live allocation.
        let bytes = unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) };
        f(bytes);
        true
    }
}

#[cfg(any(test, feature = "testing"))]
impl Drop for HeapRegion {
    fn drop(&mut self) {
        let len = self.len.max(1);
        // SAFETY: ptr/len are exactly what Box::into_raw produced in `new`, and Drop runs
        // once, after every Mapping (which holds an Arc to us) is gone.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), len)) });
    }
}
