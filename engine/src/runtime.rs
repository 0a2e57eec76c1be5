//! Running a plan: timely workers, epochs, and the exactly-once commit protocol of DESIGN
//! section 3 (offsets log, sink commits, state snapshots, commit markers).
//!
//! Sources and sinks are traits so that connectors slot in; the engine never does their
//! I/O itself.

mod committer;
mod driver;
mod writer;

pub use driver::{Progress, ProgressFn, RunOptions, RunSummary, run};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use sluice_checkpoints::SourceRange;

/// A failure in a source or sink, with whether retrying could help.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConnectorFailure {
    /// What went wrong, for the user.
    pub message: String,
    /// Whether a retry could succeed.
    pub retryable: bool,
}

impl ConnectorFailure {
    /// A failure with `message`.
    pub fn new(message: impl Into<String>, retryable: bool) -> Self {
        Self {
            message: message.into(),
            retryable,
        }
    }
}

/// A partitioned, replayable source with deterministic epoch boundaries.
pub trait EpochSource: Send + Sync + 'static {
    /// Source name, recorded in the offsets log and dead letters.
    fn name(&self) -> &str;
    /// Number of partitions.
    fn partitions(&self) -> u32;
    /// The ranges epoch `epoch` reads when partition `p` is at offset `starts[p]`; `None`
    /// when a bounded source has nothing left.
    fn next_ranges(&self, epoch: u64, starts: &[u64]) -> Option<Vec<SourceRange>>;
    /// Whether, once `ends` are reached, a bounded source is exhausted.
    fn exhausted(&self, ends: &[u64]) -> bool;
    /// The schema of decoded rows, including the coordinate columns.
    fn schema(&self) -> SchemaRef;
    /// Reads and decodes one range: `(rows, dead letters)`.
    ///
    /// # Errors
    /// When the source cannot be read (bad records are dead letters, not errors).
    fn read(
        &self,
        range: &SourceRange,
        epoch: u64,
    ) -> Result<(RecordBatch, RecordBatch), ConnectorFailure>;
}

/// What a table commit did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitReport {
    /// Whether the epoch was already in the table (a replay).
    pub skipped: bool,
    /// Rows added.
    pub rows: u64,
    /// Files added.
    pub files: u64,
}

/// A transactional table sink: files are written on every worker, then committed once
/// per epoch by a single committer.
pub trait TableSink: Send + Sync + 'static {
    /// Table name, for logs and summaries.
    fn name(&self) -> &str;
    /// The last epoch committed to the table by this job.
    ///
    /// # Errors
    /// When the table cannot be read.
    fn committed_epoch(&self) -> Result<Option<u64>, ConnectorFailure>;
    /// Writes `batches` as data files, returning serialized file descriptions.
    ///
    /// # Errors
    /// When writing fails.
    fn write(&self, epoch: u64, batches: &[RecordBatch]) -> Result<Vec<String>, ConnectorFailure>;
    /// Commits the files of `epoch` in one transaction, or skips it if already there.
    ///
    /// # Errors
    /// When the commit fails.
    fn commit(&self, epoch: u64, files: Vec<String>) -> Result<CommitReport, ConnectorFailure>;
}

/// Turns rejected and late rows into dead-letter rows.
pub trait DeadLetters: Send + Sync + 'static {
    /// Rows carrying a `reason` column (rule violations, evaluation errors).
    ///
    /// # Errors
    /// When the rows cannot be converted.
    fn rejected(&self, batch: &RecordBatch, epoch: u64) -> Result<RecordBatch, ConnectorFailure>;
    /// Late rows carrying `windows_missed` and `late_watermark` columns.
    ///
    /// # Errors
    /// When the rows cannot be converted.
    fn late(&self, batch: &RecordBatch, epoch: u64) -> Result<RecordBatch, ConnectorFailure>;
}

/// The sinks of a medallion plan.
#[derive(Clone)]
pub struct Sinks {
    /// Every decoded record.
    pub bronze: std::sync::Arc<dyn TableSink>,
    /// Records that pass the rules, with computed columns.
    pub silver: std::sync::Arc<dyn TableSink>,
    /// Window results, when the plan has a window.
    pub gold: Option<std::sync::Arc<dyn TableSink>>,
    /// Dead letters.
    pub dead_letters: std::sync::Arc<dyn TableSink>,
}
