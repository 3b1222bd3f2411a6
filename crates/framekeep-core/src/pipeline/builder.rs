//! [`PipelineBuilder`]: source → stages → sink on supervised workers.
//!
//! Each element runs on its own [`Supervisor`] worker (a named OS thread
//! with its own cancel token, registered in the ledger) and the elements are
//! wired by [`edge`](super::edge())s, one per [`Link`].
//! The supervisor stops workers in [`ShutdownOrder::Drain`]: the source is
//! cancelled first; its sender drops, so the next stage drains its input,
//! finishes its in-flight frame and stops by itself, and so on down to the
//! sink. Only a worker that does not drain within the drain timeout is
//! cancelled. The [`PipelineReport`] has per-edge drop counts, each
//! element's [`RunSummary`] and the supervisor's [`ShutdownReport`].

use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::drops::Drops;
use super::edge::{edge, EdgeProbe, EdgeStats, Link};
use super::element::{Ends, Record};
use super::options::{SinkOptions, SourceOptions};
use super::run::{sink_attempt, source_attempt, stage_attempt};
use super::stage::{Sink, Source, Stage};
use super::summary::RunSummary;
use crate::cancel::{CancelToken, Cause};
use crate::frame::Frame;
use crate::supervisor::{
    ShutdownOrder, ShutdownReport, SpawnError, Supervisor, SupervisorOptions, WorkerError,
    WorkerHandle,
};

/// Why a pipeline could not start.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// [`PipelineBuilder::source`] was not called.
    #[error("the pipeline has no source")]
    NoSource,
    /// [`PipelineBuilder::sink`] was not called.
    #[error("the pipeline has no sink")]
    NoSink,
    /// A worker could not be spawned (duplicate name, cancelled token, OS).
    /// Workers already started were shut down.
    #[error(transparent)]
    Spawn(#[from] SpawnError),
}

type SourceBox = Box<dyn Source + 'static>;
type StageBox = Box<dyn Stage + 'static>;
type SinkBox = Box<dyn Sink + 'static>;

/// Collects a source, stages and a sink, then [`start`](Self::start)s them.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use framekeep_core::frame::{Frame, PixelFormat};
/// use framekeep_core::pipeline::{stage_fn, Link, PipelineBuilder, Sink, StageError, SyntheticSource};
///
/// /// Counts what reaches it; the runner releases each frame after `consume`.
/// struct Count(Arc<AtomicU64>);
/// impl Sink for Count {
///     fn consume(&mut self, _frame: &Frame) -> Result<(), StageError> {
///         self.0.fetch_add(1, Ordering::Relaxed);
///         Ok(())
///     }
/// }
///
/// let source = SyntheticSource::builder(PixelFormat::Gray8, 64, 48).frames(10).build()?;
/// let seen = Arc::new(AtomicU64::new(0));
/// let pipeline = PipelineBuilder::new("demo")
///     .source("pattern", source)
///     .stage("identity", Link::block(2), stage_fn(|f| Ok(Some(f))))
///     .sink("count", Link::block(2), Count(seen.clone()))
///     .start()?;
/// assert!(pipeline.wait(Duration::from_secs(10)));   // the source ends after 10 frames
/// let report = pipeline.shutdown();
/// assert!(report.is_clean(), "{report}");
/// assert_eq!(seen.load(Ordering::Relaxed), 10);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PipelineBuilder {
    name: String,
    cancel: Option<CancelToken>,
    supervisor: SupervisorOptions,
    source: Option<(String, SourceBox, SourceOptions)>,
    stages: Vec<(String, Link, StageBox)>,
    sink: Option<(String, Link, SinkBox, SinkOptions)>,
}

impl PipelineBuilder {
    /// An empty pipeline called `name` (worker names are `name/element`).
    pub fn new(name: impl Into<String>) -> Self {
        PipelineBuilder {
            name: name.into(),
            cancel: None,
            supervisor: SupervisorOptions::new(),
            source: None,
            stages: Vec::new(),
            sink: None,
        }
    }

    /// Runs the pipeline under `token` (e.g. the root given to
    /// [`install_ctrlc`](crate::cancel::install_ctrlc)): cancelling it stops
    /// every element at once, and an escalated panic cancels it. Without it
    /// the pipeline has its own root.
    pub fn with_cancel(mut self, token: &CancelToken) -> Self {
        self.cancel = Some(token.clone());
        self
    }

