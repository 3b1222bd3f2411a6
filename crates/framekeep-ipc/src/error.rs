//! [`IpcError`]: what publishing, subscribing and setting up a domain can fail with.

use std::error::Error as StdError;

use framekeep_core::frame::{FrameError, PixelFormat};
use framekeep_core::pipeline::Link;

use crate::delivery::Delivery;

/// An iceoryx2 error (or another library's), boxed with its `source()` chain.
pub(crate) type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// What framekeep-ipc can fail with.
///
/// The variants that callers act on are typed ([`PublisherGone`](IpcError::PublisherGone),
/// [`Cancelled`](IpcError::Cancelled), [`PolicyNotOffered`](IpcError::PolicyNotOffered),
/// ...); an error of iceoryx2 itself is [`IpcError::Iceoryx`], which says what framekeep was
/// doing and keeps iceoryx2's error as its `source()`.
#[derive(Debug, thiserror::Error)]
pub enum IpcError {
    /// A service name iceoryx2 does not accept (empty, too long: at most 240 bytes).
    #[error("invalid service name {name:?}")]
    InvalidName {
        /// The name given.
        name: String,
        /// iceoryx2's reason.
        #[source]
        source: BoxError,
    },
    /// iceoryx2 failed while framekeep was doing `what`.
    #[error("iceoryx2: {what} ({service})")]
    Iceoryx {
        /// What framekeep was doing ("open the service", "loan a sample", ...).
        what: &'static str,
        /// The service (or the domain's prefix for domain-wide operations).
        service: String,
        /// iceoryx2's error.
        #[source]
        source: BoxError,
    },
    /// The service exists with other settings than these options ask for (another
    /// framekeep version, or a publisher with other limits): the first process to create a
    /// service fixes its settings, the others must agree.
    #[error("service {service} exists with other settings: {reason}")]
    Incompatible {
        /// The service.
        service: String,
        /// What does not match.
        reason: &'static str,
    },
    /// A subscriber asked for a back-pressure policy the service's [`Delivery`] cannot
    /// give: `latest` and `drop-oldest` need a [`Delivery::Lossy`] service,
    /// `block-publisher` and `drop-newest` a [`Delivery::Blocking`] one (iceoryx2's
    /// overflow is a property of the service, not of a subscriber). Also a depth above the
    /// service's `max_depth`.
    #[error("service {service} ({offered}) does not offer {requested:?} to its subscribers")]
    PolicyNotOffered {
        /// The service.
        service: String,
        /// The subscriber's policy.
        requested: Link,
        /// What the service was created with.
        offered: Delivery,
    },
    /// Every publisher of the service is gone: it closed (`crashed == false`), or its
    /// process died (`crashed == true`; detected within the subscriber's liveness
    /// interval). Frames already received stay valid. The next receive waits for a
    /// publisher to come back.
    #[error("publisher of {service} is gone ({})", if *crashed { "its process died" } else { "closed" })]
    PublisherGone {
        /// The service.
        service: String,
        /// Whether the publisher's process died instead of closing.
        crashed: bool,
    },
    /// The wait was cancelled through its [`CancelToken`](framekeep_core::cancel::CancelToken).
    #[error("cancelled")]
    Cancelled,
    /// A frame whose size, stride or format the wire header cannot carry.
    #[error("cannot publish a {format} frame of {width}x{height} (stride {stride}): too large for the frame header")]
    TooLarge {
        /// The frame's format.
        format: PixelFormat,
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
        /// Row stride in bytes.
        stride: usize,
    },
    /// A received sample whose header does not describe a valid frame (a peer of another
    /// version, or a corrupted sample). The sample was dropped.
    #[error("bad frame header on {service}: {detail}")]
    BadHeader {
        /// The service.
        service: String,
        /// What is wrong.
        detail: &'static str,
        /// Why the layout is invalid, when framekeep's layout check said so.
        #[source]
        source: Option<FrameError>,
    },
    /// The publisher has no free sample: every sample of its shared-memory segment is
    /// loaned ([`Publisher::loan_frame`](crate::Publisher::loan_frame) frames not yet
    /// returned) or held.
    #[error("publisher of {service} has no free sample ({reason})")]
    OutOfSamples {
        /// The service.
        service: String,
        /// iceoryx2's reason (too many loans, segment full).
        reason: &'static str,
    },
    /// This loaned frame was already published; a loan is sent once, when its last handle
    /// drops.
    #[error("this loaned frame of {service} was already published")]
    AlreadyPublished {
        /// The service.
        service: String,
    },
    /// Another live process already publishes this service.
    #[error("service {service} already has a live publisher")]
    PublisherExists {
        /// The service.
        service: String,
    },
    /// The publisher was closed.
    #[error("publisher of {service} is closed")]
    Closed {
        /// The service.
        service: String,
    },
    /// A frame could not be built over a sample.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// An operating-system call failed (the subscriber's wake-up eventfd, the domain's
    /// directory).
    #[error("{what}")]
    Io {
        /// What failed.
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl IpcError {
    /// An [`IpcError::Iceoryx`] for `service`.
    pub(crate) fn iceoryx(
        what: &'static str,
        service: &str,
        source: impl StdError + Send + Sync + 'static,
    ) -> IpcError {
        IpcError::Iceoryx {
            what,
            service: service.to_string(),
            source: Box::new(source),
        }
    }

    /// An [`IpcError::Io`] from the last OS error.
    pub(crate) fn last_os(what: &'static str) -> IpcError {
        IpcError::Io {
            what,
            source: std::io::Error::last_os_error(),
        }
    }
}
