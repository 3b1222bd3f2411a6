//! Pixel conversions into pooled BGR frames, through OpenCV.
//!
//! Display, image files and most OpenCV algorithms want BGR. Cameras deliver YUYV,
//! UYVY, NV12, I420, grey or MJPEG. A [`BgrConverter`] turns any of them into a BGR24 frame
//! taken from its own [`FramePool`]: the source is shown to OpenCV as a zero-copy
//! [`MatView`], the output frame as a [`MatViewMut`], and `cvtColor` (or the strict JPEG
//! decoder for MJPEG) writes straight into the pooled buffer: no per-frame allocation, no
//! extra copy.
//! OpenCV's I420 layout has no row padding of its own, so an I420 frame with padded rows
//! is first copied, packed, plane by plane, into a heap frame.
//!
//! YUYV and UYVY, what most cameras send, are converted by framekeep's own integer code
//! (`yuv.rs`), bit-exact with `cvtColor` on every (Y, U, V) triple, on the calling
//! thread only: `cvtColor` splits each frame across OpenCV's worker threads, and under
//! CPU emulation (a VM without KVM) its vector code costs about twice as much as the
//! whole capture → display job should (BENCHMARKS.md 4b, 5b).
//!
//! MJPEG is not decoded by OpenCV's `imdecode`, which hides libjpeg's warnings, but by
//! [`decode_jpeg`]: a corrupt or incomplete frame (truncated, no scan data, garbage where
//! the scan should end, a decoder warning) is a [`CvError::Corrupt`], counted in
//! [`BgrConverter::corrupt`], and its pooled output goes back to the pool: a corrupt
//! frame never hands out the previous frame's pixels. Same library and settings as
//! `imdecode`, so the pixels of a good frame are identical.
//!
//! NV12 is converted by `yuvutils-rs` (SIMD) in its `Professional` mode instead of
//! `cvtColor` on CPUs with SSE4.1 or AVX2 (its scalar fallback is up to 5 off): the same
//! BT.601 limited-range conversion (what `COLOR_YUV2BGR_NV12` does: 20-bit fixed point,
//! luma clamped to 16 first), within ±1 per byte of `cvtColor`, at
//! about half its CPU on the host, and on the calling thread only (`cvtColor` hands
//! stripes to OpenCV's worker threads); NV12 frames with padded rows (which yuvutils-rs
//! 0.8.3 refuses) still go through `cvtColor`. Its YUYV, UYVY and I420 paths are not within ±1
//! (6- and 13-bit coefficients: up to ±5 on camera-like frames), so those stay with
//! `cvtColor`. `benches/convert_host.rs` measures both and prints the differences.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use framekeep_core::frame::{Frame, FrameLayout, PixelFormat};
use framekeep_core::pipeline::OnCorrupt;
use framekeep_core::pool::{FramePool, PoolOptions};
use opencv::core::Size;
use opencv::imgproc::{
    cvt_color_def, resize, COLOR_BGRA2BGR, COLOR_GRAY2BGR, COLOR_RGB2BGR, COLOR_YUV2BGR_I420,
    COLOR_YUV2BGR_NV12, COLOR_YUV2BGR_UYVY, COLOR_YUV2BGR_YUYV, INTER_AREA,
};

pub use crate::error::Corruption;
pub use crate::jpeg::{decode_jpeg, JpegColor};
use crate::mat::{MatView, MatViewMut, TrackedMat};
use crate::yuv::Packed422;
use crate::CvError;

/// The `cvtColor` code that turns `format` into BGR (`None`: BGR already, MJPEG, or no
/// such conversion).
pub fn bgr_code(format: PixelFormat) -> Option<i32> {
    match format {
        PixelFormat::Gray8 => Some(COLOR_GRAY2BGR),
        PixelFormat::Rgb24 => Some(COLOR_RGB2BGR),
        PixelFormat::Bgra32 => Some(COLOR_BGRA2BGR),
        PixelFormat::Yuyv => Some(COLOR_YUV2BGR_YUYV),
        PixelFormat::Uyvy => Some(COLOR_YUV2BGR_UYVY),
        PixelFormat::Nv12 => Some(COLOR_YUV2BGR_NV12),
        PixelFormat::I420 => Some(COLOR_YUV2BGR_I420),
        PixelFormat::Bgr24 | PixelFormat::Uv88 | PixelFormat::Mjpeg => None,
    }
}

