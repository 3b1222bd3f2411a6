//! Result files, written all-or-nothing.
//!
//! A calibration run produces several files (YAML, JSON, report PNG). Each is first written
//! to a hidden temporary file in the destination directory (same file system, so the final
//! `rename` is atomic) and only when every file of the run has been written are they all
//! renamed into place. Any failure before that removes the temporaries, so a failed run
//! never leaves a partial file or clobbers the result of an earlier run.
//!
//! The YAML is written with OpenCV's own `FileStorage`, with the keys of OpenCV's
//! calibration sample, so OpenCV and ROS code load it unchanged.

use std::path::{Path, PathBuf};

use opencv::core::{self, FileStorage, FileStorage_Mode, Mat};
use opencv::prelude::*;

use crate::error::{CalibError, CvContext, Result};
use crate::intrinsics_file;
use crate::mono::{Intrinsics, MonoCalibration};
use crate::tracked::track;

/// A set of output files staged in temporaries until [`Staging::commit`].
#[derive(Debug, Default)]
pub struct Staging {
    files: Vec<(PathBuf, PathBuf)>,
}

impl Staging {
    /// An empty staging set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reserves a temporary path for `target`, in the same directory and with the same
    /// extension (OpenCV picks formats by extension). Fails if the directory is missing.
    pub fn stage(&mut self, target: &Path) -> Result<PathBuf> {
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(CalibError::Io {
                action: "cannot write",
                path: target.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "output directory does not exist",
                ),
            });
        }
        let name = target
            .file_name()
            .ok_or_else(|| {
                CalibError::InvalidArgument(format!("bad output path {}", target.display()))
            })?
            .to_string_lossy();
        let ext = target
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default();
        let temp = dir.join(format!(
            ".{name}.tmp-{}-{}{ext}",
            std::process::id(),
            self.files.len()
        ));
        self.files.push((temp.clone(), target.to_path_buf()));
        Ok(temp)
    }

    /// `error` with the temporary path of a staged file replaced by the path the user
    /// asked for: a failure to write `.cam.yml.tmp-123-0.yml` is one to write `cam.yml`.
    pub fn blame(&self, error: CalibError) -> CalibError {
        match error {
            CalibError::Io {
                action,
                path,
                source,
            } => {
                let path = self
                    .files
                    .iter()
                    .find(|(temp, _)| *temp == path)
                    .map_or(path, |(_, target)| target.clone());
                CalibError::Io {
                    action,
                    path,
                    source,
                }
            }
            other => other,
        }
    }

    /// Moves every staged file into place.
    pub fn commit(mut self) -> Result<()> {
        for (temp, target) in &self.files {
            if !temp.is_file() {
                return Err(CalibError::Io {
                    action: "cannot write",
                    path: target.clone(),
                    source: std::io::Error::other("staged file was not written"),
                });
            }
        }
        let files = std::mem::take(&mut self.files);
        for (i, (temp, target)) in files.iter().enumerate() {
            if let Err(source) = std::fs::rename(temp, target) {
                for (t, _) in &files[i..] {
                    let _ = std::fs::remove_file(t);
                }
                return Err(CalibError::Io {
                    action: "cannot move into place",
                    path: target.clone(),
                    source,
                });
            }
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        for (temp, _) in &self.files {
            let _ = std::fs::remove_file(temp);
        }
    }
}

/// An open FileStorage writer that is released even on error paths.
struct Writer {
    fs: FileStorage,
}

impl Writer {
    fn create(path: &Path) -> Result<Self> {
        let name = path.to_str().ok_or_else(|| {
            CalibError::InvalidArgument(format!("non UTF-8 path {}", path.display()))
        })?;
        let fs = FileStorage::new(
            name,
            FileStorage_Mode::WRITE as i32 | FileStorage_Mode::FORMAT_YAML as i32,
            "",
        )
        .cv("FileStorage::open")?;
        if !fs.is_opened().cv("FileStorage::isOpened")? {
            // FileStorage says no more than that; the system says why.
            let source = match std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
            {
                Err(e) => e,
                Ok(_) => {
                    let _ = std::fs::remove_file(path);
                    std::io::Error::other("FileStorage could not open the file")
                }
            };
            return Err(CalibError::Io {
                action: "cannot write",
                path: path.to_path_buf(),
                source,
            });
        }
        Ok(Self { fs })
    }

    fn int(&mut self, key: &str, v: i32) -> Result<()> {
        core::write_i32(&mut self.fs, key, v).cv("FileStorage::write")
    }

    fn real(&mut self, key: &str, v: f64) -> Result<()> {
        core::write_f64(&mut self.fs, key, v).cv("FileStorage::write")
    }

    fn text(&mut self, key: &str, v: &str) -> Result<()> {
        core::write_str(&mut self.fs, key, v).cv("FileStorage::write")
    }

    fn rows<R: AsRef<[f64]>>(&mut self, key: &str, rows: &[R]) -> Result<()> {
        let m = track(
            Mat::from_slice_2d(rows).cv("Mat::from_slice_2d")?,
            "yaml matrix",
        )?;
        core::write_mat(&mut self.fs, key, &m).cv("FileStorage::write")
    }

    fn finish(mut self) -> Result<()> {
        self.fs.release().cv("FileStorage::release")
    }
}

fn timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("unix:{secs}")
}

