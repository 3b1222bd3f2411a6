//! Dropped-frame detection from driver sequence numbers.
//!
//! V4L2 sequence numbers are `u32` and wrap (vivid's `wrap_sequence_number` starts them 128
//! below `u32::MAX`), so a gap is computed with wrapping arithmetic and the tracker extends
//! them to a monotonic `u64` for [`FrameMeta`](framekeep_core::frame::FrameMeta). A jump
//! backwards by more than half the range is a driver restart, not 4 billion lost frames.

/// Turns 32-bit driver sequence numbers into 64-bit ones and counts the gaps.
#[derive(Debug, Default, Clone)]
pub(crate) struct SequenceTracker {
    last: Option<(u32, u64)>,
}

impl SequenceTracker {
    /// A tracker that has seen nothing.
    pub(crate) fn new() -> SequenceTracker {
        SequenceTracker::default()
    }

    /// Records `seq`; returns its extended value and how many frames were missed since the
    /// previous one (0 for the first frame, a duplicate or a restart).
    pub(crate) fn observe(&mut self, seq: u32) -> (u64, u64) {
        let (ext, gap) = match self.last {
            None => (u64::from(seq), 0),
            Some((prev, prev_ext)) => {
                let delta = seq.wrapping_sub(prev);
                if delta == 0 {
                    (prev_ext, 0)
                } else if delta < 1 << 31 {
                    (prev_ext + u64::from(delta), u64::from(delta - 1))
                } else {
                    // Backwards: the driver restarted counting. Keep ours monotonic.
                    (prev_ext + 1, 0)
                }
            }
        };
        self.last = Some((seq, ext));
        (ext, gap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_gaps() {
        let mut t = SequenceTracker::new();
        assert_eq!(t.observe(5), (5, 0));
        assert_eq!(t.observe(6), (6, 0));
        assert_eq!(t.observe(9), (9, 2));
        assert_eq!(t.observe(9), (9, 0));
    }

    #[test]
    fn wraps_without_a_false_gap() {
        let mut t = SequenceTracker::new();
        let start = u32::MAX - 1;
        assert_eq!(t.observe(start).1, 0);
        assert_eq!(t.observe(u32::MAX), (u64::from(u32::MAX), 0));
        assert_eq!(t.observe(0), (1 << 32, 0));
        assert_eq!(t.observe(2), ((1 << 32) + 2, 1));
    }

    #[test]
    fn restart_is_not_a_huge_gap() {
        let mut t = SequenceTracker::new();
        t.observe(1000);
        let (ext, gap) = t.observe(0);
        assert_eq!(gap, 0);
        assert_eq!(ext, 1001);
    }
}
