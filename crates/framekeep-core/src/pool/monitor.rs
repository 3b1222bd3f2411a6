//! The leak monitor: one background thread for every pool in the process.
//!
//! One shared thread, not one per pool: programs and test suites make many
//! pools, and a thread each would cost more than the checks. The thread holds
//! pools weakly, so a dropped pool simply disappears from its list. It is a
//! daemon (it lives as long as the process) and is not registered in the
//! ledger, where it would show as a leaked thread in every scope.

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use super::shared::PoolShared;

/// How often the monitor looks at every pool.
pub(crate) const TICK: Duration = Duration::from_millis(250);

static WATCHED: OnceLock<Mutex<Vec<Weak<PoolShared>>>> = OnceLock::new();

/// Adds a pool to the monitor, starting the monitor thread on first use.
pub(crate) fn watch(pool: &Arc<PoolShared>) {
    let mut started = false;
    let list = WATCHED.get_or_init(|| {
        started = true;
        Mutex::new(Vec::new())
    });
    list.lock().push(Arc::downgrade(pool));
    if started {
        let spawned = std::thread::Builder::new()
            .name("framekeep-pool-monitor".into())
            .spawn(run);
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start the pool leak monitor; leaks are checked only when a pool runs dry");
        }
    }
}

fn run() {
    let list = WATCHED.get().expect("initialised before the thread starts");
    // Reused every tick: the monitor allocates nothing in steady state.
    let mut pools: Vec<Arc<PoolShared>> = Vec::new();
    loop {
        std::thread::sleep(TICK);
        {
            let mut l = list.lock();
            l.retain(|w| w.strong_count() > 0);
            pools.extend(l.iter().filter_map(Weak::upgrade));
        }
        for pool in &pools {
            if !pool.closed.load(std::sync::atomic::Ordering::Acquire) {
                pool.check_leaks("periodic check");
            }
        }
        pools.clear();
    }
}
