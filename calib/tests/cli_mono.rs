//! calib-mono end to end: the real binary on synthetic views, its outputs read back by
//! OpenCV (Python cv2), and every bad input rejected cleanly.

mod common;

use std::path::Path;

use common::{
    clean_up, copy_views, files_in, mono_set, python_cv2, python_image, run_ok, s, scratch, stderr,
};
use framekeep_core::ledger::LeakCheck;
use framekeep_v4l::testing::{VividVm, VmRun};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_calib-mono");

/// Calibrates `input` quietly on the 9x6 board into `yml`, with `extra` arguments; the run
/// must succeed.
fn calibrate_quietly(input: &Path, yml: &Path, extra: &[&str]) -> std::process::Output {
    let args = [&[s(input), "-b", "9x6", "-q", "-o", s(yml)], extra].concat();
    run_ok(BIN, &args)
}

#[test]
fn calibrates_and_writes_opencv_compatible_outputs() {
    let check = LeakCheck::new();
    let (set, cam, _) = mono_set();
    let out = scratch("mono-ok");
    let (yml, json, png) = (
        out.join("cam.yml"),
        out.join("cam.json"),
        out.join("report.png"),
    );
    let o = run_ok(
        BIN,
        &[
            s(set),
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
            "--report",
            s(&png),
        ],
    );
    let summary = String::from_utf8_lossy(&o.stdout);
    assert!(summary.contains("RMS reprojection error"), "{summary}");
    assert!(summary.contains("coverage: X 100%"), "{summary}");
    assert_eq!(files_in(&out), ["cam.json", "cam.yml", "report.png"]);

    // The YAML loads in OpenCV with the sample's keys and the right values.
    let got = python_cv2(
        &yml,
        "fs.getNode('image_width').real(), fs.getNode('image_height').real(), fs.getNode('board_width').real(), fs.getNode('board_height').real(), fs.getNode('square_size').real(), fs.getNode('flags').real(), fs.getNode('camera_matrix').mat()[0,0], fs.getNode('camera_matrix').mat()[1,2], fs.getNode('distortion_coefficients').mat().size, fs.getNode('avg_reprojection_error').real(), fs.getNode('per_view_reprojection_errors').mat().shape[0], fs.getNode('extrinsic_parameters').mat().shape[1]",
    );
    let v: Vec<f64> = got.split(';').map(|x| x.trim().parse().unwrap()).collect();
    assert_eq!(&v[..6], &[640.0, 480.0, 9.0, 6.0, 0.025, 0.0], "{got}");
    assert!(common::rel(v[6], cam.fx) < 0.005, "fx {}", v[6]);
    assert!(common::rel(v[7], cam.cy) < 0.005, "cy {}", v[7]);
    assert_eq!(v[8], 5.0);
    assert!(v[9] > 0.0 && v[9] < 0.2, "rms {}", v[9]);
    assert!(v[10] >= 11.0);
    assert_eq!(v[11], 6.0);

    // The JSON agrees with the YAML.
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let fx = j["calibration"]["intrinsics"]["camera_matrix"][0][0]
        .as_f64()
        .unwrap();
    assert!((fx - v[6]).abs() < 1e-9);
    assert_eq!(j["units"], "m");

    // The report is a real image: three panels side by side.
    assert_eq!(
        python_image(&png, "i.shape[0], i.shape[1] > 1000"),
        "360 True"
    );
    clean_up(check, &[&out]);
}

#[test]
fn flags_reach_opencv() {
    let check = LeakCheck::new();
    let (set, _, _) = mono_set();
    let out = scratch("mono-flags");
    let yml = out.join("cam.yml");
    calibrate_quietly(
        set,
        &yml,
        &["--zero-tangent-dist", "--fix-k3", "--fix-aspect-ratio"],
    );
    let got = python_cv2(
        &yml,
        "int(fs.getNode('flags').real()), fs.getNode('distortion_coefficients').mat().ravel().tolist(), fs.getNode('camera_matrix').mat()[0,0] / fs.getNode('camera_matrix').mat()[1,1]",
    );
    // CALIB_FIX_ASPECT_RATIO 2 | ZERO_TANGENT_DIST 8 | FIX_K3 128
    assert!(got.starts_with("138;"), "{got}");
    assert!(
        got.contains("0.0, 0.0, 0.0]"),
        "p1, p2, k3 must be exactly zero: {got}"
    );
    assert!(got.ends_with(";1.0"), "aspect ratio fixed at 1: {got}");

    // Seeded from that result with the principal point fixed: it must stay exactly put.
    let seeded = out.join("seeded.yml");
    calibrate_quietly(
        set,
        &seeded,
        &[
            "--use-intrinsic-guess",
            "--intrinsics",
            s(&yml),
            "--fix-principal-point",
        ],
    );
    let pp = "int(fs.getNode('flags').real()), fs.getNode('camera_matrix').mat()[0,2], fs.getNode('camera_matrix').mat()[1,2]";
    let (a, b) = (python_cv2(&yml, pp), python_cv2(&seeded, pp));
    // CALIB_USE_INTRINSIC_GUESS 1 | CALIB_FIX_PRINCIPAL_POINT 4
    assert!(b.starts_with("5;"), "{b}");
    assert_eq!(a.split_once(';').unwrap().1, b.split_once(';').unwrap().1);
    clean_up(check, &[&out]);
}

