//! Human-facing results: the report image and the one-screen summary.
//!
//! Numbers alone hide the two classic calibration failures: corners only in the middle of
//! the image (distortion poorly constrained at the edges) and a few bad views dragging the
//! fit. The report image shows both at a glance (a heat map of every detected corner over
//! the image area, and per-view error bars with the median and the outlier limit) next to
//! an undistorted sample view, where straight lines must look straight.

use std::path::Path;

use opencv::core::{
    self, Mat, Point, Point2f, Rect, Scalar, Size, ToInputArray, ToInputOutputArray, CV_32F, CV_8U,
    CV_8UC3,
};
use opencv::prelude::*;
use opencv::{calib3d, imgproc};

use crate::error::{CvContext, Result};
use crate::mono::{MonoCalibration, STD_NAMES};
use crate::tracked::{track, track_empty, TrackedMat};

const PANEL_H: i32 = 360;

fn label(
    img: &mut impl ToInputOutputArray,
    text: &str,
    at: Point,
    scale: f64,
    color: Scalar,
) -> Result<()> {
    imgproc::put_text(
        img,
        text,
        at,
        imgproc::FONT_HERSHEY_SIMPLEX,
        scale,
        color,
        1,
        imgproc::LINE_AA,
        false,
    )
    .cv("putText")
}

fn fit_height(src: &(impl ToInputArray + MatTraitConst)) -> Result<TrackedMat> {
    let s = src.size().cv("Mat::size")?;
    let w = ((s.width as f64) * PANEL_H as f64 / s.height.max(1) as f64).round() as i32;
    let mut out = track_empty("report panel")?;
    imgproc::resize(
        src,
        &mut out,
        Size::new(w.max(1), PANEL_H),
        0.0,
        0.0,
        imgproc::INTER_AREA,
    )
    .cv("resize")?;
    Ok(out)
}

/// Heat map of detected corners over the image area (blue = none, red = many).
pub fn coverage_heatmap(size: Size, corners: &[&[Point2f]]) -> Result<TrackedMat> {
    let scale = 4;
    let (w, h) = ((size.width / scale).max(1), (size.height / scale).max(1));
    let mut acc = track(
        Mat::new_rows_cols_with_default(h, w, CV_32F, 0.into()).cv("Mat::new")?,
        "heatmap accumulator",
    )?;
    for view in corners {
        for p in view.iter() {
            let (x, y) = ((p.x as i32) / scale, (p.y as i32) / scale);
            if x >= 0 && y >= 0 && x < w && y < h {
                *acc.at_2d_mut::<f32>(y, x).cv("Mat::at")? += 1.0;
            }
        }
    }
    let mut blurred = track_empty("heatmap blurred")?;
    let sigma = (w.max(h) as f64 / 40.0).max(1.0);
    imgproc::gaussian_blur(
        &acc,
        &mut blurred,
        Size::new(0, 0),
        sigma,
        sigma,
        core::BORDER_CONSTANT,
    )
    .cv("GaussianBlur")?;
    let mut gray = track_empty("heatmap 8-bit")?;
    core::normalize(
        &blurred,
        &mut gray,
        0.0,
        255.0,
        core::NORM_MINMAX,
        CV_8U,
        &core::no_array(),
    )
    .cv("normalize")?;
    let mut color = track_empty("heatmap color")?;
    imgproc::apply_color_map(&gray, &mut color, imgproc::COLORMAP_JET).cv("applyColorMap")?;
    let mut panel = fit_height(&color)?;
    label(
        &mut panel,
        "corner coverage",
        Point::new(8, 20),
        0.6,
        Scalar::all(255.0),
    )?;
    Ok(panel)
}

/// Bar chart of per-view errors with the median (green) and outlier limit (red).
pub fn error_bars(cal: &MonoCalibration, outlier_k: f64) -> Result<TrackedMat> {
    let (w, h) = (480, PANEL_H);
    let mut img = track(
        Mat::new_rows_cols_with_default(h, w, CV_8UC3, Scalar::all(255.0)).cv("Mat::new")?,
        "error bars",
    )?;
    let median = cal.median_error();
    let limit = outlier_k * median;
    let max = cal
        .views
        .iter()
        .map(|v| v.error)
        .fold(limit, f64::max)
        .max(1e-9)
        * 1.1;
    let (top, bottom, left, right) = (30, h - 20, 10, w - 10);
    let n = cal.views.len().max(1) as i32;
    let slot = (right - left) / n;
    let y_of = |e: f64| bottom - ((e / max) * (bottom - top) as f64).round() as i32;
    for (i, v) in cal.views.iter().enumerate() {
        let x = left + i as i32 * slot;
        let color = if v.error > limit {
            Scalar::new(40.0, 40.0, 220.0, 0.0)
        } else {
            Scalar::new(180.0, 120.0, 40.0, 0.0)
        };
        let y = y_of(v.error);
        let rect = Rect::new(x + 1, y, (slot - 2).max(1), (bottom - y).max(1));
        imgproc::rectangle(&mut img, rect, color, -1, imgproc::LINE_8, 0).cv("rectangle")?;
    }
    for (value, color) in [
        (median, Scalar::new(0.0, 160.0, 0.0, 0.0)),
        (limit, Scalar::new(0.0, 0.0, 255.0, 0.0)),
    ] {
        let y = y_of(value);
        imgproc::line(
            &mut img,
            Point::new(left, y),
            Point::new(right, y),
            color,
            1,
            imgproc::LINE_8,
            0,
        )
        .cv("line")?;
    }
    let title = format!("per-view error (px), median {median:.3}, limit {limit:.3}");
    label(&mut img, &title, Point::new(8, 20), 0.45, Scalar::all(0.0))?;
    Ok(img)
}

