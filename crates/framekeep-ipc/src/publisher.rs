//! [`Publisher`]: publishes frames as a named service.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use framekeep_core::cancel::{CancelToken, OnCancel};
use framekeep_core::frame::{Frame, FrameLayout, PixelFormat};
use framekeep_core::ledger::LedgerSource;
use framekeep_core::pipeline::{Sink, StageError};
use iceoryx2::port::publisher::{Publisher as Iox2Publisher, PublisherCreateError};
use iceoryx2::port::LoanError;
use iceoryx2::prelude::PortFactory;
use iceoryx2::prelude::{AllocationStrategy, BackpressureStrategy, CallbackProgression, Node};
use parking_lot::Mutex;

use crate::delivery::Delivery;
use crate::domain::{Domain, Svc};
use crate::error::IpcError;
use crate::exits::Exits;
use crate::holds::HoldReader;
use crate::loans::LoanHome;
use crate::options::PublisherOptions;
use crate::report::{Published, PublisherStats, SubscriberReport};
use crate::send::{parse_port_name, BlockTable, Loan, Sender};
use crate::service::{self, Events, FrameSpec, Frames, Holds};
use crate::wire::{monotonic_ns, FrameHeader, PageHeader};

/// Publishes frames as a named service that subscribers in other processes (or this
/// one) receive without a copy.
///
/// * [`publish`](Publisher::publish) sends a frame: one copy into a shared-memory sample
///   loaned from iceoryx2 (filled in place, no intermediate buffer), with the frame's
///   layout, pixel format, sequence, capture timestamp and frame id in the sample's
///   header; or no copy at all for a frame that already is a loan of this publisher.
/// * [`loan_frame`](Publisher::loan_frame) lends a unique, writable [`Frame`] over a
///   sample, for a producer that can write straight into shared memory (a V4L2 USERPTR
///   capture); publishing it sends the sample itself when its last handle drops.
/// * [`subscribers`](Publisher::subscribers) reports each subscriber: its policy, what it
///   holds and for how long, what it received, lost, and how long this publisher waited
///   for it.
/// * As a pipeline [`Sink`], it publishes every frame it consumes.
///
/// The publisher cleans up crashed processes of its service on a housekeeping thread
/// (framekeep subscribers' processes are watched through pidfds and cleaned up within
/// 250 ms of their death; anything else within 10 s): the samples a killed subscriber held
/// come back to its segment, so it keeps publishing at full rate. Dropping the last handle of a publisher stops that
/// thread, drops its port (so subscribers see it go, as end of stream) and lets its loans
/// go back unsent.
///
/// Cloning is cheap and gives another handle on the same publisher (e.g. one for the
/// capture thread that loans, one for the sink that publishes).
#[derive(Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
}

/// The current iceoryx2 port and the largest payload its segment takes.
struct Port {
    port: Iox2Publisher<Svc, [u8], PageHeader>,
    max_len: usize,
}

struct Inner {
    service: String,
    max_loans: usize,
    delivery: Delivery,
    port: Mutex<Option<Port>>,
    loans: Arc<LoanHome>,
    sender: Arc<Sender>,
    holds: Arc<Mutex<HoldReader>>,
    keeper: Option<Keeper>,
    _cancel: Option<OnCancel>,
    frames: Arc<Frames>,
    _events: Events,
    _holds: Holds,
    _node: Arc<Node<Svc>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.sender.closed.store(true, Ordering::Release);
        if let Some(table) = &self.sender.table {
            table.cancelled.store(true, Ordering::Release);
        }
        if let Some(keeper) = self.keeper.take() {
            keeper.stop();
        }
        // The port goes before the notifier (held by the sender): a subscriber woken by
        // the notifier's "dropped" event then finds no publisher left.
        drop(self.port.lock().take());
    }
}

