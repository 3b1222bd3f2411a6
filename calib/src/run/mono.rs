//! The calib-mono run: inputs in, files out.
//!
//! Keeping the whole run here (not in the binary) lets tests and the benchmark drive
//! exactly what the CLI does, and keeps the binary a thin argument parser. The order of
//! the steps is the order of the guarantees: every input problem is found before any
//! calibration runs, and no output file appears unless every output was written.

use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use opencv::core::{Point2f, Size};

use crate::board::Board;
use framekeep_core::cancel::CancelToken;

use crate::detect::{detect_all_cancellable, DetectionSet};
use crate::error::{CalibError, Result};
use crate::input::{resolve_images, view_name};
use crate::mono::{calibrate, Flags, Intrinsics, MonoCalibration};
use crate::output::{read_intrinsics, write_json, write_mono_yaml, Staging};
use crate::report::{mono_report, mono_summary, write_image};
use crate::select::{select_views, view_params, Selector};

/// Everything calib-mono needs to know.
#[derive(Debug, Clone)]
pub struct MonoOptions {
    /// Input specs: directories, globs, list files or single images.
    pub inputs: Vec<String>,
    /// The calibration board.
    pub board: Board,
    /// Unit of the square size (written to the outputs).
    pub units: String,
    /// Calibration flags.
    pub flags: Flags,
    /// Initial intrinsics file (OpenCV YAML) for `--use-intrinsic-guess`.
    pub intrinsics: Option<PathBuf>,
    /// Detection worker threads.
    pub workers: usize,
    /// Fewest usable views accepted.
    pub min_views: usize,
    /// A view is an outlier when its error exceeds this times the median.
    pub outlier_k: f64,
    /// Remove outlier views and calibrate again.
    pub drop_outliers: bool,
    /// Keep only views that add coverage (ROS-style selection).
    pub select: bool,
    /// YAML output path.
    pub output: PathBuf,
    /// Optional JSON output path.
    pub json: Option<PathBuf>,
    /// Optional report PNG path.
    pub report: Option<PathBuf>,
    /// Show a progress bar (on a terminal).
    pub progress: bool,
    /// Stops the run early (e.g. wired to Ctrl-C).
    pub cancel: CancelToken,
}

/// What a successful run produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MonoOutcome {
    /// The final calibration.
    pub calibration: MonoCalibration,
    /// Unit of the board's square size.
    pub units: String,
    /// Views not used, with the reason.
    pub skipped: Vec<String>,
    /// Outlier views of the final calibration (error > k x median).
    pub outliers: Vec<String>,
    /// Views removed as outliers before the final calibration.
    pub dropped: Vec<String>,
    /// Coverage of the final views (X, Y, size, skew, each 0..1), as ROS scores it.
    pub coverage: [f64; 4],
    /// The one-screen summary.
    #[serde(skip)]
    pub summary: String,
}

