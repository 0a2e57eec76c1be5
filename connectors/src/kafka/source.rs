//! The Kafka source as an engine [`EpochSource`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use arrow::array::{ArrayRef, AsArray, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, FieldRef, Int64Type, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use regex::Regex;
use sluice_checkpoints::SourceRange;
use sluice_engine::runtime::{
    ConnectorFailure, Cursor, Cursors, EpochSource, PartitionLag, Planned,
};

use super::client::KafkaClient;
use super::config::{KafkaSourceConfig, MetadataColumn};
use super::error::KafkaError;
use super::metadata::{Subscription, discover, watermarks};
use super::reader::{PartitionReader, RangeRead, Wanted};
use super::starting::{EndingOffsets, StartingOffsets, lookup};
use crate::format::OFFSET_COLUMN;
use crate::format::{Decoder, SourceDecoder};

/// Reads Kafka partitions with `assign` and the offsets the checkpoint logged.
///
/// Each epoch reads, per partition, from where the last epoch ended to the high watermark
/// seen when the epoch is planned, capped by `max-records-per-epoch` (split evenly over
/// the partitions) and by `ending-offsets`. Ranges are keyed by `(topic, partition)`, so
/// the `source` coordinate of rows and dead letters is the topic.
pub struct KafkaSource {
    config: KafkaSourceConfig,
    client: KafkaClient,
    subscription: Subscription,
    decoder: SourceDecoder,
    /// The metadata columns, after the decoded ones.
    metadata: Vec<FieldRef>,
    /// The schema of its rows, the decoded columns' then the metadata's; set again when
    /// the decoder is narrowed.
    output: OnceLock<SchemaRef>,
    full_output: SchemaRef,
    wanted: Wanted,
    planner: Mutex<BaseConsumer>,
    readers: Mutex<BTreeMap<(String, i32), PartitionReader>>,
    ending: Option<BTreeMap<(String, i32), u64>>,
    group_id: String,
    lost: AtomicU64,
    /// The timestamp (ms) of the last record read per partition in this process.
    read_times: Mutex<BTreeMap<(String, i32), i64>>,
    /// Each partition's lag as the last plan saw it.
    lag: Mutex<Vec<PartitionLag>>,
}

