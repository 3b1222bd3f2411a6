//! Stereo calibration: the rig's relative pose, rectification and its quality.
//!
//! Each camera is calibrated on its own first (or seeded from earlier mono results),
//! because a joint optimisation from scratch over both cameras and the rig converges less
//! reliably; `stereoCalibrate` then refines everything from that start (or only the rig
//! with `fix_intrinsic`). Quality is reported as OpenCV's stereo sample does, by the
//! average distance of each point to the epipolar line of its partner (computed on
//! undistorted points), alongside the RMS and the baseline length.

use std::path::Path;

use opencv::core::{Mat, Point2f, Rect, Scalar, Size, Vector, CV_16SC2};
use opencv::prelude::*;
use opencv::{calib3d, imgproc};

use crate::board::Board;
use crate::error::{CalibError, CvContext, Result};
use crate::mono::{self, calibrate, image_vectors, mat_to_vec, object_vectors, Flags, Intrinsics};
use crate::synth::Mat3;
use crate::tracked::{track, track_empty, TrackedMat};

/// One detected pair: name and the board features in the left and right image.
pub type Pair = (String, Vec<Point2f>, Vec<Point2f>);

/// The result of a stereo calibration.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StereoCalibration {
    /// Image width, pixels.
    pub image_width: i32,
    /// Image height, pixels.
    pub image_height: i32,
    /// The board.
    pub board: Board,
    /// Left intrinsics (M1, D1).
    pub left: Intrinsics,
    /// Right intrinsics (M2, D2).
    pub right: Intrinsics,
    /// Rotation left -> right.
    pub r: Mat3,
    /// Translation left -> right, board units.
    pub t: [f64; 3],
    /// Essential matrix.
    pub e: Mat3,
    /// Fundamental matrix.
    pub f: Mat3,
    /// Rectification rotation, left.
    pub r1: Mat3,
    /// Rectification rotation, right.
    pub r2: Mat3,
    /// Rectified projection, left (3x4).
    pub p1: [[f64; 4]; 3],
    /// Rectified projection, right (3x4).
    pub p2: [[f64; 4]; 3],
    /// Disparity-to-depth matrix (4x4).
    pub q: [[f64; 4]; 4],
    /// RMS reprojection error over both cameras, pixels.
    pub rms: f64,
    /// Average point-to-epipolar-line distance, pixels.
    pub epipolar_error: f64,
    /// Baseline length |T|, board units.
    pub baseline: f64,
    /// Pair names, in order.
    pub pairs: Vec<String>,
    /// Per-pair RMS errors (left, right).
    pub per_pair_errors: Vec<[f64; 2]>,
}

fn to_rows<const C: usize>(m: &impl MatTraitConst, rows: usize) -> Result<Vec<[f64; C]>> {
    let v = mat_to_vec(m)?;
    if v.len() != rows * C {
        return Err(CalibError::Worker(format!(
            "expected a {rows}x{C} matrix, got {} values",
            v.len()
        )));
    }
    Ok(v.chunks(C)
        .map(|c| {
            let mut a = [0.0; C];
            a.copy_from_slice(c);
            a
        })
        .collect())
}

fn mat3(m: &impl MatTraitConst) -> Result<Mat3> {
    let r = to_rows::<3>(m, 3)?;
    Ok([r[0], r[1], r[2]])
}

