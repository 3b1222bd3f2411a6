//! calib-stereo end to end: the real binary on a synthetic rig, outputs read back by
//! OpenCV, seeding from calib-mono results, and bad inputs.

mod common;

use common::{
    clean_up, expect_failure, files_in, python_cv2, python_image, run_ok, s, scratch, stereo_set,
};
use framekeep_core::ledger::LeakCheck;

const BIN: &str = env!("CARGO_BIN_EXE_calib-stereo");
const MONO: &str = env!("CARGO_BIN_EXE_calib-mono");

fn parse(v: &str) -> Vec<f64> {
    v.split(';').map(|x| x.trim().parse().unwrap()).collect()
}

#[test]
fn calibrates_rig_and_writes_opencv_compatible_outputs() {
    let check = LeakCheck::new();
    let (set, rig) = stereo_set();
    let out = scratch("stereo-ok");
    let (yml, json, png) = (
        out.join("rig.yml"),
        out.join("rig.json"),
        out.join("rectified.png"),
    );
    let pattern = format!("{}/{{side}}_*.png", s(set));
    run_ok(
        BIN,
        &[
            "--pairs",
            &pattern,
            "-b",
            "9x6",
            "-s",
            "0.025",
            "--units",
            "m",
            "-o",
            s(&yml),
            "--json",
            s(&json),
            "--preview",
            s(&png),
        ],
    );
    assert_eq!(files_in(&out), ["rectified.png", "rig.json", "rig.yml"]);
    let keys = python_cv2(
        &yml,
        "all(not fs.getNode(k).empty() for k in ['M1','D1','M2','D2','R','T','E','F','R1','R2','P1','P2','Q']), fs.getNode('P2').mat().shape[1], fs.getNode('Q').mat().shape[0]",
    );
    assert_eq!(keys, "True;4;4");
    let v = parse(&python_cv2(
        &yml,
        "float(cv2.norm(fs.getNode('T').mat())), fs.getNode('baseline').real(), fs.getNode('avg_epipolar_error').real(), fs.getNode('rms').real(), fs.getNode('M2').mat()[0,0]",
    ));
    assert!(
        common::rel(v[0], rig.baseline()) < 0.01,
        "baseline {} vs {}",
        v[0],
        rig.baseline()
    );
    assert!((v[0] - v[1]).abs() < 1e-9);
    assert!(v[2] < 0.5 && v[3] < 0.3, "epipolar {} rms {}", v[2], v[3]);
    assert!(common::rel(v[4], rig.right.fx) < 0.005, "right fx {}", v[4]);
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!((j["calibration"]["baseline"].as_f64().unwrap() - v[1]).abs() < 1e-9);
    // Rectified preview: both views side by side.
    assert_eq!(python_image(&png, "i.shape[0], i.shape[1]"), "480 1280");
    clean_up(check, &[&out]);
}

#[test]
fn seeded_with_mono_results() {
    let check = LeakCheck::new();
    let (set, rig) = stereo_set();
    let out = scratch("stereo-seeded");
    let (left, right) = (out.join("left.yml"), out.join("right.yml"));
    for (side, yml) in [("left", &left), ("right", &right)] {
        let glob = format!("{}/{side}_*.png", s(set));
        run_ok(
            MONO,
            &[&glob, "-b", "9x6", "-s", "0.025", "-q", "-o", s(yml)],
        );
    }
    let yml = out.join("rig.yml");
    run_ok(
        BIN,
        &[
            "--left",
            &format!("{}/left_*.png", s(set)),
            "--right",
            &format!("{}/right_*.png", s(set)),
            "-b",
            "9x6",
            "-s",
            "0.025",
            "-q",
            "-o",
            s(&yml),
            "--left-intrinsics",
            s(&left),
            "--right-intrinsics",
            s(&right),
            "--fix-intrinsic",
        ],
    );
    // With fixed intrinsics the rig keeps exactly the mono cameras.
    let v = parse(&python_cv2(
        &yml,
        "fs.getNode('M1').mat()[0,0], fs.getNode('baseline').real()",
    ));
    let mono = parse(&python_cv2(&left, "fs.getNode('camera_matrix').mat()[0,0]"));
    assert!((v[0] - mono[0]).abs() < 1e-9, "{} vs {}", v[0], mono[0]);
    assert!(
        common::rel(v[1], rig.baseline()) < 0.01,
        "baseline {}",
        v[1]
    );
    clean_up(check, &[&out]);
}

#[test]
fn bad_inputs_fail_cleanly_without_output() {
    let check = LeakCheck::new();
    let (set, _) = stereo_set();
    let work = scratch("stereo-bad");
    let out = scratch("stereo-bad-out");
    let yml = out.join("rig.yml");
    let fail = |args: &[&str], needles: &[&str]| {
        expect_failure(BIN, args, &out, needles);
    };
    // Mismatched pair counts.
    let right_short = work.join("right");
    std::fs::create_dir_all(&right_short).unwrap();
    for i in 0..5 {
        let name = format!("right_{i:02}.png");
        std::fs::copy(set.join(&name), right_short.join(&name)).unwrap();
    }
    let left = format!("{}/left_*.png", s(set));
    fail(
        &[
            "--left",
            &left,
            "--right",
            s(&right_short),
            "-b",
            "9x6",
            "-o",
            s(&yml),
        ],
        &["12 left images", "but 5 right images"],
    );
    // Right camera images of another size than the left ones.
    let right_small = work.join("right_small");
    std::fs::create_dir_all(&right_small).unwrap();
    for i in 0..12 {
        let name = format!("right_{i:02}.png");
        let ok = std::process::Command::new("convert")
            .arg(set.join(&name))
            .args(["-resize", "320x240!"])
            .arg(right_small.join(&name))
            .status()
            .unwrap();
        assert!(ok.success());
    }
    fail(
        &[
            "--left",
            &left,
            "--right",
            s(&right_small),
            "-b",
            "9x6",
            "-o",
            s(&yml),
        ],
        &["right_00.png is 320x240", "left_00.png is 640x480"],
    );
    // A seed file that is not a calibration.
    let junk = work.join("junk.yml");
    std::fs::write(&junk, "%YAML:1.0\n---\nfoo: 1\n").unwrap();
    fail(
        &[
            "--pairs",
            &format!("{}/{{side}}_*.png", s(set)),
            "-b",
            "9x6",
            "-o",
            s(&yml),
            "--left-intrinsics",
            s(&junk),
        ],
        &["junk.yml", "no camera_matrix entry"],
    );
    // A pattern without {side}, and a board that matches nothing.
    fail(
        &[
            "--pairs",
            &format!("{}/*.png", s(set)),
            "-b",
            "9x6",
            "-o",
            s(&yml),
        ],
        &["{side}"],
    );
    fail(
        &[
            "--pairs",
            &format!("{}/{{side}}_*.png", s(set)),
            "-b",
            "5x14",
            "-o",
            s(&yml),
        ],
        &["5x14 chessboard was not found in any of the 24 images"],
    );
    clean_up(check, &[&work, &out]);
}
