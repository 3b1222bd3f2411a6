//! [`VideoFileSource`]: a video file through OpenCV's `videoio`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use framekeep_core::cancel::CancelToken;
use framekeep_core::frame::{Frame, FrameLayout, FrameMeta, PixelFormat};
use framekeep_core::pipeline::{Source, StageError};
use framekeep_core::pool::{FramePool, PoolOptions};
use framekeep_core::time::monotonic_now;
use opencv::prelude::*;
use opencv::videoio::{
    VideoCapture, CAP_ANY, CAP_PROP_FPS, CAP_PROP_FRAME_HEIGHT, CAP_PROP_FRAME_WIDTH,
};

use super::error::file_error;
use crate::mat::MatViewMut;
use crate::CvError;

/// Decoded frames of a video file as BGR24 frames from the source's pool.
///
/// `VideoCapture::read` writes straight into the pooled frame (the output already has
/// the size and type it produces, so OpenCV does not reallocate); a frame of another
/// size (a stream that changes resolution) is reported as an error.
pub struct VideoFileSource {
    path: PathBuf,
    capture: VideoCapture,
    pool: FramePool,
    sequence: u64,
    period: Option<Duration>,
    last: Option<Instant>,
}

impl VideoFileSource {
    /// Opens `path` with any backend that reads it.
    pub fn open(path: impl AsRef<Path>) -> Result<VideoFileSource, CvError> {
        let path = path.as_ref().to_path_buf();
        if !path.is_file() {
            return Err(file_error(&path, "no such file"));
        }
        let capture = VideoCapture::from_file(&path, CAP_ANY)?;
        if !capture.is_opened()? {
            return Err(file_error(&path, "videoio cannot open it"));
        }
        let width = capture.get(CAP_PROP_FRAME_WIDTH)? as usize;
        let height = capture.get(CAP_PROP_FRAME_HEIGHT)? as usize;
        let layout = FrameLayout::packed(PixelFormat::Bgr24, width, height)?;
        let pool = PoolOptions::new(layout)
            .name("video-file")
            .min_buffers(2)
            .max_buffers(4)
            .build()?;
        Ok(VideoFileSource {
            path,
            capture,
            pool,
            sequence: 0,
            period: None,
            last: None,
        })
    }

    /// Deliver frames at the file's own frame rate (default: as fast as decoding goes).
    pub fn realtime(mut self, on: bool) -> Result<Self, CvError> {
        let fps = self.capture.get(CAP_PROP_FPS)?;
        // A file may claim any rate: a period too long for the clock saturates.
        self.period = (on && fps > 0.0)
            .then(|| Duration::try_from_secs_f64(1.0 / fps).unwrap_or(Duration::MAX));
        Ok(self)
    }

    /// The pool frames come from.
    pub fn pool(&self) -> &FramePool {
        &self.pool
    }

    /// The next decoded frame (`None` at the end of the file).
    pub fn read_next(&mut self, token: &CancelToken) -> Result<Option<Frame>, CvError> {
        let mut frame = self.pool.acquire_cancellable("video-file", token)?;
        {
            let mut dst = MatViewMut::new(&mut frame)?;
            if !self.capture.read(&mut dst)? {
                return Ok(None);
            }
            dst.ensure_in_place("VideoCapture::read")
                .map_err(|_| file_error(&self.path, "a frame changed size mid-stream"))?;
        }
        frame.set_meta(FrameMeta {
            sequence: self.sequence,
            timestamp: monotonic_now(),
        });
        self.sequence += 1;
        Ok(Some(frame))
    }
}

impl Source for VideoFileSource {
    fn next_frame(&mut self, token: &CancelToken) -> Result<Option<Frame>, StageError> {
        if let (Some(period), Some(last)) = (self.period, self.last) {
            // `wait_timeout` takes any length, so a huge period cannot overflow.
            let left = period.saturating_sub(last.elapsed());
            if !left.is_zero() && token.wait_timeout(left) {
                return Err(StageError::Cancelled);
            }
        }
        self.last = Some(Instant::now());
        Ok(self.read_next(token)?)
    }

    fn close(&mut self) {
        let _ = self.capture.release();
    }
}

impl std::fmt::Debug for VideoFileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoFileSource")
            .field("path", &self.path)
            .field("layout", &self.pool.layout())
            .finish_non_exhaustive()
    }
}
