//! `--service`: live input from a framekeep service, with real processes. A publisher
//! process (`calib-synth-publisher`: synthetic chessboard views rendered through a known
//! camera, published with framekeep-ipc) and the real `calib-mono` (and `calib-stereo`)
//! binary subscribing to it: views are collected, written and calibrated into a YAML that
//! OpenCV loads, with the known camera's intrinsics, from BGR, YUYV and gray frames. Then
//! the failures: a publisher killed or closed mid-run, and no publisher at all, are typed
//! errors naming the service with exit status 1, never a hang, and no output file.
//!
//! Every process ends with a zero-leak check: calib-mono's own at exit (status 3 and a
//! report otherwise: status 0 or 1 means it found nothing alive), the publisher's
//! `LEDGER live=0`. Each test has its own framekeep-ipc domain (`TestDomain`), so tests
//! run in parallel and leave no shared-memory files behind. Domain tags stay short: a
//! test domain's name (`t<pid>-<n>-<tag>`) goes into the paths of iceoryx2's event
//! sockets, and from about 24 characters on (uid 0; fewer for longer uids) a subscriber's
//! listener cannot be created (`ListenerCreateError::ResourceCreationFailed`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{files_in, python_cv2, python_image, rel, s, scratch, stderr};
use framekeep_calib::synth::{Camera, StereoRig};
use framekeep_ipc::testing::{Peer, TestDomain};

const MONO: &str = env!("CARGO_BIN_EXE_calib-mono");
const STEREO: &str = env!("CARGO_BIN_EXE_calib-stereo");
const PUBLISHER: &str = env!("CARGO_BIN_EXE_calib-synth-publisher");

/// Generous bound for anything that should take a second (the machine may be loaded).
const PATIENCE: Duration = Duration::from_secs(30);

/// Starts a publisher of synthetic views in `domain` as `service`, and waits until it
/// publishes.
fn publisher(domain: &TestDomain, service: &str, extra: &[&str]) -> Peer {
    let mut args: Vec<String> = ["--domain", domain.name(), "--service", service]
        .iter()
        .map(|a| a.to_string())
        .collect();
    args.extend(extra.iter().map(|a| a.to_string()));
    let mut peer = Peer::spawn(service, Path::new(PUBLISHER), &args).expect("spawn the publisher");
    peer.expect("READY", PATIENCE);
    peer
}

/// Stops a publisher (closes its stdin), checks that it exited cleanly with nothing alive
/// in its ledger, and returns how many frames it published.
fn finish_publisher(peer: &mut Peer) -> u64 {
    let status = peer.stop(PATIENCE);
    let transcript = peer.transcript();
    assert!(
        status.is_some_and(|s| s.success()),
        "publisher did not exit cleanly ({status:?}):\n{transcript}"
    );
    let lines = peer.lines().to_vec();
    let ledger = lines.iter().find(|l| l.kind() == "LEDGER");
    assert_eq!(
        ledger.and_then(|l| l.num("live")),
        Some(0.0),
        "the publisher leaked:\n{transcript}"
    );
    let stats = lines.iter().find(|l| l.kind() == "STATS");
    stats
        .and_then(|l| l.num("published"))
        .unwrap_or_else(|| panic!("no STATS line:\n{transcript}")) as u64
}

/// Starts a calibration tool with `args`, stdout and stderr piped.
fn spawn_tool(bin: &str, args: &[&str]) -> Child {
    Command::new(bin)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the tool")
}

