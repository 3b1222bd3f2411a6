//! Running a program against the kernel's `vivid` camera in a qemu VM, for tests.
//!
//! The harness itself is `vm/vivid-vm.sh` in this crate's source tree (see
//! `vm/README.md`): it boots a Debian kernel with `vivid` loaded, copies the program and
//! its shared libraries into an initramfs and runs it with `/dev/video0` a real V4L2
//! capture node. This is the one way the test suites (this crate's conformance cases,
//! the main job, calib-mono) call it, so they agree on how a VM that cannot run here is
//! told apart from a failure. It needs the source tree: it is test support, not
//! something a program shipped elsewhere can use.

use std::ffi::OsStr;
use std::process::{Command, Output};

/// What [`run`] (or [`run_with_vivid_options`]) got.
#[derive(Debug)]
pub enum VmRun {
    /// The VM ran; the program's exit status is the output's status.
    Ran(Output),
    /// The VM cannot run on this machine (qemu or its helpers missing, no kernel
    /// package): the script's reason. Tests skip, saying so.
    Unavailable(String),
}

/// Runs `program args` inside the VM, giving the whole run `timeout_s` seconds and the
/// VM `mem_mib` MiB of memory (`None`: the script's default, 1024; programs linking
/// OpenCV need more, since their libraries go into the initramfs). vivid is loaded with
/// the script's default options (`n_devs=1 node_types=0x1`: one single-planar capture node,
/// `/dev/video0`).
pub fn run(
    program: impl AsRef<OsStr>,
    args: &[&str],
    timeout_s: u32,
    mem_mib: Option<u32>,
) -> std::io::Result<VmRun> {
    run_with_vivid_options(program, args, timeout_s, mem_mib, None)
}

/// [`run`] with vivid loaded with `vivid_options` (the module's parameters, e.g.
/// `"n_devs=2 node_types=0x1,0x1 multiplanar=1,2"` for a single-planar `/dev/video0` and a
/// multi-planar-only `/dev/video1`; `None`: the script's default).
pub fn run_with_vivid_options(
    program: impl AsRef<OsStr>,
    args: &[&str],
    timeout_s: u32,
    mem_mib: Option<u32>,
    vivid_options: Option<&str>,
) -> std::io::Result<VmRun> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/vm/vivid-vm.sh");
    let mut cmd = Command::new("bash");
    cmd.arg(script);
    if let Some(opts) = vivid_options {
        cmd.args(["-o", opts]);
    }
    cmd.args(["-t", &timeout_s.to_string(), "--"])
        .arg(program)
        .args(args);
    if let Some(mib) = mem_mib {
        cmd.env("FRAMEKEEP_VIVID_MEM", mib.to_string());
    }
    let out = cmd.output()?;
    // Exit status 77: the script could not start a VM here at all (see vm/README.md).
    if out.status.code() == Some(77) {
        return Ok(VmRun::Unavailable(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(VmRun::Ran(out))
}
