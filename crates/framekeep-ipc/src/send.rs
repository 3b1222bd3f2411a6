//! The one place a frame sample is sent: [`Sender`], shared by the publisher's copy path
//! and its loaned frames (which are sent from whatever thread drops their last handle),
//! and the [`BlockTable`] that decides, per subscriber, what a blocking service does with
//! a full queue.

use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use framekeep_core::pipeline::Link;
use iceoryx2::port::notifier::Notifier;
use iceoryx2::port::{BackpressureAction, BackpressureInfo};
use iceoryx2::prelude::{CallbackProgression, EventId, PortFactory};
use iceoryx2::sample_mut_uninit::SampleMutUninit;
use parking_lot::Mutex;

use crate::domain::Svc;
use crate::error::IpcError;
use crate::report::{Counter, Published, PublisherStats};
use crate::service::{Frames, EVENT_SENT};
use crate::wire::{monotonic_ns, FrameHeader, PageHeader};

/// A loaned, not yet sent frame sample.
pub(crate) type Loan = SampleMutUninit<Svc, [MaybeUninit<u8>], PageHeader>;

/// A publisher's running totals, added to from any thread.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) published: Counter,
    pub(crate) copied: Counter,
    pub(crate) zero_copy: Counter,
    pub(crate) delivered: Counter,
    pub(crate) blocked_sends: Counter,
    pub(crate) blocked_ns: Counter,
    pub(crate) send_errors: Counter,
    pub(crate) resizes: Counter,
    pub(crate) dead_nodes_cleaned: Counter,
}

/// Sends samples: the service's notifier, the send order, the totals.
pub(crate) struct Sender {
    pub(crate) service: String,
    /// The next publish sequence number; locked around each send so that the numbers go
    /// out in order (subscribers count gaps in them).
    next_seq: Mutex<u64>,
    notifier: Notifier<Svc>,
    pub(crate) counters: Counters,
    /// The per-subscriber decisions of a blocking service.
    pub(crate) table: Option<Arc<BlockTable>>,
    /// Set when the publisher is dropped: loaned frames published after that are
    /// dropped instead of sent.
    pub(crate) closed: AtomicBool,
}

impl Sender {
    pub(crate) fn new(
        service: &str,
        notifier: Notifier<Svc>,
        table: Option<Arc<BlockTable>>,
    ) -> Sender {
        Sender {
            service: service.to_string(),
            next_seq: Mutex::new(0),
            notifier,
            counters: Counters::default(),
            table,
            closed: AtomicBool::new(false),
        }
    }

    /// Sends `loan`, whose first `header.len` payload bytes the caller has written, with
    /// `header` (its send fields filled here), and wakes the subscribers.
    pub(crate) fn send(
        &self,
        mut loan: Loan,
        mut header: FrameHeader,
        zero_copy: bool,
    ) -> Result<Published, IpcError> {
        let sent = {
            let mut seq = self.next_seq.lock();
            header.publish_seq = *seq;
            header.published_ns = monotonic_ns();
            loan.user_header_mut().0 = header;
            // SAFETY: the payload is shared memory of the publisher's data segment, which
            // is always initialized memory (tmpfs pages are zero-filled when first touched
            // and then hold earlier samples' bytes); the caller wrote the frame's bytes
            // into it. iceoryx2 only calls it uninitialized because a loan's content is
            // unspecified.
            let sample = unsafe { loan.assume_init() };
            let sent = sample.send();
            if sent.is_ok() {
                *seq += 1;
            }
            sent
        };
        let blocked = self.table.as_ref().map_or(Duration::ZERO, |t| t.settle());
        let c = &self.counters;
        let delivered = match sent {
            Ok(n) => n,
            Err(e) => {
                c.send_errors.add(1);
                return Err(IpcError::iceoryx("send a sample", &self.service, e));
            }
        };
        c.published.add(1);
        c.delivered.add(delivered as u64);
        if zero_copy {
            c.zero_copy.add(1);
        } else {
            c.copied.add(1);
        }
        if !blocked.is_zero() {
            c.blocked_sends.add(1);
            c.blocked_ns.add(blocked.as_nanos() as u64);
        }
        // Wake the subscribers. A failed notification loses no data (they find the sample
        // at their next wake-up or liveness check); count it.
        if self
            .notifier
            .notify_with_custom_event_id(EventId::new(EVENT_SENT))
            .is_err()
        {
            c.send_errors.add(1);
        }
        Ok(Published {
            delivered: Some(delivered),
            zero_copy,
            blocked,
        })
    }

    /// The totals so far.
    pub(crate) fn stats(&self) -> PublisherStats {
        let c = &self.counters;
        PublisherStats {
            published: c.published.get(),
            copied: c.copied.get(),
            zero_copy: c.zero_copy.get(),
            delivered: c.delivered.get(),
            blocked_sends: c.blocked_sends.get(),
            blocked: Duration::from_nanos(c.blocked_ns.get()),
            discarded: self.table.as_ref().map_or(0, |t| t.discarded()),
            send_errors: c.send_errors.get(),
            resizes: c.resizes.get(),
            dead_nodes_cleaned: c.dead_nodes_cleaned.get(),
        }
    }
}