/// Calibrates a stereo rig from detected pairs, seeding each camera with `seeds` when
/// given (otherwise calibrating it alone first); `fix_intrinsic` keeps the seeds fixed.
pub fn calibrate_stereo(
    board: &Board,
    image_size: Size,
    pairs: &[Pair],
    seeds: (Option<&Intrinsics>, Option<&Intrinsics>),
    fix_intrinsic: bool,
    alpha: f64,
) -> Result<StereoCalibration> {
    if pairs.len() < mono::MIN_VIEWS {
        return Err(CalibError::TooFewViews {
            usable: pairs.len(),
            needed: mono::MIN_VIEWS,
            skipped: Vec::new(),
        });
    }
    let left_views: Vec<(String, Vec<Point2f>)> = pairs
        .iter()
        .map(|(n, l, _)| (n.clone(), l.clone()))
        .collect();
    let right_views: Vec<(String, Vec<Point2f>)> = pairs
        .iter()
        .map(|(n, _, r)| (n.clone(), r.clone()))
        .collect();
    let seed =
        |given: Option<&Intrinsics>, views: &[(String, Vec<Point2f>)]| -> Result<Intrinsics> {
            match given {
                Some(i) => Ok(i.clone()),
                None => Ok(calibrate(board, image_size, views, Flags::default(), None)?.intrinsics),
            }
        };
    let left = seed(seeds.0, &left_views)?;
    let right = seed(seeds.1, &right_views)?;
    let (mut m1, mut d1) = (left.matrix_mat()?, left.dist_mat()?);
    let (mut m2, mut d2) = (right.matrix_mat()?, right.dist_mat()?);
    let mut r = track_empty("stereo R")?;
    let mut t = track_empty("stereo T")?;
    let mut e = track_empty("stereo E")?;
    let mut f = track_empty("stereo F")?;
    let mut per_view = track_empty("stereo per-view errors")?;
    let flags = if fix_intrinsic {
        calib3d::CALIB_FIX_INTRINSIC
    } else {
        calib3d::CALIB_USE_INTRINSIC_GUESS
    };
    let img1 = image_vectors(&left_views);
    let img2 = image_vectors(&right_views);
    let rms = calib3d::stereo_calibrate_extended(
        &object_vectors(board, pairs.len()),
        &img1,
        &img2,
        &mut m1,
        &mut d1,
        &mut m2,
        &mut d2,
        image_size,
        &mut r,
        &mut t,
        &mut e,
        &mut f,
        &mut per_view,
        flags,
        mono::criteria()?,
    )
    .cv("stereoCalibrate")?;
    let epipolar_error = epipolar_error(
        &img1,
        &img2,
        (m1.mat(), d1.mat()),
        (m2.mat(), d2.mat()),
        f.mat(),
    )?;
    let mut r1 = track_empty("stereo R1")?;
    let mut r2 = track_empty("stereo R2")?;
    let mut p1 = track_empty("stereo P1")?;
    let mut p2 = track_empty("stereo P2")?;
    let mut q = track_empty("stereo Q")?;
    let (mut roi1, mut roi2) = (Rect::default(), Rect::default());
    calib3d::stereo_rectify(
        &m1,
        &d1,
        &m2,
        &d2,
        image_size,
        &r,
        &t,
        &mut r1,
        &mut r2,
        &mut p1,
        &mut p2,
        &mut q,
        calib3d::CALIB_ZERO_DISPARITY,
        alpha,
        image_size,
        Some(&mut roi1),
        Some(&mut roi2),
    )
    .cv("stereoRectify")?;
    let tv = mat_to_vec(&t)?;
    if tv.len() != 3 {
        return Err(CalibError::Worker(
            "stereoCalibrate returned no translation".into(),
        ));
    }
    let errors = to_rows::<2>(&per_view, pairs.len())?;
    let p1r = to_rows::<4>(&p1, 3)?;
    let p2r = to_rows::<4>(&p2, 3)?;
    let qr = to_rows::<4>(&q, 4)?;
    Ok(StereoCalibration {
        image_width: image_size.width,
        image_height: image_size.height,
        board: *board,
        left: Intrinsics::from_mats(&m1, &d1)?,
        right: Intrinsics::from_mats(&m2, &d2)?,
        r: mat3(&r)?,
        t: [tv[0], tv[1], tv[2]],
        e: mat3(&e)?,
        f: mat3(&f)?,
        r1: mat3(&r1)?,
        r2: mat3(&r2)?,
        p1: [p1r[0], p1r[1], p1r[2]],
        p2: [p2r[0], p2r[1], p2r[2]],
        q: [qr[0], qr[1], qr[2], qr[3]],
        rms,
        epipolar_error,
        baseline: tv.iter().map(|v| v * v).sum::<f64>().sqrt(),
        pairs: pairs.iter().map(|(n, _, _)| n.clone()).collect(),
        per_pair_errors: errors,
    })
}

