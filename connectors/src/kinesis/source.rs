//! The Kinesis stream as an engine source: shards as partitions, record counts as offsets.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use futures::future::try_join_all;
use sluice_checkpoints::SourceRange;
use sluice_engine::runtime::{
    ConnectorFailure, Cursor, Cursors, EpochSource, PartitionLag, Planned,
};

use super::cache::RangeCache;
use super::client::{Blocking, Kinesis, connect};
use super::config::{KinesisSourceConfig, StartingPosition};
use super::error::{KinesisError, Result};
use super::position::{Resume, ShardPosition, shard_id};
use super::reader::{Fetched, Goal};
use super::shards::{ShardCursor, ShardMap, ShardStep, Step, plan_steps};
use crate::format::{Decoder, SourceDecoder};
use crate::format::{RawBatch, RawBatchBuilder};

/// Payload bytes the range cache may hold.
const CACHE_BYTES: usize = 256 << 20;
/// How long a parked shard iterator is reused (Kinesis expires them after 5 minutes).
const ITERATOR_REUSE: Duration = Duration::from_secs(240);

/// Reads a Kinesis stream in epochs of at most `max-records-per-epoch` records and decodes
/// them as JSON.
///
/// # Partitions, offsets and positions
///
/// A shard is the partition with the number of its id (`shardId-000000000007` is 7). A
/// range's `start..end` counts the records read from the shard before and after it, so
/// `len()` is the number of records. Its `start_position` is where the range starts and its
/// `end_position` the sequence number of its last record, in the grammar of
/// [`ShardPosition`] (which also carries the `finished` flag and a bounded job's bound).
/// Replaying a range gets a shard iterator at `start_position` (`AFTER_SEQUENCE_NUMBER`,
/// or `TRIM_HORIZON` / `AT_TIMESTAMP` for a shard's first range) and reads exactly
/// `len()` records, checking that the last one is `end_position`.
///
/// # Planning
///
/// Kinesis has no high-watermark API, so planning an epoch reads the records: each shard
/// that may be read gets an equal share of `max-records-per-epoch` and is read until the
/// share is used, the shard is caught up (fewer records than asked and
/// `MillisBehindLatest` 0), or it ends. The records are kept in a bounded cache for
/// [`read`](EpochSource::read), which works from the logged range alone when they are not
/// there (another process planned the epoch, or a restart). Planning is serialized within a
/// process and memoized per `(epoch, cursors)`, so the workers of one process propose the
/// same ranges and fetch once. An epoch in which no shard moved is [`Planned::Idle`].
/// The shard iterator where a plan stopped is kept (up to 4 minutes) and reused by the next
/// plan that starts there, so idle polls cost one `GetRecords` per shard and no
/// `GetShardIterator` (limited to 5 per second per shard). `GetRecords` itself is limited
/// to 5 calls per second per shard: with real Kinesis, poll an idle source no more often
/// than every 200 ms; throttled calls back off and retry.
///
/// The ranges list is sorted by partition and holds every shard being read or waiting,
/// plus finished shards until all their children have started; see the
/// [`shards`](super) lineage rules.
///
/// # Starting and ending
///
/// `starting-position: latest` is resolved in [`initial_cursors`](EpochSource::initial_cursors)
/// into a concrete position per open shard: the sequence number of its last record at that
/// moment, found by reading the shard from `TRIM_HORIZON` to the tip (an empty shard
/// starts at `TRIM_HORIZON`, which then holds exactly the records that arrive later).
/// Closed shards are marked finished. The positions are logged with the first epoch, so
/// replays and restarts after it are exact. This costs one pass over the retained records
/// at the first start; a `LATEST` iterator would be cheaper but cannot be replayed.
///
/// `ending: latest` is resolved the same way, at the first start, into a bound per open
/// shard (`until:` its last sequence number; an empty shard is finished at once), and
/// travels in every logged position, so a restart stops at the same records. Shards
/// created after the first start are not read. If the job stops before it commits its
/// first epoch, the next start resolves both again.
pub struct KinesisSource {
    config: KinesisSourceConfig,
    name: String,
    decoder: SourceDecoder,
    kinesis: Kinesis,
    cache: RangeCache,
    planner: Mutex<Option<Memo>>,
    iterators: Mutex<BTreeMap<u32, Parked>>,
    /// Each shard's `MillisBehindLatest` as the last plan saw it.
    lag: Mutex<Vec<PartitionLag>>,
    default: ShardPosition,
    runtime: Blocking,
}

/// A shard iterator left where the last plan stopped, so that the next plan (typically
/// an idle poll) needs no `GetShardIterator` call (5 per second per shard at most).
struct Parked {
    at: Resume,
    iterator: String,
    since: Instant,
}

