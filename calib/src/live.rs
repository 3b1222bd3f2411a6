//! Live view collection: frames from cameras, framekeep services (frames another process
//! publishes) or any framekeep [`Source`] → board detection → coverage-based selection →
//! accepted views written as PNG images.
//!
//! One camera ([`collect_views`], calib-mono) or a stereo pair ([`collect_pairs`],
//! calib-stereo) go through the same pieces: a [`LiveCamera`] pulls frames and names its
//! device (or service) in every error, an examiner converts each frame to BGR (pooled) and
//! gray (a tracked Mat) and searches it for the board, the [`Selector`] keeps what adds
//! coverage, and the accepted views are written to the views directory.
//!
//! A service ([`LiveCamera::subscribe`]) is received with framekeep-ipc's [`Subscriber`]:
//! each frame is the publisher's shared-memory sample, read-only, converted like a camera
//! frame (whatever its format: BGR, YUYV, gray, MJPEG, ...) and released, which gives the
//! sample back. The subscriber asks for the latest frame only (`Link::Latest`; on a
//! blocking service, `Link::DropNewest(1)`), so frames published while one is examined are
//! skipped, as for a camera. No frame within the first-frame wait (no publisher), and a
//! publisher that closes or dies mid-run, are errors naming the service
//! ([`CalibError::Service`], [`CalibError::PublisherGone`]); a publisher that stalls is
//! waited for, with a warning, like a camera.
//!
//! Why write the views out instead of calibrating from memory: the accepted views then go
//! through exactly the same (tested) image-set path as every other input, the user keeps a
//! record of what the calibration saw, and a run can be repeated offline with other flags.
//! Frames arrive at camera rate while detection takes tens of milliseconds, so frames that
//! come in while one is being examined are simply not looked at: the source is pulled,
//! never queued, and every frame is released as soon as it has been examined.
//!
//! Stereo frames are paired by capture timestamp (the driver's, CLOCK_MONOTONIC for both
//! cameras): the two newest pulled frames form a pair when their timestamps differ by at
//! most [`PairOptions::max_skew`]; otherwise the older one is dropped and its camera pulled
//! again, so each pair is the nearest in time. A pair is kept when the board is found in
//! both images and the left view adds coverage (ROS `camera_calibration` scores a stereo
//! sample by its left view too).

use std::path::{Path, PathBuf};
use std::time::Duration;

use framekeep_core::cancel::CancelToken;
use framekeep_core::frame::{Frame, FrameSize, PixelFormat};
use framekeep_core::pipeline::{Link, Source};
use framekeep_cv::convert::SizedBgrConverter;
use framekeep_cv::mat::MatView;
use framekeep_ipc::{Delivery, Domain, IpcError, Subscriber, SubscriberOptions};
use framekeep_v4l::FourCc;
use framekeep_v4l::{CaptureDevice, CaptureStream, FormatRequest, StreamOptions, StreamSource};
use opencv::core::Point2f;
use opencv::imgproc;

use crate::board::Board;
use crate::error::{CalibError, CvContext, Result};
use crate::output::create_dir_all;
use crate::select::{view_params, Selector};
use crate::tracked::{track_empty, TrackedMat};

/// What to ask a camera for.
#[derive(Debug, Clone, Copy)]
pub struct CameraRequest {
    /// Pixel format (YUYV, MJPG, ...).
    pub format: PixelFormat,
    /// Frame size.
    pub size: FrameSize,
    /// Longest wait for one frame before the camera counts as stalled (it is then waited
    /// for again, with a warning; a camera that is gone ends the run).
    pub timeout: Duration,
}

/// One camera of a live run: a frame source and the name every error gives it.
pub struct LiveCamera {
    name: String,
    feed: Feed,
    size: Option<(usize, usize)>,
}

/// Where a [`LiveCamera`]'s frames come from.
enum Feed {
    /// A camera stream or any other source.
    Source(Box<dyn Source>),
    /// A framekeep service (boxed: a subscriber is large).
    Service(Box<ServiceFeed>),
}

/// How long a service's stalled publisher is waited for before a warning (and again).
const SERVICE_STALL: Duration = Duration::from_secs(2);

/// A subscription to a service, with what its errors need.
struct ServiceFeed {
    domain: Domain,
    subscriber: Subscriber,
    /// Longest wait for the first frame.
    first_frame: Duration,
    /// Frames received so far.
    received: u64,
}

