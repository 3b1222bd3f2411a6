//! framekeep-cv (in progress).
