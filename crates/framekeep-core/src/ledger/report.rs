//! [`LedgerReport`]: what was alive at one moment, for people (`Display`) and
//! for code.
//!
//! One report type for every question of the kind "what is still alive?": the
//! ledger's aging report ([`Ledger::report`](super::Ledger::report)), a leak
//! check's failure ([`LeakCheck::finish`](super::LeakCheck::finish)) and a
//! pool's close ([`FramePool::close`](crate::pool::FramePool::close)). They
//! differ only in their headline.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, Instant};

use super::entry::LiveEntry;
use super::kind::Kind;
use super::scope::ScopeId;
use crate::time::HumanDuration;

/// The environment variable that turns backtrace capture on (`1`, `true`, `yes`, `full`).
pub(crate) const BACKTRACE_ENV: &str = "FRAMEKEEP_BACKTRACE";

/// What a report is about: decides its headline.
#[derive(Clone, Debug)]
enum Subject {
    /// Everything alive in a ledger.
    Ledger,
    /// What a leak check's scope left alive after `age`.
    LeakCheck { scope: ScopeId, age: Duration },
    /// The leases still out when a pool closed.
    PoolClose { pool: Cow<'static, str> },
}

/// Live resources at one moment, oldest first. `Display` prints a headline
/// with counts per kind, then one line per entry (kind, name, id, age,
/// bytes, thread, scope, and the backtrace if one was captured).
#[derive(Clone, Debug)]
pub struct LedgerReport {
    subject: Subject,
    taken_at: Instant,
    entries: Vec<LiveEntry>,
}

impl LedgerReport {
    /// The ledger's aging report.
    pub(crate) fn ledger(taken_at: Instant, entries: Vec<LiveEntry>) -> LedgerReport {
        LedgerReport {
            subject: Subject::Ledger,
            taken_at,
            entries,
        }
    }

    /// A leak check's report: `entries` were created in `scope`, which is
    /// `age` old.
    pub(crate) fn leak_check(
        scope: ScopeId,
        taken_at: Instant,
        age: Duration,
        entries: Vec<LiveEntry>,
    ) -> LedgerReport {
        LedgerReport {
            subject: Subject::LeakCheck { scope, age },
            taken_at,
            entries,
        }
    }

    /// A pool's close report: `entries` are the leases still out.
    pub(crate) fn pool_close(
        pool: impl Into<Cow<'static, str>>,
        taken_at: Instant,
        entries: Vec<LiveEntry>,
    ) -> LedgerReport {
        LedgerReport {
            subject: Subject::PoolClose { pool: pool.into() },
            taken_at,
            entries,
        }
    }

    /// When the report was taken (ages are relative to it).
    pub fn taken_at(&self) -> Instant {
        self.taken_at
    }

    /// The live entries, oldest first.
    pub fn entries(&self) -> &[LiveEntry] {
        &self.entries
    }

    /// Number of live entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing was alive.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether nothing was alive: a pool closed with every lease back, a
    /// leak check found nothing.
    pub fn is_clean(&self) -> bool {
        self.entries.is_empty()
    }

    /// The leak check's scope, for a leak check's report.
    pub fn scope(&self) -> Option<ScopeId> {
        match self.subject {
            Subject::LeakCheck { scope, .. } => Some(scope),
            _ => None,
        }
    }

    /// Entry counts per kind, in order of each kind's oldest entry.
    pub fn by_kind(&self) -> Vec<(Kind, usize)> {
        count_by_kind(&self.entries)
    }

    /// The entries at least `age` old when the report was taken, oldest first.
    pub fn older_than(&self, age: Duration) -> impl Iterator<Item = &LiveEntry> + '_ {
        self.entries
            .iter()
            .take_while(move |e| e.age_at(self.taken_at) >= age)
    }
}