impl Publisher {
    /// Publishes as `service` (e.g. `camera/front`) in `domain`.
    ///
    /// The first publisher of a service creates it with `options`' limits and
    /// [`Delivery`]; a publisher that starts while the service still exists (its
    /// subscribers keep it, e.g. after a publisher crash) must ask for compatible settings
    /// ([`IpcError::Incompatible`] otherwise). A second live publisher of the same service
    /// is refused ([`IpcError::PublisherExists`]).
    pub fn create(
        domain: &Domain,
        service: &str,
        options: PublisherOptions,
    ) -> Result<Publisher, IpcError> {
        let node = Arc::new(domain.node(&options.node_name)?);
        let spec = FrameSpec {
            max_subscribers: options.max_subscribers,
            max_depth: options.max_depth,
            max_held: options.max_held,
            delivery: options.delivery,
        };
        let frames = Arc::new(service::frames_for_publisher(&node, service, spec)?);
        if service::publisher_liveness(&frames).0 > 0 {
            return Err(IpcError::PublisherExists {
                service: service.to_string(),
            });
        }
        let events = service::events(&node, service)?;
        let holds_service = service::holds(&node, service)?;
        let holds = Arc::new(Mutex::new(HoldReader::new(&holds_service, service)?));
        let table = match options.delivery {
            Delivery::Blocking { max_wait } => {
                Some(Arc::new(BlockTable::new(Arc::clone(&frames), max_wait)))
            }
            Delivery::Lossy => None,
        };
        // The port before the notifier: a subscriber woken by "a notifier came up" finds
        // a live publisher.
        let mut port = make_port(
            &frames,
            service,
            options.initial_bytes.max(1),
            options.max_loans,
            table.as_ref(),
        )
        .map_err(|e| port_error(service, e))?;
        // Not sized for any frame yet: the first one sizes it (not counted as a resize).
        port.max_len = options.initial_bytes;
        let notifier = events
            .notifier_builder()
            .create()
            .map_err(|e| IpcError::iceoryx("create the notifier", service, e))?;
        let sender = Arc::new(Sender::new(service, notifier, table.clone()));
        let loans = Arc::new(LoanHome::new(Arc::clone(&sender)));
        let source: Arc<dyn LedgerSource> = loans.clone();
        options
            .ledger
            .add_source(Arc::downgrade(&source) as Weak<dyn LedgerSource>);
        let cancel = match (&options.cancel, &table) {
            (Some(token), Some(table)) => {
                let table = Arc::clone(table);
                Some(token.on_cancel(move |_| table.cancelled.store(true, Ordering::Release)))
            }
            _ => None,
        };
        let keeper = Keeper::spawn(
            Arc::clone(&node),
            Arc::clone(&sender),
            Arc::clone(&holds),
            options.housekeeping,
            service,
        )?;
        Ok(Publisher {
            inner: Arc::new(Inner {
                service: service.to_string(),
                max_loans: options.max_loans,
                delivery: options.delivery,
                port: Mutex::new(Some(port)),
                loans,
                sender,
                holds,
                keeper: Some(keeper),
                _cancel: cancel,
                frames,
                _events: events,
                _holds: holds_service,
                _node: node,
            }),
        })
    }

    /// The service name.
    pub fn service(&self) -> &str {
        &self.inner.service
    }

    /// The service's delivery.
    pub fn delivery(&self) -> Delivery {
        self.inner.delivery
    }

    /// Publishes `frame`.
    ///
    /// A frame from [`loan_frame`](Publisher::loan_frame) (the whole loan, not a view into
    /// it) is not copied: it is marked, and its sample is sent when its last handle drops
    /// — right away if `frame` is the only handle and is dropped after this call (as a
    /// pipeline sink's runner does), later if other handles remain. Write nothing into it
    /// after publishing: what subscribers get is its content when that last handle drops.
    /// `delivered` is then `None`; the send's outcome shows in [`stats`](Publisher::stats).
    ///
    /// Any other frame is copied into a loaned sample (a view is packed on the way). A
    /// frame larger than the segment replaces the segment first (a format change):
    /// subscribers get the new layout with that frame; frames they hold keep theirs.
    pub fn publish(&self, frame: &Frame) -> Result<Published, IpcError> {
        let layout = *frame.layout();
        let whole = is_whole(&layout);
        if whole {
            let marked = self
                .inner
                .loans
                .mark(frame, |id| FrameHeader::new(&layout, frame.meta(), id));
            if let Some(marked) = marked {
                marked?;
                return Ok(Published {
                    delivered: None,
                    zero_copy: true,
                    blocked: Duration::ZERO,
                });
            }
        }
        let wire = if whole { layout } else { packed(&layout)? };
        let header = FrameHeader::new(&wire, frame.meta(), frame.lease_id())?;
        let mut loan = self.loan(wire.len())?;
        copy_into(&mut loan, frame, &wire);
        self.inner.sender.send(loan, header, false)
    }

