//! [`VideoFileSource`]: a video file through OpenCV's `videoio`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use framekeep_core::cancel::CancelToken;
use framekeep_core::frame::{Frame, FrameLayout, FrameMeta, PixelFormat};
use framekeep_core::pipeline::{OnCorrupt, Source, StageError};
use framekeep_core::pool::{FramePool, PoolOptions};
use framekeep_core::time::monotonic_now;
use opencv::prelude::*;
use opencv::videoio::{
    VideoCapture, CAP_ANY, CAP_PROP_FORMAT, CAP_PROP_FOURCC, CAP_PROP_FPS, CAP_PROP_FRAME_HEIGHT,
    CAP_PROP_FRAME_WIDTH,
};

use super::error::file_error;
use super::read::check_size;
use super::DEFAULT_MAX_PIXELS;
use crate::convert::{decode_jpeg, Corruption, JpegColor};
use crate::mat::{MatViewMut, TrackedMat};
use crate::CvError;

/// Decoded frames of a video file as BGR24 frames from the source's pool.
///
/// `VideoCapture::read` writes straight into the pooled frame (the output already has
/// the size and type it produces, so OpenCV does not reallocate); a frame of another
/// size (a stream that changes resolution) is reported as an error.
///
/// Motion-JPEG files are read as raw packets and decoded strictly, like a camera's MJPEG
/// frames: a corrupt frame is a [`CvError::Corrupt`], counted in
/// [`VideoFileSource::corrupt`] and handled as [`VideoFileSource::on_corrupt`] says (skip
/// by default), never a half-gray picture. Other codecs are decoded by the backend
/// (FFmpeg), which conceals damaged frames itself and does not say so.
pub struct VideoFileSource {
    path: PathBuf,
    capture: VideoCapture,
    pool: FramePool,
    sequence: u64,
    period: Option<Duration>,
    last: Option<Instant>,
    /// Motion-JPEG read as raw packets (decoded here).
    raw_mjpeg: bool,
    on_corrupt: OnCorrupt,
    corrupt: u64,
    ended: bool,
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
        check_size(&path, width, height, DEFAULT_MAX_PIXELS)?;
        let layout = FrameLayout::packed(PixelFormat::Bgr24, width, height)?;
        let mjpg = f64::from(u32::from_le_bytes(*b"MJPG"));
        // Raw packets (CAP_PROP_FORMAT -1) when the backend offers them for MJPEG.
        let mut capture = capture;
        let raw_mjpeg =
            capture.get(CAP_PROP_FOURCC)? == mjpg && capture.set(CAP_PROP_FORMAT, -1.0)?;
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
            raw_mjpeg,
            on_corrupt: OnCorrupt::Skip,
            corrupt: 0,
            ended: false,
        })
    }

    /// What a corrupt Motion-JPEG frame does (default [`OnCorrupt::Skip`]: go on with the
    /// next frame, as a player would): `Error` returns the [`CvError::Corrupt`] and goes
    /// on at the next call, `Fail` returns it and ends the file (later calls return
    /// `None`). Inside a pipeline an error ends the source either way.
    pub fn on_corrupt(mut self, policy: OnCorrupt) -> Self {
        self.on_corrupt = policy;
        self
    }

    /// Corrupt frames met so far.
    pub fn corrupt(&self) -> u64 {
        self.corrupt
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
        loop {
            if self.ended {
                return Ok(None);
            }
            let mut frame = self.pool.acquire_cancellable("video-file", token)?;
            let read = if self.raw_mjpeg {
                self.read_mjpeg(&mut frame)
            } else {
                self.read_decoded(&mut frame)
            };
            match read {
                Ok(true) => {}
                Ok(false) => return Ok(None),
                Err(e @ CvError::Corrupt { .. }) => {
                    // `frame` goes back to the pool unseen.
                    self.corrupt += 1;
                    match self.on_corrupt {
                        OnCorrupt::Skip => continue,
                        OnCorrupt::Error => return Err(e),
                        OnCorrupt::Fail => {
                            self.ended = true;
                            return Err(e);
                        }
                    }
                }
                Err(e) => return Err(e),
            }
            frame.set_meta(FrameMeta {
                sequence: self.sequence,
                timestamp: monotonic_now(),
            });
            self.sequence += 1;
            return Ok(Some(frame));
        }
    }

    /// The backend decodes into `frame`; false at the end of the file.
    fn read_decoded(&mut self, frame: &mut Frame) -> Result<bool, CvError> {
        let mut dst = MatViewMut::new(frame)?;
        if !self.capture.read(&mut dst)? {
            return Ok(false);
        }
        dst.ensure_in_place("VideoCapture::read")
            .map_err(|_| file_error(&self.path, "a frame changed size mid-stream"))?;
        Ok(true)
    }

    /// The next Motion-JPEG packet, decoded strictly into `frame`; false at the end.
    fn read_mjpeg(&mut self, frame: &mut Frame) -> Result<bool, CvError> {
        let mut packet = TrackedMat::empty("video-file packet")?;
        if !self.capture.read(&mut packet)? {
            return Ok(false);
        }
        let stride = frame.layout().stride();
        let (width, height) = (frame.width(), frame.height());
        let buf = frame.get_mut().ok_or(CvError::SharedFrame)?;
        let what = || {
            format!(
                "frame {} of {}",
                self.sequence + self.corrupt,
                self.path.display()
            )
        };
        let corrupt = |reason| CvError::Corrupt {
            what: what(),
            reason,
        };
        let data = packet.data_bytes()?;
        let info = framekeep_jpeg::inspect(data).map_err(|e| corrupt(e.into()))?;
        if (info.width, info.height) != (width, height) {
            return Err(corrupt(Corruption::Size {
                width: info.width,
                height: info.height,
                expected_width: width,
                expected_height: height,
            }));
        }
        match decode_jpeg(data, JpegColor::Bgr, buf, stride) {
            Ok(_) => Ok(true),
            Err(CvError::Corrupt { reason, .. }) => Err(corrupt(reason)),
            Err(e) => Err(e),
        }
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
