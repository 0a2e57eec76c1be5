//! File source tests: fixtures written with the Arrow, Parquet, ORC and Avro writers, read
//! back through the [`EpochSource`] API. The text formats' tests are in `text_tests.rs`.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use sluice_checkpoints::SourceRange;
use sluice_engine::runtime::{ConnectorFailure, Cursors, EpochSource, Planned, RangePart, advance};

use super::*;

/// Reads every epoch; returns the ranges of each epoch and all rows and dead letters.
/// Settings of a bounded source over `path` (these tests read to the end).
pub(super) fn bounded(path: impl Into<String>, format: FileFormat) -> FileSourceConfig {
    let mut config = FileSourceConfig::new(path, format);
    config.bounded = true;
    config
}

pub(super) fn read_all(
    source: &dyn EpochSource,
) -> (Vec<Vec<SourceRange>>, RecordBatch, RecordBatch) {
    let mut cursors = source.initial_cursors().unwrap();
    let mut epochs = Vec::new();
    let mut rows = Vec::new();
    let mut dead = Vec::new();
    for epoch in 0.. {
        assert!(epoch < 100, "the source never ends");
        let ranges = match source.next_ranges(epoch, &cursors).unwrap() {
            Planned::Ranges(ranges) => ranges,
            Planned::Exhausted => break,
            Planned::Idle => panic!("a file source is never idle"),
        };
        for range in &ranges {
            let (r, d) = source.read(range, epoch).unwrap();
            assert_eq!(r.schema(), source.schema());
            rows.push(r);
            dead.push(d);
        }
        advance(&mut cursors, &ranges);
        epochs.push(ranges);
    }
    assert!(source.exhausted(&cursors));
    let rows = arrow::compute::concat_batches(&source.schema(), &rows).unwrap();
    let dead = arrow::compute::concat_batches(&crate::dead_letter::schema(), &dead).unwrap();
    (epochs, rows, dead)
}

/// The values of column `name`, displayed (`null` for nulls).
pub(super) fn col(batch: &RecordBatch, name: &str) -> Vec<String> {
    let column = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"));
    let options = FormatOptions::default().with_null("null");
    let f = ArrayFormatter::try_new(column.as_ref(), &options).unwrap();
    (0..column.len()).map(|i| f.value(i).to_string()).collect()
}

pub(super) fn names(schema: &SchemaRef) -> Vec<&str> {
    schema.fields().iter().map(|f| f.name().as_str()).collect()
}

pub(super) fn schema(fields: &[(&str, DataType, bool)]) -> SchemaRef {
    Arc::new(Schema::new(
        fields
            .iter()
            .map(|(n, t, null)| Field::new(*n, t.clone(), *null))
            .collect::<Vec<_>>(),
    ))
}

pub(super) fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

pub(super) fn utc() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn sales() -> RecordBatch {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![1, 2, 3])),
        Arc::new(StringArray::from(vec![Some("apple"), None, Some("cherry")])),
        Arc::new(Float64Array::from(vec![1.5, -2.25, 1e10])),
        Arc::new(
            TimestampMicrosecondArray::from(vec![1_704_067_200_000_000, 1, 5]).with_timezone("UTC"),
        ),
    ];
    let fields = schema(&[
        ("id", DataType::Int64, false),
        ("name", DataType::Utf8, true),
        ("price", DataType::Float64, false),
        ("ts", utc(), false),
    ]);
    RecordBatch::try_new(fields, columns).unwrap()
}

fn write_parquet(path: &Path, batch: &RecordBatch) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(batch).unwrap();
    writer.close().unwrap();
}

fn check_sales(rows: &RecordBatch, file: &str) {
    assert_eq!(col(rows, "id"), ["1", "2", "3"]);
    assert_eq!(col(rows, "name"), ["apple", "null", "cherry"]);
    assert_eq!(col(rows, "price"), ["1.5", "-2.25", "10000000000.0"]);
    let ts = rows.column_by_name("ts").unwrap();
    assert_eq!(ts.data_type(), &utc());
    assert_eq!(
        ts.as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
            .values()
            .as_ref(),
        &[1_704_067_200_000_000, 1, 5]
    );
    assert_eq!(col(rows, "source"), [file; 3]);
    assert_eq!(col(rows, "partition"), ["0"; 3]);
    assert_eq!(col(rows, "offset"), ["0", "1", "2"]);
}

