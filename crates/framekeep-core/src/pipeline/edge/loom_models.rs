//! Loom model of an edge's hand-over: a send racing the drop of the last
//! receiver (`--cfg loom`, see `scripts/loom.sh` and SPEC.md, "How the
//! concurrency is checked").
//!
//! The edge is the real one over a real crossbeam channel. Loom cannot see
//! into the channel: each channel operation is one linearizable step to it,
//! preceded by a scheduling point (`sync::opaque_op`). What loom checks is
//! framekeep's own protocol around the channel: the counters, `rx_closed`,
//! the receiver's drain and the sender's re-check after it queued. Only
//! non-blocking operations are modelled (a blocking crossbeam operation would
//! block loom's one OS thread).

use std::sync::atomic::{AtomicUsize as Counter, Ordering as Order};
use std::sync::Arc;

use loom::thread;

use super::{edge, Link, SendError};
use crate::sync::check;

/// An item that counts its drops (a pooled frame going home).
struct Item(Arc<Counter>);

impl Drop for Item {
    fn drop(&mut self) {
        self.0.fetch_add(1, Order::SeqCst);
    }
}

/// Model 8: one send racing the drop of the last receiver, for each kind of
/// link. Once both are over, while the sender still exists, the item has
/// been dropped exactly once (delivered to nobody: the receiver never reads)
/// whether it was queued and drained by the receiver, drained by the
/// sender's re-check, or handed back in the error; and the counters balance
/// (`sent = received + dropped + queued`, nothing queued).
#[test]
fn send_racing_receiver_drop() {
    for link in [Link::block(1), Link::drop_oldest(1)] {
        check(
            &format!("edge: send vs receiver drop ({link})"),
            None,
            move || {
                let drops = Arc::new(Counter::new(0));
                let (tx, rx) = edge::<Item>("loom", link);
                let sender = {
                    let drops = Arc::clone(&drops);
                    thread::spawn(move || {
                        let refused = match tx.send(Item(drops)) {
                            Ok(()) => false,
                            Err(SendError::Closed(item)) => {
                                drop(item);
                                true
                            }
                            Err(_) => unreachable!("no token, no cancel"),
                        };
                        (tx, refused)
                    })
                };
                drop(rx);
                let (tx, refused) = sender.join().unwrap();
                assert_eq!(drops.load(Order::SeqCst), 1, "the item is lost or doubled");
                let stats = tx.stats();
                assert_eq!(stats.queued, 0, "an item is stuck in a dead edge");
                assert_eq!(stats.sent, u64::from(!refused));
                assert_eq!(
                    stats.sent,
                    stats.received + stats.dropped.total() + stats.queued as u64
                );
            },
        );
    }
}