#[test]
fn outlier_view_is_named_and_dropped() {
    let check = LeakCheck::new();
    let (set, cam, paths) = mono_set();
    let dir = scratch("mono-outlier");
    copy_views(paths, &dir);
    // One view through a different lens: it cannot agree with the others.
    let mut other = *cam;
    other.fx *= 1.25;
    other.fy *= 1.25;
    other.dist = [0.15, 0.0, 0.0, 0.0, 0.0];
    let renderer = framekeep_calib::synth::Renderer::new(other, 2).unwrap();
    let board = common::board();
    let pose = framekeep_calib::synth::random_poses(&other, &board, 1, 99).unwrap()[0];
    let img = renderer.render(&board, &pose).unwrap();
    framekeep_calib::report::write_image(&dir.join("view_zz_odd.png"), &img).unwrap();
    drop(img);
    let out = scratch("mono-outlier-out");
    let yml = out.join("cam.yml");
    let o = run_ok(
        BIN,
        &[s(&dir), "-b", "9x6", "-o", s(&yml), "--drop-outliers"],
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("dropped outliers and re-ran: view_zz_odd.png"),
        "{text}"
    );
    let n = python_cv2(&yml, "int(fs.getNode('nframes').real())");
    let _ = set;
    assert_eq!(n.parse::<usize>().unwrap(), files_in(&dir).len() - 1);
    clean_up(check, &[&dir, &out]);
}

#[test]
fn select_rejects_near_duplicates() {
    let check = LeakCheck::new();
    let (_, _, paths) = mono_set();
    let dir = scratch("mono-select");
    copy_views(paths, &dir);
    std::fs::copy(&paths[3], dir.join("view_03_again.png")).unwrap();
    let out = scratch("mono-select-out");
    let yml = out.join("cam.yml");
    let o = calibrate_quietly(&dir, &yml, &["--select"]);
    assert!(
        stderr(&o).contains("skipped view_03_again.png (near-duplicate view)"),
        "{}",
        stderr(&o)
    );
    clean_up(check, &[&dir, &out]);
}

