//! DDL parsing: source and sink tables, rules, watermarks and options.

use super::*;

#[test]
fn a_source_table_with_rules_and_a_watermark() {
    let t = CreateStatement::parse(
        "CREATE TABLE events (id STRING NOT NULL, ts TIMESTAMP, v DOUBLE, \
         CONSTRAINT positive CHECK (v > 0), \
         WATERMARK FOR ts AS ts - INTERVAL '10' MINUTE) \
         WITH ('connector' = 'kafka', 'topics' = '[a, b]', 'format' = 'json')",
    )
    .unwrap()
    .source()
    .unwrap();
    assert_eq!(t.name, "events");
    assert_eq!(t.connector, "kafka");
    assert_eq!(t.format.as_deref(), Some("json"));
    assert_eq!(
        t.options["topics"],
        Value::Sequence(vec!["a".into(), "b".into()])
    );
    assert_eq!(t.columns[0], ("id".into(), "string".into(), false));
    assert_eq!(t.checks, vec![("positive".into(), "v > 0".into())]);
    assert_eq!(t.watermark, Some(("ts".into(), Duration::from_secs(600))));
}

#[test]
fn a_column_check_is_a_rule_named_after_its_column() {
    let t = CreateStatement::parse(
        "CREATE TABLE events (id STRING NOT NULL, v DOUBLE CHECK (v > 0), \
         CONSTRAINT small CHECK (v < 10)) WITH ('connector' = 'generator')",
    )
    .unwrap()
    .source()
    .unwrap();
    assert_eq!(
        t.checks,
        vec![
            ("v_check".into(), "v > 0".into()),
            ("small".into(), "v < 10".into())
        ]
    );
}

#[test]
fn clauses_a_create_table_does_not_run_are_refused_not_ignored() {
    let source = |columns: &str, rest: &str| {
        CreateStatement::parse(&format!(
            "CREATE TABLE events ({columns}){rest} WITH ('connector' = 'generator')"
        ))
        .and_then(CreateStatement::source)
        .map(|_| ())
    };
    let cases = [
        source("id STRING, v DOUBLE DEFAULT 0", ""),
        source("id STRING PRIMARY KEY", ""),
        source("id STRING, n BIGINT GENERATED ALWAYS AS (1) STORED", ""),
        source("id STRING", " PARTITIONED BY (id)"),
    ];
    for case in cases {
        let err = case.unwrap_err();
        assert!(
            err.to_string().contains("a column takes NOT NULL")
                || err.to_string().contains("its other clauses")
                || err
                    .to_string()
                    .contains("PRIMARY KEY (id) on a source table"),
            "{err}"
        );
    }
    let sink = CreateStatement::parse(
        "CREATE TABLE t (a INT, b STRING NOT NULL) WITH ('connector' = 'delta')",
    )
    .unwrap()
    .sink()
    .unwrap();
    assert_eq!(
        sink.columns,
        vec![
            ("a".to_owned(), "int".to_owned(), true),
            ("b".to_owned(), "string".to_owned(), false)
        ]
    );
    assert!(CreateStatement::parse("CREATE TABLE t AS SELECT 1 AS one").is_err());
}

#[test]
fn a_file_source_keeps_its_format_among_its_options() {
    let t = CreateStatement::parse(
        "CREATE TABLE bid (auction BIGINT) WITH ('connector' = 'files', 'path' = 'd', \
         'format' = 'parquet')",
    )
    .unwrap()
    .source()
    .unwrap();
    assert_eq!(t.format, None);
    assert_eq!(t.options["format"], Value::from("parquet"));
}

#[test]
fn flink_s_declarations_read_as_sluice_s() {
    let t = CreateStatement::parse(
        "CREATE TABLE t (a SMALLINT, b TINYINT, ts TIMESTAMP_LTZ(3), c VARCHAR(20)) \
         WITH ('connector' = 'filesystem', 'path' = 'd', 'format' = 'json')",
    )
    .unwrap()
    .source()
    .unwrap();
    assert_eq!(t.connector, "files");
    let types: Vec<&str> = t.columns.iter().map(|(_, ty, _)| ty.as_str()).collect();
    assert_eq!(types, ["int", "int", "timestamp", "string"]);
}

