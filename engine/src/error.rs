//! The engine's error type.

/// Errors raised while compiling or running a plan.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A SQL expression did not parse or plan against the input schema (the user's error).
    #[error("expression `{sql}`: {source}")]
    Expression {
        /// The SQL text as written in the job.
        sql: String,
        /// What DataFusion reported.
        #[source]
        source: Box<datafusion::error::DataFusionError>,
    },
    /// A plan refers to a column that the input does not have (the user's error).
    #[error("column `{column}` not found; the input has: {available}")]
    UnknownColumn {
        /// The missing column.
        column: String,
        /// The columns that exist, comma separated.
        available: String,
    },
    /// The plan is inconsistent (the user's error).
    #[error("invalid plan: {0}")]
    InvalidPlan(String),
    /// An Arrow kernel failed (internal).
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// DataFusion failed while evaluating (internal).
    #[error("evaluation: {0}")]
    Evaluation(#[from] datafusion::error::DataFusionError),
    /// The checkpoint store failed.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] sluice_checkpoints::Error),
    /// The checkpoint lacks the offsets of the snapshot it restores from (damaged).
    #[error("checkpoint: offsets of snapshot epoch {epoch} missing")]
    MissingOffsets {
        /// The snapshot's epoch.
        epoch: u64,
    },
    /// A source or sink failed.
    #[error("{0}")]
    Connector(#[from] crate::runtime::ConnectorFailure),
    /// A running aggregate's query task failed (internal).
    #[error("aggregate query task: {0}")]
    AggregateTask(#[from] tokio::task::JoinError),
    /// A worker failed; the job stops and can resume from its last commit.
    #[error("{0}")]
    Worker(#[from] crate::runtime::WorkerError),
    /// The checkpoint was written by a different plan.
    #[error(
        "the checkpoint was written by another plan (fingerprint {stored}, this plan {current}): run the job file it was written with, use a fresh checkpoint location, or switch to this plan with `sluice replay <job> --from-epoch E --in-place`, which checks that its state fits"
    )]
    PlanChanged {
        /// Fingerprint in the checkpoint.
        stored: String,
        /// Fingerprint of this plan.
        current: String,
    },
    /// Restoring operator state failed: the snapshot does not match the plan.
    #[error("state snapshot: {0}")]
    Snapshot(String),
}

/// The engine's result alias.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
