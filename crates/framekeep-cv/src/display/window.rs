//! [`DisplayWindow`]: the pipeline-facing half of a window.
//!
//! A window is fed on a pipeline worker (it is a [`Sink`]) and drawn on the GUI
//! thread. Between the two sits a one-frame slot: `consume` puts the newest frame in
//! it, replacing (and so releasing at once) a frame the GUI has not shown yet, and
//! counts that as dropped. So a slow or stalled display never holds more than one
//! frame and never backs up capture, whatever the edge policy in front of it.
//!
//! Formats highgui cannot show (YUYV, UYVY, NV12, I420, RGB24, MJPEG) are converted to BGR
//! on the feeding worker, through a [`BgrConverter`] with its own small pool, so the
//! GUI thread only draws.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use framekeep_core::frame::{Frame, PixelFormat};
use framekeep_core::pipeline::{Sink, SinkOptions, StageError};
use framekeep_core::time::monotonic_now;

use super::session::{Session, WindowSlot};
use crate::convert::BgrConverter;

/// A snapshot of a window's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WindowSnapshot {
    /// Frames the sink consumed.
    pub received: u64,
    /// Frames the GUI thread drew.
    pub shown: u64,
    /// Frames replaced before they were drawn (a slow display).
    pub dropped: u64,
    /// Sequence of the last frame consumed.
    pub last_sequence: u64,
    /// Capture-to-consume latency of the last frame, in microseconds.
    pub last_latency_us: u64,
}

/// A live view of a window's counters (cheap to clone, usable from any thread).
#[derive(Clone)]
pub struct WindowStats {
    slot: Arc<WindowSlot>,
}

impl WindowStats {
    pub(crate) fn of(slot: Arc<WindowSlot>) -> WindowStats {
        WindowStats { slot }
    }

    /// The window's name.
    pub fn name(&self) -> &str {
        &self.slot.name
    }

    /// The counters now.
    pub fn snapshot(&self) -> WindowSnapshot {
        let c = &self.slot.counters;
        WindowSnapshot {
            received: c.received.load(Ordering::Relaxed),
            shown: c.shown.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            last_sequence: c.last_sequence.load(Ordering::Relaxed),
            last_latency_us: c.last_latency_us.load(Ordering::Relaxed),
        }
    }

    /// In record mode, the last frame consumed (a new handle).
    pub fn recorded(&self) -> Option<Frame> {
        self.slot.recorded.lock().clone()
    }
}

impl std::fmt::Debug for WindowStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowStats")
            .field("name", &self.slot.name)
            .field("counters", &self.snapshot())
            .finish()
    }
}

/// What a window does with consumed frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Hand them to the GUI thread.
    Gui,
    /// Count them (no display, [`super::Headless::Null`]).
    Null,
    /// Count them and keep the last ([`super::Headless::Record`]).
    Record,
}

/// One named window of a [`Display`](super::Display), as a pipeline [`Sink`].
pub struct DisplayWindow {
    slot: Arc<WindowSlot>,
    session: Arc<Session>,
    mode: Mode,
    converter: Option<BgrConverter>,
}

impl DisplayWindow {
    pub(crate) fn new(slot: Arc<WindowSlot>, session: Arc<Session>, mode: Mode) -> DisplayWindow {
        DisplayWindow {
            slot,
            session,
            mode,
            converter: None,
        }
    }

    /// The window's name (its title).
    pub fn name(&self) -> &str {
        &self.slot.name
    }

    /// A live view of the window's counters.
    pub fn stats(&self) -> WindowStats {
        WindowStats {
            slot: self.slot.clone(),
        }
    }

    /// Runner options matching the display's: its token, and `with_release` if the
    /// display was opened with it (otherwise frames are forwarded downstream).
    pub fn sink_options(&self) -> SinkOptions {
        let opts = SinkOptions::new().with_cancel(&self.session.token);
        if self.session.release {
            opts.with_release()
        } else {
            opts
        }
    }

    /// `frame` in a format highgui shows as is (BGR, BGRA, grey), converting others.
    fn displayable(&mut self, frame: &Frame) -> Result<Frame, StageError> {
        match frame.format() {
            PixelFormat::Bgr24 | PixelFormat::Bgra32 | PixelFormat::Gray8 => Ok(frame.clone()),
            _ => {
                let fits = self.converter.as_ref().is_some_and(|c| {
                    let l = c.pool().layout();
                    (l.width(), l.height()) == (frame.width(), frame.height())
                });
                if !fits {
                    let conv = BgrConverter::with_size(frame.width(), frame.height(), 3)?
                        .label("display-convert");
                    self.converter = Some(conv);
                }
                let conv = self.converter.as_ref().expect("set above");
                Ok(conv.convert(frame)?)
            }
        }
    }
}

impl Sink for DisplayWindow {
    fn consume(&mut self, frame: &Frame) -> Result<(), StageError> {
        if self.session.token.is_cancelled() || self.slot.closed.load(Ordering::Acquire) {
            return Err(StageError::Cancelled);
        }
        let slot = self.slot.clone();
        let c = &slot.counters;
        c.received.fetch_add(1, Ordering::Relaxed);
        c.last_sequence.store(frame.sequence(), Ordering::Relaxed);
        let latency = monotonic_now().saturating_sub(frame.timestamp());
        c.last_latency_us.store(
            latency.as_micros().min(u128::from(u64::MAX)) as u64,
            Ordering::Relaxed,
        );
        match self.mode {
            Mode::Null => Ok(()),
            Mode::Record => {
                let shown = self.displayable(frame)?;
                *slot.recorded.lock() = Some(shown);
                c.shown.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Mode::Gui => {
                let shown = self.displayable(frame)?;
                let replaced = slot.pending.lock().replace(shown);
                if let Some(old) = replaced {
                    c.dropped.fetch_add(1, Ordering::Relaxed);
                    old.release();
                }
                Ok(())
            }
        }
    }
}

impl std::fmt::Debug for DisplayWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DisplayWindow")
            .field("name", &self.slot.name)
            .field("mode", &self.mode)
            .finish()
    }
}
