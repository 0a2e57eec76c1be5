//! Running a plan: timely workers, epochs, and the exactly-once commit protocol of DESIGN
//! section 3 (offsets log, sink commits, state snapshots, commit markers).
//!
//! Sources and sinks are traits so that connectors slot in; the engine never does their
//! I/O itself.

mod abort;
mod committer;
mod controls;
mod dead_routes;
mod driver;
pub mod failure;
mod future;
mod graph;
mod join_tables;
mod lane;
mod marker;
mod planner;
mod projected;
mod recovery;
mod sources;
mod state_put;
mod worker;
mod worker_error;
pub(crate) mod writer;

pub use driver::{Cluster, Progress, ProgressFn, RunOptions, RunSummary, run};
pub use future::REASON_FUTURE;
pub use planner::StopRequest;
pub use projected::{ProjectedSource, read_only};
pub use sources::NamedSources;
pub use worker_error::WorkerError;

use std::collections::BTreeMap;
use std::sync::Arc;

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

/// Where each source partition stands: the cursor after the last range read from it,
/// keyed by `(source, partition)` so that iteration order is deterministic.
pub type Cursors = BTreeMap<(String, u32), Cursor>;

/// The position after the last range read from a partition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    /// The next offset to read.
    pub offset: u64,
    /// The opaque position of the last record read, for sources that need one.
    pub position: Option<String>,
}

impl Cursor {
    /// The cursor just after `range`.
    pub fn after(range: &SourceRange) -> Self {
        Self {
            offset: range.end,
            position: range
                .end_position
                .clone()
                .or_else(|| range.start_position.clone()),
        }
    }
}

/// Advances `cursors` past every range in `ranges`.
pub fn advance(cursors: &mut Cursors, ranges: &[SourceRange]) {
    for r in ranges {
        cursors.insert((r.source.clone(), r.partition), Cursor::after(r));
    }
}

/// What a source proposes for the next epoch.
#[derive(Clone, Debug, PartialEq)]
pub enum Planned {
    /// Read these ranges; they are logged before anything is read.
    Ranges(Vec<SourceRange>),
    /// Nothing new yet: ask again later.
    Idle,
    /// A bounded source has nothing left.
    Exhausted,
}

/// How far one partition (a Kafka partition, a Kinesis shard) is behind the newest record
/// of its source, as the last plan of this process saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct PartitionLag {
    /// The partition, as a metric label (`topic/3`, `shardId-000000000001`).
    pub partition: String,
    /// Records not yet planned (Kafka: the high watermark minus the end of the last range
    /// planned); `None` when the source cannot count them (Kinesis).
    pub records: Option<u64>,
    /// How old the newest record planned is relative to the source's head, in seconds
    /// (Kinesis: `MillisBehindLatest`; Kafka: now minus the timestamp of the last record
    /// read, when records are waiting, else 0); `None` when unknown.
    pub seconds: Option<f64>,
}

