//! Shard lineage and what each shard does in the next epoch.
//!
//! Kinesis reshards by closing shards and opening children: a split closes one parent
//! and opens two children, a merge closes two parents (`ParentShardId` and
//! `AdjacentParentShardId`) and opens one child. Records of one partition key move to the
//! child at the reshard, so to keep their order a child is read only once **all** its
//! parents are *finished*: closed and read to the end (`GetRecords` returned no
//! `NextShardIterator`). A child starts in the epoch after the one whose logged range
//! marked its last parent finished.
//!
//! The cursors come only from logged ranges, so finished shards must be recoverable from
//! them. A finished shard's range carries the `finished` flag (see
//! [`ShardPosition`]). Once every child of a finished shard has a cursor, the shard is left
//! out of later epochs: a cursor on a child implies its parents were finished, since a
//! child is only ever listed once they are (the rule [`plan_steps`] applies, recursively,
//! to shards without a cursor).
//!
//! Bounded jobs (`ending: latest`) fix their set of shards at start: every shard of the set
//! gets a cursor, unfinished ones are listed in every epoch, finished ones are dropped, and
//! shards without a cursor are not read.

use std::collections::BTreeMap;

use super::position::ShardPosition;

/// A shard as `ListShards` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShardInfo {
    /// The shard id.
    pub id: String,
    /// Its partition number (the id's numeric suffix).
    pub partition: u32,
    /// The partitions of its parent and adjacent parent.
    pub parents: Vec<u32>,
    /// Whether the shard is closed (it has an ending sequence number).
    pub closed: bool,
}

/// The shards of a stream with their lineage, keyed by partition.
#[derive(Clone, Debug, Default)]
pub(crate) struct ShardMap {
    shards: BTreeMap<u32, ShardInfo>,
    children: BTreeMap<u32, Vec<u32>>,
}

impl ShardMap {
    /// The map of `shards`.
    pub fn new(shards: impl IntoIterator<Item = ShardInfo>) -> Self {
        let shards: BTreeMap<u32, ShardInfo> =
            shards.into_iter().map(|s| (s.partition, s)).collect();
        let mut children: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for s in shards.values() {
            for p in &s.parents {
                children.entry(*p).or_default().push(s.partition);
            }
        }
        Self { shards, children }
    }

    /// The shards, by partition.
    pub fn shards(&self) -> impl Iterator<Item = &ShardInfo> {
        self.shards.values()
    }

    /// The shard of `partition`.
    pub fn get(&self, partition: u32) -> Option<&ShardInfo> {
        self.shards.get(&partition)
    }

    /// Whether `partition` is listed.
    pub fn contains(&self, partition: u32) -> bool {
        self.shards.contains_key(&partition)
    }

    fn children(&self, partition: u32) -> &[u32] {
        self.children.get(&partition).map_or(&[], Vec::as_slice)
    }
}

/// Where a shard stands: the count of records read and the position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShardCursor {
    /// Records read from the shard so far.
    pub offset: u64,
    /// The position after them.
    pub position: ShardPosition,
}

/// What a shard does in the next epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Read records from the cursor.
    Read,
    /// Carry the cursor forward as an empty range (a finished shard whose children have
    /// not all started, or a bounded job's shard waiting for its parents).
    Carry,
    /// The shard is no longer listed (expired by retention) but its cursor is unfinished:
    /// log it as finished so a bounded job can end.
    Vanished,
}

/// One shard's part of the next epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShardStep {
    /// The shard's partition.
    pub partition: u32,
    /// Where it stands.
    pub cursor: ShardCursor,
    /// What it does.
    pub step: Step,
}

/// Decides, in ascending partition order, what each shard does in the next epoch.
///
/// `default` is where a shard without a cursor starts (unbounded jobs only).
pub(crate) fn plan_steps(
    map: &ShardMap,
    cursors: &BTreeMap<u32, ShardCursor>,
    bounded: bool,
    default: &ShardPosition,
) -> Vec<ShardStep> {
    let step = |partition: u32, cursor: &ShardCursor, step: Step| ShardStep {
        partition,
        cursor: cursor.clone(),
        step,
    };
    let mut steps = Vec::new();
    if bounded {
        for (&p, cursor) in cursors {
            if cursor.position.finished {
                continue;
            }
            let Some(info) = map.shards.get(&p) else {
                steps.push(step(p, cursor, Step::Vanished));
                continue;
            };
            let ready = info
                .parents
                .iter()
                .all(|q| cursors.get(q).is_none_or(|c| c.position.finished));
            steps.push(step(
                p,
                cursor,
                if ready { Step::Read } else { Step::Carry },
            ));
        }
        return steps;
    }
    let mut lineage = Lineage {
        map,
        cursors,
        finished: BTreeMap::new(),
    };
    for info in map.shards() {
        let p = info.partition;
        let cursor = cursors.get(&p);
        if lineage.finished(p) {
            if let Some(c) = cursor
                && map.children(p).iter().any(|ch| !cursors.contains_key(ch))
            {
                steps.push(step(p, c, Step::Carry));
            }
            continue;
        }
        let ready = info
            .parents
            .iter()
            .filter(|q| map.contains(**q))
            .all(|q| lineage.finished(*q));
        match (ready, cursor) {
            (true, Some(c)) => steps.push(step(p, c, Step::Read)),
            (true, None) => steps.push(step(
                p,
                &ShardCursor {
                    offset: 0,
                    position: default.clone(),
                },
                Step::Read,
            )),
            (false, Some(c)) => steps.push(step(p, c, Step::Carry)),
            (false, None) => {}
        }
    }
    for (p, c) in cursors {
        if !map.contains(*p) && !c.position.finished {
            tracing::warn!(
                partition = p,
                offset = c.offset,
                "shard expired from the stream before it was fully read; its remaining records are lost"
            );
        }
    }
    steps
}

