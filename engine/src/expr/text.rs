//! Values made text as Spark makes them, where DataFusion's differ:
//!
//! | written | Spark's value | DataFusion's own |
//! |---|---|---|
//! | `CAST(ts AS STRING)` | `2026-01-01 00:00:03.5` | `2026-01-01T00:00:03.500Z` |
//! | `concat('a', NULL)` | NULL, as Flink's | `a` |
//! | `concat(id, ts)`, `id \|\| ts` | `7 2026-01-01 00:00:03` joined | `...T00:00:03Z`; `\|\|` refuses a timestamp |
//!
//! A timestamp's text is its UTC date and time, with the fraction of a second trimmed of
//! trailing zeros, as Spark's in a UTC session. `concat` is NULL when an argument is, as
//! in Spark and Flink (`concat_ws` skips NULLs, as in both). The rewrite runs on the
//! planned expression, where the operands' types are known.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, StringBuilder};
use arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use arrow::temporal_conversions::timestamp_us_to_datetime;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    BinaryExpr, Cast, ColumnarValue, Expr, ExprSchemable, Operator, TryCast, Volatility, cast,
    create_udf,
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
                    && type_of(&expr).as_ref().is_some_and(is_timestamp) =>
            {
                Transformed::yes(Expr::Cast(Cast {
                    expr: Box::new(timestamp_text(*expr)),
                    field,
                }))
            }
            Expr::TryCast(TryCast { expr, field })
                if is_text(field.data_type())
                    && type_of(&expr).as_ref().is_some_and(is_timestamp) =>
            {
                Transformed::yes(Expr::TryCast(TryCast {
                    expr: Box::new(timestamp_text(*expr)),
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
                .any(|side| type_of(side).as_ref().is_some_and(is_timestamp)) =>
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

/// `e` as text: a timestamp as Spark writes it, anything else by a cast.
fn as_text(e: Expr, type_of: impl Fn(&Expr) -> Option<DataType>) -> Expr {
    match type_of(&e) {
        Some(t) if is_timestamp(&t) => timestamp_text(e),
        Some(t) if is_text(&t) => e,
        _ => Expr::Cast(Cast::new(Box::new(e), DataType::Utf8)),
    }
}

fn timestamp_text(e: Expr) -> Expr {
    create_udf(
        "spark_timestamp_text",
        vec![DataType::Timestamp(TimeUnit::Microsecond, None)],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let micros = arrays[0].as_primitive::<TimestampMicrosecondType>();
            let mut out = StringBuilder::with_capacity(micros.len(), micros.len() * 26);
            for t in micros.iter() {
                match t.and_then(timestamp_us_to_datetime) {
                    Some(t) => out.append_value(spark_text(&t.to_string())),
                    None => out.append_null(),
                }
            }
            Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
        }),
    )
    .call(vec![cast(
        e,
        DataType::Timestamp(TimeUnit::Microsecond, None),
    )])
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

    use arrow::array::{RecordBatch, StringArray, TimestampMicrosecondArray};
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
}
