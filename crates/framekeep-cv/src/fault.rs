//! Fault injection for tests of error paths.
//!
//! The promise of this crate is that a helper which fails half-way releases every `Mat`
//! and frame it created. RAII makes that true by construction, and this module lets tests
//! check it: [`fail_at_mat`] arms the calling thread so that its N-th `Mat` creation
//! from now (views and tracked Mats alike) fails with [`CvError::Injected`]. Disarmed,
//! the check is one thread-local read per `Mat`.

use std::cell::Cell;

use crate::CvError;

thread_local! {
    /// (Mats still to go before the injected failure, 0: disarmed; the armed `n`).
    static COUNTDOWN: Cell<(u32, u32)> = const { Cell::new((0, 0)) };
}

/// Makes the `n`-th Mat created on this thread from now on fail (`n >= 1`); the guard
/// disarms the injection when dropped.
pub fn fail_at_mat(n: u32) -> FaultGuard {
    COUNTDOWN.with(|c| c.set((n, n)));
    FaultGuard {
        _not_send: std::marker::PhantomData,
    }
}

/// Disarms the injection of [`fail_at_mat`] on drop.
#[must_use = "the injection is disarmed when the guard drops"]
pub struct FaultGuard {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for FaultGuard {
    fn drop(&mut self) {
        COUNTDOWN.with(|c| c.set((0, 0)));
    }
}

/// Called before every Mat creation: fails if the countdown reaches its end.
#[inline]
pub(crate) fn on_mat_created() -> Result<(), CvError> {
    COUNTDOWN.with(|c| match c.get() {
        (0, _) => Ok(()),
        (1, armed) => {
            c.set((0, 0));
            Err(CvError::Injected(armed))
        }
        (left, armed) => {
            c.set((left - 1, armed));
            Ok(())
        }
    })
}