#[test]
fn parquet_round_trips_with_an_inferred_schema() {
    let dir = tempfile::tempdir().unwrap();
    write_parquet(&dir.path().join("a.parquet"), &sales());
    let config = bounded(dir.path().to_str().unwrap(), FileFormat::Parquet);
    let source = FileSource::new(config, None).unwrap();
    assert_eq!(
        names(&source.schema()),
        ["id", "name", "price", "ts", "source", "partition", "offset"]
    );
    let report = source.inference_report().unwrap();
    assert!(
        report.contains("a.parquet") && report.contains("price: Float64"),
        "{report}"
    );
    let (epochs, rows, dead) = read_all(&source);
    assert_eq!(
        epochs,
        vec![vec![SourceRange::offsets("a.parquet", 0, 0, 1)]]
    );
    check_sales(&rows, "a.parquet");
    assert_eq!(dead.num_rows(), 0);
}

#[test]
fn parquet_files_decode_only_the_columns_read() {
    let dir = tempfile::tempdir().unwrap();
    write_parquet(&dir.path().join("a.parquet"), &sales());
    let config = bounded(dir.path().to_str().unwrap(), FileFormat::Parquet);
    // `name` holds text that a BIGINT cannot take: decoded, each row would be a dead letter.
    let declared = schema(&[
        ("id", DataType::Int64, false),
        ("name", DataType::Int64, true),
        ("price", DataType::Float64, false),
        ("ts", utc(), false),
    ]);
    let source = FileSource::new(config, Some(declared)).unwrap();
    let (_, _, dead) = read_all(&source);
    assert_eq!(dead.num_rows(), 2, "the two names that are not numbers");
    let wanted = ["price", "ts", "source", "partition", "offset"].map(String::from);
    let narrowed = source.with_columns(&wanted).expect("Parquet files narrow");
    assert_eq!(names(&narrowed.schema()), wanted);
    let (_, rows, dead) = read_all(narrowed.as_ref());
    assert_eq!(dead.num_rows(), 0, "`name` is never decoded");
    assert_eq!(col(&rows, "price"), ["1.5", "-2.25", "10000000000.0"]);
    assert_eq!(col(&rows, "offset"), ["0", "1", "2"]);
    assert_eq!(col(&rows, "source"), ["a.parquet"; 3]);
    // Without a coordinate named, the rows carry none; dead letters still locate theirs.
    let wanted = ["name", "price"].map(String::from);
    let unlocated = source.with_columns(&wanted).expect("Parquet files narrow");
    assert_eq!(names(&unlocated.schema()), wanted);
    let (_, rows, dead) = read_all(unlocated.as_ref());
    assert_eq!(names(&rows.schema()), wanted);
    assert_eq!(col(&rows, "price"), ["-2.25"]);
    assert_eq!(col(&dead, "source"), ["a.parquet"; 2]);
    assert_eq!(col(&dead, "offset"), ["0", "2"]);
}

#[test]
fn json_lines_decode_only_the_fields_read() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("a.json"),
        "{\"id\": 1, \"name\": \"x\"}\n{\"id\": 2, \"name\": 5}\n{\"id\": \"three\"}\nnot json\n",
    );
    let config = bounded(dir.path().to_str().unwrap(), FileFormat::Json);
    // `name` holds text that a BIGINT cannot take in the first line.
    let declared = schema(&[
        ("id", DataType::Int64, false),
        ("name", DataType::Int64, true),
    ]);
    let source = FileSource::new(config, Some(declared)).unwrap();
    let (_, rows, dead) = read_all(&source);
    assert_eq!(col(&rows, "id"), ["2"]);
    assert_eq!(
        dead.num_rows(),
        3,
        "the text name, the text id, the broken line"
    );
    let wanted = ["id", "source", "partition", "offset"].map(String::from);
    let narrowed = source.with_columns(&wanted).expect("JSON lines narrow");
    assert_eq!(names(&narrowed.schema()), wanted);
    let (_, rows, dead) = read_all(narrowed.as_ref());
    // `name` is skipped, never decoded; a bad `id` and a line that is not JSON still go.
    assert_eq!(col(&rows, "id"), ["1", "2"]);
    assert_eq!(col(&rows, "offset"), ["1", "2"]);
    assert_eq!(dead.num_rows(), 2);
}

