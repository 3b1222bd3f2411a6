//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// A path as the `&str` a tool's argument list takes (test paths are always UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fk-calib-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Relative difference.
pub fn rel(a: f64, b: f64) -> f64 {
    ((a - b) / b).abs()
}

use std::process::{Command, Output};
use std::sync::OnceLock;

use framekeep_calib::board::{Board, Pattern};
use framekeep_calib::synth::{write_mono_set, write_stereo_set, Camera, StereoRig};
use framekeep_core::ledger::LeakCheck;

/// The board of every shared set: 9x6 inner corners, 25 mm squares (in metres).
pub fn board() -> Board {
    Board::new(Pattern::Chessboard, 9, 6, 0.025).expect("valid board")
}

/// A 640x480, 12-view synthetic mono set shared by the tests of one binary.
pub fn mono_set() -> &'static (PathBuf, Camera, Vec<PathBuf>) {
    static SET: OnceLock<(PathBuf, Camera, Vec<PathBuf>)> = OnceLock::new();
    SET.get_or_init(|| {
        let dir = scratch("mono-set");
        let cam = Camera::synthetic(640, 480);
        let (paths, _) = write_mono_set(&dir, &cam, &board(), 12, 7).expect("render mono set");
        (dir, cam, paths)
    })
}

/// A 640x480, 12-pair synthetic stereo set shared by the tests of one binary.
pub fn stereo_set() -> &'static (PathBuf, StereoRig) {
    static SET: OnceLock<(PathBuf, StereoRig)> = OnceLock::new();
    SET.get_or_init(|| {
        let dir = scratch("stereo-set");
        let rig = StereoRig::synthetic(640, 480, 0.12);
        write_stereo_set(&dir, &rig, &board(), 12, 11).expect("render stereo set");
        (dir, rig)
    })
}

/// Runs a tool binary with a bounded wall time (tests must never hang).
pub fn run(bin: &str, args: &[&str]) -> Output {
    let mut child = Command::new(bin)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn tool");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        if child.try_wait().expect("poll tool").is_some() {
            return child.wait_with_output().expect("collect output");
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{bin} {args:?} did not finish within 120 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Runs a tool binary like [`run`] and fails the test, showing its stderr, unless it
/// succeeded.
pub fn run_ok(bin: &str, args: &[&str]) -> Output {
    let o = run(bin, args);
    assert!(o.status.success(), "{}", stderr(&o));
    o
}

/// Runs a tool binary expecting exit status 1 with every one of `needles` in its stderr,
/// and checks that the run left `out` exactly as it found it; returns the stderr.
pub fn expect_failure(bin: &str, args: &[&str], out: &Path, needles: &[&str]) -> String {
    let before = files_in(out);
    let o = run(bin, args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "exit status; stderr: {err}");
    for n in needles {
        assert!(err.contains(n), "expected {n:?} in: {err}");
    }
    assert_eq!(files_in(out), before, "a failed run must not leave files");
    err
}

/// Copies each of `views` into `dir` (created if need be) under its own file name.
pub fn copy_views(views: &[PathBuf], dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for p in views {
        std::fs::copy(p, dir.join(p.file_name().unwrap())).unwrap();
    }
}

/// Removes a test's scratch directories, then fails the test if anything it created
/// (Mats, threads, leases) is still alive.
pub fn clean_up(check: LeakCheck, dirs: &[&Path]) {
    for dir in dirs {
        std::fs::remove_dir_all(dir).unwrap();
    }
    check.finish().expect("no Mat or thread left alive");
}

/// Stderr of a run as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Loads an image with Python's cv2 as `i` and returns what `expr` prints.
pub fn python_image(path: &Path, expr: &str) -> String {
    let script = format!("import cv2,sys; i=cv2.imread(sys.argv[1]); print({expr})");
    let out = Command::new("/usr/bin/python3")
        .args(["-c", &script, s(path)])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Loads a FileStorage file with Python's cv2 and returns the comma-separated expressions
/// `expr` (evaluated on `fs`) joined by `;`.
pub fn python_cv2(path: &std::path::Path, expr: &str) -> String {
    let script = format!(
        "import cv2, sys\nfs = cv2.FileStorage(sys.argv[1], cv2.FILE_STORAGE_READ)\nassert fs.isOpened()\nvals = ({expr},)\nprint(';'.join(repr(v) for v in vals))\n"
    );
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(script)
        .arg(path)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python cv2 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Files in `dir` (to check that a failed run left nothing behind, not even temporaries).
pub fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
