//! Ctrl-C delivered to a child process running the `synthetic_pipeline`
//! example: it must shut down cleanly within a bound and report zero leaks.

mod common;

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::child::example_binary;
use framekeep::core::testing::Running;

const START_LIMIT: Duration = Duration::from_secs(60);
const EXIT_LIMIT: Duration = Duration::from_secs(10);

fn run_and_interrupt(args: &[&str], run_for: Duration) {
    let mut cmd = Command::new(example_binary("synthetic_pipeline"));
    cmd.args(args);
    let mut child = Running::start(cmd);
    child.wait_for_line(START_LIMIT, |l| l == "running");
    thread::sleep(run_for);
    let interrupted_at = Instant::now();
    child.interrupt();
    let (status, text) = child.finish(EXIT_LIMIT);
    let took = interrupted_at.elapsed();
    let status = status.unwrap_or_else(|| panic!("no exit within {EXIT_LIMIT:?}:\n{text}"));
    assert!(status.success(), "exit {status}:\n{text}");
    assert!(text.contains("ledger: 0 live"), "leaks reported:\n{text}");
    assert!(
        text.contains("cancelled (interrupted)"),
        "not interrupted:\n{text}"
    );
    assert!(text.contains("stats: "), "no stats line:\n{text}");
    assert!(took < EXIT_LIMIT, "took {took:?}");
}

#[test]
fn ctrl_c_shuts_the_paced_pipeline_down_cleanly() {
    run_and_interrupt(
        &["--size", "640x480", "--fps", "60"],
        Duration::from_millis(300),
    );
}

#[test]
fn ctrl_c_shuts_the_full_speed_pipeline_down_cleanly() {
    run_and_interrupt(
        &["--size", "320x240", "--fps", "0", "--format", "YUYV"],
        Duration::from_millis(300),
    );
}

#[test]
fn every_listed_format_runs_to_its_end() {
    // The formats the example's docs list, planar ones included (its crop
    // stage crops their luma plane).
    for format in [
        "GREY", "BGR3", "RGB3", "AR24", "YUYV", "UYVY", "NV12", "YU12",
    ] {
        let mut cmd = Command::new(example_binary("synthetic_pipeline"));
        cmd.args(["--size", "320x240", "--fps", "0", "--frames", "50"]);
        cmd.args(["--format", format]);
        let (status, text) = Running::start(cmd).finish(START_LIMIT);
        let status = status.unwrap_or_else(|| panic!("{format}: no exit:\n{text}"));
        assert!(status.success(), "{format}: exit {status}:\n{text}");
        assert!(text.contains("ledger: 0 live"), "{format}: leaks:\n{text}");
    }
}
