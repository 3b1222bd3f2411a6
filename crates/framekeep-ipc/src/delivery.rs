//! [`Delivery`]: how a service treats a full subscriber queue, and the subscriber
//! policies each kind offers.

use std::fmt;
use std::time::Duration;

use framekeep_core::pipeline::Link;

/// How a service treats a subscriber whose queue is full. Chosen by the publisher when
/// it creates the service (iceoryx2's overflow is a property of the service); each
/// subscriber then picks a policy among those its service offers ([`Delivery::offers`]).
///
/// | service | subscriber policies ([`Link`]) | a full queue |
/// |---|---|---|
/// | [`Delivery::Lossy`] (default) | `Latest`, `DropOldest(n)` | the oldest queued sample is replaced; the publisher never waits |
/// | [`Delivery::Blocking`] | `Block(n)`, `DropNewest(n)` | `Block`: the publisher waits for that subscriber, up to `max_wait`, then drops the sample for it; `DropNewest`: the new sample is dropped for that subscriber |
///
/// Any other combination is refused with [`IpcError::PolicyNotOffered`](crate::IpcError::PolicyNotOffered)
/// when the subscriber attaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delivery {
    /// Never wait: a full queue loses its oldest sample (the default).
    #[default]
    Lossy,
    /// Subscribers that ask for it (`Link::Block`) make the publisher wait for room in
    /// their queue, up to `max_wait` per sample; the others lose the newest sample.
    Blocking {
        /// How long one send may wait for one subscriber before giving up on it for
        /// that sample (counted as a drop for that subscriber).
        max_wait: Duration,
    },
}

impl Delivery {
    /// A [`Delivery::Blocking`] service whose sends wait at most `max_wait` per subscriber.
    pub fn blocking(max_wait: Duration) -> Delivery {
        Delivery::Blocking { max_wait }
    }

    /// Whether a subscriber of a service of this kind may use `link`.
    pub fn offers(&self, link: Link) -> bool {
        match self {
            Delivery::Lossy => matches!(link, Link::Latest | Link::DropOldest(_)),
            Delivery::Blocking { .. } => matches!(link, Link::Block(_) | Link::DropNewest(_)),
        }
    }

    /// iceoryx2's `enable_safe_overflow` for this kind.
    pub(crate) fn overflow(&self) -> bool {
        matches!(self, Delivery::Lossy)
    }
}

impl fmt::Display for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Delivery::Lossy => f.write_str("lossy"),
            Delivery::Blocking { max_wait } => write!(f, "blocking, up to {max_wait:?}"),
        }
    }
}

/// The queue depth a subscriber policy asks iceoryx2 for (its `buffer_size`).
pub(crate) fn depth(link: Link) -> usize {
    link.capacity().max(1)
}

/// A policy's code in hold reports and port names.
pub(crate) fn code(link: Link) -> u32 {
    match link {
        Link::Latest => 0,
        Link::DropOldest(_) => 1,
        Link::DropNewest(_) => 2,
        Link::Block(_) => 3,
    }
}

/// The policy of a code and depth, if the code is known.
pub(crate) fn from_code(code: u32, depth: usize) -> Option<Link> {
    match code {
        0 => Some(Link::Latest),
        1 => Some(Link::DropOldest(depth)),
        2 => Some(Link::DropNewest(depth)),
        3 => Some(Link::Block(depth)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_offers_its_policies_only() {
        let blocking = Delivery::blocking(Duration::from_secs(1));
        for link in [Link::Latest, Link::DropOldest(3)] {
            assert!(Delivery::Lossy.offers(link));
            assert!(!blocking.offers(link));
        }
        for link in [Link::Block(2), Link::DropNewest(2)] {
            assert!(!Delivery::Lossy.offers(link));
            assert!(blocking.offers(link));
        }
    }

    #[test]
    fn codes_round_trip() {
        for link in [
            Link::Latest,
            Link::DropOldest(3),
            Link::DropNewest(2),
            Link::Block(4),
        ] {
            assert_eq!(from_code(code(link), depth(link)), Some(link));
        }
        assert_eq!(from_code(9, 1), None);
    }
}