/// A CSV job that reads some columns converts only those fields: a bad value in another
/// field no longer makes its record a dead letter (a record of the wrong width still
/// does); without a header, the fields are still the schema's by position.
#[test]
fn csv_files_decode_only_the_fields_read() {
    let dir = tempfile::tempdir().unwrap();
    let declared = schema(&[
        ("id", DataType::Int64, false),
        ("amount", DataType::Int64, true),
        ("name", DataType::Utf8, true),
    ]);
    write(
        &dir.path().join("head/a.csv"),
        "id,amount,name\n1,oops,x\n2,5,y\n3,4\n",
    );
    write(&dir.path().join("bare/a.csv"), "1,oops,x\n2,5,y\n3,4\n");
    for (folder, header) in [("head", true), ("bare", false)] {
        let mut config = bounded(dir.path().join(folder).to_str().unwrap(), FileFormat::Csv);
        config.csv.header = header;
        let source = FileSource::new(config, Some(Arc::clone(&declared))).unwrap();
        let (_, rows, dead) = read_all(&source);
        assert_eq!(col(&rows, "id"), ["2"], "{folder}");
        assert_eq!(
            dead.num_rows(),
            2,
            "{folder}: `oops`, and a line of two fields"
        );
        let wanted = ["id", "name", "offset"].map(String::from);
        let narrowed = source.with_columns(&wanted).expect("CSV narrows");
        let (_, rows, dead) = read_all(narrowed.as_ref());
        assert_eq!(col(&rows, "id"), ["1", "2"], "{folder}");
        assert_eq!(col(&rows, "name"), ["x", "y"], "{folder}");
        assert_eq!(
            col(&rows, "offset"),
            [
                format!("{}", 1 + u8::from(header)),
                format!("{}", 2 + u8::from(header))
            ],
            "{folder}"
        );
        assert!(rows.column_by_name("amount").is_none(), "{folder}");
        assert_eq!(dead.num_rows(), 1, "{folder}: the line of two fields");
    }
}

#[test]
fn orc_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.orc");
    let batch = sales();
    let file = std::fs::File::create(&path).unwrap();
    let mut writer = orc_rust::ArrowWriterBuilder::new(file, batch.schema())
        .try_build()
        .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let config = bounded(path.to_str().unwrap(), FileFormat::Orc);
    let source = FileSource::new(config, None).unwrap();
    let (_, rows, dead) = read_all(&source);
    check_sales(&rows, "a.orc");
    assert_eq!(dead.num_rows(), 0);
}

