//! Commits the data files of one epoch in one Delta transaction carrying `txn(appId, epoch)`.

use std::collections::BTreeSet;

use deltalake::DeltaTable;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Transaction};
use deltalake::protocol::{DeltaOperation, OutputMode};
use tokio::sync::Mutex;
use tracing::{info, warn};

use super::error::{DeltaError, Result};
use super::{CommitOutcome, DataFile};

/// The one place that commits to a table for a sink; guards the loaded table state.
pub(crate) struct Committer {
    /// The table location, for messages.
    table_name: String,
    /// The txn app id.
    app_id: String,
    /// Partition columns every committed file must carry values for.
    partition_columns: Vec<String>,
    /// The loaded table; locked for the whole of a check-then-commit.
    table: Mutex<DeltaTable>,
}

impl Committer {
    /// A committer over an opened (existing) table.
    pub(crate) fn new(
        table_name: String,
        app_id: String,
        partition_columns: Vec<String>,
        table: DeltaTable,
    ) -> Self {
        Self {
            table_name,
            app_id,
            partition_columns,
            table: Mutex::new(table),
        }
    }

    /// The last epoch committed under the app id, read from the newest table version.
    ///
    /// # Errors
    ///
    /// [`DeltaError::Storage`] if the log cannot be read.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only reads.
    pub(crate) async fn committed_epoch(&self) -> Result<Option<u64>> {
        let mut table = self.table.lock().await;
        self.refresh(&mut table).await?;
        self.txn_version(&table).await
    }

    /// Commits `files` as epoch `epoch`, unless that epoch or a later one is committed.
    ///
    /// # Errors
    ///
    /// [`DeltaError::Internal`] if a file does not belong to this table's partitioning or is
    /// listed twice; [`DeltaError::Storage`] if the commit fails (retryable when transient).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe in the sense that matters: the commit is a single atomic log write, so a
    /// dropped call has either committed the epoch or not, and a repeated call decides by the
    /// txn version.
    pub(crate) async fn commit(
        &self,
        epoch: u64,
        mut files: Vec<DataFile>,
    ) -> Result<CommitOutcome> {
        let version = i64::try_from(epoch).map_err(|_| {
            DeltaError::internal(&self.table_name, format!("epoch {epoch} exceeds i64::MAX"))
        })?;
        self.check_files(&mut files)?;

        let mut table = self.table.lock().await;
        self.refresh(&mut table).await?;
        if let Some(done) = self.txn_version(&table).await?
            && done >= epoch
        {
            info!(table = %self.table_name, app_id = %self.app_id, epoch, committed_epoch = done,
                "epoch already committed, skipping");
            return Ok(CommitOutcome::AlreadyCommitted);
        }

        let file_count = files.len();
        let rows = files.iter().map(DataFile::rows).sum::<u64>();
        let actions = files
            .into_iter()
            .map(|f| Action::Add(f.into_add()))
            .collect::<Vec<_>>();
        let now_ms = chrono::Utc::now().timestamp_millis();
        let properties = CommitProperties::default()
            .with_application_transaction(Transaction::new_with_last_update(
                &self.app_id,
                version,
                Some(now_ms),
            ))
            .with_metadata([("isBlindAppend".to_owned(), serde_json::Value::Bool(true))]);
        let operation = DeltaOperation::StreamingUpdate {
            output_mode: OutputMode::Append,
            query_id: self.app_id.clone(),
            epoch_id: version,
        };

        let attempt = async {
            let snapshot = table
                .snapshot()
                .map_err(|e| DeltaError::delta(&self.table_name, "committing", e))?;
            let prepared = CommitBuilder::from(properties)
                .with_actions(actions)
                .build(Some(snapshot), table.log_store(), operation)
                .into_prepared_commit_future()
                .await
                .map_err(|e| DeltaError::delta(&self.table_name, "preparing a commit", e))?;
            let post = prepared
                .await
                .map_err(|e| DeltaError::delta(&self.table_name, "committing", e))?;
            let version = post.version;
            // The commit is durable here; checkpoints and log cleanup are best effort.
            let state = match post.await {
                Ok(finalized) => Some(finalized.snapshot()),
                Err(e) => {
                    warn!(table = %self.table_name, version, error = %e,
                        "post-commit hook (checkpoint or log cleanup) failed");
                    None
                }
            };
            Ok::<_, DeltaError>((version, state))
        };
        match attempt.await {
            Ok((version, state)) => {
                if let Some(state) = state {
                    table.state = Some(state);
                }
                info!(table = %self.table_name, app_id = %self.app_id, epoch, version,
                    files = file_count, rows, "committed epoch");
                Ok(CommitOutcome::Committed {
                    version,
                    files: file_count,
                    rows,
                })
            }
            Err(err) => self.recover(&mut table, epoch, err).await,
        }
    }

    /// After a failed commit: if the epoch is in the table anyway (the write landed before the
    /// error, or a concurrent committer of the same app id won), report it as committed.
    async fn recover(
        &self,
        table: &mut DeltaTable,
        epoch: u64,
        err: DeltaError,
    ) -> Result<CommitOutcome> {
        if self.refresh(table).await.is_ok()
            && let Ok(Some(done)) = self.txn_version(table).await
            && done >= epoch
        {
            warn!(table = %self.table_name, app_id = %self.app_id, epoch, error = %err,
                "commit reported an error but the epoch is in the table");
            return Ok(CommitOutcome::AlreadyCommitted);
        }
        Err(err)
    }

    /// Loads table versions committed since the last look.
    async fn refresh(&self, table: &mut DeltaTable) -> Result<()> {
        table
            .update_state()
            .await
            .map_err(|e| DeltaError::delta(&self.table_name, "reading the table log", e))
    }

    /// The txn version of the app id in the loaded state.
    async fn txn_version(&self, table: &DeltaTable) -> Result<Option<u64>> {
        let state = table
            .snapshot()
            .map_err(|e| DeltaError::delta(&self.table_name, "reading the table log", e))?;
        let version = state
            .transaction_version(table.log_store().as_ref(), &self.app_id)
            .await
            .map_err(|e| DeltaError::delta(&self.table_name, "reading the txn version", e))?;
        // A negative version is not one of ours: treat it as nothing committed.
        Ok(version.and_then(|v| u64::try_from(v).ok()))
    }

    /// Rejects files of another partitioning and duplicates; sorts by path so the log entry
    /// does not depend on the order files arrived in.
    fn check_files(&self, files: &mut [DataFile]) -> Result<()> {
        let expected: BTreeSet<&str> = self.partition_columns.iter().map(String::as_str).collect();
        for file in files.iter() {
            let found: BTreeSet<&str> = file.partition_values().keys().copied().collect();
            if found != expected {
                return Err(DeltaError::internal(
                    &self.table_name,
                    format!(
                        "data file {} has partition values for {found:?}, expected {expected:?}",
                        file.path()
                    ),
                ));
            }
        }
        files.sort_by(|a, b| a.path().cmp(b.path()));
        if let Some(pair) = files.windows(2).find(|w| w[0].path() == w[1].path()) {
            return Err(DeltaError::internal(
                &self.table_name,
                format!("data file {} is listed twice", pair[0].path()),
            ));
        }
        Ok(())
    }
}