/// A view undistorted with the calibration, labelled.
pub fn undistorted_sample(cal: &MonoCalibration, path: &Path) -> Result<TrackedMat> {
    let img = crate::imageio::read_bgr(path)?;
    let k = cal.intrinsics.matrix_mat()?;
    let d = cal.intrinsics.dist_mat()?;
    let mut und = track_empty("report undistorted")?;
    calib3d::undistort(&img, &mut und, &k, &d, &k).cv("undistort")?;
    let mut panel = fit_height(&und)?;
    label(
        &mut panel,
        "undistorted sample",
        Point::new(8, 20),
        0.6,
        Scalar::new(0.0, 200.0, 0.0, 0.0),
    )?;
    Ok(panel)
}

/// Places panels side by side.
pub fn side_by_side(panels: &[&TrackedMat]) -> Result<TrackedMat> {
    let width: i32 = panels.iter().map(|p| p.cols()).sum();
    let height = panels.iter().map(|p| p.rows()).max().unwrap_or(1);
    let mut canvas = track(
        Mat::new_rows_cols_with_default(height, width.max(1), CV_8UC3, Scalar::all(0.0))
            .cv("Mat::new")?,
        "report canvas",
    )?;
    let mut x = 0;
    for p in panels {
        let rect = Rect::new(x, 0, p.cols(), p.rows());
        let mut dst = Mat::roi_mut(&mut canvas, rect).cv("Mat::roi")?;
        p.copy_to(&mut dst).cv("copyTo")?;
        x += p.cols();
    }
    Ok(canvas)
}

/// Writes `img` to `path` (format from its extension; see [`crate::imageio`]).
pub fn write_image(path: &Path, img: &(impl MatTraitConst + ToInputArray)) -> Result<()> {
    crate::imageio::write_image(path, img)
}

/// The mono report image: coverage heat map, per-view errors, undistorted sample.
pub fn mono_report(
    cal: &MonoCalibration,
    corners: &[&[Point2f]],
    sample: &Path,
    outlier_k: f64,
) -> Result<TrackedMat> {
    let size = Size::new(cal.image_width, cal.image_height);
    let heat = coverage_heatmap(size, corners)?;
    let bars = error_bars(cal, outlier_k)?;
    let und = undistorted_sample(cal, sample)?;
    side_by_side(&[&heat, &bars, &und])
}

/// A one-screen text summary of a mono calibration.
pub fn mono_summary(cal: &MonoCalibration, outliers: &[usize], skipped: &[String]) -> String {
    use std::fmt::Write;
    let k = &cal.intrinsics.camera_matrix;
    let std = |n: &str| {
        cal.std_of(n)
            .map(|s| format!(" ± {s:.3}"))
            .unwrap_or_default()
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "calibrated {}x{} from {} views of a {} (square {})",
        cal.image_width,
        cal.image_height,
        cal.views.len(),
        cal.board,
        cal.board.square
    );
    let _ = writeln!(
        s,
        "RMS reprojection error: {:.4} px (median view {:.4} px)",
        cal.rms,
        cal.median_error()
    );
    let _ = writeln!(
        s,
        "fx = {:.3}{}   fy = {:.3}{}",
        k[0][0],
        std("fx"),
        k[1][1],
        std("fy")
    );
    let _ = writeln!(
        s,
        "cx = {:.3}{}   cy = {:.3}{}",
        k[0][2],
        std("cx"),
        k[1][2],
        std("cy")
    );
    let names = &STD_NAMES[4..];
    let dist: Vec<String> = cal
        .intrinsics
        .dist
        .iter()
        .zip(names)
        .map(|(v, n)| format!("{n} = {v:.5}{}", std(n)))
        .collect();
    for chunk in dist.chunks(3) {
        let _ = writeln!(s, "{}", chunk.join("   "));
    }
    if outliers.is_empty() {
        let _ = writeln!(s, "outlier views: none");
    } else {
        let names: Vec<String> = outliers
            .iter()
            .map(|&i| format!("{} ({:.3} px)", cal.views[i].name, cal.views[i].error))
            .collect();
        let _ = writeln!(s, "outlier views: {}", names.join(", "));
    }
    if !skipped.is_empty() {
        let _ = writeln!(s, "skipped views: {}", skipped.join(", "));
    }
    s
}
