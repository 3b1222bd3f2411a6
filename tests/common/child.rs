//! Running an example binary as a child process: find (and under cargo,
//! build) it; the child itself is core's `testing::Running`. Shared by the
//! Ctrl-C and display tests.

use std::path::PathBuf;
use std::process::Command;

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
