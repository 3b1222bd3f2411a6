//! Loom models of the frame handle's reference count and of the lease
//! record's seqlock (`--cfg loom`, see `scripts/loom.sh` and SPEC.md, "How
//! the concurrency is checked"). Pixel accesses are visible to loom through
//! the buffer's `pixels` cell, so a write through a handle wrongly taken for
//! unique is a data race loom reports.

use std::sync::atomic::{AtomicUsize as Counter, Ordering as Order};
use std::sync::{Arc, Mutex};

use loom::thread;

use super::lease::{intern_label, LeaseCell};
use super::{BufferHome, ExternalBuffer, Frame, FrameLayout, FrameMeta, PixelFormat};
use crate::sync::check;

/// An external owner of one 2-byte buffer that counts the returns.
struct Home {
    memory: Mutex<Box<[u8]>>,
    returned: Counter,
}

impl BufferHome for Home {
    fn recycle(&self, buffer: ExternalBuffer) {
        self.returned.fetch_add(1, Order::SeqCst);
        drop(buffer);
    }
}

/// A zeroed frame over a buffer of a counting home.
fn frame() -> (Frame, Arc<Home>) {
    let home = Arc::new(Home {
        memory: Mutex::new(vec![0u8; 2].into_boxed_slice()),
        returned: Counter::new(0),
    });
    let ptr = home.memory.lock().unwrap().as_mut_ptr();
    // SAFETY: the home owns the memory and every buffer over it holds the home.
    let buffer = unsafe { ExternalBuffer::new(ptr, 2, 0, home.clone()) };
    let layout = FrameLayout::packed(PixelFormat::Gray8, 2, 1).expect("layout");
    let frame = buffer
        .into_frame(layout, FrameMeta::default())
        .expect("fits");
    (frame, home)
}

/// Model 4a: clones made and dropped on another thread racing `get_mut`.
/// `get_mut` succeeds only when no other handle can read, so the write never
/// races a read and a reader never sees it; the buffer goes home once.
#[test]
fn clone_and_drop_racing_get_mut() {
    check("frame: clone/drop vs get_mut", None, || {
        let (mut a, home) = frame();
        let b = a.clone();
        let t = thread::spawn(move || {
            let c = b.clone();
            drop(b);
            assert_eq!(c.data()[0], 0, "a reader saw a write");
            drop(c);
        });
        if let Some(pixels) = a.get_mut() {
            pixels[0] = 1;
        }
        t.join().unwrap();
        a.get_mut().expect("unique once every clone is gone")[1] = 2;
        drop(a);
        assert_eq!(home.returned.load(Order::SeqCst), 1, "returned home once");
    });
}

/// Model 4b: `make_mut` racing the drop of the other handle: it writes in
/// place only when unique, else into a copy; the other handle never sees the
/// write, and the buffer goes home exactly once.
#[test]
fn make_mut_racing_drop() {
    check("frame: make_mut vs drop", None, || {
        let (mut a, home) = frame();
        let b = a.clone();
        let t = thread::spawn(move || {
            assert_eq!(b.data()[0], 0, "a reader saw a write");
            drop(b);
        });
        a.make_mut().expect("a copy or in place")[0] = 1;
        t.join().unwrap();
        assert_eq!(a.data()[0], 1);
        drop(a);
        assert_eq!(home.returned.load(Order::SeqCst), 1, "returned home once");
    });
}

/// The two labels (statics: one address each, as the label table keys them).
static ONE: &str = "one";
static TWO: &str = "two";

/// Model 5: a reader's snapshot of a lease racing its check-in and the next
/// checkout: it is either nothing or one whole checkout's record (label,
/// epoch and id of the same checkout), never a mix.
#[test]
fn lease_snapshot_is_never_torn() {
    check("lease: seqlock snapshot", None, || {
        intern_label(ONE);
        intern_label(TWO);
        let cell = Arc::new(LeaseCell::default());
        let writer = {
            let cell = Arc::clone(&cell);
            thread::spawn(move || {
                let first = cell.check_out(0, ONE, 1, false);
                cell.check_in();
                let second = cell.check_out(0, TWO, 2, false);
                (first, second)
            })
        };
        let seen = cell.snapshot(2);
        let (first, second) = writer.join().unwrap();
        if let Some(entry) = seen {
            let whole = (entry.name == "one" && entry.epoch == 1 && entry.id == first)
                || (entry.name == "two" && entry.epoch == 2 && entry.id == second);
            assert!(
                whole,
                "torn lease record: {} epoch {} id {:#x}",
                entry.name, entry.epoch, entry.id
            );
        }
    });
}
