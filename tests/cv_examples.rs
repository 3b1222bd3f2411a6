//! The headless examples as a user runs them: snapshots of the synthetic pattern written
//! to disk (checked pixel by pixel), then shown by `images_display` with no display.
//!
//! The example binaries are the ones `cargo test` builds next to this test; when they
//! are missing (`cargo test --test cv_examples` alone does not build examples) the test
//! says so and skips.

use std::process::Command;

mod common;

use common::child::example_binary;
use framekeep::core::testing::BAR_COLOURS;
use framekeep::cv::opencv::core::Vec3b;
use framekeep::cv::opencv::imgcodecs::{imread, IMREAD_COLOR};
use framekeep::cv::opencv::prelude::*;

/// Runs `cmd`, asserts it succeeded (showing its output if not), returns its stdout.
fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn headless_snapshots_then_images_display_without_a_display() {
    let (snapshots, images) = (
        example_binary("headless_snapshots"),
        example_binary("images_display"),
    );
    let dir = std::env::temp_dir().join(format!("framekeep-cv-examples-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = run_ok(
        Command::new(snapshots)
            .args([
                "--out",
                dir.to_str().unwrap(),
                "--frames",
                "3",
                "--every",
                "2",
            ])
            .args(["--size", "320x240", "--format", "BGR3"]),
    );
    assert!(stdout.contains("leak check: clean"), "{stdout}");
    let first = dir.join("frame_000000.png");
    assert!(
        first.exists() && dir.join("frame_000002.png").exists(),
        "{stdout}"
    );
    assert!(
        !dir.join("frame_000001.png").exists(),
        "every 2nd frame only"
    );

    // Frame 0 of the pattern: bar i spans x in [40 i, 40 i + 40) below the counter.
    let png = imread(&first, IMREAD_COLOR).unwrap();
    assert_eq!((png.cols(), png.rows()), (320, 240));
    for (i, rgb) in BAR_COLOURS.iter().enumerate() {
        for x in [40 * i, 40 * i + 39] {
            let bgr = png.at_2d::<Vec3b>(100, x as i32).unwrap().0;
            assert_eq!([bgr[2], bgr[1], bgr[0]], *rgb, "bar {i} at x {x}");
        }
    }

    let stdout = run_ok(
        Command::new(&images)
            .args([
                dir.to_str().unwrap(),
                "--once",
                "--fps",
                "50",
                "--seconds",
                "1",
            ])
            .args(["--headless", "record"])
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("QT_QPA_PLATFORM"),
    );
    assert!(
        stdout.contains("2 image(s)") && stdout.contains("received 2"),
        "{stdout}"
    );
    assert!(stdout.contains("leak check: clean"), "{stdout}");

    // Without the fallback, no display is a clear error (exit 3), not a Qt abort.
    let out = Command::new(&images)
        .arg(dir.to_str().unwrap())
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("QT_QPA_PLATFORM")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no display"));
    let _ = std::fs::remove_dir_all(&dir);
}
