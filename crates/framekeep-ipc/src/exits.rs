//! [`Exits`]: knowing at once, and cheaply, that a subscriber's process died.
//!
//! iceoryx2 finds dead processes by listing every node of the domain and testing each
//! one's lock file (`try_cleanup_dead_nodes`): about half a millisecond with a handful of
//! nodes on this machine, too much to do four times a second at 60 fps (it was most of
//! framekeep's extra CPU per frame over raw iceoryx2). Subscribers report their pid in
//! their hold reports, so the publisher watches those processes through pidfds instead:
//! one `poll` of a few descriptors per housekeeping tick, and the full cleanup only when
//! one of them has exited (plus a slow sweep for subscribers that do not report: another
//! program's raw iceoryx2 ports, or processes in another pid namespace).

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// What is known of one process.
enum Watch {
    /// A pidfd on it.
    Open(OwnedFd),
    /// It has exited (seen once; a pid is not watched again).
    Exited,
    /// pidfd_open failed (already gone, or another pid namespace).
    Unwatchable,
}

/// Processes watched through pidfds.
#[derive(Default)]
pub(crate) struct Exits {
    watched: HashMap<u32, Watch>,
}

impl Exits {
    /// Watches `pid` (once: a pid seen before, exited or not, is not opened again).
    pub(crate) fn watch(&mut self, pid: u32) {
        self.watched.entry(pid).or_insert_with(|| {
            // SAFETY: pidfd_open takes a pid and flags, no pointers; a negative result is
            // an error (no such process, or a kernel without pidfds).
            let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
            if fd < 0 {
                return Watch::Unwatchable;
            }
            // SAFETY: `fd` is a descriptor pidfd_open just opened for us; nobody else owns it.
            Watch::Open(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
        });
    }

    /// Whether any watched process has exited since the last call (each exit is
    /// reported once).
    pub(crate) fn any_exited(&mut self) -> bool {
        let (pids, mut fds): (Vec<u32>, Vec<libc::pollfd>) = self
            .watched
            .iter()
            .filter_map(|(pid, watch)| match watch {
                Watch::Open(fd) => Some((
                    *pid,
                    libc::pollfd {
                        fd: fd.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    },
                )),
                Watch::Exited | Watch::Unwatchable => None,
            })
            .unzip();
        if fds.is_empty() {
            return false;
        }
        // SAFETY: `fds` is a valid array of `fds.len()` pollfds on descriptors we own;
        // timeout 0: never blocks.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 0) };
        if ready <= 0 {
            return false;
        }
        for (pid, fd) in pids.iter().zip(&fds) {
            if fd.revents != 0 {
                // Closes the pidfd.
                self.watched.insert(*pid, Watch::Exited);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_that_exits_is_seen_and_forgotten() {
        let mut child = std::process::Command::new("sleep")
            .arg("0.2")
            .spawn()
            .unwrap();
        let mut exits = Exits::default();
        exits.watch(child.id());
        exits.watch(std::process::id());
        assert!(!exits.any_exited());
        child.wait().unwrap();
        assert!(exits.any_exited());
        assert!(!exits.any_exited(), "seen once");
        exits.watch(child.id());
        assert!(!exits.any_exited(), "an exited pid is not watched again");
        // A pid that does not exist is remembered as unwatchable, never "exited".
        exits.watch(u32::MAX / 2);
        assert!(!exits.any_exited());
    }
}