/// Average distance of each (undistorted) point to its partner's epipolar line.
fn epipolar_error(
    img1: &Vector<Vector<Point2f>>,
    img2: &Vector<Vector<Point2f>>,
    cam1: (&Mat, &Mat),
    cam2: (&Mat, &Mat),
    f: &Mat,
) -> Result<f64> {
    let mut total = 0.0;
    let mut count = 0usize;
    for (a, b) in img1.iter().zip(img2.iter()) {
        let mut ua = Vector::<Point2f>::new();
        let mut ub = Vector::<Point2f>::new();
        let none = opencv::core::no_array();
        calib3d::undistort_points(&a, &mut ua, cam1.0, cam1.1, &none, cam1.0)
            .cv("undistortPoints")?;
        calib3d::undistort_points(&b, &mut ub, cam2.0, cam2.1, &none, cam2.0)
            .cv("undistortPoints")?;
        let mut la = Vector::<opencv::core::Point3f>::new();
        let mut lb = Vector::<opencv::core::Point3f>::new();
        calib3d::compute_correspond_epilines(&ua, 1, f, &mut la).cv("computeCorrespondEpilines")?;
        calib3d::compute_correspond_epilines(&ub, 2, f, &mut lb).cv("computeCorrespondEpilines")?;
        for j in 0..ua.len() {
            let (pa, pb) = (ua.get(j).cv("point")?, ub.get(j).cv("point")?);
            let (l_for_b, l_for_a) = (la.get(j).cv("line")?, lb.get(j).cv("line")?);
            total += (pa.x * l_for_a.x + pa.y * l_for_a.y + l_for_a.z).abs() as f64
                + (pb.x * l_for_b.x + pb.y * l_for_b.y + l_for_b.z).abs() as f64;
            count += 1;
        }
    }
    // Both directions were summed per point, as in OpenCV's stereo_calib sample.
    Ok(if count == 0 {
        0.0
    } else {
        total / count as f64
    })
}

fn rectify(
    path: &Path,
    cam: &Intrinsics,
    r: &Mat3,
    p: &[[f64; 4]; 3],
    size: Size,
) -> Result<TrackedMat> {
    let img = crate::imageio::read_bgr(path)?;
    let (k, d) = (cam.matrix_mat()?, cam.dist_mat()?);
    let rm = track(Mat::from_slice_2d(r).cv("R")?, "rectification R")?;
    let pm = track(Mat::from_slice_2d(p).cv("P")?, "rectification P")?;
    let mut map1 = track_empty("rectify map1")?;
    let mut map2 = track_empty("rectify map2")?;
    calib3d::init_undistort_rectify_map(&k, &d, &rm, &pm, size, CV_16SC2, &mut map1, &mut map2)
        .cv("initUndistortRectifyMap")?;
    let mut out = track_empty("rectified view")?;
    imgproc::remap(
        &img,
        &mut out,
        &map1,
        &map2,
        imgproc::INTER_LINEAR,
        opencv::core::BORDER_CONSTANT,
        Scalar::all(0.0),
    )
    .cv("remap")?;
    Ok(out)
}

/// The rectified pair side by side with horizontal guide lines: matching features must sit
/// on the same line.
pub fn rectified_preview(cal: &StereoCalibration, left: &Path, right: &Path) -> Result<TrackedMat> {
    let size = Size::new(cal.image_width, cal.image_height);
    let l = rectify(left, &cal.left, &cal.r1, &cal.p1, size)?;
    let r = rectify(right, &cal.right, &cal.r2, &cal.p2, size)?;
    let mut canvas = crate::report::side_by_side(&[&l, &r])?;
    let width = canvas.cols();
    let step = (cal.image_height / 16).max(8);
    let mut y = step / 2;
    while y < cal.image_height {
        imgproc::line(
            &mut canvas,
            opencv::core::Point::new(0, y),
            opencv::core::Point::new(width - 1, y),
            Scalar::new(0.0, 220.0, 0.0, 0.0),
            1,
            imgproc::LINE_8,
            0,
        )
        .cv("line")?;
        y += step;
    }
    Ok(canvas)
}
