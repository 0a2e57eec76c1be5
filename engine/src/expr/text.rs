//! Values made text as Spark makes them, where DataFusion's differ:
//!
//! | written | Spark's value | DataFusion's own |
//! |---|---|---|
//! | `CAST(ts AS STRING)` | `2026-01-01 00:00:03.5` | `2026-01-01T00:00:03.500Z` |
//! | `concat('a', NULL)` | NULL, as Flink's | `a` |
//! | `concat(id, ts)`, `id \|\| ts` | `7 2026-01-01 00:00:03` joined | `...T00:00:03Z`; `\|\|` refuses a timestamp |
//! | `CAST(d AS STRING)`, `concat('v=', d)` of a DOUBLE | `1.0E7`, `9.0E-4`, `100.0`, `NaN`, `Infinity` | `10000000.0`, `0.0009`, `100`, `NaN`, `inf` |
//!
//! A timestamp's text is its UTC date and time, with the fraction of a second trimmed of
//! trailing zeros, as Spark's in a UTC session. `concat` is NULL when an argument is, as
//! in Spark and Flink (`concat_ws` skips NULLs, as in both). A double's text is Java's
//! `Double.toString`, as Spark's and Flink's: decimal from 10^-3 up to 10^7, else
//! `<digits>E<exponent>`, always with a digit after the point; the digits are the fewest
//! that read back as the same double (Java 17, on which Spark 4 runs, writes one more in
//! rare cases, such as `4.9E-324` for the least double). The rewrite runs on the planned
//! expression, where the operands' types are known.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, StringBuilder};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Float64Type, TimeUnit, TimestampMicrosecondType,
};
use arrow::temporal_conversions::timestamp_us_to_datetime;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    BinaryExpr, Cast, ColumnarValue, Expr, ExprSchemable, Operator, ScalarUDF, TryCast, Volatility,
    cast, create_udf,
};

/// `expr` with timestamps made text, `concat` and `||` as Spark's; see the module docs.
///
/// # Errors
/// When the expression cannot be rewritten (reported as DataFusion's error).
pub(super) fn as_spark(expr: Expr, schema: &DFSchema) -> Result<Expr> {
    let type_of = |e: &Expr| e.get_type(schema).ok();
    expr.transform_up(|e| {
        Ok(match e {
            Expr::Cast(Cast { expr, field })
                if is_text(field.data_type())
                    && type_of(&expr).as_ref().is_some_and(has_spark_text) =>
            {
                Transformed::yes(Expr::Cast(Cast {
                    expr: Box::new(as_text(*expr, type_of)),
                    field,
                }))
            }
            Expr::TryCast(TryCast { expr, field })
                if is_text(field.data_type())
                    && type_of(&expr).as_ref().is_some_and(has_spark_text) =>
            {
                Transformed::yes(Expr::TryCast(TryCast {
                    expr: Box::new(as_text(*expr, type_of)),
                    field,
                }))
            }
            Expr::ScalarFunction(ScalarFunction { func, args })
                if func.name() == "concat" && !args.is_empty() =>
            {
                let texts = args.into_iter().map(|a| as_text(a, type_of)).collect();
                Transformed::yes(joined(texts))
            }
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::StringConcat,
                right,
            }) if [&left, &right]
                .iter()
                .any(|side| type_of(side).as_ref().is_some_and(has_spark_text)) =>
            {
                Transformed::yes(joined(vec![
                    as_text(*left, type_of),
                    as_text(*right, type_of),
                ]))
            }
            other => Transformed::no(other),
        })
    })
    .map(|t| t.data)
}

/// `a || b || ...`: NULL when any is.
fn joined(texts: Vec<Expr>) -> Expr {
    let mut texts = texts.into_iter();
    let first = texts.next().expect("at least one argument");
    texts.fold(first, |acc, t| {
        Expr::BinaryExpr(BinaryExpr::new(
            Box::new(acc),
            Operator::StringConcat,
            Box::new(t),
        ))
    })
}

/// `e` as text: a timestamp or a double as Spark writes it, anything else by a cast.
fn as_text(e: Expr, type_of: impl Fn(&Expr) -> Option<DataType>) -> Expr {
    match type_of(&e) {
        Some(t) if is_timestamp(&t) => timestamp_text(e),
        Some(DataType::Float64) => double_text(e),
        Some(t) if is_text(&t) => e,
        _ => Expr::Cast(Cast::new(Box::new(e), DataType::Utf8)),
    }
}

fn timestamp_text(e: Expr) -> Expr {
    let micros = DataType::Timestamp(TimeUnit::Microsecond, None);
    text_udf::<TimestampMicrosecondType>("spark_timestamp_text", micros.clone(), |t| {
        timestamp_us_to_datetime(t).map(|t| spark_text(&t.to_string()).to_owned())
    })
    .call(vec![cast(e, micros)])
}

fn double_text(e: Expr) -> Expr {
    text_udf::<Float64Type>("spark_double_text", DataType::Float64, |v| {
        Some(java_double(v))
    })
    .call(vec![e])
}

