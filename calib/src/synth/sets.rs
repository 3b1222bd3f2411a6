//! View sets: seeded poses that cover the image and keep the board in view, the stereo
//! rig, and writing rendered sets to disk for tests, examples and the benchmark.

use std::path::{Path, PathBuf};

use super::camera::{mul, mul_vec, rotation_xyz, Camera, Pose, SplitMix64};
use super::render::{board_extent, Renderer};
use crate::board::Board;
use crate::error::{CalibError, Result};
use crate::output::create_dir_all;

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

/// Renders `n` views of `board` through `camera` into `dir` as `view_NN.png`; returns
/// the paths and the poses used.
pub fn write_mono_set(
    dir: &Path,
    camera: &Camera,
    board: &Board,
    n: usize,
    seed: u64,
) -> Result<(Vec<PathBuf>, Vec<Pose>)> {
    create_dir_all(dir)?;
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
    create_dir_all(dir)?;
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
