//! Board detection over a set of images, in parallel.
//!
//! Decoding and corner detection dominate the wall time of a calibration and every view is
//! independent, so views are spread over supervised worker threads (framekeep's
//! `Supervisor`: named, joined, accounted in the ledger, panics caught and reported) that
//! pull the next index from a shared counter (work stealing in its simplest form: a slow view never stalls a worker
//! that could take another). Results come back over a channel to the calling thread, which
//! drives the progress bar and restores the input order. The first input error (missing,
//! undecodable, wrong size) stops the other workers early and is reported by name.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use framekeep_core::cancel::CancelToken;
use framekeep_core::supervisor::Supervisor;

use opencv::core::{Point2f, Size};
use opencv::prelude::*;

use crate::board::Board;
use crate::error::{CalibError, CvContext, Result};
use crate::imageio::SameAs;
use crate::tracked::TrackedMat;

/// The outcome of searching one view for the board.
#[derive(Debug, Clone)]
pub struct Detection {
    /// The image file.
    pub path: PathBuf,
    /// The board features in pixels, or `None` when the board was not found.
    pub corners: Option<Vec<Point2f>>,
}

/// Detections of one camera's views, in input order.
#[derive(Debug, Clone)]
pub struct DetectionSet {
    /// Size shared by every image.
    pub image_size: Size,
    /// One entry per input image.
    pub views: Vec<Detection>,
}

impl DetectionSet {
    /// Views where the board was found.
    pub fn found(&self) -> impl Iterator<Item = (&PathBuf, &Vec<Point2f>)> {
        self.views
            .iter()
            .filter_map(|d| d.corners.as_ref().map(|c| (&d.path, c)))
    }

    /// Views where the board was not found.
    pub fn missed(&self) -> impl Iterator<Item = &PathBuf> {
        self.views
            .iter()
            .filter(|d| d.corners.is_none())
            .map(|d| &d.path)
    }
}

/// Loads one image as 8-bit grayscale, with errors naming the file.
pub fn load_gray(path: &std::path::Path) -> Result<TrackedMat> {
    crate::imageio::read_gray(path)
}

/// The size every view must have, read from the first view's header (refused when above
/// [`crate::imageio::MAX_PIXELS`]), before any view is decoded.
fn first_view_size(first: &std::path::Path) -> Result<SameAs> {
    let (width, height) = crate::imageio::image_size(first)?;
    Ok(SameAs {
        first: first.to_path_buf(),
        width,
        height,
    })
}

/// What one worker finds in one view: the image size and the board features, if any.
type ViewOutcome = Result<(Size, Option<Vec<Point2f>>)>;

fn detect_one(path: &std::path::Path, board: &Board, same: &SameAs) -> ViewOutcome {
    // Another size than the first view's is refused from the header, before decoding.
    let img = crate::imageio::read_gray_as(path, Some(same))?;
    let size = img.size().cv("Mat::size")?;
    Ok((size, board.detect(&img)?))
}

/// Messages from detection workers to the collecting thread.
enum Msg {
    View(usize, ViewOutcome),
    Done,
}

/// Detects `board` in every image on `workers` supervised threads; `on_done` is called on
/// the calling thread after each view (for progress display).
///
/// Fails on the first (in input order) missing, undecodable, corrupt or differently sized
/// image; a size is checked from the image's header, against the first image's, before the
/// image is decoded.
pub fn detect_all(
    paths: &[PathBuf],
    board: &Board,
    workers: usize,
    on_done: impl FnMut(&Detection),
) -> Result<DetectionSet> {
    detect_all_cancellable(paths, board, workers, &CancelToken::new(), on_done)
}

