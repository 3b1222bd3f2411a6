//! MJPEG → BGR: the strict decoder (`decode_jpeg`: structure check + libjpeg-turbo with
//! warnings as errors) against OpenCV's `imdecode` (into a preallocated Mat, as the
//! converter used it) and the pure-Rust zune-jpeg in strict mode, on webcam-like frames
//! (quality 80, no Huffman tables) at 640x480 and 1280x720, in the same run, plus how far
//! each one's pixels are from `imdecode`'s. zune-jpeg's strict mode refuses frames without
//! Huffman tables ("No DC table for component Y": every USB webcam's), so it decodes the
//! same frames with their tables left in.
//!
//! `cargo bench -p framekeep-cv --bench mjpeg` (7 rounds of 200 decodes per decoder and
//! size, interleaved; the median per frame and its ratio to imdecode are printed).
//! Under `cargo test` it makes one short round and checks the pixels only.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use framekeep_cv::convert::{decode_jpeg, JpegColor};
use opencv::core::{Mat, Scalar, CV_8UC3};
use opencv::imgcodecs::{imdecode_to, IMREAD_COLOR};
use opencv::prelude::*;
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::JpegDecoder;

/// Frames with different content, decoded in turn (a cache-warm single frame flatters).
const FRAMES: u32 = 8;

struct Case {
    width: usize,
    height: usize,
    /// As webcams send them: no Huffman tables.
    jpegs: Vec<Vec<u8>>,
    /// The same frames with their tables (for zune-jpeg's strict mode).
    with_tables: Vec<Vec<u8>>,
}

fn imdecode_once(jpeg: &[u8], out: &mut Mat) {
    let input = Mat::from_slice(jpeg).unwrap();
    drop(imdecode_to(&input, IMREAD_COLOR, out).unwrap());
}

fn strict_once(jpeg: &[u8], out: &mut [u8], stride: usize) {
    decode_jpeg(jpeg, JpegColor::Bgr, out, stride).unwrap();
}

fn zune_once(jpeg: &[u8], out: &mut [u8]) -> Result<(), zune_jpeg::errors::DecodeErrors> {
    let options = DecoderOptions::default()
        .set_strict_mode(true)
        .jpeg_set_out_colorspace(ColorSpace::BGR);
    let mut d = JpegDecoder::new_with_options(ZCursor::new(jpeg), options);
    d.decode_into(out)
}

/// (bytes that differ, largest difference) between `a` and `b`.
fn difference(a: &[u8], b: &[u8]) -> (usize, u8) {
    a.iter()
        .zip(b)
        .filter(|(x, y)| x != y)
        .fold((0, 0), |(n, m), (x, y)| (n + 1, m.max(x.abs_diff(*y))))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let (rounds, per_round) = if bench {
        (7, 200)
    } else {
        (1, FRAMES as usize)
    };
    let cases: Vec<Case> = [(640, 480), (1280, 720)]
        .into_iter()
        .map(|(width, height)| Case {
            width,
            height,
            jpegs: (0..FRAMES)
                .map(|s| common::webcam_frame(width, height, s))
                .collect(),
            with_tables: (0..FRAMES)
                .map(|s| common::encode(&common::scene(width, height, s), 80))
                .collect(),
        })
        .collect();
    for case in &cases {
        let (w, h) = (case.width, case.height);
        let mean_len = case.jpegs.iter().map(Vec::len).sum::<usize>() / case.jpegs.len();
        let mut mat =
            Mat::new_rows_cols_with_default(h as i32, w as i32, CV_8UC3, Scalar::all(0.0)).unwrap();
        let mut strict = vec![0u8; w * h * 3];
        let mut zune = vec![0u8; w * h * 3];
        // Pixels first: the strict decoder is imdecode byte for byte; zune-jpeg is not.
        let (mut zune_bytes, mut zune_max) = (0, 0);
        let refused = zune_once(&case.jpegs[0], &mut zune).expect_err("zune-jpeg strict, no DHT");
        println!("{w}x{h}: zune-jpeg's strict mode on a frame without Huffman tables: {refused}");
        for (jpeg, tables) in case.jpegs.iter().zip(&case.with_tables) {
            imdecode_once(jpeg, &mut mat);
            strict_once(jpeg, &mut strict, w * 3);
            zune_once(tables, &mut zune).unwrap();
            let reference = mat.data_bytes().unwrap();
            assert_eq!(difference(&strict, reference), (0, 0), "{w}x{h}");
            let (n, m) = difference(&zune, reference);
            zune_bytes += n;
            zune_max = zune_max.max(m);
        }
        let total = case.jpegs.len() * w * h * 3;
        println!(
            "{w}x{h} ({} frames, {} bytes each on average): strict == imdecode on every byte; \
             zune-jpeg differs on {:.1}% of the bytes, by up to {zune_max}",
            case.jpegs.len(),
            mean_len,
            100.0 * zune_bytes as f64 / total as f64
        );
        let (mut t_imdecode, mut t_strict, mut t_zune) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            // Interleaved, so that load from other processes hits all three alike.
            let time = |f: &mut dyn FnMut(&[u8])| {
                let start = Instant::now();
                for i in 0..per_round {
                    f(black_box(&case.jpegs[i % case.jpegs.len()]));
                }
                start.elapsed() / per_round as u32
            };
            t_imdecode.push(time(&mut |j| imdecode_once(j, &mut mat)));
            t_strict.push(time(&mut |j| strict_once(j, &mut strict, w * 3)));
            let start = Instant::now();
            for i in 0..per_round {
                let j = &case.with_tables[i % case.with_tables.len()];
                zune_once(black_box(j), &mut zune).unwrap();
            }
            t_zune.push(start.elapsed() / per_round as u32);
        }
        if bench {
            let base = median(t_imdecode.clone());
            for (name, t) in [
                ("imdecode (OpenCV, baseline)", t_imdecode),
                ("decode_jpeg (strict, libjpeg-turbo)", t_strict),
                ("zune-jpeg 0.5 (strict, tables kept)", t_zune),
            ] {
                let m = median(t);
                println!(
                    "  {name:38} {:8.3} ms/frame  {:.2}x imdecode's time",
                    m.as_secs_f64() * 1e3,
                    m.as_secs_f64() / base.as_secs_f64()
                );
            }
        }
    }
}