impl ServiceFeed {
    fn connect(
        domain: &Domain,
        service: &str,
        link: Link,
    ) -> std::result::Result<Subscriber, IpcError> {
        Subscriber::connect(domain, service, SubscriberOptions::new(link).name("calib"))
    }

    /// The next frame; `None` when `token` is cancelled.
    fn pull(&mut self, token: &CancelToken) -> Result<Option<Frame>> {
        loop {
            let wait = if self.received == 0 {
                self.first_frame
            } else {
                SERVICE_STALL
            };
            let bounded = token.child_with_timeout(wait);
            match self.subscriber.recv(&bounded) {
                Ok(frame) => {
                    self.received += 1;
                    return Ok(Some(frame));
                }
                Err(IpcError::Cancelled) if token.is_cancelled() => return Ok(None),
                Err(IpcError::Cancelled) if self.received == 0 => {
                    return Err(self.error(format!(
                        "no frame within {:.1} s: no publisher is running (in this domain), or it sends nothing",
                        wait.as_secs_f64(),
                    )))
                }
                Err(IpcError::Cancelled) => {
                    tracing::warn!(
                        "service {}: no frame for {:.1} s, still waiting",
                        self.subscriber.service(),
                        wait.as_secs_f64()
                    );
                }
                Err(IpcError::PublisherGone { crashed, .. }) => {
                    return Err(CalibError::PublisherGone {
                        service: self.subscriber.service().to_string(),
                        crashed,
                    })
                }
                Err(IpcError::PolicyNotOffered {
                    requested: Link::Latest,
                    offered: Delivery::Blocking { .. },
                    ..
                }) => {
                    // A blocking service offers no `latest`: take one frame at a time
                    // without ever holding its publisher back.
                    let service = self.subscriber.service().to_string();
                    self.subscriber = Self::connect(&self.domain, &service, Link::drop_newest(1))
                        .map_err(|e| self.error(with_causes(&e)))?;
                }
                Err(e) => return Err(self.error(with_causes(&e))),
            }
        }
    }

    fn error(&self, message: String) -> CalibError {
        CalibError::Service {
            service: self.subscriber.service().to_string(),
            message,
        }
    }
}