/// Creates `dir` and its parents; an error names the directory.
pub fn create_dir_all(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| CalibError::Io {
        action: "cannot create directory",
        path: dir.to_path_buf(),
        source,
    })
}

/// Writes a mono calibration as OpenCV's calibration sample does (plus standard
/// deviations and view names).
pub fn write_mono_yaml(path: &Path, cal: &MonoCalibration, units: &str) -> Result<()> {
    let mut w = Writer::create(path)?;
    w.text("calibration_time", &timestamp())?;
    w.int("nframes", cal.views.len() as i32)?;
    w.int("image_width", cal.image_width)?;
    w.int("image_height", cal.image_height)?;
    w.int("board_width", cal.board.cols as i32)?;
    w.int("board_height", cal.board.rows as i32)?;
    w.real("square_size", cal.board.square)?;
    w.text("square_size_units", units)?;
    if cal.flags.fix_aspect_ratio {
        w.real("aspectRatio", cal.flags.aspect_ratio.unwrap_or(1.0))?;
    }
    w.int("flags", cal.flag_bits)?;
    w.rows("camera_matrix", &cal.intrinsics.camera_matrix)?;
    w.rows("distortion_coefficients", &[cal.intrinsics.dist.as_slice()])?;
    w.real("avg_reprojection_error", cal.rms)?;
    let errs: Vec<[f64; 1]> = cal.views.iter().map(|v| [v.error]).collect();
    w.rows("per_view_reprojection_errors", &errs)?;
    let ext: Vec<[f64; 6]> = cal
        .views
        .iter()
        .map(|v| {
            [
                v.rvec[0], v.rvec[1], v.rvec[2], v.tvec[0], v.tvec[1], v.tvec[2],
            ]
        })
        .collect();
    w.rows("extrinsic_parameters", &ext)?;
    if !cal.std_intrinsics.is_empty() {
        w.rows(
            "std_deviations_intrinsics",
            &[cal.std_intrinsics.as_slice()],
        )?;
    }
    w.finish()
}

/// Named matrices of a stereo calibration, written in order.
pub fn write_matrices_yaml(
    path: &Path,
    entries: &[(&str, Vec<Vec<f64>>)],
    scalars: &[(&str, f64)],
) -> Result<()> {
    let mut w = Writer::create(path)?;
    w.text("calibration_time", &timestamp())?;
    for (key, rows) in entries {
        w.rows(key, rows)?;
    }
    for (key, v) in scalars {
        w.real(key, *v)?;
    }
    w.finish()
}

/// Writes `value` as pretty JSON.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CalibError::InvalidArgument(format!("cannot serialise results: {e}")))?;
    std::fs::write(path, text + "\n").map_err(|source| CalibError::Io {
        action: "cannot write",
        path: path.to_path_buf(),
        source,
    })
}

/// Reads `camera_matrix` and `distortion_coefficients` (or `M1`/`D1`-style keys given
/// as `keys`) from a calibration file in OpenCV's YAML format.
///
/// The file is read in Rust, never by OpenCV's `FileStorage`, whose parsers crash on some
/// malformed input and which allocates a matrix its header declares before it reads the
/// data (see `intrinsics_file.rs`). Every refusal is [`CalibError::BadIntrinsics`] naming
/// `path`, with the reason.
pub fn read_intrinsics(path: &Path, keys: (&str, &str)) -> Result<Intrinsics> {
    let bad = |reason: String| CalibError::BadIntrinsics {
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| {
        bad(match e.kind() {
            std::io::ErrorKind::NotFound => "file does not exist".into(),
            _ => format!("cannot read it: {e}"),
        })
    })?;
    if !meta.is_file() {
        return Err(bad("not a regular file".into()));
    }
    let file = std::fs::File::open(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let text = intrinsics_file::read_text(file).map_err(bad)?;
    let (camera_matrix, dist) = intrinsics_file::parse(&text, keys).map_err(bad)?;
    Ok(Intrinsics {
        camera_matrix,
        dist,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("fk-calib-out-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn commit_moves_every_file_into_place() {
        let dir = scratch("commit");
        let mut staging = Staging::new();
        let a = staging.stage(&dir.join("a.yml")).unwrap();
        let b = staging.stage(&dir.join("b.json")).unwrap();
        assert!(a.extension().unwrap() == "yml" && b.extension().unwrap() == "json");
        std::fs::write(&a, "a").unwrap();
        std::fs::write(&b, "b").unwrap();
        staging.commit().unwrap();
        assert_eq!(listing(&dir), ["a.yml", "b.json"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unwritten_or_abandoned_files_leave_nothing() {
        let dir = scratch("abandon");
        std::fs::write(dir.join("a.yml"), "old").unwrap();
        let mut staging = Staging::new();
        let a = staging.stage(&dir.join("a.yml")).unwrap();
        staging.stage(&dir.join("b.json")).unwrap();
        std::fs::write(&a, "new").unwrap();
        // b.json was never written: the commit fails and a.yml keeps its old content.
        assert!(staging.commit().is_err());
        assert_eq!(listing(&dir), ["a.yml"]);
        assert_eq!(std::fs::read_to_string(dir.join("a.yml")).unwrap(), "old");
        // Dropped without commit: temporaries are removed.
        let mut staging = Staging::new();
        std::fs::write(staging.stage(&dir.join("c.yml")).unwrap(), "c").unwrap();
        drop(staging);
        assert_eq!(listing(&dir), ["a.yml"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
