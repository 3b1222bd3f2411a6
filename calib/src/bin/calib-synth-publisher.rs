//! calib-synth-publisher: publishes synthetic chessboard views as a framekeep service,
//! the camera-process side of `calib-mono --service` in tests/live_service.rs.
//!
//! ```text
//! calib-synth-publisher --domain D --service S [--format BGR3|YUYV|GREY] [--size 640x480]
//!     [--board 9x6] [--square 0.025] [--poses 16] [--seed 7] [--fps 30]
//!     [--hold-ms 100] [--moving-ms 0] [--rig left|right]
//! ```
//!
//! `--poses` views of the board are rendered through the known synthetic camera
//! (`Camera::synthetic`; with `--rig`, one camera of `StereoRig::synthetic(w, h, 0.12)`)
//! and published in `--format` (gray converted by hand: BGR with three equal channels,
//! YUYV with neutral chroma) at `--fps`, until stdin closes. What a frame shows depends
//! on its capture time only (CLOCK_MONOTONIC, shared by every process): pose
//! `(ms / hold_ms) % poses`, and a blank image during the last `--moving-ms` of each hold
//! (the board moving). So the two publishers of a rig show the same pose at the same time.
//!
//! Lines on stdout: `READY pid=`, `RECEIVING name= received=` (once, when a subscriber
//! has received 3 frames), and at the end `STATS published=`, `LEDGER live=` (what is
//! still alive in the global ledger once everything was dropped: 0 means no leak) and
//! `DONE`. Errors: `ERROR ...` and exit status 1.

