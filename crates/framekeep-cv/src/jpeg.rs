//! Strict JPEG decoding: a corrupt or incomplete JPEG is an error, never a picture.
//!
//! OpenCV's `imdecode` lets libjpeg's warnings pass. A truncated MJPEG frame, whose end
//! libjpeg invents ("Corrupt JPEG data: premature end of data segment"), decodes with
//! success, gray below the cut; a frame with intact headers and no scan data fails
//! silently and leaves the output buffer as it was, so a pooled frame kept the previous
//! frame's pixels. Here a JPEG is first checked without decoding
//! ([`framekeep_jpeg::inspect`]: a scan that ends in an end-of-image marker, long enough for the
//! image, no garbage where it should end), then decoded by the system's libjpeg-turbo
//! (csrc/strict_jpeg.c) with every warning turned into an error, straight into the
//! caller's buffer. Same library and settings as OpenCV's decoder, so the pixels are
//! identical to `imdecode`'s (BENCHMARKS.md has the comparison with `imdecode` and the
//! pure-Rust zune-jpeg).

use framekeep_jpeg::JpegInfo;
use std::ffi::{c_char, c_int, c_uint, CStr};
use std::ptr::NonNull;

use crate::error::Corruption;
use crate::CvError;

/// The pixel layout [`decode_jpeg`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JpegColor {
    /// One byte per pixel (a colour JPEG's luma, as `imread(.., IMREAD_GRAYSCALE)`).
    Gray,
    /// Blue, green, red (as `imdecode(.., IMREAD_COLOR)`).
    Bgr,
    /// Red, green, blue.
    Rgb,
}

impl JpegColor {
    /// Bytes per pixel.
    pub fn channels(self) -> usize {
        match self {
            JpegColor::Gray => 1,
            JpegColor::Bgr | JpegColor::Rgb => 3,
        }
    }

    fn code(self) -> c_int {
        match self {
            JpegColor::Gray => 0,
            JpegColor::Bgr => 1,
            JpegColor::Rgb => 2,
        }
    }
}

#[repr(C)]
struct FkJpeg {
    _opaque: [u8; 0],
}

extern "C" {
    fn fk_jpeg_new() -> *mut FkJpeg;
    fn fk_jpeg_free(j: *mut FkJpeg);
    fn fk_jpeg_message(j: *const FkJpeg) -> *const c_char;
    fn fk_jpeg_header(
        j: *mut FkJpeg,
        data: *const u8,
        len: usize,
        width: *mut c_uint,
        height: *mut c_uint,
        components: *mut c_int,
    ) -> c_int;
    fn fk_jpeg_decode(
        j: *mut FkJpeg,
        space: c_int,
        out: *mut u8,
        stride: usize,
        out_len: usize,
    ) -> c_int;
}

/// One libjpeg decompressor (freed on drop).
struct Decompressor(NonNull<FkJpeg>);

impl Decompressor {
    fn new() -> Result<Decompressor, CvError> {
        // SAFETY: fk_jpeg_new has no preconditions; it returns an owned decompressor
        // or null (out of memory).
        let ptr = unsafe { fk_jpeg_new() };
        NonNull::new(ptr)
            .map(Decompressor)
            .ok_or_else(|| CvError::Decode("JPEG: no memory for a libjpeg decompressor".into()))
    }

    fn message(&self) -> String {
        // SAFETY: the pointer is a live decompressor; fk_jpeg_message returns its
        // NUL-terminated message buffer (always terminated: libjpeg's format_message and
        // snprintf write within JMSG_LENGTH_MAX, and calloc zeroed it), valid while it lives.
        unsafe { CStr::from_ptr(fk_jpeg_message(self.0.as_ptr())) }
            .to_string_lossy()
            .into_owned()
    }
}

impl Drop for Decompressor {
    fn drop(&mut self) {
        // SAFETY: the pointer came from fk_jpeg_new and is freed once, here.
        unsafe { fk_jpeg_free(self.0.as_ptr()) }
    }
}

// SAFETY: the decompressor is plain heap memory owned by this value; libjpeg keeps no
// thread-local state, so it may be used from (one thread at a time on) any thread.
unsafe impl Send for Decompressor {}

/// Decodes the JPEG in `data` into `out` as `color` pixels, rows `stride` bytes apart,
/// and returns what its headers say. Bytes after the end-of-image marker (padding) are
/// ignored.
///
/// Errors: [`CvError::Corrupt`] when the data is not one complete, clean JPEG (see
/// [`Corruption`]; `out` may then hold part of an image: never show it), and
/// [`CvError::MatMismatch`] when the image does not fit `out` (check its size first with
/// [`framekeep_jpeg::inspect`]: the headers alone tell it).
pub fn decode_jpeg(
    data: &[u8],
    color: JpegColor,
    out: &mut [u8],
    stride: usize,
) -> Result<JpegInfo, CvError> {
    let corrupt = |reason: Corruption| CvError::Corrupt {
        what: "JPEG data".into(),
        reason,
    };
    let info = framekeep_jpeg::inspect(data).map_err(|e| corrupt(e.into()))?;
    let row = info.width.saturating_mul(color.channels());
    let needed = (info.height - 1).saturating_mul(stride).saturating_add(row);
    if row > stride || needed > out.len() {
        return Err(CvError::MatMismatch(format!(
            "a {}x{} JPEG needs {needed} bytes with stride {stride} (rows of {row}), the output has {}",
            info.width,
            info.height,
            out.len()
        )));
    }
    let dec = Decompressor::new()?;
    let data = &data[..info.len];
    let (mut w, mut h, mut n): (c_uint, c_uint, c_int) = (0, 0, 0);
    // SAFETY: `dec` is live; `data` is valid for `data.len()` bytes and outlives both
    // calls (libjpeg reads it until the decode returns); the out-pointers are locals.
    let header = unsafe {
        fk_jpeg_header(
            dec.0.as_ptr(),
            data.as_ptr(),
            data.len(),
            &mut w,
            &mut h,
            &mut n,
        )
    };
    if header != 0 {
        return Err(corrupt(Corruption::Decoder(dec.message())));
    }
    if (w as usize, h as usize) != (info.width, info.height) {
        return Err(corrupt(Corruption::Decoder(format!(
            "headers read as {w}x{h}, frame header says {}x{}",
            info.width, info.height
        ))));
    }
    // SAFETY: `dec` read the headers of `data`, which is still borrowed; `out` is valid
    // for `out.len()` writable bytes and the C side writes only rows of `width x
    // channels` bytes `stride` apart, which it checks fit `out.len()` (checked above too).
    let decoded = unsafe {
        fk_jpeg_decode(
            dec.0.as_ptr(),
            color.code(),
            out.as_mut_ptr(),
            stride,
            out.len(),
        )
    };
    if decoded != 0 {
        return Err(corrupt(Corruption::Decoder(dec.message())));
    }
    Ok(info)
}
