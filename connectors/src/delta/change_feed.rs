//! The Delta source's change data feed (`read-change-feed: true`), as Spark's
//! `readChangeFeed`: every row a version inserts, deletes or updates, with the columns
//! `_change_type` (`insert`, `delete`, `update_preimage`, `update_postimage`),
//! `_commit_version` and `_commit_timestamp`.
//!
//! A version's changes follow the Delta protocol's rule: when its commit has `cdc`
//! actions (files under `_change_data/`, written by DELETE, UPDATE and MERGE on a table
//! with `delta.enableChangeDataFeed = true`), those files are its changes and carry their
//! own `_change_type`; otherwise every `add` with `dataChange = true` is an insert of the
//! file's rows and every `remove` with `dataChange = true` a delete of the removed file's
//! rows (so on a table without the property, a DELETE reads as its rewritten files' rows
//! deleted and inserted again). `dataChange = false` rewrites (`optimize`) change nothing.
//!
//! Each file of a version is one range, keyed by its path and the version (a file added
//! in one version and removed in a later one is read twice, once per change); the range's
//! position holds a [`ChangeFile`].

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, FieldRef, TimeUnit};
use serde::{Deserialize, Serialize};

use super::table_file::{PartitionValues, percent_decode};

/// The change type column.
pub(crate) const CHANGE_TYPE: &str = "_change_type";

/// What the rows of a change file are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ChangeKind {
    /// Rows of an added data file: inserts.
    Insert,
    /// Rows of a removed data file: deletes.
    Delete,
    /// A `_change_data` file: each row's change type is in the file.
    Cdc,
}

/// One file of a version's changes, as a range's position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ChangeFile {
    /// The file's partition values.
    pub(crate) partitions: PartitionValues,
    /// What its rows are.
    pub(crate) kind: ChangeKind,
    /// The table version that made the change.
    pub(crate) version: i64,
    /// That version's commit time, in milliseconds since the epoch.
    pub(crate) timestamp_ms: i64,
}

/// The columns a change feed adds after the table's, before the coordinates.
pub(crate) fn fields() -> [FieldRef; 3] {
    [
        Arc::new(Field::new(CHANGE_TYPE, DataType::Utf8, false)),
        Arc::new(Field::new("_commit_version", DataType::Int64, false)),
        Arc::new(Field::new(
            "_commit_timestamp",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        )),
    ]
}

/// The change columns of `rows` rows of `file`; `change_types` is the file's own
/// `_change_type` column for a `cdc` file.
pub(crate) fn columns(
    file: &ChangeFile,
    rows: usize,
    change_types: Option<ArrayRef>,
) -> [ArrayRef; 3] {
    let kind = match file.kind {
        ChangeKind::Insert => "insert",
        ChangeKind::Delete => "delete",
        ChangeKind::Cdc => "",
    };
    let change_type =
        change_types.unwrap_or_else(|| Arc::new(StringArray::new_repeated(kind, rows)) as ArrayRef);
    [
        change_type,
        Arc::new(Int64Array::from(vec![file.version; rows])),
        Arc::new(
            TimestampMicrosecondArray::from(vec![file.timestamp_ms * 1000; rows])
                .with_timezone("UTC"),
        ),
    ]
}

/// What one commit's log entry says: its file actions (decoded paths, as [`ChangeFile`]s),
/// its operation, and a schema it sets, if any. Read by both the Delta source's row tail
/// and its change feed.
#[derive(Debug, Default)]
pub(crate) struct VersionChanges {
    /// The data files it adds (`Insert`) and removes (`Delete`) with `dataChange = true`.
    pub(crate) data: Vec<(String, ChangeFile)>,
    /// Its `cdc` files.
    pub(crate) cdc: Vec<(String, ChangeFile)>,
    /// The operation its `commitInfo` names.
    pub(crate) operation: Option<String>,
    /// The `schemaString` of a `metaData` action.
    pub(crate) schema: Option<String>,
    /// The commit time (`commitInfo.timestamp`), in milliseconds; 0 without one.
    pub(crate) timestamp_ms: i64,
}

impl VersionChanges {
    /// The change feed of the commit: its `cdc` files when it has any, else its data files.
    pub(crate) fn feed(self) -> Vec<(String, ChangeFile)> {
        if self.cdc.is_empty() {
            self.data
        } else {
            self.cdc
        }
    }
}

