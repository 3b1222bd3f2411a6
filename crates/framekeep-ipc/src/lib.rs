//! framekeep-ipc: one camera, many processes. Frames published as a named service and
//! received by other processes (or the same one) without a copy, over iceoryx2's shared
//! memory, with framekeep's ownership guarantees on both sides.
//!
//! ```no_run
//! use framekeep_core::cancel::CancelToken;
//! use framekeep_core::frame::{Frame, FrameLayout, PixelFormat};
//! use framekeep_core::pipeline::Link;
//! use framekeep_ipc::{Domain, Publisher, PublisherOptions, Subscriber, SubscriberOptions};
//!
//! // In the camera process:
//! let domain = Domain::new()?;
//! let publisher = Publisher::create(&domain, "camera/front", PublisherOptions::new())?;
//! let frame = Frame::zeroed(FrameLayout::packed(PixelFormat::Bgr24, 1920, 1080)?)?;
//! publisher.publish(&frame)?;                       // one copy into shared memory
//! if let Some(mut loan) = publisher.loan_frame(frame.layout().len())? {
//!     loan.reshape(*frame.layout())?;               // a frame over a shared sample:
//!     loan.get_mut().unwrap().fill(0);              // write it in place,
//!     publisher.publish(&loan)?;                    // no copy: sent when dropped
//! }
//! for s in publisher.subscribers() {
//!     println!("{s}");                              // "viewer (pid 812) latest: holds 1 (oldest 3.2 ms), ..."
//! }
//!
//! // In a viewer process:
//! let mut subscriber = Subscriber::connect(
//!     &domain,
//!     "camera/front",
//!     SubscriberOptions::new(Link::latest()).name("viewer"),
//! )?;
//! let token = CancelToken::new();
//! let frame = subscriber.recv(&token)?;             // a read-only Frame over the sample
//! println!("{}x{} #{}", frame.width(), frame.height(), frame.sequence());
//! drop(frame);                                      // the sample goes back to the publisher
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! * [`Publisher`]: publishes frames (plain API, and a pipeline
//!   [`Sink`](framekeep_core::pipeline::Sink)); [`PublisherOptions`] fix the service's
//!   limits and its [`Delivery`]; [`Publisher::loan_frame`] lends frames over shared
//!   memory for zero-copy producers (a V4L2 USERPTR capture); [`Publisher::subscribers`]
//!   reports what each subscriber holds and for how long ([`SubscriberReport`]).
//! * [`Subscriber`]: receives framekeep frames (plain API, cancellable, and a pipeline
//!   [`Source`](framekeep_core::pipeline::Source)), configured by [`SubscriberOptions`].
//! * [`Domain`]: which processes see each other. [`IpcError`] for everything that fails.
//! * `testing` (feature `testing`): isolated domains that remove their files, child
//!   processes driven line by line.
//!
//! # How a frame travels
//!
//! A service `NAME` is three iceoryx2 services: `NAME` publish-subscribe (`[u8]` payload,
//! a versioned frame header: layout, pixel format, sequence, capture timestamp, the
//! publisher's frame id, its send count and send time), `NAME` event (a wake-up after
//! each send; "publisher came up", "publisher closed", "a crashed process was cleaned
//! up"), and `NAME/@holds` (subscribers' hold reports). The publisher loans a sample,
//! fills it in place (copying a frame's pixels once, packing a region of interest), and
//! sends it; or, for a frame from [`Publisher::loan_frame`], sends the sample itself. The
//! sample's payload is page-aligned (the header is a 4 KiB user header), so a driver can
//! capture straight into it.
//!
//! A subscriber sleeps on an iceoryx2 wait set (the event listener and an eventfd its
//! cancel token writes), receives the sample and wraps it in an `ExternalBuffer` whose
//! home parks the sample: the frame is read-only (nobody writes a sample others read;
//! `make_mut` copies into the subscriber's small copy pool), refcounted like any frame,
//! and its last drop, on any thread, returns the sample to the publisher.
//!
//! # Back-pressure: the rule
//!
//! iceoryx2's overflow behaviour is a property of the *service*, not of a subscriber, so
//! the three policies cannot all be mixed on one service. The publisher chooses the
//! service's [`Delivery`]; each subscriber picks its policy, a framekeep
//! [`Link`](framekeep_core::pipeline::Link), among those its service offers:
//!
//! | service | subscriber policies | a full subscriber queue |
//! |---|---|---|
//! | [`Delivery::Lossy`] (default) | `Latest`, `DropOldest(n)` | the oldest queued sample is replaced; the publisher never waits |
//! | [`Delivery::Blocking`] (opt-in) | `Block(n)` (block-publisher), `DropNewest(n)` | `Block`: the publisher waits for room, up to the service's `max_wait`, then drops that sample for that subscriber; `DropNewest`: the new sample is dropped for it |
//!
//! Any other combination (or a depth above the publisher's `max_depth`) is refused with
//! [`IpcError::PolicyNotOffered`] when the subscriber attaches. Drops are counted per
//! subscriber from the gaps in the publisher's send count
//! ([`SubscriberStats::dropped`], and in the publisher's report); a blocking publisher
//! also counts what it did not deliver and how long it waited, per subscriber
//! ([`SubscriberReport::discarded`], [`SubscriberReport::blocked`],
//! [`Published::blocked`]). A `Block` subscriber is waited for once it has connected to
//! the publisher's current port (its first receive after the port appeared).
//!
//! # Who holds what
//!
//! Held samples are in the subscriber's ledger (kind `frame`, named after the service;
//! a `LeakCheck` catches a frame kept too long), and loaned frames not yet sent in the
//! publisher's (named `NAME (loan)`). iceoryx2 cannot tell a publisher what its
//! subscribers hold, so each framekeep subscriber reports it on `NAME/@holds` from its
//! receiving thread (at most every 50 ms while frames flow, and when it goes idle); ages
//! are computed from timestamps, so they are current between reports.
//!
//! # Faults
//!
//! * **A subscriber dies** (SIGKILL): the publisher keeps its rate (a lossy service never
//!   waits; a blocking one stops waiting for it at cleanup). Its housekeeping thread
//!   watches reporting subscribers' processes through pidfds and cleans the dead one up
//!   within 250 ms, which returns every sample it held or had queued and frees its place
//!   (others are found by a sweep every 10 s). A restarted subscriber attaches again.
//! * **The publisher dies**: a subscriber with no event for its liveness interval
//!   (250 ms) checks the publisher's process (iceoryx2's per-node lock file) and reports
//!   [`IpcError::PublisherGone`] (`crashed: true`) — or end of stream as a pipeline source
//!   when the publisher closed normally. Frames it holds stay valid. A restarted
//!   publisher is picked up by the same subscriber.
//! * **The format changes**: every sample carries its layout; a larger frame makes the
//!   publisher replace its port and segment (the old one lives until its last sample is
//!   back), so subscribers see the new layout with the next frame and keep the frames
//!   they hold, with their layout.
//! * **Stale state of a crashed run**: nodes record their liveness in lock files;
//!   iceoryx2 removes dead nodes' resources when a node is created, when a service is
//!   opened and on framekeep's cleanups, so a crash never blocks the next start (see
//!   `tests/faults.rs`).
//!
//! # Signals
//!
//! iceoryx2 would replace the handlers of SIGINT, SIGTERM and ten other signals the first
//! time a wait set waits (its default signal handling), and framekeep's Ctrl-C handling
//! would stop working. framekeep-ipc creates every node and wait set with signal handling
//! disabled, and on first use creates iceoryx2's signal singleton itself and puts back
//! every disposition it changed, so it can never install its handlers later.
//!
//! # Compatibility
//!
//! iceoryx2 is pinned (`=0.10.0`): its shared-memory layout is versioned, and processes of
//! different versions cannot talk or clean up after each other. The frame header and the
//! hold report have versioned type names (`framekeep.FrameHeader.v1`); a peer with
//! another layout is refused ([`IpcError::Incompatible`]). Files are created for the
//! creating user only: a publisher and its subscribers run as the same user
//! ([`Domain::new`] is per user).
#![warn(missing_docs)]

mod delivery;
mod domain;
mod error;
mod exits;
mod holds;
mod loans;
mod options;
mod parked;
mod publisher;
mod report;
mod samples;
mod send;
mod service;
mod signals;
mod subscriber;
#[cfg(feature = "testing")]
pub mod testing;
mod waiter;
mod wire;

pub use delivery::Delivery;
pub use domain::Domain;
pub use error::IpcError;
pub use options::{PublisherOptions, SubscriberOptions};
pub use publisher::Publisher;
pub use report::{FrameInfo, Published, PublisherStats, SubscriberReport, SubscriberStats};
pub use subscriber::Subscriber;
