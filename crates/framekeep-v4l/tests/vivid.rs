//! The conformance cases against the kernel's real `vivid` driver, in a qemu VM.
//!
//! Boots once (`vm/vivid-vm.sh`, 10-20 s with software emulation) with three vivid
//! instances, `/dev/video0` single-planar (`V4L2_BUF_TYPE_VIDEO_CAPTURE`, like a USB camera)
//! and `/dev/video1` multi-planar only (`multiplanar=2`, like many SoC capture drivers), both
//! with vivid's default (vmalloc) allocator, and runs every case against each inside it with
//! the `framekeep-vivid` binary; `/dev/video2` uses the dma-contig allocator
//! (`allocators=1`), with which vivid does not take user memory (`V4L2_MEMORY_USERPTR`):
//! only the `userptr_mode` case runs there, and must find it refused, where the other two
//! must find it accepted. The kernel package is downloaded once into
//! `~/.cache/framekeep-vivid`. Skips, saying why, only when
//! the VM cannot run here at all (the script's exit status 77: qemu or its helpers missing,
//! no kernel package).

use std::time::{Duration, Instant};

use framekeep_v4l::testing::{cases, VividVm, VmRun};

/// A capture node of the VM and what it must show.
struct Node {
    path: &'static str,
    /// The API `list_formats` must report (None: that case does not run there).
    api: Option<&'static str>,
    /// The cases to run (names containing it; "" for all).
    filter: &'static str,
    /// How the `userptr_mode` summary must start.
    userptr: &'static str,
}

const DEVICES: [Node; 3] = [
    Node {
        path: "/dev/video0",
        api: Some("single-planar API"),
        filter: "",
        userptr: "USERPTR accepted",
    },
    Node {
        path: "/dev/video1",
        api: Some("multi-planar API"),
        filter: "",
        userptr: "USERPTR accepted",
    },
    Node {
        path: "/dev/video2",
        api: None,
        filter: "userptr_mode",
        userptr: "USERPTR refused",
    },
];

/// vivid instance 0 single-planar, instance 1 multi-planar only, both with the default
/// vmalloc allocator; instance 2 single-planar with the dma-contig allocator (no user
/// memory); video capture nodes only.
const VIVID_OPTIONS: &str = "n_devs=3 node_types=0x1,0x1,0x1 multiplanar=1,2,1 allocators=0,0,1";

/// The lines of `stdout` between `DEVICE <dev>` and the next `DEVICE` line, trimmed (the
/// serial console may put a carriage return at either end of a line).
fn section<'a>(stdout: &'a str, dev: &str) -> Vec<&'a str> {
    stdout
        .lines()
        .map(str::trim)
        .skip_while(|l| *l != format!("DEVICE {dev}"))
        .skip(1)
        .take_while(|l| !l.starts_with("DEVICE "))
        .collect()
}

#[test]
fn vivid_conformance_in_a_vm() {
    let bin = env!("CARGO_BIN_EXE_framekeep-vivid");
    let t = Instant::now();
    let devices = DEVICES
        .iter()
        .map(|d| {
            if d.filter.is_empty() {
                d.path.to_string()
            } else {
                format!("{}={}", d.path, d.filter)
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    let vm = VividVm::new(bin)
        .args(["check", &devices])
        .timeout(Duration::from_secs(600))
        .vivid_options(VIVID_OPTIONS);
    let out = match vm.run() {
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
    for node in &DEVICES {
        let dev = node.path;
        let lines = section(&stdout, dev);
        for name in names.iter().filter(|n| n.contains(node.filter)) {
            let line = lines
                .iter()
                .find(|l| l.starts_with(&format!("CASE {name} ")));
            match line {
                Some(l) if l.starts_with(&format!("CASE {name} ok ")) => {}
                Some(l) => failures.push(format!("{dev}: {l}")),
                None => failures.push(format!("{dev}: CASE {name} did not run")),
            }
        }
        // The node really uses the API it is meant to test (vivid's options took effect).
        let listed = lines
            .iter()
            .find(|l| l.starts_with("CASE list_formats ok "));
        if let Some(api) = node.api {
            if listed.is_some_and(|l| !l.ends_with(api)) {
                failures.push(format!("{dev}: expected the {api}: {listed:?}"));
            }
        }
        // vivid takes user memory with its default allocator and refuses it with
        // dma-contig: the memory the stream got says which the node is.
        let mode = lines
            .iter()
            .find(|l| l.starts_with("CASE userptr_mode ok "))
            .and_then(|l| l.splitn(5, ' ').nth(4));
        if mode.is_some_and(|m| !m.starts_with(node.userptr)) {
            failures.push(format!("{dev}: expected {}: {mode:?}", node.userptr));
        }
    }
    assert!(
        failures.is_empty(),
        "vivid cases failed:\n{}",
        failures.join("\n")
    );
    assert!(out.status.success(), "VM run failed with {:?}", out.status);
}

#[test]
fn sections_survive_carriage_returns() {
    let out = "\rDEVICE /dev/video0\r\nCASE a ok 1 x\r\nDEVICE /dev/video1\nCASE b ok 2 y\r\n";
    assert_eq!(section(out, "/dev/video0"), ["CASE a ok 1 x"]);
    assert_eq!(section(out, "/dev/video1"), ["CASE b ok 2 y"]);
}
