//! Owned, accounted OpenCV Mats.
//!
//! OpenCV allocates Mat storage in C++ where Rust's leak tools cannot see it. Every Mat this
//! crate creates is wrapped in a [`TrackedMat`], which registers it as a live resource for
//! as long as it exists, so a test can assert at its end that no Mat is left alive. The
//! wrapper dereferences to the Mat, so OpenCV functions take `&*m` / `&mut *m` directly, and
//! there is deliberately no way to take the raw Mat out of it.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};

use opencv::core::Mat;

static LIVE_MATS: AtomicUsize = AtomicUsize::new(0);

/// Number of [`TrackedMat`]s alive in this process right now.
pub fn live_mats() -> usize {
    LIVE_MATS.load(Ordering::SeqCst)
}

/// Registration of one Mat; dropping it deregisters the Mat.
struct Registration {
    _name: &'static str,
}

impl Registration {
    fn new(name: &'static str) -> Self {
        LIVE_MATS.fetch_add(1, Ordering::SeqCst);
        Self { _name: name }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        LIVE_MATS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A Mat owned by this crate and registered as live while it exists.
pub struct TrackedMat {
    mat: Mat,
    _registration: Registration,
}

impl TrackedMat {
    /// Takes ownership of `mat` and registers it under `name` (what it holds).
    pub fn new(mat: Mat, name: &'static str) -> Self {
        Self {
            mat,
            _registration: Registration::new(name),
        }
    }

    /// An empty Mat for OpenCV to fill as an output argument.
    pub fn empty(name: &'static str) -> Self {
        Self::new(Mat::default(), name)
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
            .field("name", &self._registration._name)
            .finish_non_exhaustive()
    }
}
