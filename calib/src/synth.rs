//! Synthetic ground truth: calibration views rendered through a known camera.
//!
//! Testing a calibration against images of unknown cameras proves nothing; rendering a
//! board through a camera whose intrinsics and distortion we chose does. The renderer works
//! by inverse mapping, so the distortion in the images is real, not an approximation: every
//! output pixel's corners are undistorted once per camera with OpenCV's
//! `undistortPointsIter` (to normalized image coordinates), each pixel is supersampled by
//! interpolating those, and each sample is intersected with the board plane through the
//! board's homography and shaded by the board pattern. Poses are random (seeded) but
//! stratified over the image so the views cover it, and always keep the whole board (with
//! its white margin) inside the frame.

use std::path::{Path, PathBuf};

use opencv::calib3d;
use opencv::core::{Mat, Point2d, TermCriteria, TermCriteria_Type, Vector, CV_8UC1};
use opencv::prelude::*;

use crate::board::{Board, Pattern};
use crate::error::{CalibError, CvContext, Result};
use crate::tracked::{track, TrackedMat};

/// A 3x3 matrix, row-major.
pub type Mat3 = [[f64; 3]; 3];

/// A pinhole camera with OpenCV's 5-coefficient distortion (k1, k2, p1, p2, k3).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Camera {
    /// Image width in pixels.
    pub width: i32,
    /// Image height in pixels.
    pub height: i32,
    /// Focal length along x, pixels.
    pub fx: f64,
    /// Focal length along y, pixels.
    pub fy: f64,
    /// Principal point x.
    pub cx: f64,
    /// Principal point y.
    pub cy: f64,
    /// Distortion coefficients k1, k2, p1, p2, k3.
    pub dist: [f64; 5],
}

impl Camera {
    /// A plausible wide-ish camera for a `width` x `height` sensor with visible barrel
    /// distortion and a slightly off-centre principal point.
    pub fn synthetic(width: i32, height: i32) -> Self {
        let w = width as f64;
        let h = height as f64;
        Self {
            width,
            height,
            fx: 0.82 * w,
            fy: 0.815 * w,
            cx: 0.5 * w + 0.006 * w,
            cy: 0.5 * h - 0.005 * h,
            dist: [-0.21, 0.08, 0.0007, -0.0005, 0.0],
        }
    }

    /// The camera matrix.
    pub fn matrix(&self) -> Mat3 {
        [
            [self.fx, 0.0, self.cx],
            [0.0, self.fy, self.cy],
            [0.0, 0.0, 1.0],
        ]
    }

    /// Projects a point in camera coordinates to pixels (with distortion); `None` behind
    /// the camera.
    pub fn project(&self, p: [f64; 3]) -> Option<[f64; 2]> {
        if p[2] <= 1e-9 {
            return None;
        }
        let (x, y) = (p[0] / p[2], p[1] / p[2]);
        let [k1, k2, p1, p2, k3] = self.dist;
        let r2 = x * x + y * y;
        let radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3));
        let xd = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x);
        let yd = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y;
        Some([self.fx * xd + self.cx, self.fy * yd + self.cy])
    }
}

/// A rigid board pose: camera coordinates of a board point `P` are `r * P + t`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pose {
    /// Rotation board -> camera.
    pub r: Mat3,
    /// Translation board -> camera.
    pub t: [f64; 3],
}

impl Pose {
    /// Board point to camera coordinates.
    pub fn apply(&self, p: [f64; 3]) -> [f64; 3] {
        let m = mul_vec(&self.r, p);
        [m[0] + self.t[0], m[1] + self.t[1], m[2] + self.t[2]]
    }
}

/// Rotation from Euler angles (radians) about x, then y, then z.
pub fn rotation_xyz(rx: f64, ry: f64, rz: f64) -> Mat3 {
    let (sx, cx) = rx.sin_cos();
    let (sy, cy) = ry.sin_cos();
    let (sz, cz) = rz.sin_cos();
    let x = [[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]];
    let y = [[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]];
    let z = [[cz, -sz, 0.0], [sz, cz, 0.0], [0.0, 0.0, 1.0]];
    mul(&z, &mul(&y, &x))
}

/// Matrix product.
pub fn mul(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut out = [[0.0; 3]; 3];
    for (i, row) in out.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    out
}

/// Matrix times vector.
pub fn mul_vec(a: &Mat3, v: [f64; 3]) -> [f64; 3] {
    [0, 1, 2].map(|i| a[i][0] * v[0] + a[i][1] * v[1] + a[i][2] * v[2])
}

