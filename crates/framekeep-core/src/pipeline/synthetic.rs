//! [`SyntheticSource`]: a camera stand-in drawing the [test pattern](super::pattern).
//!
//! Until real capture lands, and in every test and benchmark, the pipeline
//! needs frames that look like a camera's: from a [`FramePool`], with
//! sequence numbers and `CLOCK_MONOTONIC` timestamps, at a frame rate or as
//! fast as possible, in any pixel format, with content a test can verify
//! (the counter drawn into the pixels survives any number of stages).
//!
//! A pool that runs dry does not stop the source: under
//! [`Exhausted::Wait`] it waits, cancellably,
//! up to the pool's acquire timeout at a time; each timeout, and under
//! fail-fast each refused acquire, skips that frame number (*starved*, as a
//! camera whose buffers are all held would; the pool's stats count them).
//! A closed pool ends the stream ([`CloseReason::PoolClosed`](super::CloseReason::PoolClosed)).

use std::time::{Duration, Instant};

use super::error::StageError;
use super::pattern::{supports, TestPattern};
use super::stage::Source;
use crate::cancel::CancelToken;
use crate::frame::{Frame, FrameError, FrameLayout, FrameMeta, PixelFormat};
use crate::pool::{AcquireError, Exhausted, FramePool, PoolError, PoolOptions};
use crate::time::monotonic_now;

/// The lease label (and default pool name) of synthetic frames.
const LABEL: &str = "synthetic";

/// How long a starved source waits before trying again when it has no
/// frame rate to pace it.
const STARVED_RETRY: Duration = Duration::from_millis(1);

