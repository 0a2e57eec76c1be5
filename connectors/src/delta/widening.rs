//! Widening a table column's type under `merge-schema`, where Delta's type widening allows
//! it (see [`schema::widens`]): an `int` column becomes `long` when a job now writes
//! `long` values into it, a `decimal(10,2)` becomes `decimal(12,2)`, and so on.
//!
//! Delta's `typeWidening` table feature would change the type in the log alone, with old
//! files keeping their narrower Parquet type. deltalake 1.1 can neither read nor write a
//! table with that feature, so a table carrying it would be closed to sluice itself (and
//! to every reader without the feature). The sink instead rewrites the table once, in
//! one commit:
//! - a `metaData` action with the widened schema, and a `protocol` action adding the
//!   `timestampNtz` table feature when `date` widens to `timestamp_ntz` on a table
//!   without it;
//! - `remove` of every data file and `add` of its rewrite, whose columns are cast to the
//!   wider types. Both have `dataChange = false`: the rows and values are the same, so a
//!   streaming reader of the table does not read them again (as for `optimize`).
//!
//! Every version's files then match that version's schema, and no reader needs a feature.
//! The cost is one read and write of the whole table, logged with the file count. Txn
//! actions are untouched, so the exactly-once epochs of every writer carry on. A
//! concurrent commit makes the rewrite fail as a conflict, and the sink's open is retried.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::datatypes::{Schema, SchemaRef};
use deltalake::DeltaTable;
use deltalake::DeltaTableError;
use deltalake::kernel::engine::arrow_conversion::TryFromKernel;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, DataType, MetadataExt, PrimitiveType, StructField, StructType};
use deltalake::protocol::{DeltaOperation, SaveMode};
use tracing::info;

use super::error::{DeltaError, Result};
use super::schema;
use super::table_file::{TableColumns, TableFileError};
use super::writer::FileWriter;

/// How often a rewrite logs its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// One column whose type the table widens.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Widening {
    /// The table column.
    pub(crate) column: String,
    /// Its type in the table.
    pub(crate) from: DataType,
    /// The wider type the sink writes.
    pub(crate) to: DataType,
}

impl std::fmt::Display for Widening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} -> {}",
            self.column,
            schema::type_name(&self.from),
            schema::type_name(&self.to)
        )
    }
}

/// The columns of `table` that `wanted` has in a type Delta allows widening them to, in
/// table order. Columns of other types, and columns only one side has, are left to the
/// sink's compatibility check.
pub(crate) fn widenings(table: &StructType, wanted: &StructType) -> Vec<Widening> {
    table
        .fields()
        .filter_map(|have| {
            let want = wanted.field(have.name())?;
            schema::narrower(have.data_type(), want.data_type()).then(|| Widening {
                column: have.name().clone(),
                from: have.data_type().clone(),
                to: want.data_type().clone(),
            })
        })
        .collect()
}

