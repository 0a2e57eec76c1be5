//! Publishing a table's rows to a Kafka topic next to its Delta table, at least once.

use std::sync::Arc;
use std::time::Duration;

use arrow::record_batch::RecordBatch;
use sluice_engine::runtime::{CommitReport, ConnectorFailure, TableSink};

use super::client::KafkaClient;
use super::producer::EventProducer;

/// Wraps a table sink so that every epoch's rows are also produced to a Kafka topic, one
/// JSON object per row.
///
/// Rows are produced and flushed while the epoch's files are written, so before the epoch
/// can commit: every committed epoch's rows are in Kafka (at least once). An epoch that
/// was written but not committed when the job died is written again on restart, and its
/// rows are produced again; exactly once into Kafka would need a transactional producer
/// whose transaction commits with the epoch (the broker under test, tansu 0.6.0, has no
/// transactions).
pub struct KafkaPublishedSink {
    inner: Arc<dyn TableSink>,
    producer: EventProducer,
    topic: String,
}

impl KafkaPublishedSink {
    /// Publishes `inner`'s rows to `topic` with an idempotent producer.
    ///
    /// # Errors
    /// When the producer cannot be created.
    pub fn new(
        inner: Arc<dyn TableSink>,
        client: &KafkaClient,
        topic: &str,
        idempotent: bool,
    ) -> Result<Self, ConnectorFailure> {
        Ok(Self {
            inner,
            producer: EventProducer::new(client, topic, idempotent)?,
            topic: topic.to_string(),
        })
    }
}

impl TableSink for KafkaPublishedSink {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn committed_epoch(&self) -> Result<Option<u64>, ConnectorFailure> {
        self.inner.committed_epoch()
    }

    fn write(&self, epoch: u64, batches: &[RecordBatch]) -> Result<Vec<String>, ConnectorFailure> {
        let files = self.inner.write(epoch, batches)?;
        let mut lines = Vec::new();
        {
            let mut writer = arrow::json::LineDelimitedWriter::new(&mut lines);
            for batch in batches {
                writer
                    .write(batch)
                    .map_err(|e| ConnectorFailure::new(format!("rows to JSON: {e}"), false))?;
            }
            writer
                .finish()
                .map_err(|e| ConnectorFailure::new(format!("rows to JSON: {e}"), false))?;
        }
        for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            self.producer.send(-1, None, line)?;
        }
        self.producer.flush(Duration::from_secs(120)).map_err(|e| {
            ConnectorFailure::new(format!("publishing to {}: {e}", self.topic), true)
        })?;
        Ok(files)
    }

    fn commit(&self, epoch: u64, files: Vec<String>) -> Result<CommitReport, ConnectorFailure> {
        self.inner.commit(epoch, files)
    }
}
