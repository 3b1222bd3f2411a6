//! `framekeep serve`, `framekeep view ipc:NAME` and `framekeep snap` as a user runs them:
//! separate processes meeting in a framekeep-ipc domain of the test's own
//! (`FRAMEKEEP_DOMAIN`, removed with its shared-memory files when the test ends), every
//! frame the publisher sent accounted for in each subscriber's stats line, and a clean
//! leak report from every process.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use framekeep_core::testing::{Running, Signal, BAR_COLOURS};
use framekeep_ipc::testing::TestDomain;
use framekeep_v4l::testing::{VividVm, VmRun};

const LIMIT: Duration = Duration::from_secs(60);
const BIN: &str = env!("CARGO_BIN_EXE_framekeep");
const CLEAN: &str = "leak check: clean (0 frames, Mats, leases, threads alive)";

/// `framekeep ARGS` in `domain`, headless whatever the test machine has.
fn framekeep(domain: &TestDomain, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("FRAMEKEEP_DOMAIN", domain.name())
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("QT_QPA_PLATFORM")
        .args(args);
    cmd
}

/// `framekeep serve synthetic` publishing `name` at `size`, 60 fps, once it runs.
fn serve_synthetic(domain: &TestDomain, name: &str, size: &str) -> Running {
    let mut serve = Running::start(framekeep(
        domain,
        &[
            "serve",
            "synthetic",
            "--name",
            name,
            "--size",
            size,
            "--fps",
            "60",
        ],
    ));
    serve.wait_for_line(LIMIT, |l| l.starts_with("running"));
    serve
}