/// Why a [`SyntheticSource`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SyntheticError {
    /// The size does not fit the format (zero, odd for a subsampled format, too large).
    #[error(transparent)]
    Layout(#[from] FrameError),
    /// The format has no pixels to draw (MJPEG, a bare UV plane).
    #[error("the test pattern cannot be drawn in {0}")]
    Unsupported(PixelFormat),
    /// The default pool could not be built.
    #[error(transparent)]
    Pool(#[from] PoolError),
    /// The given pool's frames do not have the requested layout.
    #[error("the pool's layout {pool:?} is not the source's {wanted:?}")]
    LayoutMismatch {
        /// The pool's layout.
        pool: FrameLayout,
        /// The requested layout.
        wanted: FrameLayout,
    },
    /// The frame rate is not a positive finite number whose period a
    /// `Duration` can hold.
    #[error("invalid frame rate {0}: expected a positive number of frames per second")]
    BadFps(f64),
}

/// Options of a [`SyntheticSource`]; from [`SyntheticSource::builder`].
#[derive(Debug, Clone)]
pub struct SyntheticBuilder {
    format: PixelFormat,
    width: usize,
    height: usize,
    fps: Option<f64>,
    frames: Option<u64>,
    pool: Option<FramePool>,
    buffers: usize,
}

impl SyntheticBuilder {
    /// Paces frames at `fps` frames per second (default: as fast as possible).
    pub fn fps(mut self, fps: f64) -> Self {
        self.fps = Some(fps);
        self
    }

    /// Ends the stream after frame numbers `0..n` (default: endless); a
    /// starved number is skipped, not retried.
    pub fn frames(mut self, n: u64) -> Self {
        self.frames = Some(n);
        self
    }

    /// Takes frames from `pool`, whose layout must be the packed layout of
    /// the format and size (or a strided one of them). Default: a pool of
    /// its own (see [`buffers`](Self::buffers)).
    pub fn pool(mut self, pool: FramePool) -> Self {
        self.pool = Some(pool);
        self
    }

    /// Buffers of the default pool (fixed size, wait when dry; default 4).
    pub fn buffers(mut self, n: usize) -> Self {
        self.buffers = n.max(1);
        self
    }

    /// Builds the source.
    pub fn build(self) -> Result<SyntheticSource, SyntheticError> {
        if !supports(self.format) {
            return Err(SyntheticError::Unsupported(self.format));
        }
        let packed = FrameLayout::packed(self.format, self.width, self.height)?;
        // A rate whose period the clock cannot hold (1e-20 fps) is as bad as
        // a negative one.
        let period = match self.fps {
            Some(fps) if !(fps.is_finite() && fps > 0.0) => {
                return Err(SyntheticError::BadFps(fps))
            }
            Some(fps) => Some(
                Duration::try_from_secs_f64(1.0 / fps).map_err(|_| SyntheticError::BadFps(fps))?,
            ),
            None => None,
        };
        let pool = match self.pool {
            Some(pool) => {
                let layout = pool.layout();
                let same = layout.format() == packed.format()
                    && layout.width() == packed.width()
                    && layout.height() == packed.height();
                if !same {
                    return Err(SyntheticError::LayoutMismatch {
                        pool: layout,
                        wanted: packed,
                    });
                }
                pool
            }
            None => PoolOptions::new(packed)
                .name(LABEL)
                .min_buffers(self.buffers)
                .max_buffers(self.buffers)
                .exhausted(Exhausted::Wait)
                .build()?,
        };
        let layout = pool.layout();
        let pattern = TestPattern::new(layout).ok_or(SyntheticError::Unsupported(self.format))?;
        Ok(SyntheticSource {
            pattern,
            pool,
            period,
            limit: self.frames,
            next: 0,
            due: Due::First,
        })
    }
}

/// A [`Source`] of test-pattern frames: a camera stand-in for every test,
/// benchmark and the main job without a camera.
///
/// Frames come from a [`FramePool`], with sequence numbers and
/// `CLOCK_MONOTONIC` timestamps, at a frame rate or as fast as possible, in
/// any pixel format with pixels, with content a test can verify (a counter
/// drawn into the pixels survives any number of stages; the pattern's exact
/// definition and its decoder are in `framekeep_core::testing`, feature
/// `testing`).
///
/// A pool that runs dry does not stop the source: under [`Exhausted::Wait`]
/// it waits, cancellably, up to the pool's acquire timeout at a time; each
/// timeout, and under fail-fast each refused acquire, skips that frame
/// number (*starved*, as a camera whose buffers are all held would; the
/// pool's stats count them). A closed pool ends the stream
/// ([`CloseReason::PoolClosed`](super::CloseReason::PoolClosed)).
///
/// ```
/// use framekeep_core::cancel::CancelToken;
/// use framekeep_core::frame::PixelFormat;
/// use framekeep_core::pipeline::{Source, SyntheticSource};
///
/// let mut source = SyntheticSource::builder(PixelFormat::Yuyv, 64, 48).frames(2).build()?;
/// let token = CancelToken::new();
/// let first = source.next_frame(&token)?.expect("frame 0");
/// assert_eq!((first.sequence(), first.width()), (0, 64));
/// drop(first);
/// assert!(source.next_frame(&token)?.is_some());
/// assert!(source.next_frame(&token)?.is_none()); // the stream ends after 2 frames
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SyntheticSource {
    pattern: TestPattern,
    pool: FramePool,
    period: Option<Duration>,
    limit: Option<u64>,
    next: u64,
    due: Due,
}

/// When a paced source's next frame is due.
#[derive(Debug, Clone, Copy)]
enum Due {
    /// No frame yet: now.
    First,
    At(Instant),
    /// Past the clock's range.
    Never,
}

impl SyntheticSource {
    /// Options for a `width x height` source of `format` frames.
    pub fn builder(format: PixelFormat, width: usize, height: usize) -> SyntheticBuilder {
        SyntheticBuilder {
            format,
            width,
            height,
            fps: None,
            frames: None,
            pool: None,
            buffers: 4,
        }
    }

    /// The pool frames come from. Its [`stats`](FramePool::stats) count the
    /// frames the source skipped because no buffer was free (`exhausted`
    /// under fail-fast, `timeouts` under wait); the frames it produced are
    /// the source's `frames_in` in a [`RunSummary`](super::RunSummary).
    pub fn pool(&self) -> &FramePool {
        &self.pool
    }

    /// Waits until the next frame is due; `false` if cancelled meanwhile.
    fn pace(&mut self, token: &CancelToken) -> bool {
        let Some(period) = self.period else {
            return !token.is_cancelled();
        };
        let now = Instant::now();
        let due = match self.due {
            // More than a frame late (a stall): restart the schedule
            // rather than bursting to catch up.
            Due::At(due) if due.checked_add(period).is_some_and(|next| next >= now) => due,
            Due::At(_) | Due::First => now,
            // The last frame's period ran past the clock's range (a rate of
            // 1e-15 fps): the next frame is never due.
            Due::Never => {
                token.wait();
                return false;
            }
        };
        self.due = due.checked_add(period).map_or(Due::Never, Due::At);
        if due > now {
            return !token.wait_deadline(due);
        }
        !token.is_cancelled()
    }

    /// A buffer, or `None` after a starved attempt (retry later).
    fn buffer(&mut self, token: &CancelToken) -> Result<Option<Frame>, StageError> {
        match self.pool.acquire_cancellable(LABEL, token) {
            Ok(frame) => Ok(Some(frame)),
            Err(AcquireError::Exhausted { .. } | AcquireError::Timeout { .. }) => {
                if self.period.is_none() && token.wait_timeout(STARVED_RETRY) {
                    return Err(StageError::Cancelled);
                }
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl Source for SyntheticSource {
    fn next_frame(&mut self, token: &CancelToken) -> Result<Option<Frame>, StageError> {
        loop {
            if self.limit.is_some_and(|limit| self.next >= limit) {
                return Ok(None);
            }
            if !self.pace(token) {
                return Err(StageError::Cancelled);
            }
            let Some(mut frame) = self.buffer(token)? else {
                // Starved: this frame is skipped, as a camera would.
                self.next += 1;
                continue;
            };
            let n = self.next;
            let drawn = match frame.get_mut() {
                Some(buf) => self.pattern.render(n, buf),
                None => false,
            };
            if !drawn {
                return Err(StageError::failed(
                    "a fresh pool frame was shared or too small to draw into",
                ));
            }
            frame.set_meta(FrameMeta {
                sequence: n,
                timestamp: monotonic_now(),
            });
            self.next += 1;
            return Ok(Some(frame));
        }
    }
}
