//! Services as a source: `ipc:NAME` names a framekeep-ipc service (`framekeep serve
//! --name NAME` publishes one) wherever a subcommand takes a source, so it can never be
//! mistaken for a device path or a camera name.
//!
//! Every process of the `framekeep` command meets in one framekeep-ipc domain: the
//! user's default one, or the domain named by the `FRAMEKEEP_DOMAIN` environment variable
//! (ASCII letters, digits, `-`, `_`): a second camera setup on the same machine, or tests
//! running in parallel.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use framekeep_cli::app::Chain;
use framekeep_core::cancel::CancelToken;
use framekeep_core::frame::Frame;
use framekeep_core::pipeline::{Link, Source, StageError};
use framekeep_ipc::{Domain, IpcError, Subscriber, SubscriberOptions};

/// The prefix that marks a source as a service.
pub const PREFIX: &str = "ipc:";

/// The environment variable naming the domain (default: the user's own).
pub const DOMAIN_VAR: &str = "FRAMEKEEP_DOMAIN";

/// The service `source` names (`ipc:NAME`), if it names one.
pub fn requested(source: &str) -> Option<&str> {
    source.strip_prefix(PREFIX)
}

/// The domain every subcommand uses: `FRAMEKEEP_DOMAIN`'s, or the user's default.
pub fn domain() -> Result<Domain, IpcError> {
    match std::env::var(DOMAIN_VAR) {
        Ok(name) if !name.is_empty() => Domain::named(&name),
        _ => Domain::new(),
    }
}

/// A subscriber to `service` named `program` (as its publisher lists it, with its pid), with
/// back-pressure `link`; a failure is printed as one line prefixed with `program`.
pub fn subscribe(program: &str, service: &str, link: Link) -> Result<Subscriber, String> {
    domain()
        .and_then(|d| Subscriber::connect(&d, service, SubscriberOptions::new(link).name(program)))
        .map_err(|e| {
            format!(
                "{program}: cannot subscribe to {PREFIX}{service}: {}",
                Chain(&e)
            )
        })
}

/// What a service source received, shared with the program that prints it at exit.
#[derive(Clone, Default)]
pub struct ServiceStats {
    inner: Arc<Mutex<Counts>>,
}

#[derive(Clone, Copy, Default)]
struct Counts {
    received: u64,
    dropped: u64,
    /// The publisher's send count of the first frame received: the frames sent before
    /// it never reached this subscriber (sent before it attached, or replaced in its
    /// queue before its first receive).
    first_at: Option<u64>,
    publishers_gone: u64,
}

impl ServiceStats {
    fn note(&self, subscriber: &Subscriber) {
        let stats = subscriber.stats();
        let mut c = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        c.received = stats.received;
        c.dropped = stats.dropped;
        c.publishers_gone = stats.publishers_gone;
        if c.first_at.is_none() {
            c.first_at = subscriber.last_info().map(|i| i.publish_seq);
        }
    }
}

/// `received R, dropped D, first at send S, publishers gone G`: every frame the
/// publisher sent from send `S` on was received or dropped (counted from the gaps in its
/// send count), so its `published` equals `S + R + D` for a subscriber that stayed to the
/// end of a run (one publisher, no restart).
impl fmt::Display for ServiceStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = *self.inner.lock().unwrap_or_else(|e| e.into_inner());
        write!(
            f,
            "received {}, dropped {}, first at send {}, publishers gone {}",
            c.received,
            c.dropped,
            c.first_at.unwrap_or(0),
            c.publishers_gone
        )
    }
}

/// A service as a pipeline source: the subscriber's frames, taken at most `fps` times a
/// second (the `latest` policy drops what comes in between, counted), ending when the
/// publisher closes.
pub struct ServiceSource {
    subscriber: Subscriber,
    period: Option<Duration>,
    next: Option<Instant>,
    frames_left: Option<u64>,
    stats: ServiceStats,
}

impl ServiceSource {
    /// Subscribes to `service` with the `latest` policy, taking at most `fps` frames a
    /// second (`None`: every frame it can), and ending after `frames` frames if given.
    pub fn connect(
        program: &str,
        service: &str,
        fps: Option<u32>,
        frames: Option<u64>,
    ) -> Result<(ServiceSource, ServiceStats), String> {
        let subscriber = subscribe(program, service, Link::latest())?;
        let stats = ServiceStats::default();
        let period = fps
            .filter(|&f| f > 0)
            .map(|f| Duration::from_secs_f64(1.0 / f64::from(f)));
        Ok((
            ServiceSource {
                subscriber,
                period,
                next: None,
                frames_left: frames,
                stats: stats.clone(),
            },
            stats,
        ))
    }
}

impl Source for ServiceSource {
    fn next_frame(&mut self, token: &CancelToken) -> Result<Option<Frame>, StageError> {
        if self.frames_left == Some(0) {
            return Ok(None);
        }
        if let Some(due) = self.next {
            let now = Instant::now();
            if due > now && token.wait_timeout(due - now) {
                return Err(StageError::Cancelled);
            }
        }
        let frame = self.subscriber.next_frame(token);
        self.stats.note(&self.subscriber);
        if let Some(period) = self.period {
            // Pace from when the frame came: a slow publisher is not made up for later.
            self.next = Some(Instant::now() + period);
        }
        if let (Ok(Some(_)), Some(left)) = (&frame, &mut self.frames_left) {
            *left -= 1;
        }
        frame
    }

    fn close(&mut self) {
        self.stats.note(&self.subscriber);
    }
}
