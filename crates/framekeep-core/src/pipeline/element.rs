//! What a pipeline element owns besides its logic: its edges, its extra
//! token, its close callback and its running totals.
//!
//! Why a type of its own: the runners borrow it for one run instead of
//! taking the edges by value, so a panic that unwinds out of a run leaves
//! the edges where they were. A pipeline element under
//! [`PanicPolicy::Restart`](crate::supervisor::PanicPolicy::Restart) is then
//! called again with the same `Ends` and carries on with the next frame; the
//! frame it held went back to its pool during the unwind. The element ends
//! when its `Ends` is dropped — after a run that returned, or, after a panic
//! that is not restarted, when the worker drops its closure.

use super::edge::{EdgeReceiver, EdgeSender};
use super::options::{OnClose, SinkOptions, SourceOptions};
use super::summary::RunSummary;
use crate::cancel::CancelToken;
use crate::frame::Frame;

/// The edges, extra token, close callback and totals of one element.
///
/// Dropping it ends the element, in this order: the input receiver (frames
/// still queued go back to their pools), then the output sender (downstream
/// sees the end of the stream once it has drained), then the `on_close`
/// callback with the reason of the last run:
/// [`CloseReason::Panicked`](super::CloseReason::Panicked)
/// unless a run returned, then the pipeline's record of its totals.
pub(crate) struct Ends {
    pub(crate) input: Option<EdgeReceiver<Frame>>,
    pub(crate) out: Option<EdgeSender<Frame>>,
    /// An option's `with_cancel` token, linked anew for every run.
    pub(crate) extra: Option<CancelToken>,
    /// A sink releases each frame after consuming it instead of forwarding it.
    pub(crate) release: bool,
    on_close: Option<OnClose>,
    /// Where a pipeline collects the totals when the element ends.
    record: Option<Record>,
    /// Totals over every run; `reason` is the last run's.
    pub(crate) summary: RunSummary,
}

/// Receives an element's totals when it ends.
pub(crate) type Record = Box<dyn FnOnce(RunSummary) + Send + 'static>;

impl Ends {
    /// A source's: its output edge and options.
    pub(crate) fn source(out: EdgeSender<Frame>, options: SourceOptions) -> Self {
        Ends {
            input: None,
            out: Some(out),
            extra: options.cancel,
            release: false,
            on_close: options.on_close,
            record: None,
            summary: RunSummary::new(),
        }
    }

    /// A stage's: its input edge and, unless it ends the pipeline, its output edge.
    pub(crate) fn stage(input: EdgeReceiver<Frame>, out: Option<EdgeSender<Frame>>) -> Self {
        Ends {
            input: Some(input),
            out,
            extra: None,
            release: false,
            on_close: None,
            record: None,
            summary: RunSummary::new(),
        }
    }

    /// A sink's: its input edge, optional output edge and options.
    pub(crate) fn sink(
        input: EdgeReceiver<Frame>,
        out: Option<EdgeSender<Frame>>,
        options: SinkOptions,
    ) -> Self {
        Ends {
            input: Some(input),
            out,
            extra: options.cancel,
            release: options.release,
            on_close: options.on_close,
            record: None,
            summary: RunSummary::new(),
        }
    }

    /// Hands the totals to `record` when the element ends, however it ends
    /// (after `on_close`).
    pub(crate) fn recorded(mut self, record: Record) -> Self {
        self.record = Some(record);
        self
    }

    /// Ends the element now (see the type's docs) and returns its totals.
    pub(crate) fn close(mut self) -> RunSummary {
        let summary = self.summary.clone();
        self.end();
        summary
    }

    fn end(&mut self) {
        drop(self.input.take());
        drop(self.out.take());
        if let Some(callback) = self.on_close.take() {
            callback(&self.summary.reason);
        }
        if let Some(record) = self.record.take() {
            record(self.summary.clone());
        }
    }
}

impl Drop for Ends {
    fn drop(&mut self) {
        self.end();
    }
}
