//! OpenCV `Mat`s under framekeep's ownership: views of frames and tracked Mats.
//!
//! * [`MatView`]: a read-only, zero-copy `Mat` over a frame that owns a handle on the
//!   frame, so the pixels outlive the header by construction; [`MatViewMut`]: a writable
//!   one over a frame whose handle is unique. [`MatShape`] and [`cv_type`] say how a
//!   frame layout is shown to OpenCV. The crate's only `unsafe` code lives here (in
//!   `view.rs`).
//! * [`TrackedMat`]: a `Mat` that OpenCV allocated, registered in the ledger while it
//!   lives; [`copy_to_frame`] brings a `Mat` back into a pooled frame.
//!
//! Every view and tracked Mat is registered in the
//! [`Ledger`](framekeep_core::ledger::Ledger) as
//! [`Kind::MAT`](framekeep_core::ledger::Kind::MAT) while it lives.

mod tracked;
mod view;

pub use tracked::{copy_to_frame, TrackedMat};
pub use view::{cv_type, MatShape, MatView, MatViewMut};
