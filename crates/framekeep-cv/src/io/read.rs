//! Reading one image file as BGR: its size checked from the header before anything is
//! decoded, and a JPEG decoded strictly.
//!
//! `imread` decodes first and lets OpenCV's own ceiling (2^30 pixels, 3 GB as BGR) be the
//! only limit: a 249 KB PNG of 16000x16000 costs 1.5 GB and seconds before anyone can
//! say it is too large. Here the header is read first (the pure-Rust `image` crate reads
//! PNG, JPEG, BMP, PNM, TIFF and WebP headers without decoding) and a size above the
//! limit is an [`CvError::ImageTooLarge`]. Files whose header it cannot read (OpenEXR,
//! JPEG 2000, Sun raster, PFM, anything else) are refused with a [`CvError::File`] naming
//! them, not handed to `imread` unchecked (a 48-byte Sun raster file announcing
//! 20000x20000 made it allocate 1.2 GB).
//!
//! A JPEG is decoded by [`decode_jpeg`] (a truncated or corrupt one is a
//! [`CvError::Corrupt`], which `imread` would have filled in gray), its EXIF orientation
//! applied as `imread` does; a file of any other known format (by its first bytes) that
//! `imread` cannot decode is a [`CvError::Corrupt`] too, and one of no known format a
//! [`CvError::File`].

use std::io::Cursor;
use std::path::Path;

use image::{ImageDecoder, ImageReader};
use opencv::core::{Scalar, CV_8UC3};
use opencv::imgcodecs::{imread, IMREAD_COLOR};
use opencv::prelude::*;

use super::error::{file_error, io_error};
use crate::convert::{decode_jpeg, Corruption, JpegColor};
use crate::mat::TrackedMat;
use crate::CvError;

/// The default ceiling on an image file's pixels: 64 Mi (about 8192x8192; 192 MiB as
/// BGR). Larger images are refused from their header, before decoding.
pub const DEFAULT_MAX_PIXELS: usize = 1 << 26;

fn corrupt(path: &Path, reason: Corruption) -> CvError {
    CvError::Corrupt {
        what: path.display().to_string(),
        reason,
    }
}

/// Refuses `width x height` when it is above `max_pixels`.
pub(crate) fn check_size(
    path: &Path,
    width: usize,
    height: usize,
    max_pixels: usize,
) -> Result<(), CvError> {
    if width.saturating_mul(height) > max_pixels {
        return Err(CvError::ImageTooLarge {
            path: path.to_path_buf(),
            width,
            height,
            max_pixels,
        });
    }
    Ok(())
}

/// Reads `path` as an 8-bit BGR image, refusing images of more than `max_pixels` from
/// their header (see the module documentation).
pub(crate) fn read_bgr(path: &Path, max_pixels: usize) -> Result<TrackedMat, CvError> {
    let bytes = std::fs::read(path).map_err(|e| io_error(path, e))?;
    if bytes.starts_with(&[0xFF, 0xD8]) {
        return read_jpeg(path, &bytes, max_pixels);
    }
    let reader = ImageReader::new(Cursor::new(&bytes))
        .with_guessed_format()
        .map_err(|e| io_error(path, e))?;
    // A format recognised from its first bytes that does not decode is corrupt; bytes
    // of no known format are not an image at all.
    let known = reader.format().is_some();
    if !reader.format().is_some_and(|f| f.reading_enabled()) {
        // Nothing is decoded whose size was not checked: `imread` would allocate
        // whatever the header says (a 48-byte Sun raster file: 1.2 GB).
        return Err(file_error(
            path,
            "not an image whose size can be read before decoding \
             (PNG, JPEG, BMP, PNM, TIFF, WebP and the other formats of the image crate)",
        ));
    }
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| corrupt(path, Corruption::Decoder(e.to_string())))?;
    check_size(path, w as usize, h as usize, max_pixels)?;
    drop(bytes);
    // OpenCV's own checks throw (e.g. a Sun raster header over its 2^30-pixel ceiling, a
    // format whose size is not checked above): the error names the file all the same.
    let image = imread(path, IMREAD_COLOR).map_err(|e| {
        let reason = format!(
            "imread refused it: {}",
            e.message.lines().next().unwrap_or_default().trim()
        );
        if known {
            corrupt(path, Corruption::Decoder(reason))
        } else {
            file_error(path, &reason)
        }
    })?;
    let image = TrackedMat::adopt(image, "imread")?;
    if image.rows() <= 0 || image.cols() <= 0 {
        return Err(if known {
            corrupt(
                path,
                Corruption::Decoder("OpenCV could not decode it".into()),
            )
        } else {
            file_error(path, "imread could not read it")
        });
    }
    Ok(image)
}

/// A JPEG file: structure and size first, then the strict decode, then the EXIF
/// orientation.
fn read_jpeg(path: &Path, bytes: &[u8], max_pixels: usize) -> Result<TrackedMat, CvError> {
    let info = framekeep_jpeg::inspect(bytes).map_err(|e| corrupt(path, e.into()))?;
    check_size(path, info.width, info.height, max_pixels)?;
    let (rows, cols) = (
        i32::try_from(info.height).map_err(|_| CvError::MatMismatch("height".into()))?,
        i32::try_from(info.width).map_err(|_| CvError::MatMismatch("width".into()))?,
    );
    let mut mat = TrackedMat::adopt(
        Mat::new_rows_cols_with_default(rows, cols, CV_8UC3, Scalar::all(0.0))?,
        "jpeg file",
    )?;
    let stride = info.width * 3;
    decode_jpeg(bytes, JpegColor::Bgr, mat.data_bytes_mut()?, stride).map_err(|e| match e {
        CvError::Corrupt { reason, .. } => corrupt(path, reason),
        other => other,
    })?;
    let orientation = image::codecs::jpeg::JpegDecoder::new(Cursor::new(bytes))
        .and_then(|mut d| d.orientation())
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    orient(mat, orientation)
}

/// `mat` turned as an EXIF orientation asks (as `imread` does).
pub(crate) fn orient(
    mat: TrackedMat,
    orientation: image::metadata::Orientation,
) -> Result<TrackedMat, CvError> {
    use image::metadata::Orientation as O;
    use opencv::core::{flip, rotate, ROTATE_180, ROTATE_90_CLOCKWISE, ROTATE_90_COUNTERCLOCKWISE};
    let turn = |src: &TrackedMat, code| -> Result<TrackedMat, CvError> {
        let mut out = TrackedMat::empty("jpeg file")?;
        rotate(src, &mut out, code)?;
        Ok(out)
    };
    let mirror = |src: &TrackedMat, code| -> Result<TrackedMat, CvError> {
        let mut out = TrackedMat::empty("jpeg file")?;
        flip(src, &mut out, code)?;
        Ok(out)
    };
    Ok(match orientation {
        O::NoTransforms => mat,
        O::Rotate90 => turn(&mat, ROTATE_90_CLOCKWISE)?,
        O::Rotate180 => turn(&mat, ROTATE_180)?,
        O::Rotate270 => turn(&mat, ROTATE_90_COUNTERCLOCKWISE)?,
        O::FlipHorizontal => mirror(&mat, 1)?,
        O::FlipVertical => mirror(&mat, 0)?,
        O::Rotate90FlipH => mirror(&turn(&mat, ROTATE_90_CLOCKWISE)?, 1)?,
        O::Rotate270FlipH => mirror(&turn(&mat, ROTATE_90_COUNTERCLOCKWISE)?, 1)?,
    })
}
