//! The headless examples as a user runs them: snapshots of the synthetic pattern written
//! to disk (checked pixel by pixel), then shown by `images_display` with no display.
//!
//! The example binaries are the ones `cargo test` builds next to this test; when they
//! are missing (`cargo test --test cv_examples` alone does not build examples) the test
//! says so and skips.

use std::process::Command;
use std::time::Duration;

mod common;

use common::child::example_binary;
use framekeep::core::testing::{Running, BAR_COLOURS};
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

/// A corrupt image in the sequence ends a headless run at once: exit 1, the
/// file named on stderr in one line, nothing leaked. It used to leave the
/// program waiting, forever, for a quit that nothing could send.
#[test]
fn a_corrupt_image_ends_the_run_with_its_path_on_stderr() {
    let images = example_binary("images_display");
    let dir = std::env::temp_dir().join(format!("framekeep-cv-corrupt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // A JPEG cut in half: its scan has no end.
    let mut jpeg = framekeep::cv::opencv::core::Vector::<u8>::new();
    let mat = framekeep::cv::opencv::core::Mat::new_rows_cols_with_default(
        120,
        160,
        framekeep::cv::opencv::core::CV_8UC3,
        framekeep::cv::opencv::core::Scalar::all(90.0),
    )
    .unwrap();
    framekeep::cv::opencv::imgcodecs::imencode(
        ".jpg",
        &mat,
        &mut jpeg,
        &framekeep::cv::opencv::core::Vector::new(),
    )
    .unwrap();
    let bytes = jpeg.to_vec();
    let bad = dir.join("cut.jpg");
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();

    let err_path = dir.join("stderr.txt");
    let mut cmd = Command::new(images);
    cmd.arg(bad.to_str().unwrap())
        .args(["--once", "--headless", "record"])
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("QT_QPA_PLATFORM")
        .stderr(std::fs::File::create(&err_path).unwrap());
    let limit = Duration::from_secs(30);
    let (status, stdout) = Running::start(cmd).finish(limit);
    let stderr = std::fs::read_to_string(&err_path).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let status = status.unwrap_or_else(|| panic!("still running after {limit:?}:\n{stdout}"));
    assert_eq!(status.code(), Some(1), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr:\n{stderr}");
    assert!(
        lines[0].contains("cut.jpg") && lines[0].starts_with("images_display: "),
        "{stderr}"
    );
    assert!(stdout.contains("leak check: clean"), "{stdout}");
}
