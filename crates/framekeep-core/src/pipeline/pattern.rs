//! The synthetic test pattern, defined exactly so tests can check pixels.
//!
//! The [`SyntheticSource`](super::SyntheticSource) draws it; the definition
//! and the decoder are public through the `testing` module (feature
//! `testing`).
//!
//! # The pattern
//!
//! For frame number `n` (the frame's sequence) of a `W x H` frame, with
//! `offset = (n * SPEED) % W` and `bars_end = H - H / 4`, the RGB colour of
//! pixel `(x, y)` is:
//!
//! * **Counter** (`y < B` and `x < 32 * B`, with `B = clamp(W / 32, 1, 8)`
//!   from [`counter_block`]): bit `31 - x / B` of `n as u32` (the most
//!   significant bit is the leftmost block): white `(255, 255, 255)` if set,
//!   black `(0, 0, 0)` if not. [`decode_counter`] reads it back.
//! * **Colour bars** (other pixels with `y < max(B, bars_end)`): eight vertical bars
//!   [`BAR_COLOURS`]`[((x + offset) % W) * 8 / W]` (white, yellow, cyan,
//!   green, magenta, red, blue, black), moving left by [`SPEED`] pixels per
//!   frame.
//! * **Checkerboard** (`y >= bars_end`): [`CELL`]-pixel squares,
//!   `((x + offset) % W) / CELL + (y - bars_end) / CELL` even: white, odd:
//!   black; moving with the bars.
//!
//! That RGB colour is stored as follows ([`encode`]):
//!
//! * `BGR24`/`RGB24`/`BGRA32`: the bytes as named (alpha 255).
//! * `GRAY8`: full-range luma `(77 R + 150 G + 29 B + 128) >> 8` (white 255).
//! * `YUYV`/`UYVY`/`NV12`/`I420`: BT.601 limited range (white: Y 235, black:
//!   Y 16, both U = V = 128), in integers:
//!
//!   ```text
//!   Y = ((66 R + 129 G + 25 B + 128) >> 8) + 16
//!   U = ((-38 R - 74 G + 112 B + 128) >> 8) + 128
//!   V = ((112 R - 94 G - 18 B + 128) >> 8) + 128
//!   ```
//!
//!   Each luma sample is its own pixel's; the chroma of a 2x1 (`YUYV`,
//!   `UYVY`) or 2x2 (`NV12`, `I420`) block is that of the block's top-left
//!   pixel.
//!
//! Rows of a region are identical within a frame, so rendering builds a few
//! template rows per frame and copies them: about a `memcpy` of the frame.

// Without the `testing` feature only the renderer is used (by the synthetic
// source); the rest of the definition is for tests.
#![cfg_attr(not(feature = "testing"), allow(dead_code))]

use crate::frame::{Frame, FrameLayout, PixelFormat};

/// Pixels the bars and checkerboard move left per frame.
pub const SPEED: usize = 4;

/// Side of a checkerboard square, in pixels.
pub const CELL: usize = 16;

/// The bar colours, RGB, left to right at `offset` 0.
pub const BAR_COLOURS: [[u8; 3]; 8] = [
    [255, 255, 255],
    [255, 255, 0],
    [0, 255, 255],
    [0, 255, 0],
    [255, 0, 255],
    [255, 0, 0],
    [0, 0, 255],
    [0, 0, 0],
];

const WHITE: [u8; 3] = [255, 255, 255];
const BLACK: [u8; 3] = [0, 0, 0];

/// Side in pixels of one counter block for a frame `width` pixels wide.
pub fn counter_block(width: usize) -> usize {
    (width / 32).clamp(1, 8)
}

/// The RGB colour of pixel `(x, y)` of frame `n` (see the module docs).
/// Out-of-range coordinates give black.
pub fn pattern_rgb(n: u64, x: usize, y: usize, width: usize, height: usize) -> [u8; 3] {
    if x >= width || y >= height {
        return BLACK;
    }
    region_rgb(n, x, Region::of(y, width, height), width)
}

/// The kinds of rows: every row of one kind is identical within a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Region {
    /// Counter blocks, then bars.
    Counter,
    Bars,
    /// Checkerboard row; the parity of `(y - bars_end) / CELL`.
    Checker(usize),
}

impl Region {
    fn of(y: usize, width: usize, height: usize) -> Region {
        let bars_end = height - height / 4;
        if y < counter_block(width) {
            Region::Counter
        } else if y < bars_end {
            Region::Bars
        } else {
            Region::Checker(((y - bars_end) / CELL) % 2)
        }
    }

