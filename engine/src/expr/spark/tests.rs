//! The Spark functions' rewrites and patterns; their values against PySpark's are in
//! `values`.

use super::*;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;

use crate::expr::{SqlExpr, texts_of};

mod values;

#[test]
fn java_patterns_become_chrono_s() {
    let cases = [
        ("yyyy-MM-dd", "%Y-%m-%d"),
        ("yyyy-MM-dd HH:mm:ss.SSS", "%Y-%m-%d %H:%M:%S.%3f"),
        ("d/M/yy h:mm a", "%-d/%-m/%y %-I:%M %p"),
        ("EEE, d MMM yyyy", "%a, %-d %b %Y"),
        ("EEEE MMMM", "%A %B"),
        ("yyyy-MM-dd'T'HH:mm:ssXXX", "%Y-%m-%dT%H:%M:%S%:z"),
        ("'at' HH 'o''clock' 100%", "at %H o'clock 100%%"),
        ("DDD", "%j"),
    ];
    for (java, chrono) in cases {
        assert_eq!(chrono_pattern(java, false).unwrap(), chrono, "{java}");
    }
    assert_eq!(chrono_pattern("d/M/yyyy", true).unwrap(), "%d/%m/%Y");
    for bad in ["yyyy-ww", "G yyyy", "QQ", "SS", "k"] {
        let err = chrono_pattern(bad, false).unwrap_err();
        assert!(err.contains("has no equivalent"), "{bad}: {err}");
    }
}

#[test]
fn names_resolve_whatever_their_case_as_in_spark() {
    let columns = ["userId", "value", "A", "a2", "A2"];
    let rewritten = |sql: &str| rewrite(sql, &columns).unwrap();
    assert_eq!(
        rewritten("upper(userId) || USERID || userid").as_deref(),
        Some("upper(\"userId\") || \"userId\" || \"userId\"")
    );
    // What DataFusion finds alone is left to it; quoted names are as written.
    assert_eq!(rewritten("value + VALUE + \"userId\""), None);
    assert_eq!(rewritten("a + 1").as_deref(), Some("\"A\" + 1"));
    assert_eq!(rewritten("A2 + a2"), None, "a2 is a column; A2 too");
    assert_eq!(rewritten("nope + 1"), None);
}

#[test]
fn spark_calls_are_written_as_datafusion_s() {
    let rewritten = |sql: &str| rewrite(sql, &["ts", "v", "s"]).unwrap();
    assert_eq!(
        rewritten("date_format(ts, 'yyyy-MM-dd')").as_deref(),
        Some("to_char(ts, '%Y-%m-%d')")
    );
    assert_eq!(rewritten("DATE_FORMAT(ts, '%Y')"), None, "chrono's already");
    assert_eq!(
        rewritten("upper(if(v > 1, 'a', 'b'))").as_deref(),
        Some("upper(CASE WHEN v > 1 THEN 'a' ELSE 'b' END)")
    );
    assert_eq!(
        rewritten("hour(ts) + dayofweek(ts)").as_deref(),
        Some("CAST(date_part('hour', ts) AS INT) + (CAST(date_part('dow', ts) AS INT) + 1)")
    );
    assert_eq!(
        rewritten("to_date(s, 'dd/MM/yyyy')").as_deref(),
        Some("to_date(s, '%d/%m/%Y')")
    );
    assert_eq!(rewritten("to_date(s)"), None);
    assert_eq!(rewritten("length(s) + 1"), None);
    assert!(
        rewrite("if(a, b)", &[])
            .unwrap_err()
            .contains("takes a condition")
    );
    assert!(
        rewrite("sha2(s, 160)", &[])
            .unwrap_err()
            .contains("224, 256, 384 or 512")
    );
    assert!(
        rewrite("date_format(ts, 'QQ')", &[])
            .unwrap_err()
            .contains("`QQ` has no equivalent")
    );
}

/// Spark's `substring` of positions 0 and below and of negative lengths, against PySpark
/// 4.3.0's values.
#[test]
fn substrings_count_positions_as_spark_does() {
    let batch = RecordBatch::try_from_iter(vec![
        (
            "s",
            Arc::new(StringArray::from(vec![Some("hello"), Some("hé llo"), None])) as ArrayRef,
        ),
        ("p", Arc::new(Int32Array::from(vec![2, -2, 1])) as ArrayRef),
    ])
    .unwrap();
    let spark: [(&str, [Option<&str>; 3]); 11] = [
        ("substring(s, 0, 3)", [Some("hel"), Some("hé "), None]),
        ("substring(s, 2, 3)", [Some("ell"), Some("é l"), None]),
        ("substring(s, -3)", [Some("llo"), Some("llo"), None]),
        ("substring(s, -3, 2)", [Some("ll"), Some("ll"), None]),
        ("substring(s, -10, 3)", [Some(""), Some(""), None]),
        ("substring(s, -10, 7)", [Some("he"), Some("hé "), None]),
        ("substr(s, 0)", [Some("hello"), Some("hé llo"), None]),
        ("substring(s, p, 2)", [Some("el"), Some("lo"), None]),
        ("substring(s, p)", [Some("ello"), Some("lo"), None]),
        ("substring(s, 1, 0)", [Some(""), Some(""), None]),
        ("substring(s, 2, -1)", [Some(""), Some(""), None]),
    ];
    for (sql, want) in spark {
        assert_eq!(
            texts_of(sql, &batch),
            want.map(|w| w.map(str::to_owned)),
            "{sql}"
        );
    }
}

