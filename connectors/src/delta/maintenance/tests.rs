//! The table maintenance operations, against tables written for each test.

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
