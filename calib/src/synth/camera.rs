//! The synthetic camera model: pinhole plus OpenCV's 5-coefficient distortion, rigid
//! poses, and the few 3x3 matrix operations the renderer and the pose generator need
//! (kept here rather than pulling in a linear-algebra crate for a dozen lines).

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

pub(crate) fn invert(m: &Mat3) -> Option<Mat3> {
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
