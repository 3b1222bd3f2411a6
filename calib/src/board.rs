//! Calibration targets: their geometry and their detection in an image.
//!
//! A [`Board`] knows where its features lie on the board plane (the object points OpenCV's
//! calibration needs, in board units) and how to find them in a grayscale view: chessboard
//! corners refined to sub-pixel accuracy, or the centres of a symmetric or asymmetric
//! circle grid. The synthetic renderer uses the same geometry, so tests and tools agree.

use opencv::core::{
    KeyPoint, Point2f, Point3f, Ptr, Size, TermCriteria, TermCriteria_Type, ToInputArray, Vector,
};
use opencv::features2d::{Feature2D, SimpleBlobDetector, SimpleBlobDetector_Params};
use opencv::prelude::*;
use opencv::{calib3d, imgproc};

use crate::error::{CalibError, CvContext, Result};

/// The kind of calibration pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    /// A chessboard; the size counts inner corners.
    Chessboard,
    /// A grid of circles on a square lattice.
    SymmetricCircles,
    /// OpenCV's asymmetric circle grid (odd rows offset by half a period).
    AsymmetricCircles,
}

impl std::str::FromStr for Pattern {
    type Err = CalibError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "chessboard" => Ok(Self::Chessboard),
            "circles" | "symmetric_circles" | "symmetric-circles" => Ok(Self::SymmetricCircles),
            "acircles" | "asymmetric_circles" | "asymmetric-circles" => Ok(Self::AsymmetricCircles),
            other => Err(CalibError::InvalidArgument(format!(
                "unknown pattern {other:?} (chessboard, circles, acircles)"
            ))),
        }
    }
}

/// A calibration board: pattern, feature grid size and spacing.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Board {
    /// Pattern type.
    pub pattern: Pattern,
    /// Features per row (inner corners for a chessboard).
    pub cols: u32,
    /// Feature rows.
    pub rows: u32,
    /// Square size (chessboard) or grid spacing (circles), in board units.
    pub square: f64,
}

impl Board {
    /// Checks the grid dimensions and spacing.
    pub fn new(pattern: Pattern, cols: u32, rows: u32, square: f64) -> Result<Self> {
        if cols < 2 || rows < 2 || cols > 100 || rows > 100 {
            return Err(CalibError::InvalidArgument(format!(
                "board size {cols}x{rows}: each side must be between 2 and 100"
            )));
        }
        if !(square.is_finite() && square > 0.0) {
            return Err(CalibError::InvalidArgument(format!(
                "square size {square} must be a positive number"
            )));
        }
        Ok(Self {
            pattern,
            cols,
            rows,
            square,
        })
    }

    /// Number of features on the board.
    pub fn len(&self) -> usize {
        (self.cols * self.rows) as usize
    }

    /// Always false: a board has at least 2x2 features.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The pattern size as OpenCV expects it (columns, rows).
    pub fn pattern_size(&self) -> Size {
        Size::new(self.cols as i32, self.rows as i32)
    }

    /// Feature positions on the board plane (z = 0), in OpenCV's detection order.
    pub fn object_points(&self) -> Vec<[f64; 3]> {
        let s = self.square;
        let mut out = Vec::with_capacity(self.len());
        for r in 0..self.rows {
            for c in 0..self.cols {
                let x = match self.pattern {
                    Pattern::AsymmetricCircles => (2 * c + r % 2) as f64 * s,
                    _ => c as f64 * s,
                };
                out.push([x, r as f64 * s, 0.0]);
            }
        }
        out
    }

    /// The object points as an OpenCV vector.
    pub fn object_vector(&self) -> Vector<Point3f> {
        self.object_points()
            .into_iter()
            .map(|[x, y, z]| Point3f::new(x as f32, y as f32, z as f32))
            .collect()
    }

