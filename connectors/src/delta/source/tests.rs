//! The Delta source's tests: snapshots, time travel, tailing, declared columns.

use arrow::array::{AsArray, Date32Array, Int64Array};
use arrow::datatypes::{DataType, Field, Int64Type};
use sluice_engine::runtime::advance;

use super::*;
use crate::delta::DeltaSink;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("n", DataType::Int64, false),
        Field::new("day", DataType::Date32, false),
    ]))
}

async fn append(sink: &DeltaSink, epoch: u64) {
    let batch = RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(Int64Array::from(vec![
                epoch as i64 * 10,
                epoch as i64 * 10 + 1,
            ])),
            Arc::new(Date32Array::from(vec![20_000 + epoch as i32; 2])),
        ],
    )
    .unwrap();
    let files = sink.write_files(&[batch]).await.unwrap();
    sink.commit_epoch(epoch, files).await.unwrap();
}

/// Reads every planned epoch until the source is exhausted or idle; returns sorted `n`.
fn drain(source: &DeltaSource, cursors: &mut Cursors) -> Vec<i64> {
    let mut values = Vec::new();
    for epoch in 0..100 {
        let ranges = match source.next_ranges(epoch, cursors).unwrap() {
            Planned::Ranges(r) => r,
            Planned::Idle | Planned::Exhausted => break,
        };
        for r in &ranges {
            let (rows, _) = source.read(r, epoch).unwrap();
            values.extend(rows.column(0).as_primitive::<Int64Type>().values().iter());
            if rows.num_rows() > 0 {
                let days = rows
                    .column(1)
                    .as_primitive::<arrow::datatypes::Date32Type>();
                assert_eq!(
                    days.value(0) as i64 - 20_000,
                    rows.column(0).as_primitive::<Int64Type>().value(0) / 10
                );
            }
        }
        advance(cursors, &ranges);
    }
    values.sort_unstable();
    values
}

/// A table partitioned by `day` with the rows of `epochs` appended, one version each
/// (version 0 creates it); the runtime, directory and sink stay for more appends.
fn table(
    epochs: u64,
) -> (
    tokio::runtime::Runtime,
    tempfile::TempDir,
    String,
    DeltaSink,
) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").display().to_string();
    let sink = runtime
        .block_on(DeltaSink::open(
            &location,
            "w/t",
            schema(),
            vec!["day".into()],
        ))
        .unwrap();
    for e in 0..epochs {
        runtime.block_on(append(&sink, e));
    }
    (runtime, dir, location, sink)
}

/// Declared columns must be the table's, of its types; a subset is enough.
#[test]
fn declared_columns_are_checked_against_the_table() {
    let (runtime, _dir, location, _sink) = table(1);
    let source = DeltaSource::new(DeltaSourceConfig::new(&location), runtime.handle()).unwrap();
    let declared = |fields: Vec<Field>| Schema::new(fields);
    source
        .check_declared(&declared(vec![Field::new("n", DataType::Int64, true)]))
        .unwrap();
    let err = source
        .check_declared(&declared(vec![
            Field::new("n", DataType::Float64, false),
            Field::new("missing", DataType::Utf8, true),
            Field::new("day", DataType::Date32, false),
        ]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`n` is a Int64 in the table, declared Float64")
            && err.contains("`missing` is not a column of the table")
            && !err.contains("`day`")
            && err.contains("the table has: n Int64, day Date32"),
        "{err}"
    );
}

#[test]
fn snapshots_time_travel_and_tailing() {
    let (runtime, _dir, location, sink) = table(3);
    // Version 2 holds epochs 0 and 1 (version 0 created the table).
    let mut config = DeltaSourceConfig::new(&location);
    config.version_as_of = Some(2);
    let old = DeltaSource::new(config, runtime.handle()).unwrap();
    let mut cursors = old.initial_cursors().unwrap();
    assert_eq!(drain(&old, &mut cursors), vec![0, 1, 10, 11]);
    assert!(old.exhausted(&cursors));

    let mut tail_config = DeltaSourceConfig::new(&location);
    tail_config.max_files_per_epoch = Some(1);
    let tail = DeltaSource::new(tail_config, runtime.handle()).unwrap();
    let mut cursors = tail.initial_cursors().unwrap();
    assert_eq!(drain(&tail, &mut cursors), vec![0, 1, 10, 11, 20, 21]);
    assert!(matches!(
        tail.next_ranges(9, &cursors).unwrap(),
        Planned::Idle
    ));
    // A new append is read; an optimize (dataChange=false) is not read again.
    runtime.block_on(append(&sink, 3));
    runtime
        .block_on(super::super::maintenance::optimize(&location, &[], None))
        .unwrap();
    assert_eq!(drain(&tail, &mut cursors), vec![30, 31]);
    assert!(!tail.exhausted(&cursors));

    // starting-version: no snapshot, the appends of that version on (epoch 2 is
    // version 3), then the tail as before.
    let mut from = DeltaSourceConfig::new(&location);
    from.starting_version = Some(3);
    let from = DeltaSource::new(from, runtime.handle()).unwrap();
    let mut cursors = from.initial_cursors().unwrap();
    assert_eq!(drain(&from, &mut cursors), vec![20, 21, 30, 31]);
    for bad in [-1, 9] {
        let mut config = DeltaSourceConfig::new(&location);
        config.starting_version = Some(bad);
        let e = DeltaSource::new(config, runtime.handle())
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("starting-version {bad}")), "{e}");
    }
}

#[test]
fn a_narrowed_source_reads_only_the_columns_named() {
    let (runtime, _dir, location, _sink) = table(2);
    let mut config = DeltaSourceConfig::new(&location);
    config.bounded = true;
    let source = DeltaSource::new(config, runtime.handle()).unwrap();
    let read = |columns: &[&str]| {
        let columns: Vec<String> = columns.iter().map(|c| (*c).to_owned()).collect();
        let narrowed = source.with_columns(&columns).expect("Delta tables narrow");
        let cursors = narrowed.initial_cursors().unwrap();
        let Planned::Ranges(ranges) = narrowed.next_ranges(0, &cursors).unwrap() else {
            panic!("the snapshot's files to read");
        };
        let mut rows = Vec::new();
        for range in &ranges {
            let (batch, _) = narrowed.read(range, 0).unwrap();
            assert_eq!(batch.schema(), narrowed.schema());
            rows.push(batch);
        }
        let names: Vec<String> = narrowed
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        (
            names,
            arrow::compute::concat_batches(&narrowed.schema(), &rows).unwrap(),
        )
    };
    let (names, rows) = read(&["n", "source", "partition", "offset"]);
    assert_eq!(names, ["n", "source", "partition", "offset"]);
    let mut n: Vec<i64> = rows.column(0).as_primitive::<Int64Type>().values().to_vec();
    n.sort_unstable();
    assert_eq!(n, [0, 1, 10, 11]);
    // Only the partition column: its values come from the log, the rows still count.
    let (names, rows) = read(&["day", "source", "partition", "offset"]);
    assert_eq!(names, ["day", "source", "partition", "offset"]);
    assert_eq!(rows.num_rows(), 4);
}

#[test]
fn a_missing_version_is_a_clear_error() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("t").display().to_string();
    runtime
        .block_on(DeltaSink::open(&location, "w/t", schema(), vec![]))
        .unwrap();
    let mut config = DeltaSourceConfig::new(&location);
    config.version_as_of = Some(7);
    let e = DeltaSource::new(config, runtime.handle())
        .unwrap_err()
        .to_string();
    assert!(e.contains("version-as-of 7"), "{e}");
}
