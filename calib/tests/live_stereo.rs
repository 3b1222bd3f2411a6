//! Live stereo input on two in-process fake V4L2 cameras (framekeep-v4l's `FakeDevice`):
//! each fake films a synthetic scene (a chessboard held still in one pose after another,
//! moving out of view in between) rendered through one camera of a known rig, frames
//! are paired by capture timestamp, pairs are selected by coverage, written, and
//! calibrated: the rig's baseline comes back. Then the failures: a camera of another
//! frame size, a camera that disappears or fails mid-run, cameras that never line up in
//! time, a device that does not exist.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use framekeep_calib::board::Board;
use framekeep_calib::live::{CameraRequest, LiveCamera, LiveOptions, LiveStop, PairOptions};
use framekeep_calib::run::{run_stereo_live, StereoInputs, StereoOptions};
use framekeep_calib::select::Selector;
use framekeep_calib::synth::{random_poses_multi, Renderer, StereoRig, IDENTITY};
use framekeep_calib::CalibError;
use framekeep_core::cancel::CancelToken;
use framekeep_core::frame::{FrameSize, PixelFormat};
use framekeep_core::ledger::LeakCheck;
use framekeep_v4l::testing::{FakeConfig, FakeDevice, FakePainter};
use framekeep_v4l::{CaptureDevice, FormatInfo, FourCc, Interval, Negotiated, SizeInfo};
use opencv::prelude::*;

/// Frame period of the fake cameras (50 fps).
const PERIOD: Duration = Duration::from_millis(20);
/// How long the board stays in one pose, and the part of that when it is moving (not shown).
const HOLD_MS: u128 = 100;
const MOVING_MS: u128 = 40;
const POSES: usize = 14;

/// Rendered gray images of one camera, one per pose.
type Scene = Arc<Vec<Vec<u8>>>;

fn render_scenes(rig: &StereoRig, board: &Board) -> (Scene, Scene) {
    let poses = random_poses_multi(
        &[(rig.left, IDENTITY), (rig.right, rig.relative)],
        board,
        POSES,
        5,
    )
    .unwrap();
    let left = Renderer::new(rig.left, 2).unwrap();
    let right = Renderer::new(rig.right, 2).unwrap();
    let bytes = |m: framekeep_calib::tracked::TrackedMat| m.data_bytes().unwrap().to_vec();
    let l = poses
        .iter()
        .map(|p| bytes(left.render(board, p).unwrap()))
        .collect();
    let r = poses
        .iter()
        .map(|p| bytes(right.render(board, &rig.right_pose(p)).unwrap()))
        .collect();
    (Arc::new(l), Arc::new(r))
}

/// Writes a gray image as YUYV (luma = gray, neutral chroma).
fn yuyv(buf: &mut [u8], fmt: &Negotiated, gray: Option<&[u8]>) {
    let (w, stride) = (fmt.width as usize, fmt.stride as usize);
    for (y, row) in buf.chunks_exact_mut(stride).enumerate() {
        for x in 0..w {
            row[2 * x] = gray.map_or(200, |g| g[y * w + x]);
            row[2 * x + 1] = 128;
        }
    }
}

/// What a camera of the rig sees at capture time `ts`: the pose of that moment, nothing
/// while the board moves. Both cameras share the fakes' clock, so a pair captured at
/// nearly the same time shows the same pose.
fn painter(scene: Scene) -> FakePainter {
    FakePainter::new(move |buf, fmt, _seq, ts| {
        let ms = ts.as_millis();
        if ms % HOLD_MS >= HOLD_MS - MOVING_MS {
            yuyv(buf, fmt, None);
        } else {
            let k = (ms / HOLD_MS) as usize % scene.len();
            yuyv(buf, fmt, Some(&scene[k]));
        }
    })
}

fn fake(size: (u32, u32), period: Duration, scene: Option<Scene>) -> FakeDevice {
    FakeDevice::new(FakeConfig {
        formats: vec![FormatInfo {
            fourcc: FourCc::YUYV,
            description: "YUYV 4:2:2".into(),
            sizes: vec![SizeInfo {
                width: size.0,
                height: size.1,
                intervals: vec![Interval::from_fps(50)],
            }],
        }],
        period,
        painter: scene.map(painter),
        ..FakeConfig::default()
    })
}

fn request() -> CameraRequest {
    CameraRequest {
        format: PixelFormat::Yuyv,
        size: FrameSize {
            width: 640,
            height: 480,
        },
        timeout: Duration::from_secs(5),
    }
}

fn camera(name: &str, device: &FakeDevice) -> LiveCamera {
    let boxed: Box<dyn CaptureDevice> = Box::new(device.clone());
    LiveCamera::start(name, boxed, &request()).unwrap()
}

fn pair_options(board: Board, views: &Path, max_frames: u64, skew_ms: u64) -> PairOptions {
    PairOptions::new(
        LiveOptions {
            board,
            views_dir: views.to_path_buf(),
            max_frames: Some(max_frames),
            selector: Selector::default(),
        },
        Duration::from_millis(skew_ms),
    )
}

