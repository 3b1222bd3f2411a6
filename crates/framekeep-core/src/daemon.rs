//! Process-wide helper threads, started on first use: the one way framekeep
//! starts a background thread that is not a supervised worker.
//!
//! Three parts of the core need exactly one thread for the whole process:
//! the deadline timer of cancel tokens, the ledger's ticking clock and the
//! pool leak monitor. A thread each per token, ledger or pool would cost more
//! than the work, so each is a [`Daemon`]: started by the first caller that
//! needs it, alive until the process exits, never joined, and not registered
//! in the ledger (it would show as a leaked thread in every test's scope).
//! Should the OS refuse the thread, the caller is told and a later call tries
//! again; each user has a degraded mode for that case.
//!
//! Under loom no daemon starts (a thread that never ends would keep a model
//! from finishing): [`Daemon::ensure`] does nothing, as if the OS had
//! refused the thread without saying so, and a model that checks a daemon's
//! protocol runs the body itself on a model thread it registers with
//! `Daemon::adopt`.

use std::io;

use parking_lot::Mutex;

use crate::sync::thread::Thread;

/// One lazily started, process-wide background thread.
pub(crate) struct Daemon {
    name: &'static str,
    thread: Mutex<Option<Thread>>,
}

impl Daemon {
    /// A daemon whose thread will be called `name`.
    pub(crate) const fn new(name: &'static str) -> Daemon {
        Daemon {
            name,
            thread: Mutex::new(None),
        }
    }

    /// Starts `body` on the daemon's thread unless it was started already.
    /// Fails only if the thread had to be started and the OS refused it.
    #[cfg(not(loom))]
    pub(crate) fn ensure(&self, body: fn()) -> io::Result<()> {
        let mut thread = self.thread.lock();
        if thread.is_none() {
            let handle = std::thread::Builder::new()
                .name(self.name.to_owned())
                .spawn(body)?;
            *thread = Some(handle.thread().clone());
        }
        Ok(())
    }

    /// Under loom: starts nothing (see the module docs).
    #[cfg(loom)]
    pub(crate) fn ensure(&self, body: fn()) -> io::Result<()> {
        let _ = (body, self.name);
        Ok(())
    }

    /// Under loom: makes the calling model thread the daemon's thread.
    #[cfg(all(loom, test))]
    pub(crate) fn adopt(&self) {
        *self.thread.lock() = Some(crate::sync::thread::current());
    }

    /// The daemon's thread, once started (to unpark it).
    pub(crate) fn thread(&self) -> Option<Thread> {
        self.thread.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::thread;
    use std::time::{Duration, Instant};

    use super::*;

    static RUNS: AtomicUsize = AtomicUsize::new(0);
    static DAEMON: Daemon = Daemon::new("framekeep-test-daemon");

    fn body() {
        RUNS.fetch_add(1, Ordering::SeqCst);
        thread::park();
    }

    #[test]
    fn a_daemon_starts_once_and_is_named() {
        DAEMON.ensure(body).unwrap();
        DAEMON.ensure(body).unwrap();
        let thread = DAEMON.thread().expect("started");
        assert_eq!(thread.name(), Some("framekeep-test-daemon"));
        let deadline = Instant::now() + Duration::from_secs(5);
        while RUNS.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(RUNS.load(Ordering::SeqCst), 1);
    }
}
