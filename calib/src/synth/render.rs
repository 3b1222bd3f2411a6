//! The inverse-mapping renderer: distortion is real because every pixel is traced back
//! through OpenCV's undistortion to the board plane, never warped forward.

use opencv::calib3d;
use opencv::core::{Mat, Point2d, TermCriteria, TermCriteria_Type, Vector, CV_8UC1};
use opencv::prelude::*;

use super::camera::{invert, mul_vec, Camera, Pose, SplitMix64};
use crate::board::{Board, Pattern};
use crate::error::{CalibError, CvContext, Result};
use crate::tracked::{track, TrackedMat};

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
