//! Resource kinds: a static label per category of tracked resource.
//!
//! A kind is a `&'static str` rather than an enum so that crates downstream of the core
//! (the OpenCV bridge, capture, calibration) can add their own kinds without editing this
//! one, and so that storing a kind in a ledger entry never allocates.

use std::fmt;

/// The category of a tracked resource: `"frame"`, `"mat"`, `"lease"`, `"thread"`, ...
///
/// Two kinds are equal when their names are equal, so `Kind::new("mat") == Kind::MAT`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Kind(&'static str);

impl Kind {
    /// A video frame (a `Frame` handle or a buffer checked out of a pool).
    pub const FRAME: Kind = Kind("frame");
    /// An OpenCV `Mat` owned by framekeep.
    pub const MAT: Kind = Kind("mat");
    /// A pool lease (a buffer checked out under a label).
    pub const LEASE: Kind = Kind("lease");
    /// A worker thread owned by a supervisor.
    pub const THREAD: Kind = Kind("thread");

    /// A kind with the given name; usable in `const` items.
    pub const fn new(name: &'static str) -> Kind {
        Kind(name)
    }

    /// The kind's name, e.g. `"frame"`.
    pub fn name(&self) -> &'static str {
        self.0
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.0)
    }
}

impl fmt::Debug for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kind({:?})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Kind;

    #[test]
    fn kinds_compare_by_name() {
        const CUSTOM: Kind = Kind::new("mat");
        assert_eq!(CUSTOM, Kind::MAT);
        assert_ne!(Kind::FRAME, Kind::LEASE);
        assert_eq!(Kind::THREAD.name(), "thread");
        assert_eq!(format!("[{:>6}]", Kind::MAT), "[   mat]");
    }
}