#[test]
fn a_declared_schema_casts_by_name_and_isolates_bad_values() {
    let dir = tempfile::tempdir().unwrap();
    let batch = RecordBatch::try_new(
        schema(&[
            ("extra", DataType::Boolean, false),
            ("id", DataType::Utf8, true),
            ("qty", DataType::Int64, true),
        ]),
        vec![
            Arc::new(arrow::array::BooleanArray::from(vec![
                true, false, true, true,
            ])),
            Arc::new(StringArray::from(vec![
                Some("10"),
                Some("x"),
                Some("30"),
                None,
            ])),
            Arc::new(Int64Array::from(vec![
                Some(1),
                Some(2),
                Some(3_000_000_000),
                Some(4),
            ])),
        ],
    )
    .unwrap();
    write_parquet(&dir.path().join("a.parquet"), &batch);
    let declared = schema(&[
        ("qty", DataType::Int32, true),
        ("id", DataType::Int64, false),
        ("note", DataType::Utf8, true),
    ]);
    let config = bounded(dir.path().to_str().unwrap(), FileFormat::Parquet);
    let source = FileSource::new(config.clone(), Some(declared)).unwrap();
    assert!(source.inference_report().is_none());
    let (_, rows, dead) = read_all(&source);
    // Row 1: "x" is not a number; row 2: 3e9 overflows Int32; row 3: id is null.
    assert_eq!(col(&rows, "qty"), ["1"]);
    assert_eq!(col(&rows, "id"), ["10"]);
    assert_eq!(col(&rows, "note"), ["null"]);
    assert_eq!(col(&rows, "offset"), ["0"]);
    assert_eq!(col(&dead, "offset"), ["1", "2", "3"]);
    assert_eq!(col(&dead, "reason"), ["parse_error"; 3]);
    assert_eq!(col(&dead, "source"), ["a.parquet"; 3]);
    assert_eq!(
        col(&dead, "error"),
        [
            r#"field "id": cannot read "x" as Int64"#,
            r#"field "qty": cannot read "3000000000" as Int32"#,
            r#"field "id": null"#,
        ]
    );
    // The payload holds the columns the schema reads (the others are not read at all).
    assert_eq!(col(&dead, "payload")[0], r#"{"id":"x","qty":2}"#);

    // A required column the file lacks is an error naming the file.
    let required = schema(&[("missing", DataType::Int64, false)]);
    let source = FileSource::new(config, Some(required)).unwrap();
    let range = SourceRange::offsets("a.parquet", 0, 0, 1);
    let err = source.read(&range, 0).unwrap_err();
    assert!(
        err.message.contains("a.parquet") && err.message.contains("\"missing\""),
        "{}",
        err.message
    );
    assert!(!err.retryable);
}

fn write_avro(path: &Path) {
    let avsc = r#"{"type": "record", "name": "sale", "fields": [
        {"name": "id", "type": "long"},
        {"name": "name", "type": ["null", "string"]},
        {"name": "price", "type": "double"},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "kind", "type": {"type": "enum", "name": "k", "symbols": ["A", "B"]}},
        {"name": "code", "type": "string"}
    ]}"#;
    let avro = apache_avro::Schema::parse_str(avsc).unwrap();
    let mut writer = apache_avro::Writer::new(&avro, Vec::new());
    use apache_avro::types::Value;
    for (id, name, price, ts, kind, code) in [
        (1i64, Some("apple"), 1.5f64, 1_704_067_200_000i64, 0u32, "7"),
        (2, None, -2.25, 0, 1, "x"),
    ] {
        let mut record = apache_avro::types::Record::new(writer.schema()).unwrap();
        record.put("id", id);
        record.put(
            "name",
            match name {
                Some(n) => Value::Union(1, Box::new(Value::String(n.into()))),
                None => Value::Union(0, Box::new(Value::Null)),
            },
        );
        record.put("price", price);
        record.put("ts", Value::TimestampMillis(ts));
        record.put("kind", Value::Enum(kind, ["A", "B"][kind as usize].into()));
        record.put("code", code);
        writer.append(record).unwrap();
    }
    std::fs::write(path, writer.into_inner().unwrap()).unwrap();
}