    /// Supervisor options (timeouts, panic and error policies, ledger). The
    /// shutdown order is always [`ShutdownOrder::Drain`].
    ///
    /// Under a panic policy of
    /// [`Restart`](crate::supervisor::PanicPolicy::Restart) an element that
    /// panics carries on with the next frame: it keeps its edges and its own
    /// state (as the panic left it), the frame it held went back to its pool
    /// during the unwind, and its summary counts every run. Once the restart
    /// budget is spent, or under the default `Escalate`, the panic cancels
    /// the pipeline; its edges close when its worker ends, and `on_close`
    /// runs with [`CloseReason::Panicked`](super::CloseReason::Panicked).
    pub fn supervisor_options(mut self, options: SupervisorOptions) -> Self {
        self.supervisor = options;
        self
    }

    /// The source, with default options.
    pub fn source(self, name: impl Into<String>, source: impl Source + 'static) -> Self {
        self.source_with(name, source, SourceOptions::new())
    }

    /// The source, with `options` (extra token, close callback).
    pub fn source_with(
        mut self,
        name: impl Into<String>,
        source: impl Source + 'static,
        options: SourceOptions,
    ) -> Self {
        self.source = Some((name.into(), Box::new(source), options));
        self
    }

    /// Appends a stage, fed from the previous element through `link`.
    pub fn stage(
        mut self,
        name: impl Into<String>,
        link: Link,
        stage: impl Stage + 'static,
    ) -> Self {
        self.stages.push((name.into(), link, Box::new(stage)));
        self
    }

    /// The sink, fed from the last stage (or the source) through `link`,
    /// releasing every frame after consuming it.
    pub fn sink(self, name: impl Into<String>, link: Link, sink: impl Sink + 'static) -> Self {
        self.sink_with(name, link, sink, SinkOptions::new().with_release())
    }

    /// The sink with `options` (extra token, close callback; without
    /// `with_release` frames are released anyway, as a pipeline's sink has
    /// no output edge).
    pub fn sink_with(
        mut self,
        name: impl Into<String>,
        link: Link,
        sink: impl Sink + 'static,
        options: SinkOptions,
    ) -> Self {
        self.sink = Some((name.into(), link, Box::new(sink), options));
        self
    }

