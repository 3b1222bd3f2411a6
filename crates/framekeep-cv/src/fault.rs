//! Fault injection for tests of error paths (the arming side is public as
//! `testing`, feature `testing`).
//!
//! Every `Mat` this crate creates, views and tracked Mats alike, passes through
//! [`on_mat_created`] first. With the `testing` feature, [`fail_at_mat`] arms the calling
//! thread so that its N-th `Mat` creation from now fails with [`CvError::Injected`];
//! disarmed, the check is one thread-local read per `Mat`. Without the feature the check
//! is compiled out.

use crate::CvError;

#[cfg(feature = "testing")]
thread_local! {
    /// (Mats still to go before the injected failure, 0: disarmed; the armed `n`).
    static COUNTDOWN: std::cell::Cell<(u32, u32)> = const { std::cell::Cell::new((0, 0)) };
}

/// Makes the `n`-th Mat created on this thread from now on fail with
/// [`CvError::Injected`]`(n)` (`n >= 1`); the guard disarms the injection when dropped.
#[cfg(feature = "testing")]
pub fn fail_at_mat(n: u32) -> FaultGuard {
    COUNTDOWN.with(|c| c.set((n, n)));
    FaultGuard {
        _not_send: std::marker::PhantomData,
    }
}

/// Disarms the injection of [`fail_at_mat`] on drop.
#[cfg(feature = "testing")]
#[must_use = "the injection is disarmed when the guard drops"]
#[derive(Debug)]
pub struct FaultGuard {
    _not_send: std::marker::PhantomData<*const ()>,
}

#[cfg(feature = "testing")]
impl Drop for FaultGuard {
    fn drop(&mut self) {
        COUNTDOWN.with(|c| c.set((0, 0)));
    }
}

/// Called before every Mat creation: fails if the countdown reaches its end.
#[cfg(feature = "testing")]
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

/// Called before every Mat creation; without the `testing` feature nothing can be
/// injected.
#[cfg(not(feature = "testing"))]
#[inline(always)]
pub(crate) fn on_mat_created() -> Result<(), CvError> {
    Ok(())
}
