//! Records fetched while planning, kept so that reading the same range does not fetch
//! them again.
//!
//! Kinesis has no high-watermark API, so planning a range means reading its records. The
//! cache keeps them, keyed by where the range starts: `(partition, start offset, start
//! position)`. A read takes the entry out (a read happens once per logged range) and uses
//! it only if it holds the logged range's records: at least as many, with the last one's
//! sequence number equal to the logged `end_position`. Two proposals for one epoch start
//! at the same key (the same cursors), so whichever one was logged, the entry serves it or
//! is ignored. The cache is bounded in records and bytes, dropping the oldest entries;
//! a miss only costs a fetch.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::client::ShardRecord;

/// Where a range starts.
pub(crate) type CacheKey = (u32, u64, Option<String>);

#[derive(Debug)]
struct Entry {
    records: Vec<ShardRecord>,
    bytes: usize,
    order: u64,
}

#[derive(Debug, Default)]
struct Inner {
    entries: BTreeMap<CacheKey, Entry>,
    next: u64,
    records: usize,
    bytes: usize,
}

/// A bounded map from range starts to fetched records.
#[derive(Debug)]
pub(crate) struct RangeCache {
    inner: Mutex<Inner>,
    max_records: usize,
    max_bytes: usize,
}

impl RangeCache {
    /// A cache of at most `max_records` records and `max_bytes` payload bytes.
    pub fn new(max_records: usize, max_bytes: usize) -> Self {
        Self {
            inner: Mutex::default(),
            max_records,
            max_bytes,
        }
    }

    /// Keeps `records`, fetched from `key`; drops the oldest entries beyond the bounds.
    pub fn put(&self, key: CacheKey, records: Vec<ShardRecord>) {
        let bytes: usize = records.iter().map(|r| r.data.len()).sum();
        if records.is_empty() || records.len() > self.max_records || bytes > self.max_bytes {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let order = inner.next;
        inner.next += 1;
        if let Some(old) = inner.entries.remove(&key) {
            inner.records -= old.records.len();
            inner.bytes -= old.bytes;
        }
        inner.records += records.len();
        inner.bytes += bytes;
        inner.entries.insert(
            key,
            Entry {
                records,
                bytes,
                order,
            },
        );
        while inner.records > self.max_records || inner.bytes > self.max_bytes {
            let Some(oldest) = inner
                .entries
                .iter()
                .min_by_key(|(_, e)| e.order)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(e) = inner.entries.remove(&oldest) {
                inner.records -= e.records.len();
                inner.bytes -= e.bytes;
            }
        }
    }

    /// Takes out the entry at `key` and returns its first `len` records if the last of
    /// them has sequence number `last`.
    pub fn take(&self, key: &CacheKey, len: usize, last: &str) -> Option<Vec<ShardRecord>> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let entry = inner.entries.remove(key)?;
        inner.records -= entry.records.len();
        inner.bytes -= entry.bytes;
        drop(inner);
        let mut records = entry.records;
        if len == 0 || records.len() < len || records[len - 1].sequence != last {
            return None;
        }
        records.truncate(len);
        Some(records)
    }

    /// Records held.
    pub fn records(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).records
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(from: u64, n: u64) -> Vec<ShardRecord> {
        (from..from + n)
            .map(|i| ShardRecord {
                sequence: i.to_string(),
                data: vec![b'x'; 10],
            })
            .collect()
    }

    #[test]
    fn serves_matching_prefixes_once() {
        let cache = RangeCache::new(100, 10_000);
        let key = (3, 10, Some("9".to_string()));
        cache.put(key.clone(), records(10, 5));
        // A shorter logged range is a prefix.
        assert_eq!(cache.take(&key, 3, "12"), Some(records(10, 3)));
        assert_eq!(cache.take(&key, 3, "12"), None, "entries are read once");
        // A mismatching end is a miss (and drops the entry).
        cache.put(key.clone(), records(10, 5));
        assert_eq!(cache.take(&key, 3, "13"), None);
        cache.put(key.clone(), records(10, 5));
        assert_eq!(cache.take(&key, 6, "15"), None, "longer than fetched");
        assert_eq!(cache.records(), 0);
    }

    #[test]
    fn is_bounded() {
        let cache = RangeCache::new(10, 10_000);
        for p in 0..5 {
            cache.put((p, 0, None), records(0, 4));
        }
        assert!(cache.records() <= 10);
        // The newest entries survive.
        assert!(cache.take(&(4, 0, None), 4, "3").is_some());
        assert!(cache.take(&(0, 0, None), 4, "3").is_none());
        let small = RangeCache::new(100, 25);
        small.put((0, 0, None), records(0, 3));
        assert_eq!(
            small.records(),
            0,
            "an entry above the byte bound is not kept"
        );
    }
}
