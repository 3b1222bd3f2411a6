//! Synthetic ground truth: the calibration recovers the camera the views were rendered with.

mod common;

use framekeep_calib::board::{Board, Pattern};
use framekeep_calib::detect::detect_all;
use framekeep_calib::input::view_name;
use framekeep_calib::mono::{calibrate, Flags};
use framekeep_calib::synth::{write_mono_set, Camera};
use framekeep_calib::tracked::live_mats;

#[test]
fn mono_chessboard_recovers_intrinsics() {
    let dir = common::scratch("gt-mono");
    let cam = Camera::synthetic(640, 480);
    let board = Board::new(Pattern::Chessboard, 9, 6, 0.025).unwrap();
    let (paths, _) = write_mono_set(&dir, &cam, &board, 12, 7).unwrap();
    let set = detect_all(&paths, &board, 2, |_| {}).unwrap();
    let views: Vec<_> = set
        .found()
        .map(|(p, c)| (view_name(p), c.clone()))
        .collect();
    assert_eq!(
        views.len(),
        12,
        "missed: {:?}",
        set.missed().collect::<Vec<_>>()
    );
    let cal = calibrate(&board, set.image_size, &views, Flags::default(), None).unwrap();
    let k = cal.intrinsics.camera_matrix;
    eprintln!("rms {} K {:?} D {:?}", cal.rms, k, cal.intrinsics.dist);
    assert!(cal.rms < 0.2, "rms {}", cal.rms);
    assert!(
        common::rel(k[0][0], cam.fx) < 0.005,
        "fx {} vs {}",
        k[0][0],
        cam.fx
    );
    assert!(
        common::rel(k[1][1], cam.fy) < 0.005,
        "fy {} vs {}",
        k[1][1],
        cam.fy
    );
    assert!(
        common::rel(k[0][2], cam.cx) < 0.005,
        "cx {} vs {}",
        k[0][2],
        cam.cx
    );
    assert!(
        common::rel(k[1][2], cam.cy) < 0.005,
        "cy {} vs {}",
        k[1][2],
        cam.cy
    );
    let d = &cal.intrinsics.dist;
    assert!(
        (d[0] - cam.dist[0]).abs() < 0.02,
        "k1 {} vs {}",
        d[0],
        cam.dist[0]
    );
    assert!(
        (d[1] - cam.dist[1]).abs() < 0.05,
        "k2 {} vs {}",
        d[1],
        cam.dist[1]
    );
    assert!(
        (d[2] - cam.dist[2]).abs() < 0.002,
        "p1 {} vs {}",
        d[2],
        cam.dist[2]
    );
    assert!(
        (d[3] - cam.dist[3]).abs() < 0.002,
        "p2 {} vs {}",
        d[3],
        cam.dist[3]
    );
    drop(set);
    assert_eq!(live_mats(), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}
