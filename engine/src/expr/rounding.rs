//! `round(x, d)` of a double as Spark rounds it: half up, on the shortest decimal that
//! reads back as the double (`1.005` rounds to `1.01`). DataFusion scales the double
//! (`1.005 * 100` is `100.49999999999999`) and rounds that, giving `1.0`. A round of any
//! other type (integers, decimals) is DataFusion's.
//!
//! `ceil(x)` and `floor(x)` of a double, a float or an integer are BIGINTs, as Spark's
//! (DataFusion's are doubles: `3.0` where Spark writes `3`, and a DOUBLE column in the
//! table). Of a decimal they are DataFusion's.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Float64Array};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, ScalarUDF, Volatility, cast, create_udf, lit,
};

/// `expr` with each `round` of a double rounding as Spark's.
///
/// # Errors
/// When the expression cannot be rewritten (reported as DataFusion's error).
pub(super) fn as_spark(expr: Expr, schema: &DFSchema) -> Result<Expr> {
    expr.transform_up(|e| {
        Ok(match e {
            Expr::ScalarFunction(ScalarFunction { func, args })
                if func.name() == "round"
                    && (1..=2).contains(&args.len())
                    && args[0]
                        .get_type(schema)
                        .is_ok_and(|t| matches!(t, DataType::Float64 | DataType::Float32)) =>
            {
                let mut args = args.into_iter();
                let value = args.next().expect("one or two arguments");
                let scale = args.next().unwrap_or_else(|| lit(0_i64));
                Transformed::yes(spark_round().call(vec![
                    cast(value, DataType::Float64),
                    cast(scale, DataType::Int64),
                ]))
            }
            Expr::ScalarFunction(ScalarFunction { ref func, ref args })
                if ["ceil", "floor"].contains(&func.name())
                    && args.len() == 1
                    && args[0].get_type(schema).is_ok_and(|t| {
                        matches!(t, DataType::Float64 | DataType::Float32) || t.is_integer()
                    }) =>
            {
                Transformed::yes(cast(e, DataType::Int64))
            }
            other => Transformed::no(other),
        })
    })
    .map(|t| t.data)
}

/// Spark's `round` of a double to a number of decimals.
fn spark_round() -> ScalarUDF {
    create_udf(
        "spark_round",
        vec![DataType::Float64, DataType::Int64],
        DataType::Float64,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let values = arrays[0].as_primitive::<Float64Type>();
            let scales = arrays[1].as_primitive::<Int64Type>();
            let rounded: Float64Array = values
                .iter()
                .zip(scales.iter())
                .map(|(v, d)| Some(half_up(v?, d?)))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(rounded) as ArrayRef))
        }),
    )
}

/// `x` rounded half up (away from zero) to `scale` decimals, on its shortest decimal form.
fn half_up(x: f64, scale: i64) -> f64 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    // `{:e}` is the shortest form that reads back as `x`: `1.005e0`.
    let text = format!("{:e}", x.abs());
    let (mantissa, exponent) = text.split_once('e').expect("`{:e}` has an exponent");
    let exponent: i64 = exponent.parse().expect("an integer exponent");
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    // The first digit's place is 10^exponent; keep those down to the place 10^-scale.
    let keep = exponent + scale + 1;
    if keep >= digits.len() as i64 {
        return x;
    }
    let mut kept: u128 = 0;
    for &d in &digits[..keep.max(0) as usize] {
        kept = kept * 10 + u128::from(d - b'0');
    }
    let next = if keep >= 0 {
        digits[keep as usize]
    } else {
        b'0'
    };
    if next >= b'5' {
        kept += 1;
    }
    let magnitude: f64 = format!("{kept}e{}", -scale)
        .parse()
        .expect("digits and an exponent");
    magnitude.copysign(x)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Float64Array, RecordBatch};
    use arrow::datatypes::{Field, Schema};

    use super::*;
    use crate::expr::texts_of;

    /// The values are PySpark 4.3.0's `round` of the same doubles.
    #[test]
    fn doubles_round_half_up_on_their_decimal_form_as_in_spark() {
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("x", DataType::Float64, true)])),
            vec![Arc::new(Float64Array::from(vec![
                Some(2.675),
                Some(0.125),
                Some(-2.5),
                Some(1.005),
                None,
            ]))],
        )
        .unwrap();
        let text = |v: [Option<&str>; 5]| v.map(|s| s.map(str::to_owned)).to_vec();
        assert_eq!(
            texts_of("round(x, 2)", &batch),
            text([Some("2.68"), Some("0.13"), Some("-2.5"), Some("1.01"), None])
        );
        assert_eq!(
            texts_of("round(x)", &batch),
            text([Some("3.0"), Some("0.0"), Some("-3.0"), Some("1.0"), None])
        );
        // Integers are DataFusion's.
        assert_eq!(texts_of("round(7)", &batch)[0].as_deref(), Some("7"));
        for (x, scale, want) in [
            (1234.5, -2, 1200.0),
            (1250.0, -2, 1300.0),
            (0.0004, 3, 0.0),
            (0.0005, 3, 0.001),
            (-0.0005, 3, -0.001),
            (1e-7, 2, 0.0),
            (123.456, 10, 123.456),
            (f64::INFINITY, 2, f64::INFINITY),
        ] {
            assert_eq!(half_up(x, scale), want, "round({x}, {scale})");
        }
    }
}