/// The function `name` making each value of type `input` (`T`'s) text by `text`: NULL
/// where the value is, or where `text` gives none.
fn text_udf<T: ArrowPrimitiveType>(
    name: &str,
    input: DataType,
    text: fn(T::Native) -> Option<String>,
) -> ScalarUDF {
    create_udf(
        name,
        vec![input],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let values = arrays[0].as_primitive::<T>();
            let mut out = StringBuilder::with_capacity(values.len(), values.len() * 16);
            for v in values.iter() {
                out.append_option(v.and_then(text));
            }
            Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
        }),
    )
}

/// Java's `Double.toString(v)` (see the module docs).
fn java_double(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
    }
    let with_point = |digits: &str| {
        if digits.contains('.') {
            digits.to_owned()
        } else {
            format!("{digits}.0")
        }
    };
    if (1e-3..1e7).contains(&v.abs()) {
        return with_point(&v.to_string());
    }
    let scientific = format!("{v:e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("Rust's {:e} writes an exponent");
    format!("{}E{exponent}", with_point(mantissa))
}

/// Whether values of type `t` become text otherwise in Spark than in DataFusion.
fn has_spark_text(t: &DataType) -> bool {
    is_timestamp(t) || matches!(t, DataType::Float64)
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn is_timestamp(t: &DataType) -> bool {
    matches!(t, DataType::Timestamp(_, _))
}

/// Chrono's `2026-01-01 00:00:03.500` as Spark's `2026-01-01 00:00:03.5`.
fn spark_text(chrono: &str) -> &str {
    if chrono.contains('.') {
        chrono.trim_end_matches('0').trim_end_matches('.')
    } else {
        chrono
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;
    use crate::expr::texts_of;

    /// The values are PySpark 4.3.0's for the same rows (a UTC session).
    #[test]
    fn timestamps_become_spark_s_text_and_concat_is_null_with_a_null() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("s", DataType::Utf8, true),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("n", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from(vec![Some("a"), None, Some("c")])),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![
                        Some(1_767_225_603_500_000),
                        Some(1_767_225_603_000_000),
                        None,
                    ])
                    .with_timezone("UTC"),
                ),
                Arc::new(arrow::array::Int64Array::from(vec![
                    Some(7),
                    Some(8),
                    Some(9),
                ])),
            ],
        )
        .unwrap();
        for (sql, want) in [
            (
                "CAST(ts AS STRING)",
                [
                    Some("2026-01-01 00:00:03.5"),
                    Some("2026-01-01 00:00:03"),
                    None,
                ],
            ),
            (
                "concat(s, '-', n, '@', ts)",
                [Some("a-7@2026-01-01 00:00:03.5"), None, None],
            ),
            ("concat(s, n)", [Some("a7"), None, Some("c9")]),
            (
                "n || ts",
                [
                    Some("72026-01-01 00:00:03.5"),
                    Some("82026-01-01 00:00:03"),
                    None,
                ],
            ),
            (
                "concat_ws('-', s, n)",
                [Some("a-7"), Some("8"), Some("c-9")],
            ),
        ] {
            assert_eq!(
                texts_of(sql, &batch),
                want.map(|w| w.map(str::to_owned)),
                "{sql}"
            );
        }
        assert_eq!(
            spark_text("2026-01-01 00:00:03.120"),
            "2026-01-01 00:00:03.12"
        );
        assert_eq!(spark_text("2026-01-01 00:00:10"), "2026-01-01 00:00:10");
    }

    /// PySpark 4.3.0's `CAST(v AS STRING)` of each double.
    const SPARK_TEXTS: [(f64, &str); 23] = [
        (0.0, "0.0"),
        (-0.0, "-0.0"),
        (1.0, "1.0"),
        (100.0, "100.0"),
        (2.55, "2.55"),
        (1.0e7, "1.0E7"),
        (9_999_999.0, "9999999.0"),
        (12_345_678.9, "1.23456789E7"),
        (0.001, "0.001"),
        (9.0e-4, "9.0E-4"),
        (1.0e-10, "1.0E-10"),
        (-1.25e10, "-1.25E10"),
        (1.0 / 3.0, "0.3333333333333333"),
        (1.0e21, "1.0E21"),
        (1.0e22, "1.0E22"),
        (1.234_567_890_123_456_8e20, "1.2345678901234568E20"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "Infinity"),
        (f64::NEG_INFINITY, "-Infinity"),
        (0.1 + 0.2, "0.30000000000000004"),
        (123_456.789, "123456.789"),
        (-0.00123, "-0.00123"),
        (f64::MAX, "1.7976931348623157E308"),
    ];

    #[test]
    fn doubles_become_java_s_text() {
        for (v, want) in SPARK_TEXTS {
            assert_eq!(java_double(v), want, "{v:?}");
        }
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("d", DataType::Float64, true)])),
            vec![Arc::new(Float64Array::from(vec![
                Some(1.0e7),
                Some(2.55),
                None,
            ]))],
        )
        .unwrap();
        for (sql, want) in [
            ("CAST(d AS STRING)", [Some("1.0E7"), Some("2.55"), None]),
            ("concat('v=', d)", [Some("v=1.0E7"), Some("v=2.55"), None]),
            ("'v=' || d", [Some("v=1.0E7"), Some("v=2.55"), None]),
            (
                "CAST(d / 4 AS STRING)",
                [Some("2500000.0"), Some("0.6375"), None],
            ),
        ] {
            assert_eq!(
                texts_of(sql, &batch),
                want.map(|w| w.map(str::to_owned)),
                "{sql}"
            );
        }
    }
}
