//! Synthetic ground truth: calibrations recover the cameras the views were rendered with.

mod common;

use framekeep_calib::board::{Board, Pattern};
use framekeep_calib::detect::{detect_all, DetectionSet};
use framekeep_calib::input::view_name;
use framekeep_calib::mono::{calibrate, Flags};
use framekeep_calib::stereo::{calibrate_stereo, Pair};
use framekeep_calib::synth::{write_mono_set, write_stereo_set, Camera, StereoRig};
use framekeep_core::ledger::LeakCheck;
use opencv::core::Point2f;

/// Detects `board` in `paths`; the set and its found views, named, ready to calibrate.
fn detect_views(
    paths: &[std::path::PathBuf],
    board: &Board,
) -> (DetectionSet, Vec<(String, Vec<Point2f>)>) {
    let set = detect_all(paths, board, 2, |_| {}).unwrap();
    let views = set
        .found()
        .map(|(p, c)| (view_name(p), c.clone()))
        .collect();
    (set, views)
}

#[test]
fn mono_chessboard_recovers_intrinsics() {
    let check = LeakCheck::new();
    let dir = common::scratch("gt-mono");
    let cam = Camera::synthetic(640, 480);
    let board = Board::new(Pattern::Chessboard, 9, 6, 0.025).unwrap();
    let (paths, _) = write_mono_set(&dir, &cam, &board, 12, 7).unwrap();
    let (set, views) = detect_views(&paths, &board);
    assert!(
        views.len() >= 11,
        "missed: {:?}",
        set.missed().collect::<Vec<_>>()
    );
    let cal = calibrate(&board, set.image_size, &views, Flags::default(), None).unwrap();
    let k = cal.intrinsics.camera_matrix;
    assert!(cal.rms < 0.2, "rms {}", cal.rms);
    for (got, want, what) in [
        (k[0][0], cam.fx, "fx"),
        (k[1][1], cam.fy, "fy"),
        (k[0][2], cam.cx, "cx"),
        (k[1][2], cam.cy, "cy"),
    ] {
        assert!(common::rel(got, want) < 0.005, "{what} {got} vs {want}");
    }
    let d = &cal.intrinsics.dist;
    for (i, tolerance, what) in [
        (0, 0.02, "k1"),
        (1, 0.05, "k2"),
        (2, 0.002, "p1"),
        (3, 0.002, "p2"),
    ] {
        assert!(
            (d[i] - cam.dist[i]).abs() < tolerance,
            "{what} {} vs {}",
            d[i],
            cam.dist[i]
        );
    }
    // The standard deviations must cover the actual error of the principal point.
    assert!((k[0][2] - cam.cx).abs() < 4.0 * cal.std_of("cx").unwrap());
    drop((set, views, cal));
    common::clean_up(check, &[&dir]);
}

#[test]
fn stereo_rig_recovers_baseline() {
    let check = LeakCheck::new();
    let dir = common::scratch("gt-stereo");
    let rig = StereoRig::synthetic(640, 480, 0.12);
    let board = Board::new(Pattern::Chessboard, 9, 6, 0.025).unwrap();
    let (left, right) = write_stereo_set(&dir, &rig, &board, 12, 11).unwrap();
    let ls = detect_all(&left, &board, 2, |_| {}).unwrap();
    let rs = detect_all(&right, &board, 2, |_| {}).unwrap();
    let pairs: Vec<Pair> = ls
        .views
        .iter()
        .zip(&rs.views)
        .filter_map(|(l, r)| Some((view_name(&l.path), l.corners.clone()?, r.corners.clone()?)))
        .collect();
    assert!(pairs.len() >= 10, "only {} pairs", pairs.len());
    let cal = calibrate_stereo(&board, ls.image_size, &pairs, (None, None), false, -1.0).unwrap();
    assert!(
        common::rel(cal.baseline, rig.baseline()) < 0.01,
        "baseline {} vs {}",
        cal.baseline,
        rig.baseline()
    );
    for i in 0..3 {
        assert!(
            (cal.t[i] - rig.relative.t[i]).abs() < 0.01 * rig.baseline(),
            "T {:?}",
            cal.t
        );
        for j in 0..3 {
            assert!(
                (cal.r[i][j] - rig.relative.r[i][j]).abs() < 0.005,
                "R {:?}",
                cal.r
            );
        }
    }
    assert!(
        cal.rms < 0.3 && cal.epipolar_error < 0.5,
        "{} {}",
        cal.rms,
        cal.epipolar_error
    );
    assert!(common::rel(cal.right.camera_matrix[0][0], rig.right.fx) < 0.005);
    drop((ls, rs, pairs, cal));
    common::clean_up(check, &[&dir]);
}

#[test]
fn circle_grids_are_detected_and_calibrate() {
    let check = LeakCheck::new();
    let dir = common::scratch("gt-circles");
    let cam = Camera::synthetic(640, 480);
    // OpenCV's symmetric grid finder gives up on many strongly tilted views, so that
    // pattern gets more views and a looser count; found views must still be exact.
    for (pattern, cols, rows, n, min_found) in [
        (Pattern::AsymmetricCircles, 4, 11, 8, 6),
        (Pattern::SymmetricCircles, 7, 6, 12, 5),
    ] {
        let board = Board::new(pattern, cols, rows, 0.02).unwrap();
        let sub = dir.join(format!("{pattern:?}"));
        let (paths, _) = write_mono_set(&sub, &cam, &board, n, 3).unwrap();
        let (set, views) = detect_views(&paths, &board);
        assert!(
            views.len() >= min_found,
            "{pattern:?}: found {}",
            views.len()
        );
        let cal = calibrate(&board, set.image_size, &views, Flags::default(), None).unwrap();
        let fx = cal.intrinsics.camera_matrix[0][0];
        assert!(
            cal.rms < 0.1,
            "{pattern:?}: rms {} (misordered grid?)",
            cal.rms
        );
        assert!(
            common::rel(fx, cam.fx) < 0.01,
            "{pattern:?}: fx {fx} vs {}",
            cam.fx
        );
    }
    common::clean_up(check, &[&dir]);
}
