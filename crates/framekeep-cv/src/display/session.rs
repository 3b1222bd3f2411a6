//! The state a display shares with its windows and the GUI thread: the session, one
//! slot per window, and why the session ended.
//!
//! It sits apart from the display, its windows and the GUI thread so that each of those
//! imports it and none imports another back.

use std::error::Error as StdError;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use framekeep_core::cancel::CancelToken;
use framekeep_core::frame::Frame;
use framekeep_core::ledger::ScopeId;
use parking_lot::Mutex;

/// Why a display closed.
///
/// Two reasons compare equal when they are the same variant with equal contents and,
/// for [`Failed`](DisplayClosed::Failed), errors that display the same.
#[derive(Debug, Clone)]
pub enum DisplayClosed {
    /// `q` or `Esc` (the key code) was pressed.
    Key(i32),
    /// The user closed this window.
    WindowClosed(String),
    /// The display's token was cancelled.
    Cancelled,
    /// [`Display::close`](super::Display::close) (or drop).
    Shutdown,
    /// Drawing failed or panicked (shared, so reasons stay cheap to clone; its
    /// `source()` chain is intact).
    Failed(Arc<dyn StdError + Send + Sync + 'static>),
}

impl PartialEq for DisplayClosed {
    fn eq(&self, other: &DisplayClosed) -> bool {
        match (self, other) {
            (DisplayClosed::Key(a), DisplayClosed::Key(b)) => a == b,
            (DisplayClosed::WindowClosed(a), DisplayClosed::WindowClosed(b)) => a == b,
            (DisplayClosed::Failed(a), DisplayClosed::Failed(b)) => a.to_string() == b.to_string(),
            _ => std::mem::discriminant(self) == std::mem::discriminant(other),
        }
    }
}

impl Eq for DisplayClosed {}

/// A callback run once when the display closes.
pub(crate) type OnDisplayClose = Box<dyn FnOnce(&DisplayClosed) + Send + 'static>;
/// A callback for keys other than `q`/`Esc`, run on the GUI thread.
pub(crate) type OnKey = Arc<dyn Fn(i32) + Send + Sync + 'static>;

/// State shared by a display, its windows and the GUI thread.
pub(crate) struct Session {
    pub(crate) token: CancelToken,
    pub(crate) release: bool,
    pub(crate) overlay: bool,
    pub(crate) scope: ScopeId,
    pub(crate) windows: Mutex<Vec<Arc<WindowSlot>>>,
    pub(crate) on_key: Option<OnKey>,
    on_close: Mutex<Option<OnDisplayClose>>,
    closed: AtomicBool,
    reason: Mutex<Option<DisplayClosed>>,
}

impl Session {
    /// A session not closed yet, with no window.
    pub(crate) fn new(
        token: CancelToken,
        release: bool,
        overlay: bool,
        on_key: Option<OnKey>,
        on_close: Option<OnDisplayClose>,
    ) -> Session {
        Session {
            token,
            release,
            overlay,
            scope: ScopeId::current(),
            windows: Mutex::new(Vec::new()),
            on_key,
            on_close: Mutex::new(on_close),
            closed: AtomicBool::new(false),
            reason: Mutex::new(None),
        }
    }

    /// Whether the session has ended.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Why the session ended, once it has.
    pub(crate) fn reason(&self) -> Option<DisplayClosed> {
        self.reason.lock().clone()
    }

    /// Records why the session ended and runs the close callback, once.
    pub(crate) fn finish(&self, reason: DisplayClosed) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        *self.reason.lock() = Some(reason.clone());
        if let Some(cb) = self.on_close.lock().take() {
            if catch_unwind(AssertUnwindSafe(|| cb(&reason))).is_err() {
                tracing::error!(target: "framekeep::display", "display on_close callback panicked");
            }
        }
    }
}

/// Counters of one window, shared by its sink, the GUI thread and
/// [`WindowStats`](super::WindowStats).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) received: AtomicU64,
    pub(crate) shown: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) last_sequence: AtomicU64,
    pub(crate) last_latency_us: AtomicU64,
}

/// The state of one window shared between its sink and the GUI thread.
pub(crate) struct WindowSlot {
    pub(crate) name: String,
    pub(crate) pending: Mutex<Option<Frame>>,
    /// Record mode: the last frame consumed, kept until the display closes.
    pub(crate) recorded: Mutex<Option<Frame>>,
    pub(crate) counters: Counters,
    pub(crate) closed: AtomicBool,
}

impl WindowSlot {
    pub(crate) fn new(name: String) -> WindowSlot {
        WindowSlot {
            name,
            pending: Mutex::new(None),
            recorded: Mutex::new(None),
            counters: Counters::default(),
            closed: AtomicBool::new(false),
        }
    }

    /// Drops every frame the slot holds (at close).
    pub(crate) fn clear(&self) {
        self.closed.store(true, Ordering::Release);
        drop(self.pending.lock().take());
        drop(self.recorded.lock().take());
    }
}