    fn index(self) -> usize {
        match self {
            Region::Counter => 0,
            Region::Bars => 1,
            Region::Checker(parity) => 2 + parity,
        }
    }

    const ALL: [Region; 4] = [
        Region::Counter,
        Region::Bars,
        Region::Checker(0),
        Region::Checker(1),
    ];
}

fn region_rgb(n: u64, x: usize, region: Region, width: usize) -> [u8; 3] {
    let block = counter_block(width);
    let shifted = (x + (n % width as u64) as usize * SPEED % width) % width;
    match region {
        Region::Counter if x < 32 * block => {
            if (n as u32 >> (31 - x / block)) & 1 == 1 {
                WHITE
            } else {
                BLACK
            }
        }
        Region::Counter | Region::Bars => BAR_COLOURS[shifted * 8 / width],
        Region::Checker(parity) => {
            if (shifted / CELL + parity) % 2 == 0 {
                WHITE
            } else {
                BLACK
            }
        }
    }
}

/// Full-range luma, as stored in `GRAY8`.
pub fn gray(rgb: [u8; 3]) -> u8 {
    let [r, g, b] = rgb.map(u32::from);
    ((77 * r + 150 * g + 29 * b + 128) >> 8) as u8
}

/// BT.601 limited-range `(Y, U, V)`, as stored in the YUV formats.
pub fn yuv(rgb: [u8; 3]) -> [u8; 3] {
    let [r, g, b] = rgb.map(i32::from);
    let y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16;
    let u = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128;
    let v = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128;
    [y, u, v].map(|c| c.clamp(0, 255) as u8)
}

/// Writes one row of RGB pixels in `format` into `out` (plane 0; for NV12
/// and I420 the luma row). `out` must hold `rgb.len() * bytes_per_pixel` bytes.
pub fn encode(format: PixelFormat, rgb: &[[u8; 3]], out: &mut [u8]) {
    match format {
        PixelFormat::Bgr24 => {
            for (px, o) in rgb.iter().zip(out.chunks_exact_mut(3)) {
                o.copy_from_slice(&[px[2], px[1], px[0]]);
            }
        }
        PixelFormat::Rgb24 => {
            for (px, o) in rgb.iter().zip(out.chunks_exact_mut(3)) {
                o.copy_from_slice(px);
            }
        }
        PixelFormat::Bgra32 => {
            for (px, o) in rgb.iter().zip(out.chunks_exact_mut(4)) {
                o.copy_from_slice(&[px[2], px[1], px[0], 255]);
            }
        }
        PixelFormat::Gray8 => {
            for (px, o) in rgb.iter().zip(out.iter_mut()) {
                *o = gray(*px);
            }
        }
        PixelFormat::Nv12 | PixelFormat::I420 => {
            for (px, o) in rgb.iter().zip(out.iter_mut()) {
                *o = yuv(*px)[0];
            }
        }
        PixelFormat::Yuyv | PixelFormat::Uyvy => {
            for (pair, o) in rgb.chunks_exact(2).zip(out.chunks_exact_mut(4)) {
                let [y0, u, v] = yuv(pair[0]);
                let y1 = yuv(pair[1])[0];
                let bytes = if format == PixelFormat::Yuyv {
                    [y0, u, y1, v]
                } else {
                    [u, y0, v, y1]
                };
                o.copy_from_slice(&bytes);
            }
        }
        PixelFormat::Uv88 | PixelFormat::Mjpeg => {}
    }
}

/// The NV12 chroma row (interleaved U, V) for a row of RGB pixels.
fn encode_uv(rgb: &[[u8; 3]], out: &mut [u8]) {
    for (pair, o) in rgb.chunks_exact(2).zip(out.chunks_exact_mut(2)) {
        let [_, u, v] = yuv(pair[0]);
        o.copy_from_slice(&[u, v]);
    }
}

/// The I420 chroma rows for a row of RGB pixels: the U row in the first
/// half of `out`, the V row in the second.
fn encode_u_v(rgb: &[[u8; 3]], out: &mut [u8]) {
    let (us, vs) = out.split_at_mut(out.len() / 2);
    for ((pair, u), v) in rgb.chunks_exact(2).zip(us.iter_mut()).zip(vs.iter_mut()) {
        let [_, cu, cv] = yuv(pair[0]);
        (*u, *v) = (cu, cv);
    }
}

/// Whether the test pattern can be drawn in `format` (every format with
/// pixels: not `MJPEG`, not a bare `UV88` plane).
pub fn supports(format: PixelFormat) -> bool {
    !matches!(format, PixelFormat::Mjpeg | PixelFormat::Uv88)
}

