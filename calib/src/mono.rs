//! Single-camera calibration: OpenCV's `calibrateCameraExtended`, its flags, per-view
//! errors, parameter uncertainties and outlier views.
//!
//! Inputs and outputs are plain Rust values (arrays and vectors of numbers) so results can
//! be kept, compared and serialised without holding OpenCV memory; the Mats the call needs
//! live only inside [`calibrate`], each tracked.

use opencv::calib3d;
use opencv::core::{Mat, Point2f, Point3f, Size, TermCriteria, TermCriteria_Type, Vec3d, Vector};
use opencv::prelude::*;

use crate::board::Board;
use crate::error::{CalibError, CvContext, Result};
use crate::synth::Mat3;
use crate::tracked::{track, track_empty, TrackedMat};

/// Calibration options, mirroring OpenCV's `CALIB_*` flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Flags {
    /// Keep fx/fy at `aspect_ratio` (`CALIB_FIX_ASPECT_RATIO`).
    pub fix_aspect_ratio: bool,
    /// The fx/fy ratio used with `fix_aspect_ratio` (1 when unset).
    pub aspect_ratio: Option<f64>,
    /// Tangential distortion fixed at zero (`CALIB_ZERO_TANGENT_DIST`).
    pub zero_tangent_dist: bool,
    /// Principal point fixed (image centre, or the guess) (`CALIB_FIX_PRINCIPAL_POINT`).
    pub fix_principal_point: bool,
    /// `fix_k[i]` fixes k(i+1) (`CALIB_FIX_K1`..`CALIB_FIX_K6`).
    pub fix_k: [bool; 6],
    /// Rational model k4..k6 (`CALIB_RATIONAL_MODEL`).
    pub rational_model: bool,
    /// Start from the given intrinsics (`CALIB_USE_INTRINSIC_GUESS`).
    pub use_intrinsic_guess: bool,
}

impl Flags {
    /// The OpenCV flag bits.
    pub fn bits(&self) -> i32 {
        let mut b = 0;
        let set = |on: bool, bit: i32, b: &mut i32| {
            if on {
                *b |= bit
            }
        };
        set(
            self.fix_aspect_ratio,
            calib3d::CALIB_FIX_ASPECT_RATIO,
            &mut b,
        );
        set(
            self.zero_tangent_dist,
            calib3d::CALIB_ZERO_TANGENT_DIST,
            &mut b,
        );
        set(
            self.fix_principal_point,
            calib3d::CALIB_FIX_PRINCIPAL_POINT,
            &mut b,
        );
        set(self.rational_model, calib3d::CALIB_RATIONAL_MODEL, &mut b);
        set(
            self.use_intrinsic_guess,
            calib3d::CALIB_USE_INTRINSIC_GUESS,
            &mut b,
        );
        let ks = [
            calib3d::CALIB_FIX_K1,
            calib3d::CALIB_FIX_K2,
            calib3d::CALIB_FIX_K3,
            calib3d::CALIB_FIX_K4,
            calib3d::CALIB_FIX_K5,
            calib3d::CALIB_FIX_K6,
        ];
        for (on, bit) in self.fix_k.iter().zip(ks) {
            set(*on, bit, &mut b);
        }
        b
    }
}

/// Camera intrinsics: matrix and distortion coefficients (OpenCV order).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Intrinsics {
    /// Camera matrix.
    pub camera_matrix: Mat3,
    /// Distortion coefficients k1 k2 p1 p2 [k3 [k4 k5 k6]].
    pub dist: Vec<f64>,
}

impl Intrinsics {
    /// The camera matrix as a tracked Mat.
    pub fn matrix_mat(&self) -> Result<TrackedMat> {
        track(
            Mat::from_slice_2d(&self.camera_matrix).cv("camera matrix")?,
            "camera matrix",
        )
    }

    /// The distortion coefficients as a tracked 1xN Mat.
    pub fn dist_mat(&self) -> Result<TrackedMat> {
        track(
            Mat::from_slice_2d(&[self.dist.as_slice()]).cv("distortion")?,
            "distortion coefficients",
        )
    }

    /// Reads a 3x3 camera matrix and a distortion vector out of OpenCV Mats.
    pub fn from_mats(k: &impl MatTraitConst, d: &impl MatTraitConst) -> Result<Self> {
        let mut camera_matrix = [[0.0; 3]; 3];
        for (r, row) in camera_matrix.iter_mut().enumerate() {
            for (c, v) in row.iter_mut().enumerate() {
                *v = *k.at_2d::<f64>(r as i32, c as i32).cv("camera matrix")?;
            }
        }
        let dist = mat_to_vec(d)?;
        Ok(Self {
            camera_matrix,
            dist,
        })
    }
}

/// All elements of a continuous f64 Mat, row by row.
pub fn mat_to_vec(m: &impl MatTraitConst) -> Result<Vec<f64>> {
    if m.empty() {
        return Ok(Vec::new());
    }
    if !m.is_continuous() {
        return mat_to_vec(&m.try_clone().cv("Mat::clone")?);
    }
    let flat = m.reshape(1, 1).cv("Mat::reshape")?;
    Ok(flat.data_typed::<f64>().cv("Mat::data_typed")?.to_vec())
}

/// One view's result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ViewResult {
    /// View name (file name).
    pub name: String,
    /// RMS reprojection error of this view, pixels.
    pub error: f64,
    /// Board rotation (Rodrigues vector).
    pub rvec: [f64; 3],
    /// Board translation, board units.
    pub tvec: [f64; 3],
}

