//! Writes a synthetic calibration set (known camera) for trying the tools:
//! `cargo run -p framekeep-calib --example synth_set -- DIR [mono|stereo] [WIDTH HEIGHT VIEWS [NOISE]]`
//! (NOISE: sensor noise sigma in gray levels, mono only).

use std::path::PathBuf;
use std::process::ExitCode;

use framekeep_calib::board::{Board, Pattern};
use framekeep_calib::report::write_image;
use framekeep_calib::synth::{
    random_poses, write_mono_set, write_stereo_set, Camera, Renderer, StereoRig,
};

fn write_noisy(
    dir: &std::path::Path,
    cam: &Camera,
    board: &Board,
    n: usize,
    sigma: f64,
) -> framekeep_calib::Result<()> {
    framekeep_calib::output::create_dir_all(dir)?;
    let renderer = Renderer::new(*cam, 3)?.with_noise(sigma, 7);
    for (i, pose) in random_poses(cam, board, n, 2024)?.iter().enumerate() {
        let img = renderer.render(board, pose)?;
        write_image(&dir.join(format!("view_{i:02}.png")), &img)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    framekeep_cv::silence_opencv_log();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first().map(PathBuf::from) else {
        eprintln!("usage: synth_set DIR [mono|stereo] [WIDTH HEIGHT VIEWS]");
        return ExitCode::FAILURE;
    };
    let kind = args.get(1).map(String::as_str).unwrap_or("mono");
    let num = |i: usize, d: i32| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (w, h, n) = (num(2, 640), num(3, 480), num(4, 12) as usize);
    let board = match Board::new(Pattern::Chessboard, 9, 6, 0.025) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let result = if kind == "stereo" {
        let rig = StereoRig::synthetic(w, h, 0.12);
        println!("{rig:#?}");
        write_stereo_set(&dir, &rig, &board, n, 11).map(|_| ())
    } else {
        let cam = Camera::synthetic(w, h);
        println!("{cam:#?}");
        let noise: f64 = args.get(5).and_then(|s| s.parse().ok()).unwrap_or(0.0);
        if noise > 0.0 {
            write_noisy(&dir, &cam, &board, n, noise)
        } else {
            write_mono_set(&dir, &cam, &board, n, 7).map(|_| ())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
