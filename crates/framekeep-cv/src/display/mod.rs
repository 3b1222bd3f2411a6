//! The display sink: frames in OpenCV highgui windows, owned and shut down in order.
//!
//! # Why it looks like this
//!
//! * **One GUI thread.** highgui (Qt 5 on Debian) is not thread-safe and binds itself
//!   to the first thread that uses it, for the life of the process (see `host`). Every
//!   highgui call of framekeep runs on that thread; pipelines talk to it through
//!   per-window one-frame slots and a command channel.
//! * **Latest frame only.** A [`DisplayWindow`] is a pipeline [`Sink`] whose `consume`
//!   only swaps the newest frame into its slot (releasing an unshown older one at
//!   once, counted as dropped). Feed it through a [`Link::latest`] edge and a slow
//!   display can never back up capture.
//! * **Keys and closing cancel.** `q` or `Esc` cancels the display's token (make it the
//!   pipeline's root token: [`DisplayOptions::with_cancel`]) with
//!   [`Cause::Shutdown`](framekeep_core::cancel::Cause::Shutdown); closing a window
//!   cancels it with [`Cause::Closed`](framekeep_core::cancel::Cause::Closed). Other
//!   keys go to [`DisplayOptions::with_on_key`].
//! * **Close order.** [`Display::close`] stops the session's GUI loop, waits for the
//!   GUI thread's acknowledgement with a timeout, the windows being destroyed on that
//!   thread, then closes the windows' inputs (their sinks return `Cancelled`, so their
//!   runners stop and drop their edges) and releases every frame still held. A GUI
//!   that does not answer is reported in the [`DisplayReport`], never waited on
//!   forever.
//! * **Headless.** With no usable display, [`Display::open`] fails with
//!   [`CvError::NoDisplay`] instead of letting Qt abort the process, or, by
//!   [`Headless`] option, falls back to a null or recording display, or to Qt's
//!   offscreen platform.
//!
//! [`Link::latest`]: framekeep_core::pipeline::Link::latest
//! [`Sink`]: framekeep_core::pipeline::Sink

mod host;
mod platform;
mod session;
mod window;

use std::sync::Arc;
use std::time::Duration;

use framekeep_core::cancel::CancelToken;
use framekeep_core::frame::Frame;
use framekeep_core::pipeline::{run_sink, EdgeReceiver};
use framekeep_core::supervisor::{Supervisor, WorkerError, WorkerHandle};

pub use platform::{detect, DetectError, Platform};
pub use session::DisplayClosed;
pub use window::{DisplayWindow, WindowSnapshot, WindowStats};

use crate::CvError;
use host::{Command, Host};
use session::{OnDisplayClose, OnKey, Session, WindowSlot};
use window::Mode;

/// What to do when no display is available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Headless {
    /// Fail with [`CvError::NoDisplay`] (the default).
    #[default]
    Fail,
    /// Windows count frames and show nothing.
    Null,
    /// Windows count frames and keep the last one ([`WindowStats::recorded`]).
    Record,
    /// Run highgui on Qt's offscreen platform (`QT_QPA_PLATFORM=offscreen`): the whole
    /// GUI path runs, nothing is visible and no key arrives.
    Offscreen,
}

/// Options of a [`Display`], builder style.
pub struct DisplayOptions {
    cancel: Option<CancelToken>,
    on_close: Option<OnDisplayClose>,
    on_key: Option<OnKey>,
    release: bool,
    overlay: bool,
    headless: Headless,
    close_timeout: Duration,
}

impl Default for DisplayOptions {
    fn default() -> Self {
        DisplayOptions::new()
    }
}

impl DisplayOptions {
    /// Defaults: a fresh token, frames forwarded (no release), no overlay, fail when
    /// headless, 2 s close timeout.
    pub fn new() -> DisplayOptions {
        DisplayOptions {
            cancel: None,
            on_close: None,
            on_key: None,
            release: false,
            overlay: false,
            headless: Headless::Fail,
            close_timeout: Duration::from_secs(2),
        }
    }

    /// The token that `q`/`Esc`/closing a window cancel, and whose cancellation closes
    /// the display: pass the pipeline's root token.
    pub fn with_cancel(mut self, token: &CancelToken) -> Self {
        self.cancel = Some(token.clone());
        self
    }