impl std::fmt::Debug for LiveCamera {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCamera")
            .field("name", &self.name)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl LiveCamera {
    /// Any frame source (an image sequence standing in for a camera, a pipeline source),
    /// named `name` in errors.
    pub fn new(name: impl Into<String>, source: impl Source + 'static) -> LiveCamera {
        LiveCamera {
            name: name.into(),
            feed: Feed::Source(Box::new(source)),
            size: None,
        }
    }

    /// Subscribes to `service` in `domain`: frames another process publishes with
    /// framekeep-ipc (e.g. `framekeep serve`). Fails when no frame comes within
    /// `first_frame` ([`CalibError::Service`]), and mid-run when the publisher goes away
    /// ([`CalibError::PublisherGone`]); both name the service.
    pub fn subscribe(domain: &Domain, service: &str, first_frame: Duration) -> Result<LiveCamera> {
        let error = |e: IpcError| CalibError::Service {
            service: service.to_string(),
            message: with_causes(&e),
        };
        let subscriber = match ServiceFeed::connect(domain, service, Link::latest()) {
            Err(IpcError::PolicyNotOffered {
                offered: Delivery::Blocking { .. },
                ..
            }) => ServiceFeed::connect(domain, service, Link::drop_newest(1)).map_err(error)?,
            other => other.map_err(error)?,
        };
        Ok(LiveCamera {
            name: service.to_string(),
            feed: Feed::Service(Box::new(ServiceFeed {
                domain: domain.clone(),
                subscriber,
                first_frame,
                received: 0,
            })),
            size: None,
        })
    }

    /// Opens a V4L2 camera by path, card name or bus info, asking for `request`.
    pub fn open(device: &str, request: &CameraRequest) -> Result<LiveCamera> {
        let stream = CaptureStream::open(device, stream_options(request))
            .map_err(|e| device_error(device, &e))?;
        Ok(Self::from_stream(device, stream))
    }

    /// Starts a stream on an already opened driver (tests use framekeep-v4l's
    /// `FakeDevice`), named `name` in errors.
    pub fn start(
        name: impl Into<String>,
        device: Box<dyn CaptureDevice>,
        request: &CameraRequest,
    ) -> Result<LiveCamera> {
        let name = name.into();
        let stream = CaptureStream::start(device, stream_options(request))
            .map_err(|e| device_error(&name, &e))?;
        Ok(Self::from_stream(&name, stream))
    }

    fn from_stream(name: &str, stream: CaptureStream) -> LiveCamera {
        let granted = stream.negotiated();
        LiveCamera {
            name: name.to_string(),
            size: Some((granted.width as usize, granted.height as usize)),
            feed: Feed::Source(Box::new(StreamSource::new(stream))),
        }
    }

    /// The name errors give this camera.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The frame size the driver granted (None for sources that are not cameras, and
    /// for services).
    pub fn size(&self) -> Option<(usize, usize)> {
        self.size
    }

    /// The next frame; `None` at the end of the source or on cancel. A failing source
    /// (a camera unplugged or failing mid-run, a service whose publisher went away) is an
    /// error naming the camera (the service).
    fn pull(&mut self, token: &CancelToken) -> Result<Option<Frame>> {
        let source = match &mut self.feed {
            Feed::Source(source) => source,
            Feed::Service(service) => return service.pull(token),
        };
        match source.next_frame(token) {
            Ok(frame) => Ok(frame),
            Err(e) if e.is_stop() && token.is_cancelled() => Ok(None),
            Err(e) => Err(device_error(&self.name, &e)),
        }
    }

    /// Stops the camera (STREAMOFF, wait for held frames), or leaves the service.
    pub fn close(self) {
        match self.feed {
            Feed::Source(mut source) => source.close(),
            Feed::Service(service) => drop(service),
        }
    }
}

fn stream_options(request: &CameraRequest) -> StreamOptions {
    let format = FormatRequest::new(
        FourCc(request.format.fourcc()),
        request.size.width as u32,
        request.size.height as u32,
    );
    StreamOptions::new().format(format).timeout(request.timeout)
}

/// An error with its chain of causes (framekeep-ipc's errors keep iceoryx2's reason as
/// their source), `: `-separated.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

fn device_error(device: &str, e: &dyn std::fmt::Display) -> CalibError {
    CalibError::Device {
        device: device.to_string(),
        message: e.to_string(),
    }
}

/// What to collect and where to put it.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// The calibration board.
    pub board: Board,
    /// Where accepted views are written (`view_000.png`, ... or `left_000.png` and
    /// `right_000.png`, ...); created if missing.
    pub views_dir: PathBuf,
    /// Stop after this many frames (stereo: frame pairs) whatever the coverage (None:
    /// until coverage is enough).
    pub max_frames: Option<u64>,
    /// The coverage selector (its defaults are ROS camera_calibration's).
    pub selector: Selector,
}

/// Stereo collection: the common options plus the pairing bound.
#[derive(Debug, Clone)]
pub struct PairOptions {
    /// Board, views directory, limits, selector.
    pub live: LiveOptions,
    /// Largest capture-time difference of the two frames of a pair.
    pub max_skew: Duration,
    /// Consecutive frames dropped without forming a pair after which the cameras count as
    /// not synchronised and the run fails.
    pub max_unpaired_run: u64,
}

impl PairOptions {
    /// Pairs within `max_skew`; 100 frames in a row without a pair is an error.
    pub fn new(live: LiveOptions, max_skew: Duration) -> PairOptions {
        PairOptions {
            live,
            max_skew,
            max_unpaired_run: 100,
        }
    }
}

/// How far collection got, reported after every examined frame (or pair).
#[derive(Debug, Clone, Copy)]
pub struct LiveProgress {
    /// Frames (stereo: frame pairs) examined.
    pub frames: u64,
    /// Frames (pairs: both images) in which the board was found.
    pub detected: u64,
    /// Views (pairs) kept.
    pub kept: usize,
    /// Coverage of X, Y, size and skew, each in [0, 1] (stereo: of the left views).
    pub coverage: [f64; 4],
    /// Stereo: frames dropped because the other camera had no frame close enough in time.
    pub unpaired: u64,
    /// Corrupt MJPEG frames skipped (those the camera stream did not already skip: its
    /// structural check passed, the strict decoder refused them).
    pub corrupt: u64,
}

