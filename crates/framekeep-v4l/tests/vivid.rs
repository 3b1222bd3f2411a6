//! The conformance cases against the kernel's real `vivid` driver, in a qemu VM.
//!
//! Boots once (`vm/vivid-vm.sh`, 10-20 s with software emulation) and runs every case
//! inside it with the `framekeep-vivid` binary; the kernel package is downloaded once into
//! `~/.cache/framekeep-vivid`. Skips, saying why, only when the VM cannot run here at all
//! (the script's exit status 77: qemu or its helpers missing, no kernel package).

use std::process::Command;
use std::time::Instant;

use framekeep_v4l::conformance::cases;

#[test]
fn vivid_conformance_in_a_vm() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/vm/vivid-vm.sh");
    let bin = env!("CARGO_BIN_EXE_framekeep-vivid");
    let t = Instant::now();
    let out = Command::new("bash")
        .args([script, "-t", "240", "--", bin, "check", "/dev/video0"])
        .output()
        .expect("cannot run bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(77) {
        eprintln!("SKIPPED vivid VM test: {}", stderr.trim());
        return;
    }
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