impl std::fmt::Debug for KafkaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSource")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl KafkaSource {
    /// Connects to the brokers, checks the subscription and resolves `ending-offsets`;
    /// messages are decoded by `decoder`.
    ///
    /// # Errors
    /// A bad setting, unreachable brokers, or a missing topic, worded for the user.
    pub fn new(
        config: KafkaSourceConfig,
        decoder: Decoder,
        job_id: &str,
    ) -> Result<Self, KafkaError> {
        let subscription = match (&config.topic_pattern, config.topics.is_empty()) {
            (Some(_), false) => {
                return Err(KafkaError::Setting {
                    key: "topics".into(),
                    message: "give `topics` or `topic-pattern`, not both".into(),
                });
            }
            (Some(p), true) => {
                Subscription::Pattern(Regex::new(p).map_err(|e| KafkaError::Setting {
                    key: "topic-pattern".into(),
                    message: e.to_string(),
                })?)
            }
            (None, false) => Subscription::Topics(config.topics.clone()),
            (None, true) => {
                return Err(KafkaError::Setting {
                    key: "topics".into(),
                    message: "at least one topic (or a `topic-pattern`)".into(),
                });
            }
        };
        if config.max_records_per_epoch == 0 {
            return Err(KafkaError::Setting {
                key: "max-records-per-epoch".into(),
                message: "a positive number".into(),
            });
        }
        let mut metadata = Vec::new();
        let mut wanted = Wanted::default();
        let mut columns = config.metadata_columns.clone();
        columns.sort();
        columns.dedup();
        for c in &columns {
            let data_type = match c {
                MetadataColumn::Key => {
                    wanted.keys = true;
                    DataType::Utf8
                }
                MetadataColumn::Timestamp => {
                    wanted.timestamps = true;
                    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
                }
                MetadataColumn::Headers => {
                    wanted.headers = true;
                    DataType::Utf8
                }
            };
            metadata.push(Arc::new(Field::new(c.column(), data_type, true)));
        }
        let client = KafkaClient::new(&config);
        let group_id = config
            .group_id
            .clone()
            .unwrap_or_else(|| format!("sluice-{job_id}"));
        let planner = client.consumer(&group_id)?;
        let partitions = discover(&planner, &client, &subscription, config.request_timeout)?;
        let ending = match &config.ending_offsets {
            None => None,
            Some(EndingOffsets::Latest) => {
                let mut map = BTreeMap::new();
                for (t, p) in &partitions {
                    let (_, high) = watermarks(&planner, &client, t, *p, config.request_timeout)?;
                    map.insert((t.clone(), *p), high);
                }
                Some(map)
            }
            Some(EndingOffsets::Offsets(given)) => {
                let mut map = BTreeMap::new();
                for (t, p) in &partitions {
                    if let Some(end) = lookup(given, t, *p) {
                        if end < 0 {
                            return Err(KafkaError::Setting {
                                key: "ending-offsets".into(),
                                message: format!("{t}[{p}]: {end} is not an offset"),
                            });
                        }
                        map.insert((t.clone(), *p), end as u64);
                    }
                }
                Some(map)
            }
        };
        tracing::info!(
            brokers = client.brokers(),
            subscription = subscription.describe(),
            partitions = partitions.len(),
            bounded = ending.is_some(),
            "kafka source ready"
        );
        Ok(Self {
            config,
            client,
            subscription,
            full_output: with_metadata(decoder.output_schema(), &metadata),
            output: OnceLock::new(),
            decoder: SourceDecoder::new(decoder),
            metadata,
            wanted,
            planner: Mutex::new(planner),
            readers: Mutex::new(BTreeMap::new()),
            ending,
            group_id,
            lost: AtomicU64::new(0),
            read_times: Mutex::default(),
            lag: Mutex::default(),
        })
    }

    /// Records skipped because the broker had deleted them (with `fail-on-data-loss:
    /// false`).
    pub fn lost_records(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    fn timeout(&self) -> Duration {
        self.config.request_timeout
    }

    fn partitions(&self, consumer: &BaseConsumer) -> Result<Vec<(String, i32)>, KafkaError> {
        match &self.ending {
            Some(ending) => Ok(ending.keys().cloned().collect()),
            None => discover(consumer, &self.client, &self.subscription, self.timeout()),
        }
    }

    fn start_of(&self, consumer: &BaseConsumer, topic: &str, p: i32) -> Result<u64, KafkaError> {
        let (low, high) = watermarks(consumer, &self.client, topic, p, self.timeout())?;
        Ok(match &self.config.starting_offsets {
            StartingOffsets::Earliest => low,
            StartingOffsets::Latest => high,
            StartingOffsets::Offsets(map) => match lookup(map, topic, p) {
                Some(-1) => high,
                Some(o) if o >= 0 => (o as u64).clamp(low, high),
                _ => low,
            },
            StartingOffsets::Timestamp(ts) => self
                .offset_for_time(consumer, topic, p, *ts)?
                .unwrap_or(high),
        })
    }

    /// The first offset of `topic`'s partition `p` whose record's timestamp is at or after
    /// `ms` (Kafka's ListOffsets by time, checked against the record: see
    /// [`stamped_since`](Self::stamped_since)); `None` when no record is that recent.
    fn offset_for_time(
        &self,
        consumer: &BaseConsumer,
        topic: &str,
        p: i32,
        ms: i64,
    ) -> Result<Option<u64>, KafkaError> {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, p, Offset::Offset(ms))
            .map_err(|e| self.client.brokers_error(e))?;
        let found = consumer
            .offsets_for_times(tpl, self.timeout())
            .map_err(|e| self.client.brokers_error(format!("offsets for times: {e}")))?;
        match found.find_partition(topic, p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) if o >= 0 => {
                let o = o as u64;
                Ok(self.stamped_since(consumer, topic, p, o, ms)?.then_some(o))
            }
            _ => Ok(None),
        }
    }

    /// For each partition the source reads, `(topic, partition, offset)`: the first offset
    /// whose record's timestamp is at or after `ms`, `None` where no record is that recent
    /// (`sluice replay --from-time`).
    ///
    /// # Errors
    /// The brokers cannot be reached or do not answer.
    pub fn offsets_at(&self, ms: i64) -> Result<OffsetsAtTime, ConnectorFailure> {
        let consumer = self.planner.lock().expect("planner lock");
        let mut found = Vec::new();
        for (t, p) in self.partitions(&consumer).map_err(failure)? {
            let offset = self
                .offset_for_time(&consumer, &t, p, ms)
                .map_err(failure)?;
            found.push((t, p as u32, offset));
        }
        Ok(found)
    }

    /// Whether offset `o` of the partition holds a record stamped at or after `ms`, as a
    /// broker's ListOffsets answer claims (for `starting-offsets: {timestamp}` and `sluice
    /// replay --from-time` alike): a broker that finds no such record must answer
    /// "none", but tansu 0.6.0 answers offset 0. A record without a timestamp is taken at
    /// the broker's word.
    fn stamped_since(
        &self,
        consumer: &BaseConsumer,
        topic: &str,
        p: i32,
        o: u64,
        ms: i64,
    ) -> Result<bool, KafkaError> {
        let (_, high) = watermarks(consumer, &self.client, topic, p, self.timeout())?;
        if o >= high {
            return Ok(false);
        }
        let mut reader = PartitionReader::new(self.client.consumer(&self.group_id)?, topic, p);
        let wanted = Wanted {
            timestamps: true,
            ..Wanted::default()
        };
        let read = reader.read(topic, p as u32, o, o + 1, wanted, self.timeout())?;
        let stamp = read.timestamps.first().copied().flatten();
        if stamp.is_some_and(|stamp| stamp < ms) {
            tracing::warn!(
                topic,
                partition = p,
                offset = o,
                ?stamp,
                ms,
                "the broker named an offset stamped before the time asked for; taking it as none"
            );
            return Ok(false);
        }
        Ok(true)
    }

    /// The schema of its rows: the decoded columns, then the metadata ones.
    fn output(&self) -> SchemaRef {
        Arc::clone(self.output.get().unwrap_or(&self.full_output))
    }

    fn decode(&self, read: RangeRead, epoch: u64) -> Result<(RecordBatch, RecordBatch), String> {
        let (rows, dead) = self
            .decoder
            .get()
            .decode(&read.raw, epoch)
            .map_err(|e| e.to_string())?;
        if !(self.wanted.keys || self.wanted.timestamps || self.wanted.headers) {
            return Ok((rows, dead));
        }
        // Align metadata with the rows that decoded, by offset.
        let offsets = rows
            .column_by_name(OFFSET_COLUMN)
            .ok_or("decoded rows lack the offset column")?
            .as_primitive::<Int64Type>();
        let index: Vec<usize> = offsets
            .values()
            .iter()
            .map(|o| read.raw.offsets.binary_search(&(*o as u64)).unwrap_or(0))
            .collect();
        let mut columns: Vec<ArrayRef> = rows.columns().to_vec();
        let mut columns_meta = self.config.metadata_columns.clone();
        columns_meta.sort();
        columns_meta.dedup();
        for c in columns_meta {
            let array: ArrayRef = match c {
                MetadataColumn::Key => Arc::new(StringArray::from_iter(
                    index.iter().map(|&i| read.keys[i].as_deref()),
                )),
                MetadataColumn::Timestamp => Arc::new(
                    TimestampMicrosecondArray::from_iter(
                        index
                            .iter()
                            .map(|&i| read.timestamps[i].map(|ms| ms * 1000)),
                    )
                    .with_timezone("UTC"),
                ),
                MetadataColumn::Headers => Arc::new(StringArray::from_iter(
                    index.iter().map(|&i| read.headers[i].as_deref()),
                )),
            };
            columns.push(array);
        }
        let rows = RecordBatch::try_new(self.output(), columns).map_err(|e| e.to_string())?;
        Ok((rows, dead))
    }
}

