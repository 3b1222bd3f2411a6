//! The two ways a file fails in this module: refused for a reason of ours, or an I/O
//! error of the system (kept as the error's `source()`).

use std::path::Path;

use crate::CvError;

/// A [`CvError::File`]: `path` cannot be used, for `reason`.
pub(crate) fn file_error(path: &Path, reason: &str) -> CvError {
    CvError::File {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// A [`CvError::Io`]: reading or writing `path` failed with `source`.
pub(crate) fn io_error(path: &Path, source: std::io::Error) -> CvError {
    CvError::Io {
        path: path.to_path_buf(),
        source,
    }
}
