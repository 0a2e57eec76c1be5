//! Division as Spark and DuckDB divide: `/` of two integers is a double, so `7 / 2` is
//! `3.5` and `sum(cents) / count(*)` an average. DataFusion, as Postgres and Flink,
//! truncates integer division to an integer (`3`), which would silently change the results
//! of a query copied from a Spark job. Each integer operand of such a `/` is cast to
//! DOUBLE before it is planned; a division with any other operand is DataFusion's.
//! Integer division is still written `CAST(a / b AS BIGINT)` or, exactly, as
//! `(a - a % b) / b` cast back.
//!
//! An integer divided by zero fails its row, as Spark's ANSI mode (its default) fails the
//! query, and as DataFusion's integer division did: the row goes to the dead letters
//! with the reason. A double divided by zero is infinite, as in DataFusion and DuckDB.

use std::sync::Arc;

use arrow::array::AsArray;
use arrow::datatypes::{DataType, Float64Type};
use datafusion::common::DFSchema;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, Operator, ScalarUDF, Volatility, cast,
    create_udf,
};

/// An integer divisor, cast to a double, passed on; a zero fails the evaluation.
fn divisor() -> ScalarUDF {
    create_udf(
        "integer_divisor",
        vec![DataType::Float64],
        DataType::Float64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            if arrays[0]
                .as_primitive::<Float64Type>()
                .iter()
                .any(|v| v == Some(0.0))
            {
                return Err(DataFusionError::Execution(
                    "division by zero (an integer divided by 0)".into(),
                ));
            }
            Ok(ColumnarValue::Array(Arc::clone(&arrays[0])))
        }),
    )
}

/// `expr` with each `/` of two integers dividing them as doubles.
///
/// # Errors
/// When the expression cannot be rewritten (it is then reported as DataFusion's error).
pub(super) fn as_spark(expr: Expr, schema: &DFSchema) -> Result<Expr> {
    expr.transform_up(|e| {
        let integers = |side: &Expr| side.get_type(schema).is_ok_and(|t| t.is_integer());
        match e {
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::Divide,
                right,
            }) if integers(&left) && integers(&right) => {
                Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
                    Box::new(cast(*left, DataType::Float64)),
                    Operator::Divide,
                    Box::new(divisor().call(vec![cast(*right, DataType::Float64)])),
                ))))
            }
            other => Ok(Transformed::no(other)),
        }
    })
    .map(|t| t.data)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Array, AsArray, Float64Array, Int32Array, Int64Array, RecordBatch};
    use arrow::datatypes::{Field, Float64Type, Schema};

    use super::DataType;
    use crate::expr::SqlExpr;

    #[test]
    fn integers_divide_as_doubles_and_other_numbers_as_before() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Int32, true),
            Field::new("x", DataType::Float64, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from(vec![Some(7), Some(-7), None])),
                Arc::new(Int32Array::from(vec![Some(2), Some(2), Some(2)])),
                Arc::new(Float64Array::from(vec![Some(1.0), Some(3.0), Some(5.0)])),
            ],
        )
        .unwrap();
        for (sql, want) in [
            ("a / b", [Some(3.5), Some(-3.5), None]),
            ("7 / 2 + a * 0", [Some(3.5), Some(3.5), None]),
            ("(a / b) / 2", [Some(1.75), Some(-1.75), None]),
            ("x / b", [Some(0.5), Some(1.5), Some(2.5)]),
            ("CAST(a / b AS BIGINT) + 0.0", [Some(3.0), Some(-3.0), None]),
            (
                "x / (b - 2)",
                [
                    Some(f64::INFINITY),
                    Some(f64::INFINITY),
                    Some(f64::INFINITY),
                ],
            ),
        ] {
            let expr = SqlExpr::compile(sql, &schema).unwrap();
            assert_eq!(expr.data_type(), &DataType::Float64, "{sql}");
            let got = expr.evaluate(&batch).unwrap();
            let got = got.as_primitive::<Float64Type>();
            let got: Vec<Option<f64>> = (0..got.len())
                .map(|i| got.is_valid(i).then(|| got.value(i)))
                .collect();
            assert_eq!(got, want, "{sql}");
        }
        // An integer divided by zero fails (its row is a dead letter), as in Spark.
        let by_zero = SqlExpr::compile("a / (b - 2)", &schema).unwrap();
        let err = by_zero.evaluate(&batch).unwrap_err().to_string();
        assert!(err.contains("division by zero"), "{err}");
        // A remainder stays an integer.
        let rest = SqlExpr::compile("a % b", &schema).unwrap();
        assert_eq!(rest.data_type(), &DataType::Int64);
    }
}
