//! YUV → BGR conversion alone on the host, on identical frames, in one run: framekeep's
//! [`BgrConverter`], OpenCV `cvtColor` (one thread and OpenCV's default thread count),
//! `yuvutils-rs` (SIMD), and GStreamer's `videoconvert` (`gst-launch-1.0 filesrc !
//! videoconvert ! BGR ! fakesink`, when installed). CPU time per frame (user+sys of the
//! whole process, so OpenCV's worker threads count), methods interleaved round by round,
//! medians and ratios against `cvtColor` with one thread measured in the same run. Also
//! prints how far each SIMD path is from `cvtColor` (max per-byte difference) on
//! vivid-like, full-range random and gradient frames.
//!
//! `cargo bench -p framekeep-cv --bench convert_host [-- ROUNDS FRAMES_PER_ROUND]`
//! (default 7 rounds of 40 frames; GStreamer needs `gstreamer1.0-tools` and
//! `gstreamer1.0-plugins-base`, else its row is skipped, saying so).
//!
//! Since NV12 goes through yuvutils-rs, framekeep's NV12 rows measure that path, and
//! its YUYV rows framekeep's own exact conversion (src/yuv.rs, AVX2 when the CPU has it,
//! else SSE2; OpenCV's thread count does not matter to it); the `cvtColor` rows are
//! OpenCV's.

use std::hint::black_box;
use std::time::{Duration, Instant};

use framekeep_core::frame::{Frame, FrameLayout, PixelFormat};
use framekeep_core::pool::PoolOptions;
use framekeep_cv::convert::BgrConverter;
use framekeep_cv::mat::{MatView, MatViewMut};
use opencv::core::{get_num_threads, set_num_threads};
use opencv::imgproc::cvt_color_def;
use yuvutils_rs::{
    YuvBiPlanarImage, YuvConversionMode, YuvPackedImage, YuvPlanarImage, YuvRange,
    YuvStandardMatrix,
};

/// CPU time (user+sys) of the whole process.
fn cpu() -> Duration {
    rusage(libc::RUSAGE_SELF)
}

fn rusage(who: i32) -> Duration {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole rusage into the valid pointer; zeroed is a valid rusage.
    let ru = unsafe {
        libc::getrusage(who, ru.as_mut_ptr());
        ru.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// A small xorshift generator: the same frames in every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 32) as u32
    }
}

/// Kinds of test picture: the first is the timed one.
const KINDS: [&str; 3] = ["vivid-like bars + noise", "full-range random", "gradients"];

/// 4:4:4 Y, U, V planes of picture `kind`.
fn planes(kind: usize, w: usize, h: usize) -> [Vec<u8>; 3] {
    let mut r = Rng(0x9E37_79B9_7F4A_7C15 ^ kind as u64);
    // vivid's 100% colour bars in limited-range BT.601 Y'CbCr, noise of ±4 on top.
    const BARS: [[i32; 3]; 8] = [
        [235, 128, 128],
        [210, 16, 146],
        [170, 166, 16],
        [145, 54, 34],
        [106, 202, 222],
        [81, 90, 240],
        [41, 240, 110],
        [16, 128, 128],
    ];
    let mut p = [vec![0u8; w * h], vec![0u8; w * h], vec![0u8; w * h]];
    for j in 0..h {
        for i in 0..w {
            let k = j * w + i;
            let v: [u8; 3] = match kind {
                0 => {
                    let b = BARS[i * 8 / w];
                    let mut n = |c: i32| (c + (r.next() % 9) as i32 - 4).clamp(0, 255) as u8;
                    [n(b[0]), n(b[1]), n(b[2])]
                }
                1 => {
                    let x = r.next();
                    [x as u8, (x >> 8) as u8, (x >> 16) as u8]
                }
                _ => [
                    (i * 255 / w) as u8,
                    (j * 255 / h) as u8,
                    255 - (i * 255 / w) as u8,
                ],
            };
            for c in 0..3 {
                p[c][k] = v[c];
            }
        }
    }
    p
}

