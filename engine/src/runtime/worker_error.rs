//! Why a worker stopped, or why an epoch must not commit.
//!
//! A [`WorkerError`] is cloned and sent: a worker records its first one, sends it to the
//! committer as data at the epoch it belongs to (so the epoch never commits, in whichever
//! process it happened), and returns it from its loop. So it owns its parts: the message
//! of the error that caused it (a connector's, a checkpoint store's, DataFusion's) is kept
//! as text, in a variant that says where it happened.

use serde::{Deserialize, Serialize};

use super::failure::EpochFailure;

/// A worker's failure, or an epoch's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum WorkerError {
    /// This worker stopped because another one failed: not a cause.
    #[error("aborted because another worker failed")]
    Aborted,
    /// A worker thread panicked (timely's report of it).
    #[error("a worker panicked: {0}")]
    Panicked(String),
    /// The workers could not be started (timely's report: a cluster's connections).
    #[error("starting the workers: {0}")]
    Start(String),
    /// A worker could not build its dataflow from the plan.
    #[error("building the dataflow: {0}")]
    Dataflow(String),
    /// The source could not say what the next epoch reads.
    #[error("planning epoch {epoch}: {message}")]
    Planning {
        /// The epoch being planned.
        epoch: u64,
        /// The source's error.
        message: String,
    },
    /// Reading a range of the source failed.
    #[error("reading {source_name} partition {partition} in epoch {epoch}: {message}")]
    Read {
        /// The source read.
        source_name: String,
        /// Its partition.
        partition: u32,
        /// The epoch read.
        epoch: u64,
        /// The connector's error.
        message: String,
    },
    /// The checkpoint store failed (the offsets log, a state part).
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// Another run of the job logged an epoch this run was to plan.
    #[error(
        "another instance of job `{job_id}` is running against this checkpoint: it logged \
         epoch {epoch} first (run {run}); stop it or give this job its own checkpoint location"
    )]
    AnotherInstance {
        /// The job.
        job_id: String,
        /// The epoch the other run logged.
        epoch: u64,
        /// The other run's id.
        run: String,
    },
    /// An epoch's plan did not cross from worker 0 to the others.
    #[error("the plan of epoch {epoch} does not cross processes: {message}")]
    EpochPlan {
        /// The epoch (as far as known).
        epoch: u64,
        /// The encoding's error.
        message: String,
    },
    /// Reading the table side of a keyed join failed.
    #[error("join {join}: table {table}: {message}")]
    JoinTable {
        /// The join.
        join: String,
        /// Its table.
        table: String,
        /// What failed.
        message: String,
    },
    /// An operator failed on an epoch's rows or state.
    #[error("{operator}, epoch {epoch}: {message}")]
    Operator {
        /// The operator (e.g. `join orders_payments`).
        operator: String,
        /// The epoch.
        epoch: u64,
        /// What failed.
        message: String,
    },
    /// Writing a sink's files failed.
    #[error("writing {table}: {message}")]
    Write {
        /// The sink's table.
        table: String,
        /// The sink's error.
        message: String,
    },
    /// Committing an epoch's files to a table failed.
    #[error("committing {table} epoch {epoch}: {message}")]
    Commit {
        /// The table.
        table: String,
        /// The epoch.
        epoch: u64,
        /// The sink's error.
        message: String,
    },
    /// A commit's thread could not start, or panicked.
    #[error("the commit of epoch {epoch}: {message}")]
    CommitThread {
        /// The epoch.
        epoch: u64,
        /// What happened.
        message: String,
    },
    /// Writing an epoch's commit marker (or its cursors, or applying retention) failed.
    #[error("commit marker {epoch}: {message}")]
    Marker {
        /// The epoch.
        epoch: u64,
        /// The checkpoint store's error.
        message: String,
    },
    /// An epoch's state parts do not cover every key group exactly once.
    #[error("epoch {epoch}: {message}")]
    Tiling {
        /// The epoch.
        epoch: u64,
        /// What is missing or doubled.
        message: String,
    },
    /// A worker reported a failure in an epoch, which therefore did not commit.
    #[error("epoch {epoch} failed in {cause}")]
    EpochFailed {
        /// The epoch.
        epoch: u64,
        /// The first cause reported.
        cause: Box<EpochFailure>,
    },
}

impl WorkerError {
    /// Whether this is a cause, not a stop because another worker failed.
    pub fn is_cause(&self) -> bool {
        *self != Self::Aborted
    }

    /// A checkpoint store's error.
    pub(crate) fn checkpoint(error: &sluice_checkpoints::Error) -> Self {
        Self::Checkpoint(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::failure::Site;

    #[test]
    fn a_failure_crosses_processes_whole() {
        let error = WorkerError::EpochFailed {
            epoch: 7,
            cause: Box::new(EpochFailure {
                site: Site {
                    process: 1,
                    worker: 3,
                },
                operator: "Write(silver)".into(),
                error: WorkerError::Write {
                    table: "silver".into(),
                    message: "disk full".into(),
                },
            }),
        };
        // Timely's exchange encodes with bincode.
        let bytes = bincode::serialize(&error).expect("encodes");
        let back: WorkerError = bincode::deserialize(&bytes).expect("decodes");
        assert_eq!(back, error);
        assert_eq!(
            back.to_string(),
            "epoch 7 failed in process 1, worker 3, Write(silver): writing silver: disk full"
        );
        assert!(back.is_cause());
        assert!(!WorkerError::Aborted.is_cause());
    }
}
