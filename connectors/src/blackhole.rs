//! A sink that counts rows and drops them, for benchmarks (Flink's `blackhole`).

use std::sync::atomic::{AtomicU64, Ordering};

use arrow::record_batch::RecordBatch;
use sluice_engine::runtime::{CommitReport, ConnectorFailure, EpochWriter, TableSink};

/// Counts the rows written to it and keeps none; every epoch commits, nothing is stored,
/// so a restart writes the replayed epochs again. It streams: each batch is counted and
/// dropped as it arrives, never held until its epoch is complete.
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

    fn stream(&self, _epoch: u64) -> Result<Option<Box<dyn EpochWriter>>, ConnectorFailure> {
        Ok(Some(Box::new(Counter::default())))
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

/// One epoch's rows on one worker, counted as they arrive.
#[derive(Debug, Default)]
struct Counter {
    rows: usize,
}

impl EpochWriter for Counter {
    fn push(&mut self, batch: &RecordBatch) -> Result<(), ConnectorFailure> {
        self.rows += batch.num_rows();
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Vec<String>, ConnectorFailure> {
        Ok(vec![self.rows.to_string()])
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn rows(n: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from_iter_values(0..n))]).unwrap()
    }

    #[test]
    fn a_streamed_epoch_commits_the_rows_of_every_batch_and_a_buffered_one_the_same() {
        let sink = BlackholeSink::new("out");
        let mut writer = sink.stream(0).unwrap().expect("the blackhole streams");
        writer.push(&rows(3)).unwrap();
        writer.push(&rows(4)).unwrap();
        let report = sink.commit(0, writer.finish().unwrap()).unwrap();
        assert_eq!(report.rows, 7);
        let files = sink.write(1, &[rows(5)]).unwrap();
        assert_eq!(sink.commit(1, files).unwrap().rows, 5);
        assert_eq!(sink.rows(), 12);
    }
}
