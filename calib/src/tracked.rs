//! Owned, accounted OpenCV Mats: framekeep-cv's [`TrackedMat`] with this crate's errors.
//!
//! OpenCV allocates Mat storage in C++ where Rust's leak tools cannot see it. Every Mat this
//! crate creates goes through [`track`] or [`track_empty`], which put it under framekeep's
//! ledger (kind `mat`) as a [`TrackedMat`] for as long as it exists, so a test's
//! `LeakCheck` (or a tool at exit) can assert that no Mat is left alive. `TrackedMat`
//! implements OpenCV's array traits itself, so OpenCV functions take `&m` / `&mut m`, and
//! the tracked Mat cannot be swapped out of its registration.

use opencv::core::Mat;

pub use framekeep_cv::mat::TrackedMat;

use crate::error::Result;

/// Puts a Mat OpenCV allocated under accounting, named by what it holds.
pub fn track(mat: Mat, name: &'static str) -> Result<TrackedMat> {
    Ok(TrackedMat::adopt(mat, name)?)
}

/// An empty tracked Mat for OpenCV to fill as an output argument.
pub fn track_empty(name: &'static str) -> Result<TrackedMat> {
    Ok(TrackedMat::empty(name)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use framekeep_core::ledger::{Kind, LeakCheck};

    #[test]
    fn registered_while_alive() {
        let check = LeakCheck::new();
        let m = track_empty("probe").unwrap();
        assert_eq!(check.leaks().len(), 1);
        assert_eq!(check.leaks()[0].kind, Kind::MAT);
        drop(m);
        check.finish().expect("no Mat left alive");
    }
}
