//! Table maintenance: describe, history, optimize, vacuum, restore, log checkpoints, and
//! `update` / `delete` by predicate, through deltalake's operations. Each opens the table at `location` (a local path or an
//! `s3://` URL) and reports what it did in a plain struct the CLI prints.
//!
//! `optimize` commits with `dataChange = false` (deltalake's default for compaction and
//! Z-order), so a streaming appender committing at the same time does not conflict with it:
//! appends are blind and touch no file that compaction removes.

use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::path::Path;

use chrono::{DateTime, Utc};
use deltalake::kernel::StructType;
use deltalake::operations::optimize::OptimizeType;
use deltalake::operations::vacuum::VacuumMode;
use deltalake::{DeltaTable, DeltaTableBuilder, ensure_table_uri};
use futures::TryStreamExt;
use serde::Serialize;

use super::error::{DeltaError, Result};
use super::sink::register_object_stores;

/// What `describe` shows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TableDescription {
    /// The table location.
    pub location: String,
    /// The current version.
    pub version: i64,
    /// Column name, Delta type and nullability, in schema order.
    pub columns: Vec<(String, String, bool)>,
    /// Partition columns.
    pub partition_columns: Vec<String>,
    /// Live data files.
    pub files: usize,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Rows, from the files' statistics (`None` if a file has none).
    pub rows: Option<u64>,
    /// Table properties (`delta.*` configuration).
    pub properties: BTreeMap<String, String>,
}

/// One commit of the table's history.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HistoryEntry {
    /// Table version the commit created.
    pub version: i64,
    /// Commit time, Unix milliseconds.
    pub timestamp_ms: Option<i64>,
    /// Operation, e.g. `STREAMING UPDATE`, `OPTIMIZE`, `RESTORE`.
    pub operation: String,
    /// Operation parameters as JSON text, sorted by name.
    pub parameters: BTreeMap<String, String>,
}

/// What `optimize` did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OptimizeReport {
    /// Version after the operation (unchanged if nothing needed compacting).
    pub version: i64,
    /// Files written.
    pub files_added: u64,
    /// Files replaced.
    pub files_removed: u64,
    /// Partitions that had files compacted.
    pub partitions_optimized: u64,
}

/// What `vacuum` did (or would do, on a dry run).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VacuumReport {
    /// Whether nothing was deleted.
    pub dry_run: bool,
    /// Files deleted (or to delete), relative to the table root, sorted.
    pub files: Vec<String>,
}

/// Where `restore` goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestoreTarget {
    /// A table version.
    Version(i64),
    /// The version current at an instant.
    Timestamp(DateTime<Utc>),
}

/// What `restore` did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RestoreReport {
    /// The new version, which holds the old version's files.
    pub version: i64,
    /// Files removed from the table.
    pub files_removed: usize,
    /// Files added back.
    pub files_restored: usize,
}

/// What `update` or `delete` did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DmlReport {
    /// The new version (the old one when no row matched and nothing was committed).
    pub version: i64,
    /// Rows updated or deleted.
    pub rows: usize,
    /// Data files rewritten without the changed rows, or with them changed.
    pub files_added: usize,
    /// Data files the new version no longer holds.
    pub files_removed: usize,
}

/// Opens the table at `location`, or says there is none.
///
/// # Errors
/// [`DeltaError::InvalidLocation`] for a missing local directory or a location that is not
/// a Delta table; [`DeltaError::Storage`] when it cannot be read.
pub async fn open_table(location: &str) -> Result<DeltaTable> {
    register_object_stores();
    if !location.contains("://") && !Path::new(location).exists() {
        return Err(DeltaError::InvalidLocation {
            location: location.to_owned(),
            reason: "no such directory".into(),
        });
    }
    let url =
        ensure_table_uri(location).map_err(|e| DeltaError::delta(location, "resolving", e))?;
    let mut table = DeltaTableBuilder::from_url(url)
        .map_err(|e| DeltaError::delta(location, "opening the table", e))?
        .with_storage_options(super::sink::storage_options())
        .build()
        .map_err(|e| DeltaError::delta(location, "opening the table", e))?;
    match table.load().await {
        Ok(()) => Ok(table),
        Err(deltalake::DeltaTableError::NotATable(_)) => Err(DeltaError::InvalidLocation {
            location: location.to_owned(),
            reason: "not a Delta table (no _delta_log)".into(),
        }),
        Err(e) => Err(DeltaError::delta(location, "opening the table", e)),
    }
}