use std::collections::HashMap;
use std::io::BufRead;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use framekeep_calib::board::{Board, Pattern};
use framekeep_calib::synth::{random_poses_multi, Camera, Renderer, StereoRig, IDENTITY};
use framekeep_core::cancel::CancelToken;
use framekeep_core::frame::{Frame, FrameLayout, FrameMeta, FrameSize, PixelFormat};
use framekeep_core::ledger::Ledger;
use framekeep_core::time::monotonic_now;
use framekeep_ipc::{Domain, Publisher, PublisherOptions};
use opencv::prelude::*;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> ExitCode {
    framekeep_ipc::testing::die_with_parent();
    framekeep_cv::silence_opencv_log();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("ERROR {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_args() -> Result<HashMap<String, String>> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut args = HashMap::new();
    let mut it = argv.iter();
    while let Some(key) = it.next() {
        let key = key
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {key}"))?;
        let value = it.next().ok_or_else(|| format!("--{key} needs a value"))?;
        args.insert(key.to_string(), value.clone());
    }
    Ok(args)
}

fn get<T: std::str::FromStr>(
    args: &HashMap<String, String>,
    key: &str,
    default: &str,
) -> Result<T> {
    let text = args.get(key).map(String::as_str).unwrap_or(default);
    text.parse()
        .map_err(|_| format!("bad --{key} {text:?}").into())
}

/// A gray image as a frame of `format`.
fn frame_of(gray: &[u8], format: PixelFormat, width: usize, height: usize) -> Result<Frame> {
    let data: Vec<u8> = match format {
        PixelFormat::Gray8 => gray.to_vec(),
        PixelFormat::Bgr24 => gray.iter().flat_map(|&g| [g, g, g]).collect(),
        PixelFormat::Yuyv => gray.iter().flat_map(|&g| [g, 128]).collect(),
        other => return Err(format!("--format {other}: use BGR3, YUYV or GREY").into()),
    };
    Ok(Frame::from_vec(
        FrameLayout::packed(format, width, height)?,
        data,
    )?)
}

fn run() -> Result<()> {
    let args = parse_args()?;
    let domain_name: String = get(&args, "domain", "")?;
    let domain = if domain_name.is_empty() {
        Domain::new()?
    } else {
        Domain::named(&domain_name)?
    };
    let service: String = get(&args, "service", "calib/synth")?;
    let format: PixelFormat = get(&args, "format", "BGR3")?;
    let size: FrameSize = get(&args, "size", "640x480")?;
    let board_size: String = get(&args, "board", "9x6")?;
    let (cols, rows) = board_size
        .split_once('x')
        .ok_or("--board must look like 9x6")?;
    let board = Board::new(
        Pattern::Chessboard,
        cols.parse()?,
        rows.parse()?,
        get(&args, "square", "0.025")?,
    )?;
    let poses: usize = get(&args, "poses", "16")?;
    let seed: u64 = get(&args, "seed", "7")?;
    let hold_ms: u128 = get::<u128>(&args, "hold-ms", "100")?.max(1);
    let moving_ms: u128 = get(&args, "moving-ms", "0")?;
    let fps: f64 = get(&args, "fps", "30")?;
    let (w, h) = (size.width as i32, size.height as i32);

    // Render every view once, up front: through the mono camera, or one camera of the rig
    // (poses that keep the board inside both of the rig's images).
    let rig = StereoRig::synthetic(w, h, 0.12);
    let (camera, placements, right) = match args.get("rig").map(String::as_str) {
        None => (
            Camera::synthetic(w, h),
            vec![(Camera::synthetic(w, h), IDENTITY)],
            false,
        ),
        Some(side @ ("left" | "right")) => (
            if side == "left" { rig.left } else { rig.right },
            vec![(rig.left, IDENTITY), (rig.right, rig.relative)],
            side == "right",
        ),
        Some(other) => return Err(format!("bad --rig {other}: left or right").into()),
    };
    let renderer = Renderer::new(camera, 2)?;
    let mut views = Vec::with_capacity(poses);
    for pose in random_poses_multi(&placements, &board, poses, seed)? {
        let pose = if right { rig.right_pose(&pose) } else { pose };
        let img = renderer.render(&board, &pose)?;
        views.push(frame_of(
            img.data_bytes()?,
            format,
            size.width,
            size.height,
        )?);
    }
    drop(renderer);
    let blank = frame_of(
        &vec![200; size.width * size.height],
        format,
        size.width,
        size.height,
    )?;

    let layout = *views.first().ok_or("--poses must be at least 1")?.layout();
    let options = PublisherOptions::new()
        .name("calib-synth-publisher")
        .initial_layout(layout);
    let publisher = Publisher::create(&domain, &service, options)?;
    let stop = CancelToken::new();
    let on_eof = stop.clone();
    std::thread::spawn(move || {
        for _ in std::io::stdin().lock().lines().map_while(|l| l.ok()) {}
        on_eof.cancel();
    });
    println!("READY pid={}", std::process::id());

    let period = Duration::from_secs_f64(1.0 / fps);
    let mut next = Instant::now();
    let mut announced = false;
    let mut seq = 0u64;
    while !stop.is_cancelled() {
        let now = monotonic_now();
        let ms = now.as_millis();
        let mut frame = if ms % hold_ms >= hold_ms.saturating_sub(moving_ms) {
            blank.clone()
        } else {
            views[((ms / hold_ms) % views.len() as u128) as usize].clone()
        };
        frame.set_meta(FrameMeta {
            sequence: seq,
            timestamp: now,
        });
        publisher.publish(&frame)?;
        drop(frame);
        seq += 1;
        if !announced {
            if let Some(s) = publisher
                .subscribers()
                .into_iter()
                .find(|s| s.received >= 3)
            {
                println!("RECEIVING name={} received={}", s.name, s.received);
                announced = true;
            }
        }
        next += period;
        let now = Instant::now();
        if next > now {
            stop.wait_timeout(next - now);
        } else {
            next = now;
        }
    }
    let published = publisher.stats().published;
    println!("STATS published={published}");
    drop(publisher);
    drop((views, blank));
    let report = Ledger::global().report();
    println!("LEDGER live={}", report.len());
    for line in report.to_string().lines() {
        println!("LEAK {line}");
    }
    println!("DONE");
    Ok(())
}
