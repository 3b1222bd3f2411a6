//! The loops that drive a [`Source`], [`Stage`] or [`Sink`] on the calling
//! thread.
//!
//! A pipeline runs each of them on a supervised worker, but they are public
//! so a component that must own its thread (a GUI display sink) can run the
//! same loop there and get identical close and cancel behaviour.
//!
//! Every public runner takes its edges by value: when it returns, its input
//! receiver is dropped (queued frames go back to their pool) and its output
//! sender is dropped (closing the stream for downstream). The `on_close`
//! callback runs after that, also when the loop panics.
//!
//! Inside, each runner makes one *attempt* ([`source_attempt`],
//! [`stage_attempt`], [`sink_attempt`]): a run over the element's borrowed
//! [`Ends`]. A pipeline calls the attempt again with the same `Ends` to
//! restart an element after a panic, its edges intact; the public runners
//! make exactly one attempt and then close the `Ends`.

use super::edge::{EdgeReceiver, EdgeSender, RecvError, SendError};
use super::element::Ends;
use super::error::{CloseReason, StageError};
use super::options::{SinkOptions, SourceOptions};
use super::stage::{Output, Sink, Source, Stage};
use super::summary::RunSummary;
use crate::cancel::{CancelToken, OnCancel};
use crate::frame::Frame;
use crate::pool::AcquireError;

/// The runner's own token: a child of `token`, also cancelled by `extra`
/// (an option's `with_cancel`). The guard unlinks `extra` on return.
fn link(token: &CancelToken, extra: Option<CancelToken>) -> (CancelToken, Option<OnCancel>) {
    let own = token.child();
    let guard = extra.map(|extra| {
        let target = own.clone();
        extra.on_cancel(move |cause| target.cancel_with(cause.clone()))
    });
    (own, guard)
}

fn reason_for(error: StageError, token: &CancelToken) -> CloseReason {
    match error {
        StageError::Cancelled | StageError::Acquire(AcquireError::Cancelled) => {
            CloseReason::Cancelled(token.cause())
        }
        StageError::OutputClosed => CloseReason::OutputClosed,
        StageError::Acquire(AcquireError::Closed) => CloseReason::PoolClosed,
        other => CloseReason::failed(other),
    }
}

/// Counts a send: handed on (`frames_out`, whatever the edge's link then
/// does with it), or dropped here because the consumers are gone
/// (`shutdown`) or the send was cancelled (`cancelled`); in those two cases
/// the element stops, for the reason returned.
fn count_send(summary: &mut RunSummary, sent: Result<(), SendError<Frame>>) -> Option<CloseReason> {
    match sent {
        Ok(()) => summary.frames_out += 1,
        Err(SendError::Closed(frame)) => {
            drop(frame);
            summary.dropped.shutdown += 1;
            return Some(CloseReason::OutputClosed);
        }
        Err(SendError::Cancelled(frame)) => {
            drop(frame);
            summary.dropped.cancelled += 1;
            return Some(CloseReason::Cancelled(None));
        }
    }
    None
}

/// Where a frame an element held went when the element stopped because of
/// `error` (it was not handed on).
fn count_held(summary: &mut RunSummary, error: &StageError) {
    match error {
        StageError::Cancelled | StageError::Acquire(AcquireError::Cancelled) => {
            summary.dropped.cancelled += 1
        }
        StageError::OutputClosed | StageError::Acquire(AcquireError::Closed) => {
            summary.dropped.shutdown += 1
        }
        _ => summary.dropped.failed += 1,
    }
}

/// Pulls frames from `source` into `out` until the stream ends, `token` (or
/// the option's token) is cancelled, every consumer is gone, or the source
/// fails. Then calls [`Source::close`], drops `out` (consumers see the end of
/// the stream after draining) and runs the `on_close` callback.
pub fn run_source<S: Source + ?Sized>(
    source: &mut S,
    out: EdgeSender<Frame>,
    token: &CancelToken,
    options: SourceOptions,
) -> RunSummary {
    let mut ends = Ends::source(out, options);
    source_attempt(source, &mut ends, token);
    ends.close()
}

