//! One worker's aggregation of one epoch, fed batch by batch while the epoch runs.
//!
//! The aggregate query (or one [`Phase`] of it) runs as a DataFusion stream on the shared
//! runtime, reading its rows from a channel. Only the query's group state is held, not the
//! epoch's rows, so a 10M-row epoch costs the memory of its groups.

use std::fmt;
use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::execution::TaskContext;
use datafusion::physical_expr::LexOrdering;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::phase::{self, Phase};
use super::{EpochAggregate, INPUT};
use crate::error::{EngineError, Result};

/// Batches in flight between a worker and its running query.
const QUEUED_BATCHES: usize = 4;

/// An epoch's aggregation in progress (see the [module docs](self)).
pub(crate) struct RunningAggregation {
    rows: Option<mpsc::Sender<RecordBatch>>,
    result: JoinHandle<Result<Vec<RecordBatch>>>,
}

impl RunningAggregation {
    /// Starts `phase` of `aggregate`'s query on `runtime`, over rows (or, for the final
    /// phase, states) still to come.
    pub fn start(aggregate: &EpochAggregate, phase: Phase, runtime: &Handle) -> Self {
        let (rows, receiver) = mpsc::channel(QUEUED_BATCHES);
        let aggregate = aggregate.clone();
        let result = runtime.spawn(async move { aggregate.evaluate_fed(phase, receiver).await });
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

    /// Ends the input and waits for the query's rows (none empty).
    ///
    /// # Errors
    /// When the query failed.
    pub fn finish(mut self, runtime: &Handle) -> Result<Vec<RecordBatch>> {
        drop(self.rows.take());
        runtime.block_on(self.result).map_err(EngineError::from)?
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
    /// Runs `phase` of the query over the batches that arrive on `receiver`, until it
    /// closes: input rows, or for [`Phase::Final`], partial states.
    async fn evaluate_fed(
        &self,
        phase: Phase,
        receiver: mpsc::Receiver<RecordBatch>,
    ) -> Result<Vec<RecordBatch>> {
        let schema = self.needed_schema();
        let (rows, states) = match phase {
            Phase::Final => (None, Some(receiver)),
            Phase::Whole | Phase::Partial => (Some(receiver), None),
        };
        let input = FedRows {
            schema: Arc::clone(&schema),
            receiver: Mutex::new(rows),
        };
        let table = StreamingTable::try_new(schema, vec![Arc::new(input)])?;
        let ctx = phase::session(phase);
        ctx.register_table(INPUT, Arc::new(table))?;
        let plan = ctx.sql(&self.sql).await?.create_physical_plan().await?;
        let plan = match (phase, states) {
            (Phase::Whole, _) => plan,
            (Phase::Partial, _) => phase::partial(&plan).ok_or_else(|| self.not_split())?,
            (Phase::Final, states) => {
                let schema = self.states.clone().ok_or_else(|| self.not_split())?;
                let fed = FedRows {
                    schema: Arc::clone(&schema),
                    receiver: Mutex::new(states),
                };
                let no_order: [LexOrdering; 0] = [];
                let states: Arc<dyn ExecutionPlan> = Arc::new(StreamingTableExec::try_new(
                    schema,
                    vec![Arc::new(fed)],
                    None,
                    no_order,
                    false,
                    None,
                )?);
                phase::final_part(plan, states)?
            }
        };
        let out = datafusion::physical_plan::collect(plan, ctx.task_ctx()).await?;
        Ok(out.into_iter().filter(|b| b.num_rows() > 0).collect())
    }

    fn not_split(&self) -> EngineError {
        EngineError::InvalidPlan(format!(
            "aggregate `{}` is not planned in two phases",
            self.spec.name
        ))
    }
}
