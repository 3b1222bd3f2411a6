//! The main job (`framekeep view`) as a user runs it, headless: with no
//! camera it falls back to the synthetic pattern, converts every frame, writes
//! PNG snapshots that OpenCV can read (keeping only the newest few), prints the
//! stats line, shuts down in order on Ctrl-C, and reports zero leaks.

use std::process::Command;
use std::thread;
use std::time::Duration;

use framekeep_core::testing::{Running, BAR_COLOURS};
use framekeep_v4l::testing::{VividVm, VmRun};

const LIMIT: Duration = Duration::from_secs(60);
const BIN: &str = env!("CARGO_BIN_EXE_framekeep");

/// `framekeep view ARGS`, headless whatever the test machine has: no window
/// may pop up here.
fn main_job(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        // Qt's offscreen platform counts as a display (windows to nowhere).
        .env_remove("QT_QPA_PLATFORM")
        .arg("view")
        .args(args);
    cmd
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("framekeep-main-job-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn headless_synthetic_run_converts_snapshots_and_reports_no_leaks() {
    let dir = scratch("frames");
    let mut cmd = main_job(&[
        "synthetic",
        "--size",
        "320x240",
        "--format",
        "YUYV",
        "--fps",
        "120",
        "--frames",
        "40",
        "--snapshot-every",
        "10",
        "--snapshots-kept",
        "3",
        "--snapshot-dir",
    ]);
    cmd.arg(&dir);
    let (status, text) = Running::start(cmd).finish(LIMIT);
    let status = status.unwrap_or_else(|| panic!("no exit within {LIMIT:?}:\n{text}"));
    assert!(status.success(), "exit {status}:\n{text}");
    assert!(text.contains("stats: frames 40,"), "stats line:\n{text}");
    assert!(text.contains("latency p50"), "{text}");
    assert!(
        text.contains("leak check: clean (0 frames, Mats, leases, threads alive)"),
        "{text}"
    );
    // Four written (frames 0, 10, 20, 30), the newest three kept.
    assert!(text.contains("snapshots kept: 3"), "{text}");

    // The snapshots are real PNGs of the pattern: the bars the pattern
    // module documents (RGB), converted from YUYV (framekeep's conversion, bit-exact with
    // cvtColor).
    let mut pngs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    pngs.sort();
    assert_eq!(pngs.len(), 3, "{pngs:?}");
    assert!(
        pngs[0].ends_with("frame_000010.png"),
        "the oldest went: {pngs:?}"
    );
    let img = image_rgb(&pngs[0]);
    let (w, h, px) = img;
    assert_eq!((w, h), (320, 240));
    // Bar colours appear in the top half of the frame (YUYV rounding: a tolerance).
    let row = h / 4;
    let found = BAR_COLOURS
        .iter()
        .filter(|rgb| {
            (0..w).any(|x| {
                let p = &px[(row * w + x) * 3..(row * w + x) * 3 + 3];
                (0..3).all(|c| (p[c] as i32 - rgb[c] as i32).abs() <= 24)
            })
        })
        .count();
    assert!(
        found >= BAR_COLOURS.len() - 1,
        "only {found} of the bar colours in the snapshot"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Decodes a PNG with Debian's ImageMagick into raw RGB (width, height, bytes).
fn image_rgb(path: &std::path::Path) -> (usize, usize, Vec<u8>) {
    let size = Command::new("identify")
        .args(["-format", "%w %h"])
        .arg(path)
        .output()
        .expect("ImageMagick identify (scripts/setup.sh installs it)");
    let text = String::from_utf8_lossy(&size.stdout).into_owned();
    let mut it = text.split_whitespace().map(|v| v.parse::<usize>().unwrap());
    let (w, h) = (it.next().unwrap(), it.next().unwrap());
    let raw = Command::new("convert")
        .arg(path)
        .args(["-depth", "8", "rgb:-"])
        .output()
        .expect("ImageMagick convert");
    assert_eq!(raw.stdout.len(), w * h * 3, "convert output size");
    (w, h, raw.stdout)
}

#[test]
fn ctrl_c_stops_the_main_job_in_order_with_no_leaks() {
    let dir = scratch("ctrlc");
    let mut cmd = main_job(&[
        "synthetic",
        "--size",
        "640x480",
        "--fps",
        "60",
        "--snapshot-dir",
    ]);
    cmd.arg(&dir);
    let mut child = Running::start(cmd);
    child.wait_for_line(LIMIT, |l| l.starts_with("running"));
    thread::sleep(Duration::from_millis(400));
    child.interrupt();
    let (status, text) = child.finish(Duration::from_secs(10));
    let status = status.unwrap_or_else(|| panic!("no exit within 10 s of Ctrl-C:\n{text}"));
    assert!(status.success(), "exit {status}:\n{text}");
    assert!(text.contains("cancelled (interrupted)"), "{text}");
    assert!(text.contains("all ok"), "every worker ended well:\n{text}");
    assert!(text.contains("leak check: clean"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_arguments_are_a_clear_error_not_a_panic() {
    for (args, needle) in [
        (&["--size", "640by480"][..], "bad frame size"),
        (&["--format", "ZZZZ"][..], "unknown pixel format"),
        (&["--format", "TOOLONG"][..], "unknown pixel format"),
        (&["--buffers", "1"][..], "at least 2"),
    ] {
        let out = main_job(args).output().expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn a_named_camera_that_is_not_there_is_a_clear_error() {
    let out = main_job(&["/dev/video-not-there", "--frames", "1"])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("cannot capture from /dev/video-not-there"),
        "{text}"
    );
    assert!(
        text.contains("framekeep view synthetic"),
        "points to the synthetic source: {text}"
    );
    assert_eq!(text.lines().count(), 2, "one line and a hint: {text}");
}

/// The main job against a real V4L2 driver: the kernel's `vivid` camera in a
/// qemu VM (framekeep-v4l's harness, `crates/framekeep-v4l/vm/vivid-vm.sh`).
/// It must negotiate, capture, convert and snapshot every frame, shut down in
/// order and report zero leaks. Skips, saying why, only where the VM cannot
/// run at all (the script's exit status 77).
#[test]
fn a_real_v4l2_camera_in_a_vivid_vm() {
    let args = [
        "view",
        "/dev/video0",
        "--headless",
        "--frames",
        "60",
        "--snapshot-dir",
        "/tmp/snaps",
        "--snapshot-every",
        "20",
    ];
    // OpenCV and its libraries go into the VM's initramfs: give it room.
    let vm = VividVm::new(BIN)
        .args(args)
        .timeout(Duration::from_secs(400))
        .memory_mib(3072);
    let out = match vm.run() {
        Ok(VmRun::Ran(out)) => out,
        Ok(VmRun::Unavailable(why)) => {
            eprintln!("SKIPPED main job in the vivid VM: {why}");
            return;
        }
        Err(e) => panic!("cannot run bash: {e}"),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let text = format!("{stdout}\n{stderr}");
    assert!(out.status.success(), "exit {:?}:\n{text}", out.status);
    assert!(
        text.contains("camera /dev/video0: YUYV 640x480"),
        "the real driver was used:\n{text}"
    );
    // Capture and conversion are one element (issue 15): 60 frames in, 60 BGR frames out.
    assert!(text.contains("camera: in 60, out 60"), "{text}");
    assert!(text.contains("frames 60,"), "{text}");
    assert!(text.contains("all ok"), "every worker ended well:\n{text}");
    assert!(text.contains("errors 0"), "{text}");
    assert!(text.contains("leak check: clean"), "{text}");
}

/// Issue 11, finding 2: a frame size memory cannot hold is a bad argument (exit 2, one
/// line on stderr naming it), camera or synthetic, before any source or pool exists;
/// never an abort ("memory allocation of ... bytes failed").
#[test]
fn sizes_too_large_for_memory_are_bad_arguments_on_one_line() {
    // (arguments, whether the run got as far as the leak-checked part)
    for (args, ran) in [
        // Cameras first: before, they were opened (exit 1) before the size was looked at.
        (
            &["/nonexistent/video9", "--size", "100000x100000"][..],
            true,
        ),
        (&["synthetic", "--size", "100000x100000"], true),
        (
            &[
                "/nonexistent/video9",
                "--format",
                "MJPG",
                "--size",
                "100000x100000",
            ],
            true,
        ),
        // Refused with the other argument checks, before anything is made.
        (&["/nonexistent/video9", "--size", "5000000000x2"], false),
    ] {
        let out = main_job(&[args, &["--frames", "1", "--headless"]].concat())
            .output()
            .expect("run framekeep view");
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}{stdout}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("framekeep view: --size "),
            "{args:?}: {stderr}"
        );
        assert_eq!(
            stdout.contains("leak check: clean (0 frames, Mats, leases, threads alive)"),
            ran,
            "{args:?}: {stdout}"
        );
    }
}
