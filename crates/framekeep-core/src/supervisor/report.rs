//! What shutdown found: per worker, how it ended and how long it took to stop.
//!
//! A shutdown that "mostly worked" is the dangerous kind: a worker that ignored its token is
//! still running, holding frames and a device. The report names it, says it was detached (an
//! OS thread cannot be killed), and keeps errors and panics next to it, so a test or the main
//! binary can assert on a clean stop and print something a human can act on.

use std::fmt;
use std::time::Duration;

use crate::time::HumanDuration;

/// How a worker ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The closure returned `Ok(())`.
    Ok,
    /// The closure returned an error (its message, with its source chain).
    Error(String),
    /// The closure panicked (the panic message) and was not restarted.
    Panicked(String),
    /// The worker did not exit within its shutdown timeout. Its thread is still running and
    /// was detached: threads cannot be killed.
    TimedOut,
}

impl Outcome {
    /// True for [`Outcome::Ok`].
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok => f.write_str("ok"),
            Outcome::Error(message) => write!(f, "error: {message}"),
            Outcome::Panicked(message) => write!(f, "panicked: {message}"),
            Outcome::TimedOut => {
                f.write_str("TIMED OUT: still running, thread detached (threads cannot be killed)")
            }
        }
    }
}

/// One worker's line in a [`ShutdownReport`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerReport {
    /// The worker's name.
    pub name: String,
    /// How it ended.
    pub outcome: Outcome,
    /// How many times it was restarted after a panic.
    pub restarts: u32,
    /// From the moment shutdown turned to this worker (cancel, or start of its drain) until it
    /// exited; zero if it had already exited; the time waited if it timed out.
    pub stop_time: Duration,
    /// Whether shutdown had to cancel it (false if it had already exited or, in drain order,
    /// exited by itself within its drain timeout).
    pub cancelled: bool,
}

impl fmt::Display for WorkerReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "worker '{}': {}", self.name, self.outcome)?;
        let verb = if self.outcome == Outcome::TimedOut {
            "waited"
        } else {
            "stopped in"
        };
        write!(f, " ({verb} {}", HumanDuration(self.stop_time))?;
        if !self.cancelled && self.outcome != Outcome::TimedOut {
            f.write_str(", exited by itself")?;
        }
        if self.restarts > 0 {
            write!(f, ", {} restart(s)", self.restarts)?;
        }
        f.write_str(")")
    }
}

/// The result of [`Supervisor::shutdown`](super::Supervisor::shutdown): one line per
/// worker, in the order they were stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Per worker, in stop order.
    pub workers: Vec<WorkerReport>,
    /// Wall time of the whole shutdown.
    pub total: Duration,
}

impl ShutdownReport {
    /// True if every worker ended with [`Outcome::Ok`].
    pub fn is_clean(&self) -> bool {
        self.workers.iter().all(|w| w.outcome.is_ok())
    }

    /// The report line of the worker called `name`.
    pub fn worker(&self, name: &str) -> Option<&WorkerReport> {
        self.workers.iter().find(|w| w.name == name)
    }

    /// Workers that did not exit in time (still running, detached).
    pub fn timed_out(&self) -> impl Iterator<Item = &WorkerReport> + '_ {
        self.workers
            .iter()
            .filter(|w| w.outcome == Outcome::TimedOut)
    }

    /// Workers that returned an error, with the message.
    pub fn errors(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.workers.iter().filter_map(|w| match &w.outcome {
            Outcome::Error(message) => Some((w.name.as_str(), message.as_str())),
            _ => None,
        })
    }

    /// Workers that panicked (and were not restarted), with the panic message.
    pub fn panics(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.workers.iter().filter_map(|w| match &w.outcome {
            Outcome::Panicked(message) => Some((w.name.as_str(), message.as_str())),
            _ => None,
        })
    }

    /// The worker names in stop order.
    pub fn stop_order(&self) -> Vec<&str> {
        self.workers.iter().map(|w| w.name.as_str()).collect()
    }
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bad = self.workers.iter().filter(|w| !w.outcome.is_ok()).count();
        write!(
            f,
            "shutdown of {} worker(s) in {}: ",
            self.workers.len(),
            HumanDuration(self.total)
        )?;
        if bad == 0 {
            f.write_str("all ok")?;
        } else {
            write!(f, "{bad} not ok")?;
        }
        for worker in &self.workers {
            write!(f, "\n  {worker}")?;
        }
        Ok(())
    }
}
