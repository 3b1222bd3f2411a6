//! [`Subscriber`]: receives a service's frames as framekeep frames.

use std::sync::{Arc, Weak};
use std::time::Duration;

use framekeep_core::cancel::{CancelToken, OnCancel};
use framekeep_core::frame::Frame;
use framekeep_core::ledger::LedgerSource;
use framekeep_core::pipeline::{Source, StageError};
use iceoryx2::port::subscriber::Subscriber as Iox2Subscriber;
use iceoryx2::port::ReceiveError;
use iceoryx2::prelude::{Node, PortFactory, PortName};

use crate::domain::{Domain, Svc};
use crate::error::IpcError;
use crate::holds::HoldWriter;
use crate::options::SubscriberOptions;
use crate::report::{FrameInfo, SubscriberStats};
use crate::samples::SampleHome;
use crate::send::{ascii_name, port_name};
use crate::service::{self, Events, Frames, Holds};
use crate::waiter::{Waiter, Woken};
use crate::wire::monotonic_ns;

/// Receives the frames of a service as ordinary framekeep [`Frame`]s.
///
/// Each frame's buffer is the shared-memory sample itself: read-only, refcounted (clones
/// and views share it), never copied; [`Frame::make_mut`] copies it into a small local
/// pool. The last handle's drop, on any thread, gives the sample back to the publisher.
/// While held, samples appear in the subscriber's ledger as kind `frame` named after the
/// service, so a [`LeakCheck`](framekeep_core::ledger::LeakCheck) catches a frame kept
/// too long, and in the publisher's [`subscribers`](crate::Publisher::subscribers) report.
///
/// [`recv`](Subscriber::recv) sleeps on an iceoryx2 wait set (the publisher's event after
/// each send, and an eventfd for cancellation), never polling. A subscriber may start
/// before its publisher: it attaches when the publisher comes up. When the publisher goes
/// (closes, or its process dies: noticed within the
/// [liveness interval](SubscriberOptions::liveness_interval)), `recv` reports
/// [`IpcError::PublisherGone`] once, then waits for a publisher to come back (or keeps
/// waiting silently with [`SubscriberOptions::follow_restarts`]).
///
/// As a pipeline [`Source`], a publisher that closes ends the stream, one that crashed is
/// an error.
pub struct Subscriber {
    service: String,
    options: SubscriberOptions,
    // Field order is drop order: the wait set and the port before the services and the
    // node they were made from.
    waiter: Waiter,
    attached: Option<Attached>,
    home: Arc<SampleHome>,
    cancel: Option<(CancelToken, OnCancel)>,
    tracking: Tracking,
    stats: SubscriberStats,
    last_info: Option<FrameInfo>,
    holds: Holds,
    _events: Events,
    node: Node<Svc>,
}

struct Attached {
    port: Iox2Subscriber<Svc, [u8], crate::wire::PageHeader>,
    frames: Frames,
}

/// What the subscriber knows of its publisher.
#[derive(Default)]
struct Tracking {
    /// A publisher was seen alive since the last departure.
    seen: bool,
    /// The publisher port of the last sample, and its publish count.
    origin: Option<u128>,
    last_seq: Option<u64>,
    /// Try to open the service (it may exist now).
    attach_due: bool,
    /// Check the publisher's liveness.
    check_due: bool,
    /// A notifier (the publisher's) said goodbye since the publisher was last seen: a
    /// publisher that goes without one crashed.
    goodbye: bool,
    /// The publisher was found gone without a goodbye, once: decided at the next check,
    /// after one more wait (its goodbye may be on its way).
    suspected: bool,
    /// A departure not reported yet.
    gone: Option<bool>,
}

impl Subscriber {
    /// Subscribes to `service` in `domain` with `options`. Returns at once, whether the
    /// publisher is up or not; fails with [`IpcError::PolicyNotOffered`] if the service
    /// exists and cannot give `options`' policy.
    pub fn connect(
        domain: &Domain,
        service: &str,
        options: SubscriberOptions,
    ) -> Result<Subscriber, IpcError> {
        let node = domain.node(&format!(
            "framekeep-subscriber {}",
            ascii_name(&options.name, 100)
        ))?;
        let events = service::events(&node, service)?;
        let holds = service::holds(&node, service)?;
        let waiter = Waiter::new(&events, service)?;
        let home = Arc::new(SampleHome::new(
            service,
            waiter.waker(),
            options.copy_buffers,
            &options.ledger,
        ));
        let source: Arc<dyn LedgerSource> = home.clone();
        options
            .ledger
            .add_source(Arc::downgrade(&source) as Weak<dyn LedgerSource>);
        let mut subscriber = Subscriber {
            service: service.to_string(),
            options,
            waiter,
            attached: None,
            home,
            cancel: None,
            tracking: Tracking {
                attach_due: true,
                ..Tracking::default()
            },
            stats: SubscriberStats::default(),
            last_info: None,
            holds,
            _events: events,
            node,
        };
        subscriber.attach()?;
        Ok(subscriber)
    }

