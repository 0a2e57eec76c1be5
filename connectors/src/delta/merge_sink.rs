//! A Delta sink that upserts each epoch with `MERGE` instead of appending, exactly once.
//!
//! Workers ship their share of an epoch to the committer as Arrow IPC (base64 in the file
//! note; a merge needs all of an epoch's rows in one place). The committer keeps the last
//! change per key (ordered by the coordinate columns `source`, `partition`, `offset`, so
//! the newest record of a partition wins), then runs one `MERGE` whose commit carries
//! `txn(appId, version = epoch)`: a replayed epoch finds its version and is skipped, so an
//! epoch is merged once even across crashes. Matched rows are updated (or deleted when the
//! change matches `delete-when`), unmatched rows inserted (unless they are deletes).

use std::io::Cursor;

use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;
use base64::Engine as _;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::CommitProperties;
use serde::{Deserialize, Serialize};
use sluice_engine::runtime::{CommitReport, ConnectorFailure, TableSink};
use tokio::runtime::Handle;

use super::maintenance::open_table;
use super::{DeltaError, DeltaTableSink, SinkOptions};

/// Merge settings of a table (`silver.merge` in a job).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct MergeConfig {
    /// Columns that identify a row.
    pub keys: Vec<String>,
    /// SQL over the change's columns; a matching change deletes its key (e.g. `op = 'D'`).
    #[serde(default)]
    pub delete_when: Option<String>,
    /// Update expressions for matched rows, per column, over the target (`t.`) and the
    /// change (`s.`), e.g. `total_spent: "t.total_spent + s.total_spent"`; other columns
    /// take the change's value. Inserts always take the change's values.
    #[serde(default)]
    pub update: std::collections::BTreeMap<String, String>,
}

/// Upserts epochs into a Delta table; see the [module docs](self).
pub struct MergeTableSink {
    /// The table as an append sink: its name, txn version and empty-epoch commits.
    table: DeltaTableSink,
    config: MergeConfig,
    columns: Vec<String>,
    runtime: Handle,
}