/// Widens the columns of `table` that `wanted` has in a wider type (see the
/// [module docs](self)) and returns the table at the new version, or `table` as it was when
/// no column widens.
///
/// # Errors
/// [`DeltaError::SchemaMismatch`] if a data file has a deletion vector (its rewrite would
/// bring deleted rows back) or cannot be read as the table's columns;
/// [`DeltaError::Storage`] if a file cannot be read or written or the commit fails (a
/// concurrent commit included: retrying is safe, the table is unchanged).
pub(crate) async fn widen(
    location: &str,
    mut table: DeltaTable,
    wanted: &StructType,
) -> Result<DeltaTable> {
    let state = table
        .snapshot()
        .map_err(|e| DeltaError::delta(location, "opening the table", e))?;
    let table_schema = state.schema();
    let changes = widenings(&table_schema, wanted);
    if changes.is_empty() {
        return Ok(table);
    }
    let described: Vec<String> = changes.iter().map(ToString::to_string).collect();
    let ntz = DataType::Primitive(PrimitiveType::TimestampNtz);
    // A new protocol only when the feature is missing (adding it again changes nothing).
    let protocol = if changes.iter().any(|w| w.to == ntz) {
        let upgraded = with_feature(state.protocol(), "timestampNtz").map_err(|e| {
            DeltaError::schema(
                location,
                format!(
                    "widening {} needs the timestampNtz table feature: {e}",
                    described.join(", ")
                ),
            )
        })?;
        (&upgraded != state.protocol()).then_some(upgraded)
    } else {
        None
    };
    let fields =
        table_schema
            .fields()
            .map(|f| match changes.iter().find(|w| &w.column == f.name()) {
                Some(w) => StructField::new(f.name().clone(), w.to.clone(), f.is_nullable())
                    .with_metadata(f.metadata().clone()),
                None => f.clone(),
            });
    let widened =
        StructType::try_new(fields).map_err(|e| DeltaError::schema(location, e.to_string()))?;
    let arrow_schema: SchemaRef = Arc::new(
        Schema::try_from_kernel(&widened)
            .map_err(|e| DeltaError::schema(location, format!("the widened schema: {e}")))?,
    );
    let columns = TableColumns::new(state, |name| Some(name.to_owned()))
        .map_err(|e| unreadable(location, e))?;
    let partition_columns = state.metadata().partition_columns().to_vec();
    let store = table.object_store();
    let writer = FileWriter::new(
        location.to_owned(),
        Arc::clone(&store),
        Arc::clone(&arrow_schema),
        partition_columns.clone(),
        state.metadata().configuration(),
    );

    let mut files = writer.open();
    let mut actions = Vec::new();
    let mut rows = 0usize;
    let total = state.log_data().num_files();
    info!(table = %location, columns = ?described, files = total,
        "merge-schema: widening column types; rewriting the table");
    let mut last_report = Instant::now();
    for file in state.log_data().iter() {
        if last_report.elapsed() >= PROGRESS_EVERY {
            info!(table = %location, files_done = actions.len(), files = total, rows,
                "merge-schema: widening column types");
            last_report = Instant::now();
        }
        let path = file.path().into_owned();
        if file.deletion_vector_descriptor().is_some() {
            return Err(DeltaError::schema(
                location,
                format!(
                    "widening {} would rewrite data file {path}, which has a deletion \
                     vector; deletion vectors are not supported",
                    described.join(", ")
                ),
            ));
        }
        let partitions = file.partition_values_map().into_iter().collect();
        let batch = columns
            .read(store.as_ref(), &path, &partitions)
            .await
            .map_err(|e| unreadable(location, e))?;
        rows += batch.num_rows();
        files
            .write(&schema::conform(location, &arrow_schema, &batch)?)
            .await?;
        actions.push(Action::Remove(file.remove_action(false)));
    }
    let rewritten = actions.len();
    actions.extend(files.close().await?.into_iter().map(|f| {
        let mut add = f.into_add();
        add.data_change = false;
        Action::Add(add)
    }));

    let metadata = state
        .metadata()
        .clone()
        .with_schema(&widened)
        .map_err(|e| DeltaError::schema(location, format!("the widened schema: {e}")))?;
    actions.insert(0, Action::Metadata(metadata));
    if let Some(protocol) = protocol {
        actions.insert(0, Action::Protocol(protocol));
    }
    let properties = CommitProperties::default().with_metadata([(
        "sluice.widened".to_owned(),
        serde_json::Value::String(described.join(", ")),
    )]);
    let operation = DeltaOperation::Write {
        mode: SaveMode::Overwrite,
        partition_by: (!partition_columns.is_empty()).then_some(partition_columns),
        predicate: None,
    };
    let version = CommitBuilder::from(properties)
        .with_actions(actions)
        .build(Some(state), table.log_store(), operation)
        .await
        .map_err(|e| DeltaError::delta(location, "committing widened column types", e))?
        .version();
    info!(table = %location, version, columns = ?described, files = rewritten, rows,
        "merge-schema: widened column types by rewriting the table");
    table
        .update_state()
        .await
        .map_err(|e| DeltaError::delta(location, "reading the table log", e))?;
    Ok(table)
}

