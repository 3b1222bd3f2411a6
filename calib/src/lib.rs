//! framekeep-calib (in progress).