/// Renders the pattern into frame buffers of one layout, reusing its
/// template rows (no allocation per frame).
#[derive(Debug, Clone)]
pub struct TestPattern {
    layout: FrameLayout,
    rgb: Vec<[u8; 3]>,
    /// Encoded template rows: counter, bars, checker even, checker odd.
    rows: [Vec<u8>; 4],
    /// Chroma template rows, same order: NV12 interleaved UV; I420 the U row
    /// then the V row.
    uv: [Vec<u8>; 4],
}

impl TestPattern {
    /// A renderer for `layout`, or `None` if the format has no pixels to
    /// draw ([`supports`]).
    pub fn new(layout: FrameLayout) -> Option<TestPattern> {
        if !supports(layout.format()) || layout.width() == 0 || layout.height() == 0 {
            return None;
        }
        let row = layout.row_bytes();
        let uv = if layout.format().is_planar_420() {
            layout.width()
        } else {
            0
        };
        Some(TestPattern {
            layout,
            rgb: vec![BLACK; layout.width()],
            rows: std::array::from_fn(|_| vec![0; row]),
            uv: std::array::from_fn(|_| vec![0; uv]),
        })
    }

    /// The layout it renders.
    pub fn layout(&self) -> &FrameLayout {
        &self.layout
    }

    /// Draws frame `n` into `buf` (at least `layout.len()` bytes, rows
    /// `layout.stride()` apart). Bytes of row padding are left as they are.
    /// Returns `false` (drawing nothing) if `buf` is too small.
    pub fn render(&mut self, n: u64, buf: &mut [u8]) -> bool {
        let l = self.layout;
        let (width, height, stride, len, format) =
            (l.width(), l.height(), l.stride(), l.len(), l.format());
        if buf.len() < len {
            return false;
        }
        for region in Region::ALL {
            for (x, px) in self.rgb.iter_mut().enumerate() {
                *px = region_rgb(n, x, region, width);
            }
            encode(format, &self.rgb, &mut self.rows[region.index()]);
            match format {
                PixelFormat::Nv12 => encode_uv(&self.rgb, &mut self.uv[region.index()]),
                PixelFormat::I420 => encode_u_v(&self.rgb, &mut self.uv[region.index()]),
                _ => {}
            }
        }
        let kind_of = |y: usize| Region::of(y, width, height).index();
        let row_bytes = self.layout.row_bytes();
        for y in 0..height {
            buf[y * stride..y * stride + row_bytes].copy_from_slice(&self.rows[kind_of(y)]);
        }
        if format == PixelFormat::Nv12 {
            let base = stride * height;
            for r in 0..height / 2 {
                let start = base + r * stride;
                buf[start..start + width].copy_from_slice(&self.uv[kind_of(2 * r)]);
            }
        }
        if format == PixelFormat::I420 {
            let (cw, ch, cs) = (width / 2, height / 2, stride / 2);
            for plane in 0..2 {
                let base = stride * height + plane * cs * ch;
                for r in 0..ch {
                    let start = base + r * cs;
                    let src = &self.uv[kind_of(2 * r)][plane * cw..(plane + 1) * cw];
                    buf[start..start + cw].copy_from_slice(src);
                }
            }
        }
        true
    }
}

/// Reads the frame counter drawn into `frame` (the low 32 bits of the
/// sequence it was rendered for), sampling the centre of each block.
/// `None` if the format has no pixels or the frame is narrower than 32
/// pixels (the counter does not fit).
pub fn decode_counter(frame: &Frame) -> Option<u32> {
    let layout = frame.layout();
    if !supports(layout.format()) || layout.width() < 32 || layout.height() == 0 {
        return None;
    }
    let block = counter_block(layout.width());
    let y = (block / 2).min(layout.height() - 1);
    let row = frame.row(y)?;
    let mut value = 0u32;
    for i in 0..32 {
        let x = i * block + block / 2;
        let byte = match layout.format() {
            PixelFormat::Gray8 | PixelFormat::Nv12 | PixelFormat::I420 => row.get(x),
            PixelFormat::Bgr24 | PixelFormat::Rgb24 => row.get(3 * x + 1),
            PixelFormat::Bgra32 => row.get(4 * x + 1),
            PixelFormat::Yuyv => row.get(2 * x),
            PixelFormat::Uyvy => row.get(2 * x + 1),
            PixelFormat::Uv88 | PixelFormat::Mjpeg => None,
        }?;
        value = (value << 1) | u32::from(*byte >= 128);
    }
    Some(value)
}
