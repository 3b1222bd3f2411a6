//! Issue 11 at the file sources: a truncated JPEG in an image sequence and a corrupt frame
//! in a Motion-JPEG file are typed errors, counted, under the source's `on_corrupt`
//! policy (finding 1, and 5's truncated JPEG); an image whose header announces a huge
//! size is refused before it is decoded (finding 5's 16000x16000 PNG).

mod common;

use std::path::{Path, PathBuf};

use framekeep_core::cancel::CancelToken;
use framekeep_core::ledger::LeakCheck;
use framekeep_core::pipeline::OnCorrupt;
use framekeep_cv::io::{ImageSequence, VideoFileSource, DEFAULT_MAX_PIXELS};
use framekeep_cv::CvError;
use opencv::core::Size;
use opencv::prelude::*;
use opencv::videoio::VideoWriter;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "framekeep-cv-hostile-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// good_0.jpg, cut_1.jpg (the same JPEG cut in half), good_2.jpg.
fn jpeg_set(dir: &TempDir) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for i in 0..3 {
        let jpeg = common::encode(&common::scene(64, 48, i), 90);
        let (name, bytes) = if i == 1 {
            ("cut_1.jpg", jpeg[..jpeg.len() / 2].to_vec())
        } else {
            (if i == 0 { "good_0.jpg" } else { "good_2.jpg" }, jpeg)
        };
        let path = dir.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        paths.push(path);
    }
    paths
}

fn corrupt_path(result: Result<Option<framekeep_core::frame::Frame>, CvError>) -> String {
    match result {
        Err(CvError::Corrupt { what, .. }) => what,
        Err(e) => panic!("expected a corrupt-image error, got {e}"),
        Ok(f) => panic!("a truncated JPEG was read as an image: {f:?}"),
    }
}

#[test]
fn a_truncated_jpeg_in_a_sequence_is_an_error_naming_it_by_default() {
    let check = LeakCheck::new();
    let dir = TempDir::new("seq");
    let paths = jpeg_set(&dir);
    let token = CancelToken::new();
    let mut seq = ImageSequence::from_paths(paths.clone()).unwrap();
    assert_eq!(seq.read_next(&token).unwrap().unwrap().sequence(), 0);
    let what = corrupt_path(seq.read_next(&token));
    assert_eq!(what, paths[1].display().to_string());
    // The next call goes on with the next image.
    assert_eq!(seq.read_next(&token).unwrap().unwrap().sequence(), 1);
    assert!(seq.read_next(&token).unwrap().is_none());
    assert_eq!(seq.corrupt(), 1);
    drop(seq);
    check.finish().unwrap();
}

#[test]
fn sequences_skip_or_fail_on_a_truncated_jpeg_as_asked() {
    let check = LeakCheck::new();
    let dir = TempDir::new("policy");
    let paths = jpeg_set(&dir);
    let token = CancelToken::new();
    let mut skip = ImageSequence::from_paths(paths.clone())
        .unwrap()
        .on_corrupt(OnCorrupt::Skip);
    let mut n = 0;
    while let Some(frame) = skip.read_next(&token).unwrap() {
        assert_eq!(frame.sequence(), n);
        n += 1;
    }
    assert_eq!((n, skip.corrupt()), (2, 1));
    let mut fail = ImageSequence::from_paths(paths.clone())
        .unwrap()
        .on_corrupt(OnCorrupt::Fail);
    fail.read_next(&token).unwrap().unwrap();
    corrupt_path(fail.read_next(&token));
    assert!(
        fail.read_next(&token).unwrap().is_none(),
        "the sequence ended"
    );
    // Looping over nothing but corrupt images is an error, not a spin.
    let mut only_bad = ImageSequence::from_paths(vec![paths[1].clone()])
        .unwrap()
        .looping(true)
        .on_corrupt(OnCorrupt::Skip);
    assert!(matches!(
        only_bad.read_next(&token),
        Err(CvError::File { .. })
    ));
    drop((skip, fail, only_bad));
    check.finish().unwrap();
}

/// A PNG whose header says `width x height` (8-bit gray) and whose image data is a
/// single empty zlib block: 67 bytes on disk.
fn huge_png(path: &Path, width: u32, height: u32) {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x01, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    );
    chunk(&mut png, b"IEND", &[]);
    std::fs::write(path, png).unwrap();
}

#[test]
fn an_image_larger_than_the_limit_is_refused_from_its_header() {
    let check = LeakCheck::new();
    let dir = TempDir::new("huge");
    let path = dir.0.join("huge.png");
    huge_png(&path, 16000, 16000);
    let token = CancelToken::new();
    let mut seq = ImageSequence::from_paths(vec![path.clone()]).unwrap();
    match seq.read_next(&token) {
        Err(CvError::ImageTooLarge {
            path: p,
            width: 16000,
            height: 16000,
            max_pixels,
        }) => assert_eq!((p, max_pixels), (path.clone(), DEFAULT_MAX_PIXELS)),
        other => panic!("expected ImageTooLarge, got {other:?}"),
    }
    // A JPEG's size comes from its frame header, before decoding, too.
    let jpeg = common::encode(&common::scene(64, 48, 1), 90);
    let small = dir.0.join("small.jpg");
    std::fs::write(&small, jpeg).unwrap();
    let mut seq = ImageSequence::from_paths(vec![small])
        .unwrap()
        .max_pixels(64 * 47);
    assert!(matches!(
        seq.read_next(&token),
        Err(CvError::ImageTooLarge {
            width: 64,
            height: 48,
            ..
        })
    ));
    drop(seq);
    check.finish().unwrap();
}

