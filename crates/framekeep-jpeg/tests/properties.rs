//! Properties of the structure check over arbitrary and mutilated inputs.

use framekeep_jpeg::{inspect, JpegDefect};
use proptest::prelude::*;

/// A baseline JPEG, 16x8, one component, with `scan` as its entropy-coded
/// data (0xFF bytes stuffed) and an end-of-image marker.
fn jpeg(scan: &[u8]) -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8];
    v.extend_from_slice(&[0xFF, 0xC0, 0, 11, 8, 0, 8, 0, 16, 1, 1, 0x11, 0]);
    v.extend_from_slice(&[0xFF, 0xDA, 0, 8, 1, 1, 0x00, 0, 63, 0]);
    for &b in scan {
        v.push(b);
        if b == 0xFF {
            v.push(0x00);
        }
    }
    v.extend_from_slice(&[0xFF, 0xD9]);
    v
}

proptest! {
    /// Whatever the bytes, the check answers (no panic, no overflow), and a
    /// sound answer's length lies inside the data.
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(info) = inspect(&data) {
            prop_assert!(info.len <= data.len());
            prop_assert!(info.width > 0 && info.height > 0);
        }
    }

    /// The same, for bytes that start like a JPEG and so reach the deeper checks.
    #[test]
    fn jpeg_like_bytes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut data = vec![0xFF, 0xD8, 0xFF];
        data.extend_from_slice(&tail);
        let _ = inspect(&data);
    }

    /// A complete JPEG cut anywhere before its end-of-image marker is a defect:
    /// a truncated frame is never passed as whole.
    #[test]
    fn every_truncation_is_a_defect(scan in proptest::collection::vec(any::<u8>(), 4..256), cut in any::<prop::sample::Index>()) {
        let whole = jpeg(&scan);
        prop_assert_eq!(inspect(&whole).map(|i| i.len), Ok(whole.len()));
        let cut = cut.index(whole.len() - 1);
        prop_assert!(inspect(&whole[..cut]).is_err(), "cut at {} passed", cut);
    }

    /// Padding after the end-of-image marker (cameras pad with zeros, some
    /// with garbage) does not change the answer.
    #[test]
    fn padding_after_eoi_is_ignored(scan in proptest::collection::vec(any::<u8>(), 4..256), pad in proptest::collection::vec(any::<u8>(), 0..256)) {
        let whole = jpeg(&scan);
        let mut padded = whole.clone();
        padded.extend_from_slice(&pad);
        prop_assert_eq!(inspect(&padded), inspect(&whole));
    }
}

#[test]
fn a_gif_is_not_a_jpeg() {
    assert_eq!(inspect(b"GIF89a\x01\x00"), Err(JpegDefect::NotJpeg));
}