    /// Called once when the display closes, whatever the reason.
    pub fn with_on_close(mut self, f: impl FnOnce(&DisplayClosed) + Send + 'static) -> Self {
        self.on_close = Some(Box::new(f));
        self
    }

    /// Called on the GUI thread for every key other than `q`/`Esc` (keep it short: the
    /// GUI thread draws no window while it runs).
    pub fn with_on_key(mut self, f: impl Fn(i32) + Send + Sync + 'static) -> Self {
        self.on_key = Some(Arc::new(f));
        self
    }

    /// Windows' runners release each frame once consumed ([`DisplayWindow::sink_options`]);
    /// without it they forward frames downstream.
    pub fn with_release(mut self) -> Self {
        self.release = true;
        self
    }

    /// Draw fps, dropped frames, sequence and latency on each window.
    pub fn overlay(mut self, on: bool) -> Self {
        self.overlay = on;
        self
    }

    /// What to do without a display.
    pub fn headless(mut self, policy: Headless) -> Self {
        self.headless = policy;
        self
    }

    /// How long [`Display::close`] waits for the GUI thread.
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }
}

impl std::fmt::Debug for DisplayOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DisplayOptions")
            .field("release", &self.release)
            .field("overlay", &self.overlay)
            .field("headless", &self.headless)
            .field("close_timeout", &self.close_timeout)
            .finish_non_exhaustive()
    }
}

/// What [`Display::close`] found.
#[derive(Debug, Clone)]
pub struct DisplayReport {
    /// Why the display closed.
    pub reason: DisplayClosed,
    /// The GUI thread did not acknowledge within the close timeout (it is stuck in a
    /// highgui call; its windows may stay up, every frame was released anyway).
    pub gui_hung: bool,
    /// Each window's final counters.
    pub windows: Vec<(String, WindowSnapshot)>,
}

impl DisplayReport {
    /// Closed in order, without a stuck GUI or a drawing failure.
    pub fn is_clean(&self) -> bool {
        !self.gui_hung && !matches!(self.reason, DisplayClosed::Failed(_))
    }
}

impl std::fmt::Display for DisplayReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "display closed: {:?}{}",
            self.reason,
            if self.gui_hung {
                " (GUI thread did not answer)"
            } else {
                ""
            }
        )?;
        for (name, s) in &self.windows {
            writeln!(
                f,
                "  {name}: received {} shown {} dropped {} last seq {}",
                s.received, s.shown, s.dropped, s.last_sequence
            )?;
        }
        Ok(())
    }
}

/// A set of highgui windows (or their headless stand-ins) fed by pipeline edges.
///
/// ```no_run
/// use framekeep_core::cancel::CancelToken;
/// use framekeep_core::frame::PixelFormat;
/// use framekeep_core::pipeline::{Link, PipelineBuilder, SyntheticSource};
/// use framekeep_cv::display::{Display, DisplayOptions};
///
/// let root = CancelToken::new();
/// let display = Display::open(DisplayOptions::new().with_cancel(&root).with_release())?;
/// let window = display.window("camera")?;
/// let opts = window.sink_options();
/// let source = SyntheticSource::builder(PixelFormat::Yuyv, 640, 480).fps(30.0).build()?;
/// let pipeline = PipelineBuilder::new("demo")
///     .with_cancel(&root)
///     .source("pattern", source)
///     .sink_with("display", Link::latest(), window, opts)
///     .start()?;
/// root.wait(); // q, Esc or closing the window
/// let report = pipeline.shutdown();
/// println!("{report}\n{}", display.close());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Display {
    session: Arc<Session>,
    mode: Mode,
    host: Option<&'static Host>,
    close_timeout: Duration,
    report: Option<DisplayReport>,
}

impl Display {
    /// Opens a display; see [`Headless`] for what happens without one.
    pub fn open(options: DisplayOptions) -> Result<Display, CvError> {
        let DisplayOptions {
            cancel,
            on_close,
            on_key,
            release,
            overlay,
            headless,
            close_timeout,
        } = options;
        let platform = match (detect(), headless) {
            (Ok(p), _) => Some(p),
            (Err(_), Headless::Offscreen) => Some(Platform::Offscreen),
            (Err(_), Headless::Null | Headless::Record) => None,
            (Err(why), Headless::Fail) => return Err(why.into()),
        };
        let mode = match (&platform, headless) {
            (Some(_), _) => Mode::Gui,
            (None, Headless::Record) => Mode::Record,
            (None, _) => Mode::Null,
        };
        let host = match platform {
            Some(p) => Some(Host::get(p)?),
            None => None,
        };
        let session = Arc::new(Session::new(
            cancel.unwrap_or_default(),
            release,
            overlay,
            on_key,
            on_close,
        ));
        if let Some(host) = host {
            if !host.send(Command::Open(session.clone())) {
                return Err(CvError::GuiExited);
            }
        }
        Ok(Display {
            session,
            mode,
            host,
            close_timeout,
            report: None,
        })
    }

