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
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::delta::DeltaSink;

    async fn table_with_epochs(dir: &Path, epochs: u64) -> String {
        let location = dir.join("t").display().to_string();
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let sink = DeltaSink::open(&location, "test/t", schema.clone(), vec![])
            .await
            .unwrap();
        for e in 0..epochs {
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(Int64Array::from(vec![
                    e as i64 * 10,
                    e as i64 * 10 + 1,
                ]))],
            )
            .unwrap();
            let files = sink.write_files(&[batch]).await.unwrap();
            sink.commit_epoch(e, files).await.unwrap();
        }
        location
    }

    #[tokio::test]
    async fn optimize_restore_vacuum_and_history() {
        let dir = tempfile::tempdir().unwrap();
        let location = table_with_epochs(dir.path(), 4).await;
        let before = describe(&location).await.unwrap();
        assert_eq!((before.version, before.files, before.rows), (4, 4, Some(8)));

        let optimized = optimize(&location, &[], None).await.unwrap();
        assert_eq!((optimized.files_added, optimized.files_removed), (1, 4));
        let after = describe(&location).await.unwrap();
        assert_eq!((after.version, after.files, after.rows), (5, 1, Some(8)));

        let restored = restore(&location, RestoreTarget::Version(2)).await.unwrap();
        assert_eq!(restored.version, 6);
        let at_two = describe(&location).await.unwrap();
        assert_eq!((at_two.files, at_two.rows), (2, Some(4)));

        let log = history(&location, None).await.unwrap();
        let ops: Vec<(i64, &str)> = log
            .iter()
            .map(|h| (h.version, h.operation.as_str()))
            .collect();
        assert_eq!(ops[0], (6, "RESTORE"));
        assert_eq!(ops[1], (5, "OPTIMIZE"));
        assert_eq!(ops.last().map(|o| o.0), Some(0));

        // Everything but the two restored files is unreferenced now.
        let dry = vacuum(&location, std::time::Duration::ZERO, true, false)
            .await
            .unwrap();
        assert!(dry.dry_run);
        assert_eq!(dry.files.len(), 3, "{:?}", dry.files);
        let done = vacuum(&location, std::time::Duration::ZERO, false, false)
            .await
            .unwrap();
        assert_eq!(done.files, dry.files);
        let still = describe(&location).await.unwrap();
        assert_eq!(still.rows, Some(4));
        // A vacuum logs VACUUM START and VACUUM END commits.
        assert_eq!(checkpoint(&location).await.unwrap(), 8);
        assert!(
            dir.path()
                .join("t/_delta_log/00000000000000000008.checkpoint.parquet")
                .exists()
        );
    }

    /// The table's `n` values, sorted, read back through the Delta source.
    fn values(location: &str) -> Vec<i64> {
        use arrow::array::AsArray;
        use arrow::datatypes::Int64Type;
        use sluice_engine::runtime::{EpochSource, Planned, advance};
        let runtime = tokio::runtime::Handle::current();
        let mut config = crate::delta::DeltaSourceConfig::new(location);
        config.bounded = true;
        let source = crate::delta::DeltaSource::new(config, &runtime).unwrap();
        let mut cursors = source.initial_cursors().unwrap();
        let mut out = Vec::new();
        while let Planned::Ranges(ranges) = source.next_ranges(0, &cursors).unwrap() {
            for r in ranges.iter().filter(|r| !r.is_empty()) {
                let (b, _) = source.read(r, 0).unwrap();
                out.extend(b.column(0).as_primitive::<Int64Type>().values().iter());
            }
            advance(&mut cursors, &ranges);
        }
        out.sort_unstable();
        out
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn update_and_delete_by_predicate() {
        let dir = tempfile::tempdir().unwrap();
        let location = table_with_epochs(dir.path(), 3).await;
        let deleted = delete(&location, "n >= 20").await.unwrap();
        assert_eq!((deleted.version, deleted.rows), (4, 2));
        let updated = update(&location, Some("n < 10"), &[("n".into(), "n + 100".into())])
            .await
            .unwrap();
        assert_eq!((updated.version, updated.rows), (5, 2));
        let loc = location.clone();
        let rows = tokio::task::spawn_blocking(move || values(&loc))
            .await
            .unwrap();
        assert_eq!(rows, vec![10, 11, 100, 101]);
        let e = delete(&location, "nope = 1").await.unwrap_err().to_string();
        assert!(e.contains("nope"), "{e}");
        let e = update(&location, None, &[]).await.unwrap_err().to_string();
        assert!(e.contains("at least one column"), "{e}");
    }

    #[tokio::test]
    async fn merge_schema_adds_columns_and_keeps_the_old_ones() {
        let dir = tempfile::tempdir().unwrap();
        let location = table_with_epochs(dir.path(), 1).await;
        let wider = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("label", DataType::Utf8, true),
        ]));
        let e = DeltaSink::open(&location, "test/t", wider.clone(), vec![])
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"label\" is missing from the table"), "{e}");
        let merge = crate::delta::SinkOptions {
            merge_schema: true,
            replace_where: None,
            table_properties: Default::default(),
            auto_compact: None,
        };
        let sink = DeltaSink::open_with(&location, "test/t", wider.clone(), vec![], &merge)
            .await
            .unwrap();
        let batch = RecordBatch::try_new(
            wider.clone(),
            vec![
                Arc::new(Int64Array::from(vec![7])),
                Arc::new(arrow::array::StringArray::from(vec!["x"])),
            ],
        )
        .unwrap();
        let files = sink.write_files(&[batch]).await.unwrap();
        sink.commit_epoch(1, files).await.unwrap();
        let d = describe(&location).await.unwrap();
        let columns: Vec<&str> = d.columns.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(columns, ["n", "label"]);
        assert_eq!(d.rows, Some(3));
        // The narrower job again: `label` stays in the table (null in its new files).
        let narrow = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        DeltaSink::open_with(&location, "test/t", narrow, vec![], &merge)
            .await
            .unwrap();
        // A required table column the job lacks cannot be left null.
        let other = Arc::new(Schema::new(vec![Field::new("label", DataType::Utf8, true)]));
        let e = DeltaSink::open_with(&location, "test/t", other, vec![], &merge)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"n\" is required"), "{e}");
    }

    /// Everything a tailing source reads until it is idle: the `n` values, sorted, or the
    /// first error.
    fn tail(source: &crate::delta::DeltaSource) -> Result<Vec<i64>, String> {
        use arrow::array::AsArray;
        use arrow::datatypes::Int64Type;
        use sluice_engine::runtime::{EpochSource, Planned, advance};
        let mut cursors = source.initial_cursors().map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for epoch in 0..10 {
            let ranges = match source.next_ranges(epoch, &cursors) {
                Ok(Planned::Ranges(r)) => r,
                Ok(_) => break,
                Err(e) => return Err(e.to_string()),
            };
            for r in ranges.iter().filter(|r| !r.is_empty()) {
                let (b, _) = source.read(r, epoch).map_err(|e| e.to_string())?;
                out.extend(b.column(0).as_primitive::<Int64Type>().values().iter());
            }
            advance(&mut cursors, &ranges);
        }
        out.sort_unstable();
        Ok(out)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_tailed_version_that_removes_rows_fails_skips_or_rereads() {
        use crate::delta::{DeltaSource, DeltaSourceConfig, OnChange};
        let dir = tempfile::tempdir().unwrap();
        let location = table_with_epochs(dir.path(), 2).await;
        let loc = location.clone();
        let sources = tokio::task::spawn_blocking(move || {
            [OnChange::Fail, OnChange::Skip, OnChange::Reread].map(|on_change| {
                let mut config = DeltaSourceConfig::new(&loc);
                config.on_change = on_change;
                DeltaSource::new(config, &tokio::runtime::Handle::current()).unwrap()
            })
        })
        .await
        .unwrap();
        // After the sources opened version 2 ([0, 1, 10, 11]): a delete rewrites the file
        // holding 0 and 1, then an append adds 20 and 21.
        delete(&location, "n = 1").await.unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let sink = DeltaSink::open(&location, "test/more", schema.clone(), vec![])
            .await
            .unwrap();
        let batch =
            RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![20, 21]))]).unwrap();
        let files = sink.write_files(&[batch]).await.unwrap();
        sink.commit_epoch(0, files).await.unwrap();
        let [fail, skip, reread] = tokio::task::spawn_blocking(move || sources.map(|s| tail(&s)))
            .await
            .unwrap();
        let e = fail.unwrap_err();
        assert!(
            e.contains("version 3 (DELETE) removes or rewrites rows") && e.contains("on-change"),
            "{e}"
        );
        assert_eq!(skip.unwrap(), vec![0, 1, 10, 11, 20, 21]);
        // The rewritten file's remaining row, 0, comes again.
        assert_eq!(reread.unwrap(), vec![0, 0, 1, 10, 11, 20, 21]);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn narrower_columns_are_written_in_the_wider_table_type() {
        let dir = tempfile::tempdir().unwrap();
        let location = table_with_epochs(dir.path(), 1).await;
        // The table's `n` is a long; a job producing ints appends to it.
        let ints = Arc::new(Schema::new(vec![Field::new("n", DataType::Int32, false)]));
        let sink = DeltaSink::open(&location, "test/ints", ints.clone(), vec![])
            .await
            .unwrap();
        let batch = RecordBatch::try_new(
            ints,
            vec![Arc::new(arrow::array::Int32Array::from(vec![-7]))],
        )
        .unwrap();
        let files = sink.write_files(&[batch]).await.unwrap();
        sink.commit_epoch(0, files).await.unwrap();
        let loc = location.clone();
        let rows = tokio::task::spawn_blocking(move || values(&loc))
            .await
            .unwrap();
        assert_eq!(rows, vec![-7, 0, 1]);
        let d = describe(&location).await.unwrap();
        assert_eq!(d.columns[0].1, "long", "{:?}", d.columns);
        // The other way round widens the table itself, with merge-schema only (see widening.rs).
        let narrow = dir.path().join("narrow").display().to_string();
        let ints = Arc::new(Schema::new(vec![Field::new("n", DataType::Int32, false)]));
        DeltaSink::open(&narrow, "test/a", ints, vec![])
            .await
            .unwrap();
        let longs = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let e = DeltaSink::open(&narrow, "test/b", longs, vec![])
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"n\" is integer in the table but long") && e.contains("merge-schema"),
            "{e}"
        );
        // Strings never widen into numbers.
        let text = Arc::new(Schema::new(vec![Field::new("n", DataType::Utf8, false)]));
        let e = DeltaSink::open(&location, "test/c", text, vec![])
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("is long in the table but string") && !e.contains("merge-schema"),
            "{e}"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn replace_where_replaces_matching_partitions_in_epoch_zero_only() {
        use arrow::array::StringArray;
        let dir = tempfile::tempdir().unwrap();
        let location = dir.path().join("p").display().to_string();
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("d", DataType::Utf8, true),
        ]));
        let rows = |n: Vec<i64>, d: Vec<&str>| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from(n)),
                    Arc::new(StringArray::from(d)),
                ],
            )
            .unwrap()
        };
        let first = DeltaSink::open(&location, "job-1/p", schema.clone(), vec!["d".into()])
            .await
            .unwrap();
        let files = first
            .write_files(&[rows(vec![1, 2, 3], vec!["a", "a", "b"])])
            .await
            .unwrap();
        first.commit_epoch(0, files).await.unwrap();
        let options = crate::delta::SinkOptions {
            merge_schema: false,
            replace_where: Some("d = 'a'".into()),
            table_properties: Default::default(),
            auto_compact: None,
        };
        let again = DeltaSink::open_with(
            &location,
            "job-2/p",
            schema.clone(),
            vec!["d".into()],
            &options,
        )
        .await
        .unwrap();
        let files = again
            .write_files(&[rows(vec![10], vec!["a"])])
            .await
            .unwrap();
        again.commit_epoch(0, files).await.unwrap();
        let loc = location.clone();
        let now = tokio::task::spawn_blocking(move || values(&loc))
            .await
            .unwrap();
        assert_eq!(now, vec![3, 10], "partition a replaced, b kept");
        // Later epochs append, even to the replaced partition.
        let files = again
            .write_files(&[rows(vec![11], vec!["a"])])
            .await
            .unwrap();
        again.commit_epoch(1, files).await.unwrap();
        let loc = location.clone();
        let now = tokio::task::spawn_blocking(move || values(&loc))
            .await
            .unwrap();
        assert_eq!(now, vec![3, 10, 11]);
        let bad = crate::delta::SinkOptions {
            merge_schema: false,
            replace_where: Some("n > 1".into()),
            table_properties: Default::default(),
            auto_compact: None,
        };
        let e = DeltaSink::open_with(&location, "job-3/p", schema.clone(), vec!["d".into()], &bad)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("partition columns only"), "{e}");
    }

    #[tokio::test]
    async fn the_sink_checkpoints_the_log_every_ten_commits() {
        let dir = tempfile::tempdir().unwrap();
        let location = table_with_epochs(dir.path(), 11).await;
        let log = dir.path().join("t/_delta_log");
        // deltalake checkpoints when (version + 1) is a multiple of the interval.
        assert!(log.join("00000000000000000009.checkpoint.parquet").exists());
        assert!(!log.join("00000000000000000005.checkpoint.parquet").exists());
        let d = describe(&location).await.unwrap();
        assert_eq!(d.properties["delta.checkpointInterval"], "10");
        assert_eq!(d.rows, Some(22));
    }

    #[tokio::test]
    async fn missing_tables_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let e = describe(&dir.path().join("nope").display().to_string())
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("no such directory"), "{e}");
        let e = describe(&dir.path().display().to_string())
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a Delta table"), "{e}");
    }
}