    /// Finds the board in an 8-bit grayscale image; `None` when it is not there.
    pub fn detect(&self, gray: &impl ToInputArray) -> Result<Option<Vec<Point2f>>> {
        let mut found = Vector::<Point2f>::new();
        let ok = match self.pattern {
            Pattern::Chessboard => {
                let flags = calib3d::CALIB_CB_ADAPTIVE_THRESH
                    | calib3d::CALIB_CB_NORMALIZE_IMAGE
                    | calib3d::CALIB_CB_FAST_CHECK;
                calib3d::find_chessboard_corners(gray, self.pattern_size(), &mut found, flags)
                    .cv("findChessboardCorners")?
            }
            Pattern::SymmetricCircles | Pattern::AsymmetricCircles => {
                let flags = if self.pattern == Pattern::SymmetricCircles {
                    calib3d::CALIB_CB_SYMMETRIC_GRID
                } else {
                    calib3d::CALIB_CB_ASYMMETRIC_GRID
                };
                let mut detector = blob_detector()?;
                // The grid finder's default mode gives up on strong perspective; its
                // clustering mode recovers many such views, so it is the fallback.
                let mut ok = false;
                for extra in [0, calib3d::CALIB_CB_CLUSTERING] {
                    ok = calib3d::find_circles_grid(
                        gray,
                        self.pattern_size(),
                        &mut found,
                        flags | extra,
                        Some(&detector),
                    )
                    .cv("findCirclesGrid")?;
                    if ok {
                        break;
                    }
                }
                ok && found.len() == self.len() && on_blobs(gray, &mut detector, &found.to_vec())?
            }
        };
        if !ok || found.len() != self.len() {
            return Ok(None);
        }
        let mut found = found.to_vec();
        if !self.grid_consistent(&found) {
            return Ok(None);
        }
        if self.pattern != Pattern::AsymmetricCircles {
            self.unmirror(&mut found);
        }
        if self.pattern == Pattern::Chessboard {
            let mut refined: Vector<Point2f> = found.iter().copied().collect();
            let half = refine_window(&found, self.cols as usize);
            let criteria = TermCriteria::new(
                (TermCriteria_Type::COUNT as i32) | (TermCriteria_Type::EPS as i32),
                40,
                0.001,
            )
            .cv("TermCriteria")?;
            imgproc::corner_sub_pix(
                gray,
                &mut refined,
                Size::new(half, half),
                Size::new(-1, -1),
                criteria,
            )
            .cv("cornerSubPix")?;
            found = refined.to_vec();
        }
        Ok(Some(found))
    }

    /// True when the features are ordered as a grid: along every row and column, each
    /// feature lies between its two neighbours (they point in opposite directions). The
    /// circle-grid finder sometimes returns a scrambled order on strongly tilted views;
    /// such a view would poison the calibration, so it is treated as not found.
    pub fn grid_consistent(&self, points: &[Point2f]) -> bool {
        let (cols, rows) = (self.cols as usize, self.rows as usize);
        if points.len() != cols * rows {
            return false;
        }
        // Asymmetric grids offset odd rows, so columns are straight only every other row.
        let col_step = if self.pattern == Pattern::AsymmetricCircles {
            2
        } else {
            1
        };
        let between = |a: Point2f, b: Point2f, c: Point2f| {
            let (u, v) = ((a.x - b.x, a.y - b.y), (c.x - b.x, c.y - b.y));
            let norm = (u.0.hypot(u.1)) * (v.0.hypot(v.1));
            norm > 0.0 && (u.0 * v.0 + u.1 * v.1) / norm < -0.8
        };
        let at = |r: usize, c: usize| points[r * cols + c];
        for r in 0..rows {
            for c in 0..cols {
                if c > 0 && c + 1 < cols && !between(at(r, c - 1), at(r, c), at(r, c + 1)) {
                    return false;
                }
                if r >= col_step
                    && r + col_step < rows
                    && !between(at(r - col_step, c), at(r, c), at(r + col_step, c))
                {
                    return false;
                }
            }
        }
        true
    }

    /// Symmetric grids have no handedness, so the detectors may return them mirrored
    /// (rows in reverse), which would make views inconsistent with each other. A board is
    /// always seen from its printed side, where rows run clockwise from columns in image
    /// coordinates; reverse the rows of a view that runs the other way.
    fn unmirror(&self, points: &mut [Point2f]) {
        let (cols, rows) = (self.cols as usize, self.rows as usize);
        let (p00, p01, p10) = (points[0], points[cols - 1], points[(rows - 1) * cols]);
        let cross = (p01.x - p00.x) * (p10.y - p00.y) - (p01.y - p00.y) * (p10.x - p00.x);
        if cross < 0.0 {
            let copy = points.to_vec();
            for r in 0..rows {
                let src = &copy[(rows - 1 - r) * cols..(rows - r) * cols];
                points[r * cols..(r + 1) * cols].copy_from_slice(src);
            }
        }
    }
}

