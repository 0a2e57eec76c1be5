//! Which compiled expressions no row can fail: those whose rows never become dead letters
//! of an expression error, so that an operator made only of them rejects nothing (and its
//! input need not carry the coordinates that locate a dead letter).
//!
//! Infallible, when each operand is:
//! - an input column, a constant;
//! - `NOT`, `IS NULL`, `IS NOT NULL`;
//! - a comparison (`=`, `<>`, `<`, `<=`, `>`, `>=`, `IS [NOT] DISTINCT FROM`), `AND`, `OR`;
//! - `+`, `-`, `*`, `/`, `%` of floating-point numbers (Arrow's float kernels give
//!   infinities and NaN, never an error);
//! - `/` and `%` of integers by a constant other than 0 and -1 (the only divisors that
//!   fail: division by zero and the overflow of `MIN / -1`);
//! - a cast that cannot fail: an integer or a float to a double (which may round a
//!   large integer, never fail), a smaller integer to a `BIGINT`.
//!
//! Anything else (integer `+`, `-`, `*`, which may be checked for overflow; decimals;
//! functions; other casts) counts as possibly failing.

use std::sync::Arc;

use arrow::datatypes::{DataType, Schema};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{
    BinaryExpr, CastExpr, Column, IsNotNullExpr, IsNullExpr, Literal, NotExpr,
};

/// Whether no row of `schema` can make `e` fail.
pub(super) fn infallible(e: &Arc<dyn PhysicalExpr>, schema: &Schema) -> bool {
    if e.downcast_ref::<Column>().is_some() || e.downcast_ref::<Literal>().is_some() {
        return true;
    }
    if let Some(not) = e.downcast_ref::<NotExpr>() {
        return infallible(not.arg(), schema);
    }
    if let Some(is_null) = e.downcast_ref::<IsNullExpr>() {
        return infallible(is_null.arg(), schema);
    }
    if let Some(is_not_null) = e.downcast_ref::<IsNotNullExpr>() {
        return infallible(is_not_null.arg(), schema);
    }
    if let Some(cast) = e.downcast_ref::<CastExpr>() {
        return infallible(cast.expr(), schema)
            && cast
                .expr()
                .data_type(schema)
                .is_ok_and(|from| cast_never_fails(&from, cast.cast_type()));
    }
    if let Some(binary) = e.downcast_ref::<BinaryExpr>() {
        let (left, right) = (binary.left(), binary.right());
        return infallible(left, schema)
            && infallible(right, schema)
            && operator_infallible(*binary.op(), left, right, schema);
    }
    false
}

/// Whether `left op right` cannot fail, given that neither operand can.
fn operator_infallible(
    op: Operator,
    left: &Arc<dyn PhysicalExpr>,
    right: &Arc<dyn PhysicalExpr>,
    schema: &Schema,
) -> bool {
    use Operator::{
        And, Divide, Eq, Gt, GtEq, IsDistinctFrom, IsNotDistinctFrom, Lt, LtEq, Minus, Modulo,
        Multiply, NotEq, Or, Plus,
    };
    let floats = || {
        [left, right]
            .iter()
            .all(|e| e.data_type(schema).is_ok_and(|t| t.is_floating()))
    };
    match op {
        Eq | NotEq | Lt | LtEq | Gt | GtEq | IsDistinctFrom | IsNotDistinctFrom | And | Or => true,
        Plus | Minus | Multiply => floats(),
        Divide | Modulo => floats() || safe_integer_divisor(left, right, schema),
        _ => false,
    }
}

/// Whether `left / right` (or `%`) divides integers by a constant other than 0 and -1.
fn safe_integer_divisor(
    left: &Arc<dyn PhysicalExpr>,
    right: &Arc<dyn PhysicalExpr>,
    schema: &Schema,
) -> bool {
    let Some(divisor) = right.downcast_ref::<Literal>() else {
        return false;
    };
    let integers = [left, right]
        .iter()
        .all(|e| e.data_type(schema).is_ok_and(|t| t.is_integer()));
    integers
        && matches!(
            divisor.value().cast_to(&DataType::Int64),
            Ok(ScalarValue::Int64(Some(v))) if v != 0 && v != -1
        )
}

/// Whether a cast from `from` to `to` succeeds for every value.
fn cast_never_fails(from: &DataType, to: &DataType) -> bool {
    use DataType::{Float64, Int8, Int16, Int32, Int64, UInt8, UInt16, UInt32};
    from == to
        || (*to == Float64 && (from.is_integer() || from.is_floating()))
        || (*to == Int64 && matches!(from, Int8 | Int16 | Int32 | UInt8 | UInt16 | UInt32))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Float64Array, Int32Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
    use arrow::record_batch::RecordBatch;

    use crate::expr::SqlExpr;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("i", DataType::Int64, true),
            Field::new("small", DataType::Int32, true),
            Field::new("x", DataType::Float64, true),
            Field::new("s", DataType::Utf8, true),
        ]))
    }

    /// Rows at the edges: zeros, extremes, nulls, text that is no number.
    fn edges() -> RecordBatch {
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(Int64Array::from(vec![
                    Some(0),
                    Some(i64::MIN),
                    Some(i64::MAX),
                    Some(-1),
                    None,
                ])),
                Arc::new(Int32Array::from(vec![
                    Some(0),
                    Some(i32::MIN),
                    Some(i32::MAX),
                    Some(-1),
                    None,
                ])),
                Arc::new(Float64Array::from(vec![
                    Some(0.0),
                    Some(f64::MIN),
                    Some(f64::MAX),
                    Some(f64::NAN),
                    None,
                ])),
                Arc::new(StringArray::from(vec![
                    Some("1"),
                    Some("x"),
                    Some(""),
                    Some("-1"),
                    None,
                ])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn what_is_called_infallible_evaluates_on_every_edge_and_the_rest_is_not() {
        let infallible = [
            "i",
            "42",
            "i % 123 = 0",
            "i / 7",
            "0.908 * i",
            "x / 0.0 + x * x - 1.5",
            "x % 0.0",
            "CAST(small AS BIGINT) > i OR NOT (s IS NULL)",
            "CAST(i AS DOUBLE) <= x AND s IS NOT NULL",
            "s = 'x'",
            "i IS DISTINCT FROM small",
        ];
        for sql in infallible {
            let e = SqlExpr::compile(sql, &schema()).unwrap();
            assert!(e.cannot_fail(), "`{sql}` counts as possibly failing");
            e.evaluate(&edges())
                .unwrap_or_else(|err| panic!("`{sql}` failed: {err}"));
        }
        // Each of these fails on some row of `edges`.
        let failing = [
            "i % small",
            "i % 0",
            "CAST(s AS BIGINT)",
            "CAST(x AS BIGINT)",
        ];
        for sql in failing {
            let e = SqlExpr::compile(sql, &schema()).unwrap();
            assert!(!e.cannot_fail(), "`{sql}` counts as infallible");
            assert!(e.evaluate(&edges()).is_err(), "`{sql}` did not fail");
        }
        // Not proven infallible, though these rows pass: integer arithmetic (which may
        // be checked for overflow, as `MIN % -1` may be), functions, the clock.
        for sql in ["i + 1", "i % -1", "length(s)", "now()"] {
            let e = SqlExpr::compile(sql, &schema()).unwrap();
            assert!(!e.cannot_fail(), "`{sql}` counts as infallible");
        }
    }
}
