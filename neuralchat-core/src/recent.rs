//! A bounded memory of recently seen ids: the mesh's cheap first filter
//! for copies arriving through several brokers (the store's idempotent
//! append is the final one), and a room's memory of what it announced.

use std::collections::{HashSet, VecDeque};
use std::hash::Hash;

/// Remembers the last `capacity` distinct ids.
#[derive(Debug)]
pub struct Recent<T> {
    /// The ids, for lookup.
    seen: HashSet<T>,
    /// The same ids, oldest first, for eviction.
    order: VecDeque<T>,
    /// How many are kept.
    capacity: usize,
}

impl<T: Hash + Eq + Clone> Recent<T> {
    /// An empty memory of `capacity` ids (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            seen: HashSet::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Whether `id` is remembered.
    pub fn contains(&self, id: &T) -> bool {
        self.seen.contains(id)
    }

    /// Records `id`; returns false if it was already remembered.
    pub fn insert(&mut self, id: T) -> bool {
        if !self.seen.insert(id.clone()) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_a_bounded_number() {
        let mut recent = Recent::new(2);
        assert!(recent.insert(1));
        assert!(!recent.insert(1));
        assert!(recent.insert(2));
        assert!(recent.insert(3));
        assert!(recent.insert(1), "the oldest was forgotten");
        assert!(!recent.insert(3));
    }
}