/// [`detect_all`] that stops early, with [`CalibError::Cancelled`], when `cancel` fires
/// (e.g. on Ctrl-C). A worker panic cancels `cancel` too (the supervisor escalates).
pub fn detect_all_cancellable(
    paths: &[PathBuf],
    board: &Board,
    workers: usize,
    cancel: &CancelToken,
    mut on_done: impl FnMut(&Detection),
) -> Result<DetectionSet> {
    if paths.is_empty() {
        return Err(CalibError::NoImages {
            spec: "(empty input)".into(),
        });
    }
    let same = first_view_size(&paths[0])?;
    let workers = workers.clamp(1, paths.len());
    // The workers are the parallelism: OpenCV's own thread pool inside each detection
    // would fight them for the same cores (and make one worker use several).
    let _single = OpenCvThreads::limit(1)?;
    let shared: Arc<[PathBuf]> = paths.into();
    let next = Arc::new(AtomicUsize::new(0));
    let root = cancel.clone();
    let supervisor = Supervisor::new(&root);
    let (tx, rx) = crossbeam_channel::unbounded();
    for w in 0..workers {
        let (paths, next, tx, board) = (shared.clone(), next.clone(), tx.clone(), *board);
        let same = same.clone();
        let spawned = supervisor.spawn(format!("calib-detect-{w}"), move |ctx| {
            while !ctx.is_cancelled() {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(path) = paths.get(i) else { break };
                let r = detect_one(path, &board, &same);
                if r.is_err() {
                    // Stop handing out views: the first input error ends the run.
                    next.store(usize::MAX / 2, Ordering::Relaxed);
                }
                if tx.send(Msg::View(i, r)).is_err() {
                    break;
                }
            }
            let _ = tx.send(Msg::Done);
            Ok(())
        });
        if let Err(e) = spawned {
            supervisor.shutdown();
            return Err(CalibError::Worker(format!("cannot start detection: {e}")));
        }
    }
    drop(tx);
    let mut results: Vec<Option<ViewOutcome>> = (0..paths.len()).map(|_| None).collect();
    let cancelled = root.receiver();
    let mut finished = 0;
    while finished < workers {
        crossbeam_channel::select! {
            recv(rx) -> msg => match msg {
                Ok(Msg::View(i, r)) => {
                    if let Ok((_, corners)) = &r {
                        on_done(&Detection { path: paths[i].clone(), corners: corners.clone() });
                    }
                    results[i] = Some(r);
                }
                Ok(Msg::Done) => finished += 1,
                Err(_) => break,
            },
            // Interrupted, or a worker panicked and the supervisor escalated.
            recv(cancelled) -> _ => break,
        }
    }
    let report = supervisor.shutdown();
    if let Some((name, message)) = report.panics().next() {
        return Err(CalibError::Worker(format!("{name} panicked: {message}")));
    }
    if let Some(w) = report.timed_out().next() {
        return Err(CalibError::Worker(format!("{} did not stop", w.name)));
    }
    if let Some(cause) = root.cause() {
        return Err(CalibError::Cancelled(cause.to_string()));
    }
    collect(paths, results)
}

/// Limits OpenCV's internal thread pool while alive, restoring it on drop.
struct OpenCvThreads(i32);

impl OpenCvThreads {
    fn limit(n: i32) -> Result<Self> {
        let previous = opencv::core::get_num_threads().cv("getNumThreads")?;
        opencv::core::set_num_threads(n).cv("setNumThreads")?;
        Ok(Self(previous))
    }
}

impl Drop for OpenCvThreads {
    fn drop(&mut self) {
        let _ = opencv::core::set_num_threads(self.0);
    }
}

/// Restores input order and checks sizes; the first failing view (in order) wins.
fn collect(paths: &[PathBuf], results: Vec<Option<ViewOutcome>>) -> Result<DetectionSet> {
    let mut views = Vec::with_capacity(paths.len());
    let mut expected: Option<Size> = None;
    for (i, r) in results.into_iter().enumerate() {
        match r {
            // Not reached because an earlier view failed: that error is reported below.
            None => continue,
            Some(Err(e)) => return Err(e),
            Some(Ok((size, corners))) => {
                match expected {
                    None => expected = Some(size),
                    Some(e) if e != size => {
                        return Err(CalibError::SizeMismatch {
                            path: paths[i].clone(),
                            width: size.width,
                            height: size.height,
                            first: paths[0].clone(),
                            expected_width: e.width,
                            expected_height: e.height,
                        })
                    }
                    Some(_) => {}
                }
                views.push(Detection {
                    path: paths[i].clone(),
                    corners,
                });
            }
        }
    }
    let image_size = expected.ok_or_else(|| CalibError::Worker("no view was processed".into()))?;
    if views.len() != paths.len() {
        return Err(CalibError::Worker("a view was lost by the workers".into()));
    }
    Ok(DetectionSet { image_size, views })
}
