//! Issue 11, the fuzz target `intrinsics`'s findings, through the calib-mono binary: a
//! hostile `--intrinsics FILE` is one line on stderr, `cannot use intrinsics file FILE:
//! REASON`, exit status 1, never a crash (OpenCV's FileStorage parsers read out of
//! bounds on some XML and YAML texts), an abort or a huge allocation (a matrix header of
//! 100000x60000 made FileStorage ask for 48 GB), nor an error that does not name the file.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;

use common::{s, scratch, stderr};
use framekeep_calib::output::read_intrinsics;
use framekeep_calib::CalibError;
use framekeep_core::ledger::LeakCheck;

const BIN: &str = env!("CARGO_BIN_EXE_calib-mono");

/// What calib-mono says and does about `--intrinsics FILE` with `content`: it must refuse
/// it, on one line naming the file, with every one of `needles`; returns that line.
fn refused(dir: &Path, name: &str, content: &[u8], needles: &[&str]) -> String {
    let file = dir.join(name);
    std::fs::write(&file, content).unwrap();
    let images = dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    let out = dir.join("cam.yml");
    let o = common::run(
        BIN,
        &[
            s(&images),
            "-b",
            "9x6",
            "-q",
            "-o",
            s(&out),
            "--intrinsics",
            s(&file),
        ],
    );
    let err = stderr(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{name}: exit status {:?} (signal {:?}); stderr: {err}",
        o.status.code(),
        o.status.signal()
    );
    let prefix = format!(
        "calib-mono: error: cannot use intrinsics file {}: ",
        file.display()
    );
    assert!(err.starts_with(&prefix), "{name}: {err}");
    assert_eq!(err.lines().count(), 1, "{name}: {err}");
    for n in needles {
        assert!(err.contains(n), "{name}: expected {n:?} in {err}");
    }
    assert!(!out.exists());
    err
}

/// A calibration file as calib-mono and OpenCV's sample write it.
const GOOD: &str = "%YAML:1.0
---
calibration_time: \"unix:1765000000\"
image_width: 640
image_height: 480
camera_matrix: !!opencv-matrix
   rows: 3
   cols: 3
   dt: d
   data: [ 5.0012e+02, 0., 3.1998e+02, 0., 5.0003e+02, 2.4011e+02, 0.,
       0., 1. ]
distortion_coefficients: !!opencv-matrix
   rows: 1
   cols: 5
   dt: d
   data: [ -1.0e-01, 1.2e-02, 1.0e-04, -2.0e-04, 0. ]
avg_reprojection_error: 1.2e-01
";

#[test]
fn a_file_opencv_wrote_is_read() {
    let dir = scratch("intrinsics-good");
    let file = dir.join("cam.yml");
    std::fs::write(&file, GOOD).unwrap();
    let keys = ("camera_matrix", "distortion_coefficients");
    let i = read_intrinsics(&file, keys).unwrap();
    assert_eq!(i.camera_matrix[0], [500.12, 0.0, 319.98]);
    assert_eq!(i.camera_matrix[2], [0.0, 0.0, 1.0]);
    assert_eq!(i.dist, [-0.1, 0.012, 1.0e-4, -2.0e-4, 0.0]);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Finding 1: texts on which OpenCV's FileStorage parsers crash the process (SIGSEGV).
#[test]
fn malformed_filestorage_text_is_an_error_naming_the_file() {
    let check = LeakCheck::new();
    let dir = scratch("intrinsics-malformed");
    for (name, content, needle) in CRASHERS {
        refused(&dir, name, content, &[needle]);
    }
    std::fs::remove_dir_all(&dir).unwrap();
    check.finish().expect("no Mat or thread left alive");
}

/// Found by the fuzz target `intrinsics` on FileStorage (OpenCV 4.6): each killed
/// calib-mono with SIGSEGV before the fix.
const CRASHERS: &[(&str, &[u8], &str)] = &[
    // An XML declaration cut inside its attribute: FileStorage's XML parser reads past
    // the end of its buffer.
    ("cut-declaration.yml", b"<?xml version=", "an XML file"),
];

/// Finding 2: a matrix header that declares 100000x60000 doubles (48 GB): refused from its
/// header, nothing allocated. FileStorage allocated the matrix before reading its data:
/// under the fuzzer (whose malloc limit makes it an abort) and wherever the allocation
/// succeeds, that is 48 GB; where it fails, OpenCV's "Failed to allocate 48000000000
/// bytes".
#[test]
fn a_huge_matrix_header_is_refused_before_anything_is_allocated() {
    let dir = scratch("intrinsics-huge");
    let huge = GOOD.replacen("rows: 3\n   cols: 3", "rows: 100000\n   cols: 60000", 1);
    let err = refused(
        &dir,
        "huge.yml",
        huge.as_bytes(),
        &["camera_matrix is 100000x60000, not 3x3"],
    );
    assert!(!err.contains("allocate"), "{err}");
    // The same in the distortion coefficients.
    let huge = GOOD.replacen("rows: 1\n   cols: 5", "rows: 100000\n   cols: 60000", 1);
    refused(
        &dir,
        "huge-dist.yml",
        huge.as_bytes(),
        &["distortion_coefficients is 100000x60000"],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Finding 3: a file whose top level is a sequence, not a mapping, gave "OpenCV error in
/// FileStorage::get: ... isMap()", which does not say which file is wrong.
#[test]
fn every_refusal_names_the_file() {
    let check = LeakCheck::new();
    let dir = scratch("intrinsics-named");
    let sequence = "%YAML:1.0\n---\n- 1\n- [ 2, 3 ]\n";
    refused(
        &dir,
        "sequence.yml",
        sequence.as_bytes(),
        &["not a `key: value` entry"],
    );
    // The library's error is the typed one, naming the file.
    let file = dir.join("sequence.yml");
    match read_intrinsics(&file, ("camera_matrix", "distortion_coefficients")) {
        Err(CalibError::BadIntrinsics { path, .. }) => assert_eq!(path, file),
        other => panic!("{other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
    check.finish().expect("no Mat or thread left alive");
}