fn version_of(table: &DeltaTable) -> i64 {
    table.version().map_or(-1, |v| v as i64)
}

/// Describes the current version of the table at `location`.
///
/// # Errors
/// As [`open_table`].
pub async fn describe(location: &str) -> Result<TableDescription> {
    let table = open_table(location).await?;
    let state = table
        .snapshot()
        .map_err(|e| DeltaError::delta(location, "reading the snapshot", e))?;
    let schema: StructType = state.schema().as_ref().clone();
    let columns = schema
        .fields()
        .map(|f| (f.name().clone(), f.data_type().to_string(), f.is_nullable()))
        .collect();
    let mut files = 0;
    let mut bytes = 0u64;
    let mut rows = Some(0u64);
    for file in state.log_data().iter() {
        files += 1;
        bytes += file.size().max(0) as u64;
        rows = match (rows, file.num_records()) {
            (Some(total), Some(n)) => Some(total + n as u64),
            _ => None,
        };
    }
    let properties = state
        .metadata()
        .configuration()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(TableDescription {
        location: location.to_owned(),
        version: version_of(&table),
        columns,
        partition_columns: state.metadata().partition_columns().to_vec(),
        files,
        bytes,
        rows,
        properties,
    })
}

/// The newest `limit` commits (all if `None`), newest first.
///
/// # Errors
/// As [`open_table`], or when the log cannot be read.
pub async fn history(location: &str, limit: Option<usize>) -> Result<Vec<HistoryEntry>> {
    let table = open_table(location).await?;
    let latest = version_of(&table);
    let infos: Vec<_> = table
        .history(limit)
        .try_collect()
        .await
        .map_err(|e| DeltaError::delta(location, "reading the history", e))?;
    Ok(infos
        .into_iter()
        .enumerate()
        .map(|(i, info)| HistoryEntry {
            version: latest - i as i64,
            timestamp_ms: info.timestamp,
            operation: info.operation.unwrap_or_default(),
            parameters: info
                .operation_parameters
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| {
                    let text = match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, text)
                })
                .collect(),
        })
        .collect())
}

/// Compacts small files (bin-packing), or rewrites them Z-ordered by `zorder` columns.
///
/// # Errors
/// As [`open_table`]; a Z-order column that is not in the table; a failed commit.
pub async fn optimize(
    location: &str,
    zorder: &[String],
    target_size: Option<NonZeroU64>,
) -> Result<OptimizeReport> {
    let table = open_table(location).await?;
    let mut builder = table.optimize();
    if !zorder.is_empty() {
        builder = builder.with_type(OptimizeType::ZOrder(zorder.to_vec()));
    }
    if let Some(size) = target_size {
        builder = builder.with_target_size(size);
    }
    let (table, metrics) = builder
        .await
        .map_err(|e| DeltaError::delta(location, "optimizing", e))?;
    Ok(OptimizeReport {
        version: version_of(&table),
        files_added: metrics.num_files_added,
        files_removed: metrics.num_files_removed,
        partitions_optimized: metrics.partitions_optimized,
    })
}

/// Deletes files that no version newer than `retention` ago needs, and files no commit
/// references at all (left by writes that crashed before their commit) once they are older
/// than `retention`.
///
/// # Errors
/// As [`open_table`]; a retention below the table's `delta.deletedFileRetentionDuration`
/// unless `enforce_retention` is false; storage errors.
pub async fn vacuum(
    location: &str,
    retention: std::time::Duration,
    dry_run: bool,
    enforce_retention: bool,
) -> Result<VacuumReport> {
    let table = open_table(location).await?;
    let retention = chrono::Duration::from_std(retention)
        .map_err(|e| DeltaError::internal(location, format!("retention: {e}")))?;
    let (_, metrics) = table
        .vacuum()
        .with_retention_period(retention)
        .with_enforce_retention_duration(enforce_retention)
        .with_mode(VacuumMode::Full)
        .with_dry_run(dry_run)
        .await
        .map_err(|e| DeltaError::delta(location, "vacuuming", e))?;
    let mut files = metrics.files_deleted;
    files.sort();
    Ok(VacuumReport {
        dry_run: metrics.dry_run,
        files,
    })
}

/// Restores the table to `target` as a new version.
///
/// # Errors
/// As [`open_table`]; a version or time the log does not hold; a failed commit.
pub async fn restore(location: &str, target: RestoreTarget) -> Result<RestoreReport> {
    restore_with(open_table(location).await?, location, target, None).await
}