    /// Wires the edges and spawns one worker per element, source first.
    /// Must be called on the thread whose ledger scope should own the
    /// workers (a test's `LeakCheck`).
    pub fn start(self) -> Result<Pipeline, BuildError> {
        let (source_name, mut source, source_options) = self.source.ok_or(BuildError::NoSource)?;
        let (sink_name, sink_link, mut sink, sink_options) = self.sink.ok_or(BuildError::NoSink)?;
        let root = self.cancel.unwrap_or_default();
        let supervisor =
            Supervisor::with_options(&root, self.supervisor.order(ShutdownOrder::Drain));
        let summaries = Arc::new(Mutex::new(Vec::new()));
        let mut probes = Vec::new();
        let mut workers = Vec::new();

        // Edges first: edge i feeds element i + 1 (stages, then the sink).
        let mut names = vec![source_name.clone()];
        let mut links = Vec::new();
        for (name, link, _) in &self.stages {
            names.push(name.clone());
            links.push(*link);
        }
        names.push(sink_name.clone());
        links.push(sink_link);
        let mut senders = Vec::new();
        let mut receivers = Vec::new();
        for (i, link) in links.iter().enumerate() {
            let (tx, rx) = edge::<Frame>(format!("{}->{}", names[i], names[i + 1]), *link);
            probes.push(rx.probe());
            senders.push(Some(tx));
            receivers.push(Some(rx));
        }
        let mut senders = senders.into_iter();
        let mut receivers = receivers.into_iter();
        let worker_name = |element: &str| format!("{}/{}", self.name, element);
        // An element's totals reach the report however it ends (a panic too).
        let record = |element: &str| -> Record {
            let slot = Arc::clone(&summaries);
            let element = element.to_owned();
            Box::new(move |summary| slot.lock().push((element, summary)))
        };

        let spawned = (|| -> Result<(), SpawnError> {
            // Each closure keeps its element's `Ends` across calls: a call
            // that panics leaves them in place for a restart; a call that
            // returns closes them; a worker that is not restarted drops them.
            let mut ends = senders
                .next()
                .flatten()
                .map(|out| Ends::source(out, source_options).recorded(record(&source_name)));
            workers.push(supervisor.spawn(worker_name(&source_name), move |ctx| {
                let current = ends.as_mut().ok_or_else(already_ended)?;
                noting_panics(current, |ends| {
                    source_attempt(&mut source, ends, ctx.token())
                });
                finish(&mut ends)
            })?);
            for (name, _, mut stage) in self.stages {
                let mut ends = receivers.next().flatten().map(|input| {
                    Ends::stage(input, senders.next().flatten()).recorded(record(&name))
                });
                workers.push(supervisor.spawn(worker_name(&name), move |ctx| {
                    let current = ends.as_mut().ok_or_else(already_ended)?;
                    noting_panics(current, |ends| stage_attempt(&mut stage, ends, ctx.token()));
                    finish(&mut ends)
                })?);
            }
            let mut ends = receivers
                .next()
                .flatten()
                .map(|input| Ends::sink(input, None, sink_options).recorded(record(&sink_name)));
            workers.push(supervisor.spawn(worker_name(&sink_name), move |ctx| {
                let current = ends.as_mut().ok_or_else(already_ended)?;
                noting_panics(current, |ends| sink_attempt(&mut sink, ends, ctx.token()));
                finish(&mut ends)
            })?);
            Ok(())
        })();
        if let Err(e) = spawned {
            // Edges not handed to a worker drop here, closing the started ones' streams.
            drop(senders);
            drop(receivers);
            supervisor.shutdown();
            return Err(e.into());
        }
        Ok(Pipeline {
            name: self.name,
            root,
            supervisor,
            workers,
            probes,
            summaries,
        })
    }
}

/// Runs one attempt of an element; a panic is noted in the element's summary
/// (count and message, for the report) and then goes on to the supervisor,
/// whose panic policy decides whether the element is restarted.
fn noting_panics(ends: &mut Ends, attempt: impl FnOnce(&mut Ends)) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| attempt(&mut *ends))) {
        ends.summary
            .note_panic(crate::panic::message(payload.as_ref()));
        resume_unwind(payload);
    }
}

/// A worker called again after its element ended: cannot happen (a call that
/// returns ends the worker), but an error is better than a panic.
fn already_ended() -> WorkerError {
    WorkerError::msg("the pipeline element has already ended")
}

/// Ends the element after a run that returned (its edges close, `on_close`
/// runs, its totals are recorded) and fails the worker if the element failed.
fn finish(ends: &mut Option<Ends>) -> Result<(), WorkerError> {
    let summary = ends.take().ok_or_else(already_ended)?.close();
    summary.into_result().map(drop).map_err(WorkerError::from)
}

impl fmt::Debug for PipelineBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PipelineBuilder")
            .field("name", &self.name)
            .field("source", &self.source.as_ref().map(|s| &s.0))
            .field(
                "stages",
                &self.stages.iter().map(|s| &s.0).collect::<Vec<_>>(),
            )
            .field("sink", &self.sink.as_ref().map(|s| &s.0))
            .finish()
    }
}

/// A running pipeline. Dropping it shuts it down (in drain order).
pub struct Pipeline {
    name: String,
    root: CancelToken,
    supervisor: Supervisor,
    workers: Vec<WorkerHandle>,
    probes: Vec<EdgeProbe<Frame>>,
    summaries: Arc<Mutex<Vec<(String, RunSummary)>>>,
}

impl Pipeline {
    /// The pipeline's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The root token: cancelling it stops every element at once (no drain).
    pub fn token(&self) -> &CancelToken {
        &self.root
    }

    /// Closes the source (cancels it with [`Cause::Closed`]): its stream
    /// ends, and downstream drains what is queued and stops by itself.
    pub fn close_source(&self) {
        if let Some(source) = self.workers.first() {
            source.token().cancel_with(Cause::Closed);
        }
    }