/// A headless `framekeep view ipc:SERVICE` with no end of its own (it must end with the
/// publisher), snapshots (every 1000th frame) into `dir`.
fn endless_viewer(domain: &TestDomain, service: &str, dir: &Path) -> Command {
    let source = format!("ipc:{service}");
    let mut viewer = framekeep(
        domain,
        &[
            "view",
            &source,
            "--headless",
            "--snapshot-every",
            "1000",
            "--snapshot-dir",
        ],
    );
    viewer.arg(dir);
    viewer
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("framekeep-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The exit status, which must have come within `limit`, and the output.
fn finish(child: Running, limit: Duration, what: &str) -> (ExitStatus, String) {
    let (status, text) = child.finish(limit);
    let status = status.unwrap_or_else(|| panic!("{what}: no exit within {limit:?}:\n{text}"));
    (status, text)
}

/// The numbers of the line starting with `prefix`: `key value` pairs split at commas
/// (`received 21, dropped 99` → {received: 21, dropped: 99}).
fn counts(text: &str, prefix: &str) -> HashMap<String, u64> {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?}:\n{text}"));
    line.split(',')
        .filter_map(|part| {
            let words: Vec<&str> = part.split_whitespace().collect();
            let (value, key) = words.split_last()?;
            Some((key.join(" "), value.parse().ok()?))
        })
        .collect()
}

#[test]
fn serve_and_two_viewers_at_different_rates_account_for_every_frame() {
    let domain = TestDomain::new("two").unwrap();
    let dirs = [scratch("fast"), scratch("slow")];
    const FRAMES: u64 = 240;
    let frames = FRAMES.to_string();
    let mut serve = Running::start(framekeep(
        &domain,
        &[
            "serve",
            "synthetic",
            "--name",
            "test/two",
            "--size",
            "320x240",
            "--fps",
            "120",
            "--frames",
            &frames,
            "--wait-subscribers",
            "2",
        ],
    ));
    serve.wait_for_line(LIMIT, |l| l.starts_with("waiting for 2 subscriber"));
    // One takes every frame it can, the other at most 15 a second: most frames are
    // dropped for it (the service's `latest` policy), and counted.
    let viewers: Vec<Running> = [("1000", &dirs[0]), ("15", &dirs[1])]
        .into_iter()
        .map(|(fps, dir)| {
            let mut cmd = framekeep(
                &domain,
                &[
                    "view",
                    "ipc:test/two",
                    "--headless",
                    "--fps",
                    fps,
                    "--snapshot-every",
                    "20",
                    "--snapshot-dir",
                ],
            );
            cmd.arg(dir);
            Running::start(cmd)
        })
        .collect();
    let (status, serve_text) = finish(serve, LIMIT, "serve");
    assert!(status.success(), "serve exit {status}:\n{serve_text}");
    assert!(serve_text.contains(CLEAN), "{serve_text}");
    assert!(serve_text.contains("all ok"), "{serve_text}");
    let stats = counts(&serve_text, "stats: ");
    let published = stats["published"];
    assert_eq!(published, FRAMES, "{serve_text}");
    // The synthetic pattern is drawn into its own pool: one copy per frame, counted.
    assert_eq!(
        (stats["copied"], stats["zero-copy"]),
        (FRAMES, 0),
        "{serve_text}"
    );
    let mut received = Vec::new();
    for (i, viewer) in viewers.into_iter().enumerate() {
        // The viewers end by themselves: the publisher closed, end of stream.
        let (status, text) = finish(viewer, LIMIT, "view");
        assert!(status.success(), "viewer {i} exit {status}:\n{text}");
        assert!(text.contains(CLEAN), "viewer {i}:\n{text}");
        assert!(text.contains("service: in"), "{text}");
        let c = counts(&text, "service ipc:test/two: ");
        assert_eq!(
            c["first at send"] + c["received"] + c["dropped"],
            published,
            "viewer {i}: every frame sent is received or dropped:\n{text}"
        );
        // What the service delivered, the pipeline converted.
        let frames = counts(&text, "stats: ")["frames"];
        assert_eq!(frames, c["received"], "{text}");
        received.push((c["received"], c["dropped"]));
    }
    let ((fast, fast_dropped), (slow, slow_dropped)) = (received[0], received[1]);
    assert!(
        slow < fast / 2 && slow_dropped > 0,
        "the slow viewer took fewer: fast {fast} (dropped {fast_dropped}), slow {slow} (dropped {slow_dropped})"
    );
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[test]
fn snap_saves_n_loadable_pngs_and_ctrl_c_ends_serve_cleanly() {
    let domain = TestDomain::new("snap").unwrap();
    let dir = scratch("snap");
    let serve = serve_synthetic(&domain, "test/snap", "320x240");
    let viewer_dir = scratch("snap-viewer");
    let viewer = endless_viewer(&domain, "test/snap", &viewer_dir);
    let viewer = Running::start(viewer);
    let mut snap = framekeep(&domain, &["snap", "test/snap", "-n", "5", "-o"]);
    snap.arg(&dir);
    let (status, text) = finish(Running::start(snap), LIMIT, "snap");
    assert!(status.success(), "snap exit {status}:\n{text}");
    assert!(text.contains(CLEAN), "{text}");
    assert_eq!(counts(&text, "stats: ")["frames"], 5, "{text}");
    let mut pngs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    pngs.sort();
    assert_eq!(pngs.len(), 5, "{pngs:?}");
    for png in &pngs {
        assert!(text.contains(&png.display().to_string()), "{text}");
        check_pattern(png);
    }

    // Ctrl-C: serve stops in order, exit 0, and the viewer sees the end of the stream.
    serve.interrupt();
    let (status, serve_text) = finish(serve, Duration::from_secs(10), "serve after Ctrl-C");
    assert!(status.success(), "exit {status}:\n{serve_text}");
    assert!(
        serve_text.contains("cancelled (interrupted)"),
        "{serve_text}"
    );
    assert!(serve_text.contains("all ok"), "{serve_text}");
    assert!(serve_text.contains(CLEAN), "{serve_text}");
    let (status, text) = finish(viewer, Duration::from_secs(10), "viewer");
    assert!(status.success(), "viewer exit {status}:\n{text}");
    assert!(text.contains("service: in"), "{text}");
    assert!(text.contains("end of stream"), "{text}");
    assert!(text.contains(CLEAN), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&viewer_dir);
}

/// A `serve` that is killed (SIGKILL: no goodbye) is reported by its viewer as gone, a
/// failure (exit 1, one line naming it), the viewer exiting within 2 s of the kill (the
/// departure is noticed within 2 liveness intervals, 0.5 s), with a clean leak check.
#[test]
fn a_killed_serve_fails_its_viewer_promptly() {
    let domain = TestDomain::new("kill").unwrap();
    let dir = scratch("kill");
    let serve = serve_synthetic(&domain, "test/kill", "160x120");
    let mut viewer = endless_viewer(&domain, "test/kill", &dir);
    let stderr = dir.with_extension("stderr");
    viewer.stderr(std::fs::File::create(&stderr).unwrap());
    let mut viewer = Running::start(viewer);
    viewer.wait_for_line(LIMIT, |l| l.starts_with("running"));
    std::thread::sleep(Duration::from_millis(300));
    serve.signal(Signal::SIGKILL);
    let killed = std::time::Instant::now();
    let (status, text) = finish(viewer, Duration::from_secs(10), "viewer");
    let ended = killed.elapsed();
    let _ = serve.finish(Duration::from_secs(5));
    let err = std::fs::read_to_string(&stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{text}\n{err}");
    assert!(
        ended < Duration::from_secs(2),
        "ended {ended:?} after the kill"
    );
    assert!(
        err.contains("framekeep view: service: publisher of test/kill is gone (its process died)"),
        "{err}"
    );
    assert!(text.contains(CLEAN), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&stderr);
}

/// A PNG of the synthetic pattern at 320x240: the bars the pattern module documents
/// (RGB), converted from YUYV by OpenCV (rounding: a tolerance).
fn check_pattern(path: &Path) {
    let img = image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8();
    assert_eq!(img.dimensions(), (320, 240), "{}", path.display());
    let row = 240 / 4;
    let found = BAR_COLOURS
        .iter()
        .filter(|rgb| {
            (0..320).any(|x| {
                let p = img.get_pixel(x, row).0;
                (0..3).all(|c| (i32::from(p[c]) - i32::from(rgb[c])).abs() <= 24)
            })
        })
        .count();
    assert!(
        found >= BAR_COLOURS.len() - 1,
        "only {found} of the bar colours in {}",
        path.display()
    );
}

#[test]
fn snap_without_a_publisher_times_out_with_one_line() {
    let domain = TestDomain::new("none").unwrap();
    let dir = scratch("none");
    let mut cmd = framekeep(
        &domain,
        &[
            "snap",
            "ipc:test/nobody",
            "-n",
            "2",
            "--timeout",
            "0.5",
            "-o",
        ],
    );
    cmd.arg(&dir);
    let out = cmd.output().expect("run framekeep snap");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stderr}{stdout}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("no frame from ipc:test/nobody within 500ms (0 of 2 frames written)"),
        "{stderr}"
    );
    assert!(stdout.contains(CLEAN), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn serve_bad_arguments_are_exit_2_on_one_line() {
    let domain = TestDomain::new("args").unwrap();
    for (args, needle) in [
        (&["--name", "ipc:x"][..], "without `ipc:`"),
        (&["--buffers", "1"], "at least 2"),
        (
            &["--wait-subscribers", "9", "--max-subscribers", "2"],
            "more than",
        ),
        (&["--memory", "dma"], "invalid value"),
    ] {
        let out = framekeep(&domain, &[&["serve", "synthetic"], args].concat())
            .output()
            .expect("run framekeep serve");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// `framekeep serve /dev/video0` against a real V4L2 driver (the kernel's vivid, in a qemu
/// VM: `crates/framekeep-v4l/vm/`), with two subscribers in the same VM
/// (`tests/vm/serve-vivid.sh`): vivid's queue takes user memory, so the driver captures
/// straight into the service's shared-memory samples (no copy); `view ipc:vm/cam`
/// accounts for every frame; `snap`'s PNGs show vivid's 100% red pattern. A second vivid
/// instance refuses user memory: one copy per frame there, counted. Every process ends
/// with a clean leak check. Skips, saying why, only where the VM cannot run at all.
#[test]
fn serve_a_real_v4l2_camera_in_a_vivid_vm() {
    const FRAMES: u64 = 60;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vm/serve-vivid.sh");
    // OpenCV and its libraries go into the VM's initramfs: give it room.
    let vm = VividVm::new(script)
        .at_own_path(BIN)
        .args([BIN, &FRAMES.to_string()])
        .timeout(Duration::from_secs(500))
        .memory_mib(3072)
        // /dev/video0 vmalloc (takes user memory), /dev/video1 dma-contig (refuses it).
        .vivid_options("n_devs=2 node_types=0x1,0x1 allocators=0,1");
    let out = match vm.run() {
        Ok(VmRun::Ran(out)) => out,
        Ok(VmRun::Unavailable(why)) => {
            eprintln!("SKIPPED serve in the vivid VM: {why}");
            return;
        }
        Err(e) => panic!("cannot run bash: {e}"),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The VM's console ends its lines with CR LF.
    let text = format!("{stdout}\n{stderr}").replace('\r', "");
    assert!(out.status.success(), "exit {:?}:\n{text}", out.status);
    let section = |name: &str| -> String {
        let start = text
            .find(&format!("=== {name}\n"))
            .unwrap_or_else(|| panic!("no {name} section:\n{text}"));
        let rest = &text[start + name.len() + 5..];
        rest[..rest.find("\n===").unwrap_or(rest.len())].to_string()
    };
    let (serve, view, snap) = (section("serve"), section("view"), section("snap"));
    assert!(
        serve.contains("camera /dev/video0: YUYV 640x480") && serve.contains(", userptr"),
        "user memory on the real driver:\n{serve}"
    );
    assert!(
        serve.contains("zero copy: the driver fills shared memory"),
        "{serve}"
    );
    let stats = counts(&serve, "stats: ");
    assert_eq!(stats["published"], FRAMES, "{serve}");
    assert_eq!(
        (stats["copied"], stats["zero-copy"]),
        (0, FRAMES),
        "every frame sent as the driver filled it:\n{serve}"
    );
    let c = counts(&view, "service ipc:vm/cam: ");
    assert_eq!(
        c["first at send"] + c["received"] + c["dropped"],
        FRAMES,
        "every frame received or dropped:\n{view}"
    );
    assert_eq!(counts(&snap, "stats: ")["frames"], 3, "{snap}");
    // Where the driver refuses user memory: one copy per frame (the stream's, into the
    // loans), counted, none zero-copy.
    let copy = section("copy");
    assert!(
        copy.contains("camera /dev/video1: YUYV 640x480")
            && copy.contains(", mmap copied into user buffers"),
        "{copy}"
    );
    let c = counts(&copy, "stats: ");
    assert_eq!(
        (c["published"], c["copied"], c["zero-copy"]),
        (10, 10, 0),
        "{copy}"
    );
    for (name, out) in [
        ("serve", &serve),
        ("view", &view),
        ("snap", &snap),
        ("copy", &copy),
    ] {
        assert!(out.contains(CLEAN), "{name}:\n{out}");
    }

    // The first PNG: 640x480, every pixel vivid's 100% red (BT.601 limited range
    // Y 82 U 90 V 240, converted by OpenCV: within a few steps of pure red).
    let png = &text[text.find("=== png ").expect("a PNG was written")..];
    let b64: String = png
        .lines()
        .skip(1)
        .take_while(|l| !l.starts_with("=== end png"))
        .collect();
    let img = image::load_from_memory(&base64_decode(&b64))
        .expect("a PNG")
        .to_rgb8();
    assert_eq!(img.dimensions(), (640, 480));
    let bad = img
        .pixels()
        .filter(|p| {
            let [r, g, b] = p.0;
            r < 235 || g > 20 || b > 20
        })
        .count();
    assert_eq!(
        bad,
        0,
        "pixels not vivid's red (first {:?})",
        img.get_pixel(0, 0)
    );
}

/// Standard base64 (what busybox's `base64` writes), whitespace ignored.
fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
    {
        let v = ALPHABET
            .iter()
            .position(|&a| a == c)
            .unwrap_or_else(|| panic!("not base64: {:?}", c as char)) as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}