/// Waits for `child` up to `bound` (killing it and failing the test past it); returns its
/// output and how long it ran after `since`.
fn wait_bounded(mut child: Child, since: Instant, bound: Duration) -> (Output, Duration) {
    loop {
        if child.try_wait().expect("poll the tool").is_some() {
            let elapsed = since.elapsed();
            return (child.wait_with_output().expect("collect output"), elapsed);
        }
        if since.elapsed() > bound {
            let _ = child.kill();
            let out = child.wait_with_output().expect("collect output");
            panic!(
                "the tool did not finish within {bound:?} (a hang); stderr:\n{}",
                stderr(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The run must have passed the tool's leak check (exit 3 and a report otherwise) and
/// never panicked.
fn assert_no_leak_or_panic(o: &Output) {
    let err = stderr(o);
    assert_ne!(o.status.code(), Some(3), "leak check failed: {err}");
    assert!(!err.contains("leak check failed"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// PNG views in `dir`.
fn views_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = files_in(dir)
        .into_iter()
        .filter(|n| n.ends_with(".png"))
        .map(|n| dir.join(n))
        .collect();
    v.sort();
    v
}

/// calib-mono `--service` on a publisher of `format` frames: a calibration of the
/// publisher's camera, from views it collected and wrote.
fn calibrates_from_a_service(format: &str) {
    let domain = TestDomain::new(&format!("c-{format}")).unwrap();
    let service = format!("calib/{format}");
    let out = scratch(&format!("service-{format}"));
    let (yml, views) = (out.join("cam.yml"), out.join("views"));
    let mut publisher = publisher(&domain, &service, &["--format", format]);
    let o = wait_bounded(
        spawn_tool(
            MONO,
            &[
                "--service",
                &service,
                "--domain",
                domain.name(),
                "-b",
                "9x6",
                "-s",
                "0.025",
                "--units",
                "m",
                "--max-frames",
                "150",
                "--views-dir",
                s(&views),
                "-o",
                s(&yml),
            ],
        ),
        Instant::now(),
        Duration::from_secs(120),
    )
    .0;
    assert_no_leak_or_panic(&o);
    assert!(o.status.success(), "calib-mono failed: {}", stderr(&o));
    let summary = String::from_utf8_lossy(&o.stdout);
    assert!(summary.contains("collected "), "{summary}");
    assert!(summary.contains("RMS reprojection error"), "{summary}");
    // The publisher saw its subscriber, and publishes on after it left.
    publisher.expect("RECEIVING", PATIENCE);
    let published = finish_publisher(&mut publisher);
    assert!(published > 0);

    // The views kept are the publisher's frames as BGR images of its size.
    let kept = views_in(&views);
    assert!(kept.len() >= 4, "only {} views kept: {summary}", kept.len());
    assert_eq!(
        python_image(&kept[0], "i.shape"),
        "(480, 640, 3)",
        "{}",
        kept[0].display()
    );

    // The YAML loads in OpenCV and holds the publisher's camera.
    let cam = Camera::synthetic(640, 480);
    let got = python_cv2(
        &yml,
        "fs.getNode('image_width').real(), fs.getNode('image_height').real(), fs.getNode('nframes').real(), fs.getNode('camera_matrix').mat()[0,0], fs.getNode('camera_matrix').mat()[1,1], fs.getNode('camera_matrix').mat()[0,2], fs.getNode('camera_matrix').mat()[1,2], fs.getNode('avg_reprojection_error').real()",
    );
    let v: Vec<f64> = got.split(';').map(|x| x.trim().parse().unwrap()).collect();
    assert_eq!(&v[..2], &[640.0, 480.0], "{got}");
    assert_eq!(v[2], kept.len() as f64, "every kept view calibrated: {got}");
    for (got, want, what) in [
        (v[3], cam.fx, "fx"),
        (v[4], cam.fy, "fy"),
        (v[5], cam.cx, "cx"),
        (v[6], cam.cy, "cy"),
    ] {
        assert!(rel(got, want) < 0.01, "{what} {got} vs {want} ({format})");
    }
    assert!(v[7] > 0.0 && v[7] < 0.5, "rms {}", v[7]);
    drop(publisher);
    std::fs::remove_dir_all(&out).unwrap();
    assert!(
        domain
            .shm_files()
            .iter()
            .all(|f| f.to_string_lossy().ends_with("global_mgmt")),
        "shared memory left: {:?}",
        domain.shm_files()
    );
}

#[test]
fn calib_mono_calibrates_from_a_bgr_service() {
    calibrates_from_a_service("BGR3");
}

#[test]
fn calib_mono_calibrates_from_a_yuyv_service() {
    calibrates_from_a_service("YUYV");
}

#[test]
fn calib_mono_calibrates_from_a_gray_service() {
    calibrates_from_a_service("GREY");
}

/// Starts calib-mono on a publisher that always shows one pose (so collection never
/// completes: the publisher's departure ends it), waits until frames flow, lets `depart`
/// end the publisher, and returns calib-mono's output, how long it took to exit after
/// the departure, and the run's scratch directory.
fn publisher_departs(tag: &str, depart: impl FnOnce(&mut Peer)) -> (Output, Duration, PathBuf) {
    let domain = TestDomain::new(tag).unwrap();
    let service = format!("calib/{tag}");
    let out = scratch(tag);
    let (yml, views) = (out.join("cam.yml"), out.join("views"));
    let mut publisher = publisher(&domain, &service, &["--poses", "1"]);
    let tool = spawn_tool(
        MONO,
        &[
            "--service",
            &service,
            "--domain",
            domain.name(),
            "-b",
            "9x6",
            "--views-dir",
            s(&views),
            "-o",
            s(&yml),
        ],
    );
    // Frames flow (the subscriber received some); give it time to write its one view.
    publisher.expect("RECEIVING", PATIENCE);
    let deadline = Instant::now() + PATIENCE;
    while views_in(&views).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let departed = Instant::now();
    depart(&mut publisher);
    let (o, after) = wait_bounded(tool, departed, Duration::from_secs(20));
    eprintln!("{tag}: calib-mono exited {after:?} after the publisher's departure");
    assert_no_leak_or_panic(&o);
    assert!(!yml.exists(), "no output on failure");
    assert_eq!(
        views_in(&views).len(),
        1,
        "the view written before stays (one pose: one view)"
    );
    drop(publisher);
    drop(domain);
    (o, after, out)
}

#[test]
fn a_killed_publisher_ends_calib_mono_with_a_typed_error_naming_the_service() {
    let (o, after, out) = publisher_departs("c-kill", |p| p.kill());
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "calib-mono: error: service calib/c-kill: its publisher is gone (its process died)"
        ),
        "{err}"
    );
    // Noticed within the subscriber's liveness interval (250 ms), with room for a loaded
    // machine; never a hang.
    assert!(after < Duration::from_secs(5), "took {after:?}");
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn a_closed_publisher_ends_calib_mono_with_a_typed_error_naming_the_service() {
    let (o, after, out) = publisher_departs("c-close", |p| {
        // A clean close, with its own leak check.
        finish_publisher(p);
    });
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("calib-mono: error: service calib/c-close: its publisher is gone (it closed)"),
        "{err}"
    );
    assert!(after < Duration::from_secs(5), "took {after:?}");
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn no_publisher_is_an_error_after_the_first_frame_wait_and_bad_arguments_are_refused() {
    let domain = TestDomain::new("c-none").unwrap();
    let out = scratch("service-none");
    let yml = out.join("cam.yml");
    let started = Instant::now();
    let (o, took) = wait_bounded(
        spawn_tool(
            MONO,
            &[
                "--service",
                "calib/nobody",
                "--domain",
                domain.name(),
                "-b",
                "9x6",
                "-o",
                s(&yml),
            ],
        ),
        started,
        Duration::from_secs(30),
    );
    assert_no_leak_or_panic(&o);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("calib-mono: error: service calib/nobody: no frame within 5.0 s"),
        "{err}"
    );
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(15),
        "{took:?}"
    );
    assert!(!yml.exists());

    // A domain name framekeep-ipc cannot use: an argument error naming it.
    let o = common::run(
        MONO,
        &[
            "--service",
            "x",
            "--domain",
            "no/slash",
            "-b",
            "9x6",
            "-o",
            s(&yml),
        ],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("--domain \"no/slash\""), "{err}");
    // Syntax: --domain needs --service; --service and --device exclude each other.
    for args in [
        &["--domain", "d", "-b", "9x6", "img"][..],
        &["--service", "x", "--device", "/dev/video0", "-b", "9x6"][..],
        &["--left-service", "x", "-b", "9x6"][..],
    ] {
        let bin = if args[0] == "--left-service" {
            STEREO
        } else {
            MONO
        };
        let o = common::run(bin, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
    // calib-stereo names the service that has no publisher.
    let o = wait_bounded(
        spawn_tool(
            STEREO,
            &[
                "--left-service",
                "rig/left",
                "--right-service",
                "rig/right",
                "--domain",
                domain.name(),
                "-b",
                "9x6",
                "-o",
                s(&out.join("rig.yml")),
            ],
        ),
        Instant::now(),
        Duration::from_secs(30),
    )
    .0;
    assert_no_leak_or_panic(&o);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("calib-stereo: error: service rig/left: no frame within 5.0 s"),
        "{err}"
    );
    // Nothing written, not even the views directories: a failed run that kept no view
    // removes the ones it made.
    assert_eq!(files_in(&out), Vec::<String>::new());
    std::fs::remove_dir_all(&out).unwrap();
}

/// calib-stereo with two services, one per camera of a rig (two publisher processes
/// showing the same pose at the same time): the rig's baseline comes back.
#[test]
fn calib_stereo_calibrates_a_rig_from_two_services() {
    let domain = TestDomain::new("c-rig").unwrap();
    let out = scratch("service-rig");
    let (yml, views) = (out.join("rig.yml"), out.join("views"));
    let common_args = [
        "--fps",
        "50",
        "--hold-ms",
        "150",
        "--moving-ms",
        "50",
        "--poses",
        "14",
        "--seed",
        "5",
    ];
    let mut left = publisher(
        &domain,
        "rig/left",
        &[&common_args[..], &["--rig", "left", "--format", "YUYV"]].concat(),
    );
    let mut right = publisher(
        &domain,
        "rig/right",
        &[&common_args[..], &["--rig", "right", "--format", "BGR3"]].concat(),
    );
    let o = wait_bounded(
        spawn_tool(
            STEREO,
            &[
                "--left-service",
                "rig/left",
                "--right-service",
                "rig/right",
                "--domain",
                domain.name(),
                "-b",
                "9x6",
                "-s",
                "0.025",
                "--units",
                "m",
                "--max-frames",
                "200",
                "--views-dir",
                s(&views),
                "-o",
                s(&yml),
            ],
        ),
        Instant::now(),
        Duration::from_secs(120),
    )
    .0;
    assert_no_leak_or_panic(&o);
    assert!(o.status.success(), "calib-stereo failed: {}", stderr(&o));
    finish_publisher(&mut left);
    finish_publisher(&mut right);
    let pairs = views_in(&views).len() / 2;
    assert!(pairs >= 4, "{pairs} pairs kept");
    let rig = StereoRig::synthetic(640, 480, 0.12);
    let got = python_cv2(
        &yml,
        "fs.getNode('baseline').real(), fs.getNode('rms').real()",
    );
    let v: Vec<f64> = got.split(';').map(|x| x.trim().parse().unwrap()).collect();
    assert!(
        rel(v[0], rig.baseline()) < 0.02,
        "baseline {} vs {}",
        v[0],
        rig.baseline()
    );
    assert!(v[1] < 1.0, "rms {}", v[1]);
    drop((left, right));
    std::fs::remove_dir_all(&out).unwrap();
}

/// Ctrl-C while collecting from a service: framekeep's handler (not iceoryx2's) gets
/// SIGINT, the run is cancelled in order and exits 130, leak check passed, no output.
#[test]
fn ctrl_c_while_collecting_from_a_service_exits_130() {
    let domain = TestDomain::new("c-ctrlc").unwrap();
    let service = "calib/ctrlc";
    let out = scratch("service-ctrlc");
    let yml = out.join("cam.yml");
    let mut publisher = publisher(&domain, service, &["--poses", "1"]);
    let tool = spawn_tool(
        MONO,
        &[
            "--service",
            service,
            "--domain",
            domain.name(),
            "-b",
            "9x6",
            "-o",
            s(&yml),
        ],
    );
    publisher.expect("RECEIVING", PATIENCE);
    let interrupted = Instant::now();
    // SAFETY: kill(2) on our own child's pid (not reaped yet, so not reused).
    unsafe { libc::kill(tool.id() as libc::pid_t, libc::SIGINT) };
    let (o, after) = wait_bounded(tool, interrupted, Duration::from_secs(20));
    assert_no_leak_or_panic(&o);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(err.contains("cancelled"), "{err}");
    assert!(after < Duration::from_secs(5), "took {after:?}");
    assert!(!yml.exists());
    // The publisher noticed nothing wrong: it stops cleanly with nothing leaked.
    finish_publisher(&mut publisher);
    drop(publisher);
    std::fs::remove_dir_all(&out).unwrap();
}

/// A blocking service offers no `latest` policy: the live input falls back to taking one
/// frame at a time (`DropNewest(1)`), whether the service exists when it subscribes (the
/// refusal comes from `connect`) or comes up later (it comes from the first receive).
/// In-process: the publisher is a thread of the test.
#[test]
fn a_blocking_service_is_received_one_frame_at_a_time() {
    use framekeep_calib::board::{Board, Pattern};
    use framekeep_calib::live::{collect_views, LiveCamera, LiveOptions, LiveStop};
    use framekeep_calib::select::Selector;
    use framekeep_calib::synth::{random_poses, Renderer};
    use framekeep_core::cancel::CancelToken;
    use framekeep_core::frame::{Frame, FrameLayout, FrameMeta, PixelFormat};
    use framekeep_core::ledger::LeakCheck;
    use framekeep_core::pipeline::Link;
    use framekeep_core::time::monotonic_now;
    use framekeep_ipc::{Delivery, Publisher, PublisherOptions};
    use opencv::prelude::*;

    let check = LeakCheck::new();
    let domain = TestDomain::new("c-block").unwrap();
    let out = scratch("service-blocking");
    let cam = Camera::synthetic(640, 480);
    let board = Board::new(Pattern::Chessboard, 9, 6, 0.025).unwrap();
    let pose = random_poses(&cam, &board, 1, 3).unwrap()[0];
    let gray = Renderer::new(cam, 2)
        .unwrap()
        .render(&board, &pose)
        .unwrap();
    let layout = FrameLayout::packed(PixelFormat::Gray8, 640, 480).unwrap();
    let view = Frame::from_vec(layout, gray.data_bytes().unwrap().to_vec()).unwrap();
    drop(gray);
    for subscribe_first in [false, true] {
        let service = format!("calib/blocking-{subscribe_first}");
        let create = || {
            let options =
                PublisherOptions::new().delivery(Delivery::blocking(Duration::from_millis(50)));
            Publisher::create(&domain, &service, options).unwrap()
        };
        let subscribe = || LiveCamera::subscribe(&domain, &service, PATIENCE).unwrap();
        let (publisher, mut camera) = if subscribe_first {
            let camera = subscribe();
            (create(), camera)
        } else {
            let publisher = create();
            (publisher, subscribe())
        };
        let stop = CancelToken::new();
        let sender = {
            let (publisher, stop, view) = (publisher.clone(), stop.clone(), view.clone());
            std::thread::spawn(move || {
                let mut seq = 0;
                while !stop.is_cancelled() {
                    let mut frame = view.clone();
                    frame.set_meta(FrameMeta {
                        sequence: seq,
                        timestamp: monotonic_now(),
                    });
                    publisher.publish(&frame).unwrap();
                    seq += 1;
                    stop.wait_timeout(Duration::from_millis(20));
                }
            })
        };
        let opts = LiveOptions {
            board,
            views_dir: out.join(format!("views-{subscribe_first}")),
            max_frames: Some(5),
            selector: Selector::default(),
        };
        let got = collect_views(&mut camera, &CancelToken::new(), &opts, |_| {}).unwrap();
        assert_eq!((got.stop, got.progress.frames), (LiveStop::FrameLimit, 5));
        assert_eq!(got.progress.detected, 5, "{:?}", got.progress);
        assert_eq!(got.views.len(), 1, "one pose: one view");
        let policies: Vec<_> = publisher.subscribers().iter().map(|s| s.policy).collect();
        assert_eq!(policies, [Some(Link::DropNewest(1))]);
        camera.close();
        stop.cancel();
        sender.join().unwrap();
        drop(publisher);
    }
    drop(view);
    std::fs::remove_dir_all(&out).unwrap();
    drop(domain);
    check
        .finish_within(Duration::from_secs(2))
        .expect("no frame, Mat or thread left alive");
}

/// A publisher that is alive but slow (a frame every 3 s) is waited for with a warning,
/// not taken for gone: the run ends at `--max-frames`, here with too few views (one pose).
#[test]
fn a_stalled_publisher_is_waited_for_with_a_warning() {
    let domain = TestDomain::new("c-slow").unwrap();
    let service = "calib/slow";
    let out = scratch("service-slow");
    let yml = out.join("cam.yml");
    let mut publisher = publisher(&domain, service, &["--poses", "1", "--fps", "0.33"]);
    let started = Instant::now();
    let (o, took) = wait_bounded(
        spawn_tool(
            MONO,
            &[
                "--service",
                service,
                "--domain",
                domain.name(),
                "-b",
                "9x6",
                "--max-frames",
                "2",
                "-o",
                s(&yml),
            ],
        ),
        started,
        Duration::from_secs(30),
    );
    assert_no_leak_or_panic(&o);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("service calib/slow: no frame for 2.0 s, still waiting"),
        "{err}"
    );
    assert!(err.contains("only 1 usable views"), "{err}");
    assert!(!err.contains("publisher is gone"), "{err}");
    assert!(took > Duration::from_secs(2), "{took:?}");
    assert!(!yml.exists());
    finish_publisher(&mut publisher);
    drop(publisher);
    std::fs::remove_dir_all(&out).unwrap();
}
