//! A map that holds at most a fixed number of entries and forgets the least recently used one
//! to make room, in O(1).
//!
//! The credential cache, the web sessions and the throttle each keep "the N most useful things"
//! under a mutex taken on every request they see. Finding the stalest entry by scanning all N
//! (what they did before) held that mutex for 10,000 comparisons per eviction; here every
//! operation is a hash lookup and a few pointer moves.
//!
//! Least recently used rather than oldest insertion, because all three callers rank by use: a
//! credential a client sends every minute, a session in use, a throttle key that keeps being
//! charged must outlast entries inserted later but never touched again; eviction by insertion
//! order would drop the busiest first. An operation that reads without counting as a use
//! ([`Bounded::peek`], [`Bounded::peek_mut`]) leaves the order alone.
//!
//! Built on the `lru` crate (a hash map threaded by a doubly linked list; already in the build
//! through dav-server) rather than written here. The wrapper names the few operations the
//! callers need, allows a capacity of 0 (holds nothing: the cache switched off), and does not
//! allocate the capacity up front (a throttle of 100,000 keys costs nothing until attacked).

use lru::LruCache;
use std::borrow::Borrow;
use std::hash::Hash;

/// At most `capacity` entries; inserting into a full map forgets the least recently used.
pub(crate) struct Bounded<K: Hash + Eq, V> {
    map: LruCache<K, V>,
    capacity: usize,
}

impl<K: Hash + Eq, V> Bounded<K, V> {
    /// An empty map that will hold at most `capacity` entries (0: holds nothing).
    pub(crate) fn new(capacity: usize) -> Self {
        Self { map: LruCache::unbounded(), capacity }
    }

    /// Entries held.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing is held.
    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// True when inserting a new key would forget another.
    pub(crate) fn is_full(&self) -> bool {
        self.map.len() >= self.capacity
    }

    /// The value of `key`, which now counts as the most recently used.
    pub(crate) fn get<Q>(&mut self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get(key)
    }

    /// The value of `key`, without counting as a use.
    pub(crate) fn peek<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.peek(key)
    }

    /// Inserts (or replaces) `key` as the most recently used. Returns the entry forgotten to
    /// make room, if any: the least recently used, or the new entry itself at capacity 0.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<(K, V)> {
        if self.capacity == 0 {
            return Some((key, value));
        }
        let forgotten =
            if self.is_full() && !self.map.contains(&key) { self.map.pop_lru() } else { None };
        self.map.put(key, value);
        forgotten
    }

    /// Forgets `key`; returns its value.
    pub(crate) fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.pop(key)
    }

    /// The least recently used entry: the next to go.
    pub(crate) fn stalest(&self) -> Option<(&K, &V)> {
        self.map.peek_lru()
    }

    /// Forgets the least recently used entry and returns it.
    pub(crate) fn pop_stalest(&mut self) -> Option<(K, V)> {
        self.map.pop_lru()
    }

    /// Every entry, most recently used first (O(n): for tests and rare bulk work).
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.map.iter()
    }
}

impl<K: Hash + Eq, V> std::fmt::Debug for Bounded<K, V> {
    /// Sizes only: the keys are credentials' HMACs, session digests, client addresses.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bounded")
            .field("len", &self.map.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_map_forgets_the_least_recently_used() {
        let mut map = Bounded::new(3);
        for k in 1..=3 {
            assert_eq!(map.insert(k, k * 10), None);
        }
        assert!(map.is_full());
        assert_eq!(map.get(&1), Some(&10), "1 is now the most recently used");
        assert_eq!(map.peek(&2), Some(&20), "a peek is no use: 2 stays the stalest");
        assert_eq!(map.insert(4, 40), Some((2, 20)));
        assert_eq!(map.insert(1, 11), None, "replacing a key forgets nothing");
        assert_eq!(map.len(), 3);
        assert_eq!(map.stalest(), Some((&3, &30)));
        assert_eq!(map.pop_stalest(), Some((3, 30)));
        assert_eq!(map.remove(&4), Some(40));
        assert_eq!(map.iter().collect::<Vec<_>>(), [(&1, &11)]);
    }

    #[test]
    fn a_map_of_capacity_zero_holds_nothing() {
        let mut map = Bounded::new(0);
        assert_eq!(map.insert("a", 1), Some(("a", 1)));
        assert!(map.is_empty() && map.is_full());
        assert!(map.peek("a").is_none());
    }

    #[test]
    fn memory_stays_bounded_however_many_keys_pass() {
        let mut map = Bounded::new(100);
        for k in 0..100_000u32 {
            map.insert(k, ());
            assert!(map.len() <= 100);
        }
        assert!(map.peek(&99_999).is_some() && map.peek(&99_899).is_none(), "the newest 100 kept");
    }
}
