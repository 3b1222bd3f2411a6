//! Image files, read and written without OpenCV's imgcodecs.
//!
//! Debian's `libopencv_imgcodecs` depends on GDAL, GDCM, OpenEXR and more: linking it makes
//! the dynamic loader map and relocate about 115 further shared libraries at every start of
//! a tool, about 90 ms of pure overhead per run (as long as the calibration itself) and
//! more again at exit. The calibration tools only need ordinary image files, so they decode
//! and encode them with the pure-Rust `image` crate (PNG, JPEG, BMP, PNM, TIFF, WebP), and
//! their binaries load the few OpenCV modules they compute with (core, imgproc, calib3d,
//! features2d, flann). Exotic formats OpenCV also reads (OpenEXR, JPEG 2000, Radiance HDR,
//! Sun raster) are refused with a message naming the file.
//!
//! Semantics follow `imread`: EXIF orientation is applied, colour images are turned to gray
//! with OpenCV's own `cvtColor` weights (not the `image` crate's), alpha is dropped, and
//! 16-bit samples are scaled to 8 bits.

use std::io::Cursor;
use std::path::Path;

use framekeep_cv::convert::{decode_jpeg, JpegColor};
use image::{DynamicImage, ExtendedColorType, ImageDecoder, ImageFormat, ImageReader};
use opencv::core::{Mat, Scalar, ToInputArray, CV_8UC1, CV_8UC3, CV_8UC4};
use opencv::imgproc;
use opencv::prelude::*;

use crate::error::{CalibError, CvContext, Result};
use crate::tracked::{track, TrackedMat};

/// The most pixels an image may have (64 Mi, about 8192x8192), checked from its header
/// before it is decoded.
pub const MAX_PIXELS: u64 = 1 << 26;

/// The size every view of a camera must have: that of its first view.
#[derive(Debug, Clone)]
pub struct SameAs {
    /// The first view.
    pub first: std::path::PathBuf,
    /// Its width.
    pub width: u32,
    /// Its height.
    pub height: u32,
}

fn unreadable(path: &Path) -> CalibError {
    CalibError::UnreadableImage {
        path: path.to_path_buf(),
    }
}

fn corrupt(path: &Path, reason: impl std::fmt::Display) -> CalibError {
    CalibError::CorruptImage {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Refuses an empty `width x height` (corrupt), one above [`MAX_PIXELS`] or, with `same`,
/// of another size than the first view's: all from the header, before decoding.
fn check_size(path: &Path, width: u32, height: u32, same: Option<&SameAs>) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(corrupt(
            path,
            format!("its header announces an empty {width}x{height} image"),
        ));
    }
    if let Some(s) = same.filter(|s| (s.width, s.height) != (width, height)) {
        return Err(CalibError::SizeMismatch {
            path: path.to_path_buf(),
            width: width as i32,
            height: height as i32,
            first: s.first.clone(),
            expected_width: s.width as i32,
            expected_height: s.height as i32,
        });
    }
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(CalibError::ImageTooLarge {
            path: path.to_path_buf(),
            width,
            height,
            max_pixels: MAX_PIXELS,
        });
    }
    Ok(())
}

fn open(path: &Path) -> Result<ImageReader<std::io::BufReader<std::fs::File>>> {
    if !path.exists() {
        return Err(CalibError::MissingImage {
            path: path.to_path_buf(),
        });
    }
    ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|source| CalibError::Io {
            action: "cannot read",
            path: path.to_path_buf(),
            source,
        })
}

/// An image's size from its header, without decoding it; refused above [`MAX_PIXELS`].
pub fn image_size(path: &Path) -> Result<(u32, u32)> {
    let (w, h) = open(path)?
        .into_dimensions()
        .map_err(|_| unreadable(path))?;
    check_size(path, w, h, None)?;
    Ok((w, h))
}

/// Decodes an image file (format from its content), orientation applied, after checking
/// its size from the header. A JPEG is decoded strictly: truncated or corrupt is an
/// error naming the file, not an image gray below the cut.
fn decode(path: &Path, same: Option<&SameAs>) -> Result<DynamicImage> {
    let reader = open(path)?;
    if reader.format() == Some(ImageFormat::Jpeg) {
        return decode_jpeg_file(path, same);
    }
    let mut decoder = reader.into_decoder().map_err(|_| unreadable(path))?;
    let (w, h) = decoder.dimensions();
    check_size(path, w, h, same)?;
    let orientation = decoder.orientation().ok();
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| corrupt(path, e))?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    Ok(img)
}

