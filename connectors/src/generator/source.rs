//! The generator as an engine source: deterministic partitions, record-count triggers.

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use sluice_checkpoints::SourceRange;
use sluice_engine::runtime::{ConnectorFailure, Cursors, EpochSource, PartitionLag, Planned};

use super::spread::Spread;
use super::{GeneratorConfig, SOURCE_NAME};
use crate::format::json::JsonDecoder;

/// Reads the generator's partitions in epochs of about `records_per_epoch` records, split
/// evenly across partitions, and decodes them as JSON.
pub struct GeneratorSource {
    config: GeneratorConfig,
    decoder: JsonDecoder,
    spread: Spread,
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
        let spread = Spread::new(
            SOURCE_NAME,
            config.partitions,
            config.events,
            records_per_epoch,
        );
        Ok(Self {
            config,
            decoder,
            spread,
            lag: std::sync::Mutex::default(),
        })
    }
}

impl EpochSource for GeneratorSource {
    fn name(&self) -> &str {
        SOURCE_NAME
    }

    fn next_ranges(&self, _epoch: u64, cursors: &Cursors) -> Result<Planned, ConnectorFailure> {
        let ranges = self.spread.ranges(cursors);
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
        self.spread.exhausted(cursors)
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
