//! Board detection over a set of images, in parallel.
//!
//! Decoding and corner detection dominate the wall time of a calibration and every view is
//! independent, so views are spread over worker threads that pull the next index from a
//! shared counter (work stealing in its simplest form: a slow view never stalls a worker
//! that could take another). Results come back over a channel to the calling thread, which
//! drives the progress bar and restores the input order. The first input error (missing,
//! undecodable, wrong size) stops the other workers early and is reported by name.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use opencv::core::{Point2f, Size};
use opencv::imgcodecs;
use opencv::prelude::*;

use crate::board::Board;
use crate::error::{CalibError, CvContext, Result};
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
    if !path.exists() {
        return Err(CalibError::MissingImage {
            path: path.to_path_buf(),
        });
    }
    let name = path
        .to_str()
        .ok_or_else(|| CalibError::InvalidArgument(format!("non UTF-8 path {}", path.display())))?;
    let img = TrackedMat::new(
        imgcodecs::imread(name, imgcodecs::IMREAD_GRAYSCALE).cv("imread")?,
        "calib view",
    );
    if img.empty() {
        return Err(CalibError::UnreadableImage {
            path: path.to_path_buf(),
        });
    }
    Ok(img)
}

/// What one worker finds in one view: the image size and the board features, if any.
type ViewOutcome = Result<(Size, Option<Vec<Point2f>>)>;

fn detect_one(path: &std::path::Path, board: &Board) -> ViewOutcome {
    let img = load_gray(path)?;
    let size = img.size().cv("Mat::size")?;
    Ok((size, board.detect(&img)?))
}

/// Detects `board` in every image using `workers` threads; `on_done` is called on the
/// calling thread after each view (for progress display).
///
/// Fails on the first (in input order) missing, undecodable or differently sized image.
pub fn detect_all(
    paths: &[PathBuf],
    board: &Board,
    workers: usize,
    mut on_done: impl FnMut(&Detection),
) -> Result<DetectionSet> {
    if paths.is_empty() {
        return Err(CalibError::NoImages {
            spec: "(empty input)".into(),
        });
    }
    let workers = workers.clamp(1, paths.len());
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = crossbeam_channel::unbounded();
    let mut results: Vec<Option<ViewOutcome>> = (0..paths.len()).map(|_| None).collect();
    std::thread::scope(|scope| -> Result<()> {
        let mut handles = Vec::with_capacity(workers);
        for w in 0..workers {
            let tx = tx.clone();
            let (next, stop) = (&next, &stop);
            let handle = std::thread::Builder::new()
                .name(format!("calib-detect-{w}"))
                .spawn_scoped(scope, move || loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = paths.get(i) else { break };
                    let r = detect_one(path, board);
                    if r.is_err() {
                        stop.store(true, Ordering::Relaxed);
                    }
                    if tx.send((i, r)).is_err() {
                        break;
                    }
                })
                .map_err(|e| CalibError::Worker(format!("cannot spawn: {e}")))?;
            handles.push(handle);
        }
        drop(tx);
        for (i, r) in rx.iter() {
            if let Ok((_, corners)) = &r {
                on_done(&Detection {
                    path: paths[i].clone(),
                    corners: corners.clone(),
                });
            }
            results[i] = Some(r);
        }
        for h in handles {
            h.join()
                .map_err(|_| CalibError::Worker("a detection worker panicked".into()))?;
        }
        Ok(())
    })?;
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
