//! The feed against real Delta tables, checked against versions read by deltalake itself.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Date32Array, Int64Array, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};
use deltalake::datafusion::prelude::SessionContext;
use tokio::runtime::Runtime;

use super::*;
use crate::delta::{DeltaSink, maintenance};

const DAY: i32 = 19_844; // 2024-05-01

/// The newest version of the table [`build`] writes.
const LAST: i64 = 5;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        // Coordinate columns, as a sluice-written table has: not in the feed's rows.
        Field::new("source", DataType::Utf8, false),
        Field::new("offset", DataType::Int64, false),
        Field::new("day", DataType::Date32, false),
    ]))
}

/// Rows `ids`: `name` null for multiples of 5, `day` = DAY + id % 2 (the partition column).
fn batch(ids: std::ops::Range<i64>) -> RecordBatch {
    let ids: Vec<i64> = ids.collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(ids.clone())),
        Arc::new(StringArray::from_iter(
            ids.iter().map(|i| (i % 5 != 0).then(|| format!("n{i}"))),
        )),
        Arc::new(StringArray::from_iter_values(ids.iter().map(|_| "gen"))),
        Arc::new(Int64Array::from_iter_values(ids.iter().map(|i| i * 100))),
        Arc::new(Date32Array::from_iter_values(
            ids.iter().map(|i| DAY + (i % 2) as i32),
        )),
    ];
    RecordBatch::try_new(schema(), columns).unwrap()
}

/// A table through six versions: v0 create, v1 ids 0..8, v2 ids 8..16, v3 delete id 3
/// (rewrites a v1 file), v4 optimize (compacts both partitions, `dataChange = false`), v5
/// delete id 10 (rewrites a compacted file). Returns its location.
async fn build(dir: &tempfile::TempDir) -> String {
    let location = dir.path().join("dim").display().to_string();
    let sink = DeltaSink::open(&location, "test/dim", schema(), vec!["day".into()])
        .await
        .unwrap();
    for (epoch, ids) in [(0, 0..8), (1, 8..16)] {
        let files = sink.write_files(&[batch(ids)]).await.unwrap();
        assert_eq!(files.len(), 2, "one file per day");
        sink.commit_epoch(epoch, files).await.unwrap();
    }
    let deleted = maintenance::delete(&location, "id = 3").await.unwrap();
    assert_eq!((deleted.version, deleted.rows), (3, 1));
    let optimized = maintenance::optimize(&location, &[], None).await.unwrap();
    assert_eq!(optimized.version, 4);
    assert_eq!((optimized.files_removed, optimized.files_added), (4, 2));
    let deleted = maintenance::delete(&location, "id = 10").await.unwrap();
    assert_eq!((deleted.version, deleted.rows), (LAST, 1));
    location
}

/// Each row as text (`names` columns joined by `|`), sorted: a multiset.
fn render(batches: &[RecordBatch], names: &[String]) -> Vec<String> {
    let mut rows = Vec::new();
    for batch in batches {
        let columns: Vec<ArrayRef> = names
            .iter()
            .map(|n| {
                let column = batch.column_by_name(n).unwrap_or_else(|| panic!("no {n}"));
                cast(column, &DataType::Utf8).unwrap()
            })
            .collect();
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = columns
                .iter()
                .map(|c| {
                    let c = c.as_any().downcast_ref::<StringArray>().unwrap();
                    if c.is_null(row) {
                        "∅".to_owned()
                    } else {
                        c.value(row).to_owned()
                    }
                })
                .collect();
            rows.push(cells.join("|"));
        }
    }
    rows.sort();
    rows
}

fn names(feed: &DeltaTableFeed) -> Vec<String> {
    feed.schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

/// Version `version` of the table, read by deltalake's own DataFusion provider.
fn table_rows(runtime: &Runtime, location: &str, version: i64, names: &[String]) -> Vec<String> {
    runtime.block_on(async {
        let mut table = maintenance::open_table(location).await.unwrap();
        table.load_version(version as u64).await.unwrap();
        let ctx = SessionContext::new();
        table.update_datafusion_session(&ctx.state()).unwrap();
        let provider = table.table_provider().await.unwrap();
        let batches = ctx.read_table(provider).unwrap().collect().await.unwrap();
        render(&batches, names)
    })
}

/// `(deleted, inserted)` rows of a range, restricted to share `part` of `parts`.
fn changed(
    feed: &DeltaTableFeed,
    from: Option<i64>,
    to: i64,
    part: usize,
    parts: usize,
) -> (Vec<String>, Vec<String>) {
    let changes = feed.changes(from, to, part, parts).unwrap();
    assert!(changes.dead_letters.is_empty());
    let names = names(feed);
    (
        render(&changes.deleted, &names),
        render(&changes.inserted, &names),
    )
}

/// `rows - deleted + inserted`, failing if a deleted row is not in `rows`.
fn apply(rows: &[String], deleted: &[String], inserted: &[String]) -> Vec<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in rows {
        *counts.entry(r).or_default() += 1;
    }
    for d in deleted {
        let n = counts
            .get_mut(d.as_str())
            .unwrap_or_else(|| panic!("deleted row {d} is not in the earlier version"));
        assert!(*n > 0, "deleted row {d} deleted too often");
        *n -= 1;
    }
    let mut out: Vec<String> = counts
        .into_iter()
        .flat_map(|(r, n)| std::iter::repeat_n(r.to_owned(), n))
        .chain(inserted.iter().cloned())
        .collect();
    out.sort();
    out
}

