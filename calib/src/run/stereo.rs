//! The calib-stereo run: left/right inputs in, rig calibration and rectification out.
//!
//! Pairs are formed by position after sorting each side, so both lists must have the same
//! length; a pair is used only when the board is found on both sides, and the others are
//! named. Outputs are staged and committed together like calib-mono's.

use std::path::PathBuf;

use framekeep_core::cancel::CancelToken;

use crate::board::Board;
use crate::error::{CalibError, Result};
use crate::input::{resolve_images, view_name};
use crate::mono::Intrinsics;
use crate::output::{read_intrinsics, write_json, write_matrices_yaml, Staging};
use crate::report::write_image;
use crate::run::detect_views;
use crate::stereo::{calibrate_stereo, rectified_preview, Pair, StereoCalibration};

/// Where the left and right images come from.
#[derive(Debug, Clone)]
pub enum StereoInputs {
    /// Two specs (directory, glob or list file), one per side.
    Lists {
        /// Left images.
        left: String,
        /// Right images.
        right: String,
    },
    /// One glob with `{side}`, replaced by `left` and `right`.
    Pattern(String),
    /// Explicit image files, paired by position (live collection writes these).
    Paths {
        /// Left images.
        left: Vec<PathBuf>,
        /// Right images.
        right: Vec<PathBuf>,
    },
}

/// Everything calib-stereo needs to know.
#[derive(Debug, Clone)]
pub struct StereoOptions {
    /// Input images.
    pub inputs: StereoInputs,
    /// The board.
    pub board: Board,
    /// Unit of the square size.
    pub units: String,
    /// Mono results to seed the left camera with.
    pub left_intrinsics: Option<PathBuf>,
    /// Mono results to seed the right camera with.
    pub right_intrinsics: Option<PathBuf>,
    /// Keep seeded intrinsics fixed (needs both seeds).
    pub fix_intrinsic: bool,
    /// stereoRectify's free scaling (-1 default, 0 valid pixels only, 1 all pixels).
    pub alpha: f64,
    /// Detection workers.
    pub workers: usize,
    /// Fewest usable pairs accepted.
    pub min_pairs: usize,
    /// YAML output.
    pub output: PathBuf,
    /// Optional JSON output.
    pub json: Option<PathBuf>,
    /// Optional rectified preview PNG.
    pub preview: Option<PathBuf>,
    /// Show progress bars.
    pub progress: bool,
    /// Stops the run early (e.g. wired to Ctrl-C).
    pub cancel: CancelToken,
}

/// What a successful stereo run produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StereoOutcome {
    /// The calibration.
    pub calibration: StereoCalibration,
    /// Unit of the board's square size and the baseline.
    pub units: String,
    /// Pairs not used, with the reason.
    pub skipped: Vec<String>,
    /// One-screen summary.
    #[serde(skip)]
    pub summary: String,
}

fn resolve(inputs: &StereoInputs) -> Result<(Vec<PathBuf>, Vec<PathBuf>, String, String)> {
    let (l, r) = match inputs {
        StereoInputs::Lists { left, right } => (left.clone(), right.clone()),
        StereoInputs::Pattern(p) => {
            if !p.contains("{side}") {
                return Err(CalibError::InvalidArgument(format!(
                    "pair pattern {p:?} must contain {{side}}"
                )));
            }
            (p.replace("{side}", "left"), p.replace("{side}", "right"))
        }
        StereoInputs::Paths { left, right } => {
            let spec = |v: &[PathBuf]| format!("{} collected images", v.len());
            return Ok((left.clone(), right.clone(), spec(left), spec(right)));
        }
    };
    Ok((resolve_images(&l)?, resolve_images(&r)?, l, r))
}