fn invert(m: &Mat3) -> Option<Mat3> {
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    if det.abs() < 1e-15 {
        return None;
    }
    let c =
        |r0: usize, c0: usize, r1: usize, c1: usize| m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0];
    Some([
        [
            c(1, 1, 2, 2) / det,
            -c(0, 1, 2, 2) / det,
            c(0, 1, 1, 2) / det,
        ],
        [
            -c(1, 0, 2, 2) / det,
            c(0, 0, 2, 2) / det,
            -c(0, 0, 1, 2) / det,
        ],
        [
            c(1, 0, 2, 1) / det,
            -c(0, 0, 2, 1) / det,
            c(0, 0, 1, 1) / det,
        ],
    ])
}

/// A small deterministic generator (SplitMix64), so a seed reproduces a view set.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        lo + (hi - lo) * unit
    }
}

const BLACK: f32 = 25.0;
const WHITE: f32 = 225.0;
const BACKGROUND: f32 = 120.0;

/// The printed area of a board (features plus white margin), in board units:
/// `(min_u, min_v, max_u, max_v)`.
pub fn board_extent(board: &Board) -> [f64; 4] {
    let s = board.square;
    let (cols, rows) = (board.cols as f64, board.rows as f64);
    match board.pattern {
        Pattern::Chessboard => [-2.0 * s, -2.0 * s, (cols + 1.0) * s, (rows + 1.0) * s],
        // A wide white margin: OpenCV's blob detector merges an edge circle with a dark
        // background that comes too close, and misplaces its centre.
        Pattern::SymmetricCircles => [-1.5 * s, -1.5 * s, (cols + 0.5) * s, (rows + 0.5) * s],
        Pattern::AsymmetricCircles => {
            [-1.5 * s, -1.5 * s, (2.0 * cols + 0.5) * s, (rows + 0.5) * s]
        }
    }
}

/// Shade of the board plane at `(u, v)` (board units).
fn shade(board: &Board, extent: &[f64; 4], u: f64, v: f64) -> f32 {
    if u < extent[0] || v < extent[1] || u > extent[2] || v > extent[3] {
        return BACKGROUND;
    }
    let s = board.square;
    let black = match board.pattern {
        Pattern::Chessboard => {
            let inside =
                u >= -s && v >= -s && u <= board.cols as f64 * s && v <= board.rows as f64 * s;
            inside && ((u / s).floor() as i64 + (v / s).floor() as i64).rem_euclid(2) == 0
        }
        Pattern::SymmetricCircles => {
            let c = (u / s).round().clamp(0.0, board.cols as f64 - 1.0);
            let r = (v / s).round().clamp(0.0, board.rows as f64 - 1.0);
            (u - c * s).powi(2) + (v - r * s).powi(2) <= (0.3 * s).powi(2)
        }
        Pattern::AsymmetricCircles => {
            let r0 = (v / s).round();
            (-1..=1).any(|dr| {
                let r = r0 + dr as f64;
                if r < 0.0 || r >= board.rows as f64 {
                    return false;
                }
                let off = (r as i64 % 2) as f64;
                let c = ((u / s - off) / 2.0)
                    .round()
                    .clamp(0.0, board.cols as f64 - 1.0);
                let x = (2.0 * c + off) * s;
                (u - x).powi(2) + (v - r * s).powi(2) <= (0.35 * s).powi(2)
            })
        }
    };
    if black {
        BLACK
    } else {
        WHITE
    }
}

/// Renders boards through one camera; the per-pixel back-projection is computed once.
pub struct Renderer {
    camera: Camera,
    /// Normalized (undistorted) coordinates of every pixel corner, `(w+1) x (h+1)`.
    lattice: Vec<[f64; 2]>,
    supersample: usize,
    noise: Option<(f64, u64)>,
}

