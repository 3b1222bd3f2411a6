//! [`RunSummary`]: what a source, stage or sink did, and why it stopped.

use super::error::{CloseReason, StageError};

/// How a runner ended, with its frame counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSummary {
    /// Frames taken in: produced by a source, received by a stage or sink.
    pub frames_in: u64,
    /// Frames handed to the output edge (a releasing sink: frames released).
    pub frames_out: u64,
    /// Frames dropped at once by a `DropNewest` output edge.
    pub dropped: u64,
    /// Why it stopped.
    pub reason: CloseReason,
}

impl RunSummary {
    pub(crate) fn new() -> Self {
        RunSummary {
            frames_in: 0,
            frames_out: 0,
            dropped: 0,
            reason: CloseReason::Panicked,
        }
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
