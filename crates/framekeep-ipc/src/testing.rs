//! Test kits (feature `testing`): domains that remove their shared-memory files, and
//! child processes driven line by line.
//!
//! A test that shares memory between processes must leave nothing behind, also when it
//! fails: a [`TestDomain`] is a domain of its own (so parallel tests never see each
//! other) whose files in `/dev/shm` and whose directory are removed when it drops; a
//! [`Peer`] is a child process that is killed when it drops. Declare the peers after the
//! domain, so that they are gone (dropped first) before its files are removed.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::domain::Domain;
use crate::error::IpcError;

/// A [`Domain`] of its own for one test, removed (every `/dev/shm` file with its prefix,
/// and its directory) when dropped.
pub struct TestDomain {
    domain: Domain,
    name: String,
}

impl TestDomain {
    /// A new domain named after `tag`, this process and a counter (unique on the
    /// machine).
    ///
    /// The first one of a process also removes what test domains of dead processes left
    /// (a test run that was killed could not remove its files).
    pub fn new(tag: &str) -> Result<TestDomain, IpcError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        static SWEEP: std::sync::Once = std::sync::Once::new();
        SWEEP.call_once(remove_dead_test_domains);
        let unique = format!(
            "t{}-{}-",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        // The tag is only for people reading /dev/shm: it gets what the name's
        // length limit leaves.
        let room = Domain::max_name_len().saturating_sub(unique.len());
        let tag: String = tag
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(room)
            .collect();
        let name = format!("{unique}{tag}");
        Ok(TestDomain {
            domain: Domain::named(&name)?,
            name,
        })
    }

    /// The name to give [`Domain::named`] in a child process.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The domain.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// The files of this domain: in `/dev/shm` and under its directory.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        if let Ok(dir) = std::fs::read_dir("/dev/shm") {
            for entry in dir.flatten() {
                if entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with(self.domain.prefix())
                {
                    files.push(entry.path());
                }
            }
        }
        walk(self.domain.root(), &mut files);
        files.sort();
        files
    }

    /// The shared-memory files of this domain.
    pub fn shm_files(&self) -> Vec<PathBuf> {
        self.files()
            .into_iter()
            .filter(|p| p.starts_with("/dev/shm"))
            .collect()
    }

    /// Removes every file of this domain; only safe once no process uses it any more.
    /// Returns how many shared-memory files there were.
    pub fn remove_files(&self) -> usize {
        let shm = self.shm_files();
        for file in &shm {
            let _ = std::fs::remove_file(file);
        }
        let _ = std::fs::remove_dir_all(self.domain.root());
        shm.len()
    }
}

impl Deref for TestDomain {
    type Target = Domain;
    fn deref(&self) -> &Domain {
        &self.domain
    }
}

impl Drop for TestDomain {
    fn drop(&mut self) {
        self.remove_files();
    }
}

/// The pid in a test domain's name (`t<pid>-<n>-<tag>`), if `name` is one.
fn test_domain_pid(name: &str) -> Option<libc::pid_t> {
    let rest = name.strip_prefix('t')?;
    rest.split('-').next()?.parse().ok()
}

/// Whether process `pid` is gone.
fn is_dead(pid: libc::pid_t) -> bool {
    // SAFETY: kill with signal 0 only checks that the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
}