    /// A unique, writable frame of `bytes` bytes over a sample of this publisher's shared
    /// memory (page-aligned), for a producer that writes into it directly; `Ok(None)` when
    /// no sample is free (at most [`PublisherOptions::max_loans`] loans at once).
    ///
    /// Its layout is `bytes` opaque bytes ([`PixelFormat::Mjpeg`]): give it its real
    /// layout with [`Frame::reshape`] (and its metadata with [`Frame::set_meta`]) before
    /// publishing it. Publishing it sends the sample without a copy (see
    /// [`publish`](Publisher::publish)); dropping it unpublished gives the sample back.
    /// Until it is sent, it appears in the publisher's ledger as a frame named
    /// `<service> (loan)`.
    pub fn loan_frame(&self, bytes: usize) -> Result<Option<Frame>, IpcError> {
        match self.loan(bytes) {
            Ok(loan) => Ok(Some(self.inner.loans.lend(loan)?)),
            Err(IpcError::OutOfSamples { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Each subscriber of the service right now, as reported by itself and seen by this
    /// publisher (see [`SubscriberReport`]). A killed subscriber disappears once the
    /// housekeeping thread has cleaned it up (within 250 ms).
    pub fn subscribers(&self) -> Vec<SubscriberReport> {
        let mut holds = self.inner.holds.lock();
        holds.drain();
        let now = monotonic_ns();
        let age = |ns: u64| (ns > 0).then(|| Duration::from_nanos(now.saturating_sub(ns)));
        let table = self.inner.sender.table.as_ref();
        let mut present = Vec::new();
        let mut out = Vec::new();
        self.inner.frames.dynamic_config().list_subscribers(|d| {
            let id = d.subscriber_id.value();
            present.push(id);
            let (policy, name) = match parse_port_name(d.subscriber_name.as_str()) {
                Some((link, name)) => (Some(link), name),
                None => (None, d.subscriber_name.as_str().to_string()),
            };
            let report = holds.get(id);
            let block = table.and_then(|t| t.entry(id)).unwrap_or_default();
            out.push(SubscriberReport {
                name,
                pid: report.map(|r| r.pid),
                policy,
                held: report.map_or(0, |r| r.held as usize),
                oldest_held: report.and_then(|r| age(r.oldest_held_ns)),
                received: report.map_or(0, |r| r.received),
                dropped: report.map_or(0, |r| r.dropped),
                discarded: block.discarded,
                blocked: block.blocked,
                reported: report.and_then(|r| age(r.reported_ns)),
            });
            CallbackProgression::Continue
        });
        holds.retain(&present);
        out
    }

    /// The running totals.
    pub fn stats(&self) -> PublisherStats {
        self.inner.sender.stats()
    }

    /// A sample of at least `len` payload bytes, from a port whose segment takes them.
    fn loan(&self, len: usize) -> Result<Loan, IpcError> {
        let inner = &*self.inner;
        let mut slot = inner.port.lock();
        if slot.as_ref().is_none_or(|p| p.max_len < len) {
            self.replace_port(&mut slot, len)?;
        }
        let Some(port) = slot.as_ref() else {
            return Err(IpcError::Closed {
                service: inner.service.clone(),
            });
        };
        port.port.loan_slice_uninit(len).map_err(|e| match e {
            LoanError::ExceedsMaxLoans => IpcError::OutOfSamples {
                service: inner.service.clone(),
                reason: "every loan is out",
            },
            LoanError::OutOfMemory => IpcError::OutOfSamples {
                service: inner.service.clone(),
                reason: "every sample is loaned or held",
            },
            other => IpcError::iceoryx("loan a sample", &inner.service, other),
        })
    }

    /// A new port whose segment takes `len`-byte payloads, replacing the current one.
    /// The new one is made first, so subscribers always see a live publisher; the old one
    /// (and its segment) goes once nothing holds its samples.
    fn replace_port(&self, slot: &mut Option<Port>, len: usize) -> Result<(), IpcError> {
        let inner = &*self.inner;
        let table = inner.sender.table.as_ref();
        let make = || make_port(&inner.frames, &inner.service, len, inner.max_loans, table);
        let port = match make() {
            Ok(port) => port,
            // Both port places taken (the old port, and one kept by loans still out):
            // give up the current one first.
            Err(PublisherCreateError::ExceedsMaxSupportedPublishers) => {
                drop(slot.take());
                make().map_err(|e| port_error(&inner.service, e))?
            }
            Err(e) => return Err(port_error(&inner.service, e)),
        };
        if slot.replace(port).is_some_and(|old| old.max_len > 0) {
            inner.sender.counters.resizes.add(1);
        }
        Ok(())
    }
}

/// An iceoryx2 publisher port whose static segment takes `len`-byte payloads.
fn make_port(
    frames: &Frames,
    service: &str,
    len: usize,
    max_loans: usize,
    table: Option<&Arc<BlockTable>>,
) -> Result<Port, PublisherCreateError> {
    let _ = service;
    let builder = frames
        .publisher_builder()
        .initial_max_slice_len(len)
        .allocation_strategy(AllocationStrategy::Static)
        // Loaned frames, plus two for copies published from two threads at once.
        .max_loaned_samples(max_loans + 2);
    let port = match table {
        Some(table) => {
            let table = Arc::clone(table);
            builder
                .backpressure_strategy(BackpressureStrategy::DiscardData)
                .set_backpressure_handler(move |info: &iceoryx2::port::BackpressureInfo| {
                    table.decide(info)
                })
                .create()?
        }
        None => builder.create()?,
    };
    Ok(Port { port, max_len: len })
}

fn port_error(service: &str, e: PublisherCreateError) -> IpcError {
    match e {
        PublisherCreateError::ExceedsMaxSupportedPublishers => IpcError::PublisherExists {
            service: service.to_string(),
        },
        other => IpcError::iceoryx("create the publisher port", service, other),
    }
}

/// Whether a layout can be rebuilt from its header fields (every frame's own layout is;
/// a region of interest's is not: it is packed when published).
fn is_whole(layout: &FrameLayout) -> bool {
    match layout.format() {
        PixelFormat::Mjpeg => true,
        f => FrameLayout::strided(f, layout.width(), layout.height(), layout.stride())
            .is_ok_and(|full| full == *layout),
    }
}

/// The packed layout a view is published with.
fn packed(layout: &FrameLayout) -> Result<FrameLayout, IpcError> {
    Ok(FrameLayout::packed(
        layout.format(),
        layout.width(),
        layout.height(),
    )?)
}

/// Copies `frame`'s pixels into `loan`, laid out as `wire` (its own layout, or its
/// packed layout for a view).
fn copy_into(loan: &mut Loan, frame: &Frame, wire: &FrameLayout) {
    let dst = loan.payload_mut();
    assert!(
        dst.len() >= wire.len(),
        "a loan is at least as long as its layout"
    );
    let dst = dst.as_mut_ptr().cast::<u8>();
    let src = frame.data();
    if wire == frame.layout() {
        let n = wire.len().min(src.len());
        // SAFETY: `dst` has at least `wire.len() >= n` bytes (asserted above), `src` at
        // least `n`; a loaned sample is shared memory no Rust reference points into, so
        // the ranges cannot overlap. Writing through a raw pointer into memory iceoryx2
        // calls uninitialized is fine.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst, n) };
        return;
    }
    // A view of a packed format (regions of interest of planar formats do not exist):
    // its rows, one after the other.
    let (row, stride) = (wire.row_bytes(), frame.stride());
    for y in 0..wire.height() {
        let src_row = &src[y * stride..y * stride + row];
        // SAFETY: row `y` of the packed layout is `[y * row, (y + 1) * row)`, inside the
        // `wire.len() = height * row` bytes of `dst` (asserted above); `src_row` is a
        // checked slice of the frame; they cannot overlap (see above).
        unsafe { std::ptr::copy_nonoverlapping(src_row.as_ptr(), dst.add(y * row), row) };
    }
}

impl Sink for Publisher {
    /// Publishes the frame (the runner then drops its handle: a loaned frame is sent
    /// then, if it was the last).
    fn consume(&mut self, frame: &Frame) -> Result<(), StageError> {
        self.publish(frame)
            .map(drop)
            .map_err(StageError::from_error)
    }
}

/// How often the housekeeping thread sweeps the whole domain for dead processes, whatever
/// the pidfds say (subscribers that do not report a pid: another program's raw iceoryx2
/// ports, or processes in another pid namespace).
const SWEEP: Duration = Duration::from_secs(10);

/// The housekeeping thread: cleans up crashed processes of the domain (which returns the
/// samples they held to this publisher's segment, and unblocks a blocking send waiting
/// for a dead subscriber) and refreshes the blocking table. It runs on its own thread
/// because a send blocked for a dead subscriber cannot clean up itself.
///
/// Each tick it reads the hold reports, watches the reporting subscribers' processes
/// through pidfds ([`Exits`]) and runs iceoryx2's cleanup (which lists and tests every
/// node of the domain, ~0.5 ms) only when one of them has exited, or every [`SWEEP`].
struct Keeper {
    token: CancelToken,
    handle: JoinHandle<()>,
}

impl Keeper {
    fn spawn(
        node: Arc<Node<Svc>>,
        sender: Arc<Sender>,
        holds: Arc<Mutex<HoldReader>>,
        interval: Duration,
        service: &str,
    ) -> Result<Keeper, IpcError> {
        let token = CancelToken::new();
        let stop = token.clone();
        let handle = std::thread::Builder::new()
            .name(format!("ipc-keeper {service}"))
            .spawn(move || {
                let mut exits = Exits::default();
                let mut last_sweep = Instant::now();
                while !stop.wait_timeout(interval) {
                    let pids = {
                        let mut holds = holds.lock();
                        holds.drain();
                        holds.pids()
                    };
                    for pid in pids {
                        exits.watch(pid);
                    }
                    if exits.any_exited() || last_sweep.elapsed() >= SWEEP {
                        last_sweep = Instant::now();
                        let cleaned = node.try_cleanup_dead_nodes();
                        if cleaned.cleanups > 0 {
                            sender.counters.dead_nodes_cleaned.add(cleaned.cleanups);
                            tracing::info!(
                                "{}: cleaned up {} crashed process(es)",
                                sender.service,
                                cleaned.cleanups
                            );
                        }
                    }
                    if let Some(table) = &sender.table {
                        table.refresh();
                    }
                }
            })
            .map_err(|source| IpcError::Io {
                what: "spawning the publisher's housekeeping thread",
                source,
            })?;
        Ok(Keeper { token, handle })
    }

    fn stop(self) {
        self.token.cancel();
        if self.handle.join().is_err() {
            tracing::error!("the publisher's housekeeping thread panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_are_published_packed() {
        let full = FrameLayout::strided(PixelFormat::Bgr24, 64, 8, 200).unwrap();
        assert!(is_whole(&full));
        assert!(is_whole(&FrameLayout::mjpeg(0, 0, 99)));
        let frame = Frame::zeroed(full).unwrap();
        let roi = frame.roi(2, 1, 10, 3).unwrap();
        assert!(!is_whole(roi.layout()));
        let wire = packed(roi.layout()).unwrap();
        assert_eq!((wire.width(), wire.height(), wire.stride()), (10, 3, 30));
        // NV12 planes are whole layouts of their own.
        let nv12 = Frame::zeroed(FrameLayout::packed(PixelFormat::Nv12, 16, 8).unwrap()).unwrap();
        assert!(is_whole(nv12.plane(0).unwrap().layout()));
        assert!(is_whole(nv12.plane(1).unwrap().layout()));
    }
}