/// The last plan, for the other workers of the process.
struct Memo {
    epoch: u64,
    cursors: BTreeMap<u32, Cursor>,
    planned: Planned,
}

impl KinesisSource {
    /// A source over `config`'s stream, decoding records with `decoder`; its ranges
    /// and rows are named `source_name`.
    ///
    /// Builds the client but does not call Kinesis yet.
    ///
    /// # Errors
    /// [`KinesisError::Setting`] for invalid settings or an unsupported schema;
    /// [`KinesisError::Internal`] if the runtime cannot start.
    pub fn new(
        config: KinesisSourceConfig,
        decoder: Decoder,
        source_name: impl Into<String>,
    ) -> Result<Self> {
        config.validate()?;
        let default = match (config.starting_position, &config.starting_timestamp) {
            (StartingPosition::AtTimestamp, Some(t)) => {
                ShardPosition::at(Resume::AtTimestamp(t.millis()?))
            }
            // Shards that appear after the start are read from their first record.
            _ => ShardPosition::default(),
        };
        let runtime = Blocking::new()?;
        let client = runtime.block_on(connect(&config));
        let kinesis = Kinesis::new(client, config.stream.clone(), config.endpoint_name());
        let cache_records =
            usize::try_from(config.max_records_per_epoch.saturating_mul(2)).unwrap_or(usize::MAX);
        let name = source_name.into();
        tracing::info!(source = %name, config = ?config, "Kinesis source");
        Ok(Self {
            cache: RangeCache::new(
                cache_records.saturating_add(config.fetch_limit as usize),
                CACHE_BYTES,
            ),
            config,
            name,
            decoder: SourceDecoder::new(decoder),
            kinesis,
            planner: Mutex::new(None),
            iterators: Mutex::new(BTreeMap::new()),
            lag: Mutex::default(),
            default,
            runtime,
        })
    }

    /// The settings.
    pub fn config(&self) -> &KinesisSourceConfig {
        &self.config
    }

    fn bounded(&self) -> bool {
        self.config.ending.is_some()
    }

    /// This source's cursors, by partition.
    fn mine(&self, cursors: &Cursors) -> BTreeMap<u32, Cursor> {
        cursors
            .iter()
            .filter(|((source, _), _)| *source == self.name)
            .map(|((_, p), c)| (*p, c.clone()))
            .collect()
    }

    fn parse(cursors: &BTreeMap<u32, Cursor>) -> Result<BTreeMap<u32, ShardCursor>> {
        cursors
            .iter()
            .map(|(&p, c)| {
                Ok((
                    p,
                    ShardCursor {
                        offset: c.offset,
                        position: ShardPosition::parse(c.position.as_deref())?,
                    },
                ))
            })
            .collect()
    }

    fn initial(&self) -> Result<Cursors> {
        let shards = self.runtime.block_on(self.kinesis.list_shards())?;
        let latest = self.config.starting_position == StartingPosition::Latest;
        let bounded = self.bounded();
        tracing::info!(stream = %self.config.stream, shards = shards.len(), "listed shards");
        if !latest && !bounded {
            return Ok(Cursors::new());
        }
        let open: Vec<_> = shards.iter().filter(|s| !s.closed).collect();
        let limit = self.config.fetch_limit;
        let ends: Vec<Fetched> = self.runtime.block_on(try_join_all(open.iter().map(|s| {
            self.kinesis
                .fetch(&s.id, &Resume::TrimHorizon, &Goal::Scan, limit, None)
        })))?;
        let ends: BTreeMap<u32, Option<String>> = open
            .iter()
            .zip(ends)
            .map(|(s, f)| (s.partition, f.last))
            .collect();
        let mut cursors = Cursors::new();
        for shard in &shards {
            let position = match (shard.closed, ends.get(&shard.partition)) {
                (true, _) if latest => ShardPosition {
                    finished: true,
                    ..ShardPosition::default()
                },
                (true, _) => self.default.clone(),
                (false, end) => {
                    let end = end.cloned().flatten();
                    if latest {
                        let resume = end.map_or(Resume::TrimHorizon, Resume::After);
                        ShardPosition {
                            resume,
                            finished: bounded,
                            until: None,
                        }
                    } else {
                        ShardPosition {
                            resume: self.default.resume.clone(),
                            finished: end.is_none(),
                            until: end,
                        }
                    }
                }
            };
            tracing::debug!(shard = %shard.id, position = %position, "initial position");
            cursors.insert(
                (self.name.clone(), shard.partition),
                Cursor {
                    offset: 0,
                    position: position.encode(),
                },
            );
        }
        Ok(cursors)
    }

