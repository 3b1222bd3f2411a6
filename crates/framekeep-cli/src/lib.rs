//! framekeep-cli: the `framekeep` command, and the app-level helpers its
//! subcommands and the repository's examples share.
//!
//! The command (`cargo install --path crates/framekeep-cli` installs it):
//!
//! * `framekeep list`: cameras with their formats and sizes;
//! * `framekeep view [SOURCE]`: a camera, the synthetic pattern or a service
//!   (`ipc:camera/front`) → BGR → a window, or headless snapshots kept in a
//!   small ring;
//! * `framekeep serve [SOURCE] --name camera/front`: a camera (or the synthetic
//!   pattern) published as a framekeep-ipc service, zero copy where the driver
//!   takes user memory;
//! * `framekeep snap SERVICE -n N -o DIR`: the next N frames of a service as PNGs;
//!
//! Exit status, every subcommand: 0 clean, 1 a failure or a leak, 2 bad
//! arguments, 130 a second Ctrl-C.
#![warn(missing_docs)]

pub mod app;
