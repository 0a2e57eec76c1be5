//! The Nexmark source: one kind of row from the benchmark's event sequence, planned like
//! the generator's, a fixed number of events per partition and epoch.

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use sluice_checkpoints::SourceRange;
use sluice_engine::runtime::{ConnectorFailure, Cursors, EpochSource, Planned, RangePart};

use super::{NexmarkConfig, SOURCE_NAME, schema};
use crate::generator::spread::Spread;

/// Reads Nexmark rows of the configured kind.
pub struct NexmarkSource {
    config: NexmarkConfig,
    spread: Spread,
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
        let spread = Spread::new(
            SOURCE_NAME,
            config.partitions,
            config.events,
            events_per_epoch,
        );
        let schema = schema(config.kind);
        Ok(Self {
            config,
            spread,
            schema,
        })
    }

    /// Events the source covers (all kinds).
    pub fn events(&self) -> u64 {
        self.config.events
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
        Ok(Planned::Ranges(self.spread.ranges(cursors)))
    }

    fn exhausted(&self, cursors: &Cursors) -> bool {
        self.spread.exhausted(cursors)
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

    fn read_each(
        &self,
        range: &SourceRange,
        _epoch: u64,
        each: &mut dyn FnMut(RangePart) -> Result<(), ConnectorFailure>,
    ) -> Result<(), ConnectorFailure> {
        // Chunks of at most 8192 events, each handed over as it is generated, so that
        // operators work on cache-sized batches and a range is never held whole.
        const CHUNK: u64 = 8192;
        for start in (range.start..range.end).step_by(CHUNK as usize) {
            let end = (start + CHUNK).min(range.end);
            each(RangePart::Rows(self.config.rows(
                self.config.kind,
                range.partition,
                start,
                end,
            )))?;
        }
        Ok(())
    }
}