/// Converts frames of any supported format to BGR24 frames from its own pool.
#[derive(Debug, Clone)]
pub struct BgrConverter {
    pool: FramePool,
    label: &'static str,
    /// Corrupt MJPEG frames met, shared by clones.
    corrupt: Arc<AtomicU64>,
    on_corrupt: OnCorrupt,
}

impl BgrConverter {
    /// A converter whose outputs come from `pool` (its buffers must hold a BGR24 frame of
    /// the sizes converted; frames are reshaped to each input's size).
    pub fn new(pool: FramePool) -> BgrConverter {
        BgrConverter {
            pool,
            label: "cv-convert",
            corrupt: Arc::new(AtomicU64::new(0)),
            on_corrupt: OnCorrupt::Skip,
        }
    }

    /// A converter with a pool of `buffers` BGR24 frames of `width x height`.
    pub fn with_size(width: usize, height: usize, buffers: usize) -> Result<BgrConverter, CvError> {
        let layout = FrameLayout::packed(PixelFormat::Bgr24, width, height)?;
        let pool = PoolOptions::new(layout)
            .name("cv-convert")
            .min_buffers(buffers.min(2))
            .max_buffers(buffers.max(1))
            .build()?;
        Ok(BgrConverter::new(pool))
    }

    /// The lease label of output frames (default `"cv-convert"`).
    pub fn label(mut self, label: &'static str) -> BgrConverter {
        self.label = label;
        self
    }

    /// What the converter does with a corrupt MJPEG frame as a pipeline [`Stage`]:
    /// skip it (the default; the stage emits nothing for it, so the pipeline counts it
    /// as `filtered`), or end the stage with the [`CvError::Corrupt`] (`Error` and
    /// `Fail` alike: a stage's error ends it). [`BgrConverter::convert`] always returns
    /// the error.
    ///
    /// [`Stage`]: framekeep_core::pipeline::Stage
    pub fn on_corrupt(mut self, policy: OnCorrupt) -> BgrConverter {
        self.on_corrupt = policy;
        self
    }

    /// Corrupt MJPEG frames this converter (and its clones) met.
    pub fn corrupt(&self) -> u64 {
        self.corrupt.load(Ordering::Relaxed)
    }

    /// The pool outputs come from.
    pub fn pool(&self) -> &FramePool {
        &self.pool
    }

    /// `src` as a BGR24 frame with the same size and metadata.
    ///
    /// A BGR24 input is returned as is (a new handle on the same buffer: no copy).
    /// Otherwise the output is a unique frame from the pool. On error nothing stays
    /// checked out. A corrupt MJPEG frame is a [`CvError::Corrupt`] (and counted in
    /// [`BgrConverter::corrupt`]).
    pub fn convert(&self, src: &Frame) -> Result<Frame, CvError> {
        if src.format() == PixelFormat::Bgr24 {
            return Ok(src.clone());
        }
        let mut out = self.acquire(src.width(), src.height())?;
        if src.format() == PixelFormat::Mjpeg {
            // On error `out` goes back to the pool unseen, whatever it holds.
            self.decode_mjpeg(src, &mut out)?;
            out.set_meta(src.meta());
            return Ok(out);
        }
        // yuvutils-rs 0.8.3 refuses a chroma plane whose rows are padded (it wants
        // stride * rows == width * rows), so padded NV12 frames stay with cvtColor.
        if src.format() == PixelFormat::Nv12 && src.stride() == src.width() && nv12_simd() {
            nv12_to_bgr(src, &mut out)?;
        } else if let Some(order) = packed422(src.format()) {
            packed422_into(order, src, &mut out)?;
        } else {
            let input = input_view(src)?;
            let mut dst = MatViewMut::new(&mut out)?;
            let format = src.format();
            let code = bgr_code(format).ok_or(CvError::Unsupported {
                operation: "BGR conversion",
                format,
            })?;
            cvt_color_def(&input, &mut dst, code)?;
            dst.ensure_in_place("cvtColor")?;
        }
        out.set_meta(src.meta());
        Ok(out)
    }

