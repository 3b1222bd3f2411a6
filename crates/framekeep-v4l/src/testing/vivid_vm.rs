//! Running a program against the kernel's `vivid` camera in a qemu VM, for tests.
//!
//! The harness itself is `vm/vivid-vm.sh` in this crate's source tree (see
//! `vm/README.md`): it boots a Debian kernel with `vivid` loaded, copies the program and
//! its shared libraries into an initramfs and runs it with `/dev/video0` a real V4L2
//! capture node. [`VividVm`] is the one way the test suites (this crate's conformance
//! cases, the main job, calib-mono) call it, so they agree on how a VM that cannot run
//! here is told apart from a failure. It needs the source tree: it is test support, not
//! something a program shipped elsewhere can use.

use std::ffi::{OsStr, OsString};
use std::process::{Command, Output};
use std::time::Duration;

/// The harness script, in this crate's source tree.
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/vm/vivid-vm.sh");

/// The script's exit status when it cannot start a VM here at all (see `vm/README.md`).
const UNAVAILABLE: i32 = 77;

/// What [`VividVm::run`] got.
#[derive(Debug)]
pub enum VmRun {
    /// The VM ran; the program's exit status is the output's status.
    Ran(Output),
    /// The VM cannot run on this machine (qemu or its helpers missing, no kernel
    /// package): the script's reason. Tests skip, saying so.
    Unavailable(String),
}

/// A program to run inside the vivid VM, builder style.
///
/// By default the whole run may take the script's 240 s, the VM has its 1024 MiB of
/// memory, and vivid is loaded with `n_devs=1 node_types=0x1` (one single-planar capture
/// node, `/dev/video0`).
///
/// ```no_run
/// use std::time::Duration;
/// use framekeep_v4l::testing::{VividVm, VmRun};
///
/// let run = VividVm::new("target/debug/my-capture-test")
///     .args(["--device", "/dev/video0"])
///     .timeout(Duration::from_secs(400))
///     .memory_mib(3072)
///     .run()?;
/// match run {
///     VmRun::Ran(out) => assert!(out.status.success()),
///     VmRun::Unavailable(why) => eprintln!("SKIPPED: {why}"),
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct VividVm {
    program: OsString,
    args: Vec<OsString>,
    timeout: Option<Duration>,
    memory_mib: Option<u32>,
    vivid_options: Option<String>,
    own_path: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
}

impl VividVm {
    /// `program` (a host path; it and its shared libraries are copied into the VM), with
    /// no arguments.
    pub fn new(program: impl AsRef<OsStr>) -> VividVm {
        VividVm {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            timeout: None,
            memory_mib: None,
            vivid_options: None,
            own_path: Vec::new(),
            env: Vec::new(),
        }
    }

    /// Adds arguments for the program.
    pub fn args<I, S>(mut self, args: I) -> VividVm
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// The longest the whole run (boot, program, power-off) may take, in whole seconds
    /// (rounded up); past it the run ends with exit status 124.
    pub fn timeout(mut self, timeout: Duration) -> VividVm {
        self.timeout = Some(timeout);
        self
    }

    /// The VM's memory. Programs linking OpenCV need more than the default 1024 MiB,
    /// since their libraries go into the initramfs.
    pub fn memory_mib(mut self, mib: u32) -> VividVm {
        self.memory_mib = Some(mib);
        self
    }

    /// Loads vivid with `options`, its module parameters, instead of the default: e.g.
    /// `"n_devs=2 node_types=0x1,0x1 multiplanar=1,2"` for a single-planar `/dev/video0`
    /// and a multi-planar-only `/dev/video1`.
    pub fn vivid_options(mut self, options: impl Into<String>) -> VividVm {
        self.vivid_options = Some(options.into());
        self
    }

    /// Also copies `path` (a host program the main one runs, e.g. the binary a script
    /// starts) into the VM at its own path, with its shared libraries (the script's `-l`).
    pub fn at_own_path(mut self, path: impl AsRef<OsStr>) -> VividVm {
        self.own_path.push(path.as_ref().to_owned());
        self
    }

    /// Sets an environment variable of the harness script (its `FRAMEKEEP_VIVID_*`
    /// knobs, see `vm/README.md`), not of the program in the VM.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> VividVm {
        self.env
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// Boots the VM, runs the program and waits for the VM to end. An `Err` only when
    /// `bash` cannot be started.
    pub fn run(&self) -> std::io::Result<VmRun> {
        let mut cmd = Command::new("bash");
        cmd.arg(SCRIPT);
        if let Some(opts) = &self.vivid_options {
            cmd.args(["-o", opts]);
        }
        if let Some(t) = self.timeout {
            let secs = t.as_secs() + u64::from(t.subsec_nanos() > 0);
            cmd.args(["-t", &secs.to_string()]);
        }
        for path in &self.own_path {
            cmd.arg("-l").arg(path);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd.arg("--").arg(&self.program).args(&self.args);
        if let Some(mib) = self.memory_mib {
            cmd.env("FRAMEKEEP_VIVID_MEM", mib.to_string());
        }
        let out = cmd.output()?;
        if out.status.code() == Some(UNAVAILABLE) {
            return Ok(VmRun::Unavailable(
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ));
        }
        Ok(VmRun::Ran(out))
    }
}
