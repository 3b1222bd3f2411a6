//! Edges: every policy, drop accounting, close in both directions, cancel.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::select;
use framekeep_core::cancel::CancelToken;
use framekeep_core::frame::{FrameLayout, PixelFormat};
use framekeep_core::pipeline::{edge, Drops, Link, RecvError, SendError};
use framekeep_core::pool::{Exhausted, FramePool, PoolOptions};

fn pool(n: usize) -> FramePool {
    let layout = FrameLayout::packed(PixelFormat::Gray8, 8, 8).unwrap();
    PoolOptions::new(layout)
        .min_buffers(n)
        .max_buffers(n)
        .exhausted(Exhausted::FailFast)
        .build()
        .unwrap()
}

#[test]
fn block_keeps_everything_in_order() {
    let (tx, rx) = edge::<u32>("block", Link::block(2));
    let producer = thread::spawn(move || {
        for i in 0..100 {
            tx.send(i).unwrap();
        }
    });
    let got: Vec<u32> = (0..100)
        .map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap())
        .collect();
    producer.join().unwrap();
    assert_eq!(got, (0..100).collect::<Vec<_>>());
    assert_eq!(rx.recv(), Err(RecvError::Closed));
    let stats = rx.stats();
    assert_eq!(
        (stats.sent, stats.dropped.total(), stats.received),
        (100, 0, 100)
    );
}

#[test]
fn drop_newest_keeps_the_first_ones() {
    let (tx, rx) = edge::<u32>("dn", Link::drop_newest(3));
    for i in 0..5 {
        tx.send(i).unwrap();
    }
    // Refused when full: handed to the edge (sent) and dropped by its link.
    let stats = tx.stats();
    assert_eq!((stats.sent, stats.dropped.policy, stats.queued), (5, 2, 3));
    drop(tx);
    let got: Vec<u32> = std::iter::from_fn(|| rx.recv().ok()).collect();
    assert_eq!(got, vec![0, 1, 2]);
}

#[test]
fn drop_oldest_keeps_the_last_ones() {
    let (tx, rx) = edge::<u32>("do", Link::drop_oldest(3));
    for i in 0..10 {
        tx.send(i).unwrap();
    }
    assert_eq!(tx.stats().dropped.policy, 7);
    drop(tx);
    let got: Vec<u32> = std::iter::from_fn(|| rx.recv().ok()).collect();
    assert_eq!(got, vec![7, 8, 9]);
}

#[test]
fn latest_holds_one_and_replaces_it() {
    let (tx, rx) = edge::<u32>("latest", Link::latest());
    assert_eq!(tx.stats().link.capacity(), 1);
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    assert_eq!(rx.try_recv(), Ok(Some(2)));
    assert_eq!(rx.try_recv(), Ok(None));
    let stats = rx.stats();
    assert_eq!(
        (stats.sent, stats.received, stats.dropped.policy),
        (2, 1, 1)
    );
}

#[test]
fn zero_capacity_is_raised_to_one() {
    let (tx, rx) = edge::<u32>("zero", Link::drop_oldest(0));
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    assert_eq!(rx.try_recv(), Ok(Some(2)));
}

#[test]
fn dropped_frames_return_to_their_pool_at_once() {
    for link in [Link::drop_newest(1), Link::drop_oldest(1), Link::latest()] {
        let pool = pool(4);
        let (tx, rx) = edge("frames", link);
        for _ in 0..4 {
            tx.send(pool.try_acquire("edge-test").unwrap()).unwrap();
            // One frame queued at most: the others are already back.
            assert_eq!(pool.leases().len(), 1, "{link}");
        }
        assert_eq!(tx.stats().dropped.policy, 3);
        drop(rx);
        assert!(pool.wait_idle(Duration::from_secs(1)), "{link}");
    }
}

#[test]
fn last_receiver_gone_drops_the_queue_and_fails_sends() {
    let pool = pool(3);
    let (tx, rx) = edge("closing", Link::block(3));
    let rx2 = rx.clone();
    tx.send(pool.try_acquire("q").unwrap()).unwrap();
    tx.send(pool.try_acquire("q").unwrap()).unwrap();
    drop(rx);
    assert!(!tx.is_closed());
    drop(rx2);
    assert!(tx.is_closed());
    assert!(pool.wait_idle(Duration::from_secs(1)));
    let back = tx.send(pool.try_acquire("q").unwrap());
    assert!(matches!(back, Err(SendError::Closed(_))));
    drop(back);
    assert!(pool.wait_idle(Duration::from_secs(1)));
    // The two queued when the receivers went; the refused send handed nothing over.
    let stats = tx.stats();
    assert_eq!(
        (stats.sent, stats.dropped),
        (
            2,
            Drops {
                shutdown: 2,
                ..Drops::default()
            }
        )
    );
}