fn failure(e: impl std::fmt::Display, retryable: bool) -> ConnectorFailure {
    ConnectorFailure::new(e.to_string(), retryable)
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl MergeTableSink {
    /// Opens (or creates) the table at `location` for merges under `app_id`, with the
    /// `options` of an append sink but `replace_where`. With `merge_schema`, an existing
    /// table first gains the columns `schema` adds and widens
    /// the ones `schema` holds wider, as [`DeltaSink::open_with`] does; its other columns
    /// are left as they are by updates and null in inserted rows.
    ///
    /// # Errors
    /// A key that is not a column, or the errors of [`DeltaSink::open_with`].
    pub fn open(
        runtime: &Handle,
        location: &str,
        app_id: &str,
        schema: SchemaRef,
        partition_columns: Vec<String>,
        config: MergeConfig,
        options: &SinkOptions,
    ) -> Result<Self, DeltaError> {
        if config.keys.is_empty() {
            return Err(DeltaError::schema(
                location,
                "merge needs at least one key column",
            ));
        }
        for c in config.update.keys() {
            if schema.field_with_name(c).is_err() {
                return Err(DeltaError::schema(
                    location,
                    format!("merge update column {c:?} is not a column of the table"),
                ));
            }
        }
        for k in &config.keys {
            if schema.field_with_name(k).is_err() {
                return Err(DeltaError::schema(
                    location,
                    format!("merge key {k:?} is not a column of the table"),
                ));
            }
        }
        let columns = schema.fields().iter().map(|f| f.name().clone()).collect();
        let options = SinkOptions {
            replace_where: None,
            ..options.clone()
        };
        let table = DeltaTableSink::open_with(
            runtime,
            location,
            app_id,
            schema,
            partition_columns,
            &options,
        )?;
        Ok(Self {
            table,
            config,
            columns,
            runtime: runtime.clone(),
        })
    }

    /// The SQL that keeps the last change per key, with `__sluice_delete` for deletes.
    fn latest_changes_sql(&self) -> String {
        let cols: Vec<String> = self.columns.iter().map(|c| quote(c)).collect();
        let keys: Vec<String> = self.config.keys.iter().map(|k| quote(k)).collect();
        let order: Vec<String> = ["source", "partition", "offset"]
            .iter()
            .filter(|c| self.columns.iter().any(|n| n == *c))
            .map(|c| format!("{} DESC", quote(c)))
            .collect();
        let order = if order.is_empty() {
            String::new()
        } else {
            format!(" ORDER BY {}", order.join(", "))
        };
        let delete = self
            .config
            .delete_when
            .as_ref()
            .map_or("FALSE".to_string(), |d| format!("COALESCE(({d}), FALSE)"));
        format!(
            "SELECT {cols}, __sluice_delete FROM (SELECT *, {delete} AS __sluice_delete, \
             row_number() OVER (PARTITION BY {keys}{order}) AS __sluice_rank FROM changes) \
             WHERE __sluice_rank = 1",
            cols = cols.join(", "),
            keys = keys.join(", "),
        )
    }

    async fn merge(
        &self,
        epoch: u64,
        batches: Vec<RecordBatch>,
    ) -> Result<CommitReport, ConnectorFailure> {
        let location = self.table.delta_sink().location();
        let ctx = SessionContext::new();
        let changes = ctx.read_batches(batches).map_err(|e| failure(e, false))?;
        ctx.register_table("changes", changes.into_view())
            .map_err(|e| failure(e, false))?;
        let latest = ctx.sql(&self.latest_changes_sql()).await.map_err(|e| {
            failure(
                format!("merge into {location}: delete-when or keys: {e}"),
                false,
            )
        })?;
        let table = open_table(location).await.map_err(|e| failure(e, true))?;
        let on: Vec<String> = self
            .config
            .keys
            .iter()
            // Null-safe, so a null key (a group of its own) matches itself.
            .map(|k| format!("(t.{q} IS NOT DISTINCT FROM s.{q})", q = quote(k)))
            .collect();
        let properties = CommitProperties::default().with_application_transaction(
            Transaction::new_with_last_update(
                self.table.delta_sink().app_id(),
                epoch as i64,
                Some(chrono::Utc::now().timestamp_millis()),
            ),
        );
        let columns = self.columns.clone();
        let set_all = columns.clone();
        let updates = self.config.update.clone();
        let (merged, metrics) = table
            .merge(latest, on.join(" AND "))
            .with_source_alias("s")
            .with_target_alias("t")
            .with_commit_properties(properties)
            .when_matched_delete(|d| d.predicate("s.__sluice_delete"))
            .and_then(|b| {
                b.when_matched_update(|mut u| {
                    for c in &columns {
                        let expr = updates
                            .get(c)
                            .cloned()
                            .unwrap_or_else(|| format!("s.{}", quote(c)));
                        u = u.update(quote(c), expr);
                    }
                    u.predicate("NOT s.__sluice_delete")
                })
            })
            .and_then(|b| {
                b.when_not_matched_insert(|mut i| {
                    for c in &set_all {
                        i = i.set(quote(c), format!("s.{}", quote(c)));
                    }
                    i.predicate("NOT s.__sluice_delete")
                })
            })
            .map_err(|e| failure(format!("merge into {location}: {e}"), false))?
            .await
            .map_err(|e| failure(format!("merge into {location} (epoch {epoch}): {e}"), true))?;
        tracing::info!(table = %self.table.name(), epoch, inserted = metrics.num_target_rows_inserted,
            updated = metrics.num_target_rows_updated, deleted = metrics.num_target_rows_deleted,
            "epoch merged");
        Ok(CommitReport {
            skipped: false,
            rows: (metrics.num_target_rows_inserted + metrics.num_target_rows_updated) as u64,
            files: metrics.num_target_files_added as u64,
            version: merged.version(),
        })
    }
}

impl TableSink for MergeTableSink {
    fn name(&self) -> &str {
        self.table.name()
    }

    fn committed_epoch(&self) -> Result<Option<u64>, ConnectorFailure> {
        self.table.committed_epoch()
    }

    fn write(&self, _epoch: u64, batches: &[RecordBatch]) -> Result<Vec<String>, ConnectorFailure> {
        let Some(first) = batches.first() else {
            return Ok(Vec::new());
        };
        let mut bytes = Vec::new();
        {
            let mut writer = StreamWriter::try_new(&mut bytes, &first.schema())
                .map_err(|e| failure(e, false))?;
            for b in batches {
                writer.write(b).map_err(|e| failure(e, false))?;
            }
            writer.finish().map_err(|e| failure(e, false))?;
        }
        Ok(vec![
            base64::engine::general_purpose::STANDARD.encode(bytes),
        ])
    }

    fn commit(&self, epoch: u64, files: Vec<String>) -> Result<CommitReport, ConnectorFailure> {
        if self.committed_epoch()?.is_some_and(|done| done >= epoch) {
            return Ok(CommitReport {
                skipped: true,
                ..CommitReport::default()
            });
        }
        let mut batches = Vec::new();
        for note in files {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(note)
                .map_err(|e| failure(e, false))?;
            let reader =
                StreamReader::try_new(Cursor::new(bytes), None).map_err(|e| failure(e, false))?;
            for b in reader {
                batches.push(b.map_err(|e| failure(e, false))?);
            }
        }
        batches.retain(|b| b.num_rows() > 0);
        if batches.is_empty() {
            // An empty epoch still records its txn version, so a replay skips it.
            return self.table.commit(epoch, Vec::new());
        }
        self.runtime.block_on(self.merge(epoch, batches))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{AsArray, Float64Array, Int64Array};
    use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
    use sluice_engine::runtime::{EpochSource, Planned, advance};

    use super::*;
    use crate::delta::{DeltaSource, DeltaSourceConfig};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Int64, false),
            Field::new("total_spent", DataType::Float64, false),
            Field::new("transactions", DataType::Int64, false),
        ]))
    }

    fn batch(ids: &[i64], spent: &[f64]) -> RecordBatch {
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(Int64Array::from(ids.to_vec())),
                Arc::new(Float64Array::from(spent.to_vec())),
                Arc::new(Int64Array::from(vec![1; ids.len()])),
            ],
        )
        .unwrap()
    }

    /// The table's latest version, read through the Delta source.
    fn batches(runtime: &tokio::runtime::Runtime, location: &str) -> Vec<RecordBatch> {
        let mut config = DeltaSourceConfig::new(location);
        config.bounded = true;
        let source = DeltaSource::new(config, runtime.handle()).unwrap();
        let mut cursors = source.initial_cursors().unwrap();
        let mut out = Vec::new();
        while let Planned::Ranges(ranges) = source.next_ranges(0, &cursors).unwrap() {
            for r in ranges.iter().filter(|r| !r.is_empty()) {
                out.push(source.read(r, 0).unwrap().0);
            }
            advance(&mut cursors, &ranges);
        }
        out
    }

    /// `(customer_id, total_spent, transactions)` of the table, sorted.
    fn rows(runtime: &tokio::runtime::Runtime, location: &str) -> Vec<(i64, f64, i64)> {
        let mut out = Vec::new();
        for b in batches(runtime, location) {
            let ids = b.column(0).as_primitive::<Int64Type>();
            let spent = b.column(1).as_primitive::<Float64Type>();
            let n = b.column(2).as_primitive::<Int64Type>();
            for i in 0..b.num_rows() {
                out.push((ids.value(i), spent.value(i), n.value(i)));
            }
        }
        out.sort_by_key(|r| r.0);
        out
    }

    #[test]
    fn update_expressions_accumulate_and_replays_are_skipped() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let location = dir.path().join("metrics").display().to_string();
        let config = MergeConfig {
            keys: vec!["customer_id".into()],
            delete_when: None,
            update: [
                (
                    "total_spent".to_string(),
                    "t.total_spent + s.total_spent".to_string(),
                ),
                (
                    "transactions".to_string(),
                    "t.transactions + s.transactions".to_string(),
                ),
            ]
            .into(),
        };
        let sink = MergeTableSink::open(
            runtime.handle(),
            &location,
            "job/metrics",
            schema(),
            vec![],
            config,
            &SinkOptions::default(),
        )
        .unwrap();
        let day1 = sink.write(0, &[batch(&[1, 2], &[10.0, 20.0])]).unwrap();
        sink.commit(0, day1).unwrap();
        let day2 = sink.write(1, &[batch(&[2, 3], &[5.0, 7.5])]).unwrap();
        sink.commit(1, day2.clone()).unwrap();
        // The same epoch again (a replay) changes nothing.
        assert!(sink.commit(1, day2).unwrap().skipped);
        assert_eq!(
            rows(&runtime, &location),
            vec![(1, 10.0, 1), (2, 25.0, 2), (3, 7.5, 1)]
        );
        let bad = MergeConfig {
            keys: vec!["customer_id".into()],
            delete_when: None,
            update: [("nope".to_string(), "1".to_string())].into(),
        };
        let e = MergeTableSink::open(
            runtime.handle(),
            &location,
            "job/metrics",
            schema(),
            vec![],
            bad,
            &SinkOptions::default(),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("\"nope\""), "{e}");
    }

    #[test]
    fn merge_schema_adds_and_widens_columns_of_a_merge_table() {
        use arrow::array::{Int32Array, StringArray};
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let location = dir.path().join("metrics").display().to_string();
        let config = MergeConfig {
            keys: vec!["customer_id".into()],
            delete_when: None,
            update: [(
                "total_spent".to_string(),
                "t.total_spent + s.total_spent".to_string(),
            )]
            .into(),
        };
        let open = |schema: SchemaRef, merge_schema: bool| {
            MergeTableSink::open(
                runtime.handle(),
                &location,
                "job/metrics",
                schema,
                vec![],
                config.clone(),
                &SinkOptions {
                    merge_schema,
                    ..SinkOptions::default()
                },
            )
        };
        let narrow = Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Int32, false),
            Field::new("total_spent", DataType::Float64, false),
        ]));
        let sink = open(Arc::clone(&narrow), false).unwrap();
        let day1 = RecordBatch::try_new(
            narrow,
            vec![
                Arc::new(Int32Array::from(vec![1, 2])),
                Arc::new(Float64Array::from(vec![10.0, 20.0])),
            ],
        )
        .unwrap();
        let files = sink.write(0, &[day1]).unwrap();
        sink.commit(0, files).unwrap();

        // Ids past the int range and a new column: refused without merge-schema.
        let wide = Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Int64, false),
            Field::new("total_spent", DataType::Float64, false),
            Field::new("tier", DataType::Utf8, true),
        ]));
        let e = open(Arc::clone(&wide), false).err().unwrap().to_string();
        assert!(e.contains("merge-schema") && e.contains("\"tier\""), "{e}");
        let sink = open(Arc::clone(&wide), true).unwrap();
        let day2 = RecordBatch::try_new(
            wide,
            vec![
                Arc::new(Int64Array::from(vec![2, 5_000_000_000])),
                Arc::new(Float64Array::from(vec![5.0, 1.0])),
                Arc::new(StringArray::from(vec!["gold", "new"])),
            ],
        )
        .unwrap();
        let files = sink.write(1, &[day2]).unwrap();
        sink.commit(1, files).unwrap();

        let mut out = Vec::new();
        for b in batches(&runtime, &location) {
            let ids = b.column(0).as_primitive::<Int64Type>();
            let spent = b.column(1).as_primitive::<Float64Type>();
            let tier = b.column(2).as_string::<i32>();
            for i in 0..b.num_rows() {
                let t = arrow::array::Array::is_valid(tier, i).then(|| tier.value(i).to_owned());
                out.push((ids.value(i), spent.value(i), t));
            }
        }
        out.sort_by_key(|r| r.0);
        assert_eq!(
            out,
            vec![
                (1, 10.0, None),
                (2, 25.0, Some("gold".to_owned())),
                (5_000_000_000, 1.0, Some("new".to_owned())),
            ]
        );
    }
}
