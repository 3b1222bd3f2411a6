//! calib-mono wall time on 20 synthetic 1280x720 views: 2 detection workers vs 1, in the
//! same run. Run with `cargo bench -p framekeep-calib --bench parallel_detection`.
//!
//! Both configurations run the real `calib-mono` binary (detection, calibration, YAML
//! output) on the same image set, interleaved, several times; the medians and their ratio
//! are printed. Detection alone (the parallel part) is timed the same way in-process.
//! It also prints how many shared libraries the binary loads: built with
//! `-p framekeep-calib` the tools do not link OpenCV's imgcodecs (25 libraries); a
//! workspace-wide build unifies framekeep-cv's features and links it (143 libraries,
//! ~100 ms more per process start).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use framekeep_calib::board::{Board, Pattern};
use framekeep_calib::detect::detect_all;
use framekeep_calib::report::write_image;
use framekeep_calib::synth::{random_poses, Camera, Renderer};

/// Median and minimum (the least disturbed run on a shared machine).
fn stats(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[0])
}

fn print(what: &str, reps: usize, one: Vec<Duration>, two: Vec<Duration>) {
    let ((m1, min1), (m2, min2)) = (stats(one), stats(two));
    println!(
        "{what}, {reps} interleaved runs: median 1 worker {m1:.2?}, 2 workers {m2:.2?}, speed-up {:.2}x; \
         best 1 worker {min1:.2?}, 2 workers {min2:.2?}, speed-up {:.2}x",
        m1.as_secs_f64() / m2.as_secs_f64(),
        min1.as_secs_f64() / min2.as_secs_f64()
    );
}

/// How many shared libraries the binary loads, and whether OpenCV's imgcodecs (and with
/// it GDAL & co.) is among them: what process start costs depends on it.
fn linked_libraries(bin: &str) -> Option<(usize, bool)> {
    let out = Command::new("ldd").arg(bin).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    Some((text.lines().count(), text.contains("libopencv_imgcodecs")))
}

/// Median wall time of `calib-mono --version`: process start and exit alone.
fn start_exit_time(reps: usize) -> Duration {
    let v: Vec<Duration> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            let out = Command::new(env!("CARGO_BIN_EXE_calib-mono"))
                .arg("--version")
                .output()
                .expect("run calib-mono --version");
            assert!(out.status.success());
            t.elapsed()
        })
        .collect();
    stats(v).0
}

fn run_cli(dir: &Path, out: &Path, workers: usize) -> Duration {
    let start = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_calib-mono"))
        .arg(dir)
        .args([
            "-b",
            "9x6",
            "-s",
            "0.025",
            "-q",
            "-j",
            &workers.to_string(),
            "-o",
        ])
        .arg(out)
        .status()
        .expect("run calib-mono");
    assert!(status.success(), "calib-mono failed");
    start.elapsed()
}

/// 20 views with sensor noise (sigma 3 gray levels), as PNG files in `dir`.
fn render_set(dir: &Path, cam: &Camera, board: &Board) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).expect("bench dir");
    let renderer = Renderer::new(*cam, 3).expect("renderer").with_noise(3.0, 7);
    let poses = random_poses(cam, board, 20, 2024).expect("poses");
    poses
        .iter()
        .enumerate()
        .map(|(i, pose)| {
            let path = dir.join(format!("view_{i:02}.png"));
            let img = renderer.render(board, pose).expect("render");
            write_image(&path, &img).expect("write view");
            path
        })
        .collect()
}

fn main() {
    // `cargo test --all-targets` runs this binary without `--bench`: the CLI
    // has its own tests (calib/tests), so measure nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("parallel_detection: measured only under `cargo bench`");
        return;
    }
    let reps: usize = std::env::var("FK_BENCH_REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let dir = std::env::temp_dir().join(format!("fk-calib-bench-{}", std::process::id()));
    let cam = Camera::synthetic(1280, 720);
    let board = Board::new(Pattern::Chessboard, 9, 6, 0.025).expect("board");
    let t = Instant::now();
    let paths = render_set(&dir, &cam, &board);
    println!("rendered 20 noisy views 1280x720 in {:.2?}", t.elapsed());
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average before the runs: {}", load.trim());
    }
    let out = dir.join("bench.yml");
    if let Some((n, imgcodecs)) = linked_libraries(env!("CARGO_BIN_EXE_calib-mono")) {
        println!(
            "calib-mono loads {n} shared libraries (OpenCV imgcodecs: {})",
            if imgcodecs { "yes" } else { "no" }
        );
    }
    println!(
        "calib-mono --version (process start + exit), median of 15: {:.1?}",
        start_exit_time(15)
    );

    run_cli(&dir, &out, 2); // warm-up (page cache, binary)
    let (mut one, mut two) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        one.push(run_cli(&dir, &out, 1));
        two.push(run_cli(&dir, &out, 2));
    }
    print("calib-mono on 20 views 1280x720", reps, one, two);

    let (mut d1, mut d2) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        for (workers, acc) in [(1, &mut d1), (2, &mut d2)] {
            let t = Instant::now();
            let set = detect_all(&paths, &board, workers, |_| {}).expect("detect");
            acc.push(t.elapsed());
            assert_eq!(set.views.len(), 20);
        }
    }
    print("detection only (in-process)", reps, d1, d2);
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average after the runs: {}", load.trim());
    }
    let _ = std::fs::remove_dir_all(&dir);
}
