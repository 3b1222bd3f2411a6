//! ledger (in progress).
