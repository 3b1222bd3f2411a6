//! What publishers and subscribers report: per-send results, running totals, and the
//! publisher's view of its subscribers.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use framekeep_core::pipeline::Link;

/// The outcome of one [`Publisher::publish`](crate::Publisher::publish).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// Subscribers the sample reached (an overflowing delivery counts), or `None` for a
    /// loaned frame, which is sent later, when its last handle drops.
    pub delivered: Option<usize>,
    /// Whether the frame went out without a copy (a loaned frame).
    pub zero_copy: bool,
    /// How long the send waited for `block` subscribers ([`Delivery::Blocking`](crate::Delivery::Blocking)).
    pub blocked: Duration,
}

/// A publisher's running totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublisherStats {
    /// Samples sent.
    pub published: u64,
    /// Frames copied into a sample (the frame was not a loan of this publisher).
    pub copied: u64,
    /// Loaned frames sent without a copy.
    pub zero_copy: u64,
    /// Deliveries: the sum over samples of the subscribers each reached.
    pub delivered: u64,
    /// Sends that waited for a `block` subscriber.
    pub blocked_sends: u64,
    /// Time spent waiting for `block` subscribers.
    pub blocked: Duration,
    /// Samples a blocking service did not deliver to a subscriber (a `drop-newest`
    /// subscriber's full queue, or a `block` subscriber that did not make room within
    /// `max_wait`).
    pub discarded: u64,
    /// Sends or loan sends that failed.
    pub send_errors: u64,
    /// Times the shared-memory segment was replaced for larger frames.
    pub resizes: u64,
    /// Crashed processes of this domain whose resources this publisher cleaned up.
    pub dead_nodes_cleaned: u64,
}

impl fmt::Display for PublisherStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "published {} ({} copied, {} zero-copy), delivered {}, blocked {} sends for {:?}, discarded {}, send errors {}",
            self.published,
            self.copied,
            self.zero_copy,
            self.delivered,
            self.blocked_sends,
            self.blocked,
            self.discarded,
            self.send_errors
        )
    }
}

/// One subscriber as its publisher sees it ([`Publisher::subscribers`](crate::Publisher::subscribers)),
/// like a pool's lease report: what it holds and for how long.
///
/// `held`, `oldest_held`, `received` and `dropped` come from the subscriber's own last
/// report (it reports whenever it receives or releases a sample); `reported` says how old
/// that report is. A subscriber that is not a framekeep one (a raw iceoryx2 port) has no
/// report: `policy` is `None` and the counts are 0.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriberReport {
    /// Its name ([`SubscriberOptions::name`](crate::SubscriberOptions::name)).
    pub name: String,
    /// Its process id, once it has reported.
    pub pid: Option<u32>,
    /// Its back-pressure policy.
    pub policy: Option<Link>,
    /// Samples it holds (frames received and not yet dropped).
    pub held: usize,
    /// How long it has held its oldest sample.
    pub oldest_held: Option<Duration>,
    /// Frames it received.
    pub received: u64,
    /// Samples it lost (gaps in what it received).
    pub dropped: u64,
    /// Samples this publisher did not deliver to it (blocking services only).
    pub discarded: u64,
    /// How long this publisher waited for it (blocking services, `block` subscribers).
    pub blocked: Duration,
    /// Age of its last report.
    pub reported: Option<Duration>,
}

impl fmt::Display for SubscriberReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name)?;
        if let Some(pid) = self.pid {
            write!(f, " (pid {pid})")?;
        }
        if let Some(policy) = self.policy {
            write!(f, " {policy}")?;
        }
        write!(f, ": holds {}", self.held)?;
        if let Some(age) = self.oldest_held {
            write!(f, " (oldest {:.1} ms)", age.as_secs_f64() * 1e3)?;
        }
        write!(f, ", received {}, dropped {}", self.received, self.dropped)?;
        if self.discarded > 0 || !self.blocked.is_zero() {
            write!(
                f,
                ", discarded {}, waited for {:?}",
                self.discarded, self.blocked
            )?;
        }
        Ok(())
    }
}

/// A subscriber's running totals ([`Subscriber::stats`](crate::Subscriber::stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubscriberStats {
    /// Frames received.
    pub received: u64,
    /// Samples lost: gaps in the publisher's send count (overwritten in a full `latest` or
    /// `drop-oldest` queue, or not delivered by a blocking service).
    pub dropped: u64,
    /// Samples held right now.
    pub held: usize,
    /// Publisher ports seen: a restarted publisher counts again, and so does one that
    /// replaced its port for larger frames.
    pub publishers: u64,
    /// Times the publisher went away (closed or crashed).
    pub publishers_gone: u64,
    /// Samples dropped because their header was invalid.
    pub bad_headers: u64,
}

/// Where a received frame came from ([`Subscriber::last_info`](crate::Subscriber::last_info)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    /// The publisher's id of the frame (its pool lease id or loan id; 0 if it had none).
    pub frame_id: u64,
    /// The publisher's count of samples sent before this one.
    pub publish_seq: u64,
    /// When the publisher sent it (CLOCK_MONOTONIC, like frame timestamps).
    pub published_at: Duration,
    /// When this subscriber received it (CLOCK_MONOTONIC).
    pub received_at: Duration,
}

/// Counters that several threads add to.
#[derive(Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscriber_report_reads_like_a_lease_report() {
        let r = SubscriberReport {
            name: "viewer".into(),
            pid: Some(42),
            policy: Some(Link::Latest),
            held: 2,
            oldest_held: Some(Duration::from_millis(15)),
            received: 100,
            dropped: 3,
            discarded: 0,
            blocked: Duration::ZERO,
            reported: Some(Duration::from_millis(1)),
        };
        assert_eq!(
            r.to_string(),
            "viewer (pid 42) latest: holds 2 (oldest 15.0 ms), received 100, dropped 3"
        );
    }
}
