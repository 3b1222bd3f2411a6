//! Running an example binary as a child process: find (and under cargo,
//! build) it, wait for a line on its stdout, interrupt it, wait for its exit
//! with a bound. Shared by the Ctrl-C, main-job and display tests.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The example `name` next to this test binary
/// (`<target>/<profile>/examples/<name>`). `cargo test` builds examples only as
/// test harnesses, so `scripts/test.sh` runs `cargo build --workspace
/// --examples` first and sets `FRAMEKEEP_EXAMPLES_BUILT`. Without that
/// variable (someone ran `cargo test --test X` alone) this runs `cargo build
/// --example <name>` with this test's features and profile, so that a stale or
/// missing binary is never run.
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // <target>/<profile>/deps/<test> -> <target>/<profile>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("profile dir")
        .to_path_buf();
    let binary = profile_dir.join("examples").join(name);
    let prebuilt = std::env::var_os("FRAMEKEEP_EXAMPLES_BUILT").is_some_and(|v| !v.is_empty());
    if let (false, Ok(cargo)) = (prebuilt, std::env::var("CARGO")) {
        let mut build = Command::new(cargo);
        build
            .args([
                "build",
                "--quiet",
                "--example",
                name,
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
        assert!(status.success(), "building the example {name} failed");
    }
    assert!(binary.exists(), "no example binary at {}", binary.display());
    binary
}

/// Waits for `child` to exit until `deadline`; then kills it, reaps it and
/// returns `None`.
pub fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// A running child whose stdout lines are collected on a reader thread.
pub struct Running {
    child: Child,
    lines: crossbeam_channel::Receiver<String>,
    reader: Option<thread::JoinHandle<()>>,
    /// Every line read so far.
    pub output: Vec<String>,
}

impl Running {
    /// Starts `cmd` with stdout piped.
    pub fn start(mut cmd: Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = crossbeam_channel::unbounded::<String>();
        let reader = thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Running {
            child,
            lines,
            reader: Some(reader),
            output: Vec::new(),
        }
    }

    /// Waits until a line satisfying `ready` appears, at most `limit`; kills
    /// the child and panics (with its output) otherwise.
    pub fn wait_for_line(&mut self, limit: Duration, ready: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            match self.lines.recv_deadline(deadline) {
                Ok(line) => {
                    let done = ready(&line);
                    self.output.push(line);
                    if done {
                        return;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    panic!(
                        "the child never printed the line awaited: {:?}",
                        self.output
                    );
                }
            }
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGINT (Ctrl-C).
    pub fn interrupt(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid");
        // SAFETY: kill(2) with a pid we spawned and still own (not yet waited
        // for, so it cannot have been reused) and a valid signal number.
        let rc = unsafe { libc::kill(pid, libc::SIGINT) };
        assert_eq!(rc, 0, "kill(SIGINT) failed");
    }

    /// Waits for the exit, at most `limit` (then kills it and returns `None`),
    /// and collects the rest of the output. Returns the status and the output.
    pub fn finish(mut self, limit: Duration) -> (Option<ExitStatus>, String) {
        let status = wait_until(&mut self.child, Instant::now() + limit);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.output.extend(self.lines.try_iter());
        (status, self.output.join("\n"))
    }
}
