//! The clock of frame timestamps: `CLOCK_MONOTONIC` as a [`Duration`].
//!
//! [`FrameMeta::timestamp`](crate::frame::FrameMeta::timestamp) is on the
//! kernel's monotonic clock, as V4L2 drivers stamp their buffers, so a sink
//! can compute latency the same way for captured and synthetic frames.
//! `std::time::Instant` reads that clock too but cannot be turned into a
//! number, hence this one call.

use std::time::Duration;

#[cfg(target_os = "linux")]
mod sys {
    use std::os::raw::{c_int, c_long};

    #[repr(C)]
    pub struct Timespec {
        pub tv_sec: c_long,
        pub tv_nsec: c_long,
    }

    pub const CLOCK_MONOTONIC: c_int = 1;

    extern "C" {
        pub fn clock_gettime(clock: c_int, tp: *mut Timespec) -> c_int;
    }
}

/// Now, on `CLOCK_MONOTONIC` (time since boot, not counting suspend).
#[cfg(target_os = "linux")]
pub fn monotonic_now() -> Duration {
    let mut ts = sys::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec with the C layout of the
    // platform (`c_long` fields on Linux); CLOCK_MONOTONIC always exists, and
    // clock_gettime writes nothing but `*tp`.
    let rc = unsafe { sys::clock_gettime(sys::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return fallback();
    }
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// Now, on a monotonic clock that starts at the first call (no
/// `CLOCK_MONOTONIC` on this platform).
#[cfg(not(target_os = "linux"))]
pub fn monotonic_now() -> Duration {
    fallback()
}

fn fallback() -> Duration {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    EPOCH.get_or_init(std::time::Instant::now).elapsed()
}
