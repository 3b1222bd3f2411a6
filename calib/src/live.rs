//! Live view collection: frames from a camera (or any framekeep [`Source`]) → board
//! detection → coverage-based selection → accepted views written as PNG images.
//!
//! Why write the views out instead of calibrating from memory: the accepted views then go
//! through exactly the same (tested) image-set path as every other input, the user keeps a
//! record of what the calibration saw, and a run can be repeated offline with other flags.
//! Frames arrive at camera rate while detection takes tens of milliseconds, so frames that
//! come in while one is being examined are simply not looked at: the source is pulled,
//! never queued, and every frame is released as soon as it has been examined.

use std::path::{Path, PathBuf};

use framekeep_core::cancel::CancelToken;
use framekeep_core::pipeline::Source;
use framekeep_cv::{MatView, SizedBgrConverter};
use opencv::core::{Mat, Vector};
use opencv::imgcodecs;
use opencv::imgproc;

use crate::board::Board;
use crate::error::{CalibError, CvContext, Result};
use crate::select::{view_params, Selector};
use crate::tracked::track;

/// What to collect and where to put it.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// The calibration board.
    pub board: Board,
    /// Where accepted views are written (`view_000.png`, ...); created if missing.
    pub views_dir: PathBuf,
    /// Stop after this many frames whatever the coverage (None: until coverage is enough).
    pub max_frames: Option<u64>,
    /// The coverage selector (its defaults are ROS camera_calibration's).
    pub selector: Selector,
}

/// How far collection got, reported after every examined frame.
#[derive(Debug, Clone, Copy)]
pub struct LiveProgress {
    /// Frames examined.
    pub frames: u64,
    /// Frames in which the board was found.
    pub detected: u64,
    /// Views kept.
    pub kept: usize,
    /// Coverage of X, Y, size and skew, each in [0, 1].
    pub coverage: [f64; 4],
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

/// Pulls frames from `source` until coverage is enough (or a limit, the end of the
/// source, or `token`), keeping the views that add coverage. `on_progress` runs after
/// every examined frame. A source error ends the run with that error; the views written
/// so far stay on disk.
pub fn collect_views(
    source: &mut dyn Source,
    token: &CancelToken,
    opts: &LiveOptions,
    mut on_progress: impl FnMut(&LiveProgress),
) -> Result<LiveOutcome> {
    std::fs::create_dir_all(&opts.views_dir).map_err(|source| CalibError::Io {
        action: "cannot create",
        path: opts.views_dir.clone(),
        source,
    })?;
    let mut selector = opts.selector.clone();
    let mut converter = SizedBgrConverter::new(2, "calib-live");
    let mut progress = LiveProgress {
        frames: 0,
        detected: 0,
        kept: 0,
        coverage: [0.0; 4],
    };
    let mut views = Vec::new();
    let stop = loop {
        if token.is_cancelled() {
            break LiveStop::Cancelled;
        }
        if selector.good_enough() {
            break LiveStop::Covered;
        }
        if opts.max_frames.is_some_and(|n| progress.frames >= n) {
            break LiveStop::FrameLimit;
        }
        let frame = match source.next_frame(token) {
            Ok(Some(frame)) => frame,
            Ok(None) if token.is_cancelled() => break LiveStop::Cancelled,
            Ok(None) => break LiveStop::EndOfStream,
            Err(e) if e.is_stop() && token.is_cancelled() => break LiveStop::Cancelled,
            Err(e) => return Err(CalibError::Worker(format!("camera: {e}"))),
        };
        progress.frames += 1;
        let bgr = converter.convert(&frame)?;
        drop(frame);
        let view = MatView::new(&bgr)?;
        let mut gray = Mat::default();
        imgproc::cvt_color(view.mat(), &mut gray, imgproc::COLOR_BGR2GRAY, 0).cv("cvtColor")?;
        let gray = track(gray, "live gray")?;
        if let Some(corners) = opts.board.detect(&gray)? {
            progress.detected += 1;
            let params = view_params(
                &corners,
                &opts.board,
                bgr.width() as i32,
                bgr.height() as i32,
            );
            if params.is_some_and(|p| selector.offer(p)) {
                let path = opts.views_dir.join(format!("view_{:03}.png", views.len()));
                write_png(&path, &view)?;
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

fn write_png(path: &Path, view: &MatView) -> Result<()> {
    let name = path
        .to_str()
        .ok_or_else(|| CalibError::InvalidArgument(format!("non UTF-8 path {}", path.display())))?;
    if !imgcodecs::imwrite(name, view.mat(), &Vector::new()).cv("imwrite")? {
        return Err(CalibError::Io {
            action: "cannot write",
            path: path.to_path_buf(),
            source: std::io::Error::other("imwrite refused the file"),
        });
    }
    Ok(())
}
