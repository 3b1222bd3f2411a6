//! A minimal slab: O(1) insert and remove by key, used for a token's children and callbacks.
//!
//! Children and `on_cancel` callbacks are removed by key when they go away (a dropped child
//! detaches, a dropped guard deregisters), so a long-lived parent never accumulates dead
//! entries. Keys are only ever removed by their single owner, so no generation counter is
//! needed. When the slab becomes empty its storage is reset, so a burst of short-lived
//! children does not pin memory forever.

/// Storage with stable `usize` keys and a free list.
#[derive(Debug)]
pub(crate) struct Slab<T> {
    entries: Vec<Option<T>>,
    free: Vec<usize>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    /// The key the next `insert` will return.
    pub(crate) fn next_key(&self) -> usize {
        self.free.last().copied().unwrap_or(self.entries.len())
    }

    /// Inserts a value and returns its key.
    pub(crate) fn insert(&mut self, value: T) -> usize {
        self.len += 1;
        match self.free.pop() {
            Some(key) => {
                self.entries[key] = Some(value);
                key
            }
            None => {
                self.entries.push(Some(value));
                self.entries.len() - 1
            }
        }
    }

    /// The value at `key`, if any.
    pub(crate) fn get(&self, key: usize) -> Option<&T> {
        self.entries.get(key).and_then(Option::as_ref)
    }

    /// Removes and returns the value at `key`; `None` if the key is vacant or out of range.
    pub(crate) fn remove(&mut self, key: usize) -> Option<T> {
        let value = self.entries.get_mut(key)?.take()?;
        self.len -= 1;
        if self.len == 0 {
            self.entries.clear();
            self.free.clear();
            if self.entries.capacity() > 64 {
                self.entries.shrink_to_fit();
                self.free.shrink_to_fit();
            }
        } else {
            self.free.push(key);
        }
        Some(value)
    }

    /// Number of occupied entries.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Empties the slab, returning every value.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = T> {
        std::mem::take(self).entries.into_iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::Slab;

    #[test]
    fn insert_remove_reuses_keys_and_resets_when_empty() {
        let mut slab = Slab::default();
        let a = slab.insert("a");
        let b = slab.insert("b");
        assert_eq!(slab.len(), 2);
        assert_eq!(slab.remove(a), Some("a"));
        assert_eq!(slab.remove(a), None);
        assert_eq!(slab.next_key(), a);
        let c = slab.insert("c");
        assert_eq!(c, a);
        assert_eq!(slab.get(b), Some(&"b"));
        assert_eq!(slab.remove(b), Some("b"));
        assert_eq!(slab.remove(c), Some("c"));
        assert_eq!(slab.len(), 0);
        assert_eq!(slab.next_key(), 0);
        assert_eq!(slab.remove(7), None);
        slab.insert("d");
        let all: Vec<_> = slab.drain().collect();
        assert_eq!(all, vec!["d"]);
        assert_eq!(slab.len(), 0);
    }
}
