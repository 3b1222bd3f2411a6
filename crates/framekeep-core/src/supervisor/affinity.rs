//! Which CPUs a worker thread may run on.
//!
//! Why a supervisor cares: a frame that crosses from one thread to the next wakes the
//! receiving thread, and when the scheduler puts that thread on another CPU that is idle,
//! the wake-up costs an inter-processor interrupt, and on a virtual machine whatever the
//! host takes to run that idle vCPU again. On the 2-vCPU machine this project measures on,
//! that is where most of the added latency of a 60 fps pipeline came from (BENCHMARKS.md,
//! section 3, has the figures with threads free and pinned). Pinning a light,
//! latency-bound pipeline to one CPU turns those wake-ups into plain context switches; a
//! pipeline that needs several cores for pixel work should stay unpinned.

use std::fmt;
use std::io;

use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;

/// A set of CPU numbers (as the kernel numbers them, `0..`), for
/// [`SupervisorOptions::cpus`](super::SupervisorOptions::cpus) and
/// [`WorkerOptions::cpus`](super::WorkerOptions::cpus).
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct CpuList(Vec<usize>);

impl CpuList {
    /// The CPUs in `cpus`, sorted, without duplicates.
    pub(crate) fn new(cpus: impl IntoIterator<Item = usize>) -> CpuList {
        let mut list: Vec<usize> = cpus.into_iter().collect();
        list.sort_unstable();
        list.dedup();
        CpuList(list)
    }

    /// The CPU numbers, ascending.
    pub(crate) fn to_vec(&self) -> Vec<usize> {
        self.0.clone()
    }

    /// Why a thread could not run on these CPUs, if it could not: the list is empty, names
    /// a CPU the kernel's CPU sets cannot hold (`InvalidInput`), names none this process
    /// may use (`NotFound`), or the process's CPUs cannot be read (the OS error).
    pub(crate) fn check(&self) -> io::Result<()> {
        let invalid = |msg: String| io::Error::new(io::ErrorKind::InvalidInput, msg);
        if self.0.is_empty() {
            return Err(invalid("the CPU list is empty".into()));
        }
        if let Some(&cpu) = self.0.iter().find(|&&cpu| cpu >= CpuSet::count()) {
            return Err(invalid(format!(
                "CPU {cpu} is past the largest CPU number ({})",
                CpuSet::count() - 1
            )));
        }
        let allowed = sched_getaffinity(Pid::from_raw(0))?;
        if !self.0.iter().any(|&cpu| allowed.is_set(cpu) == Ok(true)) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("none of CPUs {self} is available to this process"),
            ));
        }
        Ok(())
    }

    /// Restricts the calling thread to these CPUs.
    pub(crate) fn pin_current_thread(&self) -> io::Result<()> {
        let mut set = CpuSet::new();
        for &cpu in &self.0 {
            set.set(cpu)?;
        }
        sched_setaffinity(Pid::from_raw(0), &set)?;
        Ok(())
    }
}

/// `0,2,3`.
impl fmt::Display for CpuList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, cpu) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{cpu}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for CpuList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CpuList({self})")
    }
}

/// The CPUs the calling thread may run on now, ascending (for
/// [`SupervisorOptions::cpus`](super::SupervisorOptions::cpus)).
///
/// ```
/// let cpus = framekeep_core::supervisor::current_thread_cpus()?;
/// assert!(!cpus.is_empty());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn current_thread_cpus() -> io::Result<Vec<usize>> {
    let set = sched_getaffinity(Pid::from_raw(0))?;
    Ok((0..CpuSet::count())
        .filter(|&cpu| set.is_set(cpu) == Ok(true))
        .collect())
}
