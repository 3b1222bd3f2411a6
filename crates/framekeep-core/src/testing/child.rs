//! Running a program as a child process for a process-level test: collect its
//! stdout on a thread, wait for a line, signal it (Ctrl-C, or SIGKILL to crash
//! it on purpose), wait for its exit with a bound.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::kill;
pub use nix::sys::signal::Signal;
use nix::unistd::Pid;

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
        self.signal(Signal::SIGINT);
    }

    /// Sends `signal` (e.g. `SIGKILL` to crash it on purpose). The child is
    /// not reaped before [`finish`](Self::finish), so its pid cannot have
    /// been reused meanwhile.
    pub fn signal(&self, signal: Signal) {
        let pid = i32::try_from(self.child.id()).expect("pid");
        kill(Pid::from_raw(pid), signal).expect("kill");
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
