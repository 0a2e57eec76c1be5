//! The rows one side of a stream–stream join holds, by key: each key stored once, with
//! the chain of its rows in arrival order. A row goes in without moving the others (a
//! key's rows are not a vector of their own, grown and copied as rows come), and looking
//! a key up compares the bytes stored with it, with no pointer to follow.

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use smallvec::SmallVec;
use xxhash_rust::xxh3::xxh3_64;

use super::side::{At, Held};

/// No row: the end of a chain.
const END: u32 = u32::MAX;

/// The `next` of a removed row's link, a hole.
const HOLE: u32 = u32::MAX - 1;

/// The hash of a key in state.
pub(super) fn key_hash(key: &[u8]) -> u64 {
    xxh3_64(key)
}

/// A row in state, the next row of its key (or [`END`]), and the low 32 bits of its key's
/// hash (in the padding the other fields leave).
#[derive(Clone, Copy)]
struct Link {
    held: Held,
    next: u32,
    hash: u32,
}

/// A key in state, and the first and last of its rows. Keys of up to 16 bytes (a number,
/// a short text) are stored in the chain itself, with no allocation of their own.
struct Chain {
    hash: u64,
    key: SmallVec<[u8; 16]>,
    first: u32,
    last: u32,
}

/// The rows in state by key.
#[derive(Default)]
pub(super) struct Chains {
    table: HashTable<Chain>,
    /// The rows; those forgotten are holes until the rows are laid out again.
    links: Links,
    holes: usize,
}

/// Rows per block of [`Links`].
const BLOCK: usize = 1 << 16;

/// The rows, in blocks of [`BLOCK`]: a state of millions of rows grows a block at a time,
/// never copied whole into fresh memory as one vector would be when it outgrows itself.
#[derive(Default)]
struct Links(Vec<Vec<Link>>);

impl Links {
    fn len(&self) -> usize {
        self.0
            .last()
            .map_or(0, |last| (self.0.len() - 1) * BLOCK + last.len())
    }

    fn push(&mut self, link: Link) {
        match self.0.last_mut() {
            Some(last) if last.len() < BLOCK => last.push(link),
            _ => {
                let mut block = Vec::with_capacity(BLOCK);
                block.push(link);
                self.0.push(block);
            }
        }
    }
}

impl std::ops::Index<usize> for Links {
    type Output = Link;

    fn index(&self, at: usize) -> &Link {
        &self.0[at / BLOCK][at % BLOCK]
    }
}

impl std::ops::IndexMut<usize> for Links {
    fn index_mut(&mut self, at: usize) -> &mut Link {
        &mut self.0[at / BLOCK][at % BLOCK]
    }
}

impl Chains {
    /// How many rows are held.
    pub(super) fn len(&self) -> usize {
        self.links.len() - self.holes
    }

    /// Adds `held`, last of the rows of `key` (whose hash is `hash`).
    pub(super) fn push(&mut self, hash: u64, key: &[u8], held: Held) {
        let at = u32::try_from(self.links.len())
            .ok()
            .filter(|&at| at < HOLE)
            .expect("fewer than 2^32 - 2 rows in one side of a join's state");
        self.links.push(Link {
            held,
            next: END,
            hash: hash as u32,
        });
        let entry = self
            .table
            .entry(hash, |c| c.hash == hash && *c.key == *key, |c| c.hash);
        match entry {
            Entry::Occupied(mut chain) => {
                let chain = chain.get_mut();
                self.links[chain.last as usize].next = at;
                chain.last = at;
            }
            Entry::Vacant(vacant) => {
                vacant.insert(Chain {
                    hash,
                    key: SmallVec::from_slice(key),
                    first: at,
                    last: at,
                });
            }
        }
    }

    /// Calls `visit` with each row of `key` (whose hash is `hash`), in the order they came.
    pub(super) fn each_mut(&mut self, hash: u64, key: &[u8], mut visit: impl FnMut(&mut Held)) {
        let Some(chain) = self.table.find(hash, |c| c.hash == hash && *c.key == *key) else {
            return;
        };
        let mut at = chain.first;
        while at != END {
            let link = &mut self.links[at as usize];
            visit(&mut link.held);
            at = link.next;
        }
    }

    /// Calls `visit` with each key held and its rows, in arrival order; keys in no set
    /// order.
    pub(super) fn each_key(&self, mut visit: impl FnMut(&[u8], &mut dyn Iterator<Item = &Held>)) {
        for chain in &self.table {
            let mut at = chain.first;
            let mut rows = std::iter::from_fn(|| {
                (at != END).then(|| {
                    let link = &self.links[at as usize];
                    at = link.next;
                    &link.held
                })
            });
            visit(&chain.key, &mut rows);
        }
    }

    /// Calls `visit` with each row held and the low 32 bits of its key's hash, in the
    /// order the rows are stored: one pass over the rows, not a walk key by key through
    /// the chains (a cache miss a row in a large state).
    pub(super) fn each_row(&self, mut visit: impl FnMut(u32, &Held)) {
        for block in &self.links.0 {
            for link in block.iter().filter(|l| l.next != HOLE) {
                visit(link.hash, &link.held);
            }
        }
    }

