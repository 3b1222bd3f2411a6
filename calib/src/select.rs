//! View selection by coverage, as ROS `camera_calibration` does it.
//!
//! A good calibration needs the board everywhere in the image, near and far, and tilted;
//! fifty nearly identical views add time, not information. Each view is summarised by four
//! numbers in [0, 1] (board position X and Y, size, skew), a view is kept only if it is
//! farther than a threshold (L1 distance) from every view kept so far, and progress per
//! parameter is the covered range over the range ROS asks for. The same [`Selector`] serves
//! live input (offer frames as they come, stop when [`Selector::good_enough`]) and image
//! sets (`--select`).

use opencv::core::Point2f;

use crate::board::Board;

/// Coverage parameters of one view (ROS camera_calibration's X, Y, size, skew).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ViewParams {
    /// Horizontal board position, 0 = left edge, 1 = right edge.
    pub x: f64,
    /// Vertical board position, 0 = top, 1 = bottom.
    pub y: f64,
    /// Board size: sqrt(board area / image area).
    pub size: f64,
    /// Skew: how far the board's corner angle is from a right angle (0 = facing the camera).
    pub skew: f64,
}

impl ViewParams {
    fn as_array(&self) -> [f64; 4] {
        [self.x, self.y, self.size, self.skew]
    }

    /// L1 distance between two views' parameters.
    pub fn distance(&self, other: &ViewParams) -> f64 {
        self.as_array()
            .iter()
            .zip(other.as_array())
            .map(|(a, b)| (a - b).abs())
            .sum()
    }
}

fn sub(a: Point2f, b: Point2f) -> [f64; 2] {
    [(a.x - b.x) as f64, (a.y - b.y) as f64]
}

/// The four outside features: up-left, up-right, down-right, down-left.
fn outside_corners(corners: &[Point2f], board: &Board) -> Option<[Point2f; 4]> {
    let cols = board.cols as usize;
    if corners.len() != board.len() {
        return None;
    }
    Some([
        corners[0],
        corners[cols - 1],
        corners[corners.len() - 1],
        corners[corners.len() - cols],
    ])
}

/// Computes a view's coverage parameters from its detected features.
pub fn view_params(
    corners: &[Point2f],
    board: &Board,
    width: i32,
    height: i32,
) -> Option<ViewParams> {
    let [ul, ur, dr, dl] = outside_corners(corners, board)?;
    let (w, h) = (width as f64, height as f64);
    // Quadrilateral area from its diagonals, as ROS computes it.
    let a = sub(ur, ul);
    let b = sub(dr, ur);
    let c = sub(dl, dr);
    let p = [b[0] + c[0], b[1] + c[1]];
    let q = [a[0] + b[0], a[1] + b[1]];
    let area = (p[0] * q[1] - p[1] * q[0]).abs() / 2.0;
    // Angle at up-right between up-left and down-right.
    let ab = sub(ul, ur);
    let cb = sub(dr, ur);
    let norm = (ab[0].hypot(ab[1])) * (cb[0].hypot(cb[1]));
    if norm == 0.0 {
        return None;
    }
    let angle = ((ab[0] * cb[0] + ab[1] * cb[1]) / norm)
        .clamp(-1.0, 1.0)
        .acos();
    let skew = (2.0 * (std::f64::consts::FRAC_PI_2 - angle).abs()).min(1.0);
    let border = area.sqrt();
    let n = corners.len() as f64;
    let mean_x = corners.iter().map(|p| p.x as f64).sum::<f64>() / n;
    let mean_y = corners.iter().map(|p| p.y as f64).sum::<f64>() / n;
    let x = ((mean_x - border / 2.0) / (w - border)).clamp(0.0, 1.0);
    let y = ((mean_y - border / 2.0) / (h - border)).clamp(0.0, 1.0);
    Some(ViewParams {
        x,
        y,
        size: (area / (w * h)).sqrt(),
        skew,
    })
}

/// Accumulates views that add coverage and reports progress.
#[derive(Debug, Clone)]
pub struct Selector {
    kept: Vec<ViewParams>,
    /// Minimum L1 distance to every kept view for a new view to be kept (ROS: 0.2).
    pub min_distance: f64,
    /// Ranges of X, Y, size and skew that count as full coverage (ROS: 0.7, 0.7, 0.4, 0.5).
    pub ranges: [f64; 4],
    /// Views after which coverage counts as enough regardless (ROS: 40).
    pub enough_views: usize,
}