/// `protocol` with the reader-writer table `feature` added: table features (reader 3,
/// writer 7), listing the features the legacy versions implied. A protocol that already
/// lists the feature comes back equal.
fn with_feature(
    protocol: &deltalake::kernel::Protocol,
    feature: &str,
) -> std::result::Result<deltalake::kernel::Protocol, String> {
    /// The writer features of the legacy protocol versions: each implied from its version on.
    const WRITER_LEGACY: [(&str, i64); 7] = [
        ("appendOnly", 2),
        ("invariants", 2),
        ("checkConstraints", 3),
        ("changeDataFeed", 4),
        ("generatedColumns", 4),
        ("columnMapping", 5),
        ("identityColumns", 6),
    ];
    let p = serde_json::to_value(protocol).map_err(|e| e.to_string())?;
    let listed =
        |key: &str| -> Vec<serde_json::Value> { p[key].as_array().cloned().unwrap_or_default() };
    let version = |key: &str| p[key].as_i64().unwrap_or(0);
    let mut readers = match version("minReaderVersion") {
        0 | 1 => Vec::new(),
        2 => vec!["columnMapping".into()],
        _ => listed("readerFeatures"),
    };
    let mut writers = match version("minWriterVersion") {
        v @ 0..=6 => WRITER_LEGACY
            .iter()
            .filter(|(_, since)| *since <= v)
            .map(|&(f, _)| f.into())
            .collect(),
        _ => listed("writerFeatures"),
    };
    for list in [&mut readers, &mut writers] {
        if !list.iter().any(|f| f == feature) {
            list.push(feature.into());
        }
    }
    serde_json::from_value(serde_json::json!({
        "minReaderVersion": 3,
        "minWriterVersion": 7,
        "readerFeatures": readers,
        "writerFeatures": writers,
    }))
    .map_err(|e| e.to_string())
}

