//! Hold reports: how a publisher learns what each subscriber holds.
//!
//! iceoryx2 has no API for "how many samples does subscriber X hold, since when": the
//! connection's bookkeeping is internal. So each framekeep subscriber reports it itself,
//! on the service's `NAME/@holds` side service: a 96-byte [`HoldReport`] (held samples,
//! when the oldest was received, totals, its pid), sent from the subscriber's receiving
//! thread when something changed, every 50 ms at most while frames flow, and at its next
//! idle wake-up (the liveness interval) or `try_recv` for releases made meanwhile on other
//! threads: one small loan-and-send, no wake-up of the publisher. The publisher reads them when asked ([`HoldReader::drain`]) and on its
//! housekeeping ticks; the side service keeps the latest report of each subscriber (safe
//! overflow, depth 1) and replays it to a reader that comes later (history 1). Ages are
//! computed by the reader from the timestamps, so they are current even between reports.

use std::collections::HashMap;

use framekeep_core::pipeline::Link;
use iceoryx2::port::publisher::Publisher as Iox2Publisher;
use iceoryx2::port::subscriber::Subscriber as Iox2Subscriber;

use crate::domain::Svc;
use crate::error::IpcError;
use crate::service::Holds;
use crate::wire::{monotonic_ns, HoldReport};

/// A subscriber's side: sends its reports.
pub(crate) struct HoldWriter {
    port: Iox2Publisher<Svc, HoldReport, ()>,
    template: HoldReport,
}

impl HoldWriter {
    /// A writer for the subscriber port `port_id`, named `name`, with policy `link`.
    pub(crate) fn new(
        holds: &Holds,
        service: &str,
        port_id: u128,
        name: &str,
        link: Link,
    ) -> Result<HoldWriter, IpcError> {
        let port = holds
            .publisher_builder()
            .max_loaned_samples(1)
            .create()
            .map_err(|e| IpcError::iceoryx("create the hold-report port", service, e))?;
        let mut template = HoldReport {
            pid: std::process::id(),
            policy: crate::delivery::code(link),
            depth: crate::delivery::depth(link) as u32,
            ..HoldReport::default()
        };
        template.set_port(port_id);
        template.set_name(name);
        Ok(HoldWriter { port, template })
    }

    /// Reports `held` samples (the oldest received at `oldest_ns`, 0 for none), and the
    /// totals. A report that cannot be sent is skipped: the next one replaces it.
    pub(crate) fn send(&self, held: usize, oldest_ns: u64, received: u64, dropped: u64) {
        let report = HoldReport {
            held: held as u32,
            oldest_held_ns: oldest_ns,
            received,
            dropped,
            reported_ns: monotonic_ns(),
            ..self.template
        };
        if let Err(e) = self.port.send_copy(report) {
            tracing::debug!("hold report not sent: {e}");
        }
    }
}

/// A publisher's side: the latest report of each subscriber.
pub(crate) struct HoldReader {
    port: Iox2Subscriber<Svc, HoldReport, ()>,
    latest: HashMap<u128, HoldReport>,
}

impl HoldReader {
    pub(crate) fn new(holds: &Holds, service: &str) -> Result<HoldReader, IpcError> {
        let port = holds
            .subscriber_builder()
            .buffer_size(1)
            .history_request(1)
            .create()
            .map_err(|e| IpcError::iceoryx("create the hold-report reader", service, e))?;
        Ok(HoldReader {
            port,
            latest: HashMap::new(),
        })
    }

    /// Takes every report that arrived since the last call.
    pub(crate) fn drain(&mut self) {
        while let Ok(Some(sample)) = self.port.receive() {
            let report = *sample.payload();
            self.latest.insert(report.port(), report);
        }
    }

    /// The latest report of subscriber port `id`.
    pub(crate) fn get(&self, id: u128) -> Option<&HoldReport> {
        self.latest.get(&id)
    }

    /// The process ids of the subscribers that reported (live or not).
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.latest.values().map(|r| r.pid).collect()
    }

    /// Forgets the reports of subscribers not in `present`.
    pub(crate) fn retain(&mut self, present: &[u128]) {
        self.latest.retain(|id, _| present.contains(id));
    }
}