    /// A new window called `name` (its title), as a sink to put in a pipeline.
    pub fn window(&self, name: &str) -> Result<DisplayWindow, CvError> {
        let mut windows = self.session.windows.lock();
        if windows.iter().any(|w| w.name == name) {
            return Err(CvError::DuplicateWindow(name.to_string()));
        }
        let slot = Arc::new(WindowSlot::new(name.to_string()));
        windows.push(slot.clone());
        Ok(DisplayWindow::new(slot, self.session.clone(), self.mode))
    }

    /// Runs a new window called `name` on a supervised worker fed by `input` (for
    /// windows fed from edges outside a single pipeline builder). The worker stops
    /// when the input closes, the token is cancelled or the display closes.
    pub fn attach(
        &self,
        name: &str,
        input: EdgeReceiver<Frame>,
        supervisor: &Supervisor,
    ) -> Result<WorkerHandle, CvError> {
        let window = self.window(name)?;
        let mut parts = Some((window, input));
        supervisor
            .spawn(format!("display:{name}"), move |ctx| {
                let Some((mut window, input)) = parts.take() else {
                    return Err(WorkerError::msg("display window already ran"));
                };
                let opts = window.sink_options();
                run_sink(&mut window, input, None, ctx.token(), opts).into_result()?;
                Ok(())
            })
            .map_err(|source| CvError::DisplayWorker {
                window: name.to_string(),
                source,
            })
    }

    /// The token keys and window closes cancel.
    pub fn token(&self) -> &CancelToken {
        &self.session.token
    }

    /// Whether windows really show frames (`false`: a null or recording stand-in).
    pub fn is_visible(&self) -> bool {
        self.mode == Mode::Gui
    }

    /// Every window's counters.
    pub fn stats(&self) -> Vec<WindowStats> {
        self.session
            .windows
            .lock()
            .iter()
            .map(|slot| WindowStats::of(slot.clone()))
            .collect()
    }

    /// Why the display closed, once it has.
    pub fn closed(&self) -> Option<DisplayClosed> {
        self.session.reason()
    }

    /// Waits up to `timeout` for the display to close by itself (key, window, token).
    pub fn wait_closed(&self, timeout: Duration) -> bool {
        // A timeout too large for the clock waits as long as one can.
        let deadline = std::time::Instant::now().checked_add(timeout);
        while !self.session.is_closed() {
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }

    /// Closes the display in order (see the module docs) and reports.
    pub fn close(mut self) -> DisplayReport {
        self.close_inner()
    }

    fn close_inner(&mut self) -> DisplayReport {
        if let Some(report) = &self.report {
            return report.clone();
        }
        let mut gui_hung = false;
        if let Some(host) = self.host {
            let (done, acked) = crossbeam_channel::bounded(1);
            let sent = host.send(Command::Close {
                session: self.session.clone(),
                done,
            });
            if !sent || acked.recv_timeout(self.close_timeout).is_err() {
                gui_hung = true;
                tracing::error!(
                    target: "framekeep::display",
                    "the GUI thread did not close the display within {:?}; going on without it",
                    self.close_timeout
                );
            }
        }
        // The windows' inputs close: their sinks now refuse frames, and every frame
        // they still hold goes back to its pool (even if the GUI thread is stuck).
        for slot in self.session.windows.lock().iter() {
            slot.clear();
        }
        self.session.finish(DisplayClosed::Shutdown);
        let report = DisplayReport {
            reason: self.closed().unwrap_or(DisplayClosed::Shutdown),
            gui_hung,
            windows: self
                .stats()
                .iter()
                .map(|s| (s.name().to_string(), s.snapshot()))
                .collect(),
        };
        self.report = Some(report.clone());
        report
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        self.close_inner();
    }
}

impl std::fmt::Debug for Display {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Display")
            .field("mode", &self.mode)
            .field("closed", &self.closed())
            .finish_non_exhaustive()
    }
}