/// Removes the files of test domains whose process is gone.
fn remove_dead_test_domains() {
    let Ok(probe) = Domain::named("probe") else {
        return;
    };
    let base = probe.root().parent().map(Path::to_path_buf);
    let _ = std::fs::remove_dir_all(probe.root());
    if let Ok(dir) = std::fs::read_dir("/dev/shm") {
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let dead = name
                .strip_prefix("fk_")
                .and_then(test_domain_pid)
                .is_some_and(is_dead);
            if dead {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    if let Some(dir) = base.and_then(|b| std::fs::read_dir(b).ok()) {
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if test_domain_pid(&name).is_some_and(is_dead) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// Makes the calling process receive SIGKILL when its parent dies, so that children of a
/// test (or benchmark) that was killed do not run on.
pub fn die_with_parent() {
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes the signal number; no pointers.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
}

/// One line a [`Peer`] printed, and when the test read it.
#[derive(Debug, Clone)]
pub struct Line {
    /// When it was read.
    pub at: Instant,
    /// The line, without its newline.
    pub text: String,
}

impl Line {
    /// Its first word.
    pub fn kind(&self) -> &str {
        self.text.split_whitespace().next().unwrap_or("")
    }

    /// Its `key=value` words.
    pub fn fields(&self) -> HashMap<&str, &str> {
        fields(&self.text)
    }

    /// Field `key` parsed as a number.
    pub fn num(&self, key: &str) -> Option<f64> {
        self.fields().get(key)?.parse().ok()
    }
}

/// The `key=value` words of a line.
pub fn fields(line: &str) -> HashMap<&str, &str> {
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .collect()
}

/// A child process whose stdout is read line by line on a thread, whose stdin, when
/// closed ([`Peer::stop`]), asks it to finish, and which is killed if still running when
/// dropped.
pub struct Peer {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Line>,
    seen: Vec<Line>,
}

impl Peer {
    /// Starts `program` with `args`; `name` labels its lines in panics.
    pub fn spawn(name: &str, program: &Path, args: &[String]) -> std::io::Result<Peer> {
        Peer::spawn_with(name, Command::new(program).args(args))
    }

    /// Starts `command` (stdin and stdout are taken over; stderr is inherited).
    pub fn spawn_with(name: &str, command: &mut Command) -> std::io::Result<Peer> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = channel();
        std::thread::Builder::new()
            .name(format!("peer {name}"))
            .spawn(move || {
                for text in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if tx
                        .send(Line {
                            at: Instant::now(),
                            text,
                        })
                        .is_err()
                    {
                        break;
                    }
                }
            })?;
        Ok(Peer {
            name: name.to_string(),
            stdin: child.stdin.take(),
            child,
            lines,
            seen: Vec::new(),
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `timeout` for a line whose first word is `kind` (earlier lines are
    /// kept, see [`Peer::lines`]).
    pub fn wait_for(&mut self, kind: &str, timeout: Duration) -> Option<Line> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.kind() == kind {
                        return Some(line);
                    }
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    return None
                }
            }
        }
    }

    /// Like [`Peer::wait_for`], panicking with the lines so far when no such line comes.
    pub fn expect(&mut self, kind: &str, timeout: Duration) -> Line {
        match self.wait_for(kind, timeout) {
            Some(line) => line,
            None => {
                let transcript = self.transcript();
                panic!(
                    "{}: no {kind:?} line within {timeout:?}; its lines:\n{transcript}",
                    self.name
                )
            }
        }
    }

    /// Every line read so far.
    pub fn lines(&mut self) -> &[Line] {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        &self.seen
    }

    /// The lines read so far, one per line, for failure messages.
    pub fn transcript(&mut self) -> String {
        self.lines()
            .iter()
            .map(|l| format!("  {}", l.text))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Writes a command line to its stdin.
    pub fn send(&mut self, line: &str) -> std::io::Result<()> {
        match self.stdin.as_mut() {
            Some(stdin) => {
                writeln!(stdin, "{line}")?;
                stdin.flush()
            }
            None => Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe)),
        }
    }

    /// Closes its stdin (asking it to finish) and waits up to `timeout` for it to exit;
    /// kills it if it does not. Reads the rest of its output.
    pub fn stop(&mut self, timeout: Duration) -> Option<ExitStatus> {
        drop(self.stdin.take());
        let deadline = Instant::now() + timeout;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => {
                    self.kill();
                    break None;
                }
            }
        };
        // The reader thread ends with the pipe; collect what it read.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.seen.push(line);
        }
        status
    }

    /// SIGKILL, and reaps it.
    pub fn kill(&mut self) {
        // SAFETY: kill(2) on our own child's pid (not reaped yet, so not reused).
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_domain_removes_its_files() {
        let domain = TestDomain::new("kit").unwrap();
        let shm = PathBuf::from(format!("/dev/shm/{}probe", domain.prefix()));
        std::fs::write(&shm, b"x").unwrap();
        std::fs::write(domain.root().join("probe"), b"x").unwrap();
        assert_eq!(domain.files().len(), 2);
        let root = domain.root().to_path_buf();
        drop(domain);
        assert!(!shm.exists());
        assert!(!root.exists());
    }

    #[test]
    fn lines_split_into_fields() {
        let line = Line {
            at: Instant::now(),
            text: "FRAME seq=3 lat_us=12.5 name=x".into(),
        };
        assert_eq!(line.kind(), "FRAME");
        assert_eq!(line.num("seq"), Some(3.0));
        assert_eq!(line.fields()["name"], "x");
        assert_eq!(line.num("missing"), None);
    }
}
