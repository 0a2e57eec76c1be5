//! A sink that counts rows and drops them, for benchmarks (Flink's `blackhole`).

use std::sync::atomic::{AtomicU64, Ordering};

use arrow::record_batch::RecordBatch;
use sluice_engine::runtime::{CommitReport, ConnectorFailure, TableSink};

/// Counts the rows written to it and keeps none; every epoch commits, nothing is stored,
/// so a restart writes the replayed epochs again.
#[derive(Debug, Default)]
pub struct BlackholeSink {
    name: String,
    rows: AtomicU64,
}

impl BlackholeSink {
    /// A sink named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            rows: AtomicU64::new(0),
        }
    }

    /// Rows committed so far.
    pub fn rows(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }
}

impl TableSink for BlackholeSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn committed_epoch(&self) -> Result<Option<u64>, ConnectorFailure> {
        Ok(None)
    }

    fn write(&self, _epoch: u64, batches: &[RecordBatch]) -> Result<Vec<String>, ConnectorFailure> {
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        Ok(vec![rows.to_string()])
    }

    fn commit(&self, _epoch: u64, files: Vec<String>) -> Result<CommitReport, ConnectorFailure> {
        let rows: u64 = files.iter().filter_map(|f| f.parse::<u64>().ok()).sum();
        self.rows.fetch_add(rows, Ordering::Relaxed);
        Ok(CommitReport {
            rows,
            ..CommitReport::default()
        })
    }
}