/// [`restore`] of an open `table`, with `properties` (a txn) in its commit.
async fn restore_with(
    table: DeltaTable,
    location: &str,
    target: RestoreTarget,
    properties: Option<deltalake::kernel::transaction::CommitProperties>,
) -> Result<RestoreReport> {
    let builder = table.restore();
    let mut builder = match target {
        RestoreTarget::Version(v) => builder.with_version_to_restore(v as _),
        RestoreTarget::Timestamp(t) => builder.with_datetime_to_restore(t),
    };
    if let Some(properties) = properties {
        builder = builder.with_commit_properties(properties);
    }
    let (table, metrics) = builder
        .await
        .map_err(|e| DeltaError::delta(location, "restoring", e))?;
    Ok(RestoreReport {
        version: version_of(&table),
        files_removed: metrics.num_removed_file,
        files_restored: metrics.num_restored_file,
    })
}

/// Restores the table to `version` for an in-place replay, and in the same commit sets
/// the txn version of `app_id` to `last_epoch` (the last epoch the restored version holds;
/// negative for none), so that the job commits its epochs after it again. A plain
/// RESTORE would leave the txn at the newest epoch, and the replay would skip every epoch.
///
/// # Errors
/// As [`restore`].
pub async fn rewind_table(
    location: &str,
    app_id: &str,
    version: i64,
    last_epoch: i64,
) -> Result<RestoreReport> {
    let table = open_table(location).await?;
    if version_of(&table) <= version {
        // Nothing committed since: the table already is that version, its txn with it.
        return Ok(RestoreReport {
            version: version_of(&table),
            files_removed: 0,
            files_restored: 0,
        });
    }
    let properties = deltalake::kernel::transaction::CommitProperties::default()
        .with_application_transaction(deltalake::kernel::Transaction::new_with_last_update(
            app_id,
            last_epoch,
            Some(Utc::now().timestamp_millis()),
        ));
    restore_with(
        table,
        location,
        RestoreTarget::Version(version),
        Some(properties),
    )
    .await
}

/// Deletes the rows matching `predicate` (SQL over the table's columns) in one commit.
///
/// # Errors
/// As [`open_table`]; a predicate that does not parse or names unknown columns; a failed
/// commit (a concurrent writer touching the same files).
pub async fn delete(location: &str, predicate: &str) -> Result<DmlReport> {
    let table = open_table(location).await?;
    let (table, metrics) = table
        .delete()
        .with_predicate(predicate)
        .await
        .map_err(|e| DeltaError::delta(location, "deleting", e))?;
    Ok(DmlReport {
        version: version_of(&table),
        rows: metrics.num_deleted_rows.unwrap_or(0),
        files_added: metrics.num_added_files,
        files_removed: metrics.num_removed_files,
    })
}

/// Sets columns to SQL expressions (`set`: column, expression over the row) on the rows
/// matching `predicate` (every row when `None`), in one commit.
///
/// # Errors
/// As [`delete`]; an unknown column in `set`.
pub async fn update(
    location: &str,
    predicate: Option<&str>,
    set: &[(String, String)],
) -> Result<DmlReport> {
    if set.is_empty() {
        return Err(DeltaError::schema(
            location,
            "update needs at least one column to set",
        ));
    }
    let table = open_table(location).await?;
    let mut builder = table.update();
    if let Some(p) = predicate {
        builder = builder.with_predicate(p);
    }
    for (column, expr) in set {
        builder = builder.with_update(column.as_str(), expr.as_str());
    }
    let (table, metrics) = builder
        .await
        .map_err(|e| DeltaError::delta(location, "updating", e))?;
    Ok(DmlReport {
        version: version_of(&table),
        rows: metrics.num_updated_rows,
        files_added: metrics.num_added_files,
        files_removed: metrics.num_removed_files,
    })
}

/// Writes a Delta log checkpoint for the current version; returns that version.
///
/// # Errors
/// As [`open_table`]; storage errors.
pub async fn checkpoint(location: &str) -> Result<i64> {
    let table = open_table(location).await?;
    deltalake::checkpoints::create_checkpoint(&table, None)
        .await
        .map_err(|e| DeltaError::delta(location, "writing a checkpoint", e))?;
    Ok(version_of(&table))
}

#[cfg(test)]
mod tests;