impl fmt::Display for LedgerReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.entries.len();
        match &self.subject {
            Subject::Ledger => write!(f, "ledger: {n} live")?,
            Subject::LeakCheck { scope, age } => write!(
                f,
                "leak check failed: {n} resource(s) created in {scope} still alive after {}",
                HumanDuration(*age)
            )?,
            Subject::PoolClose { pool } if n == 0 => {
                return write!(f, "pool '{pool}' closed clean: no lease out")
            }
            Subject::PoolClose { pool } => write!(f, "pool '{pool}' closed with {n} lease(s) out")?,
        }
        write_counts(f, &self.entries)?;
        writeln!(f)?;
        for entry in &self.entries {
            write_entry(f, entry, self.taken_at)?;
        }
        let hint = matches!(self.subject, Subject::LeakCheck { .. })
            && self.entries.iter().all(|e| e.backtrace.is_none());
        if hint {
            writeln!(
                f,
                "  (set {BACKTRACE_ENV}=1 to capture where each one was created)"
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for LedgerReport {}

/// Writes one entry (and its backtrace, indented) as part of a report.
fn write_entry(f: &mut fmt::Formatter<'_>, entry: &LiveEntry, now: Instant) -> fmt::Result {
    write!(
        f,
        "  {:<6} {:?} #{}, age {}",
        entry.kind,
        entry.name,
        entry.id,
        HumanDuration(entry.age_at(now))
    )?;
    if let Some(bytes) = entry.bytes {
        write!(f, ", {bytes} bytes")?;
    }
    match &entry.thread {
        Some(thread) => write!(f, ", thread {thread:?}")?,
        None => f.write_str(", thread unknown")?,
    }
    if !entry.scope.is_none() {
        write!(f, ", {}", entry.scope)?;
    }
    if entry.written_off {
        f.write_str(" [written off]")?;
    }
    writeln!(f)?;
    if let Some(backtrace) = &entry.backtrace {
        writeln!(f, "    created at:")?;
        for line in backtrace.lines() {
            writeln!(f, "      {line}")?;
        }
    }
    Ok(())
}

/// Counts entries per kind, in order of first appearance.
fn count_by_kind(entries: &[LiveEntry]) -> Vec<(Kind, usize)> {
    let mut counts: Vec<(Kind, usize)> = Vec::new();
    for entry in entries {
        match counts.iter_mut().find(|(kind, _)| *kind == entry.kind) {
            Some((_, n)) => *n += 1,
            None => counts.push((entry.kind, 1)),
        }
    }
    counts
}

/// Writes ` (frame: 2, mat: 1)`.
fn write_counts(f: &mut fmt::Formatter<'_>, entries: &[LiveEntry]) -> fmt::Result {
    let counts = count_by_kind(entries);
    if counts.is_empty() {
        return Ok(());
    }
    f.write_str(" (")?;
    for (i, (kind, n)) in counts.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{kind}: {n}")?;
    }
    f.write_str(")")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: Kind, name: &'static str, age_ms: u64, now: Instant) -> LiveEntry {
        LiveEntry {
            kind,
            name: Cow::Borrowed(name),
            id: age_ms,
            created_at: now - Duration::from_millis(age_ms),
            thread: Some("worker".into()),
            scope: ScopeId(3),
            epoch: 0,
            backtrace: None,
            bytes: None,
            written_off: false,
        }
    }

    #[test]
    fn aging_report_lists_kinds_ages_and_threads() {
        let now = Instant::now();
        let report = LedgerReport::ledger(
            now,
            vec![
                entry(Kind::FRAME, "capture", 1500, now),
                entry(Kind::MAT, "undistort", 20, now),
                entry(Kind::FRAME, "display", 0, now),
            ],
        );
        assert_eq!(report.by_kind(), vec![(Kind::FRAME, 2), (Kind::MAT, 1)]);
        assert_eq!(report.older_than(Duration::from_millis(10)).count(), 2);
        let text = report.to_string();
        assert!(
            text.starts_with("ledger: 3 live (frame: 2, mat: 1)\n"),
            "{text}"
        );
        assert!(
            text.contains("frame  \"capture\" #1500, age 1.500s"),
            "{text}"
        );
        assert!(text.contains("\"undistort\" #20, age 20.0ms"), "{text}");
        // A fresh entry reads as microseconds, never "0.000ns".
        assert!(text.contains("\"display\" #0, age 0µs"), "{text}");
        assert!(text.contains("thread \"worker\", scope #3"), "{text}");
    }

    #[test]
    fn leak_report_prints_backtraces_indented() {
        let now = Instant::now();
        let mut leaked = entry(Kind::LEASE, "calib", 2, now);
        leaked.backtrace = Some("0: here\n1: there".into());
        let report =
            LedgerReport::leak_check(ScopeId(9), now, Duration::from_millis(3), vec![leaked]);
        assert_eq!(report.scope(), Some(ScopeId(9)));
        let text = report.to_string();
        assert!(text.contains("1 resource(s) created in scope #9"), "{text}");
        assert!(text.contains("after 3.0ms"), "{text}");
        assert!(text.contains("(lease: 1)"), "{text}");
        assert!(text.contains("\n      0: here\n      1: there\n"), "{text}");
        assert!(!text.contains("FRAMEKEEP_BACKTRACE"), "{text}");
    }

    #[test]
    fn a_pool_close_report_names_the_pool_and_its_leases() {
        let now = Instant::now();
        let clean = LedgerReport::pool_close("capture", now, Vec::new());
        assert!(clean.is_clean());
        assert_eq!(
            clean.to_string(),
            "pool 'capture' closed clean: no lease out"
        );
        let mut lease = entry(Kind::FRAME, "display", 2000, now);
        lease.bytes = Some(6_220_800);
        lease.written_off = true;
        let report = LedgerReport::pool_close("capture", now, vec![lease]);
        assert!(!report.is_clean());
        let text = report.to_string();
        assert!(
            text.starts_with("pool 'capture' closed with 1 lease(s) out (frame: 1)\n"),
            "{text}"
        );
        assert!(text.contains("6220800 bytes"), "{text}");
        assert!(text.contains("[written off]"), "{text}");
    }
}