/// `name` as iceoryx2 names accept it: printable ASCII (anything else becomes `_`), at
/// most `max` bytes.
pub(crate) fn ascii_name(name: &str, max: usize) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .take(max)
        .collect()
}

/// Port names of framekeep subscribers: `fk1 <policy code> <depth> <name>`, at most 64
/// bytes (iceoryx2's limit). The publisher of a blocking service reads the policy from it.
pub(crate) fn port_name(link: Link, name: &str) -> String {
    let head = format!(
        "fk1 {} {} ",
        crate::delivery::code(link),
        crate::delivery::depth(link)
    );
    let name = ascii_name(name, 64 - head.len());
    head + &name
}

/// The policy and name in a framekeep subscriber's port name.
pub(crate) fn parse_port_name(port: &str) -> Option<(Link, String)> {
    let rest = port.strip_prefix("fk1 ")?;
    let mut parts = rest.splitn(3, ' ');
    let code = parts.next()?.parse().ok()?;
    let depth = parts.next()?.parse().ok()?;
    let name = parts.next().unwrap_or("").to_string();
    Some((crate::delivery::from_code(code, depth)?, name))
}

/// What a blocking service knows of one subscriber.
#[derive(Default, Clone, Copy)]
pub(crate) struct BlockEntry {
    /// `None` for a subscriber that is not a framekeep one: it is never waited for.
    pub(crate) link: Option<Link>,
    pub(crate) discarded: u64,
    pub(crate) blocked: Duration,
    /// How long the send under way has waited for it so far.
    waiting: Option<Duration>,
}

/// The per-subscriber decisions of a [`Delivery::Blocking`](crate::Delivery::Blocking)
/// service, called by iceoryx2 (from inside `send`) for each subscriber whose queue is
/// full: wait (`Retry`) for `block` subscribers up to `max_wait`, drop the sample for the
/// others.
pub(crate) struct BlockTable {
    frames: Arc<Frames>,
    max_wait: Duration,
    entries: Mutex<HashMap<u128, BlockEntry>>,
    /// Samples not delivered, over every subscriber there ever was.
    discarded: Counter,
    /// Set by the publisher's cancel token or its drop: stop waiting at once.
    pub(crate) cancelled: AtomicBool,
}

impl BlockTable {
    pub(crate) fn new(frames: Arc<Frames>, max_wait: Duration) -> BlockTable {
        BlockTable {
            frames,
            max_wait,
            entries: Mutex::new(HashMap::new()),
            discarded: Counter::default(),
            cancelled: AtomicBool::new(false),
        }
    }

    /// iceoryx2's back-pressure handler.
    pub(crate) fn decide(&self, info: &BackpressureInfo) -> BackpressureAction {
        let mut entries = self.entries.lock();
        if !entries.contains_key(&info.receiver_port_id) {
            self.refresh_locked(&mut entries);
        }
        let e = entries.entry(info.receiver_port_id).or_default();
        let waits = matches!(e.link, Some(Link::Block(_)));
        if waits {
            e.waiting = Some(info.elapsed_time);
        }
        if waits && info.elapsed_time < self.max_wait && !self.cancelled.load(Ordering::Relaxed) {
            BackpressureAction::Retry
        } else {
            e.discarded += 1;
            self.discarded.add(1);
            BackpressureAction::DiscardData
        }
    }

    /// After a send: adds what it waited to each subscriber's total; returns the longest
    /// wait of this send.
    pub(crate) fn settle(&self) -> Duration {
        let mut longest = Duration::ZERO;
        for e in self.entries.lock().values_mut() {
            if let Some(w) = e.waiting.take() {
                e.blocked += w;
                longest = longest.max(w);
            }
        }
        longest
    }

    /// Re-reads the subscribers from the service and forgets those that left.
    pub(crate) fn refresh(&self) {
        let mut entries = self.entries.lock();
        self.refresh_locked(&mut entries);
    }

    fn refresh_locked(&self, entries: &mut HashMap<u128, BlockEntry>) {
        let mut seen = Vec::new();
        self.frames.dynamic_config().list_subscribers(|d| {
            let id = d.subscriber_id.value();
            seen.push(id);
            let link = parse_port_name(d.subscriber_name.as_str()).map(|(link, _)| link);
            entries.entry(id).or_default().link = link;
            CallbackProgression::Continue
        });
        entries.retain(|id, _| seen.contains(id));
    }

    /// What the table knows of subscriber `id`.
    pub(crate) fn entry(&self, id: u128) -> Option<BlockEntry> {
        self.entries.lock().get(&id).copied()
    }

    /// Samples not delivered, over every subscriber there ever was.
    fn discarded(&self) -> u64 {
        self.discarded.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_names_carry_the_policy() {
        for link in [
            Link::Latest,
            Link::DropOldest(3),
            Link::Block(2),
            Link::DropNewest(5),
        ] {
            let name = port_name(link, "viewer one");
            assert_eq!(
                parse_port_name(&name),
                Some((link, "viewer one".to_string()))
            );
        }
        let long = port_name(Link::Latest, &"ü".repeat(60));
        assert!(long.len() <= 64);
        assert!(parse_port_name(&long).is_some());
        assert_eq!(parse_port_name("some raw port"), None);
    }
}