/// Flink's `TO_TIMESTAMP_LTZ` of epoch numbers, and Spark's `from_unixtime` of a fraction
/// (its values are PySpark 4.3.0's).
#[test]
fn epochs_become_utc_timestamps() {
    let batch = RecordBatch::try_from_iter(vec![(
        "ms",
        Arc::new(arrow::array::Int64Array::from(vec![
            Some(1_709_247_909_123),
            Some(0),
            None,
        ])) as ArrayRef,
    )])
    .unwrap();
    let utc = DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, Some("UTC".into()));
    for (sql, want) in [
        (
            "CAST(TO_TIMESTAMP_LTZ(ms, 3) AS STRING)",
            [
                Some("2024-02-29 23:05:09.123"),
                Some("1970-01-01 00:00:00"),
                None,
            ],
        ),
        (
            "CAST(to_timestamp_ltz(ms * 1000, 6) AS STRING)",
            [
                Some("2024-02-29 23:05:09.123"),
                Some("1970-01-01 00:00:00"),
                None,
            ],
        ),
        (
            "CAST(TO_TIMESTAMP_LTZ(CAST(ms / 1000 AS BIGINT), 0) AS STRING)",
            [
                Some("2024-02-29 23:05:09"),
                Some("1970-01-01 00:00:00"),
                None,
            ],
        ),
        (
            "from_unixtime(ms / 1000)",
            [
                Some("2024-02-29 23:05:09"),
                Some("1970-01-01 00:00:00"),
                None,
            ],
        ),
    ] {
        assert_eq!(
            texts_of(sql, &batch),
            want.map(|w| w.map(str::to_owned)),
            "{sql}"
        );
    }
    let ts = SqlExpr::compile("TO_TIMESTAMP_LTZ(ms, 3)", &batch.schema()).unwrap();
    assert_eq!(ts.data_type(), &utc);
    // Flink's processing time is the clock's, now.
    let before = std::time::SystemTime::now();
    let now = SqlExpr::compile("CAST(PROCTIME() AS BIGINT)", &batch.schema()).unwrap();
    let now = now.evaluate(&batch).unwrap();
    let now = cast(&now, &DataType::Int64).unwrap();
    let now = now
        .as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .unwrap()
        .value(0);
    let since = before.duration_since(std::time::UNIX_EPOCH).unwrap();
    assert!(
        i128::from(now) >= since.as_nanos() as i128 - 1_000_000_000,
        "{now} vs {since:?}"
    );
    // Text, as Spark's and Flink's.
    let text = SqlExpr::compile("from_unixtime(ms)", &batch.schema()).unwrap();
    assert!(
        matches!(text.data_type(), DataType::Utf8 | DataType::Utf8View),
        "{}",
        text.data_type()
    );
    let err = SqlExpr::compile("TO_TIMESTAMP_LTZ(ms, 4)", &batch.schema())
        .unwrap_err()
        .to_string();
    assert!(err.contains("precision of 0, 3, 6 or 9"), "{err}");
}

/// Spark's `split` by a delimiter or a regex: empty parts kept, an empty text one empty
/// part (`split('', ',')` is `[""]` in Spark), a null text null.
#[test]
fn split_by_a_delimiter_gives_spark_s_parts() {
    use arrow::array::{Array, AsArray};

    let batch = RecordBatch::try_from_iter(vec![(
        "s",
        Arc::new(StringArray::from(vec![
            Some("a,b,,c"),
            Some(""),
            None,
            Some("x|y"),
        ])) as ArrayRef,
    )])
    .unwrap();
    let parts = |sql: &str| -> Vec<Option<Vec<String>>> {
        let values = SqlExpr::compile(sql, &batch.schema())
            .and_then(|e| e.evaluate(&batch))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        let lists = values.as_list::<i32>();
        (0..lists.len())
            .map(|i| {
                lists.is_valid(i).then(|| {
                    let texts = lists.value(i);
                    let texts = texts.as_string::<i32>();
                    texts
                        .iter()
                        .map(|t| t.unwrap_or("NULL").to_owned())
                        .collect()
                })
            })
            .collect()
    };
    let v = |parts: &[&str]| Some(parts.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>());
    assert_eq!(
        parts("split(s, ',')"),
        [v(&["a", "b", "", "c"]), v(&[""]), None, v(&["x|y"])]
    );
    let sizes = texts_of("size(split(s, ','))", &batch);
    assert_eq!(
        sizes,
        [
            Some("4".to_owned()),
            Some("1".to_owned()),
            None,
            Some("1".to_owned())
        ]
    );
    assert_eq!(
        parts("split(s, '\\|')"),
        [v(&["a,b,,c"]), v(&[""]), None, v(&["x", "y"])]
    );
    // By a regex, and with a limit (Java's split, see the `split` module).
    assert_eq!(
        parts("split(s, '[,|]')"),
        [v(&["a", "b", "", "c"]), v(&[""]), None, v(&["x", "y"])]
    );
    assert_eq!(
        parts("split(s, ',', 2)"),
        [v(&["a", "b,,c"]), v(&[""]), None, v(&["x|y"])]
    );
    assert_eq!(
        parts("split(s, ',+', 0)"),
        [v(&["a", "b", "c"]), v(&[""]), None, v(&["x|y"])]
    );
    assert_eq!(parts("split(s, '')")[3], v(&["x", "|", "y"]));
    for (sql, expected) in [
        ("split(s, s)", "a regex that is a string literal"),
        (
            "split(s, ',', length(s))",
            "a limit that is an integer literal",
        ),
        ("split(s, '(?=b)')", "the regex `(?=b)`"),
        ("split(s)", "a text, a regex and an optional limit"),
    ] {
        let err = SqlExpr::compile(sql, &batch.schema()).unwrap_err();
        assert!(err.to_string().contains(expected), "{sql}: {err}");
    }
}
