//! Turning what the user typed into a list of image files.
//!
//! Calibration inputs come as a directory (every image in it), a glob (`dir/left_*.png`;
//! wildcards `*` and `?` in the file name) or a list file (one path per line, relative to
//! the list's directory, `#` comments). Results are sorted so views keep a stable order and
//! stereo pairs line up by name. A list that names a missing file is an error here, before
//! any work starts.

use std::path::{Path, PathBuf};

use framekeep_cv::io::{is_image, wildcard_match};

use crate::error::{CalibError, Result};

fn read_dir_sorted(dir: &Path, spec: &str) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|source| CalibError::Io {
        action: "cannot list",
        path: dir.to_path_buf(),
        source,
    })?;
    let mut out: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    if out.is_empty() {
        return Err(CalibError::NoImages { spec: spec.into() });
    }
    Ok(out)
}

/// Resolves a directory, glob or list file into image paths, checking that each exists.
pub fn resolve_images(spec: &str) -> Result<Vec<PathBuf>> {
    let path = Path::new(spec);
    let images = if spec.contains(['*', '?']) {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let pattern = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| CalibError::InvalidArgument(format!("bad glob {spec:?}")))?;
        if dir.to_str().is_some_and(|d| d.contains(['*', '?'])) {
            return Err(CalibError::InvalidArgument(format!(
                "glob {spec:?}: wildcards are only supported in the file name"
            )));
        }
        if !dir.is_dir() {
            return Err(CalibError::NoImages { spec: spec.into() });
        }
        read_dir_sorted(dir, spec)
            .unwrap_or_default()
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| wildcard_match(pattern, n))
            })
            .collect()
    } else if path.is_dir() {
        read_dir_sorted(path, spec)?
            .into_iter()
            .filter(|p| is_image(p))
            .collect()
    } else if !path.exists() {
        return Err(CalibError::MissingImage {
            path: path.to_path_buf(),
        });
    } else if is_image(path) {
        vec![path.to_path_buf()]
    } else {
        let text = std::fs::read_to_string(path).map_err(|source| CalibError::Io {
            action: "cannot read list file",
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let mut out = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let p = Path::new(line);
            let p = if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            };
            if !p.exists() {
                return Err(CalibError::MissingImage { path: p });
            }
            out.push(p);
        }
        out
    };
    if images.is_empty() {
        return Err(CalibError::NoImages { spec: spec.into() });
    }
    Ok(images)
}

/// Short display name of a view (its file name).
pub fn view_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("left_*.png", "left_01.png"));
        assert!(!wildcard_match("left_*.png", "right_01.png"));
        assert!(wildcard_match("v?.p*", "v1.png"));
        assert!(!wildcard_match("v?.png", "v10.png"));
        assert!(wildcard_match("*", ""));
    }

    #[test]
    fn list_file_resolves_relative_and_reports_missing() {
        let dir = std::env::temp_dir().join(format!("fk-calib-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.png"), b"x").unwrap();
        std::fs::write(dir.join("list.txt"), "# views\na.png\n\n").unwrap();
        assert_eq!(
            resolve_images(dir.join("list.txt").to_str().unwrap()).unwrap(),
            vec![dir.join("a.png")]
        );
        std::fs::write(dir.join("list.txt"), "a.png\nb.png\n").unwrap();
        match resolve_images(dir.join("list.txt").to_str().unwrap()) {
            Err(CalibError::MissingImage { path }) => assert_eq!(path, dir.join("b.png")),
            other => panic!("expected MissingImage, got {other:?}"),
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