#[test]
fn avro_container_files_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    write_avro(&dir.path().join("a.avro"));
    let config = bounded(dir.path().to_str().unwrap(), FileFormat::Avro);
    let source = FileSource::new(config.clone(), None).unwrap();
    let (_, rows, dead) = read_all(&source);
    assert_eq!(col(&rows, "id"), ["1", "2"]);
    assert_eq!(col(&rows, "name"), ["apple", "null"]);
    assert_eq!(col(&rows, "price"), ["1.5", "-2.25"]);
    let ts = rows.column_by_name("ts").unwrap();
    assert_eq!(ts.data_type(), &utc());
    assert_eq!(
        ts.as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
            .values()
            .as_ref(),
        &[1_704_067_200_000_000, 0]
    );
    assert_eq!(col(&rows, "kind"), ["A", "B"]);
    assert_eq!(col(&rows, "offset"), ["0", "1"]);
    assert_eq!(dead.num_rows(), 0);

    // Declared: `code` as a number; "x" does not convert.
    let declared = schema(&[
        ("code", DataType::Int64, true),
        ("id", DataType::Int32, false),
    ]);
    let source = FileSource::new(config, Some(declared)).unwrap();
    let (_, rows, dead) = read_all(&source);
    assert_eq!(col(&rows, "code"), ["7"]);
    assert_eq!(col(&rows, "id"), ["1"]);
    assert_eq!(col(&dead, "offset"), ["1"]);
    // Not narrowed, the dead letter holds the whole record, columns never declared too.
    assert!(col(&dead, "payload")[0].contains(r#""code":"x""#));
    assert!(col(&dead, "payload")[0].contains(r#""price":-2.25"#));

    // A job reading only `id` has no `code` to convert: both rows are kept.
    let narrowed = source
        .with_columns(&["id", "offset"].map(String::from))
        .expect("Avro files narrow");
    let (_, rows, dead) = read_all(narrowed.as_ref());
    assert_eq!(col(&rows, "id"), ["1", "2"]);
    assert_eq!(
        names(&rows.schema()),
        ["id", "source", "partition", "offset"]
    );
    assert_eq!(dead.num_rows(), 0);
}

#[test]
fn hive_partitions_become_columns_and_are_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    write(&base.join("date=2024-01-02/region=eu/p.csv"), "n\n2\n");
    write(&base.join("date=2024-01-01/region=us/p.csv"), "n\n1\n");
    write(
        &base.join("date=2024-01-03/region=eu%2Fwest/p.csv"),
        "n\n3\n",
    );
    write(&base.join("date=2024-01-03/_SUCCESS"), "");
    write(&base.join(".hidden/p.csv"), "n\n99\n");
    let declared = schema(&[("n", DataType::Int64, true)]);
    let mut config = bounded(base.to_str().unwrap(), FileFormat::Csv);
    let source = FileSource::new(config.clone(), Some(declared.clone())).unwrap();
    assert_eq!(
        names(&source.schema()),
        ["n", "date", "region", "source", "partition", "offset"]
    );
    let (_, rows, _) = read_all(&source);
    assert_eq!(col(&rows, "n"), ["1", "2", "3"]);
    assert_eq!(
        col(&rows, "date"),
        ["2024-01-01", "2024-01-02", "2024-01-03"]
    );
    assert_eq!(col(&rows, "region"), ["us", "eu", "eu/west"]);
    assert_eq!(
        col(&rows, "source")[2],
        "date=2024-01-03/region=eu%2Fwest/p.csv"
    );

    config.partition_filter = Some("date >= '2024-01-02' AND region LIKE 'eu%'".into());
    let source = FileSource::new(config.clone(), Some(declared.clone())).unwrap();
    assert_eq!(
        source.files(),
        [
            "date=2024-01-02/region=eu/p.csv",
            "date=2024-01-03/region=eu%2Fwest/p.csv"
        ]
    );
    assert_eq!(col(&read_all(&source).1, "n"), ["2", "3"]);

    config.partition_filter = Some("n > 1".into());
    let err = FileSource::new(config.clone(), Some(declared.clone())).unwrap_err();
    assert!(matches!(err, FileError::Setting { .. }), "{err}");
    assert!(err.to_string().contains("date, region"), "{err}");

    // A recursive glob finds the same files, partitions relative to the part before `**`.
    let mut glob = bounded(format!("{}/**/*.csv", base.display()), FileFormat::Csv);
    glob.partition_filter = Some("region = 'us'".into());
    let source = FileSource::new(glob, Some(declared.clone())).unwrap();
    assert_eq!(source.files(), ["date=2024-01-01/region=us/p.csv"]);
    assert_eq!(col(&read_all(&source).1, "date"), ["2024-01-01"]);

    config.partition_filter = None;
    config.hive_partitioning = false;
    let source = FileSource::new(config, Some(declared)).unwrap();
    assert_eq!(
        names(&source.schema()),
        ["n", "source", "partition", "offset"]
    );
}

#[test]
fn unreadable_files_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("a.parquet");
    write_parquet(&good, &sales());
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(dir.path().join("b.parquet"), &bytes[..bytes.len() / 2]).unwrap();
    let config = bounded(dir.path().to_str().unwrap(), FileFormat::Parquet);
    let source = FileSource::new(config, None).unwrap();
    let err = source
        .read(&SourceRange::offsets("b.parquet", 0, 0, 1), 0)
        .unwrap_err();
    let b = dir.path().join("b.parquet");
    assert!(
        err.message
            .starts_with(&format!("reading {}: ", b.display())),
        "{}",
        err.message
    );
    assert!(!err.retryable);

    std::fs::remove_file(&good).unwrap();
    let err = source
        .read(&SourceRange::offsets("a.parquet", 0, 0, 1), 0)
        .unwrap_err();
    assert!(
        err.message.contains(&good.display().to_string()),
        "{}",
        err.message
    );
    let err = source
        .read(&SourceRange::offsets("zzz.parquet", 0, 0, 1), 0)
        .unwrap_err();
    assert!(err.message.contains("zzz.parquet"), "{}", err.message);

    write(&dir.path().join("x.avro"), "not avro at all");
    let config = bounded(
        dir.path().join("x.avro").to_str().unwrap(),
        FileFormat::Avro,
    );
    let err = FileSource::new(config.clone(), None).unwrap_err();
    assert!(err.to_string().contains("x.avro"), "{err}");
    let declared = schema(&[("id", DataType::Int64, true)]);
    let source = FileSource::new(config, Some(declared)).unwrap();
    let err = source
        .read(&SourceRange::offsets("x.avro", 0, 0, 1), 0)
        .unwrap_err();
    assert!(
        err.message.contains("x.avro") && err.message.contains("Avro"),
        "{}",
        err.message
    );

    let missing = bounded(dir.path().join("nope").to_str().unwrap(), FileFormat::Csv);
    assert!(
        FileSource::new(missing, None)
            .unwrap_err()
            .to_string()
            .contains("does not exist")
    );
}

#[test]
fn files_are_read_in_path_order_in_bounded_epochs() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["c", "a", "d", "b", "e"] {
        write(
            &dir.path().join(format!("{name}.json")),
            &format!("{{\"f\": \"{name}\"}}\n"),
        );
    }
    write(&dir.path().join("sub/z.txt"), "not json\n");
    let declared = schema(&[("f", DataType::Utf8, false)]);
    let mut config = bounded(format!("{}/*.json", dir.path().display()), FileFormat::Json);
    config.max_files_per_epoch = Some(2);
    let source = FileSource::new(config, Some(declared)).unwrap();
    assert_eq!(source.base(), dir.path());
    let (epochs, rows, dead) = read_all(&source);
    // Every epoch names only the files it reads (a restart takes the others' cursors from
    // the snapshot's cursor record), so an entry stays as small as an epoch.
    assert!(epochs.iter().flatten().all(|r| !r.is_empty()));
    let planned: Vec<Vec<&str>> = epochs
        .iter()
        .map(|e| {
            e.iter()
                .filter(|r| !r.is_empty())
                .map(|r| r.source.as_str())
                .collect()
        })
        .collect();
    assert_eq!(
        planned,
        [
            vec!["a.json", "b.json"],
            vec!["c.json", "d.json"],
            vec!["e.json"]
        ]
    );
    assert!(epochs.iter().flatten().filter(|r| !r.is_empty()).all(|r| (
        r.partition,
        r.start,
        r.end
    ) == (0, 0, 1)));
    assert_eq!(col(&rows, "f"), ["a", "b", "c", "d", "e"]);
    assert_eq!(dead.num_rows(), 0);
    // A restart resumes after the files already read.
    let mut cursors = source.initial_cursors().unwrap();
    advance(&mut cursors, &epochs[0]);
    let Planned::Ranges(next) = source.next_ranges(1, &cursors).unwrap() else {
        panic!("expected ranges");
    };
    assert_eq!(next, epochs[1]);
    // A cursor record names every file (read or not); a restart from it plans the rest.
    advance(&mut cursors, &epochs[1]);
    let mut rebuilt = Cursors::new();
    let record: Vec<SourceRange> = cursors
        .iter()
        .map(|((file, part), c)| SourceRange::offsets(file.clone(), *part, c.offset, c.offset))
        .collect();
    advance(&mut rebuilt, &record);
    let Planned::Ranges(after) = source.next_ranges(2, &rebuilt).unwrap() else {
        panic!("expected ranges");
    };
    assert_eq!(after, epochs[2]);
    let offsets = rows
        .column_by_name("offset")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert!(offsets.values().iter().all(|&o| o == 1));
}

