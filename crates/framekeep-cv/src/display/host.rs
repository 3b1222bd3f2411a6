//! The process-wide GUI thread: the only thread that ever calls highgui.
//!
//! highgui is not thread-safe, and its Qt backend binds itself for good to the first
//! thread that opens a window: the `QApplication` lives on that thread, and calls from
//! any other thread are marshalled to it and *block* until it processes them. If that
//! thread exits, the next highgui call from anywhere waits forever (verified on this
//! machine: a second thread's `namedWindow` never returns). A GUI thread per display
//! would therefore hang the second display of a process. So there is exactly one GUI
//! thread per process, `framekeep-gui`, started on first use and parked on its command
//! channel whenever no display is open.
//!
//! Displays are *sessions* on that thread: opening one registers its windows, closing
//! one destroys them and acknowledges, so [`Display::close`](super::Display::close) can
//! wait with a timeout and report a GUI that does not answer instead of hanging. The
//! thread supervises itself: each session's work runs under `catch_unwind`; a panic
//! closes that session (cancelling its token with the error) and the thread goes on.
//! It is registered in the ledger as a `thread` outside any test scope, so it shows in
//! process-wide reports but not as a leak of the test that happened to start it; the
//! Mats it creates for a session are registered in that session's scope.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, Sender};
use framekeep_core::cancel::Cause;
use framekeep_core::frame::Frame;
use framekeep_core::ledger::{Kind, Ledger};
use framekeep_core::supervisor::WorkerError;
use opencv::core::{Point, Scalar};
use opencv::highgui;
use opencv::imgproc::{put_text, FONT_HERSHEY_SIMPLEX, LINE_AA};
use opencv::prelude::*;

use super::platform::{release_probe, Platform};
use super::session::{DisplayClosed, Session, WindowSlot};
use crate::mat::{MatView, TrackedMat};
use crate::CvError;

/// How long one `waitKey` pumps Qt's events per loop turn.
const TICK_MS: i32 = 5;
/// How often windows are checked for having been closed by the user.
const VISIBILITY_POLL: Duration = Duration::from_millis(100);

pub(crate) enum Command {
    Open(Arc<Session>),
    Close {
        session: Arc<Session>,
        done: Sender<()>,
    },
}

/// The handle on the GUI thread.
pub(crate) struct Host {
    tx: Sender<Command>,
    platform: Platform,
}

/// The GUI thread, or why it could not be started (once per process: shared).
static HOST: OnceLock<Result<Host, Arc<std::io::Error>>> = OnceLock::new();

impl Host {
    /// The GUI thread, started on first use for `platform`.
    pub(crate) fn get(platform: Platform) -> Result<&'static Host, CvError> {
        let host = HOST.get_or_init(|| Host::start(platform.clone()));
        match host {
            Ok(h) if std::mem::discriminant(&h.platform) == std::mem::discriminant(&platform) => {
                Ok(h)
            }
            Ok(h) => Err(CvError::GuiPlatform {
                running: h.platform.clone(),
                asked: platform,
            }),
            Err(e) => Err(CvError::GuiStart(e.clone())),
        }
    }

    fn start(platform: Platform) -> Result<Host, Arc<std::io::Error>> {
        if platform == Platform::Offscreen && std::env::var_os("QT_QPA_PLATFORM").is_none() {
            // Before Qt is loaded (this is the first highgui use of the process), so
            // the plugin is picked up; nothing else in framekeep reads it.
            std::env::set_var("QT_QPA_PLATFORM", "offscreen");
        }
        let (tx, rx) = unbounded();
        std::thread::Builder::new()
            .name("framekeep-gui".into())
            .spawn(move || run(rx))
            .map_err(Arc::new)?;
        Ok(Host { tx, platform })
    }

    /// Queues a command; `false` if the GUI thread is gone.
    pub(crate) fn send(&self, cmd: Command) -> bool {
        self.tx.send(cmd).is_ok()
    }
}

/// One window as the GUI thread sees it.
struct HostWindow {
    slot: Arc<WindowSlot>,
    created: bool,
    shown_at: Option<Instant>,
    fps: f64,
    scratch: Option<TrackedMat>,
}

struct HostSession {
    session: Arc<Session>,
    windows: Vec<HostWindow>,
    last_poll: Instant,
    done: Option<DisplayClosed>,
}

fn run(rx: Receiver<Command>) {
    let _thread = Ledger::global().track(Kind::THREAD, "framekeep-gui (process-wide)");
    let mut sessions: Vec<HostSession> = Vec::new();
    loop {
        if sessions.is_empty() {
            match rx.recv() {
                Ok(cmd) => handle(cmd, &mut sessions),
                Err(_) => return,
            }
        }
        while let Ok(cmd) = rx.try_recv() {
            handle(cmd, &mut sessions);
        }
        for hs in &mut sessions {
            let scope = hs.session.scope;
            let result = scope.run(|| catch_unwind(AssertUnwindSafe(|| tick(hs))));
            match result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => hs.done = Some(DisplayClosed::Failed(Arc::new(e))),
                Err(panic) => {
                    let error = WorkerError::from_panic(&*panic);
                    tracing::error!(target: "framekeep::display", "display {error}");
                    hs.done = Some(DisplayClosed::Failed(Arc::from(error.into_inner())));
                }
            }
        }
        if !sessions.is_empty() {
            let key = highgui::wait_key(TICK_MS).unwrap_or(-1);
            if key >= 0 {
                dispatch_key(key & 0xFF, &mut sessions);
            }
        }
        let mut i = 0;
        while i < sessions.len() {
            if let Some(reason) = sessions[i].done.take() {
                let mut hs = sessions.swap_remove(i);
                close(&mut hs, reason);
            } else {
                i += 1;
            }
        }
    }
}