/// OpenCV's blob detector with the area limits widened: the defaults (25..5000 px) miss
/// the circles of a board that fills a high-resolution view.
fn blob_detector() -> Result<Ptr<Feature2D>> {
    let mut params = SimpleBlobDetector_Params::default().cv("SimpleBlobDetector::Params")?;
    params.min_area = 10.0;
    params.max_area = 1.0e6;
    let detector = SimpleBlobDetector::create(params).cv("SimpleBlobDetector::create")?;
    Ok(detector.into())
}

/// True when every grid point sits on a detected blob. The grid finder can fill in a
/// missing circle with an estimated position between its neighbours, which is not a
/// measurement and would bias the calibration.
fn on_blobs(
    gray: &impl ToInputArray,
    detector: &mut Ptr<Feature2D>,
    points: &[Point2f],
) -> Result<bool> {
    let mut blobs = Vector::<KeyPoint>::new();
    detector
        .detect(gray, &mut blobs, &opencv::core::no_array())
        .cv("SimpleBlobDetector::detect")?;
    let mut sizes: Vec<f32> = blobs.iter().map(|b| b.size()).collect();
    sizes.sort_by(f32::total_cmp);
    let Some(&median) = sizes.get(sizes.len() / 2) else {
        return Ok(false);
    };
    // Only circle-sized blobs count (a merged or spurious blob is much larger or smaller).
    let tolerance = (0.2 * median).max(1.5);
    Ok(points.iter().all(|p| {
        blobs.iter().any(|b| {
            let d = (b.pt().x - p.x).hypot(b.pt().y - p.y);
            d <= tolerance && (b.size() - median).abs() < 0.5 * median
        })
    }))
}

/// Half-size of the cornerSubPix window: as large as OpenCV's samples use (11) but never
/// reaching into the neighbouring corners, which would bias small boards.
fn refine_window(corners: &[Point2f], cols: usize) -> i32 {
    let mut min_d = f32::INFINITY;
    for (i, p) in corners.iter().enumerate() {
        if (i + 1) % cols != 0 {
            if let Some(q) = corners.get(i + 1) {
                min_d = min_d.min(((p.x - q.x).powi(2) + (p.y - q.y).powi(2)).sqrt());
            }
        }
        if let Some(q) = corners.get(i + cols) {
            min_d = min_d.min(((p.x - q.x).powi(2) + (p.y - q.y).powi(2)).sqrt());
        }
    }
    if !min_d.is_finite() {
        return 5;
    }
    ((min_d * 0.4) as i32).clamp(2, 11)
}

impl std::fmt::Display for Board {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.pattern {
            Pattern::Chessboard => "chessboard",
            Pattern::SymmetricCircles => "symmetric circle grid",
            Pattern::AsymmetricCircles => "asymmetric circle grid",
        };
        write!(f, "{}x{} {kind}", self.cols, self.rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asymmetric_points_follow_opencv_layout() {
        let b = Board::new(Pattern::AsymmetricCircles, 4, 3, 1.0).unwrap();
        let p = b.object_points();
        assert_eq!(p[0], [0.0, 0.0, 0.0]);
        assert_eq!(p[1], [2.0, 0.0, 0.0]);
        assert_eq!(p[4], [1.0, 1.0, 0.0]);
        assert_eq!(p.len(), 12);
    }

    #[test]
    fn grid_order_check_and_unmirror() {
        let b = Board::new(Pattern::Chessboard, 4, 3, 1.0).unwrap();
        let grid: Vec<Point2f> = (0..3)
            .flat_map(|r| {
                (0..4).map(move |c| Point2f::new(10.0 + 20.0 * c as f32, 5.0 + 20.0 * r as f32))
            })
            .collect();
        assert!(b.grid_consistent(&grid));
        let mut swapped = grid.clone();
        swapped.swap(5, 6);
        assert!(!b.grid_consistent(&swapped));
        // Rows reversed (a mirrored detection) come back in the printed order.
        let mut mirrored: Vec<Point2f> = grid.chunks(4).rev().flatten().copied().collect();
        b.unmirror(&mut mirrored);
        assert_eq!(mirrored, grid);
    }

    #[test]
    fn rejects_degenerate_boards() {
        assert!(Board::new(Pattern::Chessboard, 1, 5, 1.0).is_err());
        assert!(Board::new(Pattern::Chessboard, 9, 6, 0.0).is_err());
        assert!("hexagons".parse::<Pattern>().is_err());
    }
}