    /// The service name.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Whether the subscriber is attached to the service (its publisher created it).
    pub fn is_attached(&self) -> bool {
        self.attached.is_some()
    }

    /// The next frame, waiting for it until `token` is cancelled
    /// ([`IpcError::Cancelled`]).
    ///
    /// Fails with [`IpcError::PublisherGone`] once when the publisher goes away (frames
    /// queued before are delivered first); the call after that waits for a publisher to
    /// come back. At the service's hold limit (`max_held` frames received and not
    /// dropped), waits for one of them to be dropped.
    pub fn recv(&mut self, token: &CancelToken) -> Result<Frame, IpcError> {
        self.arm(token);
        loop {
            if token.is_cancelled() {
                return Err(IpcError::Cancelled);
            }
            if let Some(frame) = self.poll()? {
                return Ok(frame);
            }
            let woken = self.waiter.wait(self.options.liveness, &self.service)?;
            if woken.timed_out {
                // Idle: tell the publisher what changed since the last report (frames
                // released meanwhile).
                self.home.report(true);
            }
            self.note(woken);
        }
    }

    /// The next frame if one is queued, without waiting. Reports a departed publisher
    /// like [`recv`](Subscriber::recv).
    pub fn try_recv(&mut self) -> Result<Option<Frame>, IpcError> {
        let frame = self.poll();
        // A caller that polls has no idle wake-up to report releases at: report now.
        self.home.report(true);
        frame
    }

    /// Where the last received frame came from (publisher's frame id, send count and
    /// time, receive time).
    pub fn last_info(&self) -> Option<FrameInfo> {
        self.last_info
    }

    /// The running totals.
    pub fn stats(&self) -> SubscriberStats {
        SubscriberStats {
            received: self.home.totals.received.get(),
            dropped: self.home.totals.dropped.get(),
            held: self.home.held(),
            ..self.stats
        }
    }

    /// Registers the waker with `token` (once per token).
    fn arm(&mut self, token: &CancelToken) {
        if self.cancel.as_ref().is_some_and(|(t, _)| t.same_as(token)) {
            return;
        }
        let waker = self.waiter.waker();
        let registration = token.on_cancel(move |_| waker.wake());
        self.cancel = Some((token.clone(), registration));
    }

    /// One step without sleeping: attach or check the publisher if due, take a frame,
    /// report a departure.
    fn poll(&mut self) -> Result<Option<Frame>, IpcError> {
        if self.attached.is_none() && self.tracking.attach_due {
            self.attach()?;
        }
        let taken = self.take();
        self.home.report(false);
        if let Some(frame) = taken? {
            return Ok(Some(frame));
        }
        if self.tracking.check_due {
            self.check_publisher();
        }
        match self.tracking.gone.take() {
            Some(crashed) => Err(IpcError::PublisherGone {
                service: self.service.clone(),
                crashed,
            }),
            None => Ok(None),
        }
    }

    /// Takes stock of what woke a wait.
    fn note(&mut self, woken: Woken) {
        if woken.created || (woken.timed_out && self.attached.is_none()) {
            self.tracking.attach_due = true;
        }
        if woken.dropped {
            self.tracking.goodbye = true;
        }
        if woken.timed_out || woken.dropped || woken.dead || woken.created {
            self.tracking.check_due = true;
        }
    }

    /// Opens the service if it exists now and subscribes with this subscriber's policy.
    fn attach(&mut self) -> Result<(), IpcError> {
        self.tracking.attach_due = false;
        let Some(frames) = service::frames_for_subscriber(&self.node, &self.service)? else {
            return Ok(());
        };
        let link = self.options.link;
        service::check_policy(&frames, &self.service, link)?;
        let name = PortName::new(&port_name(link, &self.options.name)).map_err(|e| {
            IpcError::InvalidName {
                name: self.options.name.clone(),
                source: Box::new(e),
            }
        })?;
        let port = frames
            .subscriber_builder()
            .buffer_size(crate::delivery::depth(link))
            .name(&name)
            .create()
            .map_err(|e| IpcError::iceoryx("create the subscriber port", &self.service, e))?;
        let writer = HoldWriter::new(
            &self.holds,
            &self.service,
            port.id().value(),
            &ascii_name(&self.options.name, crate::wire::NAME_BYTES),
            link,
        )?;
        self.home.attach(
            writer,
            frames.static_config().subscriber_max_borrowed_samples(),
        );
        self.attached = Some(Attached { port, frames });
        self.check_publisher();
        Ok(())
    }