#[test]
fn blocked_sender_wakes_when_receivers_go() {
    let (tx, rx) = edge::<u32>("wake", Link::block(1));
    tx.send(0).unwrap();
    let probe = tx.clone();
    let sender = thread::spawn(move || tx.send(1).map_err(|e| e.into_inner()));
    thread::sleep(Duration::from_millis(20));
    drop(rx);
    let start = Instant::now();
    while !sender.is_finished() {
        assert!(start.elapsed() < Duration::from_secs(5), "sender hung");
        thread::sleep(Duration::from_millis(1));
    }
    // Either it was queued then discarded (a shutdown drop), or refused:
    // never delivered.
    let sent = sender.join().unwrap();
    let stats = probe.stats();
    match sent {
        Ok(()) => assert_eq!((stats.sent, stats.dropped.shutdown), (2, 2)),
        Err(item) => assert_eq!((item, stats.sent, stats.dropped.shutdown), (1, 1, 1)),
    }
    assert_eq!(stats.received, 0);
}

#[test]
fn blocked_send_ends_on_cancel_and_hands_the_item_back() {
    let (tx, _rx) = edge::<u32>("cancel", Link::block(1));
    tx.send(0).unwrap();
    let token = CancelToken::new();
    let t2 = token.clone();
    let canceller = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        t2.cancel();
    });
    let err = tx.send_cancellable(5, &token).unwrap_err();
    canceller.join().unwrap();
    assert!(err.is_cancelled());
    assert_eq!(err.into_inner(), 5);
}

#[test]
fn closing_the_sender_wakes_a_blocked_receiver_after_the_queue() {
    let (tx, rx) = edge::<u32>("close", Link::block(4));
    tx.send(1).unwrap();
    let token = CancelToken::new();
    let consumer = thread::spawn(move || {
        let mut got = vec![];
        loop {
            match rx.recv_cancellable(&token) {
                Ok(x) => got.push(x),
                Err(e) => return (got, e),
            }
        }
    });
    thread::sleep(Duration::from_millis(20));
    tx.send(2).unwrap();
    drop(tx);
    let (got, end) = consumer.join().unwrap();
    assert_eq!((got, end), (vec![1, 2], RecvError::Closed));
}

#[test]
fn receiver_selects_with_a_cancel_token() {
    let token = CancelToken::new();
    let (_tx, rx) = edge::<u32>("select", Link::latest());
    let cancelled = token.receiver();
    let t2 = token.clone();
    let canceller = thread::spawn(move || {
        thread::sleep(Duration::from_millis(10));
        t2.cancel();
    });
    let woke_by_cancel = select! {
        recv(rx.as_crossbeam()) -> _ => false,
        recv(cancelled) -> _ => true,
        default(Duration::from_secs(5)) => false,
    };
    canceller.join().unwrap();
    assert!(woke_by_cancel);
    assert_eq!(rx.recv_cancellable(&token), Err(RecvError::Cancelled));
}

#[test]
fn many_producers_drop_oldest_conserves_items() {
    let (tx, rx) = edge::<u64>("mp", Link::drop_oldest(4));
    let live = Arc::new(AtomicUsize::new(0));
    let producers: Vec<_> = (0..4)
        .map(|p| {
            let tx = tx.clone();
            thread::spawn(move || {
                for i in 0..1000 {
                    tx.send(p * 10_000 + i).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let l2 = live.clone();
    let consumer = thread::spawn(move || {
        while rx.recv_timeout(Duration::from_secs(5)).is_ok() {
            l2.fetch_add(1, Ordering::Relaxed);
        }
        rx.stats()
    });
    for p in producers {
        p.join().unwrap();
    }
    let stats = consumer.join().unwrap();
    assert_eq!(stats.sent, 4000);
    assert_eq!(stats.received + stats.dropped.total(), 4000);
    assert_eq!(live.load(Ordering::Relaxed) as u64, stats.received);
}
