//! Delta Lake sink with exactly-once epochs (DESIGN section 3).
//!
//! Every timely worker writes its share of an epoch as Parquet files with
//! [`DeltaSink::write_files`] and sends the returned [`DataFile`]s (serde-serializable, so
//! they cross workers and processes as bytes) to one committer. The committer calls
//! [`DeltaSink::commit_epoch`], which adds all files of the epoch in one Delta transaction
//! carrying `txn(appId, version = epoch)`, after checking that the table's txn version for
//! the app id is below the epoch; otherwise the epoch is a replay and is skipped.
//!
//! Files are partitioned hive-style (`event_date=2024-05-01/part-...parquet`) with the
//! partition columns left out of the files and recorded in the `add` actions, as Delta
//! readers (DuckDB's `delta_scan`, delta-rs, Spark) expect.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use arrow::datatypes::{DataType, Field, Schema};
//! # use arrow::record_batch::RecordBatch;
//! # use sluice_connectors::delta::{CommitOutcome, DataFile, DeltaSink};
//! # async fn example(batch: RecordBatch) -> Result<(), Box<dyn std::error::Error>> {
//! let schema = Arc::new(Schema::new(vec![
//!     Field::new("id", DataType::Int64, false),
//!     Field::new("event_date", DataType::Date32, false),
//! ]));
//! let sink = DeltaSink::open("/tmp/silver", "job-1/silver", schema, vec!["event_date".into()])
//!     .await?;
//! let next_epoch = sink.committed_epoch().await?.map_or(0, |e| e + 1);
//! // On each worker:
//! let files = sink.write_files(&[batch]).await?;
//! let bytes = serde_json::to_vec(&files)?;
//! // On the committer, with the files of every worker:
//! let files: Vec<DataFile> = serde_json::from_slice(&bytes)?;
//! match sink.commit_epoch(next_epoch, files).await? {
//!     CommitOutcome::Committed { version, .. } => println!("table version {version}"),
//!     CommitOutcome::AlreadyCommitted => println!("replayed epoch skipped"),
//! }
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;

use deltalake::kernel::Add;
use serde::{Deserialize, Serialize};

mod change_feed;
mod committer;
mod compaction;
mod diff;
mod encoding;
mod error;
mod feed;
pub mod maintenance;
mod merge_sink;
mod schema;
mod sink;
mod source;
mod table_file;
mod table_sink;
mod widening;
mod writer;

pub use compaction::{AutoCompact, CompactionState};
pub use diff::{DiffSamples, TableDiff, diff};
pub use error::{Cause, DeltaError, Result};
pub use feed::DeltaTableFeed;
pub use merge_sink::{MergeConfig, MergeTableSink};
pub use sink::{DeltaSink, SinkOptions, register_object_stores, set_store_retry};
pub use source::{DeltaSource, DeltaSourceConfig, OnChange};
pub use table_sink::DeltaTableSink;

/// One written, not yet committed Parquet data file: its Delta `add` action and row count.
///
/// Round-trips through `serde_json`, so it can cross timely workers and processes as bytes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DataFile {
    /// The `add` action, as it will appear in the Delta log.
    add: Add,
    /// Rows in the file.
    rows: u64,
}

impl DataFile {
    /// Wraps an `add` action written by deltalake, taking the row count from its statistics.
    pub(crate) fn from_add(table: &str, add: Add) -> Result<Self> {
        let rows = add
            .stats
            .as_deref()
            .and_then(|stats| serde_json::from_str::<serde_json::Value>(stats).ok())
            .and_then(|stats| stats.get("numRecords")?.as_u64())
            .ok_or_else(|| {
                DeltaError::internal(table, format!("data file {} has no row count", add.path))
            })?;
        Ok(Self { add, rows })
    }

    /// Path relative to the table root, for example `event_date=2024-05-01/part-...parquet`.
    pub fn path(&self) -> &str {
        &self.add.path
    }

    /// Rows in the file.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Size of the file in bytes.
    pub fn size_bytes(&self) -> u64 {
        u64::try_from(self.add.size).unwrap_or(0)
    }

