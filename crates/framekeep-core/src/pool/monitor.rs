//! The leak monitor: one background thread for every pool in the process.
//!
//! One shared thread, not one per pool: programs and test suites make many
//! pools, and a thread each would cost more than the checks. The thread holds
//! pools weakly, so a dropped pool simply disappears from its list. It is a
//! daemon (it lives as long as the process) and is not registered in the
//! ledger, where it would show as a leaked thread in every scope.

use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use super::shared::PoolShared;
use crate::daemon::Daemon;

/// How often the monitor looks at every pool.
pub(crate) const TICK: Duration = Duration::from_millis(250);

static WATCHED: Mutex<Vec<Weak<PoolShared>>> = Mutex::new(Vec::new());

static MONITOR: Daemon = Daemon::new("framekeep-pool-monitor");

/// Adds a pool to the monitor, starting the monitor thread on first use.
pub(crate) fn watch(pool: &Arc<PoolShared>) {
    WATCHED.lock().push(Arc::downgrade(pool));
    if let Err(e) = MONITOR.ensure(run) {
        tracing::error!(error = %e, "could not start the pool leak monitor; leaks are checked only when a pool runs dry");
    }
}

fn run() {
    // Reused every tick: the monitor allocates nothing in steady state.
    let mut pools: Vec<Arc<PoolShared>> = Vec::new();
    loop {
        std::thread::sleep(TICK);
        {
            let mut l = WATCHED.lock();
            l.retain(|w| w.strong_count() > 0);
            pools.extend(l.iter().filter_map(Weak::upgrade));
        }
        for pool in &pools {
            if !pool.ret.closed.load(std::sync::atomic::Ordering::Acquire) {
                pool.check_leaks("periodic check");
            }
        }
        pools.clear();
    }
}