    /// `src` converted to BGR and resized to `width x height` (area interpolation).
    ///
    /// Uses an intermediate tracked Mat at the source size when the source is not BGR;
    /// every Mat and frame created on the way is released if a step fails.
    pub fn convert_resized(
        &self,
        src: &Frame,
        width: usize,
        height: usize,
    ) -> Result<Frame, CvError> {
        let mut out = self.acquire(width, height)?;
        let size = Size::new(
            i32::try_from(width).map_err(|_| CvError::MatMismatch("width".into()))?,
            i32::try_from(height).map_err(|_| CvError::MatMismatch("height".into()))?,
        );
        {
            let input = input_view(src)?;
            let bgr = match bgr_code(src.format()) {
                Some(code) => {
                    let mut tmp = TrackedMat::empty("cv-convert-tmp")?;
                    cvt_color_def(&input, &mut tmp, code)?;
                    Some(tmp)
                }
                None if src.format() == PixelFormat::Bgr24 => None,
                None => {
                    return Err(CvError::Unsupported {
                        operation: "resized BGR conversion",
                        format: src.format(),
                    })
                }
            };
            let mut dst = MatViewMut::new(&mut out)?;
            match &bgr {
                Some(tmp) => resize(tmp, &mut dst, size, 0.0, 0.0, INTER_AREA)?,
                None => resize(&input, &mut dst, size, 0.0, 0.0, INTER_AREA)?,
            }
            dst.ensure_in_place("resize")?;
        }
        out.set_meta(src.meta());
        Ok(out)
    }