/// Reads the changes of the commit `version`, whose log entry is `bytes`.
///
/// # Errors
/// A line that is not JSON, or a file action without a path or with bad partition values.
pub(crate) fn version_changes(bytes: &[u8], version: i64) -> Result<VersionChanges, String> {
    let mut timestamp_ms = 0;
    let mut data = Vec::new();
    let mut cdc = Vec::new();
    let mut schema = None;
    let mut operation = None;
    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let action: serde_json::Value = serde_json::from_slice(line)
            .map_err(|e| format!("version {version}: bad log line: {e}"))?;
        if let Some(info) = action.get("commitInfo") {
            timestamp_ms = info
                .get("timestamp")
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(timestamp_ms);
            operation = info
                .get("operation")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned);
        }
        if let Some(s) = action
            .get("metaData")
            .and_then(|m| m.get("schemaString"))
            .and_then(serde_json::Value::as_str)
        {
            schema = Some(s.to_owned());
        }
        for (key, kind) in [
            ("add", ChangeKind::Insert),
            ("remove", ChangeKind::Delete),
            ("cdc", ChangeKind::Cdc),
        ] {
            let Some(file) = action.get(key) else {
                continue;
            };
            let changes_data = file.get("dataChange").and_then(serde_json::Value::as_bool);
            if kind != ChangeKind::Cdc && changes_data == Some(false) {
                continue;
            }
            let path = file
                .get("path")
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| format!("version {version}: a {key} action without a path"))?;
            let partitions: PartitionValues = file
                .get("partitionValues")
                .cloned()
                .map(serde_json::from_value)
                .transpose()
                .map_err(|e| format!("version {version}: partition values: {e}"))?
                .unwrap_or_default();
            let entry = (percent_decode(path), (kind, partitions));
            if kind == ChangeKind::Cdc {
                cdc.push(entry);
            } else {
                data.push(entry);
            }
        }
    }
    // The commit time may come after the files: the change files are made at the end.
    let files = |entries: Vec<(String, (ChangeKind, PartitionValues))>| {
        entries
            .into_iter()
            .map(|(path, (kind, partitions))| {
                let file = ChangeFile {
                    partitions,
                    kind,
                    version,
                    timestamp_ms,
                };
                (path, file)
            })
            .collect()
    };
    Ok(VersionChanges {
        data: files(data),
        cdc: files(cdc),
        operation,
        schema,
        timestamp_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdc_files_replace_the_data_files_of_their_commit() {
        let log = br#"{"commitInfo":{"timestamp":1700000000000,"operation":"DELETE"}}
{"remove":{"path":"a.parquet","dataChange":true,"partitionValues":{}}}
{"add":{"path":"b%20c.parquet","dataChange":true,"partitionValues":{}}}
{"cdc":{"path":"_change_data/x.parquet","dataChange":false,"partitionValues":{"d":"1"}}}
"#;
        let v = version_changes(log, 7).unwrap().feed();
        assert_eq!(v.len(), 1);
        let (path, file) = &v[0];
        assert_eq!(path, "_change_data/x.parquet");
        assert_eq!(
            (file.kind, file.version, file.timestamp_ms),
            (ChangeKind::Cdc, 7, 1_700_000_000_000)
        );
        assert_eq!(file.partitions["d"].as_deref(), Some("1"));

        let plain = br#"{"commitInfo":{"timestamp":5}}
{"remove":{"path":"a.parquet","dataChange":true}}
{"add":{"path":"b%20c.parquet","dataChange":true,"partitionValues":{}}}
{"add":{"path":"compacted.parquet","dataChange":false,"partitionValues":{}}}
{"remove":{"path":"small.parquet","dataChange":false}}
"#;
        let v = version_changes(plain, 8).unwrap();
        assert!(v.schema.is_none());
        let v = v.feed();
        let got: Vec<(&str, ChangeKind)> = v.iter().map(|(p, f)| (p.as_str(), f.kind)).collect();
        assert_eq!(
            got,
            [
                ("a.parquet", ChangeKind::Delete),
                ("b c.parquet", ChangeKind::Insert)
            ]
        );
    }

    /// Every change a change-feed source reads until it is idle, as
    /// `(n, _change_type, _commit_version)`, sorted.
    fn drain(source: &crate::delta::DeltaSource) -> Vec<(i64, String, i64)> {
        use arrow::array::AsArray;
        use arrow::datatypes::Int64Type;
        use sluice_engine::runtime::{EpochSource, Planned, advance};
        let mut cursors = source.initial_cursors().unwrap();
        let mut out = Vec::new();
        for epoch in 0..20 {
            let ranges = match source.next_ranges(epoch, &cursors).unwrap() {
                Planned::Ranges(r) => r,
                _ => break,
            };
            for r in ranges.iter().filter(|r| !r.is_empty()) {
                let (b, _) = source.read(r, epoch).unwrap();
                let schema = b.schema();
                let col = |name: &str| b.column(schema.index_of(name).unwrap());
                let n = col("n").as_primitive::<Int64Type>().clone();
                let kind = col(CHANGE_TYPE).as_string::<i32>().clone();
                let version = col("_commit_version").as_primitive::<Int64Type>().clone();
                for i in 0..b.num_rows() {
                    out.push((n.value(i), kind.value(i).to_owned(), version.value(i)));
                }
            }
            advance(&mut cursors, &ranges);
        }
        out.sort();
        out
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_feed_reads_inserts_updates_and_deletes_as_they_were_made() {
        use crate::delta::maintenance::{delete, describe, update};
        use crate::delta::{DeltaSink, DeltaSource, DeltaSourceConfig, SinkOptions};
        use arrow::array::{Int64Array, RecordBatch};
        use arrow::datatypes::Schema;

        let dir = tempfile::tempdir().unwrap();
        let location = dir.path().join("t").display().to_string();
        // The sink creates the table with the change data feed on.
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let options = SinkOptions {
            table_properties: [("delta.enableChangeDataFeed".into(), "true".into())].into(),
            ..SinkOptions::default()
        };
        let sink = DeltaSink::open_with(&location, "test/t", schema.clone(), vec![], &options)
            .await
            .unwrap();
        let described = describe(&location).await.unwrap();
        assert_eq!(
            described
                .properties
                .get("delta.enableChangeDataFeed")
                .map(String::as_str),
            Some("true"),
            "{described:?}"
        );
        let append = |epoch: u64, values: Vec<i64>| {
            let sink = sink.clone();
            let schema = schema.clone();
            async move {
                let batch =
                    RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values))]).unwrap();
                let files = sink.write_files(&[batch]).await.unwrap();
                sink.commit_epoch(epoch, files).await.unwrap();
            }
        };
        append(0, vec![1, 2, 3, 4]).await; // version 1
        let open = |starting_version: Option<i64>| {
            let loc = location.clone();
            move || {
                let mut config = DeltaSourceConfig::new(&loc);
                config.read_change_feed = true;
                config.starting_version = starting_version;
                DeltaSource::new(config, &tokio::runtime::Handle::current()).unwrap()
            }
        };
        let from_snapshot = tokio::task::spawn_blocking(open(None)).await.unwrap();
        update(&location, Some("n = 2"), &[("n".into(), "n + 100".into())])
            .await
            .unwrap(); // version 2
        delete(&location, "n = 3").await.unwrap(); // version 3
        append(1, vec![5]).await; // version 4
        let from_two = tokio::task::spawn_blocking(open(Some(2))).await.unwrap();

        let changes = |v: &[(i64, &str, i64)]| -> Vec<(i64, String, i64)> {
            let mut v: Vec<_> = v
                .iter()
                .map(|(n, k, c)| (*n, (*k).to_owned(), *c))
                .collect();
            v.sort();
            v
        };
        let later = [
            (2, "update_preimage", 2),
            (102, "update_postimage", 2),
            (3, "delete", 3),
            (5, "insert", 4),
        ];
        let mut all = vec![
            (1, "insert", 1),
            (2, "insert", 1),
            (3, "insert", 1),
            (4, "insert", 1),
        ];
        all.extend(later);
        let (a, b) = tokio::task::spawn_blocking(move || (drain(&from_snapshot), drain(&from_two)))
            .await
            .unwrap();
        assert_eq!(a, changes(&all));
        assert_eq!(b, changes(&later));
    }

    #[test]
    fn the_feed_is_refused_where_it_cannot_follow() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let mut config = crate::delta::DeltaSourceConfig::new("/nonexistent");
        config.read_change_feed = true;
        config.bounded = true;
        let e = crate::delta::DeltaSource::new(config, runtime.handle())
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot be combined with bounded"), "{e}");
    }
}