/// A data file that cannot be read for the rewrite.
fn unreadable(location: &str, e: TableFileError) -> DeltaError {
    match e {
        TableFileError::Storage { source, .. } | TableFileError::Missing { source, .. } => {
            DeltaError::delta(
                location,
                "reading a data file to widen column types",
                DeltaTableError::ObjectStore { source },
            )
        }
        e => DeltaError::schema(location, format!("widening column types: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{
        Array, ArrayRef, AsArray, Date32Array, Decimal128Array, Int32Array, Int64Array,
        RecordBatch, TimestampMicrosecondArray,
    };
    use arrow::datatypes::{
        DataType as A, Decimal128Type, Field, Int64Type, TimeUnit, TimestampMicrosecondType,
    };
    use sluice_engine::runtime::{EpochSource, Planned, advance};

    use super::*;
    use crate::delta::maintenance::{describe, history};
    use crate::delta::{DeltaSink, DeltaSource, DeltaSourceConfig, SinkOptions};

    /// `id`, `amount`, `day` and the partition column `part`, in the given types.
    fn schema(id: A, amount: A, day: A, part: A) -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", id, false),
            Field::new("amount", amount, true),
            Field::new("day", day, true),
            Field::new("part", part, true),
        ]))
    }

    fn narrow() -> SchemaRef {
        schema(A::Int32, A::Decimal128(10, 2), A::Date32, A::Int32)
    }

    fn wide() -> SchemaRef {
        let ntz = A::Timestamp(TimeUnit::Microsecond, None);
        schema(A::Int64, A::Decimal128(12, 2), ntz, A::Int64)
    }

    const DAY_US: i64 = 86_400_000_000;

    /// Rows `(id, amount in cents, day in microseconds, part)` as read back.
    type Row = (i64, Option<i128>, Option<i64>, Option<i64>);

    /// Rows `(id, amount in cents, day, part)` as written to the narrow table.
    type NarrowRow = (i32, Option<i128>, Option<i32>, Option<i32>);

    fn narrow_batch(rows: &[NarrowRow]) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(
                Decimal128Array::from_iter(rows.iter().map(|r| r.1))
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
            Arc::new(Date32Array::from_iter(rows.iter().map(|r| r.2))),
            Arc::new(Int32Array::from_iter(rows.iter().map(|r| r.3))),
        ];
        RecordBatch::try_new(narrow(), columns).unwrap()
    }

    /// A table `t` under `dir` of the narrow schema, partitioned by `part`, with one epoch
    /// per item of `epochs` (app id `test/w`); its location.
    async fn narrow_table(dir: &std::path::Path, epochs: &[Vec<NarrowRow>]) -> String {
        let location = dir.join("t").display().to_string();
        let sink = DeltaSink::open(&location, "test/w", narrow(), vec!["part".to_owned()])
            .await
            .unwrap();
        for (epoch, rows) in epochs.iter().enumerate() {
            let files = sink.write_files(&[narrow_batch(rows)]).await.unwrap();
            sink.commit_epoch(epoch as u64, files).await.unwrap();
        }
        location
    }

    fn merge_schema() -> SinkOptions {
        SinkOptions {
            merge_schema: true,
            ..SinkOptions::default()
        }
    }

    /// Every row of the table's latest version, read through the Delta source, sorted.
    fn read_all(location: &str) -> Vec<Row> {
        let mut config = DeltaSourceConfig::new(location);
        config.bounded = true;
        let source = DeltaSource::new(config, &tokio::runtime::Handle::current()).unwrap();
        let mut cursors = source.initial_cursors().unwrap();
        let mut out = Vec::new();
        while let Planned::Ranges(ranges) = source.next_ranges(0, &cursors).unwrap() {
            for r in ranges.iter().filter(|r| !r.is_empty()) {
                let (b, _) = source.read(r, 0).unwrap();
                let id = b.column(0).as_primitive::<Int64Type>();
                let amount = b.column(1).as_primitive::<Decimal128Type>();
                let day = b.column(2).as_primitive::<TimestampMicrosecondType>();
                let part = b.column(3).as_primitive::<Int64Type>();
                for i in 0..b.num_rows() {
                    out.push((
                        id.value(i),
                        amount.is_valid(i).then(|| amount.value(i)),
                        day.is_valid(i).then(|| day.value(i)),
                        part.is_valid(i).then(|| part.value(i)),
                    ));
                }
            }
            advance(&mut cursors, &ranges);
        }
        out.sort_unstable();
        out
    }

    /// The actions of commit `version` of the table at `dir`, one JSON value per line.
    fn commit(dir: &std::path::Path, version: u64) -> Vec<serde_json::Value> {
        let path = dir.join(format!("_delta_log/{version:020}.json"));
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Checks that `version` of the table in `dir` is one rewrite: the protocol
    /// (timestamp_ntz needs its table feature), the schema, and every file removed and its
    /// rows added again, none of them a data change.
    fn assert_one_rewrite(dir: &std::path::Path, version: u64) {
        let actions = commit(dir, version);
        let count = |kind: &str| actions.iter().filter(|a| a.get(kind).is_some()).count();
        assert_eq!((count("protocol"), count("metaData")), (1, 1));
        let protocol = actions.iter().find_map(|a| a.get("protocol")).unwrap();
        assert_eq!(protocol["minWriterVersion"], 7, "{protocol}");
        for list in ["readerFeatures", "writerFeatures"] {
            let features = protocol[list].to_string();
            assert!(features.contains("timestampNtz"), "{protocol}");
        }
        // The legacy writer version 2's features stay required.
        assert!(
            protocol["writerFeatures"]
                .to_string()
                .contains("invariants"),
            "{protocol}"
        );
        // The four files of two epochs come back as one per partition value.
        assert_eq!((count("remove"), count("add")), (4, 3), "{actions:?}");
        for a in &actions {
            if let Some(file) = a.get("add").or_else(|| a.get("remove")) {
                assert_eq!(file["dataChange"], false, "{file}");
            }
        }
    }

    /// A row of the wider types, past the old ranges.
    fn wide_row() -> RecordBatch {
        RecordBatch::try_new(
            wide(),
            vec![
                Arc::new(Int64Array::from(vec![5_000_000_000])),
                Arc::new(
                    Decimal128Array::from(vec![Some(1_234_567_891_i128)])
                        .with_precision_and_scale(12, 2)
                        .unwrap(),
                ),
                Arc::new(TimestampMicrosecondArray::from(vec![Some(
                    DAY_US + 3_600_000_000,
                )])),
                Arc::new(Int64Array::from(vec![Some(3_000_000_000)])),
            ],
        )
        .unwrap()
    }

    /// What a source that tails a table says when it stops (or `idle`, `no error`).
    async fn error_of(tail: DeltaSource) -> String {
        tokio::task::spawn_blocking(move || {
            let mut cursors = tail.initial_cursors().unwrap();
            for epoch in 0..10 {
                match tail.next_ranges(epoch, &cursors) {
                    Ok(Planned::Ranges(r)) => advance(&mut cursors, &r),
                    Ok(_) => return "idle".to_owned(),
                    Err(e) => return e.to_string(),
                }
            }
            "no error".to_owned()
        })
        .await
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn merge_schema_widens_columns_by_rewriting_the_table_in_one_commit() {
        let dir = tempfile::tempdir().unwrap();
        let epochs = [
            vec![
                (1, Some(150), Some(0), Some(1)),
                (2, None, Some(1), Some(2)),
            ],
            vec![
                (3, Some(-99_999_999), None, None),
                (i32::MAX, Some(1), Some(-1), Some(1)),
            ],
        ];
        let location = narrow_table(dir.path(), &epochs).await;
        let parts = vec!["part".to_owned()];
        // A tailing source that opened the narrow table.
        let loc = location.clone();
        let tail = tokio::task::spawn_blocking(move || {
            DeltaSource::new(
                DeltaSourceConfig::new(&loc),
                &tokio::runtime::Handle::current(),
            )
            .unwrap()
        })
        .await
        .unwrap();

        // Without merge-schema the wider sink is refused, naming the option.
        let e = DeltaSink::open(&location, "test/w", wide(), parts.clone())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"id\" is integer in the table but long") && e.contains("merge-schema"),
            "{e}"
        );
        let merge = merge_schema();
        let sink = DeltaSink::open_with(&location, "test/w", wide(), parts.clone(), &merge)
            .await
            .unwrap();
        // The txn survives the rewrite: epochs carry on.
        assert_eq!(sink.committed_epoch().await.unwrap(), Some(1));
        let d = describe(&location).await.unwrap();
        let types: Vec<(&str, &str)> = d
            .columns
            .iter()
            .map(|(n, t, _)| (n.as_str(), t.as_str()))
            .collect();
        assert_eq!(
            types,
            [
                ("id", "long"),
                ("amount", "decimal(12,2)"),
                ("day", "timestamp_ntz"),
                ("part", "long")
            ]
        );
        assert_eq!((d.version, d.rows), (3, Some(4)));

        assert_one_rewrite(&dir.path().join("t"), 3);
        let log = history(&location, Some(1)).await.unwrap();
        assert_eq!(log[0].operation, "WRITE");

        let big = wide_row();
        let files = sink.write_files(&[big]).await.unwrap();
        sink.commit_epoch(2, files).await.unwrap();

        let loc = location.clone();
        let rows = tokio::task::spawn_blocking(move || read_all(&loc))
            .await
            .unwrap();
        assert_eq!(
            rows,
            vec![
                (1, Some(150), Some(0), Some(1)),
                (2, None, Some(DAY_US), Some(2)),
                (3, Some(-99_999_999), None, None),
                (i64::from(i32::MAX), Some(1), Some(-DAY_US), Some(1)),
                (
                    5_000_000_000,
                    Some(1_234_567_891),
                    Some(DAY_US + 3_600_000_000),
                    Some(3_000_000_000)
                ),
            ]
        );

        // The source that started before the widening stops at it, saying why.
        let e = error_of(tail).await;
        assert!(
            e.contains("version 3 changes column \"id\" from Int32 to long")
                && e.contains("restart"),
            "{e}"
        );

        // Opening again with the same wide schema rewrites nothing.
        DeltaSink::open_with(&location, "test/w", wide(), parts, &merge)
            .await
            .unwrap();
        assert_eq!(describe(&location).await.unwrap().version, 4);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn two_writers_widening_at_once_leave_one_rewrite() {
        let dir = tempfile::tempdir().unwrap();
        let epochs: Vec<Vec<NarrowRow>> = (0..3)
            .map(|e| vec![(e, Some(1), Some(e), Some(e % 2))])
            .collect();
        let location = narrow_table(dir.path(), &epochs).await;
        let parts = vec!["part".to_owned()];
        let merge = merge_schema();
        // Two processes of a job open the sink together: one rewrite commits, the other
        // loses the race, reloads, and finds nothing left to widen.
        let (a, b) = tokio::join!(
            DeltaSink::open_with(&location, "test/w", wide(), parts.clone(), &merge),
            DeltaSink::open_with(&location, "test/w", wide(), parts.clone(), &merge),
        );
        a.unwrap();
        b.unwrap();
        let log = history(&location, None).await.unwrap();
        let writes = log.iter().filter(|h| h.operation == "WRITE").count();
        assert_eq!(writes, 1, "{log:?}");
        let loc = location.clone();
        let ids: Vec<i64> = tokio::task::spawn_blocking(move || read_all(&loc))
            .await
            .unwrap()
            .iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(ids, vec![0, 1, 2]);
    }

    #[test]
    fn only_allowed_widenings_are_found() {
        let table = to_kernel(&narrow());
        let mut wider = to_kernel(&wide());
        let found: Vec<String> = widenings(&table, &wider)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            [
                "id: integer -> long",
                "amount: decimal(10,2) -> decimal(12,2)",
                "day: date -> timestamp_ntz",
                "part: integer -> long"
            ]
        );
        // Narrowing, or a decimal losing integer digits, is not widening.
        assert!(widenings(&wider, &table).is_empty());
        wider = to_kernel(&schema(A::Int32, A::Decimal128(11, 4), A::Date32, A::Utf8));
        assert!(widenings(&table, &wider).is_empty());
    }

    fn to_kernel(schema: &SchemaRef) -> StructType {
        super::schema::to_delta("t", schema).unwrap()
    }
}