/// A JPEG file through framekeep-cv's strict decoder (libjpeg-turbo, every warning an
/// error: what `imread` decodes, pixel for pixel, minus the silence about damage).
fn decode_jpeg_file(path: &Path, same: Option<&SameAs>) -> Result<DynamicImage> {
    let bytes = std::fs::read(path).map_err(|source| CalibError::Io {
        action: "cannot read",
        path: path.to_path_buf(),
        source,
    })?;
    let info = framekeep_jpeg::inspect(&bytes).map_err(|e| corrupt(path, e))?;
    let (w, h) = (info.width as u32, info.height as u32);
    check_size(path, w, h, same)?;
    let color = if info.components == 1 {
        JpegColor::Gray
    } else {
        JpegColor::Rgb
    };
    let stride = info.width * color.channels();
    let mut pixels = vec![0u8; stride * info.height];
    decode_jpeg(&bytes, color, &mut pixels, stride).map_err(|e| match e {
        framekeep_cv::CvError::Corrupt { reason, .. } => corrupt(path, reason),
        other => CalibError::Cv(other),
    })?;
    let mut img = match color {
        JpegColor::Gray => image::GrayImage::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8),
        _ => image::RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8),
    }
    .ok_or_else(|| unreadable(path))?;
    let orientation = image::codecs::jpeg::JpegDecoder::new(Cursor::new(&bytes))
        .and_then(|mut d| d.orientation());
    if let Ok(o) = orientation {
        img.apply_orientation(o);
    }
    Ok(img)
}

/// A tracked Mat of `rows` x `cols` and `typ` holding a copy of `bytes` (tightly packed).
fn mat_from(
    rows: u32,
    cols: u32,
    typ: i32,
    bytes: &[u8],
    name: &'static str,
) -> Result<TrackedMat> {
    let mut m = track(
        Mat::new_rows_cols_with_default(rows as i32, cols as i32, typ, Scalar::all(0.0))
            .cv("Mat::new")?,
        name,
    )?;
    let dst = m.data_bytes_mut().cv("Mat::data_bytes_mut")?;
    if dst.len() != bytes.len() {
        return Err(CalibError::Worker(format!(
            "decoded {} bytes for a {cols}x{rows} image of {} bytes",
            bytes.len(),
            dst.len()
        )));
    }
    dst.copy_from_slice(bytes);
    Ok(m)
}

fn convert(src: &TrackedMat, code: i32, name: &'static str) -> Result<TrackedMat> {
    let mut out = crate::tracked::track_empty(name)?;
    imgproc::cvt_color(src, &mut out, code, 0).cv("cvtColor")?;
    Ok(out)
}

/// Reads an image as 8-bit gray (`imread(path, IMREAD_GRAYSCALE)`).
pub fn read_gray(path: &Path) -> Result<TrackedMat> {
    read_gray_as(path, None)
}

/// [`read_gray`] that, with `same`, refuses an image of another size than the first view
/// from its header, before decoding it.
pub fn read_gray_as(path: &Path, same: Option<&SameAs>) -> Result<TrackedMat> {
    let img = decode(path, same)?;
    let (w, h) = dims(&img);
    match img {
        DynamicImage::ImageLuma8(g) => mat_from(h, w, CV_8UC1, g.as_raw(), "calib view"),
        other => {
            let rgb = mat_from(h, w, CV_8UC3, other.to_rgb8().as_raw(), "decoded rgb")?;
            convert(&rgb, imgproc::COLOR_RGB2GRAY, "calib view")
        }
    }
}

/// Reads an image as 8-bit BGR (`imread(path, IMREAD_COLOR)`).
pub fn read_bgr(path: &Path) -> Result<TrackedMat> {
    let img = decode(path, None)?;
    let (w, h) = dims(&img);
    match img {
        DynamicImage::ImageLuma8(g) => {
            let gray = mat_from(h, w, CV_8UC1, g.as_raw(), "decoded gray")?;
            convert(&gray, imgproc::COLOR_GRAY2BGR, "image")
        }
        other => {
            let rgb = mat_from(h, w, CV_8UC3, other.to_rgb8().as_raw(), "decoded rgb")?;
            convert(&rgb, imgproc::COLOR_RGB2BGR, "image")
        }
    }
}

fn dims(img: &DynamicImage) -> (u32, u32) {
    (img.width(), img.height())
}

