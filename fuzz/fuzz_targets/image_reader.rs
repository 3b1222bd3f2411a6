//! The image readers: framekeep-cv's `ImageSequence` (strict JPEG, other formats through
//! `imread` after their header's size is checked) and the calibration tools' reader
//! (`framekeep_calib::imageio`: strict JPEG, the `image` crate otherwise). The input's
//! first byte picks the file's extension (readers must go by content, not by name), the
//! rest is the file.
//!
//! Invariants: no crash, abort or panic; an image is handed out only with the size its
//! header announces (never above the readers' pixel limits) and as the format promised
//! (a BGR24 frame of consistent layout, an 8-bit gray or BGR Mat); a refused file is a
//! typed error naming the file.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use framekeep_calib::imageio::{image_size, read_bgr, read_gray_as, SameAs};
use framekeep_core::cancel::CancelToken;
use framekeep_core::frame::PixelFormat;
use framekeep_cv::io::ImageSequence;
use framekeep_cv::opencv::core::{MatTraitConst, CV_8UC1, CV_8UC3};
use framekeep_cv::CvError;
use libfuzzer_sys::fuzz_target;

/// Most pixels the sequence may hand out here (the calibration reader keeps its own
/// limit, `MAX_PIXELS`): the fuzzer's inputs stay small in memory.
const SEQ_MAX_PIXELS: usize = 1 << 22;

const EXTENSIONS: [&str; 8] = ["jpg", "png", "bmp", "pgm", "tiff", "webp", "ppm", "img"];

fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("framekeep-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        dir
    })
}

fn names(message: &str, path: &Path) -> bool {
    message.contains(&path.display().to_string())
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let path = scratch().join(format!("image.{}", EXTENSIONS[usize::from(pick) % 8]));
    std::fs::write(&path, bytes).expect("writing the input file");
    calib_reader(&path);
    sequence(&path);
    let _ = std::fs::remove_file(&path);
});

fn calib_reader(path: &Path) {
    let size = image_size(path);
    match &size {
        Ok((w, h)) => assert!(
            u64::from(*w) * u64::from(*h) <= framekeep_calib::imageio::MAX_PIXELS
                && *w > 0
                && *h > 0,
            "{w}x{h} accepted"
        ),
        Err(e) => assert!(names(&e.to_string(), path), "{e}"),
    }
    // Decoding is checked on images of at most 4 Mi pixels (bigger ones only for their
    // refusal above the limit), so that an input costs little memory.
    if let Ok((w, h)) = size {
        if u64::from(w) * u64::from(h) > 1 << 22 {
            return;
        }
    }
    // As a second view of a set whose first is 64x48: another size is refused from
    // the header.
    let same = SameAs {
        first: PathBuf::from("first.png"),
        width: 64,
        height: 48,
    };
    for same in [None, Some(&same)] {
        match read_gray_as(path, same) {
            Ok(m) => {
                let (w, h) = size
                    .as_ref()
                    .copied()
                    .expect("decoded what image_size refuses");
                assert_eq!(m.typ(), CV_8UC1);
                // EXIF orientation may turn the image.
                let dims = (m.cols() as u32, m.rows() as u32);
                assert!(dims == (w, h) || dims == (h, w), "{dims:?} vs {w}x{h}");
                if let Some(s) = same {
                    assert_eq!((w, h), (s.width, s.height));
                }
            }
            Err(e) => assert!(names(&e.to_string(), path), "{e}"),
        }
    }
    match read_bgr(path) {
        Ok(m) => {
            let (w, h) = size.expect("decoded what image_size refuses");
            assert_eq!(m.typ(), CV_8UC3);
            let dims = (m.cols() as u32, m.rows() as u32);
            assert!(dims == (w, h) || dims == (h, w), "{dims:?} vs {w}x{h}");
        }
        Err(e) => assert!(names(&e.to_string(), path), "{e}"),
    }
}

fn sequence(path: &Path) {
    let mut seq = ImageSequence::from_paths(vec![path.to_path_buf()])
        .expect("a sequence of one path")
        .max_pixels(SEQ_MAX_PIXELS)
        .buffers(1);
    let token = CancelToken::new();
    match seq.read_next(&token) {
        Ok(Some(frame)) => {
            assert_eq!(frame.format(), PixelFormat::Bgr24);
            assert!(frame.width() * frame.height() <= SEQ_MAX_PIXELS);
            assert_eq!(frame.data().len(), frame.layout().len());
            assert_eq!(frame.layout().len(), frame.width() * frame.height() * 3);
            assert_eq!(frame.sequence(), 0);
            assert_eq!(seq.corrupt(), 0);
            drop(frame);
            assert!(matches!(seq.read_next(&token), Ok(None)));
        }
        Ok(None) => panic!("a sequence of one file ended before it"),
        Err(e) => {
            let message = e.to_string();
            match &e {
                CvError::Corrupt { .. } => assert_eq!(seq.corrupt(), 1),
                CvError::File { .. } | CvError::ImageTooLarge { .. } => {}
                other => panic!("an untyped refusal: {other:?}"),
            }
            assert!(names(&message, path), "{message}");
        }
    }
}