/// The decoded columns of `decoded`, then `metadata`.
fn with_metadata(decoded: &SchemaRef, metadata: &[FieldRef]) -> SchemaRef {
    if metadata.is_empty() {
        return Arc::clone(decoded);
    }
    let fields: Vec<FieldRef> = decoded.fields().iter().chain(metadata).cloned().collect();
    Arc::new(Schema::new(fields))
}

/// `(topic, partition, offset)` for each partition a source reads: the first offset whose
/// record is stamped at or after a time, `None` where none is (see
/// [`KafkaSource::offsets_at`]).
pub type OffsetsAtTime = Vec<(String, u32, Option<u64>)>;

fn failure(e: KafkaError) -> ConnectorFailure {
    e.into()
}

impl EpochSource for KafkaSource {
    fn name(&self) -> &str {
        "kafka"
    }

    fn initial_cursors(&self) -> Result<Cursors, ConnectorFailure> {
        let consumer = self.planner.lock().expect("planner lock");
        let mut cursors = Cursors::new();
        for (t, p) in self.partitions(&consumer).map_err(failure)? {
            let offset = self.start_of(&consumer, &t, p).map_err(failure)?;
            cursors.insert(
                (t, p as u32),
                Cursor {
                    offset,
                    position: None,
                },
            );
        }
        Ok(cursors)
    }