fn handle(cmd: Command, sessions: &mut Vec<HostSession>) {
    match cmd {
        Command::Open(session) => sessions.push(HostSession {
            session,
            windows: Vec::new(),
            last_poll: Instant::now(),
            done: None,
        }),
        Command::Close { session, done } => {
            if let Some(i) = sessions
                .iter()
                .position(|hs| Arc::ptr_eq(&hs.session, &session))
            {
                let mut hs = sessions.swap_remove(i);
                close(&mut hs, DisplayClosed::Shutdown);
            }
            let _ = done.send(());
        }
    }
}

fn dispatch_key(key: i32, sessions: &mut [HostSession]) {
    for hs in sessions {
        if key == i32::from(b'q') || key == 27 {
            hs.session.token.cancel_with(Cause::Shutdown);
            hs.done.get_or_insert(DisplayClosed::Key(key));
        } else if let Some(on_key) = &hs.session.on_key {
            let on_key = on_key.clone();
            if catch_unwind(AssertUnwindSafe(|| on_key(key))).is_err() {
                tracing::error!(target: "framekeep::display", "key callback panicked");
            }
        }
    }
}

/// One turn for one session: pick up new windows, draw pending frames, watch closes.
fn tick(hs: &mut HostSession) -> Result<(), CvError> {
    if hs.session.token.is_cancelled() {
        hs.done.get_or_insert(DisplayClosed::Cancelled);
        return Ok(());
    }
    {
        let slots = hs.session.windows.lock();
        for slot in slots.iter().skip(hs.windows.len()) {
            hs.windows.push(HostWindow {
                slot: slot.clone(),
                created: false,
                shown_at: None,
                fps: 0.0,
                scratch: None,
            });
        }
    }
    for w in &mut hs.windows {
        let pending = w.slot.pending.lock().take();
        if let Some(frame) = pending {
            show(w, frame, hs.session.overlay)?;
        }
    }
    if hs.last_poll.elapsed() >= VISIBILITY_POLL {
        hs.last_poll = Instant::now();
        for w in hs.windows.iter().filter(|w| w.shown_at.is_some()) {
            let visible = highgui::get_window_property(&w.slot.name, highgui::WND_PROP_VISIBLE)
                .unwrap_or(-1.0);
            if visible < 1.0 {
                hs.session.token.cancel_with(Cause::Closed);
                hs.done = Some(DisplayClosed::WindowClosed(w.slot.name.clone()));
                break;
            }
        }
    }
    Ok(())
}

fn show(w: &mut HostWindow, frame: Frame, overlay: bool) -> Result<(), CvError> {
    if !w.created {
        highgui::named_window(
            &w.slot.name,
            highgui::WINDOW_AUTOSIZE | highgui::WINDOW_GUI_NORMAL,
        )?;
        w.created = true;
        // Qt now holds its own connection to the display.
        release_probe();
    }
    let now = Instant::now();
    if let Some(prev) = w.shown_at {
        let dt = now.duration_since(prev).as_secs_f64();
        if dt > 0.0 {
            let inst = 1.0 / dt;
            w.fps = if w.fps == 0.0 {
                inst
            } else {
                0.9 * w.fps + 0.1 * inst
            };
        }
    }
    w.shown_at = Some(now);
    let view = MatView::from_frame(frame)?;
    if overlay {
        if w.scratch.is_none() {
            w.scratch = Some(TrackedMat::empty("display-overlay")?);
        }
        let scratch = w.scratch.as_mut().expect("set above");
        view.copy_to(scratch)?;
        let c = &w.slot.counters;
        let text = format!(
            "fps {:.1}  dropped {}  seq {}  latency {:.1} ms",
            w.fps,
            c.dropped.load(Ordering::Relaxed),
            c.last_sequence.load(Ordering::Relaxed),
            c.last_latency_us.load(Ordering::Relaxed) as f64 / 1000.0
        );
        let at = Point::new(8, 20);
        // A thick black stroke under a thin white one: readable on any picture.
        for (colour, thickness) in [(Scalar::all(0.0), 3), (Scalar::all(255.0), 1)] {
            put_text(
                scratch,
                &text,
                at,
                FONT_HERSHEY_SIMPLEX,
                0.5,
                colour,
                thickness,
                LINE_AA,
                false,
            )?;
        }
        highgui::imshow(&w.slot.name, scratch)?;
    } else {
        highgui::imshow(&w.slot.name, &view)?;
    }
    // The frame goes back to its pool now that highgui has its own copy of the pixels.
    drop(view);
    w.slot.counters.shown.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// Destroys the session's windows, releases what they hold, reports the reason.
fn close(hs: &mut HostSession, reason: DisplayClosed) {
    let scope = hs.session.scope;
    scope.run(|| close_in_scope(hs, reason));
}

fn close_in_scope(hs: &mut HostSession, reason: DisplayClosed) {
    for w in &mut hs.windows {
        if w.created {
            let _ = highgui::destroy_window(&w.slot.name);
        }
        w.scratch = None;
        w.slot.clear();
    }
    for slot in hs.session.windows.lock().iter() {
        slot.clear();
    }
    // Let Qt process the destruction before anything else happens.
    let _ = highgui::wait_key(1);
    hs.windows.clear();
    hs.session.finish(reason);
}
