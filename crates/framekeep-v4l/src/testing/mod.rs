//! Test kits (feature `testing`): an in-process fake driver, the conformance cases every
//! driver must pass, and the harness that runs a program against the kernel's `vivid`
//! driver in a VM.
//!
//! These are for tests of framekeep-v4l and of code built on it, as tokio's `test-util`
//! is: enable the feature in dev-dependencies only.
//!
//! * [`FakeDevice`]: a [`CaptureDevice`](crate::CaptureDevice) in the process, configured
//!   by a [`FakeConfig`], drawing its frames with built-in patterns ([`PATTERN_WHITE`]) or
//!   a [`FakePainter`], with faults injected through vivid's control names.
//! * [`cases`], [`run_case`], [`run_cases`]: the conformance cases, run against a [`Rig`]
//!   ([`FakeRig`], [`FakeMultiplanarRig`], or [`NodeRig`] for a real node); each gives an
//!   [`Outcome`], failing with a [`CaseFailure`].
//! * [`VividVm`]: runs a program in a qemu VM with `vivid` loaded (`vm/vivid-vm.sh`);
//!   [`VmRun::Unavailable`] tells a machine that cannot run it (a skip) from a failure.
//!
//! ```
//! use framekeep_v4l::testing::FakeDevice;
//! use framekeep_v4l::{CaptureDevice, CaptureError, CaptureStream, StreamOptions};
//!
//! let device = FakeDevice::default();
//! let mut stream = CaptureStream::start(Box::new(device.clone()), StreamOptions::new())?;
//! let frame = stream.next_frame()?;
//! device.set_control("disconnect", 1)?; // vivid's control: unplug the camera
//! let err = stream.next_frame().unwrap_err();
//! assert!(matches!(err, CaptureError::Disconnected { .. }));
//! drop(frame);
//! # Ok::<(), CaptureError>(())
//! ```

mod conformance;
mod fake;
mod vivid_vm;

pub use conformance::{
    cases, run_case, run_cases, Case, CaseFailure, FakeMultiplanarRig, FakeRig, NodeRig, Outcome,
    Rig,
};
pub use fake::{FakeConfig, FakeDevice, FakePainter, FakePayload, PATTERN_WHITE};
pub use vivid_vm::{VividVm, VmRun};