fn progress_bar(len: usize, enabled: bool) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} detecting [{bar:30}] {pos}/{len} {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Resolves and concatenates every input spec.
pub fn collect_inputs(inputs: &[String]) -> Result<Vec<PathBuf>> {
    if inputs.is_empty() {
        return Err(CalibError::InvalidArgument("no input images given".into()));
    }
    let mut all = Vec::new();
    for spec in inputs {
        all.extend(resolve_images(spec)?);
    }
    Ok(all)
}

/// Detects the board in every input with a progress bar; names the views it misses.
pub fn detect_views(
    paths: &[PathBuf],
    board: &Board,
    workers: usize,
    progress: bool,
    cancel: &CancelToken,
) -> Result<DetectionSet> {
    let bar = progress_bar(paths.len(), progress);
    let set = detect_all_cancellable(paths, board, workers, cancel, |d| {
        bar.set_message(view_name(&d.path));
        bar.inc(1);
    });
    bar.finish_and_clear();
    set
}

/// Runs a complete mono calibration and writes its outputs.
pub fn run_mono(opts: &MonoOptions) -> Result<MonoOutcome> {
    if !(opts.outlier_k.is_finite() && opts.outlier_k > 1.0) {
        return Err(CalibError::InvalidArgument(format!(
            "outlier factor {} must be greater than 1",
            opts.outlier_k
        )));
    }
    let min_views = opts.min_views.max(crate::mono::MIN_VIEWS);
    let guess: Option<Intrinsics> = match &opts.intrinsics {
        Some(p) => Some(read_intrinsics(
            p,
            ("camera_matrix", "distortion_coefficients"),
        )?),
        None => None,
    };
    let paths = collect_inputs(&opts.inputs)?;
    let started = std::time::Instant::now();
    let set = detect_views(
        &paths,
        &opts.board,
        opts.workers,
        opts.progress,
        &opts.cancel,
    )?;
    tracing::debug!(views = paths.len(), workers = opts.workers, elapsed = ?started.elapsed(), "detection done");
    let started = std::time::Instant::now();
    let mut skipped: Vec<String> = set
        .missed()
        .map(|p| format!("{} (board not found)", view_name(p)))
        .collect();
    let mut views: Vec<(String, PathBuf, Vec<Point2f>)> = set
        .found()
        .map(|(p, c)| (view_name(p), p.clone(), c.clone()))
        .collect();
    if views.is_empty() {
        return Err(CalibError::BoardNotFound {
            board: opts.board.to_string(),
            count: paths.len(),
        });
    }
    if opts.select {
        let size = set.image_size;
        let params: Vec<_> = views
            .iter()
            .map(|(_, _, c)| view_params(c, &opts.board, size.width, size.height))
            .collect();
        let keep = select_views(&params);
        let mut kept = Vec::with_capacity(keep.len());
        for (i, v) in views.into_iter().enumerate() {
            if keep.contains(&i) {
                kept.push(v);
            } else {
                skipped.push(format!("{} (near-duplicate view)", v.0));
            }
        }
        views = kept;
    }
    let too_few = |usable: usize, skipped: &[String]| CalibError::TooFewViews {
        usable,
        needed: min_views,
        skipped: skipped.to_vec(),
    };
    if views.len() < min_views {
        return Err(too_few(views.len(), &skipped));
    }
    // The same calibration runs again after outliers are dropped.
    let calibrate_views = |v: &[(String, PathBuf, Vec<Point2f>)]| {
        let named: Vec<(String, Vec<Point2f>)> =
            v.iter().map(|(n, _, c)| (n.clone(), c.clone())).collect();
        calibrate(
            &opts.board,
            set.image_size,
            &named,
            opts.flags,
            guess.as_ref(),
        )
    };
    let mut cal = calibrate_views(&views)?;
    let mut dropped = Vec::new();
    let mut outliers = cal.outliers(opts.outlier_k);
    if opts.drop_outliers && !outliers.is_empty() {
        for &i in outliers.iter().rev() {
            let (name, _, _) = views.remove(i);
            dropped.push(format!("{name} ({:.3} px)", cal.views[i].error));
        }
        dropped.reverse();
        if views.len() < min_views {
            skipped.extend(dropped.iter().map(|d| format!("{d} outlier")));
            return Err(too_few(views.len(), &skipped));
        }
        cal = calibrate_views(&views)?;
        outliers = cal.outliers(opts.outlier_k);
    }
    tracing::debug!(elapsed = ?started.elapsed(), "calibration done");
    let outlier_names: Vec<String> = outliers
        .iter()
        .map(|&i| cal.views[i].name.clone())
        .collect();
    let coverage = coverage_of(&views, &opts.board, set.image_size);
    let mut summary = mono_summary(&cal, &outliers, &skipped);
    summary.push_str(&format!(
        "coverage: X {:.0}%  Y {:.0}%  size {:.0}%  skew {:.0}%{}\n",
        coverage[0] * 100.0,
        coverage[1] * 100.0,
        coverage[2] * 100.0,
        coverage[3] * 100.0,
        if coverage.iter().all(|&c| c >= 1.0) {
            ""
        } else {
            "  (add views where it is low)"
        }
    ));
    if !dropped.is_empty() {
        summary.push_str(&format!(
            "dropped outliers and re-ran: {}\n",
            dropped.join(", ")
        ));
    }
    let outcome = MonoOutcome {
        calibration: cal,
        units: opts.units.clone(),
        skipped,
        outliers: outlier_names,
        dropped,
        coverage,
        summary,
    };
    if let Some(cause) = opts.cancel.cause() {
        return Err(CalibError::Cancelled(cause.to_string()));
    }
    write_mono_outputs(opts, &outcome, &views)?;
    Ok(outcome)
}

/// Coverage progress of a set of views: every view counts, duplicates included.
fn coverage_of(views: &[(String, PathBuf, Vec<Point2f>)], board: &Board, size: Size) -> [f64; 4] {
    let mut selector = Selector::default();
    selector.min_distance = -1.0;
    for (_, _, c) in views {
        if let Some(p) = view_params(c, board, size.width, size.height) {
            selector.offer(p);
        }
    }
    selector.progress()
}

fn write_mono_outputs(
    opts: &MonoOptions,
    outcome: &MonoOutcome,
    views: &[(String, PathBuf, Vec<Point2f>)],
) -> Result<()> {
    let mut staging = Staging::new();
    let yaml = staging.stage(&opts.output)?;
    let json = opts.json.as_deref().map(|p| staging.stage(p)).transpose()?;
    let report = opts
        .report
        .as_deref()
        .map(|p| staging.stage(p))
        .transpose()?;
    let written = (|| {
        write_mono_yaml(&yaml, &outcome.calibration, &outcome.units)?;
        if let Some(json) = json {
            write_json(&json, outcome)?;
        }
        if let Some(report) = report {
            let corners: Vec<&[Point2f]> = views.iter().map(|(_, _, c)| c.as_slice()).collect();
            let sample: &Path = &views[0].1;
            let img = mono_report(&outcome.calibration, &corners, sample, opts.outlier_k)?;
            write_image(&report, &img)?;
        }
        Ok(())
    })();
    // Errors name the paths the user gave, not the staged temporaries.
    written.map_err(|e| staging.blame(e))?;
    staging.commit()
}
