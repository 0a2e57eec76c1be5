//! The generator as an engine source: deterministic partitions, record-count triggers.

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use sluice_checkpoints::SourceRange;
use sluice_engine::runtime::{ConnectorFailure, Cursors, EpochSource, PartitionLag, Planned};

use super::{GeneratorConfig, SOURCE_NAME};
use crate::format::json::JsonDecoder;

/// Reads the generator's partitions in epochs of about `records_per_epoch` records, split
/// evenly across partitions, and decodes them as JSON.
pub struct GeneratorSource {
    config: GeneratorConfig,
    decoder: JsonDecoder,
    per_partition: u64,
    /// Each partition's backlog as the last plan left it.
    lag: std::sync::Mutex<Vec<PartitionLag>>,
}

impl GeneratorSource {
    /// A source over `config` decoding into `fields`; `records_per_epoch` of `u64::MAX` reads
    /// everything in one epoch.
    ///
    /// # Errors
    /// When the generator settings or the schema are invalid.
    pub fn new(
        config: GeneratorConfig,
        fields: SchemaRef,
        records_per_epoch: u64,
    ) -> Result<Self, ConnectorFailure> {
        config
            .validate()
            .map_err(|e| ConnectorFailure::new(e.to_string(), false))?;
        let decoder = JsonDecoder::try_new(fields)
            .map_err(|e| ConnectorFailure::new(e.to_string(), false))?;
        let per_partition = records_per_epoch
            .div_ceil(u64::from(config.partitions))
            .max(1);
        Ok(Self {
            config,
            decoder,
            per_partition,
            lag: std::sync::Mutex::default(),
        })
    }
}

impl GeneratorSource {
    fn start(&self, cursors: &Cursors, partition: u32) -> u64 {
        cursors
            .get(&(SOURCE_NAME.to_string(), partition))
            .map_or(0, |c| c.offset)
    }
}

impl EpochSource for GeneratorSource {
    fn name(&self) -> &str {
        SOURCE_NAME
    }

    fn next_ranges(&self, _epoch: u64, cursors: &Cursors) -> Result<Planned, ConnectorFailure> {
        let ranges: Vec<SourceRange> = (0..self.config.partitions)
            .map(|p| {
                let start = self.start(cursors, p);
                let end = start
                    .saturating_add(self.per_partition)
                    .min(self.config.partition_len(p))
                    .max(start);
                SourceRange::offsets(SOURCE_NAME, p, start, end)
            })
            .collect();
        // The records after each range are the backlog; a partition with none is caught up
        // (0 s behind); how far behind in time one with a backlog is, a generator cannot say.
        *self.lag.lock().unwrap_or_else(|p| p.into_inner()) = ranges
            .iter()
            .map(|r| {
                let behind = self.config.partition_len(r.partition).saturating_sub(r.end);
                PartitionLag {
                    partition: format!("{SOURCE_NAME}/{}", r.partition),
                    records: Some(behind),
                    seconds: (behind == 0).then_some(0.0),
                }
            })
            .collect();
        if self.exhausted(cursors) {
            return Ok(Planned::Exhausted);
        }
        Ok(Planned::Ranges(ranges))
    }

    fn lag(&self) -> Vec<PartitionLag> {
        self.lag.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn exhausted(&self, cursors: &Cursors) -> bool {
        (0..self.config.partitions).all(|p| self.start(cursors, p) >= self.config.partition_len(p))
    }

    fn schema(&self) -> SchemaRef {
        self.decoder.output_schema().clone()
    }

    fn read(
        &self,
        range: &SourceRange,
        epoch: u64,
    ) -> Result<(RecordBatch, RecordBatch), ConnectorFailure> {
        let raw = self.config.read(range.partition, range.start, range.end);
        self.decoder
            .decode(&raw, epoch)
            .map_err(|e| ConnectorFailure::new(e.to_string(), false))
    }
}