/// Writes an 8-bit gray, BGR or BGRA Mat to `path`, in the format its extension names
/// (PNG, JPEG, BMP, PNM, TIFF, WebP).
pub fn write_image(path: &Path, img: &(impl MatTraitConst + ToInputArray)) -> Result<()> {
    let fail = |e: &dyn std::fmt::Display| CalibError::Io {
        action: "cannot write",
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    };
    let format = ImageFormat::from_path(path)
        .ok()
        .filter(|f| f.writing_enabled())
        .ok_or_else(|| {
            let ext = path.extension().unwrap_or_default().to_string_lossy();
            fail(&format!(
                "unsupported image format {ext:?} (use .png, .jpg, .bmp, .ppm, .tif or .webp)"
            ))
        })?;
    let (code, color) = match img.typ() {
        t if t == CV_8UC1 => (None, ExtendedColorType::L8),
        t if t == CV_8UC3 => (Some(imgproc::COLOR_BGR2RGB), ExtendedColorType::Rgb8),
        t if t == CV_8UC4 => (Some(imgproc::COLOR_BGRA2RGBA), ExtendedColorType::Rgba8),
        t => {
            return Err(fail(&format!(
                "cannot store a Mat of type {t} as an image (8-bit gray, BGR or BGRA only)"
            )))
        }
    };
    let (w, h) = (img.cols() as u32, img.rows() as u32);
    let converted;
    let bytes: &[u8] = match code {
        Some(code) => {
            let mut out = crate::tracked::track_empty("image to write")?;
            imgproc::cvt_color(img, &mut out, code, 0).cv("cvtColor")?;
            converted = out;
            converted.data_bytes().cv("Mat::data_bytes")?
        }
        None if img.is_continuous() => img.data_bytes().cv("Mat::data_bytes")?,
        None => {
            converted = track(img.try_clone().cv("Mat::clone")?, "image to write")?;
            converted.data_bytes().cv("Mat::data_bytes")?
        }
    };
    image::save_buffer_with_format(path, bytes, w, h, color, format).map_err(|e| fail(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use framekeep_core::ledger::LeakCheck;

    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("fk-imageio-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A 4x2 BGR test image: pure blue, green, red, white, then four grays.
    fn bgr_sample() -> TrackedMat {
        let px: [u8; 24] = [
            255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255, //
            0, 0, 0, 10, 10, 10, 128, 128, 128, 250, 250, 250,
        ];
        mat_from(2, 4, CV_8UC3, &px, "sample").unwrap()
    }

    /// Found by the fuzz target `image_reader`: a PBM header announcing 60600x0 was an
    /// image of that size for `image_size` (the first view's size of a set, against which
    /// every other view was then "of another size"); an empty image is corrupt.
    #[test]
    fn an_empty_image_header_is_corrupt() {
        let check = LeakCheck::new();
        let dir = scratch("empty");
        let path = dir.join("empty.pbm");
        std::fs::write(&path, b"P4\n60600 00000\n255\0\n\n\0\0\0\0").unwrap();
        for result in [
            image_size(&path).map(|_| ()),
            read_gray(&path).map(|_| ()),
            read_bgr(&path).map(|_| ()),
        ] {
            match result {
                Err(e @ CalibError::CorruptImage { .. }) => {
                    assert!(e.to_string().contains("empty.pbm"), "{e}");
                }
                other => panic!("{other:?}"),
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
        check.finish().unwrap();
    }

    #[test]
    fn png_round_trip_and_opencv_gray_weights() {
        let check = LeakCheck::new();
        let dir = scratch("png");
        let path = dir.join("sample.png");
        let bgr = bgr_sample();
        write_image(&path, &bgr).unwrap();
        let back = read_bgr(&path).unwrap();
        assert_eq!(back.data_bytes().unwrap(), bgr.data_bytes().unwrap());
        let gray = read_gray(&path).unwrap();
        assert_eq!((gray.cols(), gray.rows(), gray.typ()), (4, 2, CV_8UC1));
        // OpenCV's BGR2GRAY weights (0.114 B + 0.587 G + 0.299 R), as imread would give.
        assert_eq!(
            gray.data_bytes().unwrap(),
            &[29, 150, 76, 255, 0, 10, 128, 250]
        );
        // A gray PNG stays one channel, byte for byte.
        let gpath = dir.join("gray.png");
        write_image(&gpath, &gray).unwrap();
        let g2 = read_gray(&gpath).unwrap();
        assert_eq!(g2.data_bytes().unwrap(), gray.data_bytes().unwrap());
        let as_bgr = read_bgr(&gpath).unwrap();
        assert_eq!(as_bgr.typ(), CV_8UC3);
        drop((bgr, back, gray, g2, as_bgr));
        std::fs::remove_dir_all(&dir).unwrap();
        check.finish().expect("no Mat left alive");
    }

    #[test]
    fn bad_files_are_named_errors() {
        let check = LeakCheck::new();
        let dir = scratch("bad");
        let missing = dir.join("nope.png");
        assert!(
            matches!(read_gray(&missing), Err(CalibError::MissingImage { path }) if path == missing)
        );
        let junk = dir.join("junk.png");
        std::fs::write(&junk, b"not a png at all").unwrap();
        assert!(
            matches!(read_gray(&junk), Err(CalibError::UnreadableImage { path }) if path == junk)
        );
        let err = write_image(&dir.join("out.xyz"), &bgr_sample()).unwrap_err();
        assert!(err.to_string().contains("out.xyz"), "{err}");
        assert!(!dir.join("out.xyz").exists());
        std::fs::remove_dir_all(&dir).unwrap();
        check.finish().expect("no Mat left alive");
    }
}