/// A partitioned, replayable source.
///
/// One worker plans each epoch and logs it before anything is read; every worker then
/// reads exactly the logged ranges, so planning may be nondeterministic (a broker's high
/// watermark moves) while replay is exact. Reading a range must therefore need nothing but
/// the range: in a cluster, the planner runs in process 0 only.
pub trait EpochSource: Send + Sync + 'static {
    /// Source name, recorded in dead letters.
    fn name(&self) -> &str;
    /// Where a job without a checkpoint starts (`starting-offsets`); missing partitions
    /// start wherever [`EpochSource::next_ranges`] decides.
    ///
    /// # Errors
    /// When the source cannot be reached.
    fn initial_cursors(&self) -> Result<Cursors, ConnectorFailure> {
        Ok(Cursors::new())
    }
    /// The ranges of epoch `epoch`, given where each partition stands.
    ///
    /// The ranges need name only the partitions read in this epoch (and any the source
    /// learns of, as empty ranges at their first cursor): a restart takes every cursor from
    /// the restored snapshot's cursor record, then replays the logged epochs after it. An
    /// entry is then O(partitions read in the epoch), not O(partitions ever known).
    ///
    /// # Errors
    /// When the source cannot be reached, or data the cursors need is gone.
    fn next_ranges(&self, epoch: u64, cursors: &Cursors) -> Result<Planned, ConnectorFailure>;
    /// Whether, once `cursors` are reached, a bounded source is exhausted.
    fn exhausted(&self, cursors: &Cursors) -> bool;
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
    /// Reads one range as [`read`](Self::read) does, handing `each` its rows and its dead
    /// letters piece by piece, as the source decodes them (a file's record batches, a
    /// generator's chunks), so that a large range is never held whole in memory. The epoch
    /// driver reads this way; by default, `read`'s dead letters and then its rows. Whatever
    /// `each` fails with ends the read.
    ///
    /// # Errors
    /// As `read`, and `each`'s.
    fn read_each(
        &self,
        range: &SourceRange,
        epoch: u64,
        each: &mut dyn FnMut(RangePart) -> Result<(), ConnectorFailure>,
    ) -> Result<(), ConnectorFailure> {
        let (rows, dead) = self.read(range, epoch)?;
        each(RangePart::DeadLetters(dead))?;
        each(RangePart::Rows(rows))
    }
    /// The `source` label of the metrics about `range`: bounded, one series per topic or
    /// stream, never one per file. By default the range's source (a Kafka topic, a Kinesis
    /// stream); sources whose partitions are files answer their own name.
    fn metric_label<'a>(&'a self, range: &'a SourceRange) -> &'a str {
        &range.source
    }
    /// How far each partition is behind, as of the last [`next_ranges`](Self::next_ranges)
    /// call in this process; empty (the default) when the source cannot tell (files and
    /// Delta tables: their backlog is the files not yet read, which they do not count).
    fn lag(&self) -> Vec<PartitionLag> {
        Vec::new()
    }
    /// Told, on the committing worker, that `epoch` with `ranges` is durable in every
    /// sink; sources may publish progress for outside tools (never needed for recovery).
    fn committed(&self, _epoch: u64, _ranges: &[SourceRange]) {}
    /// A copy of this source that decodes only `columns` of its rows (named in its
    /// schema's order, the coordinate columns among them), for a plan that reads no
    /// others: projection pushdown. `None` (the default) when the source cannot skip
    /// columns as it decodes; [`read_only`] then projects its rows after decoding.
    fn with_columns(&self, _columns: &[String]) -> Option<Arc<dyn EpochSource>> {
        None
    }
    /// Decodes only `columns` of its rows from now on: the in-place form of
    /// [`with_columns`](Self::with_columns), for a source that holds connections and is
    /// not copied (Kafka, Kinesis). Called once, before the first read; `false` (the
    /// default) when the source cannot skip columns as it decodes.
    fn decode_only(&self, _columns: &[String]) -> bool {
        false
    }
}

/// One piece of a range, as [`EpochSource::read_each`] hands it over.
#[derive(Clone, Debug)]
pub enum RangePart {
    /// Good rows, in the source's [`schema`](EpochSource::schema).
    Rows(RecordBatch),
    /// Dead letters, in the dead-letter schema.
    DeadLetters(RecordBatch),
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
    /// The table version the commit created (`None` when skipped, or for sinks without
    /// versions).
    pub version: Option<u64>,
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
    /// Starts writing `epoch` batch by batch, for sinks that can: the epoch's rows are then
    /// encoded as they arrive and never held together, which bounds a worker's memory on
    /// large epochs. `None` (the default) collects the epoch's batches and passes them to
    /// [`write`](Self::write) once the epoch is complete.
    ///
    /// # Errors
    /// When the files cannot be opened.
    fn stream(&self, _epoch: u64) -> Result<Option<Box<dyn EpochWriter>>, ConnectorFailure> {
        Ok(None)
    }
}

/// One epoch's data files of a [`TableSink`], written as batches arrive (see
/// [`TableSink::stream`]). Batches are pushed on the worker thread that writes; `finish`,
/// which waits for the uploads, runs off it, on the I/O runtime's blocking pool.
pub trait EpochWriter: Send {
    /// Writes `batch` (its rows may be buffered until a file or row group fills).
    ///
    /// # Errors
    /// When writing fails; the epoch's files are then abandoned.
    fn push(&mut self, batch: &RecordBatch) -> Result<(), ConnectorFailure>;
    /// Finishes the files and returns their descriptions, as [`TableSink::write`] does.
    ///
    /// # Errors
    /// When writing fails.
    fn finish(self: Box<Self>) -> Result<Vec<String>, ConnectorFailure>;
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