/// A Motion-JPEG AVI of 10 frames whose frame 3 has garbage in the middle of its scan
/// (same length, so the container stays intact).
fn damaged_clip(dir: &TempDir) -> PathBuf {
    let path = dir.0.join("clip.avi");
    let fourcc = VideoWriter::fourcc('M', 'J', 'P', 'G').unwrap();
    let mut writer = VideoWriter::new(&path, fourcc, 25.0, Size::new(64, 48), true).unwrap();
    assert!(writer.is_opened().unwrap());
    for i in 0..10 {
        writer.write(&common::scene(64, 48, i)).unwrap();
    }
    writer.release().unwrap();
    drop(writer);
    let mut bytes = std::fs::read(&path).unwrap();
    let starts: Vec<usize> = bytes
        .windows(3)
        .enumerate()
        .filter(|(_, w)| *w == [0xFF, 0xD8, 0xFF])
        .map(|(i, _)| i)
        .collect();
    assert_eq!(starts.len(), 10, "one JPEG per frame");
    let frame3 = &bytes[starts[3]..starts[4]];
    let sos = frame3.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    let end = frame3.windows(2).rposition(|w| w == [0xFF, 0xD9]).unwrap();
    let mid = starts[3] + sos + (end - sos) / 2;
    for (k, b) in bytes[mid..mid + 32].iter_mut().enumerate() {
        *b = if k % 2 == 0 { 0xFF } else { 0x42 };
    }
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn a_corrupt_motion_jpeg_frame_is_skipped_or_an_error() {
    let check = LeakCheck::new();
    let dir = TempDir::new("clip");
    let path = damaged_clip(&dir);
    let token = CancelToken::new();
    let mut skip = VideoFileSource::open(&path).unwrap();
    let mut n = 0;
    while skip.read_next(&token).unwrap().is_some() {
        n += 1;
    }
    assert_eq!((n, skip.corrupt()), (9, 1));
    let mut error = VideoFileSource::open(&path)
        .unwrap()
        .on_corrupt(OnCorrupt::Error);
    for _ in 0..3 {
        error.read_next(&token).unwrap().unwrap();
    }
    match error.read_next(&token) {
        Err(CvError::Corrupt { what, .. }) => assert!(what.starts_with("frame 3 of "), "{what}"),
        other => panic!("expected frame 3 as corrupt, got {other:?}"),
    }
    assert_eq!(error.read_next(&token).unwrap().unwrap().sequence(), 3);
    assert_eq!(error.pool().stats().checked_out, 0);
    drop((skip, error));
    check.finish().unwrap();
}

/// Found by the fuzz target `image_reader`: a Sun raster header (a format the `image`
/// crate does not know, so its size is not checked before `imread`) announcing
/// 20000x989875744 pixels made OpenCV's own size check throw, and the sequence returned
/// `CvError::OpenCv`, which does not say which file it was. It is a `CvError::File`
/// naming the file now.
#[test]
fn an_image_opencv_refuses_by_its_header_is_an_error_naming_it() {
    let check = LeakCheck::new();
    let dir = TempDir::new("sun-raster");
    let path = dir.0.join("huge.ras");
    let mut header = Vec::new();
    // magic, width, height, depth, length, type (standard), map type, map length.
    for word in [0x59a6_6a95u32, 20000, 0x3b00_4e20, 8, 0, 1, 0, 0] {
        header.extend_from_slice(&word.to_be_bytes());
    }
    std::fs::write(&path, &header).unwrap();
    let mut seq = ImageSequence::from_paths(vec![path.clone()]).unwrap();
    match seq.read_next(&CancelToken::new()) {
        Err(e @ CvError::File { .. }) => {
            assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        }
        Err(e) => panic!("an error that does not name the file: {e:?}"),
        Ok(f) => panic!("read as an image: {f:?}"),
    }
    drop(seq);
    check.finish().expect("nothing left alive");
}

/// Found by the fuzz target `image_reader` in CI: a 48-byte Sun raster file announcing
/// 20000x20000 made `imread` allocate 1.2 GB. The `image` crate cannot read a Sun raster
/// header, so its size was never checked against `max_pixels`: any format outside the
/// checked ones went to `imread` unchecked. Such files are refused now, before decoding.
/// Failed before: this 20x20 Sun raster decoded although the limit is 100 pixels.
#[test]
fn an_image_whose_size_cannot_be_checked_first_is_refused() {
    let check = LeakCheck::new();
    let dir = TempDir::new("sun-raster-small");
    let path = dir.0.join("small.ras");
    let (w, h) = (20u32, 20u32);
    let mut bytes = Vec::new();
    // magic, width, height, depth, length, type (standard), map type, map length.
    for word in [0x59a6_6a95u32, w, h, 24, w * h * 3, 1, 0, 0] {
        bytes.extend_from_slice(&word.to_be_bytes());
    }
    bytes.resize(bytes.len() + (w * h * 3) as usize, 0x80);
    std::fs::write(&path, &bytes).unwrap();
    let mut seq = ImageSequence::from_paths(vec![path.clone()])
        .unwrap()
        .max_pixels(100);
    match seq.read_next(&CancelToken::new()) {
        Err(e @ CvError::File { .. }) => {
            assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        }
        Err(e) => panic!("another error: {e:?}"),
        Ok(f) => panic!("decoded past the 100-pixel limit: {f:?}"),
    }
    drop(seq);
    check.finish().expect("nothing left alive");
}
