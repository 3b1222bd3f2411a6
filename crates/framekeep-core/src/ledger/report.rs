//! Readable reports: the ledger's aging report and a leak check's failure report.

use std::fmt;
use std::time::{Duration, Instant};

use super::{Kind, LiveEntry, ScopeId};

/// Writes one entry (and its backtrace, indented) as part of a report.
fn write_entry(f: &mut fmt::Formatter<'_>, entry: &LiveEntry, now: Instant) -> fmt::Result {
    write!(
        f,
        "  {:<6} {:?} #{}, age {:.3?}",
        entry.kind,
        entry.name,
        entry.id,
        entry.age_at(now)
    )?;
    match &entry.thread {
        Some(thread) => write!(f, ", thread {thread:?}")?,
        None => f.write_str(", thread unknown")?,
    }
    if !entry.scope.is_none() {
        write!(f, ", {}", entry.scope)?;
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

/// Everything alive in a ledger at one moment, oldest first: see
/// [`Ledger::report`](super::Ledger::report). `Display` prints one line per entry with
/// its age, thread and scope (and backtrace, if captured).
#[derive(Clone, Debug)]
pub struct LedgerReport {
    taken_at: Instant,
    entries: Vec<LiveEntry>,
}

impl LedgerReport {
    pub(crate) fn new(taken_at: Instant, entries: Vec<LiveEntry>) -> LedgerReport {
        LedgerReport { taken_at, entries }
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
        write!(f, "ledger: {} live", self.entries.len())?;
        write_counts(f, &self.entries)?;
        writeln!(f)?;
        for entry in &self.entries {
            write_entry(f, entry, self.taken_at)?;
        }
        Ok(())
    }
}

/// What a [`LeakCheck`](super::LeakCheck) found still alive at its end.
#[derive(Clone, Debug)]
pub struct LeakReport {
    scope: ScopeId,
    taken_at: Instant,
    scope_age: Duration,
    entries: Vec<LiveEntry>,
}

impl LeakReport {
    pub(crate) fn new(
        scope: ScopeId,
        taken_at: Instant,
        scope_age: Duration,
        entries: Vec<LiveEntry>,
    ) -> LeakReport {
        LeakReport {
            scope,
            taken_at,
            scope_age,
            entries,
        }
    }

    /// The scope that was checked.
    pub fn scope(&self) -> ScopeId {
        self.scope
    }

    /// The leaked entries, oldest first.
    pub fn entries(&self) -> &[LiveEntry] {
        &self.entries
    }

    /// Leak counts per kind.
    pub fn by_kind(&self) -> Vec<(Kind, usize)> {
        count_by_kind(&self.entries)
    }
}

impl fmt::Display for LeakReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "leak check failed: {} resource(s) created in {} still alive after {:.3?}",
            self.entries.len(),
            self.scope,
            self.scope_age
        )?;
        write_counts(f, &self.entries)?;
        writeln!(f)?;
        for entry in &self.entries {
            write_entry(f, entry, self.taken_at)?;
        }
        if self.entries.iter().all(|e| e.backtrace.is_none()) {
            writeln!(
                f,
                "  (set {}=1 to capture where each one was created)",
                super::BACKTRACE_ENV
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for LeakReport {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

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
        }
    }

    #[test]
    fn aging_report_lists_kinds_ages_and_threads() {
        let now = Instant::now();
        let report = LedgerReport::new(
            now,
            vec![
                entry(Kind::FRAME, "capture", 1500, now),
                entry(Kind::MAT, "undistort", 20, now),
                entry(Kind::FRAME, "display", 5, now),
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
        assert!(text.contains("thread \"worker\", scope #3"), "{text}");
    }

    #[test]
    fn leak_report_prints_backtraces_indented() {
        let now = Instant::now();
        let mut leaked = entry(Kind::LEASE, "calib", 2, now);
        leaked.backtrace = Some("0: here\n1: there".into());
        let report = LeakReport::new(ScopeId(9), now, Duration::from_millis(3), vec![leaked]);
        let text = report.to_string();
        assert!(text.contains("1 resource(s) created in scope #9"), "{text}");
        assert!(text.contains("(lease: 1)"), "{text}");
        assert!(text.contains("\n      0: here\n      1: there\n"), "{text}");
        assert!(!text.contains("FRAMEKEEP_BACKTRACE"), "{text}");
    }
}