    fn plan(&self, epoch: u64, cursors: &BTreeMap<u32, ShardCursor>) -> Result<Planned> {
        let bounded = self.bounded();
        if bounded && cursors.values().all(|c| c.position.finished) {
            return Ok(Planned::Exhausted);
        }
        let map = ShardMap::new(self.runtime.block_on(self.kinesis.list_shards())?);
        let steps = plan_steps(&map, cursors, bounded, &self.default);
        let reads = steps.iter().filter(|s| s.step == Step::Read).count();
        let mut budgets = budgets(self.config.max_records_per_epoch, reads, epoch).into_iter();
        let mut work: Vec<(&ShardStep, Goal)> = Vec::new();
        for step in steps.iter().filter(|s| s.step == Step::Read) {
            let want = budgets.next().unwrap_or(0);
            if want > 0 && !step.cursor.position.finished {
                let until = step.cursor.position.until.clone();
                let closed = map.get(step.partition).is_some_and(|s| s.closed);
                work.push((
                    step,
                    Goal::Plan {
                        want,
                        until,
                        closed,
                    },
                ));
            }
        }
        let limit = self.config.fetch_limit;
        let parked: Vec<Option<String>> = {
            let mut iterators = self.iterators.lock().unwrap_or_else(|p| p.into_inner());
            work.iter()
                .map(|(step, _)| {
                    iterators
                        .remove(&step.partition)
                        .filter(|p| {
                            p.at == step.cursor.position.resume
                                && p.since.elapsed() < ITERATOR_REUSE
                        })
                        .map(|p| p.iterator)
                })
                .collect()
        };
        let fetched: Vec<Fetched> =
            self.runtime
                .block_on(try_join_all(work.iter().zip(parked).map(
                    |((step, goal), iterator)| async move {
                        let shard = shard_id(step.partition);
                        let resume = &step.cursor.position.resume;
                        self.kinesis
                            .fetch(&shard, resume, goal, limit, iterator)
                            .await
                    },
                )))?;
        {
            let mut iterators = self.iterators.lock().unwrap_or_else(|p| p.into_inner());
            for ((step, _), f) in work.iter().zip(&fetched) {
                if let Some(iterator) = &f.next {
                    let at = f
                        .last
                        .clone()
                        .map_or_else(|| step.cursor.position.resume.clone(), Resume::After);
                    iterators.insert(
                        step.partition,
                        Parked {
                            at,
                            iterator: iterator.clone(),
                            since: Instant::now(),
                        },
                    );
                }
            }
        }
        *self.lag.lock().unwrap_or_else(|p| p.into_inner()) = work
            .iter()
            .zip(&fetched)
            .filter_map(|((step, _), f)| {
                Some(PartitionLag {
                    partition: shard_id(step.partition),
                    records: None,
                    seconds: Some(f.behind_ms? as f64 / 1000.0),
                })
            })
            .collect();
        let mut fetched: BTreeMap<u32, Fetched> =
            work.iter().map(|(s, _)| s.partition).zip(fetched).collect();
        let mut ranges = Vec::with_capacity(steps.len());
        let mut moved = false;
        for step in &steps {
            let cursor = &step.cursor;
            let start_position = cursor.position.encode();
            let mut range = SourceRange {
                source: self.name.clone(),
                partition: step.partition,
                start: cursor.offset,
                end: cursor.offset,
                start_position: start_position.clone(),
                end_position: None,
            };
            match (&step.step, fetched.remove(&step.partition)) {
                (Step::Read, Some(f)) => {
                    range.end = cursor.offset + f.count;
                    if f.count > 0 || f.finished {
                        let next = cursor.position.advanced(f.last.as_deref(), f.finished);
                        range.end_position = Some(next.to_string());
                        moved = true;
                    }
                    if f.finished {
                        tracing::info!(stream = %self.config.stream, shard = %shard_id(step.partition), records = range.end, "shard finished");
                    }
                    if !f.records.is_empty() {
                        self.cache
                            .put((step.partition, cursor.offset, start_position), f.records);
                    }
                }
                (Step::Vanished, _) => {
                    range.end_position = Some(cursor.position.advanced(None, true).to_string());
                    moved = true;
                    tracing::warn!(stream = %self.config.stream, shard = %shard_id(step.partition), "shard vanished before it was fully read (retention?); marking it finished");
                }
                _ => {}
            }
            ranges.push(range);
        }
        let records: u64 = ranges.iter().map(SourceRange::len).sum();
        tracing::debug!(stream = %self.config.stream, epoch, shards = ranges.len(), reads = work.len(), records, cached = self.cache.records(), "planned");
        Ok(if moved {
            Planned::Ranges(ranges)
        } else {
            Planned::Idle
        })
    }

