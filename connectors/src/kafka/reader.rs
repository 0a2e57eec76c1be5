//! Reading one logged `[start, end)` range of a partition.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::error::KafkaError;
use crate::format::{RawBatch, RawBatchBuilder};

/// The records of a range plus the metadata asked for, parallel to the records.
pub(crate) struct RangeRead {
    pub raw: RawBatch,
    pub keys: Vec<Option<String>>,
    pub timestamps: Vec<Option<i64>>,
    pub headers: Vec<Option<String>>,
    /// The timestamp (ms) of the range's last record, for the lag in seconds.
    pub last_timestamp: Option<i64>,
}

/// Which metadata to keep.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Wanted {
    pub keys: bool,
    pub timestamps: bool,
    pub headers: bool,
}

/// A consumer bound to one partition, remembering the next offset its fetch queue holds,
/// so that consecutive epochs continue without re-assigning (and re-fetching).
pub(crate) struct PartitionReader {
    consumer: BaseConsumer,
    topic: String,
    partition: i32,
    next: Option<u64>,
}

impl PartitionReader {
    pub(crate) fn new(consumer: BaseConsumer, topic: &str, partition: i32) -> Self {
        Self {
            consumer,
            topic: topic.to_string(),
            partition,
            next: None,
        }
    }

    fn error(&self, start: u64, end: u64, message: impl Into<String>) -> KafkaError {
        KafkaError::Read {
            topic: self.topic.clone(),
            partition: self.partition,
            start,
            end,
            message: message.into(),
        }
    }

    /// Reads offsets `[start, end)` (offsets missing from the log, such as compacted ones,
    /// are skipped); fails after `idle` without progress.
    pub(crate) fn read(
        &mut self,
        source: &str,
        source_partition: u32,
        start: u64,
        end: u64,
        wanted: Wanted,
        idle: Duration,
    ) -> Result<RangeRead, KafkaError> {
        if self.next != Some(start) {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(&self.topic, self.partition, Offset::Offset(start as i64))
                .map_err(|e| self.error(start, end, e.to_string()))?;
            self.consumer
                .assign(&tpl)
                .map_err(|e| self.error(start, end, format!("assign: {e}")))?;
            self.next = Some(start);
        }
        let expected = (end - start) as usize;
        let mut raw =
            RawBatchBuilder::with_capacity(source, source_partition, expected, expected * 160);
        let mut keys = Vec::new();
        let mut timestamps = Vec::new();
        let mut headers = Vec::new();
        let mut last_timestamp = None;
        let mut next = start;
        let mut progress = Instant::now();
        while next < end {
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    if m.partition() != self.partition || m.topic() != self.topic {
                        continue;
                    }
                    let offset = m.offset().max(0) as u64;
                    if offset < next {
                        continue;
                    }
                    if offset >= end {
                        // Prefetched past the range: re-assign next time.
                        self.next = None;
                        next = end;
                        break;
                    }
                    raw.push(offset, m.payload().unwrap_or_default());
                    last_timestamp = m.timestamp().to_millis().or(last_timestamp);
                    if wanted.keys {
                        keys.push(m.key().map(|k| String::from_utf8_lossy(k).into_owned()));
                    }
                    if wanted.timestamps {
                        timestamps.push(m.timestamp().to_millis());
                    }
                    if wanted.headers {
                        headers.push(m.headers().map(|h| {
                            let map: serde_json::Map<String, serde_json::Value> = h
                                .iter()
                                .map(|h| {
                                    let v = h.value.map_or(serde_json::Value::Null, |v| {
                                        String::from_utf8_lossy(v).into_owned().into()
                                    });
                                    (h.key.to_string(), v)
                                })
                                .collect();
                            serde_json::Value::Object(map).to_string()
                        }));
                    }
                    next = offset + 1;
                    progress = Instant::now();
                }
                Some(Err(e)) => {
                    self.next = None;
                    return Err(self.error(start, end, e.to_string()));
                }
                None => {
                    // Offsets at the end of the range may not exist (compaction, transaction
                    // markers): the fetch position tells.
                    if let Ok(position) = self.consumer.position()
                        && let Some(p) = position.find_partition(&self.topic, self.partition)
                        && let Offset::Offset(o) = p.offset()
                        && o as u64 >= end
                    {
                        next = end;
                        break;
                    }
                    if progress.elapsed() > idle {
                        self.next = None;
                        return Err(self.error(
                            start,
                            end,
                            format!("no progress for {idle:?} at offset {next}"),
                        ));
                    }
                }
            }
        }
        if self.next.is_some() {
            self.next = Some(next);
        }
        Ok(RangeRead {
            raw: raw.finish(),
            keys,
            timestamps,
            headers,
            last_timestamp,
        })
    }
}