    /// Receives one sample as a frame, if one is queued and the hold limit allows.
    fn take(&mut self) -> Result<Option<Frame>, IpcError> {
        let Some(attached) = &self.attached else {
            return Ok(None);
        };
        let mut retried = false;
        let sample = loop {
            match attached.port.receive() {
                Ok(Some(sample)) => break sample,
                Ok(None) => return Ok(None),
                Err(ReceiveError::ExceedsMaxBorrows) => {
                    // At the hold limit: the next release wakes us (unless one happened
                    // just now: then try once more).
                    if retried || !self.home.starve() {
                        return Ok(None);
                    }
                    retried = true;
                }
                Err(e) => {
                    // A connection to a publisher that is going away; its liveness decides.
                    tracing::debug!("{}: receive: {e}", self.service);
                    self.tracking.check_due = true;
                    return Ok(None);
                }
            }
        };
        let header = sample.user_header().0;
        let origin = sample.origin().value();
        let t = &mut self.tracking;
        if t.origin != Some(origin) {
            // A new publisher port: a publisher that replaced its port for larger frames
            // continues its count (gaps across the change are drops); a restarted one
            // starts again from 0.
            t.origin = Some(origin);
            if t.last_seq.is_some_and(|last| header.publish_seq <= last) {
                t.last_seq = None;
            }
            self.stats.publishers += 1;
        }
        if let Some(last) = t.last_seq {
            let gap = header.publish_seq.saturating_sub(last + 1);
            if gap > 0 {
                self.home.totals.dropped.add(gap);
            }
        }
        t.last_seq = Some(header.publish_seq);
        t.seen = true;
        t.gone = None;
        let layout = match header.layout(sample.payload().len()) {
            Ok(layout) => layout,
            Err((detail, source)) => {
                self.stats.bad_headers += 1;
                return Err(IpcError::BadHeader {
                    service: self.service.clone(),
                    detail,
                    source,
                });
            }
        };
        let frame = self.home.wrap(sample, layout, header.meta())?;
        self.last_info = Some(FrameInfo {
            frame_id: header.frame_id,
            publish_seq: header.publish_seq,
            published_at: Duration::from_nanos(header.published_ns),
            received_at: Duration::from_nanos(monotonic_ns()),
        });
        Ok(Some(frame))
    }

    /// Is a publisher alive? A departure since one was seen is noted for reporting.
    fn check_publisher(&mut self) {
        self.tracking.check_due = false;
        let Some(attached) = &self.attached else {
            return;
        };
        let (alive, dead) = service::publisher_liveness(&attached.frames);
        if dead {
            // Reclaim what the crashed process held, and wake the other subscribers
            // (they get the dead-node event).
            self.node.try_cleanup_dead_nodes();
        }
        let t = &mut self.tracking;
        if alive > 0 {
            t.seen = true;
            t.goodbye = false;
            t.suspected = false;
        } else if t.seen {
            if !dead && !t.goodbye {
                // The goodbye may be waiting in the listener already (a subscriber taking
                // queued frames has not waited since it came) ...
                if let Ok(woken) = self.waiter.pending(&self.service) {
                    t.goodbye |= woken.dropped;
                    t.attach_due |= woken.created;
                }
                // ... or be on its way (a publisher drops its port just before its
                // notifier): decide at the next check, after one more wait, which the
                // goodbye ends at once (otherwise the liveness interval).
                if !t.goodbye && !t.suspected {
                    t.suspected = true;
                    return;
                }
            }
            t.suspected = false;
            t.seen = false;
            t.origin = None;
            t.last_seq = None;
            self.stats.publishers_gone += 1;
            // Its process died if it is found dead, or if it vanished without its
            // notifier's goodbye (another subscriber cleaned it up first).
            let crashed = dead || !std::mem::take(&mut t.goodbye);
            if !self.options.follow_restarts {
                t.gone = Some(crashed);
            }
        }
    }
}

impl Source for Subscriber {
    /// The next frame; a publisher that closed ends the stream, one whose process died is
    /// an error ([`IpcError::PublisherGone`] in the chain). With
    /// [`follow_restarts`](SubscriberOptions::follow_restarts) it waits for the next
    /// publisher instead.
    fn next_frame(&mut self, token: &CancelToken) -> Result<Option<Frame>, StageError> {
        match self.recv(token) {
            Ok(frame) => Ok(Some(frame)),
            Err(IpcError::Cancelled) => Err(StageError::Cancelled),
            Err(IpcError::PublisherGone { crashed: false, .. }) => Ok(None),
            Err(e) => Err(StageError::from_error(e)),
        }
    }
}