/// The result of a single-camera calibration.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MonoCalibration {
    /// Image width, pixels.
    pub image_width: i32,
    /// Image height, pixels.
    pub image_height: i32,
    /// The board.
    pub board: Board,
    /// Options used.
    pub flags: Flags,
    /// OpenCV flag bits used.
    pub flag_bits: i32,
    /// Estimated intrinsics.
    pub intrinsics: Intrinsics,
    /// Overall RMS reprojection error, pixels.
    pub rms: f64,
    /// Per-view results, in input order.
    pub views: Vec<ViewResult>,
    /// Standard deviations of fx fy cx cy k1 k2 p1 p2 k3 k4 k5 k6 s1 s2 s3 s4 tx ty.
    pub std_intrinsics: Vec<f64>,
}

/// Names of the entries of [`MonoCalibration::std_intrinsics`].
pub const STD_NAMES: [&str; 18] = [
    "fx", "fy", "cx", "cy", "k1", "k2", "p1", "p2", "k3", "k4", "k5", "k6", "s1", "s2", "s3", "s4",
    "tx", "ty",
];

/// Minimum number of views [`calibrate`] accepts.
pub const MIN_VIEWS: usize = 3;

/// Image points of several views in OpenCV's nested vector form.
pub(crate) fn image_vectors(views: &[(String, Vec<Point2f>)]) -> Vector<Vector<Point2f>> {
    views
        .iter()
        .map(|(_, c)| c.iter().copied().collect::<Vector<Point2f>>())
        .collect()
}

/// The board's object points repeated for `n` views.
pub(crate) fn object_vectors(board: &Board, n: usize) -> Vector<Vector<Point3f>> {
    let one = board.object_vector();
    (0..n).map(|_| one.clone()).collect()
}

/// Levenberg-Marquardt termination: stop when parameters change by less than 1e-6
/// (relative; 0.001 px on a 1000 px focal length), at most 100 iterations. Tighter
/// tolerances change no reported digit and cost a third more time.
pub(crate) fn criteria() -> Result<TermCriteria> {
    TermCriteria::new(
        (TermCriteria_Type::COUNT as i32) | (TermCriteria_Type::EPS as i32),
        100,
        1e-6,
    )
    .cv("TermCriteria")
}

/// Calibrates one camera from named views (`(name, corners)`), optionally from `guess`.
pub fn calibrate(
    board: &Board,
    image_size: Size,
    views: &[(String, Vec<Point2f>)],
    flags: Flags,
    guess: Option<&Intrinsics>,
) -> Result<MonoCalibration> {
    if views.len() < MIN_VIEWS {
        return Err(CalibError::TooFewViews {
            usable: views.len(),
            needed: MIN_VIEWS,
            skipped: Vec::new(),
        });
    }
    if flags.use_intrinsic_guess && guess.is_none() {
        return Err(CalibError::InvalidArgument(
            "--use-intrinsic-guess needs initial intrinsics".into(),
        ));
    }
    let (mut k, mut d) = match guess {
        Some(g) => (g.matrix_mat()?, g.dist_mat()?),
        None => {
            let a = flags.aspect_ratio.unwrap_or(1.0);
            let init = Intrinsics {
                camera_matrix: [[a, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
                dist: vec![0.0; if flags.rational_model { 8 } else { 5 }],
            };
            (init.matrix_mat()?, init.dist_mat()?)
        }
    };
    let mut rvecs = track_empty("calib rvecs")?;
    let mut tvecs = track_empty("calib tvecs")?;
    let mut std_in = track_empty("calib std intrinsics")?;
    let mut std_ex = track_empty("calib std extrinsics")?;
    let mut per_view = track_empty("calib per-view errors")?;
    let rms = calib3d::calibrate_camera_extended(
        &object_vectors(board, views.len()),
        &image_vectors(views),
        image_size,
        &mut k,
        &mut d,
        &mut rvecs,
        &mut tvecs,
        &mut std_in,
        &mut std_ex,
        &mut per_view,
        flags.bits(),
        criteria()?,
    )
    .cv("calibrateCameraExtended")?;
    let errors = mat_to_vec(&per_view)?;
    let r: Vec<Vec3d> = rvecs.data_typed::<Vec3d>().cv("rvecs")?.to_vec();
    let t: Vec<Vec3d> = tvecs.data_typed::<Vec3d>().cv("tvecs")?.to_vec();
    if errors.len() != views.len() || r.len() != views.len() || t.len() != views.len() {
        return Err(CalibError::Worker(
            "calibrateCameraExtended returned an unexpected number of views".into(),
        ));
    }
    let results = views
        .iter()
        .enumerate()
        .map(|(i, (name, _))| ViewResult {
            name: name.clone(),
            error: errors[i],
            rvec: [r[i][0], r[i][1], r[i][2]],
            tvec: [t[i][0], t[i][1], t[i][2]],
        })
        .collect();
    Ok(MonoCalibration {
        image_width: image_size.width,
        image_height: image_size.height,
        board: *board,
        flags,
        flag_bits: flags.bits(),
        intrinsics: Intrinsics::from_mats(&k, &d)?,
        rms,
        views: results,
        std_intrinsics: mat_to_vec(&std_in)?,
    })
}

impl MonoCalibration {
    /// Median of the per-view errors.
    pub fn median_error(&self) -> f64 {
        median(self.views.iter().map(|v| v.error).collect())
    }

    /// Indices of views whose error exceeds `k` times the median.
    pub fn outliers(&self, k: f64) -> Vec<usize> {
        let limit = k * self.median_error();
        self.views
            .iter()
            .enumerate()
            .filter(|(_, v)| v.error > limit)
            .map(|(i, _)| i)
            .collect()
    }

    /// Standard deviation of a named intrinsic parameter (see [`STD_NAMES`]).
    pub fn std_of(&self, name: &str) -> Option<f64> {
        let i = STD_NAMES.iter().position(|n| *n == name)?;
        self.std_intrinsics.get(i).copied()
    }
}

/// Median of a list (0 when empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