impl Renderer {
    /// Prepares a renderer; `supersample` x `supersample` samples per pixel (anti-aliasing).
    pub fn new(camera: Camera, supersample: usize) -> Result<Self> {
        let (w, h) = (camera.width as usize, camera.height as usize);
        if w < 16 || h < 16 || supersample == 0 {
            return Err(CalibError::InvalidArgument(format!(
                "synthetic camera {w}x{h} with supersampling {supersample}"
            )));
        }
        let mut src = Vector::<Point2d>::with_capacity((w + 1) * (h + 1));
        for j in 0..=h {
            for i in 0..=w {
                src.push(Point2d::new(i as f64 - 0.5, j as f64 - 0.5));
            }
        }
        let k = track(
            Mat::from_slice_2d(&camera.matrix()).cv("camera matrix")?,
            "synth camera matrix",
        )?;
        let d = track(
            Mat::from_slice_2d(&[camera.dist]).cv("distortion")?,
            "synth distortion",
        )?;
        let mut dst = Vector::<Point2d>::new();
        let criteria = TermCriteria::new(
            (TermCriteria_Type::COUNT as i32) | (TermCriteria_Type::EPS as i32),
            100,
            1e-14,
        )
        .cv("TermCriteria")?;
        calib3d::undistort_points_iter(
            &src,
            &mut dst,
            &k,
            &d,
            &opencv::core::no_array(),
            &opencv::core::no_array(),
            criteria,
        )
        .cv("undistortPointsIter")?;
        let lattice = dst.iter().map(|p| [p.x, p.y]).collect();
        Ok(Self {
            camera,
            lattice,
            supersample,
            noise: None,
        })
    }

    /// Adds seeded sensor noise (approximately Gaussian, `sigma` gray levels) to every
    /// render, for views that cost a detector what real ones do.
    pub fn with_noise(mut self, sigma: f64, seed: u64) -> Self {
        self.noise = Some((sigma, seed));
        self
    }

    /// The camera this renderer images through.
    pub fn camera(&self) -> &Camera {
        &self.camera
    }

    /// Renders `board` at `pose` into an 8-bit grayscale image.
    pub fn render(&self, board: &Board, pose: &Pose) -> Result<TrackedMat> {
        let (w, h) = (self.camera.width as usize, self.camera.height as usize);
        // (x, y, 1) ~ H (u, v, 1) with H = [r1 r2 t]; sample the board through H^-1.
        let hm = [
            [pose.r[0][0], pose.r[0][1], pose.t[0]],
            [pose.r[1][0], pose.r[1][1], pose.t[1]],
            [pose.r[2][0], pose.r[2][1], pose.t[2]],
        ];
        let hinv = invert(&hm).ok_or_else(|| {
            CalibError::InvalidArgument("degenerate synthetic pose (board seen edge-on)".into())
        })?;
        let extent = board_extent(board);
        let mut img = track(
            Mat::new_rows_cols_with_default(h as i32, w as i32, CV_8UC1, 0.into())
                .cv("Mat::new")?,
            "synth view",
        )?;
        let data = img.data_bytes_mut().cv("Mat::data_bytes_mut")?;
        let stride = w + 1;
        let sample = |nx: f64, ny: f64| -> f32 {
            let q = mul_vec(&hinv, [nx, ny, 1.0]);
            if q[2] <= 0.0 {
                BACKGROUND
            } else {
                shade(board, &extent, q[0] / q[2], q[1] / q[2])
            }
        };
        // Shade at every pixel corner first: a pixel whose four corners agree lies inside
        // one region of the pattern (features span many pixels) and needs no supersampling.
        let corners: Vec<f32> = self.lattice.iter().map(|p| sample(p[0], p[1])).collect();
        let n = self.supersample;
        let weight = 1.0 / (n * n) as f32;
        for y in 0..h {
            for x in 0..w {
                let (i00, i01) = (y * stride + x, y * stride + x + 1);
                let (i10, i11) = ((y + 1) * stride + x, (y + 1) * stride + x + 1);
                let c0 = corners[i00];
                if c0 == corners[i01] && c0 == corners[i10] && c0 == corners[i11] {
                    data[y * w + x] = c0.round() as u8;
                    continue;
                }
                let (a, b) = (self.lattice[i00], self.lattice[i01]);
                let (c, d) = (self.lattice[i10], self.lattice[i11]);
                let mut acc = 0.0f32;
                for sj in 0..n {
                    let fy = (sj as f64 + 0.5) / n as f64;
                    for si in 0..n {
                        let fx = (si as f64 + 0.5) / n as f64;
                        let nx = (a[0] * (1.0 - fx) + b[0] * fx) * (1.0 - fy)
                            + (c[0] * (1.0 - fx) + d[0] * fx) * fy;
                        let ny = (a[1] * (1.0 - fx) + b[1] * fx) * (1.0 - fy)
                            + (c[1] * (1.0 - fx) + d[1] * fx) * fy;
                        acc += sample(nx, ny);
                    }
                }
                data[y * w + x] = (acc * weight).round().clamp(0.0, 255.0) as u8;
            }
        }
        if let Some((sigma, seed)) = self.noise {
            let mut rng = SplitMix64::new(seed ^ pose.t[2].to_bits());
            for px in data.iter_mut() {
                // Sum of four uniforms: variance 4/12, scaled to sigma.
                let g: f64 = (0..4).map(|_| rng.uniform(-0.5, 0.5)).sum::<f64>() * 3f64.sqrt();
                *px = (*px as f64 + g * sigma).round().clamp(0.0, 255.0) as u8;
            }
        }
        Ok(img)
    }

