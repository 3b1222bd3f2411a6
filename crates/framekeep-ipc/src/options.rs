//! [`PublisherOptions`] and [`SubscriberOptions`].

use std::time::Duration;

use framekeep_core::cancel::CancelToken;
use framekeep_core::frame::FrameLayout;
use framekeep_core::ledger::Ledger;
use framekeep_core::pipeline::Link;

use crate::delivery::Delivery;
use crate::service::MAX_SUBSCRIBERS;

/// How often a publisher cleans up crashed processes of its service (reclaiming the
/// samples they held) and refreshes its subscriber table.
const HOUSEKEEPING: Duration = Duration::from_millis(250);

/// How long a subscriber waits without any event before it checks that its publisher is
/// still alive: the bound on noticing a publisher whose process was killed.
const LIVENESS: Duration = Duration::from_millis(250);

/// Options of a [`Publisher`](crate::Publisher).
///
/// The limits fix the service's shared memory: the publisher's data segment holds
/// `max_subscribers × (max_depth + max_held) + max_loans + 2` samples of the largest frame
/// published so far (tmpfs pages are only allocated when first written, so unused samples
/// cost address space, not memory).
#[derive(Clone, Debug)]
pub struct PublisherOptions {
    pub(crate) node_name: String,
    pub(crate) max_subscribers: usize,
    pub(crate) max_depth: usize,
    pub(crate) max_held: usize,
    pub(crate) delivery: Delivery,
    pub(crate) max_loans: usize,
    pub(crate) initial_bytes: usize,
    pub(crate) ledger: Ledger,
    pub(crate) cancel: Option<CancelToken>,
    pub(crate) housekeeping: Duration,
}

impl Default for PublisherOptions {
    fn default() -> Self {
        PublisherOptions::new()
    }
}

impl PublisherOptions {
    /// 8 subscribers, each queueing up to 4 samples and holding up to 4, a lossy service,
    /// 4 loans, the global ledger.
    pub fn new() -> PublisherOptions {
        PublisherOptions {
            node_name: "framekeep-publisher".to_string(),
            max_subscribers: 8,
            max_depth: 4,
            max_held: 4,
            delivery: Delivery::Lossy,
            max_loans: 4,
            initial_bytes: 0,
            ledger: Ledger::global().clone(),
            cancel: None,
            housekeeping: HOUSEKEEPING,
        }
    }

    /// The publisher's node name, as other processes list it (default
    /// `framekeep-publisher`; printable ASCII, at most 128 bytes, or
    /// [`IpcError::InvalidName`](crate::IpcError::InvalidName)).
    pub fn name(mut self, name: &str) -> Self {
        self.node_name = name.to_string();
        self
    }

    /// Most subscribers at once (1 to 32, default 8).
    pub fn max_subscribers(mut self, n: usize) -> Self {
        self.max_subscribers = n.clamp(1, MAX_SUBSCRIBERS);
        self
    }

    /// The deepest queue a subscriber may ask for (its `drop-oldest`, `drop-newest` or
    /// `block` depth; at least 1, default 4).
    pub fn max_depth(mut self, n: usize) -> Self {
        self.max_depth = n.max(1);
        self
    }

    /// Most samples one subscriber may hold at once, i.e. frames received and not yet
    /// dropped (at least 1, default 4). A subscriber at the limit waits for one of its
    /// frames to be dropped before it receives the next.
    pub fn max_held(mut self, n: usize) -> Self {
        self.max_held = n.max(1);
        self
    }

    /// How the service treats full subscriber queues (default [`Delivery::Lossy`]).
    pub fn delivery(mut self, delivery: Delivery) -> Self {
        self.delivery = delivery;
        self
    }

    /// Most [`loan_frame`](crate::Publisher::loan_frame) frames out at once (default 4;
    /// a V4L2 USERPTR stream needs its buffer count).
    pub fn max_loans(mut self, n: usize) -> Self {
        self.max_loans = n;
        self
    }

    /// Sizes the shared-memory segment for frames of `layout` from the start (otherwise
    /// the first frame published sizes it; a larger frame later replaces the segment).
    pub fn initial_layout(mut self, layout: FrameLayout) -> Self {
        self.initial_bytes = layout.len();
        self
    }

    /// The ledger loaned frames are reported in (default: the global one).
    pub fn with_ledger(mut self, ledger: &Ledger) -> Self {
        self.ledger = ledger.clone();
        self
    }

    /// A token that, once cancelled, makes a [`Delivery::Blocking`] publisher stop waiting
    /// for subscribers at once (the sample is dropped for them), so that a pipeline can
    /// shut down without waiting out `max_wait`.
    pub fn with_cancel(mut self, token: &CancelToken) -> Self {
        self.cancel = Some(token.clone());
        self
    }
}

/// Options of a [`Subscriber`](crate::Subscriber).
#[derive(Clone, Debug)]
pub struct SubscriberOptions {
    pub(crate) link: Link,
    pub(crate) name: String,
    pub(crate) ledger: Ledger,
    pub(crate) follow_restarts: bool,
    pub(crate) liveness: Duration,
    pub(crate) copy_buffers: usize,
}

impl SubscriberOptions {
    /// A subscriber with back-pressure policy `link`, which its service must offer (see
    /// [`Delivery`]): `Link::Latest` or `Link::DropOldest(n)` on a lossy service,
    /// `Link::Block(n)` or `Link::DropNewest(n)` on a blocking one.
    pub fn new(link: Link) -> SubscriberOptions {
        SubscriberOptions {
            link,
            name: "subscriber".to_string(),
            ledger: Ledger::global().clone(),
            follow_restarts: false,
            liveness: LIVENESS,
            copy_buffers: 2,
        }
    }

    /// The subscriber's name in its publisher's report (printable ASCII: other
    /// characters become `_`; the report keeps up to 50 bytes, the hold report 32).
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// The ledger held frames are reported in (default: the global one).
    pub fn with_ledger(mut self, ledger: &Ledger) -> Self {
        self.ledger = ledger.clone();
        self
    }

    /// Keep waiting when the publisher goes away, for it (or another) to come back,
    /// instead of reporting [`IpcError::PublisherGone`](crate::IpcError::PublisherGone)
    /// (default off). The departures are still counted
    /// ([`SubscriberStats::publishers_gone`](crate::SubscriberStats::publishers_gone)).
    pub fn follow_restarts(mut self, on: bool) -> Self {
        self.follow_restarts = on;
        self
    }

    /// How long a wait goes without any event before the subscriber checks that its
    /// publisher is alive (default 250 ms): the bound on noticing a killed publisher.
    pub fn liveness_interval(mut self, interval: Duration) -> Self {
        self.liveness = interval.max(Duration::from_millis(1));
        self
    }

    /// Buffers of the local pool that [`Frame::make_mut`](framekeep_core::frame::Frame::make_mut)
    /// copies a received frame into (default 2; beyond them, copies go to the heap).
    pub fn copy_buffers(mut self, n: usize) -> Self {
        self.copy_buffers = n;
        self
    }
}
