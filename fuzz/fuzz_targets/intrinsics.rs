//! The intrinsics reader of the calibration tools (`calib-mono --intrinsics FILE`,
//! `calib-stereo --left-intrinsics/--right-intrinsics`): the input is the file's content.
//!
//! Invariants: no crash, abort or panic whatever the file holds; a file that is refused
//! gives an error whose message names the file (the user must know which of the files
//! they gave is wrong); one that is accepted gives a 3x3 camera matrix and 4, 5, 8, 12
//! or 14 finite distortion coefficients.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use framekeep_calib::output::read_intrinsics;
use libfuzzer_sys::fuzz_target;

/// The file each input is written to (one per fuzzing process).
fn file() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("framekeep-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        dir.join("intrinsics.yml")
    })
}

fuzz_target!(|data: &[u8]| {
    let path = file();
    std::fs::write(path, data).expect("writing the input file");
    match read_intrinsics(path, ("camera_matrix", "distortion_coefficients")) {
        Ok(intr) => {
            assert!(
                [4, 5, 8, 12, 14].contains(&intr.dist.len()),
                "accepted {} distortion coefficients",
                intr.dist.len()
            );
            assert!(
                intr.camera_matrix.iter().flatten().all(|v| v.is_finite())
                    && intr.dist.iter().all(|v| v.is_finite()),
                "accepted a value that is not finite: {intr:?}"
            );
        }
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.contains(&path.display().to_string()),
                "an error that does not name the file: {message}"
            );
        }
    }
});
