//! Pinning bench threads to CPUs of their own.

/// Pins the calling thread to CPU `cpu` (modulo the CPUs there are).
///
/// Without it the scheduler often starts two fresh threads on the same core
/// and they take turns: the "2 threads contending" figures then measured one
/// thread at a time (a mutex pool looked twice as fast as it is under
/// contention, everything else half as fast).
pub fn pin_to_cpu(cpu: usize) {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    // SAFETY: `set` is a zeroed, properly sized cpu_set_t that CPU_SET and
    // sched_setaffinity only read and write within; 0 means this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu % cpus, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}
