//! framekeep-v4l (in progress).
