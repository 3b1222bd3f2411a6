//! How a subscriber sleeps: an iceoryx2 `WaitSet` (epoll) over the service's event
//! listener and an eventfd of its own ([`Waker`]), with a timeout that bounds how long it
//! goes without checking that its publisher is alive.
//!
//! The publisher notifies the listener after every send, and when its notifier comes up
//! or goes; the eventfd is written when the subscriber's cancel token is cancelled and
//! when a frame is released while the subscriber waits for room to hold one more. No
//! polling: with frames flowing, every wake-up is an event.

use std::sync::Arc;
use std::time::Duration;

use iceoryx2::port::listener::Listener;
use iceoryx2::prelude::{
    CallbackProgression, FileDescriptor, FileDescriptorBased, SignalHandlingMode,
    SynchronousMultiplexing, WaitSet, WaitSetAttachmentId, WaitSetBuilder,
};

use crate::domain::Svc;
use crate::error::IpcError;
use crate::service::{Events, EVENT_CREATED, EVENT_DEAD, EVENT_DROPPED};

/// An eventfd that wakes a waiting subscriber; writable from any thread.
#[derive(Debug)]
pub(crate) struct Waker {
    fd: FileDescriptor,
    raw: libc::c_int,
}

impl FileDescriptorBased for Waker {
    fn file_descriptor(&self) -> &FileDescriptor {
        &self.fd
    }
}

impl SynchronousMultiplexing for Waker {}

impl Waker {
    fn new() -> Result<Waker, IpcError> {
        // SAFETY: eventfd takes no pointers; a negative result is an error, checked below.
        let raw = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if raw < 0 {
            return Err(IpcError::last_os("creating the subscriber's eventfd"));
        }
        // Owns the descriptor from here on (closes it on drop).
        let fd = FileDescriptor::new(raw).ok_or_else(|| IpcError::Io {
            what: "adopting the subscriber's eventfd",
            source: std::io::Error::from_raw_os_error(libc::EBADF),
        })?;
        Ok(Waker { fd, raw })
    }

    /// Wakes the waiter (now, or at its next wait).
    pub(crate) fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes the 8 bytes of `one` to our own eventfd, open as long as `self`.
        // It can only fail if the counter would overflow (then it is readable anyway).
        unsafe { libc::write(self.raw, (&one as *const u64).cast(), 8) };
    }

    /// Resets the counter.
    fn drain(&self) {
        let mut count: u64 = 0;
        // SAFETY: reads 8 bytes into `count` from our own non-blocking eventfd; EAGAIN when
        // it was not written is fine.
        unsafe { libc::read(self.raw, (&mut count as *mut u64).cast(), 8) };
    }
}

/// What woke a wait.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Woken {
    /// Nothing happened within the timeout.
    pub(crate) timed_out: bool,
    /// A notifier (publisher) came up.
    pub(crate) created: bool,
    /// A notifier (publisher) was dropped.
    pub(crate) dropped: bool,
    /// A crashed process of the service was cleaned up.
    pub(crate) dead: bool,
}

/// The wait set with the listener and the waker attached.
pub(crate) struct Waiter {
    // Dropped first: it refers to the descriptors of the two below.
    waitset: Box<WaitSet<Svc>>,
    listener: Listener<Svc>,
    waker: Arc<Waker>,
    listener_id: WaitSetAttachmentId<Svc>,
    waker_id: WaitSetAttachmentId<Svc>,
}

impl Waiter {
    pub(crate) fn new(events: &Events, service: &str) -> Result<Waiter, IpcError> {
        let listener = events
            .listener_builder()
            .create()
            .map_err(|e| IpcError::iceoryx("create the event listener", service, e))?;
        let waker = Arc::new(Waker::new()?);
        // Signal handling off, or iceoryx2 would take over SIGINT (see `signals`).
        let waitset = Box::new(
            WaitSetBuilder::new()
                .signal_handling_mode(SignalHandlingMode::Disabled)
                .create::<Svc>()
                .map_err(|e| IpcError::iceoryx("create the wait set", service, e))?,
        );
        let attach_error = |e| IpcError::iceoryx("attach to the wait set", service, e);
        let listener_guard = waitset
            .attach_notification(&listener)
            .map_err(attach_error)?;
        let waker_guard = waitset.attach_notification(&*waker).map_err(attach_error)?;
        let listener_id = WaitSetAttachmentId::from_guard(&listener_guard);
        let waker_id = WaitSetAttachmentId::from_guard(&waker_guard);
        // The attachments stay for the wait set's life: a guard would detach on drop, and
        // keeping it would borrow the wait set and the listener from the struct that owns
        // them. Forgotten guards detach nothing; the wait set (dropped first, see the field
        // order) closes its epoll instance with both registrations. Their ids stay valid:
        // the boxed wait set never moves.
        std::mem::forget(listener_guard);
        std::mem::forget(waker_guard);
        Ok(Waiter {
            waitset,
            listener,
            waker,
            listener_id,
            waker_id,
        })
    }

    /// The waker, for cancel callbacks and frame releases.
    pub(crate) fn waker(&self) -> Arc<Waker> {
        Arc::clone(&self.waker)
    }

    /// Sleeps until an event, a wake, or `timeout`; consumes what woke it.
    pub(crate) fn wait(&self, timeout: Duration, service: &str) -> Result<Woken, IpcError> {
        let (mut event, mut woke) = (false, false);
        self.waitset
            .wait_and_process_once_with_timeout(
                |id| {
                    event |= id == self.listener_id;
                    woke |= id == self.waker_id;
                    CallbackProgression::Continue
                },
                timeout,
            )
            .map_err(|e| IpcError::iceoryx("wait", service, e))?;
        let mut woken = Woken {
            timed_out: !event && !woke,
            ..Woken::default()
        };
        if event {
            // Level-triggered: take every pending notification, or the next wait returns
            // at once. Sends coalesce; the caller drains the whole queue anyway.
            woken = Woken {
                timed_out: false,
                ..self.pending(service)?
            };
        }
        if woke {
            self.waker.drain();
        }
        Ok(woken)
    }

    /// The events already delivered to the listener, without waiting.
    pub(crate) fn pending(&self, service: &str) -> Result<Woken, IpcError> {
        let mut woken = Woken::default();
        self.listener
            .try_wait(|activation| match activation.id.as_value() {
                EVENT_CREATED => woken.created = true,
                EVENT_DROPPED => woken.dropped = true,
                EVENT_DEAD => woken.dead = true,
                _ => {}
            })
            .map_err(|e| IpcError::iceoryx("read the event listener", service, e))?;
        Ok(woken)
    }
}
