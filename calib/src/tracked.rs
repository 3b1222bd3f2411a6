//! Owned, accounted OpenCV Mats.
//!
//! OpenCV allocates Mat storage in C++ where Rust's leak tools cannot see it. Every Mat this
//! crate creates is wrapped in a [`TrackedMat`], which registers it in framekeep's
//! [`Ledger`] as kind `mat` for as long as it exists, so a test's `LeakCheck` (or a tool at
//! exit) can assert that no Mat is left alive. The wrapper dereferences to the Mat, so
//! OpenCV functions take `&*m` / `&mut *m` directly, and there is deliberately no way to
//! take the raw Mat out of it.

use std::ops::{Deref, DerefMut};

use framekeep_core::ledger::{Kind, Ledger, Tracked};
use opencv::core::Mat;

/// A Mat owned by this crate and registered in the global ledger while it exists.
pub struct TrackedMat {
    mat: Mat,
    name: &'static str,
    _registration: Tracked,
}

impl TrackedMat {
    /// Takes ownership of `mat` and registers it under `name` (what it holds).
    pub fn new(mat: Mat, name: &'static str) -> Self {
        Self {
            mat,
            name,
            _registration: Ledger::global().track(Kind::MAT, name),
        }
    }

    /// An empty Mat for OpenCV to fill as an output argument.
    pub fn empty(name: &'static str) -> Self {
        Self::new(Mat::default(), name)
    }

    /// What this Mat holds (its ledger name).
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl Deref for TrackedMat {
    type Target = Mat;
    fn deref(&self) -> &Mat {
        &self.mat
    }
}

impl DerefMut for TrackedMat {
    fn deref_mut(&mut self) -> &mut Mat {
        &mut self.mat
    }
}

impl std::fmt::Debug for TrackedMat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackedMat")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use framekeep_core::ledger::LeakCheck;

    #[test]
    fn registered_while_alive() {
        let check = LeakCheck::new();
        let m = TrackedMat::empty("probe");
        assert_eq!(check.leaks().len(), 1);
        assert_eq!(check.leaks()[0].kind, Kind::MAT);
        drop(m);
        check.finish().expect("no Mat left alive");
    }
}