/// Runs a complete stereo calibration and writes its outputs.
pub fn run_stereo(opts: &StereoOptions) -> Result<StereoOutcome> {
    if opts.fix_intrinsic && (opts.left_intrinsics.is_none() || opts.right_intrinsics.is_none()) {
        return Err(CalibError::InvalidArgument(
            "--fix-intrinsic needs both --left-intrinsics and --right-intrinsics".into(),
        ));
    }
    let keys = ("camera_matrix", "distortion_coefficients");
    let seed = |p: &Option<PathBuf>| -> Result<Option<Intrinsics>> {
        p.as_deref().map(|p| read_intrinsics(p, keys)).transpose()
    };
    let (left_seed, right_seed) = (seed(&opts.left_intrinsics)?, seed(&opts.right_intrinsics)?);
    let (left, right, left_spec, right_spec) = resolve(&opts.inputs)?;
    if left.len() != right.len() {
        return Err(CalibError::PairCountMismatch {
            left: left.len(),
            right: right.len(),
            left_spec,
            right_spec,
        });
    }
    // The two cameras' first views must have one size: checked from their headers before
    // anything is decoded.
    if let (Some(l0), Some(r0)) = (left.first(), right.first()) {
        let (lw, lh) = crate::imageio::image_size(l0)?;
        let (rw, rh) = crate::imageio::image_size(r0)?;
        if (lw, lh) != (rw, rh) {
            return Err(CalibError::SizeMismatch {
                path: r0.clone(),
                width: rw as i32,
                height: rh as i32,
                first: l0.clone(),
                expected_width: lw as i32,
                expected_height: lh as i32,
            });
        }
    }
    let ls = detect_views(
        &left,
        &opts.board,
        opts.workers,
        opts.progress,
        &opts.cancel,
    )?;
    let rs = detect_views(
        &right,
        &opts.board,
        opts.workers,
        opts.progress,
        &opts.cancel,
    )?;
    if ls.image_size != rs.image_size {
        return Err(CalibError::SizeMismatch {
            path: right[0].clone(),
            width: rs.image_size.width,
            height: rs.image_size.height,
            first: left[0].clone(),
            expected_width: ls.image_size.width,
            expected_height: ls.image_size.height,
        });
    }
    let mut skipped = Vec::new();
    let mut pairs: Vec<Pair> = Vec::new();
    let mut first_pair = None;
    for (l, r) in ls.views.iter().zip(&rs.views) {
        let name = format!("{}+{}", view_name(&l.path), view_name(&r.path));
        match (&l.corners, &r.corners) {
            (Some(a), Some(b)) => {
                first_pair.get_or_insert((l.path.clone(), r.path.clone()));
                pairs.push((name, a.clone(), b.clone()));
            }
            (None, None) => skipped.push(format!("{name} (board not found on either side)")),
            (None, _) => skipped.push(format!("{name} (board not found in the left image)")),
            (_, None) => skipped.push(format!("{name} (board not found in the right image)")),
        }
    }
    if ls.found().next().is_none() && rs.found().next().is_none() {
        return Err(CalibError::BoardNotFound {
            board: opts.board.to_string(),
            count: left.len() + right.len(),
        });
    }
    let needed = opts.min_pairs.max(crate::mono::MIN_VIEWS);
    if pairs.len() < needed {
        return Err(CalibError::TooFewViews {
            usable: pairs.len(),
            needed,
            skipped,
        });
    }
    let cal = calibrate_stereo(
        &opts.board,
        ls.image_size,
        &pairs,
        (left_seed.as_ref(), right_seed.as_ref()),
        opts.fix_intrinsic,
        opts.alpha,
    )?;
    let summary = summary(&cal, &opts.units, &skipped);
    let outcome = StereoOutcome {
        calibration: cal,
        units: opts.units.clone(),
        skipped,
        summary,
    };
    if let Some(cause) = opts.cancel.cause() {
        return Err(CalibError::Cancelled(cause.to_string()));
    }
    let mut staging = Staging::new();
    let yaml = staging.stage(&opts.output)?;
    let json = opts.json.as_deref().map(|p| staging.stage(p)).transpose()?;
    let preview = opts
        .preview
        .as_deref()
        .map(|p| staging.stage(p))
        .transpose()?;
    let written = (|| {
        write_stereo_yaml(&yaml, &outcome.calibration)?;
        if let Some(json) = json {
            write_json(&json, &outcome)?;
        }
        if let (Some(preview), Some((l, r))) = (preview, first_pair) {
            write_image(&preview, &rectified_preview(&outcome.calibration, &l, &r)?)?;
        }
        Ok(())
    })();
    // Errors name the paths the user gave, not the staged temporaries.
    written.map_err(|e| staging.blame(e))?;
    staging.commit()?;
    Ok(outcome)
}

fn rows<const C: usize>(m: &[[f64; C]]) -> Vec<Vec<f64>> {
    m.iter().map(|r| r.to_vec()).collect()
}

fn write_stereo_yaml(path: &std::path::Path, c: &StereoCalibration) -> Result<()> {
    let entries = [
        ("M1", rows(&c.left.camera_matrix)),
        ("D1", vec![c.left.dist.clone()]),
        ("M2", rows(&c.right.camera_matrix)),
        ("D2", vec![c.right.dist.clone()]),
        ("R", rows(&c.r)),
        ("T", c.t.iter().map(|v| vec![*v]).collect()),
        ("E", rows(&c.e)),
        ("F", rows(&c.f)),
        ("R1", rows(&c.r1)),
        ("R2", rows(&c.r2)),
        ("P1", rows(&c.p1)),
        ("P2", rows(&c.p2)),
        ("Q", rows(&c.q)),
    ];
    let scalars = [
        ("image_width", c.image_width as f64),
        ("image_height", c.image_height as f64),
        ("rms", c.rms),
        ("avg_epipolar_error", c.epipolar_error),
        ("baseline", c.baseline),
    ];
    write_matrices_yaml(path, &entries, &scalars)
}

fn summary(c: &StereoCalibration, units: &str, skipped: &[String]) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "stereo calibration of {}x{} from {} pairs of a {}",
        c.image_width,
        c.image_height,
        c.pairs.len(),
        c.board
    );
    let _ = writeln!(s, "RMS reprojection error: {:.4} px", c.rms);
    let _ = writeln!(s, "average epipolar error: {:.4} px", c.epipolar_error);
    let _ = writeln!(
        s,
        "baseline: {:.5} {units}   T = [{:.5}, {:.5}, {:.5}]",
        c.baseline, c.t[0], c.t[1], c.t[2]
    );
    for (tag, i) in [("left ", &c.left), ("right", &c.right)] {
        let k = &i.camera_matrix;
        let _ = writeln!(
            s,
            "{tag}: fx {:.2} fy {:.2} cx {:.2} cy {:.2}",
            k[0][0], k[1][1], k[0][2], k[1][2]
        );
    }
    if !skipped.is_empty() {
        let _ = writeln!(s, "skipped pairs: {}", skipped.join(", "));
    }
    s
}
