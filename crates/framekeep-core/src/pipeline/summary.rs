//! [`RunSummary`]: what a source, stage or sink did, and why it stopped.

use super::drops::Drops;
use super::error::{CloseReason, StageError};

/// How an element ended, with its frame counts.
///
/// The counts obey the conservation law: at the end of a run
/// `frames_in + created = frames_out + dropped.total()`
/// ([`RunSummary::balances`]). A frame an element takes in is handed on,
/// delivered (a sink), or counted in `dropped` with its reason; with the
/// element's output edge's [`EdgeStats`](super::EdgeStats) (`frames_out` is
/// its `sent`) every frame of a pipeline is accounted for exactly once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSummary {
    /// Frames taken in: produced by a source, received by a stage or sink.
    pub frames_in: u64,
    /// Frames handed on: to the output edge (which may still drop them under
    /// its link), or, for an element with no output edge (a pipeline's sink,
    /// a stage at the end), delivered and released.
    pub frames_out: u64,
    /// Frames a stage emitted beyond one per frame taken in (a stage that
    /// turns one frame into several, or flushes frames it held in `finish`).
    pub created: u64,
    /// Frames the element let go of without handing them on, by reason.
    pub dropped: Drops,
    /// Panics of the element that a restart survived or that ended it
    /// (under [`PanicPolicy::Restart`](crate::supervisor::PanicPolicy::Restart)
    /// an element carries on after one).
    pub panics: u32,
    /// The message of the element's last panic.
    pub last_panic: Option<String>,
    /// Why it stopped.
    pub reason: CloseReason,
}

impl RunSummary {
    pub(crate) fn new() -> Self {
        RunSummary {
            frames_in: 0,
            frames_out: 0,
            created: 0,
            dropped: Drops::default(),
            panics: 0,
            last_panic: None,
            reason: CloseReason::Panicked,
        }
    }

    /// Whether every frame is accounted for: `frames_in + created =
    /// frames_out + dropped.total()` (true at the end of every run).
    pub fn balances(&self) -> bool {
        self.frames_in + self.created == self.frames_out + self.dropped.total()
    }

    /// Records a panic of the element (its frames were counted already).
    pub(crate) fn note_panic(&mut self, message: String) {
        self.panics += 1;
        self.last_panic = Some(message);
    }

    /// `Err` with the failure (its error and `source()` chain) if the
    /// element failed, else the summary.
    pub fn into_result(self) -> Result<RunSummary, StageError> {
        match &self.reason {
            CloseReason::Failed(error) => Err(StageError::shared(error.clone())),
            _ => Ok(self),
        }
    }
}
