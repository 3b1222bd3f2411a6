//! Leak accounting for every kind of resource: frames, `Mat`s, leases, threads.
//!
//! The [`Ledger`] answers "what is alive right now, since when, and who made it?". A
//! resource registers itself with [`Ledger::track`] and keeps the returned [`Tracked`]
//! token; dropping the token (normally by dropping the resource) removes the entry, so
//! nothing has to remember to untrack. On top of that:
//!
//! * [`Ledger::live`], [`Ledger::count`] and [`Ledger::report`] (an aging report, oldest
//!   first, with a readable `Display`);
//! * checkpoints ([`Ledger::checkpoint`], [`Ledger::live_since`]): "what was created since
//!   X and is still alive", as GStreamer's leaks tracer does;
//! * pull-model [`LedgerSource`]s: a pool that already keeps a registry of its leases
//!   reports them when asked instead of paying for a second registration per checkout;
//! * [`LeakCheck`], a test guard that fails a test if anything created in its scope is
//!   still alive at its end, scoped by a thread-local [`ScopeId`] so that tests running in
//!   parallel in one process do not see each other's resources;
//! * one report type, [`LedgerReport`], for the aging report, a failed leak check and a
//!   pool's close;
//! * optional backtraces at registration (`FRAMEKEEP_BACKTRACE=1`, or
//!   [`Ledger::set_capture_backtraces`]).
//!
//! # Why it can stay on in release builds
//!
//! Registration is on the path of every frame, so it must cost about as much as a couple
//! of uncontended atomic operations and, above all, must not make threads contend. Each
//! thread registers into its own shard (see the `shard` module): no global lock, no
//! shared counter written per registration, no allocation in steady state. The only
//! atomic read-modify-write of a register+drop pair is taking the slot's spin lock
//! (`spin`) while the entry is written; dropping a token is a plain store, on any thread.
//! The ledger's checkpoint epoch is only written by [`Ledger::checkpoint`]; registrations
//! merely read it. Creation times are read from an atomic that a clock thread refreshes
//! every tick (4 ms, `clock`; it parks when nobody reads it): on a VM even the coarse
//! clock costs more than the rest of a registration. Reports are the expensive side: they visit every slot of every shard
//! and copy the live entries out, which is fine for something done at the end of a test,
//! on a timer or on demand.
//!
//! # Example
//!
//! ```
//! use framekeep_core::ledger::{Kind, LeakCheck, Ledger};
//!
//! let ledger = Ledger::new();
//! let check = LeakCheck::on(&ledger);
//! let token = ledger.track(Kind::FRAME, "capture");
//! assert_eq!(ledger.count(Kind::FRAME), 1);
//! let leaks = check.leaks();
//! assert_eq!(leaks[0].name, "capture");
//! println!("{}", ledger.report()); // "ledger: 1 live (frame: 1)" and one line per entry
//! drop(token);
//! assert!(check.finish().is_ok());
//! ```

pub(crate) mod clock;
mod entry;
mod handle;
mod kind;
mod leak_check;
mod report;
mod scope;
mod shard;
mod spin;

pub use entry::{Checkpoint, LedgerSource, LiveEntry};
pub use handle::Ledger;
pub use kind::Kind;
pub use leak_check::LeakCheck;
pub use report::LedgerReport;
pub use scope::ScopeId;
pub use shard::Tracked;
