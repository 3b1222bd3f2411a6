//! Ctrl-C (SIGINT, and SIGTERM) wired to a root token.
//!
//! A camera pipeline interrupted with Ctrl-C should shut down in order (release every frame,
//! join every thread) instead of dying mid-frame; but a user pressing Ctrl-C twice means "now".
//! So the first signal cancels the root token with [`Cause::Interrupted`] and the second exits
//! at once with status 130 (128 + SIGINT, the shell convention).
//!
//! The `ctrlc` crate allows a single handler per process, hence the typed
//! [`CtrlcError::AlreadyInstalled`] on a second call.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::cause::Cause;
use super::token::CancelToken;

/// The exit status used on the second signal (128 + SIGINT).
const INTERRUPTED_EXIT_CODE: i32 = 130;

/// Why [`install_ctrlc`] failed.
#[derive(Debug, thiserror::Error)]
pub enum CtrlcError {
    /// A handler is already installed in this process (by an earlier `install_ctrlc` or by
    /// direct use of the `ctrlc` crate); only one is possible.
    #[error("a Ctrl-C handler is already installed in this process (only one is possible)")]
    AlreadyInstalled,
    /// The operating system refused to install the signal handler.
    #[error("cannot install the Ctrl-C handler: {0}")]
    System(String),
}

static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Installs the process-wide Ctrl-C / SIGTERM handler for `root`.
///
/// First signal: `root.cancel_with(Cause::Interrupted)` (a no-op if `root` is already
/// cancelled, but it still counts as the first signal). Second signal: the process exits with
/// status 130 (128 + SIGINT, the shell convention) immediately, without running destructors.
///
/// The handler keeps a clone of `root` for the rest of the process. Can succeed only once per
/// process; later calls return [`CtrlcError::AlreadyInstalled`].
pub fn install_ctrlc(root: &CancelToken) -> Result<(), CtrlcError> {
    if INSTALLED.swap(true, Ordering::AcqRel) {
        return Err(CtrlcError::AlreadyInstalled);
    }
    let token = root.clone();
    let signals = AtomicUsize::new(0);
    let result = ctrlc::set_handler(move || {
        if signals.fetch_add(1, Ordering::AcqRel) == 0 {
            tracing::warn!("interrupted: shutting down (interrupt again to exit immediately)");
            token.cancel_with(Cause::Interrupted);
        } else {
            tracing::warn!("interrupted twice: exiting now");
            std::process::exit(INTERRUPTED_EXIT_CODE);
        }
    });
    match result {
        Ok(()) => Ok(()),
        // Someone installed a handler through the ctrlc crate directly: it stays installed.
        Err(ctrlc::Error::MultipleHandlers) => Err(CtrlcError::AlreadyInstalled),
        Err(err) => {
            INSTALLED.store(false, Ordering::Release);
            Err(CtrlcError::System(err.to_string()))
        }
    }
}