    /// Exact pixel positions of the board's features at `pose`.
    pub fn feature_pixels(&self, board: &Board, pose: &Pose) -> Vec<[f64; 2]> {
        board
            .object_points()
            .into_iter()
            .filter_map(|p| self.camera.project(pose.apply(p)))
            .collect()
    }
}

/// True when the whole printed board (with margin) is in front of the camera and inside
/// the image with `margin` pixels to spare.
pub fn board_in_view(camera: &Camera, board: &Board, pose: &Pose, margin: f64) -> bool {
    let [u0, v0, u1, v1] = board_extent(board);
    let steps = 8;
    (0..=steps).all(|i| {
        let f = i as f64 / steps as f64;
        [
            [u0 + (u1 - u0) * f, v0],
            [u0 + (u1 - u0) * f, v1],
            [u0, v0 + (v1 - v0) * f],
            [u1, v0 + (v1 - v0) * f],
        ]
        .iter()
        .all(|&[u, v]| match camera.project(pose.apply([u, v, 0.0])) {
            Some([x, y]) => {
                x >= margin
                    && y >= margin
                    && x <= camera.width as f64 - 1.0 - margin
                    && y <= camera.height as f64 - 1.0 - margin
            }
            None => false,
        })
    })
}

/// One random pose whose centre lands near `target` (fractions of the image) at a size of
/// about `fraction` of the image width, tilted by up to `max_tilt` radians.
fn random_pose(
    camera: &Camera,
    board: &Board,
    rng: &mut SplitMix64,
    target: [f64; 2],
    fraction: f64,
    max_tilt: f64,
) -> Pose {
    let [u0, v0, u1, v1] = board_extent(board);
    let centre = [(u0 + u1) / 2.0, (v0 + v1) / 2.0, 0.0];
    let r = rotation_xyz(
        rng.uniform(-max_tilt, max_tilt),
        rng.uniform(-max_tilt, max_tilt),
        rng.uniform(-0.35, 0.35),
    );
    let z = camera.fx * (u1 - u0) / (fraction * camera.width as f64);
    let px = target[0] * camera.width as f64;
    let py = target[1] * camera.height as f64;
    let ray = [
        (px - camera.cx) / camera.fx,
        (py - camera.cy) / camera.fy,
        1.0,
    ];
    let rc = mul_vec(&r, centre);
    Pose {
        r,
        t: [0, 1, 2].map(|i| z * ray[i] - rc[i]),
    }
}

/// `n` seeded poses that cover the image (targets stratified over a 3x3 grid, varied size
/// and tilt), each keeping the board fully inside every camera of `cameras` once mapped
/// by the matching entry of `to_camera` (identity for the reference camera).
pub fn random_poses_multi(
    cameras: &[(Camera, Pose)],
    board: &Board,
    n: usize,
    seed: u64,
) -> Result<Vec<Pose>> {
    let reference = cameras
        .first()
        .ok_or_else(|| CalibError::InvalidArgument("no synthetic camera".into()))?
        .0;
    let mut rng = SplitMix64::new(seed);
    let mut poses = Vec::with_capacity(n);
    for k in 0..n {
        let cell = [(k % 3) as f64, ((k / 3) % 3) as f64];
        let mut placed = None;
        for attempt in 0..400 {
            let shrink = 1.0 - (attempt as f64 / 400.0) * 0.5;
            let target = [
                0.2 + 0.3 * cell[0] + rng.uniform(-0.08, 0.08),
                0.2 + 0.3 * cell[1] + rng.uniform(-0.08, 0.08),
            ];
            let fraction = rng.uniform(0.35, 0.6) * shrink;
            let pose = random_pose(&reference, board, &mut rng, target, fraction, 0.6);
            let fits = cameras.iter().all(|(cam, rel)| {
                let p = Pose {
                    r: mul(&rel.r, &pose.r),
                    t: {
                        let m = mul_vec(&rel.r, pose.t);
                        [m[0] + rel.t[0], m[1] + rel.t[1], m[2] + rel.t[2]]
                    },
                };
                board_in_view(cam, board, &p, 10.0)
            });
            if fits {
                placed = Some(pose);
                break;
            }
        }
        poses.push(placed.ok_or_else(|| {
            CalibError::InvalidArgument(format!("cannot place the {board} in synthetic view {k}"))
        })?);
    }
    Ok(poses)
}