/// Finished-ness of shards in an unbounded job, inferred from cursors (memoized).
struct Lineage<'a> {
    map: &'a ShardMap,
    cursors: &'a BTreeMap<u32, ShardCursor>,
    finished: BTreeMap<u32, bool>,
}

impl Lineage<'_> {
    /// A shard is finished if its cursor says so, or (without a cursor) if a child started.
    fn finished(&mut self, p: u32) -> bool {
        if let Some(c) = self.cursors.get(&p) {
            return c.position.finished;
        }
        if let Some(&known) = self.finished.get(&p) {
            return known;
        }
        let map = self.map;
        let done = map.children(p).iter().any(|&c| self.started(c));
        self.finished.insert(p, done);
        done
    }

    /// A shard started if it has a cursor or is finished.
    fn started(&mut self, p: u32) -> bool {
        self.cursors.contains_key(&p) || self.finished(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinesis::position::Resume;

    fn shard(partition: u32, parents: &[u32], closed: bool) -> ShardInfo {
        ShardInfo {
            id: crate::kinesis::position::shard_id(partition),
            partition,
            parents: parents.to_vec(),
            closed,
        }
    }

    fn at(offset: u64, seq: &str, finished: bool) -> ShardCursor {
        ShardCursor {
            offset,
            position: ShardPosition {
                resume: Resume::After(seq.into()),
                finished,
                until: None,
            },
        }
    }

    fn summary(steps: &[ShardStep]) -> Vec<(u32, Step)> {
        steps
            .iter()
            .map(|s| (s.partition, s.step.clone()))
            .collect()
    }

    /// 0 split into 2 and 3; 1 and 2 merged into 4.
    fn resharded() -> ShardMap {
        ShardMap::new([
            shard(0, &[], true),
            shard(1, &[], true),
            shard(2, &[0], true),
            shard(3, &[0], false),
            shard(4, &[1, 2], false),
        ])
    }

    #[test]
    fn children_wait_for_all_parents() {
        let map = resharded();
        let default = ShardPosition::default();
        let none = BTreeMap::new();
        assert_eq!(
            summary(&plan_steps(&map, &none, false, &default)),
            vec![(0, Step::Read), (1, Step::Read)]
        );
        // 0 finished: its children start, it is carried until they have cursors.
        let cursors = BTreeMap::from([(0, at(5, "50", true)), (1, at(3, "31", false))]);
        assert_eq!(
            summary(&plan_steps(&map, &cursors, false, &default)),
            vec![
                (0, Step::Carry),
                (1, Step::Read),
                (2, Step::Read),
                (3, Step::Read)
            ]
        );
        // 2 finished but 1 not: 4 waits.
        let cursors = BTreeMap::from([
            (0, at(5, "50", true)),
            (1, at(3, "31", false)),
            (2, at(1, "70", true)),
            (3, at(0, "0", false)),
        ]);
        let steps = plan_steps(&map, &cursors, false, &default);
        assert_eq!(
            summary(&steps),
            vec![(1, Step::Read), (2, Step::Carry), (3, Step::Read)]
        );
        assert_eq!(steps[0].cursor, at(3, "31", false));
    }

    #[test]
    fn finished_parents_are_inferred_from_started_children() {
        let map = resharded();
        let default = ShardPosition::default();
        // Only 3 and 4 have cursors (0, 1 and 2 were dropped once their children started):
        // nothing before them is read again.
        let cursors = BTreeMap::from([(3, at(9, "90", false)), (4, at(0, "0", false))]);
        assert_eq!(
            summary(&plan_steps(&map, &cursors, false, &default)),
            vec![(3, Step::Read), (4, Step::Read)]
        );
        // A grandparent is finished when a grandchild started.
        let map = ShardMap::new([
            shard(0, &[], true),
            shard(1, &[0], true),
            shard(2, &[1], false),
        ]);
        let cursors = BTreeMap::from([(2, at(0, "1", false))]);
        assert_eq!(
            summary(&plan_steps(&map, &cursors, false, &default)),
            vec![(2, Step::Read)]
        );
    }

    #[test]
    fn new_shards_start_at_the_default() {
        let map = ShardMap::new([shard(7, &[], false)]);
        let default = ShardPosition::at(Resume::AtTimestamp(42));
        let steps = plan_steps(&map, &BTreeMap::new(), false, &default);
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].cursor.offset, 0);
        assert_eq!(steps[0].cursor.position, default);
    }

    #[test]
    fn bounded_jobs_read_only_their_shards() {
        let map = resharded();
        let default = ShardPosition::default();
        let mut waiting = at(0, "0", false);
        waiting.position.resume = Resume::TrimHorizon;
        let cursors = BTreeMap::from([
            (0, at(5, "50", true)),
            (1, at(3, "31", false)),
            (2, waiting.clone()),
            (4, waiting.clone()),
            (9, waiting.clone()),
        ]);
        // 3 has no cursor (created after the start): not read. 4 waits for 1 and 2.
        // 9 vanished from the stream.
        assert_eq!(
            summary(&plan_steps(&map, &cursors, true, &default)),
            vec![
                (1, Step::Read),
                (2, Step::Read),
                (4, Step::Carry),
                (9, Step::Vanished)
            ]
        );
    }
}