impl LiveProgress {
    fn new() -> LiveProgress {
        LiveProgress {
            frames: 0,
            detected: 0,
            kept: 0,
            coverage: [0.0; 4],
            unpaired: 0,
            corrupt: 0,
        }
    }

    /// One status line (for a terminal's carriage-return progress display).
    pub fn line(&self) -> String {
        let [x, y, size, skew] = self.coverage.map(|c| (c * 100.0).round());
        let unpaired = if self.unpaired > 0 {
            format!(" unpaired {}", self.unpaired)
        } else {
            String::new()
        };
        format!(
            "frames {} board {} kept {}{unpaired}  coverage X {x}% Y {y}% size {size}% skew {skew}%",
            self.frames, self.detected, self.kept
        )
    }
}

/// Why collection stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveStop {
    /// Coverage (or the view count) was enough.
    Covered,
    /// `max_frames` were examined.
    FrameLimit,
    /// The source ended.
    EndOfStream,
    /// The token was cancelled (Ctrl-C).
    Cancelled,
}

/// The result of a collection run.
#[derive(Debug, Clone)]
pub struct LiveOutcome {
    /// The images written, in order.
    pub views: Vec<PathBuf>,
    /// The last progress report.
    pub progress: LiveProgress,
    /// Why it stopped.
    pub stop: LiveStop,
}

/// The result of a stereo collection run.
#[derive(Debug, Clone)]
pub struct PairOutcome {
    /// The left and right images written, in order (same length).
    pub left: Vec<PathBuf>,
    /// See `left`.
    pub right: Vec<PathBuf>,
    /// The last progress report.
    pub progress: LiveProgress,
    /// Why it stopped.
    pub stop: LiveStop,
}

/// A frame as BGR: a pooled frame from the converter.
struct Bgr(MatView);

impl Bgr {
    fn gray(&self) -> Result<TrackedMat> {
        let mut gray = track_empty("live gray")?;
        imgproc::cvt_color(self.0.mat(), &mut gray, imgproc::COLOR_BGR2GRAY, 0).cv("cvtColor")?;
        Ok(gray)
    }

    fn write(&self, path: &Path) -> Result<()> {
        crate::imageio::write_image(path, self.0.mat())
    }

    fn size(&self) -> (i32, i32) {
        (
            self.0.frame().width() as i32,
            self.0.frame().height() as i32,
        )
    }
}

/// A frame converted for detection: the BGR image (kept for writing) and the board
/// features found in it.
struct Examined {
    bgr: Bgr,
    corners: Option<Vec<Point2f>>,
}

/// Converts frames to BGR and gray and searches them for the board.
struct Examiner {
    converter: SizedBgrConverter,
    board: Board,
}

impl Examiner {
    fn new(board: Board) -> Examiner {
        Examiner {
            converter: SizedBgrConverter::new(2, "calib-live"),
            board,
        }
    }