/// The identity relative pose.
pub const IDENTITY: Pose = Pose {
    r: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
    t: [0.0; 3],
};

/// `n` seeded poses covering the image of one camera.
pub fn random_poses(camera: &Camera, board: &Board, n: usize, seed: u64) -> Result<Vec<Pose>> {
    random_poses_multi(&[(*camera, IDENTITY)], board, n, seed)
}

/// A stereo rig: the right camera sees a left-camera point `X` at `r * X + t`
/// (OpenCV's `stereoCalibrate` convention).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StereoRig {
    /// Left camera.
    pub left: Camera,
    /// Right camera.
    pub right: Camera,
    /// Left -> right transform.
    pub relative: Pose,
}

impl StereoRig {
    /// Two similar cameras `baseline` board units apart along x, slightly rotated.
    pub fn synthetic(width: i32, height: i32, baseline: f64) -> Self {
        let left = Camera::synthetic(width, height);
        let mut right = left;
        right.fx *= 1.01;
        right.fy *= 1.008;
        right.cx -= 0.01 * width as f64;
        right.cy += 0.004 * height as f64;
        right.dist = [-0.18, 0.05, -0.0004, 0.0006, 0.0];
        let r = rotation_xyz(0.01, -0.03, 0.005);
        Self {
            left,
            right,
            relative: Pose {
                r,
                t: [-baseline, 0.002 * baseline, 0.01 * baseline],
            },
        }
    }

    /// The right camera's pose of a board seen at `left` by the left camera.
    pub fn right_pose(&self, left: &Pose) -> Pose {
        let m = mul_vec(&self.relative.r, left.t);
        Pose {
            r: mul(&self.relative.r, &left.r),
            t: [0, 1, 2].map(|i| m[i] + self.relative.t[i]),
        }
    }

    /// Distance between the camera centres.
    pub fn baseline(&self) -> f64 {
        self.relative.t.iter().map(|v| v * v).sum::<f64>().sqrt()
    }
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| CalibError::Io {
        action: "cannot create directory",
        path: dir.to_path_buf(),
        source,
    })
}

/// Renders `n` views of `board` through `camera` into `dir` as `view_NN.png`; returns
/// the paths and the poses used.
pub fn write_mono_set(
    dir: &Path,
    camera: &Camera,
    board: &Board,
    n: usize,
    seed: u64,
) -> Result<(Vec<PathBuf>, Vec<Pose>)> {
    create_dir(dir)?;
    let renderer = Renderer::new(*camera, 4)?;
    let poses = random_poses(camera, board, n, seed)?;
    let mut paths = Vec::with_capacity(n);
    for (i, pose) in poses.iter().enumerate() {
        let path = dir.join(format!("view_{i:02}.png"));
        crate::report::write_image(&path, &renderer.render(board, pose)?)?;
        paths.push(path);
    }
    Ok((paths, poses))
}

/// Renders `n` view pairs of `board` through `rig` into `dir` as `left_NN.png` and
/// `right_NN.png`; returns the left and right paths.
pub fn write_stereo_set(
    dir: &Path,
    rig: &StereoRig,
    board: &Board,
    n: usize,
    seed: u64,
) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    create_dir(dir)?;
    let left = Renderer::new(rig.left, 4)?;
    let right = Renderer::new(rig.right, 4)?;
    let poses = random_poses_multi(
        &[(rig.left, IDENTITY), (rig.right, rig.relative)],
        board,
        n,
        seed,
    )?;
    let (mut lp, mut rp) = (Vec::new(), Vec::new());
    for (i, pose) in poses.iter().enumerate() {
        let l = dir.join(format!("left_{i:02}.png"));
        let r = dir.join(format!("right_{i:02}.png"));
        crate::report::write_image(&l, &left.render(board, pose)?)?;
        crate::report::write_image(&r, &right.render(board, &rig.right_pose(pose))?)?;
        lp.push(l);
        rp.push(r);
    }
    Ok((lp, rp))
}
