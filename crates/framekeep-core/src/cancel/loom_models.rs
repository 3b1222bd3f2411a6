//! Loom model of the cancellation tree: a cancel racing a child's creation
//! and another child's drop (`--cfg loom`, see `scripts/loom.sh` and
//! SPEC.md, "How the concurrency is checked"). The tree's locks and condvar
//! are loom's (through `sync`), so loom also checks that no wait misses its
//! wake-up.

use std::sync::atomic::{AtomicUsize as Counter, Ordering as Order};
use std::sync::Arc;

use loom::thread;

use super::tree::Node;
use super::Cause;
use crate::sync::check;

/// Registers a callback on `node` that counts its runs.
fn count_cancels(node: &Node) -> Arc<Counter> {
    let runs = Arc::new(Counter::new(0));
    let counted = Arc::clone(&runs);
    let _key = node.register_callback(Box::new(move |_| {
        counted.fetch_add(1, Order::SeqCst);
    }));
    runs
}

/// Model 7: a root cancelled on one thread while the main thread creates a
/// child and drops another. Every child alive at the cancel sees it exactly
/// once (its callback runs once, it reads as cancelled once `cancel`
/// returned), a child created meanwhile is born cancelled or cancelled, and
/// once the children are dropped nothing of them remains: the root has no
/// registered child and no other reference.
#[test]
fn cancel_racing_child_creation_and_drop() {
    check("cancel tree: cancel vs child create/drop", None, || {
        let root = Node::root();
        let early = Node::child(&root, None);
        let early_runs = count_cancels(&early);
        let gone = Node::child(&root, None);
        let gone_runs = count_cancels(&gone);
        let canceller = {
            let root = Arc::clone(&root);
            thread::spawn(move || root.cancel(Cause::Shutdown))
        };
        let late = Node::child(&root, None);
        let late_runs = count_cancels(&late);
        let gone_ref = Arc::downgrade(&gone);
        drop(gone);
        canceller.join().unwrap();

        assert!(early.is_cancelled() && late.is_cancelled());
        assert_eq!(early_runs.load(Order::SeqCst), 1, "early child");
        assert_eq!(
            late_runs.load(Order::SeqCst),
            1,
            "child made during the cancel"
        );
        assert!(gone_runs.load(Order::SeqCst) <= 1, "dropped child");
        let (early_ref, late_ref) = (Arc::downgrade(&early), Arc::downgrade(&late));
        drop((early, late));
        for child in [gone_ref, early_ref, late_ref] {
            assert_eq!(child.strong_count(), 0, "a child node leaked");
        }
        assert_eq!(root.child_count(), 0, "a dead child is still registered");
        assert_eq!(Arc::strong_count(&root), 1, "a child still holds the root");
    });
}
