//! One worker's aggregation of one epoch, fed batch by batch while the epoch runs.
//!
//! The aggregate query runs as a DataFusion stream on the shared runtime, reading its rows
//! from a channel. Only the query's group state is held, not the epoch's rows, so a
//! 10M-row epoch costs the memory of its groups.

use std::fmt;
use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{EpochAggregate, INPUT, session};
use crate::error::{EngineError, Result};

/// Batches in flight between a worker and its running query.
const QUEUED_BATCHES: usize = 4;

/// An epoch's aggregation in progress (see the [module docs](self)).
pub(crate) struct RunningAggregation {
    rows: Option<mpsc::Sender<RecordBatch>>,
    result: JoinHandle<Result<Option<RecordBatch>>>,
}

impl RunningAggregation {
    /// Starts `aggregate`'s query on `runtime`, over rows still to come.
    pub fn start(aggregate: &EpochAggregate, runtime: &Handle) -> Self {
        let (rows, receiver) = mpsc::channel(QUEUED_BATCHES);
        let aggregate = aggregate.clone();
        let result = runtime.spawn(async move { aggregate.evaluate_fed(receiver).await });
        Self {
            rows: Some(rows),
            result,
        }
    }

    /// Feeds `batch` (narrowed to the needed columns) to the query, waiting while it is
    /// behind. Call from a worker thread, outside the runtime. A query that already failed
    /// takes no more rows; its error comes from [`finish`](Self::finish).
    pub fn push(&mut self, batch: RecordBatch) {
        if let Some(rows) = &self.rows
            && rows.blocking_send(batch).is_err()
        {
            self.rows = None;
        }
    }

    /// Ends the input and waits for the query's rows.
    ///
    /// # Errors
    /// When the query failed.
    pub fn finish(mut self, runtime: &Handle) -> Result<Option<RecordBatch>> {
        drop(self.rows.take());
        runtime
            .block_on(self.result)
            .map_err(|e| EngineError::Connector(format!("aggregate query task: {e}")))?
    }
}

/// The query's single input partition: the rows that arrive on the channel.
struct FedRows {
    schema: SchemaRef,
    receiver: Mutex<Option<mpsc::Receiver<RecordBatch>>>,
}

impl fmt::Debug for FedRows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FedRows").finish_non_exhaustive()
    }
}

impl PartitionStream for FedRows {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        // The plan reads its one partition once; a second read finds no rows.
        let receiver = self.receiver.lock().ok().and_then(|mut r| r.take());
        let stream = futures::stream::unfold(receiver, |receiver| async move {
            let mut receiver = receiver?;
            let batch = receiver.recv().await?;
            Some((Ok(batch), Some(receiver)))
        });
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            stream,
        ))
    }
}

impl EpochAggregate {
    /// Runs the query over the rows that arrive on `receiver`, until it closes.
    async fn evaluate_fed(
        &self,
        receiver: mpsc::Receiver<RecordBatch>,
    ) -> Result<Option<RecordBatch>> {
        let schema = self.needed_schema();
        let input = FedRows {
            schema: Arc::clone(&schema),
            receiver: Mutex::new(Some(receiver)),
        };
        let table = StreamingTable::try_new(schema, vec![Arc::new(input)])?;
        let ctx = session();
        ctx.register_table(INPUT, Arc::new(table))?;
        let out = ctx.sql(&self.sql).await?.collect().await?;
        let out = arrow::compute::concat_batches(&self.output_schema, &out)?;
        Ok((out.num_rows() > 0).then_some(out))
    }
}