    fn next_ranges(&self, _epoch: u64, cursors: &Cursors) -> Result<Planned, ConnectorFailure> {
        if self.exhausted(cursors) {
            return Ok(Planned::Exhausted);
        }
        let consumer = self.planner.lock().expect("planner lock");
        let partitions = self.partitions(&consumer).map_err(failure)?;
        let per_partition = self
            .config
            .max_records_per_epoch
            .div_ceil(partitions.len().max(1) as u64)
            .max(1);
        let mut ranges = Vec::with_capacity(partitions.len());
        let mut lag = Vec::with_capacity(partitions.len());
        let now_ms = chrono::Utc::now().timestamp_millis();
        let read_times = self.read_times.lock().expect("read times lock").clone();
        for (t, p) in partitions {
            let (low, high) =
                watermarks(&consumer, &self.client, &t, p, self.timeout()).map_err(failure)?;
            // A partition not in the cursors appeared after the job started: read it from
            // its beginning, as Spark does.
            let mut start = cursors
                .get(&(t.clone(), p as u32))
                .map_or(low, |c| c.offset);
            if start < low {
                let lost = low - start;
                if self.config.fail_on_data_loss {
                    return Err(failure(KafkaError::DataLoss {
                        topic: t,
                        partition: p,
                        needed: start,
                        earliest: low,
                        lost,
                    }));
                }
                tracing::warn!(topic = %t, partition = p, from = start, to = low, lost, "data lost to retention; continuing (fail-on-data-loss: false)");
                self.lost.fetch_add(lost, Ordering::Relaxed);
                start = low;
            }
            let mut end = high.min(start.saturating_add(per_partition)).max(start);
            if let Some(limit) = self.ending.as_ref().and_then(|e| e.get(&(t.clone(), p))) {
                end = end.min(*limit).max(start);
            }
            let behind = high.saturating_sub(end);
            let last_read = read_times.get(&(t.clone(), p)).copied();
            lag.push(PartitionLag {
                partition: format!("{t}/{p}"),
                records: Some(behind),
                seconds: match (behind, last_read) {
                    (0, _) => Some(0.0),
                    (_, Some(ms)) => Some(now_ms.saturating_sub(ms).max(0) as f64 / 1000.0),
                    (_, None) => None,
                },
            });
            ranges.push(SourceRange::offsets(t, p as u32, start, end));
        }
        *self.lag.lock().expect("lag lock") = lag;
        if ranges.iter().all(SourceRange::is_empty)
            && ranges.iter().all(|r| {
                cursors
                    .get(&(r.source.clone(), r.partition))
                    .is_some_and(|c| c.offset == r.start)
            })
        {
            return Ok(Planned::Idle);
        }
        Ok(Planned::Ranges(ranges))
    }

    fn exhausted(&self, cursors: &Cursors) -> bool {
        self.ending.as_ref().is_some_and(|ending| {
            ending.iter().all(|((t, p), end)| {
                cursors
                    .get(&(t.clone(), *p as u32))
                    .is_some_and(|c| c.offset >= *end)
            })
        })
    }

    fn schema(&self) -> SchemaRef {
        self.output()
    }

    fn decode_only(&self, columns: &[String]) -> bool {
        self.decoder.narrow(columns)
            && self
                .output
                .set(with_metadata(
                    self.decoder.get().output_schema(),
                    &self.metadata,
                ))
                .is_ok()
    }

    fn read(
        &self,
        range: &SourceRange,
        epoch: u64,
    ) -> Result<(RecordBatch, RecordBatch), ConnectorFailure> {
        let key = (range.source.clone(), range.partition as i32);
        let taken = self.readers.lock().expect("readers lock").remove(&key);
        let mut reader = match taken {
            Some(r) => r,
            None => PartitionReader::new(
                self.client.consumer(&self.group_id).map_err(failure)?,
                &range.source,
                range.partition as i32,
            ),
        };
        let read = reader.read(
            &range.source,
            range.partition,
            range.start,
            range.end,
            self.wanted,
            self.timeout().max(Duration::from_secs(30)),
        );
        self.readers
            .lock()
            .expect("readers lock")
            .insert(key, reader);
        let read = read.map_err(failure)?;
        if let Some(ms) = read.last_timestamp {
            self.read_times
                .lock()
                .expect("read times lock")
                .insert((range.source.clone(), range.partition as i32), ms);
        }
        self.decode(read, epoch).map_err(|e| {
            ConnectorFailure::new(
                format!("decoding {}[{}]: {e}", range.source, range.partition),
                false,
            )
        })
    }

    fn lag(&self) -> Vec<PartitionLag> {
        self.lag.lock().expect("lag lock").clone()
    }

    fn committed(&self, epoch: u64, ranges: &[SourceRange]) {
        let mut tpl = TopicPartitionList::new();
        for r in ranges {
            if tpl
                .add_partition_offset(&r.source, r.partition as i32, Offset::Offset(r.end as i64))
                .is_err()
            {
                return;
            }
        }
        let consumer = self.planner.lock().expect("planner lock");
        if let Err(e) = consumer.commit(&tpl, CommitMode::Async) {
            tracing::warn!(epoch, group = %self.group_id, error = %e, "committing consumer-group offsets (informational) failed");
        }
    }
}