fn stereo_options(board: Board, out: &Path) -> StereoOptions {
    StereoOptions {
        inputs: StereoInputs::Paths {
            left: Vec::new(),
            right: Vec::new(),
        },
        board,
        units: "m".into(),
        left_intrinsics: None,
        right_intrinsics: None,
        fix_intrinsic: false,
        alpha: -1.0,
        workers: 2,
        min_pairs: 6,
        output: out.join("rig.yml"),
        json: Some(out.join("rig.json")),
        preview: None,
        progress: false,
        cancel: CancelToken::new(),
    }
}

fn done(check: LeakCheck, dirs: &[&PathBuf]) {
    for d in dirs {
        let _ = std::fs::remove_dir_all(d);
    }
    check
        .finish_within(Duration::from_secs(3))
        .expect("no frame, buffer, Mat or thread left alive");
}

#[test]
fn live_pairs_from_two_cameras_recover_the_rig() {
    let check = LeakCheck::new();
    let out = common::scratch("live-stereo-ok");
    let views = out.join("views");
    let board = common::board();
    let rig = StereoRig::synthetic(640, 480, 0.12);
    let (ls, rs) = render_scenes(&rig, &board);
    let (lf, rf) = (
        fake((640, 480), PERIOD, Some(ls)),
        fake((640, 480), PERIOD, Some(rs)),
    );
    let (left, right) = (camera("fake-left", &lf), camera("fake-right", &rf));
    // One pass over every pose (5 frames a pose) and a little more.
    let frames = POSES as u64 * (HOLD_MS as u64 / PERIOD.as_millis() as u64) + 10;
    let pairs = pair_options(board, &views, frames, 10);
    let opts = stereo_options(board, &out);
    let mut reports = 0u64;
    let (collected, result) = run_stereo_live(
        left,
        right,
        &pairs,
        &opts,
        |p| {
            reports += 1;
            assert!(p.kept as u64 <= p.detected && p.detected <= p.frames);
            if p.frames == 20 {
                // The right camera loses two frames: two left frames find no partner.
                rf.skip_frames(2);
            }
        },
        |_| {},
    )
    .expect("live stereo run");
    let p = collected.progress;
    assert_eq!(reports, p.frames, "one progress report per pair");
    assert!(
        matches!(collected.stop, LiveStop::FrameLimit | LiveStop::Covered),
        "{:?}",
        collected.stop
    );
    assert!(
        p.unpaired >= 2,
        "the skipped right frames left left frames unpaired: {p:?}"
    );
    assert!(
        p.detected < p.frames,
        "frames while the board moves show no board: {p:?}"
    );
    assert!((6..=POSES).contains(&p.kept), "{p:?}");
    assert_eq!(collected.left.len(), p.kept);
    assert_eq!(collected.right.len(), p.kept);
    for v in collected.left.iter().chain(&collected.right) {
        assert!(v.starts_with(&views) && v.exists(), "{}", v.display());
    }
    assert!(
        !lf.is_streaming() && !rf.is_streaming(),
        "cameras stopped before calibrating"
    );

    let cal = &result.calibration;
    assert_eq!(cal.pairs.len(), p.kept);
    let baseline = rig.baseline();
    assert!(
        common::rel(cal.baseline, baseline) < 0.01,
        "baseline {} vs {baseline}",
        cal.baseline
    );
    let k = cal.left.camera_matrix;
    assert!(common::rel(k[0][0], rig.left.fx) < 0.01, "fx {}", k[0][0]);
    assert!(cal.rms < 0.5, "rms {}", cal.rms);
    assert!(opts.output.exists() && out.join("rig.json").exists());
    drop(result);
    drop((lf, rf));
    done(check, &[&out]);
}

#[test]
fn cameras_of_different_sizes_are_refused_naming_the_camera() {
    let check = LeakCheck::new();
    let out = common::scratch("live-stereo-size");
    let views = out.join("views");
    let board = common::board();
    let lf = fake((640, 480), PERIOD, None);
    let rf = fake((320, 180), PERIOD, None);
    let (left, right) = (camera("fake-left", &lf), camera("fake-right", &rf));
    let opts = stereo_options(board, &out);
    let err = run_stereo_live(
        left,
        right,
        &pair_options(board, &views, 50, 10),
        &opts,
        |_| {},
        |_| {},
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(&err, CalibError::Device { device, .. } if device == "fake-right"),
        "{msg}"
    );
    assert!(
        msg.contains("320x180") && msg.contains("640x480") && msg.contains("fake-left"),
        "{msg}"
    );
    assert!(!lf.is_streaming() && !rf.is_streaming());
    assert_eq!(
        common::files_in(&out),
        Vec::<String>::new(),
        "nothing written"
    );
    drop((lf, rf));
    done(check, &[&out]);
}

