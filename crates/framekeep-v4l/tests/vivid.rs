//! The conformance cases against the kernel's real `vivid` driver, in a qemu VM.
//!
//! Boots once (`vm/vivid-vm.sh`, 10-20 s with software emulation) and runs every case
//! inside it with the `framekeep-vivid` binary; the kernel package is downloaded once into
//! `~/.cache/framekeep-vivid`. Skips, saying why, only when the VM cannot run here at all
//! (the script's exit status 77: qemu or its helpers missing, no kernel package).

use std::time::Instant;

use framekeep_v4l::conformance::cases;
use framekeep_v4l::vivid_vm::{self, VmRun};

#[test]
fn vivid_conformance_in_a_vm() {
    let bin = env!("CARGO_BIN_EXE_framekeep-vivid");
    let t = Instant::now();
    let out = match vivid_vm::run(bin, &["check", "/dev/video0"], 240, None) {
        Ok(VmRun::Ran(out)) => out,
        Ok(VmRun::Unavailable(why)) => {
            eprintln!("SKIPPED vivid VM test: {why}");
            return;
        }
        Err(e) => panic!("cannot run bash: {e}"),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}\n{stderr}\nVM run took {:?}", t.elapsed());
    let mut failures = Vec::new();
    // Every conformance case, plus the lookup check the binary runs first.
    let names: Vec<&str> = cases()
        .iter()
        .map(|c| c.name)
        .chain(["open_by_name"])
        .collect();
    for name in names {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(&format!("CASE {name} ")));
        match line {
            Some(l) if l.starts_with(&format!("CASE {name} ok ")) => {}
            Some(l) => failures.push(l.to_string()),
            None => failures.push(format!("CASE {name} did not run")),
        }
    }
    assert!(
        failures.is_empty(),
        "vivid cases failed:\n{}",
        failures.join("\n")
    );
    assert!(out.status.success(), "VM run failed with {:?}", out.status);
}