/// One attempt of a source over `ends` (see [`run_source`]); the reason is
/// left in `ends.summary`, `Panicked` while the attempt is under way.
pub(crate) fn source_attempt<S: Source + ?Sized>(
    source: &mut S,
    ends: &mut Ends,
    token: &CancelToken,
) {
    let Ends {
        out,
        extra,
        summary,
        ..
    } = ends;
    summary.reason = CloseReason::Panicked;
    let (token, _link) = link(token, extra.clone());
    let cancelled = token.receiver();
    // `Ends::source` always has an output; `None` only after the element ended.
    let Some(out) = out.as_ref() else {
        summary.reason = CloseReason::OutputClosed;
        return;
    };
    let reason = loop {
        if token.is_cancelled() {
            break CloseReason::Cancelled(token.cause());
        }
        match source.next_frame(&token) {
            Ok(Some(frame)) => {
                summary.frames_in += 1;
                if let Some(reason) = count_send(summary, out.send_until(frame, &cancelled)) {
                    break fill_cause(reason, &token);
                }
            }
            Ok(None) => break CloseReason::EndOfStream,
            Err(e) => break reason_for(e, &token),
        }
    };
    source.close();
    summary.reason = reason;
}

fn fill_cause(reason: CloseReason, token: &CancelToken) -> CloseReason {
    match reason {
        CloseReason::Cancelled(None) => CloseReason::Cancelled(token.cause()),
        other => other,
    }
}

/// Feeds every frame of `input` through `stage` into `out` (or releases the
/// results when `out` is `None`) until the input closes and is drained (then
/// [`Stage::finish`]), `token` is cancelled, the output closes, or the stage
/// fails. A frame being processed when the token fires is finished first.
pub fn run_stage<S: Stage + ?Sized>(
    stage: &mut S,
    input: EdgeReceiver<Frame>,
    out: Option<EdgeSender<Frame>>,
    token: &CancelToken,
) -> RunSummary {
    let mut ends = Ends::stage(input, out);
    stage_attempt(stage, &mut ends, token);
    ends.close()
}

/// A stage's run: its [`Output`] and its totals, settled when dropped (also
/// by a panic's unwind), so a run that panics still counts what it handed
/// on and the frame it held.
struct Counted<'a, 'e> {
    output: Output<'e>,
    summary: &'a mut RunSummary,
    /// While the stage processes a frame: what the output had produced
    /// before that call.
    in_flight: Option<u64>,
}

impl Counted<'_, '_> {
    /// Accounts for one call of `process` (or `finish`, with no input frame),
    /// now that it returned `result`: `made` frames came out of it.
    fn settle(&mut self, had_input: bool, result: Result<(), &StageError>) {
        let before = self.in_flight.take().unwrap_or(self.output.produced());
        let made = self.output.produced() - before;
        match (had_input, made) {
            (false, made) => self.summary.created += made,
            (true, 0) => match result {
                Ok(()) => self.summary.dropped.filtered += 1,
                Err(error) => count_held(self.summary, error),
            },
            (true, made) => self.summary.created += made - 1,
        }
    }
}

impl Drop for Counted<'_, '_> {
    fn drop(&mut self) {
        if let Some(before) = self.in_flight.take() {
            // Unwinding out of `process`: the input frame went with the panic,
            // unless something came out of it first.
            match self.output.produced() - before {
                0 => self.summary.dropped.panic += 1,
                made => self.summary.created += made - 1,
            }
        }
        self.summary.frames_out += self.output.emitted();
        self.summary.dropped += self.output.dropped();
    }
}

