//! Ctrl-C delivered to a child process running the `synthetic_pipeline`
//! example: it must shut down cleanly within a bound and report zero leaks.
//!
//! The example binary is looked up next to this test binary
//! (`<target>/<profile>/examples/synthetic_pipeline`, which `cargo test`
//! builds along with the tests). Under cargo the test first runs `cargo
//! build --example synthetic_pipeline` with its own features and profile: a
//! no-op when it is current, and it keeps `cargo test --test ctrlc_child`
//! from running a stale binary.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const START_LIMIT: Duration = Duration::from_secs(60);
const EXIT_LIMIT: Duration = Duration::from_secs(10);

fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // <target>/<profile>/deps/<test> -> <target>/<profile>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("profile dir")
        .to_path_buf();
    let binary = profile_dir.join("examples").join("synthetic_pipeline");
    // Under cargo, make sure the example is built and current, with this
    // test's own features (a no-op when `cargo test` already built it).
    if let Ok(cargo) = std::env::var("CARGO") {
        let mut build = Command::new(cargo);
        build
            .args([
                "build",
                "--example",
                "synthetic_pipeline",
                "--no-default-features",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        let features: Vec<&str> = [("cv", cfg!(feature = "cv")), ("v4l", cfg!(feature = "v4l"))]
            .into_iter()
            .filter_map(|(name, on)| on.then_some(name))
            .collect();
        if !features.is_empty() {
            build.args(["--features", &features.join(",")]);
        }
        if profile_dir.file_name().is_some_and(|p| p == "release") {
            build.arg("--release");
        }
        if let Some(target) = profile_dir.parent() {
            build.env("CARGO_TARGET_DIR", target);
        }
        let status = build.status().expect("run cargo build --example");
        assert!(status.success(), "building the example failed");
    }
    assert!(binary.exists(), "no example binary at {}", binary.display());
    binary
}

/// Waits for the child to exit, at most `limit`; kills it on timeout.
fn wait_bounded(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

fn run_and_interrupt(args: &[&str], run_for: Duration) {
    let mut child = Command::new(example_binary())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn synthetic_pipeline");
    let stdout = child.stdout.take().expect("stdout");
    let (lines_tx, lines_rx) = crossbeam_channel::unbounded::<String>();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut output = Vec::new();
    let deadline = Instant::now() + START_LIMIT;
    loop {
        match lines_rx.recv_deadline(deadline) {
            Ok(line) => {
                let ready = line == "running";
                output.push(line);
                if ready {
                    break;
                }
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the example never said 'running': {output:?}");
            }
        }
    }
    thread::sleep(run_for);
    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    let interrupted_at = Instant::now();
    // SAFETY: kill(2) with a pid we spawned and still own (not yet waited
    // for, so it cannot have been reused) and a valid signal number.
    let rc = unsafe { libc::kill(pid, libc::SIGINT) };
    assert_eq!(rc, 0, "kill(SIGINT) failed");
    let status = wait_bounded(&mut child, EXIT_LIMIT);
    let took = interrupted_at.elapsed();
    reader.join().expect("reader");
    output.extend(lines_rx.try_iter());
    let text = output.join("\n");
    let status = status.unwrap_or_else(|| panic!("no exit within {EXIT_LIMIT:?}:\n{text}"));
    assert!(status.success(), "exit {status}:\n{text}");
    assert!(text.contains("ledger: 0 live"), "leaks reported:\n{text}");
    assert!(
        text.contains("cancelled (interrupted)"),
        "not interrupted:\n{text}"
    );
    assert!(text.contains("stats: "), "no stats line:\n{text}");
    assert!(took < EXIT_LIMIT, "took {took:?}");
}

#[test]
fn ctrl_c_shuts_the_paced_pipeline_down_cleanly() {
    run_and_interrupt(
        &["--size", "640x480", "--fps", "60"],
        Duration::from_millis(300),
    );
}

#[test]
fn ctrl_c_shuts_the_full_speed_pipeline_down_cleanly() {
    run_and_interrupt(
        &["--size", "320x240", "--fps", "0", "--format", "YUYV"],
        Duration::from_millis(300),
    );
}
