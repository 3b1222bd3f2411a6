//! A capture stream as a pipeline [`Source`].
//!
//! A stream waits on its own cancel token (given with `StreamOptions::with_cancel`), a
//! pipeline worker on another one. On first use the adapter ties the worker's token to
//! the stream's, so a shutdown wakes a blocked dequeue at once instead of after the
//! stream's timeout. A short stall (`Timeout`) is not the end of a camera: it is logged
//! and waited out; a disconnect or a driver failure ends the source with an error.

use std::sync::Arc;

use framekeep_core::cancel::{CancelToken, OnCancel};
use framekeep_core::frame::Frame;
use framekeep_core::pipeline::{Source, StageError};
use parking_lot::Mutex;

use crate::{CaptureError, CaptureStream, StreamStats};

/// A [`CaptureStream`] as a pipeline source. The stream is closed (STREAMOFF, wait for
/// held frames) when the source closes; its final stats are kept for [`StreamSource::stats`].
pub struct StreamSource {
    stream: Option<CaptureStream>,
    stream_token: CancelToken,
    link: Option<OnCancel>,
    remaining: Option<u64>,
    stats: Arc<Mutex<Option<StreamStats>>>,
}

impl StreamSource {
    /// Wraps `stream`, which was opened with `StreamOptions::with_cancel(stream_token)`.
    pub fn new(stream: CaptureStream, stream_token: CancelToken) -> StreamSource {
        StreamSource {
            stream: Some(stream),
            stream_token,
            link: None,
            remaining: None,
            stats: Arc::new(Mutex::new(None)),
        }
    }

    /// Ends the source after `n` frames.
    pub fn frames(mut self, n: u64) -> StreamSource {
        self.remaining = Some(n);
        self
    }

    /// The stream's stats once the source has closed (shared: read it after the
    /// pipeline has shut down).
    pub fn stats(&self) -> Arc<Mutex<Option<StreamStats>>> {
        self.stats.clone()
    }
}

impl Source for StreamSource {
    fn next_frame(&mut self, token: &CancelToken) -> Result<Option<Frame>, StageError> {
        if self.link.is_none() {
            let stream_token = self.stream_token.clone();
            self.link = Some(token.on_cancel(move |_| stream_token.cancel()));
        }
        if self.remaining == Some(0) {
            return Ok(None);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Ok(None);
        };
        loop {
            match stream.next_frame() {
                Ok(frame) => {
                    if let Some(n) = self.remaining.as_mut() {
                        *n -= 1;
                    }
                    return Ok(Some(frame));
                }
                Err(CaptureError::Timeout(d)) => {
                    tracing::warn!(waited = ?d, "camera: no frame yet, still waiting");
                }
                Err(CaptureError::Cancelled) => return Ok(None),
                Err(e) => return Err(StageError::failed(format!("camera: {e}"))),
            }
        }
    }

    fn close(&mut self) {
        if let Some(stream) = self.stream.take() {
            match stream.close() {
                Ok(s) => *self.stats.lock() = Some(s),
                Err(e) => tracing::warn!(error = %e, "camera: close"),
            }
        }
    }
}

impl Drop for StreamSource {
    fn drop(&mut self) {
        Source::close(self);
    }
}