#[test]
fn settings_are_kebab_case_and_checked() {
    let config: FileSourceConfig = serde_json::from_str(
        r#"{"path": "/d", "format": "orc", "hive-partitioning": false,
            "max-files-per-epoch": 3, "csv": {"header": false}}"#,
    )
    .unwrap();
    assert_eq!(config.format, FileFormat::Orc);
    assert!(!config.hive_partitioning);
    assert_eq!(config.max_files_per_epoch, Some(3));
    assert_eq!(config.csv.delimiter, ',');
    assert_eq!(config.infer_records, 1000);
    assert!(
        serde_json::from_str::<FileSourceConfig>(r#"{"path": "/d", "format": "csv", "typo": 1}"#)
            .is_err()
    );
    assert!(
        serde_json::from_str::<FileSourceConfig>(r#"{"path": "/d", "format": "xls"}"#).is_err()
    );

    let dir = tempfile::tempdir().unwrap();
    let mut config = bounded(dir.path().to_str().unwrap(), FileFormat::Csv);
    config.max_files_per_epoch = Some(0);
    assert!(
        FileSource::new(config.clone(), None)
            .unwrap_err()
            .to_string()
            .contains("max-files-per-epoch")
    );
    config.max_files_per_epoch = None;
    config.csv.delimiter = 'é';
    assert!(
        FileSource::new(config.clone(), None)
            .unwrap_err()
            .to_string()
            .contains("csv.delimiter")
    );
    config.csv.delimiter = ',';
    // No files: nothing to infer from, but a declared schema gives an empty bounded source.
    assert!(matches!(
        FileSource::new(config.clone(), None),
        Err(FileError::Inference(_))
    ));
    let source = FileSource::new(config, Some(schema(&[("a", DataType::Utf8, true)]))).unwrap();
    assert_eq!(
        source
            .next_ranges(0, &source.initial_cursors().unwrap())
            .unwrap(),
        Planned::Exhausted
    );
    let clash = schema(&[("offset", DataType::Int64, true)]);
    let dir_config = bounded(dir.path().to_str().unwrap(), FileFormat::Json);
    assert!(
        FileSource::new(dir_config, Some(clash))
            .unwrap_err()
            .to_string()
            .contains("coordinate")
    );
}

#[test]
fn a_parquet_file_is_handed_over_batch_by_batch_as_it_is_decoded() {
    let dir = tempfile::tempdir().unwrap();
    // Three record batches of the reader; the text "bad" in the third is a dead letter.
    let n = 2 * columnar::BATCH_ROWS + 10;
    let bad = 2 * columnar::BATCH_ROWS + 3;
    let ids: Vec<String> = (0..n)
        .map(|i| {
            if i == bad {
                "bad".into()
            } else {
                i.to_string()
            }
        })
        .collect();
    let batch = RecordBatch::try_new(
        schema(&[("id", DataType::Utf8, false)]),
        vec![Arc::new(StringArray::from(ids))],
    )
    .unwrap();
    write_parquet(&dir.path().join("a.parquet"), &batch);
    let declared = schema(&[("id", DataType::Int64, false)]);
    let config = bounded(dir.path().to_str().unwrap(), FileFormat::Parquet);
    let source = FileSource::new(config, Some(declared)).unwrap();
    let range = SourceRange::offsets("a.parquet", 0, 0, 1);

    let mut parts = Vec::new();
    source
        .read_each(&range, 0, &mut |part| {
            parts.push(part);
            Ok(())
        })
        .unwrap();
    let shapes: Vec<(&str, usize, String)> = parts
        .iter()
        .map(|part| match part {
            RangePart::Rows(b) => ("rows", b.num_rows(), col(b, "offset")[0].clone()),
            RangePart::DeadLetters(b) => ("dead", b.num_rows(), col(b, "offset")[0].clone()),
        })
        .collect();
    let third = 2 * columnar::BATCH_ROWS;
    assert_eq!(
        shapes,
        [
            ("rows", columnar::BATCH_ROWS, "0".to_string()),
            (
                "rows",
                columnar::BATCH_ROWS,
                columnar::BATCH_ROWS.to_string()
            ),
            ("dead", 1, bad.to_string()),
            ("rows", 9, third.to_string()),
        ]
    );
    let RangePart::Rows(last) = &parts[3] else {
        panic!("the last part holds rows")
    };
    let expected: Vec<String> = (third..n)
        .filter(|&i| i != bad)
        .map(|i| i.to_string())
        .collect();
    assert_eq!(col(last, "id"), expected);
    assert_eq!(col(last, "offset"), expected);

    // What the receiver fails with ends the read: no further batch is decoded.
    let mut calls = 0;
    let err = source
        .read_each(&range, 0, &mut |_| {
            calls += 1;
            Err(ConnectorFailure::new("the dataflow stopped", false))
        })
        .unwrap_err();
    assert_eq!((calls, err.message.as_str()), (1, "the dataflow stopped"));
    // `read` still returns the whole file at once.
    let (rows, dead) = source.read(&range, 0).unwrap();
    assert_eq!((rows.num_rows(), dead.num_rows()), (n - 1, 1));
}
