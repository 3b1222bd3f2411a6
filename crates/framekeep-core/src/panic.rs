//! The text of a panic payload: the one place framekeep turns a caught panic
//! into words (the supervisor's reports, cancel callbacks, the display's GUI
//! thread through [`WorkerError::from_panic`](crate::supervisor::WorkerError::from_panic)).

use std::any::Any;

/// The message of a panic payload (`&str` or `String`), for logs and reports.
pub(crate) fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