/// The planes as a packed frame of `format` (YUYV, NV12 or I420): 4:2:2 takes the chroma
/// of the even pixel, 4:2:0 of the top-left one.
fn frame(format: PixelFormat, [y, u, v]: &[Vec<u8>; 3], w: usize, h: usize) -> Frame {
    let layout = FrameLayout::packed(format, w, h).unwrap();
    let mut d = vec![0u8; layout.len()];
    match format {
        PixelFormat::Yuyv => {
            for k in (0..w * h).step_by(2) {
                d[2 * k..2 * k + 4].copy_from_slice(&[y[k], u[k], y[k + 1], v[k]]);
            }
        }
        PixelFormat::Nv12 | PixelFormat::I420 => {
            d[..w * h].copy_from_slice(y);
            let (cw, ch) = (w / 2, h / 2);
            for j in 0..ch {
                for i in 0..cw {
                    let k = 2 * j * w + 2 * i;
                    if format == PixelFormat::Nv12 {
                        d[w * h + j * w + 2 * i] = u[k];
                        d[w * h + j * w + 2 * i + 1] = v[k];
                    } else {
                        d[w * h + j * cw + i] = u[k];
                        d[w * h + cw * ch + j * cw + i] = v[k];
                    }
                }
            }
        }
        _ => unreachable!("only YUV formats are benchmarked"),
    }
    Frame::from_vec(layout, d).unwrap()
}

/// `cvtColor` of `src` into a fresh BGR frame, with OpenCV's current thread count.
fn cvt(src: &Frame, out: &mut Frame) {
    let code = framekeep_cv::convert::bgr_code(src.format()).unwrap();
    let input = MatView::new(src).unwrap();
    let mut dst = MatViewMut::new(out).unwrap();
    cvt_color_def(&input, &mut dst, code).unwrap();
}

/// The yuvutils-rs conversion closest to `cvtColor` for `src`'s format (see the
/// accuracy lines): YUYV has one path (6-bit coefficients), NV12 runs in
/// `Professional` mode, I420 has one path (13-bit coefficients).
fn yuvutils(src: &Frame, out: &mut [u8], mode: YuvConversionMode) {
    let (w, h) = (src.width() as u32, src.height() as u32);
    let d = src.data();
    let (range, matrix) = (YuvRange::Limited, YuvStandardMatrix::Bt601);
    match src.format() {
        PixelFormat::Yuyv => {
            let img = YuvPackedImage {
                yuy: d,
                yuy_stride: 2 * w,
                width: w,
                height: h,
            };
            yuvutils_rs::yuyv422_to_bgr(&img, out, 3 * w, range, matrix).unwrap();
        }
        PixelFormat::Nv12 => {
            let luma = (w * h) as usize;
            let img = YuvBiPlanarImage {
                y_plane: &d[..luma],
                y_stride: w,
                uv_plane: &d[luma..],
                uv_stride: w,
                width: w,
                height: h,
            };
            yuvutils_rs::yuv_nv12_to_bgr(&img, out, 3 * w, range, matrix, mode).unwrap();
        }
        PixelFormat::I420 => {
            let luma = (w * h) as usize;
            let c = luma / 4;
            let img = YuvPlanarImage {
                y_plane: &d[..luma],
                y_stride: w,
                u_plane: &d[luma..luma + c],
                u_stride: w / 2,
                v_plane: &d[luma + c..luma + 2 * c],
                v_stride: w / 2,
                width: w,
                height: h,
            };
            yuvutils_rs::yuv420_to_bgr(&img, out, 3 * w, range, matrix).unwrap();
        }
        _ => unreachable!(),
    }
}

fn gst_format(format: PixelFormat) -> &'static str {
    match format {
        PixelFormat::Yuyv => "YUY2",
        PixelFormat::Nv12 => "NV12",
        PixelFormat::I420 => "I420",
        _ => unreachable!(),
    }
}

/// CPU time (all threads) of one `gst-launch-1.0` run converting `buffers` frames of
/// `file` to BGR; `None` when GStreamer is not installed.
fn gst(file: &str, src: &Frame, buffers: usize, out: Option<&str>) -> Option<Duration> {
    let caps = format!(
        "video/x-raw,format={},width={},height={},framerate=30/1,colorimetry=bt601",
        gst_format(src.format()),
        src.width(),
        src.height()
    );
    let sink = match out {
        Some(path) => format!("filesink location={path}"),
        None => "fakesink".to_string(),
    };
    let pipeline = format!(
        "filesrc location={file} blocksize={} num-buffers={buffers} ! {caps} ! videoconvert ! video/x-raw,format=BGR ! {sink}",
        src.data().len()
    );
    let t0 = rusage(libc::RUSAGE_CHILDREN);
    let st = std::process::Command::new("gst-launch-1.0")
        .arg("-q")
        .args(pipeline.split(' '))
        .stdout(std::process::Stdio::null())
        .status()
        .ok()?;
    assert!(st.success(), "gst-launch-1.0 {pipeline}: {st}");
    Some(rusage(libc::RUSAGE_CHILDREN) - t0)
}

