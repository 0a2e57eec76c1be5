//! The Nexmark source: one kind of row from the benchmark's event sequence, planned like
//! the generator's, a fixed number of events per partition and epoch.

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use sluice_checkpoints::SourceRange;
use sluice_engine::runtime::{ConnectorFailure, Cursors, EpochSource, Planned};

use super::{NexmarkConfig, SOURCE_NAME, schema};

/// Reads Nexmark rows of the configured kind.
pub struct NexmarkSource {
    config: NexmarkConfig,
    per_partition: u64,
    schema: SchemaRef,
}

impl NexmarkSource {
    /// A source over `config`, closing an epoch every `events_per_epoch` events (of every
    /// kind); `u64::MAX` reads everything in one epoch.
    ///
    /// # Errors
    /// When the settings are invalid.
    pub fn new(config: NexmarkConfig, events_per_epoch: u64) -> Result<Self, ConnectorFailure> {
        config
            .validate()
            .map_err(|e| ConnectorFailure::new(e, false))?;
        let per_partition = events_per_epoch
            .div_ceil(u64::from(config.partitions))
            .max(1);
        let schema = schema(config.kind);
        Ok(Self {
            config,
            per_partition,
            schema,
        })
    }

    /// Events the source covers (all kinds).
    pub fn events(&self) -> u64 {
        self.config.events
    }

    fn start(&self, cursors: &Cursors, partition: u32) -> u64 {
        cursors
            .get(&(SOURCE_NAME.to_string(), partition))
            .map_or(0, |c| c.offset)
    }
}

impl EpochSource for NexmarkSource {
    fn name(&self) -> &str {
        SOURCE_NAME
    }

    fn next_ranges(&self, _epoch: u64, cursors: &Cursors) -> Result<Planned, ConnectorFailure> {
        if self.exhausted(cursors) {
            return Ok(Planned::Exhausted);
        }
        Ok(Planned::Ranges(
            (0..self.config.partitions)
                .map(|p| {
                    let start = self.start(cursors, p);
                    let end = start
                        .saturating_add(self.per_partition)
                        .min(self.config.partition_len(p))
                        .max(start);
                    SourceRange::offsets(SOURCE_NAME, p, start, end)
                })
                .collect(),
        ))
    }

    fn exhausted(&self, cursors: &Cursors) -> bool {
        (0..self.config.partitions).all(|p| self.start(cursors, p) >= self.config.partition_len(p))
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn read(
        &self,
        range: &SourceRange,
        _epoch: u64,
    ) -> Result<(RecordBatch, RecordBatch), ConnectorFailure> {
        let rows = self
            .config
            .rows(self.config.kind, range.partition, range.start, range.end);
        Ok((rows, RecordBatch::new_empty(crate::dead_letter::schema())))
    }

    fn read_parts(
        &self,
        range: &SourceRange,
        epoch: u64,
    ) -> Result<(Vec<RecordBatch>, RecordBatch), ConnectorFailure> {
        // Batches of at most 8192 events, so that operators work on cache-sized batches.
        const CHUNK: u64 = 8192;
        let mut parts = Vec::new();
        let mut start = range.start;
        while start < range.end {
            let end = (start + CHUNK).min(range.end);
            parts.push(
                self.config
                    .rows(self.config.kind, range.partition, start, end),
            );
            start = end;
        }
        let _ = epoch;
        Ok((parts, RecordBatch::new_empty(crate::dead_letter::schema())))
    }
}
