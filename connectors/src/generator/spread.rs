//! How a generator spreads its events over partitions and epochs; shared by the demo
//! generator and Nexmark.

use sluice_checkpoints::SourceRange;
use sluice_engine::runtime::Cursors;

/// Events `0..events` over `partitions`: partition `p` holds offsets `0..len(p)`, offset
/// `o` being event `o * partitions + p`; an epoch reads up to `per_partition` offsets of
/// each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Spread {
    source: &'static str,
    partitions: u32,
    events: u64,
    per_partition: u64,
}

/// Events of `events` in `partition` of `partitions` (0 for a partition past the last).
pub(crate) fn partition_len(events: u64, partitions: u32, partition: u32) -> u64 {
    if partition >= partitions {
        return 0;
    }
    let n = u64::from(partitions);
    events / n + u64::from(u64::from(partition) < events % n)
}

impl Spread {
    /// `events` of `source` over `partitions`, `records_per_epoch` per epoch in all.
    pub(crate) fn new(
        source: &'static str,
        partitions: u32,
        events: u64,
        records_per_epoch: u64,
    ) -> Self {
        Self {
            source,
            partitions,
            events,
            per_partition: records_per_epoch
                .div_ceil(u64::from(partitions.max(1)))
                .max(1),
        }
    }

    /// Events in `partition`.
    pub(crate) fn len(&self, partition: u32) -> u64 {
        partition_len(self.events, self.partitions, partition)
    }

    fn start(&self, cursors: &Cursors, partition: u32) -> u64 {
        cursors
            .get(&(self.source.to_string(), partition))
            .map_or(0, |c| c.offset)
    }

    /// The next epoch's range of every partition, from where `cursors` stand.
    pub(crate) fn ranges(&self, cursors: &Cursors) -> Vec<SourceRange> {
        (0..self.partitions)
            .map(|p| {
                let start = self.start(cursors, p);
                let end = start
                    .saturating_add(self.per_partition)
                    .min(self.len(p))
                    .max(start);
                SourceRange::offsets(self.source, p, start, end)
            })
            .collect()
    }

    /// Whether every partition is read to its end.
    pub(crate) fn exhausted(&self, cursors: &Cursors) -> bool {
        (0..self.partitions).all(|p| self.start(cursors, p) >= self.len(p))
    }
}