/// Runs the tool expecting failure without a panic; checks the message and that `out` is
/// untouched.
fn expect_failure(args: &[&str], out: &Path, needles: &[&str]) {
    let err = common::expect_failure(BIN, args, out, needles);
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_inputs_fail_cleanly_without_output() {
    let check = LeakCheck::new();
    let (set, _, paths) = mono_set();
    let work = scratch("mono-bad");
    let out = scratch("mono-bad-out");
    let yml = out.join("cam.yml");
    // An earlier result must survive every failed run.
    std::fs::write(&yml, "previous result").unwrap();
    // Most cases differ only in the input.
    let fails_on = |input: &Path, needles: &[&str]| {
        expect_failure(&[s(input), "-b", "9x6", "-o", s(&yml)], &out, needles);
    };

    // Missing image named by a list file.
    let list = work.join("list.txt");
    std::fs::write(
        &list,
        format!("{}\n{}\n", s(&paths[0]), s(&work.join("nope.png"))),
    )
    .unwrap();
    fails_on(&list, &["nope.png", "does not exist"]);

    // An undecodable image.
    let broken = work.join("broken");
    copy_views(&paths[..5], &broken);
    std::fs::write(broken.join("view_02b.png"), b"not a png at all").unwrap();
    fails_on(&broken, &["view_02b.png", "cannot read image"]);

    // A board size that matches nothing.
    expect_failure(
        &[s(set), "-b", "12x10", "-o", s(&yml)],
        &out,
        &["12x10 chessboard was not found in any of the 12 images"],
    );

    // Images of different sizes.
    let mixed = work.join("mixed");
    copy_views(&paths[..5], &mixed);
    let small = std::process::Command::new("convert")
        .args([
            s(&paths[5]),
            "-resize",
            "320x240!",
            s(&mixed.join("view_05.png")),
        ])
        .status()
        .unwrap();
    assert!(small.success());
    fails_on(
        &mixed,
        &["view_05.png is 320x240", "view_00.png is 640x480"],
    );

    // Too few usable views (two good ones, one without a board).
    let few = work.join("few");
    copy_views(&paths[..2], &few);
    let blank = std::process::Command::new("convert")
        .args(["-size", "640x480", "xc:gray", s(&few.join("blank.png"))])
        .status()
        .unwrap();
    assert!(blank.success());
    fails_on(
        &few,
        &[
            "only 2 usable views, at least 4 needed",
            "blank.png (board not found)",
        ],
    );

    // No images at all, and a nonexistent input.
    let empty = work.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    fails_on(&empty, &["no images found"]);
    fails_on(&work.join("absent"), &["absent", "does not exist"]);

    // A malformed board size.
    expect_failure(
        &[s(set), "-b", "9by6", "-o", s(&yml)],
        &out,
        &["board size \"9by6\""],
    );

    // An output directory that does not exist: nothing is written anywhere.
    let nowhere = out.join("missing-dir").join("cam.yml");
    expect_failure(
        &[s(set), "-b", "9x6", "-o", s(&nowhere)],
        &out,
        &["missing-dir", "output directory does not exist"],
    );

    // A failure after the YAML was written (the report cannot be encoded) still leaves
    // nothing behind: the staged YAML is discarded.
    let bad_report = out.join("report.unknownext");
    expect_failure(
        &[
            s(set),
            "-b",
            "9x6",
            "-o",
            s(&yml),
            "--report",
            s(&bad_report),
        ],
        &out,
        &["unsupported image format \"unknownext\""],
    );

    assert_eq!(std::fs::read_to_string(&yml).unwrap(), "previous result");
    clean_up(check, &[&work, &out]);
}

#[test]
fn ctrl_c_stops_the_run_without_output() {
    let check = LeakCheck::new();
    let (_, _, paths) = mono_set();
    let dir = scratch("mono-sigint");
    // Enough views that detection is still running when the signal arrives.
    for i in 0..400 {
        let src = &paths[i % paths.len()];
        std::fs::hard_link(src, dir.join(format!("v{i:03}.png"))).unwrap();
    }
    let out = scratch("mono-sigint-out");
    let yml = out.join("cam.yml");
    let mut child = std::process::Command::new(BIN)
        .args([s(&dir), "-b", "9x6", "-q", "-j", "1", "-o", s(&yml)])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "calib-mono ignored SIGINT"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("cancelled"), "{err}");
    assert!(files_in(&out).is_empty(), "{:?}", files_in(&out));
    clean_up(check, &[&dir, &out]);
}

/// `--device` against a real V4L2 driver: the kernel's `vivid` camera in a qemu VM
/// (framekeep-v4l's harness). vivid shows no chessboard, so the run streams, reports its
/// progress, stops at `--max-frames` and fails with the "too few views" message: the
/// capture path, the frame examiner and the error exit on a real device. Skips, saying why, only where the VM cannot run at all (exit status 77).
#[test]
fn live_device_on_a_real_v4l2_driver_in_a_vivid_vm() {
    let check = LeakCheck::new();
    let args = [
        "--device",
        "/dev/video0",
        "-b",
        "9x6",
        "--max-frames",
        "15",
        "-o",
        "/tmp/cam.yml",
    ];
    // OpenCV's libraries go into the VM's initramfs: give it room.
    let vm = VividVm::new(BIN)
        .args(args)
        .timeout(Duration::from_secs(400))
        .memory_mib(3072);
    let o = match vm.run().unwrap() {
        VmRun::Ran(o) => o,
        VmRun::Unavailable(why) => {
            eprintln!("SKIPPED calib-mono in the vivid VM: {why}");
            return;
        }
    };
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("collected 0 view(s) from 15 frame(s)"),
        "streamed 15 real frames:\n{text}"
    );
    assert!(text.contains("only 0 usable views"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    assert!(!text.contains("leak check failed"), "{text}");
    check.finish().unwrap();
}
