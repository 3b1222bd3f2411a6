//! cancel (in progress).