    /// Reads the records of a logged range, undecoded.
    ///
    /// # Errors
    /// [`KinesisError::Position`] for positions this source did not write;
    /// [`KinesisError::Replay`] when the stream no longer holds exactly the logged records;
    /// call errors.
    pub fn read_raw(&self, range: &SourceRange) -> Result<RawBatch> {
        let len = usize::try_from(range.len())
            .map_err(|_| KinesisError::Internal("range too long".into()))?;
        if len == 0 {
            return Ok(
                RawBatchBuilder::with_capacity(self.name.clone(), range.partition, 0, 0).finish(),
            );
        }
        let start = ShardPosition::parse(range.start_position.as_deref())?;
        let end = ShardPosition::parse(range.end_position.as_deref())?;
        let bad = |message: &str| KinesisError::Position {
            position: format!("{:?}..{:?}", range.start_position, range.end_position),
            message: message.to_string(),
        };
        let last = end
            .last_sequence()
            .ok_or_else(|| bad("a range with records must end at a sequence number"))?;
        if start.finished {
            return Err(bad("a range with records cannot start at a finished shard"));
        }
        let shard = shard_id(range.partition);
        let key = (range.partition, range.start, range.start_position.clone());
        let records = match self.cache.take(&key, len, last) {
            Some(records) => records,
            None => {
                tracing::debug!(stream = %self.config.stream, shard = %shard, start = range.start, len, "fetching logged range");
                let goal = Goal::Replay { want: range.len() };
                self.runtime
                    .block_on(self.kinesis.fetch(
                        &shard,
                        &start.resume,
                        &goal,
                        self.config.fetch_limit,
                        None,
                    ))?
                    .records
            }
        };
        let got_last = records.last().map(|r| r.sequence.as_str());
        if records.len() != len || got_last != Some(last) {
            return Err(KinesisError::Replay {
                stream: self.config.stream.clone(),
                shard,
                message: format!(
                    "logged {len} records ending at {last}, the stream returned {} ending at {}",
                    records.len(),
                    got_last.unwrap_or("none")
                ),
            });
        }
        let bytes = records.iter().map(|r| r.data.len()).sum();
        let mut builder =
            RawBatchBuilder::with_capacity(self.name.clone(), range.partition, len, bytes);
        for (offset, record) in (range.start..).zip(&records) {
            builder.push(offset, &record.data);
        }
        Ok(builder.finish())
    }
}

/// Splits `total` records over `n` shards; the shards that get one more rotate by epoch.
fn budgets(total: u64, n: usize, epoch: u64) -> Vec<u64> {
    if n == 0 {
        return Vec::new();
    }
    let n64 = n as u64;
    let (base, extra) = (total / n64, total % n64);
    let first = epoch % n64;
    (0..n64)
        .map(|i| base + u64::from((i + n64 - first) % n64 < extra))
        .collect()
}

impl EpochSource for KinesisSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn initial_cursors(&self) -> Result<Cursors, ConnectorFailure> {
        Ok(self.initial()?)
    }

    fn next_ranges(&self, epoch: u64, cursors: &Cursors) -> Result<Planned, ConnectorFailure> {
        let mine = self.mine(cursors);
        let mut memo = self.planner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = memo.as_ref()
            && m.epoch == epoch
            && m.cursors == mine
        {
            return Ok(m.planned.clone());
        }
        let planned = self.plan(epoch, &Self::parse(&mine)?)?;
        if planned != Planned::Idle {
            *memo = Some(Memo {
                epoch,
                cursors: mine,
                planned: planned.clone(),
            });
        }
        Ok(planned)
    }

    fn lag(&self) -> Vec<PartitionLag> {
        self.lag.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn exhausted(&self, cursors: &Cursors) -> bool {
        self.bounded()
            && Self::parse(&self.mine(cursors))
                .is_ok_and(|c| c.values().all(|c| c.position.finished))
    }

    fn schema(&self) -> SchemaRef {
        self.decoder.get().output_schema().clone()
    }

    fn decode_only(&self, columns: &[String]) -> bool {
        self.decoder.narrow(columns)
    }

    fn read(
        &self,
        range: &SourceRange,
        epoch: u64,
    ) -> Result<(RecordBatch, RecordBatch), ConnectorFailure> {
        let raw = self.read_raw(range)?;
        self.decoder
            .get()
            .decode(&raw, epoch)
            .map_err(|e| KinesisError::Internal(format!("decoding: {e}")).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_split_exactly_and_rotate() {
        assert_eq!(budgets(10, 3, 0), vec![4, 3, 3]);
        assert_eq!(budgets(10, 3, 1), vec![3, 4, 3]);
        assert_eq!(budgets(10, 3, 2), vec![3, 3, 4]);
        assert_eq!(budgets(2, 4, 3), vec![1, 0, 0, 1]);
        assert!(budgets(5, 0, 0).is_empty());
        for epoch in 0..5 {
            assert_eq!(budgets(100_001, 7, epoch).iter().sum::<u64>(), 100_001);
        }
    }
}