    /// Converts `frame` (released here) and detects the board in it; `None` for a corrupt
    /// MJPEG frame (the converter's strict decoder refused it: never a half-gray view).
    fn examine(&mut self, frame: Frame) -> Result<Option<Examined>> {
        let pooled = match self.converter.convert(&frame) {
            Ok(pooled) => pooled,
            Err(framekeep_cv::CvError::Corrupt { what, reason }) => {
                tracing::debug!(%what, %reason, "live: corrupt frame skipped");
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        drop(frame);
        let bgr = Bgr(MatView::from_frame(pooled)?);
        let corners = self.board.detect(&bgr.gray()?)?;
        Ok(Some(Examined { bgr, corners }))
    }
}

impl Examined {
    fn size(&self) -> (i32, i32) {
        self.bgr.size()
    }
}

/// The stop checks every collection loop makes before pulling the next frame.
fn should_stop(
    token: &CancelToken,
    selector: &Selector,
    opts: &LiveOptions,
    progress: &LiveProgress,
) -> Option<LiveStop> {
    if token.is_cancelled() {
        Some(LiveStop::Cancelled)
    } else if selector.good_enough() {
        Some(LiveStop::Covered)
    } else if opts.max_frames.is_some_and(|n| progress.frames >= n) {
        Some(LiveStop::FrameLimit)
    } else {
        None
    }
}

/// The directory views are written to, made when collection starts (so that a path that
/// cannot be written is an error before the first frame, not minutes later) and removed
/// again when collection ends without writing anything into a directory it made: a run
/// that fails or keeps no view leaves no empty directory behind.
struct ViewsDir<'a> {
    path: &'a Path,
    made: bool,
}

impl<'a> ViewsDir<'a> {
    fn prepare(path: &'a Path) -> Result<ViewsDir<'a>> {
        let made = !path.exists();
        create_dir_all(path)?;
        Ok(ViewsDir { path, made })
    }
}

impl Drop for ViewsDir<'_> {
    fn drop(&mut self) {
        if self.made {
            // Fails, and leaves it, unless the directory is still empty.
            let _ = std::fs::remove_dir(self.path);
        }
    }
}

fn end_of(token: &CancelToken) -> LiveStop {
    if token.is_cancelled() {
        LiveStop::Cancelled
    } else {
        LiveStop::EndOfStream
    }
}

/// Pulls frames from `camera` until coverage is enough (or a limit, the end of the
/// source, or `token`), keeping the views that add coverage. `on_progress` runs after
/// every examined frame. A camera error ends the run with that error (naming the camera);
/// the views written so far stay on disk (and a views directory this run made but wrote
/// nothing into is removed).
pub fn collect_views(
    camera: &mut LiveCamera,
    token: &CancelToken,
    opts: &LiveOptions,
    mut on_progress: impl FnMut(&LiveProgress),
) -> Result<LiveOutcome> {
    let _dir = ViewsDir::prepare(&opts.views_dir)?;
    let mut selector = opts.selector.clone();
    let mut examiner = Examiner::new(opts.board);
    let mut progress = LiveProgress::new();
    let mut views = Vec::new();
    let stop = loop {
        if let Some(stop) = should_stop(token, &selector, opts, &progress) {
            break stop;
        }
        let Some(frame) = camera.pull(token)? else {
            break end_of(token);
        };
        progress.frames += 1;
        let Some(seen) = examiner.examine(frame)? else {
            progress.corrupt += 1;
            continue;
        };
        if let Some(corners) = &seen.corners {
            progress.detected += 1;
            let (w, h) = seen.size();
            if view_params(corners, &opts.board, w, h).is_some_and(|p| selector.offer(p)) {
                let path = opts.views_dir.join(format!("view_{:03}.png", views.len()));
                seen.bgr.write(&path)?;
                views.push(path);
            }
        }
        progress.kept = views.len();
        progress.coverage = selector.progress();
        on_progress(&progress);
    };
    Ok(LiveOutcome {
        views,
        progress,
        stop,
    })
}

fn skew(a: &Frame, b: &Frame) -> Duration {
    a.timestamp().abs_diff(b.timestamp())
}

/// Pulls the next pair of frames whose capture times are within `max_skew`, dropping the
/// older frame of a pair that is too far apart; `None` at the end of either source or on
/// cancel.
fn next_pair(
    left: &mut LiveCamera,
    right: &mut LiveCamera,
    token: &CancelToken,
    opts: &PairOptions,
    unpaired: &mut u64,
) -> Result<Option<(Frame, Frame)>> {
    let Some(mut l) = left.pull(token)? else {
        return Ok(None);
    };
    let Some(mut r) = right.pull(token)? else {
        return Ok(None);
    };
    let mut run = 0u64;
    while skew(&l, &r) > opts.max_skew {
        *unpaired += 1;
        run += 1;
        if run > opts.max_unpaired_run {
            return Err(CalibError::Unsynchronised {
                left: left.name.clone(),
                right: right.name.clone(),
                frames: run,
                max_skew_ms: opts.max_skew.as_secs_f64() * 1000.0,
                last_skew_ms: skew(&l, &r).as_secs_f64() * 1000.0,
            });
        }
        if l.timestamp() < r.timestamp() {
            drop(l);
            let Some(next) = left.pull(token)? else {
                return Ok(None);
            };
            l = next;
        } else {
            drop(r);
            let Some(next) = right.pull(token)? else {
                return Ok(None);
            };
            r = next;
        }
    }
    Ok(Some((l, r)))
}

/// Stereo [`collect_views`]: pulls time-matched frame pairs from `left` and `right` and
/// keeps the pairs where the board is found in both images and the left view adds
/// coverage, writing them as `left_NNN.png` and `right_NNN.png`. Two cameras that deliver
/// different frame sizes, a camera that fails, or cameras whose frames never pair up are
/// errors naming the camera(s); pairs written so far stay on disk.
pub fn collect_pairs(
    left: &mut LiveCamera,
    right: &mut LiveCamera,
    token: &CancelToken,
    opts: &PairOptions,
    mut on_progress: impl FnMut(&LiveProgress),
) -> Result<PairOutcome> {
    if let (Some(l), Some(r)) = (left.size, right.size) {
        check_same_size(left, l, right, r)?;
    }
    let live = &opts.live;
    let _dir = ViewsDir::prepare(&live.views_dir)?;
    let mut selector = live.selector.clone();
    let mut examiner = Examiner::new(live.board);
    let mut progress = LiveProgress::new();
    let (mut lv, mut rv) = (Vec::new(), Vec::new());
    let stop = loop {
        if let Some(stop) = should_stop(token, &selector, live, &progress) {
            break stop;
        }
        let Some((lf, rf)) = next_pair(left, right, token, opts, &mut progress.unpaired)? else {
            break end_of(token);
        };
        progress.frames += 1;
        let ls = (lf.width(), lf.height());
        let rs = (rf.width(), rf.height());
        check_same_size(left, ls, right, rs)?;
        let Some(seen_l) = examiner.examine(lf)? else {
            progress.corrupt += 1;
            continue;
        };
        // The right image is searched only when the left one shows the board: a pair is
        // useless otherwise.
        let seen_r = match seen_l.corners {
            Some(_) => match examiner.examine(rf)? {
                Some(r) => Some(r),
                None => {
                    progress.corrupt += 1;
                    continue;
                }
            },
            None => None,
        };
        if let (Some(lc), Some(r)) = (&seen_l.corners, &seen_r) {
            if r.corners.is_some() {
                progress.detected += 1;
                let (w, h) = seen_l.size();
                if view_params(lc, &live.board, w, h).is_some_and(|p| selector.offer(p)) {
                    let n = lv.len();
                    let lp = live.views_dir.join(format!("left_{n:03}.png"));
                    let rp = live.views_dir.join(format!("right_{n:03}.png"));
                    seen_l.bgr.write(&lp)?;
                    if let Err(e) = r.bgr.write(&rp) {
                        // Never leave half a pair behind.
                        let _ = std::fs::remove_file(&lp);
                        return Err(e);
                    }
                    lv.push(lp);
                    rv.push(rp);
                }
            }
        }
        progress.kept = lv.len();
        progress.coverage = selector.progress();
        on_progress(&progress);
    };
    Ok(PairOutcome {
        left: lv,
        right: rv,
        progress,
        stop,
    })
}

fn check_same_size(
    left: &LiveCamera,
    l: (usize, usize),
    right: &LiveCamera,
    r: (usize, usize),
) -> Result<()> {
    if l == r {
        return Ok(());
    }
    Err(CalibError::Device {
        device: right.name.clone(),
        message: format!(
            "delivers {}x{} frames but the left camera {} delivers {}x{}: both cameras of a \
             stereo rig must have the same frame size",
            r.0, r.1, left.name, l.0, l.1
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("fk-views-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_views_dir_is_removed_only_if_this_run_made_it_and_left_it_empty() {
        // Made and left empty (a failed run): removed, parents kept.
        let root = scratch("empty");
        let views = root.join("a").join("views");
        drop(ViewsDir::prepare(&views).unwrap());
        assert!(!views.exists() && root.join("a").exists());

        // Made and written into: kept, with what was written.
        let guard = ViewsDir::prepare(&views).unwrap();
        std::fs::write(views.join("view_000.png"), b"x").unwrap();
        drop(guard);
        assert!(views.join("view_000.png").exists());

        // There before the run, even empty: kept.
        std::fs::remove_file(views.join("view_000.png")).unwrap();
        drop(ViewsDir::prepare(&views).unwrap());
        assert!(views.exists());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_views_dir_that_cannot_be_made_is_an_error_before_any_frame() {
        let root = scratch("file");
        std::fs::create_dir_all(&root).unwrap();
        let blocker = root.join("not-a-dir");
        std::fs::write(&blocker, b"x").unwrap();
        assert!(ViewsDir::prepare(&blocker.join("views")).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
