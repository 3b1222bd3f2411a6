//! [`Waker`]: the eventfd that interrupts a blocked [`CaptureDevice::wait`].
//!
//! A stream's cancel token and its `close` signal it; the kernel device polls it next to
//! the video node, the fake driver sleeps on it.
//!
//! [`CaptureDevice::wait`]: crate::CaptureDevice::wait

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

use crate::error::{CaptureError, Result};
use crate::poll::poll;

/// A sticky wake-up signal a blocked [`CaptureDevice::wait`](crate::CaptureDevice::wait)
/// listens to (an eventfd).
///
/// Once [`Waker::wake`] is called, every current and future wait returns
/// [`Wait::Woken`](crate::Wait::Woken) at once: cancellation and stop are one-way. A
/// driver of its own can poll the descriptor ([`AsFd`]: readable once woken) beside its
/// device, as [`V4l2Device`](crate::V4l2Device) does.
#[derive(Debug)]
pub struct Waker {
    fd: OwnedFd,
}

impl Waker {
    /// Creates an unsignalled waker.
    pub fn new() -> Result<Waker> {
        // SAFETY: plain syscall; the result is checked before use.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(CaptureError::from_os("eventfd", io::Error::last_os_error()));
        }
        // SAFETY: `fd` is a fresh descriptor we own exclusively.
        Ok(Waker {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Signals the waker (idempotent, async-signal-safe, never blocks).
    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64 to our eventfd; a full counter (EAGAIN)
        // still leaves it readable, which is all we need.
        let _ = unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// True once [`Waker::wake`] was called.
    pub fn is_woken(&self) -> bool {
        self.wait_timeout(Duration::ZERO)
    }

    /// Blocks until woken or `timeout` elapses; true when woken.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let mut fds = [libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        matches!(poll(&mut fds, timeout), Ok(n) if n > 0)
    }
}

impl AsFd for Waker {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waker_is_sticky_and_bounded() {
        let w = Waker::new().unwrap();
        let t = std::time::Instant::now();
        assert!(!w.wait_timeout(Duration::from_millis(20)));
        assert!(t.elapsed() >= Duration::from_millis(19));
        w.wake();
        assert!(w.is_woken());
        assert!(w.wait_timeout(Duration::from_secs(5)));
    }
}