impl Default for Selector {
    fn default() -> Self {
        Self {
            kept: Vec::new(),
            min_distance: 0.2,
            ranges: [0.7, 0.7, 0.4, 0.5],
            enough_views: 40,
        }
    }
}

impl Selector {
    /// Offers a view; returns true (and keeps it) when it is not a near-duplicate.
    pub fn offer(&mut self, params: ViewParams) -> bool {
        let novel = self
            .kept
            .iter()
            .all(|k| k.distance(&params) > self.min_distance);
        if novel {
            self.kept.push(params);
        }
        novel
    }

    /// Views kept so far.
    pub fn kept(&self) -> &[ViewParams] {
        &self.kept
    }

    /// Coverage per parameter (X, Y, size, skew), each in [0, 1]. Small size and skew are
    /// not rewarded: their lower end is taken as 0, as ROS does.
    pub fn progress(&self) -> [f64; 4] {
        if self.kept.is_empty() {
            return [0.0; 4];
        }
        let mut lo = [f64::INFINITY; 4];
        let mut hi = [f64::NEG_INFINITY; 4];
        for p in &self.kept {
            for (i, v) in p.as_array().into_iter().enumerate() {
                lo[i] = lo[i].min(v);
                hi[i] = hi[i].max(v);
            }
        }
        lo[2] = 0.0;
        lo[3] = 0.0;
        [0, 1, 2, 3].map(|i| ((hi[i] - lo[i]) / self.ranges[i]).min(1.0))
    }

    /// True once every parameter is fully covered or enough views are kept.
    pub fn good_enough(&self) -> bool {
        self.kept.len() >= self.enough_views || self.progress().iter().all(|&p| p >= 1.0)
    }
}

/// Selects, in order, the views of a set that add coverage; returns their indices.
pub fn select_views(params: &[Option<ViewParams>]) -> Vec<usize> {
    let mut selector = Selector::default();
    params
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.filter(|p| selector.offer(*p)).map(|_| i))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::board::Pattern;

    fn grid(board: &Board, x0: f32, y0: f32, step: f32, shear: f32) -> Vec<Point2f> {
        let mut v = Vec::new();
        for r in 0..board.rows {
            for c in 0..board.cols {
                let (c, r) = (c as f32, r as f32);
                v.push(Point2f::new(x0 + c * step + r * shear, y0 + r * step));
            }
        }
        v
    }

    #[test]
    fn params_of_a_centred_fronto_parallel_board() {
        let b = Board::new(Pattern::Chessboard, 5, 5, 1.0).unwrap();
        let p = view_params(&grid(&b, 270.0, 190.0, 25.0, 0.0), &b, 640, 480).unwrap();
        assert!(
            (p.x - 0.5).abs() < 0.01 && (p.y - 0.5).abs() < 0.01,
            "{p:?}"
        );
        assert!(p.skew < 1e-6);
        assert!((p.size - (100.0f64 * 100.0 / (640.0 * 480.0)).sqrt()).abs() < 1e-6);
        let sheared = view_params(&grid(&b, 250.0, 190.0, 25.0, 10.0), &b, 640, 480).unwrap();
        assert!(sheared.skew > 0.3, "{sheared:?}");
    }

    #[test]
    fn rejects_near_duplicates_and_tracks_progress() {
        let b = Board::new(Pattern::Chessboard, 5, 5, 1.0).unwrap();
        let mut s = Selector::default();
        let a = view_params(&grid(&b, 20.0, 20.0, 25.0, 0.0), &b, 640, 480).unwrap();
        assert!(s.offer(a));
        let near = view_params(&grid(&b, 22.0, 21.0, 25.0, 0.0), &b, 640, 480).unwrap();
        assert!(!s.offer(near), "near duplicate kept");
        let far = view_params(&grid(&b, 500.0, 360.0, 25.0, 0.0), &b, 640, 480).unwrap();
        assert!(s.offer(far));
        let p = s.progress();
        assert!(p[0] >= 1.0 && p[1] >= 1.0, "{p:?}");
        assert!(p[3] < 1.0 && !s.good_enough());
        let idx = select_views(&[Some(a), Some(near), None, Some(far)]);
        assert_eq!(idx, vec![0, 3]);
    }
}
