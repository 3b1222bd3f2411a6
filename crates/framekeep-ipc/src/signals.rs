//! Keeps iceoryx2 away from the process's signal handlers.
//!
//! iceoryx2 has a process-wide signal handler (`iceoryx2_bb_posix::signal::SignalHandler`,
//! a lazily created singleton). The first time anything creates it — a `WaitSet` or
//! `Node::wait` in the default `SignalHandlingMode::HandleTerminationRequests`, or its
//! shared-memory code zeroing memory — it replaces the handlers of SIGINT, SIGTERM,
//! SIGQUIT, SIGTSTP, SIGCONT, SIGABRT, SIGTTIN, SIGTTOU, SIGUSR1, SIGPROF, SIGURG and
//! SIGVTALRM with one that only records the signal. framekeep's Ctrl-C handler (and the
//! default actions of Ctrl-Z and Ctrl-\) would then never run.
//!
//! framekeep-ipc builds every node and wait set with `SignalHandlingMode::Disabled`, and
//! before its first iceoryx2 call [`guard`] creates the singleton on purpose and puts back
//! every signal disposition it changed: the singleton exists from then on, so iceoryx2
//! never installs its handlers again in this process. A signal that arrives during those
//! few microseconds is recorded by iceoryx2 instead of handled (it is lost).

use std::sync::Once;

/// The signals whose dispositions are saved and restored: every standard signal a
/// handler can be installed for (iceoryx2 touches 12 of them).
fn signals() -> impl Iterator<Item = libc::c_int> {
    (1..32).filter(|&s| s != libc::SIGKILL && s != libc::SIGSTOP)
}

/// Makes sure iceoryx2's signal handler singleton exists without having changed any
/// signal disposition. Idempotent and cheap after the first call.
pub(crate) fn guard() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let saved: Vec<(libc::c_int, libc::sigaction)> = signals()
            .filter_map(|signal| {
                // SAFETY: a zeroed sigaction is a valid out-parameter; `act` is null, so
                // this only reads the current disposition.
                let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
                let rc = unsafe { libc::sigaction(signal, std::ptr::null(), &mut old) };
                (rc == 0).then_some((signal, old))
            })
            .collect();
        // Creates the singleton (it installs its handlers now, once).
        let _ = iceoryx2_bb_posix::signal::SignalHandler::termination_requested();
        for (signal, old) in &saved {
            // SAFETY: `old` is a disposition the kernel gave us for this very signal a
            // moment ago; reinstalling it is what the process had before.
            unsafe { libc::sigaction(*signal, old, std::ptr::null_mut()) };
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disposition(signal: libc::c_int) -> libc::sighandler_t {
        // SAFETY: query only (`act` is null) into a zeroed out-parameter.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        unsafe { libc::sigaction(signal, std::ptr::null(), &mut old) };
        old.sa_sigaction
    }

    #[test]
    fn the_guard_leaves_every_disposition_as_it_was() {
        let before: Vec<_> = signals().map(disposition).collect();
        guard();
        // A wait set in the default mode would install iceoryx2's handlers if the
        // singleton did not exist yet; after the guard it cannot any more.
        let _ = iceoryx2_bb_posix::signal::SignalHandler::termination_requested();
        let after: Vec<_> = signals().map(disposition).collect();
        assert_eq!(before, after);
    }
}