    /// Decodes the MJPEG frame `src` into `out` (a unique BGR24 frame of its size),
    /// counting it when it is corrupt.
    fn decode_mjpeg(&self, src: &Frame, out: &mut Frame) -> Result<(), CvError> {
        let result = decode_mjpeg_into(src, out);
        if matches!(result, Err(CvError::Corrupt { .. })) {
            self.corrupt.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    fn acquire(&self, width: usize, height: usize) -> Result<Frame, CvError> {
        let layout = FrameLayout::packed(PixelFormat::Bgr24, width, height)?;
        let mut out = self.pool.acquire(self.label)?;
        if *out.layout() != layout {
            out.reshape(layout)?;
        }
        Ok(out)
    }
}

/// Decodes the MJPEG frame `src`, which must be a complete JPEG of the frame's announced
/// size, into `out`.
fn decode_mjpeg_into(src: &Frame, out: &mut Frame) -> Result<(), CvError> {
    let what = || format!("MJPEG frame {}", src.sequence());
    let data = src.data();
    let info = framekeep_jpeg::inspect(data).map_err(|e| CvError::Corrupt {
        what: what(),
        reason: e.into(),
    })?;
    if (info.width, info.height) != (src.width(), src.height()) {
        return Err(CvError::Corrupt {
            what: what(),
            reason: Corruption::Size {
                width: info.width,
                height: info.height,
                expected_width: src.width(),
                expected_height: src.height(),
            },
        });
    }
    let stride = out.layout().stride();
    let buf = out.get_mut().ok_or(CvError::SharedFrame)?;
    decode_jpeg(data, JpegColor::Bgr, buf, stride).map_err(|e| match e {
        CvError::Corrupt { reason, .. } => CvError::Corrupt {
            what: what(),
            reason,
        },
        other => other,
    })?;
    Ok(())
}

/// Whether yuvutils-rs converts NV12 with its SIMD code here, the only path of it that is
/// within ±1 of `cvtColor`: without SSE4.1 and AVX2 (qemu's `qemu64` CPU model, for one) it
/// falls back to scalar code that is up to 5 off (`benches/convert_host.rs` run under
/// `qemu-x86_64 -cpu qemu64`), so NV12 goes through `cvtColor` there.
fn nv12_simd() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") || std::arch::is_x86_feature_detected!("sse4.1")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// NV12 → BGR24 with `yuvutils-rs` (BT.601 limited range, `Professional` accuracy: within
/// ±1 of `cvtColor`'s `COLOR_YUV2BGR_NV12`), straight into `out` (unique, packed BGR24 of
/// `src`'s size). `src` has unpadded rows (`stride == width`).
fn nv12_to_bgr(src: &Frame, out: &mut Frame) -> Result<(), CvError> {
    let (w, h, stride) = (src.width(), src.height(), src.stride());
    let int = |v: usize, what: &str| {
        u32::try_from(v).map_err(|_| CvError::Convert(format!("NV12 {what} {v} too large")))
    };
    let data = src.data();
    let luma = stride * h;
    let (y_plane, uv_plane) = (data.get(..luma), data.get(luma..luma + stride * (h / 2)));
    let (Some(y_plane), Some(uv_plane)) = (y_plane, uv_plane) else {
        return Err(CvError::Convert(format!(
            "NV12 frame of {w}x{h}, stride {stride}, has {} bytes",
            data.len()
        )));
    };
    let image = yuvutils_rs::YuvBiPlanarImage {
        y_plane,
        y_stride: int(stride, "stride")?,
        uv_plane,
        uv_stride: int(stride, "stride")?,
        width: int(w, "width")?,
        height: int(h, "height")?,
    };
    let out_stride = int(out.stride(), "output stride")?;
    let bgr = out.get_mut().ok_or(CvError::SharedFrame)?;
    yuvutils_rs::yuv_nv12_to_bgr(
        &image,
        bgr,
        out_stride,
        yuvutils_rs::YuvRange::Limited,
        yuvutils_rs::YuvStandardMatrix::Bt601,
        yuvutils_rs::YuvConversionMode::Professional,
    )
    .map_err(|e| CvError::Convert(format!("NV12 {w}x{h}: {e}")))
}

/// The byte order of a packed 4:2:2 format, which [`yuv`](crate::yuv) converts (`None`
/// for other formats, and on CPUs where `cvtColor` is the faster choice: see
/// [`crate::yuv::faster_than_cvtcolor`]).
fn packed422(format: PixelFormat) -> Option<Packed422> {
    if !crate::yuv::faster_than_cvtcolor() {
        return None;
    }
    match format {
        PixelFormat::Yuyv => Some(Packed422::Yuyv),
        PixelFormat::Uyvy => Some(Packed422::Uyvy),
        _ => None,
    }
}

/// YUYV or UYVY `src` → BGR24 `out` (unique, packed BGR24 of `src`'s size), bit-exact
/// with `cvtColor`, on the calling thread.
fn packed422_into(order: Packed422, src: &Frame, out: &mut Frame) -> Result<(), CvError> {
    let (w, h, stride) = (src.width(), src.height(), src.stride());
    let data = src.data();
    let needed = if h == 0 { 0 } else { stride * (h - 1) + 2 * w };
    if w % 2 != 0 || stride < 2 * w || data.len() < needed {
        return Err(CvError::Convert(format!(
            "{} frame of {w}x{h}, stride {stride}, has {} bytes",
            src.format(),
            data.len()
        )));
    }
    let out_stride = out.stride();
    let bgr = out.get_mut().ok_or(CvError::SharedFrame)?;
    crate::yuv::packed422_to_bgr(order, data, stride, bgr, out_stride, w, h);
    Ok(())
}

/// `src` as OpenCV's colour conversions read it: a view of `src` itself, except for an
/// I420 frame with padded rows, which is first copied packed into a heap frame
/// (`cvtColor` finds an I420 image's chroma rows `width / 2` bytes apart, packed two to
/// a `step`-long row, while a padded frame has them `stride / 2` apart).
fn input_view(src: &Frame) -> Result<MatView, CvError> {
    if src.format() != PixelFormat::I420 || src.layout().is_contiguous() {
        return MatView::new(src);
    }
    MatView::from_frame(src.to_packed()?)
}

/// Width and height from a JPEG's start-of-frame marker, if `data` is a JPEG (headers
/// only: [`framekeep_jpeg::inspect`] checks the whole structure, scan and end marker included).
pub fn jpeg_size(data: &[u8]) -> Option<(usize, usize)> {
    if data.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut i = 2;
    loop {
        // Markers are 0xFF (fill bytes allowed) then a code; segments carry a length.
        while *data.get(i)? == 0xFF && *data.get(i + 1)? == 0xFF {
            i += 1;
        }
        if *data.get(i)? != 0xFF {
            return None;
        }
        let code = *data.get(i + 1)?;
        let len = usize::from(u16::from_be_bytes([*data.get(i + 2)?, *data.get(i + 3)?]));
        let is_sof = matches!(code, 0xC0..=0xCF) && !matches!(code, 0xC4 | 0xC8 | 0xCC);
        if is_sof {
            let h = u16::from_be_bytes([*data.get(i + 5)?, *data.get(i + 6)?]);
            let w = u16::from_be_bytes([*data.get(i + 7)?, *data.get(i + 8)?]);
            return Some((usize::from(w), usize::from(h)));
        }
        if code == 0xD9 || code == 0xDA || len < 2 {
            return None; // end of image or scan data before any frame header
        }
        i += 2 + len;
    }
}

/// A [`BgrConverter`] that follows its input's size: made on the first frame and made
/// again whenever the frame size changes (a camera's format change, images of mixed
/// sizes), so that callers need not know the size up front.
#[derive(Debug)]
pub struct SizedBgrConverter {
    inner: Option<BgrConverter>,
    buffers: usize,
    label: &'static str,
    /// Corrupt MJPEG frames met, over every converter made.
    corrupt: Arc<AtomicU64>,
}

impl SizedBgrConverter {
    /// Converters with pools of `buffers` frames, whose outputs are labelled `label`.
    pub fn new(buffers: usize, label: &'static str) -> SizedBgrConverter {
        SizedBgrConverter {
            inner: None,
            buffers,
            label,
            corrupt: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Converters like [`SizedBgrConverter::new`], the first one made now for frames of
    /// `width x height`: a size too large for memory (over the pool byte ceiling) is a
    /// [`CvError::Pool`] before anything runs, not at the first frame.
    pub fn with_size(
        width: usize,
        height: usize,
        buffers: usize,
        label: &'static str,
    ) -> Result<SizedBgrConverter, CvError> {
        let mut sized = SizedBgrConverter::new(buffers, label);
        let mut converter = BgrConverter::with_size(width, height, buffers)?;
        converter.corrupt = Arc::clone(&sized.corrupt);
        sized.inner = Some(converter.label(label));
        Ok(sized)
    }

    /// Corrupt MJPEG frames met so far (see [`BgrConverter::corrupt`]).
    pub fn corrupt(&self) -> u64 {
        self.corrupt.load(Ordering::Relaxed)
    }

    /// `src` as a BGR24 frame (see [`BgrConverter::convert`]).
    pub fn convert(&mut self, src: &Frame) -> Result<Frame, CvError> {
        let fits = self.inner.as_ref().is_some_and(|c| {
            let l = c.pool().layout();
            (l.width(), l.height()) == (src.width(), src.height())
        });
        if !fits {
            let mut converter = BgrConverter::with_size(src.width(), src.height(), self.buffers)?;
            converter.corrupt = Arc::clone(&self.corrupt);
            self.inner = Some(converter.label(self.label));
        }
        self.inner.as_ref().expect("set above").convert(src)
    }
}

/// As a pipeline stage, a converter turns every frame into BGR24 (BGR frames pass
/// through without a copy); the input frame is released as soon as it is converted.
impl framekeep_core::pipeline::Stage for BgrConverter {
    fn process(
        &mut self,
        frame: Frame,
        out: &mut framekeep_core::pipeline::Output<'_>,
    ) -> Result<(), framekeep_core::pipeline::StageError> {
        let bgr = match self.convert(&frame) {
            Ok(bgr) => bgr,
            // Skipped: nothing emitted for it, so the pipeline counts it as filtered.
            Err(CvError::Corrupt { .. }) if self.on_corrupt == OnCorrupt::Skip => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        drop(frame);
        out.emit(bgr)
    }
}
