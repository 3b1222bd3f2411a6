//! Webcam-like MJPEG frames for the tests and the benchmark: a scene with gradients,
//! edges and sensor noise, JPEG-encoded by OpenCV at quality 80, with the Huffman tables
//! taken out as USB cameras send them (the decoder uses the standard tables).
#![allow(dead_code)] // each test binary uses a part

use opencv::core::{Mat, Point, Scalar, Vector, CV_8UC3};
use opencv::imgcodecs::{imencode, IMWRITE_JPEG_QUALITY};
use opencv::imgproc::{circle, rectangle, FILLED, LINE_8};
use opencv::prelude::*;

/// A BGR scene of `width x height`; `seed` shifts it (consecutive frames differ).
pub fn scene(width: usize, height: usize, seed: u32) -> Mat {
    let mut m =
        Mat::new_rows_cols_with_default(height as i32, width as i32, CV_8UC3, Scalar::all(0.0))
            .unwrap();
    let mut noise = seed.wrapping_mul(2_654_435_761) | 1;
    let data = m.data_bytes_mut().unwrap();
    for y in 0..height {
        for x in 0..width {
            noise ^= noise << 13;
            noise ^= noise >> 17;
            noise ^= noise << 5;
            let n = (noise % 9) as i32 - 4;
            let i = (y * width + x) * 3;
            let v = |base: usize| (base as i32 + n).clamp(0, 255) as u8;
            data[i] = v(x * 255 / width);
            data[i + 1] = v(y * 255 / height);
            data[i + 2] = v((x + y + seed as usize * 7) % 256);
        }
    }
    let (w, h) = (width as i32, height as i32);
    let s = seed as i32;
    rectangle(
        &mut m,
        opencv::core::Rect::new(w / 8 + s % 16, h / 6, w / 4, h / 3),
        Scalar::new(30.0, 200.0, 240.0, 0.0),
        FILLED,
        LINE_8,
        0,
    )
    .unwrap();
    circle(
        &mut m,
        Point::new(w * 2 / 3, h / 2 + s % 16),
        h / 5,
        Scalar::new(220.0, 40.0, 60.0, 0.0),
        FILLED,
        LINE_8,
        0,
    )
    .unwrap();
    m
}

/// `mat` as JPEG at `quality`.
pub fn encode(mat: &Mat, quality: i32) -> Vec<u8> {
    let mut jpeg = Vector::<u8>::new();
    imencode(
        ".jpg",
        mat,
        &mut jpeg,
        &Vector::from_slice(&[IMWRITE_JPEG_QUALITY, quality]),
    )
    .unwrap();
    jpeg.to_vec()
}

/// `jpeg` without its DHT segments (USB cameras leave the standard tables out).
pub fn strip_huffman_tables(jpeg: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    let mut i = 2;
    while i + 4 <= jpeg.len() && jpeg[i] == 0xFF {
        let code = jpeg[i + 1];
        let len = u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]) as usize;
        if code == 0xDA {
            break;
        }
        if code != 0xC4 {
            out.extend_from_slice(&jpeg[i..i + 2 + len]);
        }
        i += 2 + len;
    }
    out.extend_from_slice(&jpeg[i..]);
    out
}

/// A webcam-like MJPEG frame of `width x height`: quality 80, no Huffman tables.
pub fn webcam_frame(width: usize, height: usize, seed: u32) -> Vec<u8> {
    strip_huffman_tables(&encode(&scene(width, height, seed), 80))
}

/// Offset of the first byte of the scan data (after the SOS segment).
pub fn scan_start(jpeg: &[u8]) -> usize {
    let mut i = 2;
    loop {
        let len = u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]) as usize;
        if jpeg[i + 1] == 0xDA {
            return i + 2 + len;
        }
        i += 2 + len;
    }
}