/// Runs a live collection on plain fakes and makes `fail` happen to one of them after
/// `after` pairs; returns the error.
fn fail_mid_run(tag: &str, fail: impl Fn(&FakeDevice, &FakeDevice)) -> (CalibError, PathBuf) {
    let out = common::scratch(tag);
    let views = out.join("views");
    let board = common::board();
    let (lf, rf) = (
        fake((640, 480), PERIOD, None),
        fake((640, 480), PERIOD, None),
    );
    let (left, right) = (camera("fake-left", &lf), camera("fake-right", &rf));
    let opts = stereo_options(board, &out);
    let err = run_stereo_live(
        left,
        right,
        &pair_options(board, &views, 1000, 10),
        &opts,
        |p| {
            if p.frames == 5 {
                fail(&lf, &rf);
            }
        },
        |_| panic!("collection must not complete"),
    )
    .unwrap_err();
    assert!(!opts.output.exists(), "no output after a camera failure");
    assert!(!out.join("rig.json").exists());
    drop((lf, rf));
    (err, out)
}

#[test]
fn a_camera_unplugged_or_failing_mid_run_is_an_error_naming_it() {
    let check = LeakCheck::new();
    let (err, out1) = fail_mid_run("live-stereo-unplug", |_, r| {
        r.set_control("disconnect", 1).unwrap()
    });
    let msg = err.to_string();
    assert!(
        matches!(&err, CalibError::Device { device, .. } if device == "fake-right"),
        "{msg}"
    );
    assert!(msg.contains("camera fake-right"), "{msg}");

    let (err, out2) = fail_mid_run("live-stereo-eio", |l, _| {
        l.set_control("inject_fatal_streaming_error", 1).unwrap()
    });
    let msg = err.to_string();
    assert!(
        matches!(&err, CalibError::Device { device, .. } if device == "fake-left"),
        "{msg}"
    );

    // A camera that is already gone when the run starts.
    let gone = fake((640, 480), PERIOD, None);
    gone.set_control("disconnect", 1).unwrap();
    let boxed: Box<dyn CaptureDevice> = Box::new(gone.clone());
    let err = LiveCamera::start("fake-gone", boxed, &request()).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(&err, CalibError::Device { device, .. } if device == "fake-gone"),
        "{msg}"
    );
    assert!(msg.starts_with("camera fake-gone: "), "{msg}");
    drop(gone);
    done(check, &[&out1, &out2]);
}

#[test]
fn cameras_that_never_line_up_in_time_are_an_error() {
    let check = LeakCheck::new();
    let out = common::scratch("live-stereo-sync");
    let board = common::board();
    // 10 fps cameras started half a period apart, pairs allowed 1 ms apart: no pair ever
    // (unless starting the second camera took 49 ms longer than asked).
    let period = Duration::from_millis(100);
    let lf = fake((640, 480), period, None);
    let rf = fake((640, 480), period, None);
    let left = camera("fake-left", &lf);
    std::thread::sleep(Duration::from_millis(50));
    let right = camera("fake-right", &rf);
    let mut pairs = pair_options(board, &out.join("views"), 1000, 1);
    pairs.max_unpaired_run = 20;
    let opts = stereo_options(board, &out);
    let err = run_stereo_live(left, right, &pairs, &opts, |_| {}, |_| {}).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, CalibError::Unsynchronised { frames: 21, .. }),
        "{msg}"
    );
    assert!(
        msg.contains("fake-left") && msg.contains("fake-right"),
        "{msg}"
    );
    assert!(!opts.output.exists());
    drop((lf, rf));
    done(check, &[&out]);
}

#[test]
fn calib_stereo_with_a_missing_camera_is_a_clear_error_and_writes_nothing() {
    let check = LeakCheck::new();
    let dir = common::scratch("live-stereo-cli");
    let output = dir.join("rig.yml");
    let o = common::run(
        env!("CARGO_BIN_EXE_calib-stereo"),
        &[
            "--left-device",
            "/dev/video-not-there",
            "--right-device",
            "/dev/video-not-there-either",
            "-b",
            "9x6",
            "-o",
            output.to_str().unwrap(),
        ],
    );
    let err = common::stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("camera /dev/video-not-there:"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        common::files_in(&dir),
        Vec::<String>::new(),
        "nothing written"
    );
    // Both devices are needed, and live input excludes image inputs.
    let o = common::run(
        env!("CARGO_BIN_EXE_calib-stereo"),
        &["--left-device", "/dev/video0", "-b", "9x6"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", common::stderr(&o));
    let o = common::run(
        env!("CARGO_BIN_EXE_calib-stereo"),
        &[
            "--left-device",
            "/dev/video0",
            "--right-device",
            "/dev/video1",
            "--pairs",
            "x/{side}_*.png",
            "-b",
            "9x6",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", common::stderr(&o));
    done(check, &[&dir]);
}
