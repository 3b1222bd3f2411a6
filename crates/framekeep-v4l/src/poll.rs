//! `poll(2)` with a timeout, for the kernel device's wait and the [`Waker`](crate::Waker).

use std::io;
use std::time::{Duration, Instant};

/// Milliseconds for `poll(2)`, rounded up so that a short wait is not a busy one.
fn poll_ms(d: Duration) -> i32 {
    let ms = d.as_millis() + u128::from(d.subsec_nanos() % 1_000_000 != 0);
    ms.min(i32::MAX as u128) as i32
}

/// `poll(2)` on `fds` for at most `timeout`, retrying on EINTR; returns how many
/// descriptors have events (0: timed out). Reads the clock only after an EINTR, so a
/// steady-state frame costs no clock read.
pub(crate) fn poll(fds: &mut [libc::pollfd], timeout: Duration) -> io::Result<usize> {
    let mut deadline = None;
    let mut ms = poll_ms(timeout);
    loop {
        // SAFETY: `fds` is a valid, exclusively borrowed array of pollfd of the given length.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if rc >= 0 {
            return Ok(rc as usize);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
        let now = Instant::now();
        let end = *deadline.get_or_insert(now + timeout);
        ms = poll_ms(end.saturating_duration_since(now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_wait_rounds_up_and_a_long_one_saturates() {
        assert_eq!(poll_ms(Duration::ZERO), 0);
        assert_eq!(poll_ms(Duration::from_micros(1)), 1);
        assert_eq!(poll_ms(Duration::from_millis(7)), 7);
        assert_eq!(poll_ms(Duration::from_micros(7_001)), 8);
        assert_eq!(poll_ms(Duration::from_secs(u64::MAX)), i32::MAX);
    }
}
