//! Commits the data files of one epoch in one Delta transaction carrying `txn(appId, epoch)`.

use std::collections::BTreeSet;

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType as ArrowType, Field, Schema, SchemaRef};
use deltalake::DeltaTable;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Transaction};
use deltalake::protocol::{DeltaOperation, OutputMode};
use sluice_engine::expr::SqlExpr;
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
    /// Partitions epoch 0 replaces.
    replace: Option<ReplaceWhere>,
}

/// A `replace-where` predicate over the partition columns, compiled against them as text.
#[derive(Clone, Debug)]
pub(crate) struct ReplaceWhere {
    sql: String,
    schema: SchemaRef,
    predicate: SqlExpr,
}

impl ReplaceWhere {
    /// Compiles `sql` over `partition_columns` (all Utf8, as Hive path values).
    pub(crate) fn compile(table: &str, sql: &str, partition_columns: &[String]) -> Result<Self> {
        if partition_columns.is_empty() {
            return Err(DeltaError::schema(
                table,
                "replace-where needs a partitioned table (`partition-by`)",
            ));
        }
        let schema: SchemaRef = Arc::new(Schema::new(
            partition_columns
                .iter()
                .map(|c| Field::new(c, ArrowType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        let predicate = SqlExpr::compile(sql, &schema).map_err(|e| {
            DeltaError::schema(
                table,
                format!("replace-where must be SQL over the partition columns only: {e}"),
            )
        })?;
        Ok(Self {
            sql: sql.to_owned(),
            schema,
            predicate,
        })
    }

    /// Remove actions for the snapshot's files whose partition values match.
    fn removals(
        &self,
        table: &str,
        snapshot: &deltalake::kernel::EagerSnapshot,
    ) -> Result<Vec<Action>> {
        let files: Vec<_> = snapshot.log_data().into_iter().collect();
        if files.is_empty() {
            return Ok(Vec::new());
        }
        let values: Vec<_> = files.iter().map(|f| f.partition_values_map()).collect();
        let columns: Vec<ArrayRef> = self
            .schema
            .fields()
            .iter()
            .map(|field| {
                Arc::new(StringArray::from_iter(
                    values
                        .iter()
                        .map(|v| v.get(field.name()).cloned().flatten()),
                )) as ArrayRef
            })
            .collect();
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), columns)
            .map_err(|e| DeltaError::internal(table, e.to_string()))?;
        let matches = self
            .predicate
            .predicate(&batch)
            .map_err(|e| DeltaError::internal(table, format!("replace-where {}: {e}", self.sql)))?;
        Ok(files
            .iter()
            .enumerate()
            .filter(|(i, _)| matches.value(*i))
            .map(|(_, f)| Action::Remove(f.remove_action(true)))
            .collect())
    }
}

impl Committer {
    /// A committer over an opened (existing) table.
    pub(crate) fn new(
        table_name: String,
        app_id: String,
        partition_columns: Vec<String>,
        table: DeltaTable,
        replace: Option<ReplaceWhere>,
    ) -> Self {
        Self {
            table_name,
            app_id,
            partition_columns,
            table: Mutex::new(table),
            replace,
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
        // The job's first epoch replaces the matching partitions in the same commit.
        let mut actions = match (&self.replace, epoch) {
            (Some(replace), 0) => {
                let snapshot = table
                    .snapshot()
                    .map_err(|e| DeltaError::delta(&self.table_name, "committing", e))?;
                replace.removals(&self.table_name, snapshot.snapshot())?
            }
            _ => Vec::new(),
        };
        let replaced = actions.len();
        if replaced > 0 {
            info!(table = %self.table_name, files = replaced, predicate = %self.replace.as_ref().map_or("", |r| r.sql.as_str()),
                "replace-where: removing the matching partitions' files");
        }
        actions.extend(files.into_iter().map(|f| Action::Add(f.into_add())));
        let now_ms = chrono::Utc::now().timestamp_millis();
        let properties = CommitProperties::default()
            .with_application_transaction(Transaction::new_with_last_update(
                &self.app_id,
                version,
                Some(now_ms),
            ))
            .with_metadata([(
                "isBlindAppend".to_owned(),
                serde_json::Value::Bool(replaced == 0),
            )]);
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