#[test]
fn arrays_structs_and_maps_are_declared_as_spark_and_flink_declare_them() {
    let t = CreateStatement::parse(
        "CREATE TABLE t (tags ARRAY<STRING>, item STRUCT<sku STRING, qty INT>, \
         who ROW<id BIGINT, names ARRAY<STRING>>, attrs MAP<STRING, BIGINT>, \
         deep MAP<STRING, ROW<n INT>>, note STRING, \
         CONSTRAINT few CHECK (cardinality(tags) < 10 AND note <> 'ROW<x>')) \
         WITH ('connector' = 'kafka')",
    )
    .unwrap()
    .source()
    .unwrap();
    let types: Vec<&str> = t.columns.iter().map(|(_, ty, _)| ty.as_str()).collect();
    assert_eq!(
        types,
        [
            "array<string>",
            "struct<sku: string, qty: int>",
            "struct<id: long, names: array<string>>",
            "map<string, long>",
            "map<string, struct<n: int>>",
            "string"
        ]
    );
    assert!(t.checks[0].1.contains("'ROW<x>'"), "{:?}", t.checks);
}

#[test]
fn decimals_are_declared_as_spark_and_flink_declare_them() {
    let t = CreateStatement::parse(
        "CREATE TABLE t (a DECIMAL(10, 2), b NUMERIC(38,38), c DECIMAL, d DEC(5)) \
         WITH ('connector' = 'kafka')",
    )
    .unwrap()
    .source()
    .unwrap();
    let types: Vec<&str> = t.columns.iter().map(|(_, ty, _)| ty.as_str()).collect();
    assert_eq!(
        types,
        [
            "decimal(10, 2)",
            "decimal(38, 38)",
            "decimal(10, 0)",
            "decimal(5, 0)"
        ]
    );
    let Err(err) =
        CreateStatement::parse("CREATE TABLE t (a DECIMAL(40, 2)) WITH ('connector' = 'kafka')")
    else {
        panic!("a DECIMAL(40, 2) was accepted");
    };
    assert!(
        err.to_string()
            .contains("`DECIMAL(40,2)`: decimal(40, 2): the precision is 1 to 38"),
        "{err}"
    );
}

#[test]
fn bad_declarations_say_what_is_expected() {
    let err = |sql: &str| match CreateStatement::parse(sql).and_then(CreateStatement::source) {
        Ok(_) => panic!("accepted {sql}"),
        Err(e) => e,
    };
    assert!(
        err("CREATE TABLE t (a BLOB) WITH ('connector' = 'kafka')")
            .to_string()
            .contains("column type")
    );
    assert!(
        err("CREATE TABLE t (a BIGINT, a STRING) WITH ('connector' = 'kafka')")
            .to_string()
            .contains("column `a` is declared twice")
    );
    assert!(
        err("CREATE TABLE t (a BIGINT) WITH ('connector' = 'kafka', 'connector' = 'files')")
            .to_string()
            .contains("the option 'connector' is given twice")
    );
    assert!(
        err("CREATE TABLE t (a BIGINT UNSIGNED) WITH ('connector' = 'kafka')")
            .to_string()
            .contains("unsigned integers are not read")
    );
    assert!(
        err("CREATE TABLE t (a INT) WITH ('connector' = 'jdbc')")
            .to_string()
            .contains("connector `jdbc`")
    );
    assert!(
        err("CREATE TABLE t (a INT, WATERMARK FOR a AS a) WITH ('connector' = 'kafka')")
            .to_string()
            .contains("not a TIMESTAMP")
    );
    assert!(
        err("CREATE TABLE t (a INT, UNIQUE (a)) WITH ('connector' = 'kafka')")
            .to_string()
            .contains("CHECK constraints")
    );
}