    /// Removes every row, calling `visit` with each, in no set order.
    pub(super) fn clear(&mut self, mut visit: impl FnMut(&Held)) {
        self.each_row(|_, held| visit(held));
        *self = Self::default();
    }

    /// Keeps the rows `keep` keeps and drops the others, laying the rows out again key by
    /// key, without holes.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&Held) -> bool) {
        let mut links = Links::default();
        let old = &self.links;
        self.table.retain(|chain| {
            let (mut at, mut first, mut last) = (chain.first, END, END);
            while at != END {
                let link = old[at as usize];
                at = link.next;
                if !keep(&link.held) {
                    continue;
                }
                let here = links.len() as u32;
                links.push(Link { next: END, ..link });
                if first == END {
                    first = here;
                } else {
                    links[last as usize].next = here;
                }
                last = here;
            }
            chain.first = first;
            chain.last = last;
            first != END
        });
        self.links = links;
        self.holes = 0;
    }

    /// Removes the row at `at` of `key`, if held; returns whether it was. The rows are
    /// laid out again once half of them are holes.
    pub(super) fn remove(&mut self, key: &[u8], at: At) -> bool {
        let hash = key_hash(key);
        let Ok(mut chain) = self
            .table
            .find_entry(hash, |c| c.hash == hash && *c.key == *key)
        else {
            return false;
        };
        let (mut previous, mut here) = (END, chain.get().first);
        while here != END && self.links[here as usize].held.at() != at {
            previous = here;
            here = self.links[here as usize].next;
        }
        if here == END {
            return false;
        }
        let next = self.links[here as usize].next;
        self.links[here as usize].next = HOLE;
        let c = chain.get_mut();
        if previous == END {
            c.first = next;
        } else {
            self.links[previous as usize].next = next;
        }
        if c.last == here {
            c.last = previous;
        }
        if c.first == END {
            chain.remove();
        }
        self.holes += 1;
        if self.holes > self.links.len() / 2 {
            self.retain(|_| true);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(n: u32) -> Held {
        Held {
            time: i64::from(n),
            until: i64::from(n),
            batch: 0,
            row: n,
            matched: false,
        }
    }

    /// Each key's rows, in the order `each_key` gives them, keys sorted.
    fn rows(chains: &Chains) -> Vec<(Vec<u8>, Vec<u32>)> {
        let mut all = Vec::new();
        chains.each_key(|key, rows| all.push((key.to_vec(), rows.map(|h| h.row).collect())));
        all.sort();
        all
    }

    /// Rows of two keys, interleaved: each key keeps its rows in arrival order through
    /// removals (first, middle, last), the holes they leave, and the layouts that close
    /// them; a key whose last row goes is gone.
    #[test]
    fn each_key_keeps_its_rows_in_arrival_order() {
        let mut chains = Chains::default();
        for n in 0..10 {
            let key: &[u8] = if n % 2 == 0 { b"even" } else { b"odd" };
            chains.push(key_hash(key), key, row(n));
        }
        let mut seen = Vec::new();
        chains.each_mut(key_hash(b"odd"), b"odd", |h| {
            h.matched = true;
            seen.push(h.row);
        });
        assert_eq!(seen, [1, 3, 5, 7, 9]);
        assert!(!chains.remove(b"odd", (0, 2)), "row 2 is not odd");
        assert!(!chains.remove(b"none", (0, 2)));
        for n in [0, 4, 8] {
            assert!(chains.remove(b"even", (0, n)));
        }
        assert_eq!(chains.len(), 7);
        assert_eq!(
            rows(&chains),
            [
                (b"even".to_vec(), vec![2, 6]),
                (b"odd".to_vec(), vec![1, 3, 5, 7, 9])
            ]
        );
        // More than half holes: laid out again, in the same order.
        for n in [2, 6, 1, 9] {
            assert!(chains.remove(if n % 2 == 0 { b"even" } else { b"odd" }, (0, n)));
        }
        assert_eq!(chains.len(), 3);
        assert_eq!(rows(&chains), [(b"odd".to_vec(), vec![3, 5, 7])]);
        chains.push(key_hash(b"odd"), b"odd", row(11));
        chains.retain(|h| h.row != 5);
        assert_eq!(rows(&chains), [(b"odd".to_vec(), vec![3, 7, 11])]);
        let mut matched = Vec::new();
        chains.each_mut(key_hash(b"odd"), b"odd", |h| matched.push(h.matched));
        assert_eq!(
            matched,
            [true, true, false],
            "a row keeps its flag when moved"
        );
        // Clearing visits the rows held, not the hole a removal leaves.
        assert!(chains.remove(b"odd", (0, 7)));
        let mut cleared = Vec::new();
        chains.clear(|h| cleared.push(h.row));
        cleared.sort_unstable();
        assert_eq!(cleared, [3, 11]);
        assert_eq!(chains.len(), 0);
        assert!(rows(&chains).is_empty());
    }
}
