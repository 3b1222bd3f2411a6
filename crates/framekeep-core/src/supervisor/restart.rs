//! The restart budget: at most N restarts within a sliding time window.
//!
//! Restarting a worker that panics on every frame would hide a bug behind a busy loop; OTP's
//! answer is restart intensity: beyond N restarts in a window the failure escalates.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Counts recent restarts of one worker.
#[derive(Debug)]
pub(crate) struct RestartBudget {
    max_restarts: u32,
    window: Duration,
    recent: VecDeque<Instant>,
}

impl RestartBudget {
    pub(crate) fn new(max_restarts: u32, window: Duration) -> Self {
        RestartBudget {
            max_restarts,
            window,
            recent: VecDeque::new(),
        }
    }

    /// Records a restart at `now` if the budget allows it; false if it is exhausted.
    pub(crate) fn try_restart(&mut self, now: Instant) -> bool {
        while let Some(&oldest) = self.recent.front() {
            if now.saturating_duration_since(oldest) >= self.window {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        if self.recent.len() < self.max_restarts as usize {
            self.recent.push_back(now);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RestartBudget;
    use std::time::{Duration, Instant};

    #[test]
    fn allows_n_restarts_per_window() {
        let t0 = Instant::now();
        let mut budget = RestartBudget::new(2, Duration::from_secs(10));
        assert!(budget.try_restart(t0));
        assert!(budget.try_restart(t0 + Duration::from_secs(1)));
        assert!(!budget.try_restart(t0 + Duration::from_secs(2)));
        // The first restart leaves the window.
        assert!(budget.try_restart(t0 + Duration::from_secs(10)));
        assert!(!budget.try_restart(t0 + Duration::from_secs(10)));
        assert!(budget.try_restart(t0 + Duration::from_secs(30)));
    }

    #[test]
    fn zero_budget_never_restarts() {
        let mut budget = RestartBudget::new(0, Duration::from_secs(1));
        assert!(!budget.try_restart(Instant::now()));
    }
}