fn setup() -> (Runtime, tempfile::TempDir, String, DeltaTableFeed) {
    let runtime = Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let location = runtime.block_on(build(&dir));
    let feed = DeltaTableFeed::new(DeltaSourceConfig::new(&location), runtime.handle()).unwrap();
    (runtime, dir, location, feed)
}

#[test]
fn snapshots_equal_the_versions_deltalake_reads() {
    let (runtime, _dir, location, feed) = setup();
    assert_eq!(feed.name(), location);
    assert_eq!(names(&feed), ["id", "name", "day"], "coordinates dropped");
    assert_eq!(feed.schema().field(2).data_type(), &DataType::Date32);
    assert_eq!(feed.latest_version().unwrap(), LAST);
    let names = names(&feed);
    for version in 0..=LAST {
        let expected = table_rows(&runtime, &location, version, &names);
        let (deleted, inserted) = changed(&feed, None, version, 0, 1);
        assert!(deleted.is_empty());
        assert_eq!(inserted, expected, "version {version}");
    }
    // Spot checks of the oracle itself: 16 rows less ids 3 and 10, nulls and partitions.
    let last = table_rows(&runtime, &location, LAST, &names);
    assert_eq!(last.len(), 14);
    assert!(last.contains(&"5|∅|2024-05-02".to_owned()), "{last:?}");
    assert!(
        !last
            .iter()
            .any(|r| r.starts_with("3|") || r.starts_with("10|"))
    );
}

#[test]
fn every_version_range_turns_one_version_into_the_other() {
    let (runtime, _dir, location, feed) = setup();
    let names = names(&feed);
    let versions: Vec<Vec<String>> = (0..=LAST)
        .map(|v| table_rows(&runtime, &location, v, &names))
        .collect();
    for from in 0..=LAST {
        for to in from..=LAST {
            let (deleted, inserted) = changed(&feed, Some(from), to, 0, 1);
            let applied = apply(&versions[from as usize], &deleted, &inserted);
            assert_eq!(applied, versions[to as usize], "{from} -> {to}");
        }
    }
    // The compaction is read on both sides: its files' rows go out and come back.
    let (deleted, inserted) = changed(&feed, Some(3), 4, 0, 1);
    assert_eq!(deleted.len(), 15);
    assert_eq!(deleted, inserted);
    // A delete after it retracts the compacted file's rows and inserts the rewrite.
    let (deleted, inserted) = changed(&feed, Some(4), 5, 0, 1);
    assert!(deleted.contains(&"10|∅|2024-05-01".to_owned()));
    assert_eq!(deleted.len(), inserted.len() + 1);
    // Files added and removed within the range net to nothing.
    let (deleted, inserted) = changed(&feed, Some(0), LAST, 0, 1);
    assert!(deleted.is_empty());
    assert_eq!(inserted, versions[LAST as usize]);
}

#[test]
fn the_shares_of_all_workers_make_the_whole_change() {
    let (_runtime, _dir, _location, feed) = setup();
    let mut ranges: Vec<(Option<i64>, i64)> = (0..=LAST).map(|v| (None, v)).collect();
    for from in 0..LAST {
        ranges.extend((from + 1..=LAST).map(|to| (Some(from), to)));
    }
    for (from, to) in ranges {
        let whole = changed(&feed, from, to, 0, 1);
        let (mut deleted, mut inserted) = (Vec::new(), Vec::new());
        for part in 0..3 {
            let (d, i) = changed(&feed, from, to, part, 3);
            deleted.extend(d);
            inserted.extend(i);
        }
        deleted.sort();
        inserted.sort();
        assert_eq!((deleted, inserted), whole, "{from:?} -> {to}");
    }
    // More workers than files: the extra shares are empty.
    let (deleted, inserted) = changed(&feed, Some(4), 5, 7, 8);
    assert!(deleted.is_empty() && inserted.is_empty());
}

