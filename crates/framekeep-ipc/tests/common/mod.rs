//! Shared by the process-level tests: starting peers, finishing them with a leak check.
#![allow(dead_code)] // each test file uses part of it

use std::path::Path;
use std::time::Duration;

use framekeep_ipc::testing::{Line, Peer, TestDomain};

/// The peer binary (publisher or subscriber).
pub const PEER: &str = env!("CARGO_BIN_EXE_framekeep-ipc-peer");

/// Generous bound for anything that should take milliseconds (the machine may be loaded).
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Starts a peer in `domain` with `role` (`pub`/`sub`) and extra arguments, and waits for
/// its `READY` line.
pub fn start(domain: &TestDomain, name: &str, role: &str, service: &str, extra: &[&str]) -> Peer {
    let mut args: Vec<String> = vec![
        role.into(),
        "--domain".into(),
        domain.name().into(),
        "--service".into(),
        service.into(),
    ];
    if role == "sub" {
        args.extend(["--name".to_string(), name.to_string()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut peer = Peer::spawn(name, Path::new(PEER), &args).expect("spawn the peer");
    peer.expect("READY", PATIENCE);
    peer
}

/// Stops a peer (closes its stdin), and checks that it exited cleanly with nothing alive
/// in its ledger. Returns its lines.
pub fn finish(peer: &mut Peer) -> Vec<Line> {
    let status = peer.stop(PATIENCE);
    let transcript = peer.transcript();
    let name = peer.name().to_string();
    assert!(
        status.is_some_and(|s| s.success()),
        "{name} did not exit cleanly ({status:?}):\n{transcript}"
    );
    let lines = peer.lines().to_vec();
    let ledger = lines.iter().find(|l| l.kind() == "LEDGER");
    assert_eq!(
        ledger.and_then(|l| l.num("live")),
        Some(0.0),
        "{name} leaked:\n{transcript}"
    );
    lines
}

/// The last line of `kind`.
pub fn last<'a>(lines: &'a [Line], kind: &str) -> &'a Line {
    lines
        .iter()
        .rev()
        .find(|l| l.kind() == kind)
        .unwrap_or_else(|| panic!("no {kind} line"))
}

/// Every line of `kind`.
pub fn all<'a>(lines: &'a [Line], kind: &'a str) -> impl Iterator<Item = &'a Line> + 'a {
    lines.iter().filter(move |l| l.kind() == kind)
}

/// CLOCK_MONOTONIC now in ns, the clock the peers stamp their lines with.
pub fn now_ns() -> f64 {
    framekeep_core::time::monotonic_now().as_nanos() as f64
}

/// Files of the domain in /dev/shm other than iceoryx2's per-prefix global segment,
/// which it never removes (the domain's drop does).
pub fn shm_state(domain: &TestDomain) -> Vec<String> {
    domain
        .shm_files()
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| !p.ends_with("global_mgmt"))
        .collect()
}
