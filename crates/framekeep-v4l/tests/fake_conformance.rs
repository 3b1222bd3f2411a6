//! The conformance cases against the in-process fake driver (the same cases run against
//! the kernel's vivid driver in `vivid.rs`).

use framekeep_v4l::testing::{cases, run_case, Rig};

fn run(rig: &dyn Rig, name: &str) {
    let all = cases();
    let case = all
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name}"));
    let out = run_case(case, rig);
    match out.result {
        Ok(summary) => eprintln!("{} {name}: ok in {:?}: {summary}", rig.name(), out.elapsed),
        Err(e) => panic!("{} {name} failed after {:?}: {e}", rig.name(), out.elapsed),
    }
}

macro_rules! case_tests {
    ($rig:expr; $($name:ident),* $(,)?) => {
        $( #[test] fn $name() { super::run(&$rig, stringify!($name)); } )*

        #[test]
        fn every_case_has_a_test() {
            let names = [$(stringify!($name)),*];
            for c in framekeep_v4l::testing::cases() {
                assert!(names.contains(&c.name), "case {} has no fake test", c.name);
            }
        }
    };
}

macro_rules! all_cases {
    ($rig:expr) => {
        case_tests!(
            $rig;
            list_formats,
            yuyv_640x480,
            nv12_1280x720,
            rgb24_1920x1080,
            white_pattern,
            yu12_640x480,
            nv12m_copied,
            yuv420m_copied,
            nv21m_refused,
            strict_mismatch,
            dropped_frames,
            error_flag,
            reqbufs_error,
            streamon_error,
            qbuf_error,
            held_frames_copy,
            userptr_zero_copy,
            userptr_mode,
            userptr_refused,
            userptr_pool_dry,
            userptr_nv12m_copied,
            userptr_faults,
            latest_only,
            timeout,
            cancel,
            wrap_sequence,
            wrap_timestamp,
            iterate,
            drop_stream_early,
            close_waits_for_frames,
            fatal_error,
            disconnect,
        );
    };
}

/// The single-planar fake (the API every USB camera uses).
mod single_planar {
    all_cases!(framekeep_v4l::testing::FakeRig);
}

/// The fake as a multi-planar-only node (vivid's `multiplanar=2`, SoC capture drivers).
mod multi_planar {
    all_cases!(framekeep_v4l::testing::FakeMultiplanarRig);
}

/// The ledger must name a driver buffer a frame still holds, and the stream behind it.
#[test]
fn a_leaked_frame_is_reported() {
    use framekeep_core::ledger::LeakCheck;
    use framekeep_v4l::testing::FakeDevice;
    use framekeep_v4l::{CaptureStream, StreamOptions};

    let check = LeakCheck::new();
    let mut stream = CaptureStream::start(Box::new(FakeDevice::default()), StreamOptions::new())
        .expect("fake stream starts");
    let frame = stream.next_frame().expect("a frame");
    drop(stream);
    let report = check
        .finish()
        .expect_err("a held frame is a leak")
        .to_string();
    assert!(report.contains("v4l2 buffer"), "report: {report}");
    assert!(report.contains("v4l2 stream"), "report: {report}");
    drop(frame);
}
