//! A capture stream as a pipeline [`Source`].
//!
//! A stream waits on its own cancel token (given with `StreamOptions::with_cancel`, or
//! made by the adapter when there is none), a pipeline worker on another one. On first use
//! the adapter ties the worker's token to the stream's, so a shutdown wakes a blocked
//! dequeue at once instead of after the stream's timeout. A short stall (`Timeout`) is not
//! the end of a camera: it is logged and waited out; a disconnect or a driver failure ends
//! the source with the [`CaptureError`] as the stage's error.

use framekeep_core::cancel::{CancelToken, OnCancel};
use framekeep_core::frame::Frame;
use framekeep_core::pipeline::{Source, StageError};

use crate::error::CaptureError;
use crate::stream::CaptureStream;

/// A [`CaptureStream`] as a pipeline source. The stream is closed (STREAMOFF, wait for
/// held frames) when the source closes; its final statistics go to the stream's
/// [`StreamOptions::with_on_close`](crate::StreamOptions::with_on_close) callback.
///
/// A failure of the stream ends the source with [`StageError::Failed`] holding the
/// [`CaptureError`] (downcast it to tell a disconnect from a driver error).
#[derive(Debug)]
pub struct StreamSource {
    stream: Option<CaptureStream>,
    stream_token: CancelToken,
    link: Option<OnCancel>,
    remaining: Option<u64>,
}

impl StreamSource {
    /// Wraps `stream`.
    pub fn new(mut stream: CaptureStream) -> StreamSource {
        StreamSource {
            stream_token: stream.cancel_token(),
            stream: Some(stream),
            link: None,
            remaining: None,
        }
    }

    /// Ends the source after `n` frames.
    pub fn frames(mut self, n: u64) -> StreamSource {
        self.remaining = Some(n);
        self
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
                Err(e) => return Err(StageError::from_error(e)),
            }
        }
    }

    fn close(&mut self) {
        if let Some(stream) = self.stream.take() {
            if let Err(e) = stream.close() {
                let e: &(dyn std::error::Error + 'static) = &e;
                tracing::warn!(error = e, "camera: close");
            }
        }
    }
}

impl Drop for StreamSource {
    fn drop(&mut self) {
        Source::close(self);
    }
}
