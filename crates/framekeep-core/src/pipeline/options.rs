//! Options of sources and sinks: cancel token, close callback, release.
//!
//! Builders in the style of `std::thread::Builder`: every option has a
//! sensible default, so `SinkOptions::new()` alone is a valid configuration.

use std::fmt;

use super::error::CloseReason;
use crate::cancel::CancelToken;

/// A callback run once when a source or sink stops, with the reason.
pub(crate) type OnClose = Box<dyn FnOnce(&CloseReason) + Send + 'static>;

/// What a source does with a corrupt compressed frame (a truncated MJPEG
/// frame, a JPEG file that ends early, a decoder warning): never hand it out
/// as a picture. Every such frame is counted as `corrupt` by the source
/// either way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum OnCorrupt {
    /// Go on with the next frame (the default: a webcam under bandwidth
    /// pressure truncates frames routinely).
    #[default]
    Skip,
    /// Return the frame's typed error from this call; the next call goes on
    /// with the next frame. (A pipeline ends a source that returns an error,
    /// so inside a pipeline this stops the source like [`OnCorrupt::Fail`].)
    Error,
    /// Return the error and end the source: every later call fails too.
    Fail,
}

/// Options of a [`Source`](super::Source) run by
/// [`run_source`](super::run_source) or a pipeline.
///
/// There is no `with_release`: a producer never releases what it hands on;
/// a frame it produces belongs to the edge (or is dropped by the edge's
/// policy) as soon as it is sent.
#[derive(Default)]
pub struct SourceOptions {
    pub(crate) cancel: Option<CancelToken>,
    pub(crate) on_close: Option<OnClose>,
}

impl SourceOptions {
    /// Defaults: no extra token, no callback.
    pub fn new() -> Self {
        SourceOptions::default()
    }

    /// Stops the source when `token` is cancelled (in addition to the token
    /// the runner or pipeline already gives it). Closing a source ends its
    /// stream: consumers drain what was sent and then stop.
    pub fn with_cancel(mut self, token: &CancelToken) -> Self {
        self.cancel = Some(token.clone());
        self
    }

    /// Runs `callback` once when the source stops, for any reason (also on
    /// a panic, with [`CloseReason::Panicked`]).
    pub fn with_on_close(mut self, callback: impl FnOnce(&CloseReason) + Send + 'static) -> Self {
        self.on_close = Some(Box::new(callback));
        self
    }
}

impl fmt::Debug for SourceOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceOptions")
            .field("cancel", &self.cancel)
            .field("on_close", &self.on_close.is_some())
            .finish()
    }
}

/// Options of a [`Sink`](super::Sink) run by [`run_sink`](super::run_sink)
/// or a pipeline.
#[derive(Default)]
pub struct SinkOptions {
    pub(crate) cancel: Option<CancelToken>,
    pub(crate) on_close: Option<OnClose>,
    pub(crate) release: bool,
}

impl SinkOptions {
    /// Defaults: pass-through (frames go to the output edge if there is one),
    /// no extra token, no callback.
    pub fn new() -> Self {
        SinkOptions::default()
    }

    /// Stops the sink when `token` is cancelled (in addition to the token the
    /// runner or pipeline already gives it).
    pub fn with_cancel(mut self, token: &CancelToken) -> Self {
        self.cancel = Some(token.clone());
        self
    }

    /// Runs `callback` once when the sink stops, for any reason (also on a
    /// panic, with [`CloseReason::Panicked`]).
    pub fn with_on_close(mut self, callback: impl FnOnce(&CloseReason) + Send + 'static) -> Self {
        self.on_close = Some(Box::new(callback));
        self
    }

    /// A releasing sink: each frame is dropped (back to its pool) right after
    /// [`Sink::consume`](super::Sink::consume), even if an output edge is
    /// given. Without it the sink passes frames through to its output edge;
    /// a pass-through sink with no output edge releases them too, since
    /// nobody else can.
    pub fn with_release(mut self) -> Self {
        self.release = true;
        self
    }

    /// Whether [`with_release`](Self::with_release) was set.
    pub fn releases(&self) -> bool {
        self.release
    }
}

impl fmt::Debug for SinkOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SinkOptions")
            .field("cancel", &self.cancel)
            .field("on_close", &self.on_close.is_some())
            .field("release", &self.release)
            .finish()
    }
}