/// One attempt of a stage over `ends` (see [`run_stage`]).
pub(crate) fn stage_attempt<S: Stage + ?Sized>(
    stage: &mut S,
    ends: &mut Ends,
    token: &CancelToken,
) {
    let Ends {
        input,
        out,
        summary,
        ..
    } = ends;
    summary.reason = CloseReason::Panicked;
    let cancelled = token.receiver();
    // `Ends::stage` always has an input; `None` only after the element ended.
    let Some(input) = input.as_ref() else {
        summary.reason = CloseReason::EndOfStream;
        return;
    };
    let mut counted = Counted {
        output: Output::new(out.as_ref(), Some(&cancelled)),
        summary,
        in_flight: None,
    };
    let reason = loop {
        if token.is_cancelled() {
            break CloseReason::Cancelled(token.cause());
        }
        match input.recv_until(&cancelled) {
            Ok(frame) => {
                counted.summary.frames_in += 1;
                counted.in_flight = Some(counted.output.produced());
                let result = stage.process(frame, &mut counted.output);
                counted.settle(true, result.as_ref().map(drop));
                if let Err(e) = result {
                    break reason_for(e, token);
                }
            }
            Err(RecvError::Closed) => {
                counted.in_flight = Some(counted.output.produced());
                let result = stage.finish(&mut counted.output);
                counted.settle(false, result.as_ref().map(drop));
                match result {
                    Ok(()) => break CloseReason::EndOfStream,
                    Err(e) => break reason_for(e, token),
                }
            }
            Err(RecvError::Cancelled | RecvError::Timeout) => {
                break CloseReason::Cancelled(token.cause())
            }
        }
    };
    counted.summary.reason = reason;
}

/// Feeds every frame of `input` to `sink` until the input closes and is
/// drained (then [`Sink::finish`]), the token (or the option's token) is
/// cancelled, or the sink fails. After each
/// [`consume`](Sink::consume) the frame is released
/// ([`SinkOptions::with_release`]) or sent to `out`.
pub fn run_sink<S: Sink + ?Sized>(
    sink: &mut S,
    input: EdgeReceiver<Frame>,
    out: Option<EdgeSender<Frame>>,
    token: &CancelToken,
    options: SinkOptions,
) -> RunSummary {
    let mut ends = Ends::sink(input, out, options);
    sink_attempt(sink, &mut ends, token);
    ends.close()
}

/// One attempt of a sink over `ends` (see [`run_sink`]).
pub(crate) fn sink_attempt<S: Sink + ?Sized>(sink: &mut S, ends: &mut Ends, token: &CancelToken) {
    let Ends {
        input,
        out,
        extra,
        release,
        summary,
        ..
    } = ends;
    summary.reason = CloseReason::Panicked;
    let (token, _link) = link(token, extra.clone());
    let cancelled = token.receiver();
    // `Ends::sink` always has an input; `None` only after the element ended.
    let Some(input) = input.as_ref() else {
        summary.reason = CloseReason::EndOfStream;
        return;
    };
    let mut tally = Holding {
        summary,
        frame: false,
    };
    let reason = loop {
        if token.is_cancelled() {
            break CloseReason::Cancelled(token.cause());
        }
        match input.recv_until(&cancelled) {
            Ok(frame) => {
                tally.summary.frames_in += 1;
                // A panic in `consume` drops the frame in the unwind.
                tally.frame = true;
                let consumed = sink.consume(&frame);
                tally.frame = false;
                // Consumed (also when `consume` failed: the sink saw it), then
                // released or handed on.
                match (out.as_ref(), *release) {
                    (Some(out), false) => {
                        let sent = out.send_until(frame, &cancelled);
                        if let Some(reason) = count_send(tally.summary, sent) {
                            if consumed.is_ok() {
                                break fill_cause(reason, &token);
                            }
                        }
                    }
                    _ => {
                        drop(frame);
                        tally.summary.frames_out += 1;
                    }
                }
                if let Err(e) = consumed {
                    break reason_for(e, &token);
                }
            }
            Err(RecvError::Closed) => break CloseReason::EndOfStream,
            Err(RecvError::Cancelled | RecvError::Timeout) => {
                break CloseReason::Cancelled(token.cause())
            }
        }
    };
    tally.summary.reason = match (sink.finish(), reason) {
        (Err(e), CloseReason::EndOfStream) => reason_for(e, &token),
        (_, reason) => reason,
    };
}

/// A sink's totals while it may hold a frame in `consume`: a panic that
/// unwinds out of `consume` drops the frame, counted here as such.
struct Holding<'a> {
    summary: &'a mut RunSummary,
    frame: bool,
}

impl Drop for Holding<'_> {
    fn drop(&mut self) {
        if self.frame {
            self.summary.dropped.panic += 1;
        }
    }
}