    /// Partition values by column, as Delta serializes them (`None` for null), sorted by
    /// column name.
    pub fn partition_values(&self) -> BTreeMap<&str, Option<&str>> {
        self.add
            .partition_values
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect()
    }

    /// The `add` action.
    pub fn add(&self) -> &Add {
        &self.add
    }

    /// Unwraps the `add` action.
    pub fn into_add(self) -> Add {
        self.add
    }
}

/// What [`DeltaSink::commit_epoch`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitOutcome {
    /// The epoch was committed as a new table version.
    Committed {
        /// The table version of the commit.
        version: u64,
        /// Data files added.
        files: usize,
        /// Rows added.
        rows: u64,
    },
    /// The table's txn version for the app id was already at or past the epoch: nothing was
    /// written.
    AlreadyCommitted,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use arrow::array::{
        Array, ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array,
        StringArray, TimestampMicrosecondArray,
    };
    use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
    use arrow::record_batch::RecordBatch;
    use deltalake::datafusion::prelude::SessionContext;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;

    const DAY: i32 = 19_844; // 2024-05-01

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("name", DataType::Utf8, true),
            Field::new("qty", DataType::Int32, true),
            Field::new("amount", DataType::Float64, true),
            Field::new("ok", DataType::Boolean, true),
            Field::new("event_date", DataType::Date32, false),
        ]))
    }

    /// Rows `ids`, with `event_date` = DAY + id % 2.
    fn batch(ids: std::ops::Range<i64>) -> RecordBatch {
        fn map<T>(ids: &std::ops::Range<i64>, f: impl Fn(i64) -> T) -> Vec<T> {
            ids.clone().map(f).collect()
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(map(&ids, |i| i))),
            Arc::new(
                TimestampMicrosecondArray::from(map(&ids, |i| i * 1_000_000)).with_timezone("UTC"),
            ),
            Arc::new(StringArray::from(map(&ids, |i| Some(format!("n{i}"))))),
            Arc::new(Int32Array::from(map(&ids, |i| i as i32))),
            Arc::new(Float64Array::from(map(&ids, |i| i as f64 / 2.0))),
            Arc::new(BooleanArray::from(map(&ids, |i| i % 3 == 0))),
            Arc::new(Date32Array::from(map(&ids, |i| DAY + (i % 2) as i32))),
        ];
        RecordBatch::try_new(schema(), columns).unwrap()
    }

    fn committed(version: u64, files: usize, rows: u64) -> CommitOutcome {
        CommitOutcome::Committed {
            version,
            files,
            rows,
        }
    }

    async fn open(dir: &tempfile::TempDir) -> DeltaSink {
        let location = dir.path().join("silver");
        let location = location.to_str().unwrap();
        DeltaSink::open(location, "job/silver", schema(), vec!["event_date".into()])
            .await
            .unwrap()
    }

    /// Rows per `event_date`, read back through deltalake's DataFusion provider.
    async fn rows_by_date(sink: &DeltaSink) -> BTreeMap<i32, usize> {
        let table = deltalake::open_table_with_storage_options(
            sink.table_url().clone(),
            sink::storage_options(),
        )
        .await
        .unwrap();
        let ctx = SessionContext::new();
        table.update_datafusion_session(&ctx.state()).unwrap();
        let provider = table.table_provider().await.unwrap();
        let batches = ctx.read_table(provider).unwrap().collect().await.unwrap();
        let mut counts = BTreeMap::new();
        for batch in batches {
            let dates = batch.column_by_name("event_date").unwrap();
            let dates = dates.as_any().downcast_ref::<Date32Array>().unwrap();
            assert_eq!(dates.null_count(), 0);
            for d in dates.values() {
                *counts.entry(*d).or_default() += 1;
            }
        }
        counts
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn two_epochs_round_trip_with_partitions() {
        let dir = tempfile::tempdir().unwrap();
        let sink = open(&dir).await;
        assert_eq!(sink.committed_epoch().await.unwrap(), None);

        let files = sink.write_files(&[batch(0..3)]).await.unwrap();
        assert_eq!(files.len(), 2, "one file per partition value");
        let file = &files[0];
        assert!(
            file.path().starts_with("event_date=2024-05-01/"),
            "{}",
            file.path()
        );
        assert_eq!(file.partition_values()["event_date"], Some("2024-05-01"));
        let parquet =
            std::fs::File::open(sink.table_url().to_file_path().unwrap().join(file.path()));
        let parquet = ParquetRecordBatchReaderBuilder::try_new(parquet.unwrap()).unwrap();
        assert!(
            parquet.schema().field_with_name("event_date").is_err(),
            "partition column in file"
        );
        let outcome = sink.commit_epoch(1, files).await.unwrap();
        assert_eq!(outcome, committed(1, 2, 3));

        let files = sink.write_files(&[batch(3..5)]).await.unwrap();
        let outcome = sink.commit_epoch(2, files).await.unwrap();
        assert_eq!(outcome, committed(2, 2, 2));
        assert_eq!(sink.committed_epoch().await.unwrap(), Some(2));
        assert_eq!(
            rows_by_date(&sink).await,
            BTreeMap::from([(DAY, 3), (DAY + 1, 2)])
        );

        // Reopening finds the table; another schema is refused.
        assert_eq!(open(&dir).await.committed_epoch().await.unwrap(), Some(2));
        let other = Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, false)]));
        let err = DeltaSink::open(sink.location(), "job/silver", other, vec![])
            .await
            .unwrap_err();
        assert_eq!(err.cause(), Cause::User, "{err}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn replayed_epoch_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let sink = open(&dir).await;
        let files = sink.write_files(&[batch(0..4)]).await.unwrap();
        sink.commit_epoch(7, files).await.unwrap();
        for epoch in [7, 3] {
            let replay = sink.write_files(&[batch(0..4)]).await.unwrap();
            assert_eq!(
                sink.commit_epoch(epoch, replay).await.unwrap(),
                CommitOutcome::AlreadyCommitted
            );
        }
        let table = deltalake::open_table_with_storage_options(
            sink.table_url().clone(),
            sink::storage_options(),
        )
        .await
        .unwrap();
        assert_eq!(table.version(), Some(1));
        assert_eq!(rows_by_date(&sink).await.values().sum::<usize>(), 4);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn empty_epoch_commits_its_txn() {
        let dir = tempfile::tempdir().unwrap();
        let sink = open(&dir).await;
        assert!(sink.write_files(&[]).await.unwrap().is_empty());
        assert!(sink.write_files(&[batch(0..0)]).await.unwrap().is_empty());
        let outcome = sink.commit_epoch(0, vec![]).await.unwrap();
        assert_eq!(outcome, committed(1, 0, 0));
        assert_eq!(sink.committed_epoch().await.unwrap(), Some(0));
        assert_eq!(
            sink.commit_epoch(0, vec![]).await.unwrap(),
            CommitOutcome::AlreadyCommitted
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn files_of_two_workers_commit_in_one_version() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (open(&dir).await, open(&dir).await);
        let mut bytes = Vec::new();
        for (worker, ids) in [(&a, 0..10), (&b, 10..25)] {
            let files = worker.write_files(&[batch(ids)]).await.unwrap();
            bytes.push(serde_json::to_vec(&files).unwrap());
        }
        let files: Vec<DataFile> = bytes
            .iter()
            .flat_map(|b| serde_json::from_slice::<Vec<DataFile>>(b).unwrap())
            .collect();
        assert_eq!(files.len(), 4);
        let outcome = a.commit_epoch(1, files.clone()).await.unwrap();
        assert_eq!(outcome, committed(1, 4, 25));
        // A second committer for the same app id sees the epoch as done.
        assert_eq!(
            b.commit_epoch(1, files).await.unwrap(),
            CommitOutcome::AlreadyCommitted
        );
        assert_eq!(
            rows_by_date(&a).await,
            BTreeMap::from([(DAY, 13), (DAY + 1, 12)])
        );
    }
}