/// A timed method: its name, the OpenCV thread count it runs with (`Some(-1)`: OpenCV's
/// default, `None`: not OpenCV) and one conversion.
type Method = (String, Option<i32>, Box<dyn FnMut()>);

fn max_diff(a: &[u8], b: &[u8]) -> (u8, f64) {
    let mut max = 0u8;
    let mut off = 0usize;
    for (x, y) in a.iter().zip(b) {
        let d = x.abs_diff(*y);
        max = max.max(d);
        off += usize::from(d != 0);
    }
    (max, 100.0 * off as f64 / a.len() as f64)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    // `cargo test --all-targets` runs this binary without `--bench`: one short round, no
    // GStreamer, as a smoke test (the accuracy lines are still checked), not a measurement.
    let measure = std::env::args().any(|a| a == "--bench");
    let rounds = if measure {
        args.first().copied().unwrap_or(7)
    } else {
        1
    };
    let per = if measure {
        args.get(1).copied().unwrap_or(40)
    } else {
        3
    };
    let default_threads = get_num_threads().unwrap();
    let has_gst = measure
        && std::process::Command::new("gst-launch-1.0")
            .arg("--version")
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    println!(
        "convert_host: CPU ms per frame (user+sys, whole process), median of {rounds} interleaved rounds of {per} frames; \
         OpenCV default threads = {default_threads}, {} CPUs; load average {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim()
    );
    if !has_gst {
        println!("GStreamer: skipped (no gst-launch-1.0; apt-get install gstreamer1.0-tools gstreamer1.0-plugins-base)");
    }
    for (w, h) in [(640usize, 480usize), (1280, 720)] {
        let pics: Vec<[Vec<u8>; 3]> = (0..KINDS.len()).map(|k| planes(k, w, h)).collect();
        for format in [PixelFormat::Yuyv, PixelFormat::Nv12, PixelFormat::I420] {
            let frames: Vec<Frame> = pics.iter().map(|p| frame(format, p, w, h)).collect();
            let bgr = FrameLayout::packed(PixelFormat::Bgr24, w, h).unwrap();
            let mut reference = Frame::zeroed(bgr).unwrap();
            let mut simd = vec![0u8; bgr.len()];
            // Accuracy of each SIMD path against cvtColor, on every kind of picture.
            let modes: &[(YuvConversionMode, &str)] = if format == PixelFormat::Nv12 {
                &[
                    (YuvConversionMode::Professional, "Professional"),
                    (YuvConversionMode::Balanced, "Balanced"),
                ]
            } else {
                &[(YuvConversionMode::Balanced, "")]
            };
            // framekeep's converter itself: exact, or (NV12 through yuvutils-rs) within ±1.
            {
                let limit = u8::from(format == PixelFormat::Nv12);
                let conv = BgrConverter::with_size(w, h, 1).unwrap();
                for f in &frames {
                    cvt(f, &mut reference);
                    let out = conv.convert(f).unwrap();
                    let (m, _) = max_diff(out.data(), reference.data());
                    assert!(
                        m <= limit,
                        "{w}x{h} {format}: BgrConverter is {m} off cvtColor"
                    );
                }
            }
            for (mode, mode_name) in modes {
                let mut line = format!("ACCURACY {w}x{h} {format} yuvutils {mode_name}:");
                for (k, f) in frames.iter().enumerate() {
                    cvt(f, &mut reference);
                    yuvutils(f, &mut simd, *mode);
                    let (m, pct) = max_diff(&simd, reference.data());
                    line += &format!(" [{}] max {m} ({pct:.1}% differ)", KINDS[k]);
                }
                println!("{line}");
            }
            let src = &frames[0];
            let gst_file = format!("/dev/shm/framekeep-convert-host-{}.yuv", std::process::id());
            let mut gst_ok = has_gst;
            if gst_ok {
                let mut bytes = Vec::with_capacity(src.data().len() * per);
                for _ in 0..per {
                    bytes.extend_from_slice(src.data());
                }
                std::fs::write(&gst_file, bytes).unwrap();
                let out = format!("{gst_file}.bgr");
                gst_ok = gst(&gst_file, src, 1, Some(&out)).is_some();
                if let Ok(got) = std::fs::read(&out) {
                    cvt(src, &mut reference);
                    let (m, pct) = max_diff(&got, reference.data());
                    println!("ACCURACY {w}x{h} {format} GStreamer videoconvert (colorimetry=bt601): [{}] max {m} ({pct:.1}% differ)", KINDS[0]);
                    let _ = std::fs::remove_file(&out);
                }
            }
            let pool = PoolOptions::new(bgr)
                .min_buffers(2)
                .max_buffers(2)
                .build()
                .unwrap();
            let converter = BgrConverter::new(pool);
            let mut out = Frame::zeroed(bgr).unwrap();
            let mut out2 = vec![0u8; bgr.len()];
            let mut methods: Vec<Method> = Vec::new();
            {
                let c = converter.clone();
                let s = src.clone();
                methods.push((
                    "framekeep BgrConverter (OpenCV default threads)".into(),
                    Some(-1),
                    Box::new(move || drop(black_box(c.convert(&s).unwrap()))),
                ));
                let c = converter.clone();
                let s = src.clone();
                methods.push((
                    "framekeep BgrConverter (OpenCV 1 thread)".into(),
                    Some(1),
                    Box::new(move || drop(black_box(c.convert(&s).unwrap()))),
                ));
                let s = src.clone();
                methods.push((
                    "cvtColor, 1 thread".into(),
                    Some(1),
                    Box::new(move || cvt(&s, black_box(&mut out))),
                ));
                let s = src.clone();
                let mut o = Frame::zeroed(bgr).unwrap();
                methods.push((
                    format!("cvtColor, default threads ({default_threads})"),
                    Some(-1),
                    Box::new(move || cvt(&s, black_box(&mut o))),
                ));
                let s = src.clone();
                let mode = modes[0].0;
                methods.push((
                    format!("yuvutils-rs {}", modes[0].1),
                    None,
                    Box::new(move || yuvutils(&s, black_box(&mut out2), mode)),
                ));
            }
            let base = 2; // cvtColor, 1 thread
            let mut samples: Vec<Vec<f64>> = vec![Vec::new(); methods.len() + 1];
            let mut walls: Vec<Vec<f64>> = vec![Vec::new(); methods.len() + 1];
            for _ in 0..rounds {
                for (i, (_, threads, f)) in methods.iter_mut().enumerate() {
                    // -1: OpenCV's default; yuvutils ignores OpenCV's setting.
                    let n = match threads {
                        Some(-1) => default_threads,
                        Some(n) => *n,
                        None => 1,
                    };
                    set_num_threads(n).unwrap();
                    f(); // warm: caches, OpenCV's thread pool
                    let (c0, t0) = (cpu(), Instant::now());
                    for _ in 0..per {
                        f();
                    }
                    let (c, t) = (cpu() - c0, t0.elapsed());
                    samples[i].push(c.as_secs_f64() * 1e3 / per as f64);
                    walls[i].push(t.as_secs_f64() * 1e3 / per as f64);
                }
                if gst_ok {
                    // Steady state: a long run minus a short one (start-up cancels out).
                    let short = gst(&gst_file, src, 2, None).unwrap();
                    let long = gst(&gst_file, src, per, None).unwrap();
                    samples[methods.len()]
                        .push(long.saturating_sub(short).as_secs_f64() * 1e3 / (per - 2) as f64);
                }
            }
            set_num_threads(default_threads).unwrap();
            let _ = std::fs::remove_file(&gst_file);
            let b = median(&mut samples[base].clone());
            println!("{w}x{h} {format}: CPU ms/frame (wall ms/frame), ratio to cvtColor 1 thread");
            let mut names: Vec<String> = methods.iter().map(|m| m.0.clone()).collect();
            names.push("GStreamer videoconvert (gst-launch, 1 thread)".into());
            for (i, name) in names.iter().enumerate() {
                if samples[i].is_empty() {
                    continue;
                }
                let c = median(&mut samples[i]);
                let wall = if walls[i].is_empty() {
                    "-".to_string()
                } else {
                    format!("{:.3}", median(&mut walls[i]))
                };
                println!("  {name:55} {c:7.3} ({wall:>6})  {:5.2}x", c / b);
            }
        }
    }
}
