//! CSV and JSON-lines tests of the file source, through the engine's `EpochSource` API.

use arrow::array::AsArray;
use arrow::datatypes::DataType;

use super::tests::{bounded, col, names, read_all, schema, utc, write};
use super::*;

#[test]
fn csv_bad_rows_become_dead_letters_with_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = "id,name,price\n\
                1,apple,1.5\n\
                2,banana\n\
                3,\"cherry, red\",oops\n\
                4,\"multi\nline\",2\n\
                5,,\n";
    write(&dir.path().join("a.csv"), text);
    let declared = schema(&[
        ("id", DataType::Int64, false),
        ("name", DataType::Utf8, true),
        ("price", DataType::Float64, true),
    ]);
    let config = bounded(dir.path().to_str().unwrap(), FileFormat::Csv);
    let source = FileSource::new(config.clone(), Some(declared)).unwrap();
    let (_, rows, dead) = read_all(&source);
    assert_eq!(col(&rows, "id"), ["1", "4", "5"]);
    assert_eq!(col(&rows, "name"), ["apple", "multi\nline", "null"]);
    assert_eq!(col(&rows, "price"), ["1.5", "2.0", "null"]);
    assert_eq!(col(&rows, "offset"), ["2", "5", "7"]);
    assert_eq!(col(&rows, "source"), ["a.csv"; 3]);
    assert_eq!(col(&dead, "offset"), ["3", "4"]);
    assert_eq!(
        col(&dead, "payload"),
        ["2,banana", "3,\"cherry, red\",oops"]
    );
    assert_eq!(
        col(&dead, "error"),
        [
            "expected 3 fields, got 2",
            r#"field "price": cannot read "oops" as Float64"#
        ]
    );
    assert_eq!(col(&dead, "source"), ["a.csv"; 2]);

    // Inferred: rows of the wrong width are left out of the sample, but "oops" is a fine
    // string, so `price` is inferred as Utf8 and only the short row is a dead letter.
    let source = FileSource::new(config, None).unwrap();
    assert_eq!(
        source
            .data_schema()
            .fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect::<Vec<_>>(),
        [DataType::Int64, DataType::Utf8, DataType::Utf8]
    );
    let report = source.inference_report().unwrap();
    assert!(
        report.contains("the first 4 records of 1 file (a.csv)"),
        "{report}"
    );
    let (_, rows, dead) = read_all(&source);
    assert_eq!(col(&rows, "id"), ["1", "3", "4", "5"]);
    assert_eq!(col(&rows, "price"), ["1.5", "oops", "2", "null"]);
    assert_eq!(col(&dead, "offset"), ["3"]);
}

#[test]
fn csv_dialect_without_header_matches_by_position() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("a.txt"), "1;'a;b'\n2;'it''s'\n");
    let mut config = bounded(dir.path().to_str().unwrap(), FileFormat::Csv);
    config.csv = CsvOptions {
        header: false,
        delimiter: ';',
        quote: '\'',
    };
    let declared = schema(&[("n", DataType::Int32, false), ("s", DataType::Utf8, false)]);
    let source = FileSource::new(config.clone(), Some(declared)).unwrap();
    let (_, rows, _) = read_all(&source);
    assert_eq!(col(&rows, "n"), ["1", "2"]);
    assert_eq!(col(&rows, "s"), ["a;b", "it's"]);
    assert_eq!(col(&rows, "offset"), ["1", "2"]);
    let inferred = FileSource::new(config, None).unwrap();
    assert_eq!(names(inferred.data_schema()), ["column_1", "column_2"]);
    assert_eq!(col(&read_all(&inferred).1, "column_2"), ["a;b", "it's"]);
}

#[test]
fn json_lines_isolate_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let text = concat!(
        "{\"id\": 1, \"name\": \"a\", \"at\": \"2024-01-01T00:00:00Z\"}\n",
        "\n",
        "{\"id\": 2, \"name\": \n",
        "{\"id\": \"three\", \"name\": \"c\"}\n",
        "{\"id\": 4, \"at\": 1704067200000}\r\n",
    );
    write(&dir.path().join("a.json"), text);
    let declared = schema(&[
        ("id", DataType::Int64, false),
        ("name", DataType::Utf8, true),
        ("at", utc(), true),
    ]);
    let config = bounded(dir.path().to_str().unwrap(), FileFormat::Json);
    let source = FileSource::new(config.clone(), Some(declared)).unwrap();
    let (_, rows, dead) = read_all(&source);
    assert_eq!(col(&rows, "id"), ["1", "4"]);
    assert_eq!(col(&rows, "name"), ["a", "null"]);
    let at = rows
        .column_by_name("at")
        .unwrap()
        .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
    assert_eq!(
        at.values().as_ref(),
        &[1_704_067_200_000_000, 1_704_067_200_000_000]
    );
    assert_eq!(col(&rows, "offset"), ["1", "5"]);
    assert_eq!(col(&dead, "offset"), ["3", "4"]);
    assert_eq!(
        col(&dead, "payload"),
        [
            "{\"id\": 2, \"name\": ",
            "{\"id\": \"three\", \"name\": \"c\"}"
        ]
    );
    assert_eq!(col(&dead, "source"), ["a.json"; 2]);

    // Inferred: `at` is a string (JSON has no timestamp type); the bad line is skipped.
    let source = FileSource::new(config, None).unwrap();
    assert_eq!(names(source.data_schema()), ["id", "name", "at"]);
    assert_eq!(source.data_schema().field(2).data_type(), &DataType::Utf8);
}

#[test]
fn nested_json_uses_arrow_json_and_still_isolates_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let text = concat!(
        "{\"id\": 1, \"tags\": [\"x\", \"y\"], \"geo\": {\"lat\": 1.5}}\n",
        "{\"id\": 2, \"tags\": \"not a list\"}\n",
        "{\"id\": 3, \"tags\": [], \"geo\": {\"lat\": -2}}\n",
    );
    write(&dir.path().join("n.json"), text);
    let config = bounded(dir.path().to_str().unwrap(), FileFormat::Json);
    let source = FileSource::new(config, None).unwrap();
    assert!(matches!(
        source.data_schema().field(1).data_type(),
        DataType::List(_)
    ));
    let (_, rows, dead) = read_all(&source);
    assert_eq!(col(&rows, "id"), ["1", "3"]);
    assert_eq!(col(&rows, "tags"), ["[x, y]", "[]"]);
    assert_eq!(col(&rows, "geo"), ["{lat: 1.5}", "{lat: -2.0}"]);
    assert_eq!(col(&rows, "offset"), ["1", "3"]);
    assert_eq!(col(&dead, "offset"), ["2"]);
    assert_eq!(
        col(&dead, "payload"),
        ["{\"id\": 2, \"tags\": \"not a list\"}"]
    );
}