#[test]
fn latest_version_follows_new_commits() {
    let (runtime, _dir, location, feed) = setup();
    assert_eq!(feed.latest_version().unwrap(), LAST);
    runtime.block_on(async {
        let sink = DeltaSink::open(&location, "test/dim", schema(), vec!["day".into()])
            .await
            .unwrap();
        let files = sink.write_files(&[batch(100..102)]).await.unwrap();
        sink.commit_epoch(2, files).await.unwrap();
    });
    assert_eq!(feed.latest_version().unwrap(), LAST + 1);
    assert_eq!(feed.latest_version().unwrap(), LAST + 1);
    let (deleted, inserted) = changed(&feed, Some(LAST), LAST + 1, 0, 1);
    assert!(deleted.is_empty());
    assert_eq!(inserted, ["100|∅|2024-05-01", "101|n101|2024-05-02"]);
    // Equal versions change nothing; going back is refused.
    let (deleted, inserted) = changed(&feed, Some(LAST), LAST, 0, 1);
    assert!(deleted.is_empty() && inserted.is_empty());
    let e = feed.changes(Some(LAST), 2, 0, 1).unwrap_err();
    assert!(!e.retryable, "{}", e.message);
    // A version past the newest is not there yet: a retry may find it.
    let e = feed.changes(Some(LAST), LAST + 3, 0, 1).unwrap_err();
    assert!(e.retryable, "{}", e.message);
    assert!(e.message.contains("not in the log"), "{}", e.message);
}

#[test]
fn a_vacuumed_file_is_a_clear_error() {
    let (runtime, _dir, location, feed) = setup();
    let vacuumed = runtime
        .block_on(maintenance::vacuum(
            &location,
            std::time::Duration::ZERO,
            false,
            false,
        ))
        .unwrap();
    // v3 rewrote the v1 file of 2024-05-02 and v4 and v5 removed the rest.
    assert_eq!(vacuumed.files.len(), 6, "{:?}", vacuumed.files);
    let e = feed.changes(Some(2), 3, 0, 1).unwrap_err();
    let gone = vacuumed
        .files
        .iter()
        .find(|f| e.message.contains(f.as_str()))
        .unwrap_or_else(|| panic!("no vacuumed file named: {}", e.message));
    assert!(gone.starts_with("day=2024-05-02/"), "{gone}");
    assert!(e.message.contains(&location), "{}", e.message);
    assert!(e.message.contains("vacuum retention"), "{}", e.message);
    assert!(!e.retryable);
    // The latest version's files are still there.
    let (_, inserted) = changed(&feed, None, LAST, 0, 1);
    assert_eq!(inserted.len(), 14);
}

#[test]
fn deletion_vectors_are_refused() {
    let (_runtime, _dir, location, feed) = setup();
    let add = serde_json::json!({"add": {
        "path": "day=2024-05-01/with-dv.parquet",
        "partitionValues": {"day": "2024-05-01"},
        "size": 100,
        "modificationTime": 0,
        "dataChange": true,
        "deletionVector": {
            "storageType": "u",
            "pathOrInlineDv": "ab^-aqEH.-t@S}K{vb[*k^",
            "offset": 4,
            "sizeInBytes": 40,
            "cardinality": 6
        }
    }});
    let commit = std::path::Path::new(&location).join(format!("_delta_log/{:020}.json", LAST + 1));
    std::fs::write(commit, format!("{add}\n")).unwrap();
    assert_eq!(feed.latest_version().unwrap(), LAST + 1);
    let e = feed.changes(Some(LAST), LAST + 1, 0, 1).unwrap_err();
    assert!(e.message.contains("deletion vector"), "{}", e.message);
    assert!(e.message.contains("with-dv.parquet"), "{}", e.message);
    assert!(!e.retryable);
}

#[test]
fn time_travel_settings_are_refused() {
    let (runtime, _dir, location, _feed) = setup();
    let mut config = DeltaSourceConfig::new(&location);
    config.version_as_of = Some(1);
    let e = DeltaTableFeed::new(config, runtime.handle()).unwrap_err();
    assert!(e.message.contains("version-as-of"), "{}", e.message);
    let e = DeltaTableFeed::new(
        DeltaSourceConfig::new(format!("{location}-missing")),
        runtime.handle(),
    )
    .unwrap_err();
    assert!(!e.retryable, "{}", e.message);
}
