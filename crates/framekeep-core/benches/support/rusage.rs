//! `getrusage` for the benches: page faults, CPU time, peak memory.
#![allow(dead_code)] // each bench uses a different part

use std::time::Duration;

/// The resource usage of `who` (`libc::RUSAGE_SELF` or `libc::RUSAGE_THREAD`).
pub fn rusage(who: libc::c_int) -> libc::rusage {
    // SAFETY: getrusage only writes into the zeroed struct we pass.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut u);
        u
    }
}

/// User plus system CPU time of a usage record.
pub fn cpu_time(u: &libc::rusage) -> Duration {
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}