    /// Waits up to `timeout` for every element to finish by itself (end of
    /// stream, or after [`close_source`](Self::close_source)); true if all did.
    pub fn wait(&self, timeout: Duration) -> bool {
        self.supervisor.wait(timeout)
    }

    /// True once every element has finished.
    pub fn is_finished(&self) -> bool {
        self.workers.iter().all(WorkerHandle::is_finished)
    }

    /// Counters of every edge, upstream first.
    pub fn edge_stats(&self) -> Vec<EdgeStats> {
        self.probes.iter().map(EdgeProbe::stats).collect()
    }

    /// Stops the pipeline in drain order (source first, then each element
    /// once its input is drained) and reports.
    pub fn shutdown(self) -> PipelineReport {
        let supervisor = self.supervisor.shutdown();
        let edges = self.probes.iter().map(EdgeProbe::stats).collect();
        let mut elements = std::mem::take(&mut *self.summaries.lock());
        let order: Vec<&str> = self
            .workers
            .iter()
            .map(|w| w.name().rsplit('/').next().unwrap_or(""))
            .collect();
        elements.sort_by_key(|(name, _)| order.iter().position(|n| n == name));
        PipelineReport {
            name: self.name,
            edges,
            elements,
            supervisor,
        }
    }
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("name", &self.name)
            .field("edges", &self.edge_stats())
            .finish()
    }
}

/// What a pipeline did, from [`Pipeline::shutdown`].
#[derive(Debug, Clone)]
pub struct PipelineReport {
    /// The pipeline's name.
    pub name: String,
    /// Per edge, upstream first: sent, dropped, received.
    pub edges: Vec<EdgeStats>,
    /// Per element, upstream first: frames in and out over all its runs, and
    /// why it stopped ([`CloseReason::Panicked`](super::CloseReason::Panicked)
    /// if its last run panicked). Missing only for an element whose worker
    /// never ended (a shutdown timeout).
    pub elements: Vec<(String, RunSummary)>,
    /// How each worker ended and how long it took to stop.
    pub supervisor: ShutdownReport,
}

impl PipelineReport {
    /// True if every worker ended well (no error, panic or timeout).
    pub fn is_clean(&self) -> bool {
        self.supervisor.is_clean()
    }

    /// Frames dropped anywhere in the pipeline, by reason: on its edges and
    /// by its elements.
    pub fn dropped(&self) -> Drops {
        let mut all = Drops::default();
        for e in &self.edges {
            all += e.dropped;
        }
        for (_, s) in &self.elements {
            all += s.dropped;
        }
        all
    }

    /// Whether every frame is accounted for, at every element and edge (see
    /// [`Drops`]): each element balances, each element hands its edge what
    /// the edge counts as sent, each edge's received frames are what its
    /// consumer took in, and each edge balances (`sent = received +
    /// dropped + queued`). Meaningful once the pipeline has stopped, with
    /// every element reported (an element whose worker timed out is missing).
    pub fn balances(&self) -> bool {
        let elements_ok = self.elements.iter().all(|(_, s)| s.balances());
        let complete = self.elements.len() == self.edges.len() + 1;
        let edges_ok = self.edges.iter().enumerate().all(|(i, e)| {
            let balanced = e.sent == e.received + e.dropped.total() + e.queued as u64;
            let fed = complete && self.elements[i].1.frames_out == e.sent;
            let drained = complete && self.elements[i + 1].1.frames_in == e.received;
            balanced && fed && drained
        });
        elements_ok && edges_ok
    }

    /// The summary of the element called `name`.
    pub fn element(&self, name: &str) -> Option<&RunSummary> {
        self.elements
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s)
    }
}

impl fmt::Display for PipelineReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "pipeline '{}':", self.name)?;
        for (name, s) in &self.elements {
            write!(f, "  {name}: in {}, out {}", s.frames_in, s.frames_out)?;
            if s.created > 0 {
                write!(f, ", created {}", s.created)?;
            }
            write!(f, ", dropped {}, {}", s.dropped, s.reason)?;
            if let Some(panic) = &s.last_panic {
                write!(f, " (panicked {}x, last: {panic})", s.panics)?;
            }
            writeln!(f)?;
        }
        for e in &self.edges {
            writeln!(f, "  {e}")?;
        }
        write!(f, "  {}", self.supervisor)
    }
}
