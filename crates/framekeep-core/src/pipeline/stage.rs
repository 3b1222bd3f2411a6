//! The three roles of a pipeline: [`Source`], [`Stage`], [`Sink`].
//!
//! The traits hold only the per-frame logic; the loops that move frames
//! between edges, honour cancel tokens, release or forward frames and call
//! `on_close` live in the runners ([`run_source`](super::run_source),
//! [`run_stage`](super::run_stage), [`run_sink`](super::run_sink)), so every
//! implementation gets the same shutdown behaviour for free. Ownership is in
//! the signatures: a source *returns* its frame (it cannot keep or release
//! what it hands on), a stage gets the frame by value and passes frames on
//! through [`Output`], a sink only *borrows* the frame (the runner releases
//! or forwards it).

use crossbeam_channel::Receiver;

use super::drops::Drops;
use super::edge::{EdgeSender, SendError};
use super::error::StageError;
use crate::cancel::CancelToken;
use crate::frame::Frame;

/// Produces frames (a camera, a file, a test pattern).
pub trait Source: Send {
    /// The next frame; `Ok(None)` ends the stream. May block (waiting for
    /// the device, pacing to a frame rate, acquiring from a pool) but must
    /// return soon after `token` is cancelled (use
    /// [`FramePool::acquire_cancellable`](crate::pool::FramePool::acquire_cancellable),
    /// [`CancelToken::wait_timeout`]).
    fn next_frame(&mut self, token: &CancelToken) -> Result<Option<Frame>, StageError>;

    /// Called once when the source stops (end of stream, cancel, error):
    /// stop devices here. Not called after a panic, so memory and handles
    /// that must always go back belong in `Drop`, which runs in every case.
    fn close(&mut self) {}
}

/// Turns each input frame into zero, one or more output frames.
pub trait Stage: Send {
    /// Processes one frame; pass results on with [`Output::emit`]. Dropping
    /// `frame` (or not emitting it) releases it.
    fn process(&mut self, frame: Frame, out: &mut Output<'_>) -> Result<(), StageError>;

    /// Called once after the input closed and every queued frame was
    /// processed, to flush frames the stage still holds.
    fn finish(&mut self, out: &mut Output<'_>) -> Result<(), StageError> {
        let _ = out;
        Ok(())
    }
}

/// Consumes frames (display, encoder, statistics).
pub trait Sink: Send {
    /// Consumes one frame. The sink may clone the handle to keep it (e.g.
    /// for repaint); the runner then releases its own handle
    /// ([`SinkOptions::with_release`](super::SinkOptions::with_release)) or
    /// forwards it to the sink's output edge.
    fn consume(&mut self, frame: &Frame) -> Result<(), StageError>;

    /// Called once when the sink stops (input closed and drained, cancel or
    /// error).
    fn finish(&mut self) -> Result<(), StageError> {
        Ok(())
    }
}

/// Where a [`Stage`] sends its results: the stage's output edge, or nowhere
/// (frames are then released) for a stage at the end of a pipeline.
pub struct Output<'a> {
    edge: Option<&'a EdgeSender<Frame>>,
    cancelled: Option<&'a Receiver<()>>,
    emitted: u64,
    /// Frames whose emit failed (cancelled, or every consumer gone).
    dropped: Drops,
}

impl<'a> Output<'a> {
    /// An output into `edge` whose blocking sends end when `cancelled` is
    /// ready (a [`CancelToken::receiver`]).
    pub fn new(edge: Option<&'a EdgeSender<Frame>>, cancelled: Option<&'a Receiver<()>>) -> Self {
        Output {
            edge,
            cancelled,
            emitted: 0,
            dropped: Drops::default(),
        }
    }

    /// Hands `frame` on. Under a dropping link the edge may drop it (or an
    /// older one), which is not an error. Fails with
    /// [`StageError::OutputClosed`] when every consumer is gone and
    /// [`StageError::Cancelled`] when a blocking send was cancelled; the
    /// frame is released (and counted as dropped) in both cases. Return the
    /// error from [`Stage::process`] so the runner stops.
    pub fn emit(&mut self, frame: Frame) -> Result<(), StageError> {
        let Some(edge) = self.edge else {
            drop(frame);
            self.emitted += 1;
            return Ok(());
        };
        let sent = match self.cancelled {
            Some(c) => edge.send_until(frame, c),
            None => edge.send(frame),
        };
        match sent {
            Ok(()) => {
                self.emitted += 1;
                Ok(())
            }
            Err(SendError::Closed(_)) => {
                self.dropped.shutdown += 1;
                Err(StageError::OutputClosed)
            }
            Err(SendError::Cancelled(_)) => {
                self.dropped.cancelled += 1;
                Err(StageError::Cancelled)
            }
        }
    }

    /// Frames handed on so far (the edge may still have dropped some under
    /// its link).
    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    /// Frames given to `emit`, handed on or not.
    pub(crate) fn produced(&self) -> u64 {
        self.emitted + self.dropped.total()
    }

    /// Frames whose emit failed, by reason.
    pub(crate) fn dropped(&self) -> Drops {
        self.dropped
    }
}

/// A [`Stage`] made of a closure `FnMut(Frame) -> Result<Option<Frame>, _>`:
/// one frame in, at most one out. See [`stage_fn`].
struct FnStage<F>(F);

/// Wraps a closure as a [`Stage`]: one frame in, at most one out
/// (`Ok(None)` drops the frame).
pub fn stage_fn<F>(f: F) -> impl Stage
where
    F: FnMut(Frame) -> Result<Option<Frame>, StageError> + Send,
{
    FnStage(f)
}

impl<F> Stage for FnStage<F>
where
    F: FnMut(Frame) -> Result<Option<Frame>, StageError> + Send,
{
    fn process(&mut self, frame: Frame, out: &mut Output<'_>) -> Result<(), StageError> {
        match (self.0)(frame)? {
            Some(frame) => out.emit(frame),
            None => Ok(()),
        }
    }
}

impl<S: Source + ?Sized> Source for Box<S> {
    fn next_frame(&mut self, token: &CancelToken) -> Result<Option<Frame>, StageError> {
        (**self).next_frame(token)
    }
    fn close(&mut self) {
        (**self).close()
    }
}

impl<S: Stage + ?Sized> Stage for Box<S> {
    fn process(&mut self, frame: Frame, out: &mut Output<'_>) -> Result<(), StageError> {
        (**self).process(frame, out)
    }
    fn finish(&mut self, out: &mut Output<'_>) -> Result<(), StageError> {
        (**self).finish(out)
    }
}

impl<S: Sink + ?Sized> Sink for Box<S> {
    fn consume(&mut self, frame: &Frame) -> Result<(), StageError> {
        (**self).consume(frame)
    }
    fn finish(&mut self) -> Result<(), StageError> {
        (**self).finish()
    }
}
