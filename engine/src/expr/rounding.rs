//! `round(x, d)` of a double as Spark rounds it: half up, on the shortest decimal that
//! reads back as the double (`1.005` rounds to `1.01`). DataFusion scales the double
//! (`1.005 * 100` is `100.49999999999999`) and rounds that, giving `1.0`. A round of any
//! other type (integers, decimals) is DataFusion's.
//!
//! `ceil(x)` and `floor(x)` of a double, a float or an integer are BIGINTs, as Spark's
//! (DataFusion's are doubles: `3.0` where Spark writes `3`, and a DOUBLE column in the
//! table). Of a decimal they are DataFusion's.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Float64Array, Int64Array};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result, plan_err};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ExprSchemable, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility, cast, create_udf, lit,
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

/// How a value exactly halfway between two rounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Halfway {
    /// Away from zero: Spark's `round`.
    Up,
    /// To the even neighbour: Spark's `bround` (banker's rounding).
    Even,
}

/// Spark's `bround(x[, d])`: `x` rounded half to even at `d` decimals (0 by default; a
/// negative `d` rounds to tens, hundreds, ...). A double rounds on its shortest decimal
/// form, as `round` does (`bround(2.5)` is `2.0`, `bround(0.125, 2)` is `0.12`); an
/// integer stays an integer of its type (`bround(25, -1)` is `20`), a float a float.
/// DataFusion has no `bround`; a decimal is refused (Spark's keeps its decimal type).
pub(super) fn bround() -> ScalarUDF {
    ScalarUDF::from(Bround {
        signature: Signature::user_defined(Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Bround {
    signature: Signature,
}

impl ScalarUDFImpl for Bround {
    fn name(&self) -> &str {
        "bround"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let value = match args.first() {
            Some(t) if t.is_integer() || t.is_floating() => t.clone(),
            Some(DataType::Null) => DataType::Float64,
            Some(t) => return plan_err!("bround of a {t}: a double or an integer is rounded"),
            None => return plan_err!("bround takes a value and, optionally, a scale"),
        };
        match args.len() {
            1 => Ok(vec![value]),
            2 if args[1].is_integer() || args[1].is_null() => Ok(vec![value, DataType::Int64]),
            _ => plan_err!("bround(x[, d]): d is an integer"),
        }
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        Ok(args.first().cloned().unwrap_or(DataType::Float64))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let values = args.args[0].to_array(rows)?;
        let scales = match args.args.get(1) {
            Some(scale) => scale.to_array(rows)?,
            None => Arc::new(Int64Array::from(vec![0; rows])),
        };
        let scales = scales.as_primitive::<Int64Type>();
        if values.data_type().is_floating() {
            let doubles = arrow::compute::cast(&values, &DataType::Float64)?;
            let rounded: Float64Array = doubles
                .as_primitive::<Float64Type>()
                .iter()
                .zip(scales.iter())
                .map(|(v, d)| Some(rounded(v?, d?, Halfway::Even)))
                .collect();
            let rounded: ArrayRef = Arc::new(rounded);
            return Ok(ColumnarValue::Array(arrow::compute::cast(
                &rounded,
                values.data_type(),
            )?));
        }
        let integers = arrow::compute::cast(&values, &DataType::Int64)?;
        let rounded: Int64Array = integers
            .as_primitive::<Int64Type>()
            .iter()
            .zip(scales.iter())
            .map(|(v, d)| Some(integer_half_even(v?, d?)))
            .collect();
        let rounded: ArrayRef = Arc::new(rounded);
        Ok(ColumnarValue::Array(arrow::compute::cast(
            &rounded,
            values.data_type(),
        )?))
    }
}

/// The integer `v` rounded half to even at `scale` decimals (only a negative scale
/// changes it).
fn integer_half_even(v: i64, scale: i64) -> i64 {
    if scale >= 0 {
        return v;
    }
    let Some(unit) = 10_i128.checked_pow(scale.unsigned_abs().min(38) as u32) else {
        return 0;
    };
    let v = i128::from(v);
    let (quotient, remainder) = (v / unit, v % unit);
    let twice = remainder.abs() * 2;
    let away = twice > unit || (twice == unit && quotient % 2 != 0);
    let quotient = if away {
        quotient + v.signum()
    } else {
        quotient
    };
    i64::try_from(quotient * unit).unwrap_or(v as i64)
}

/// Whether a number whose kept digits end in an odd digit (`odd`) rounds away from zero
/// when the decimal digits `dropped` (as ASCII, most significant first) are cut off.
pub(super) fn rounds_up(halfway: Halfway, odd: bool, dropped: &[u8]) -> bool {
    match dropped.split_first() {
        Some((&next, rest)) => match halfway {
            Halfway::Up => next >= b'5',
            Halfway::Even => {
                next > b'5' || (next == b'5' && (odd || rest.iter().any(|&d| d != b'0')))
            }
        },
        None => false,
    }
}

/// `x` rounded half up (away from zero) to `scale` decimals, on its shortest decimal form.
fn half_up(x: f64, scale: i64) -> f64 {
    rounded(x, scale, Halfway::Up)
}

/// `x` rounded to `scale` decimals on its shortest decimal form, a halfway value as
/// `halfway` says.
fn rounded(x: f64, scale: i64, halfway: Halfway) -> f64 {
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
    // Below the place of the first digit, every digit is dropped after a 0.
    let dropped = if keep >= 0 {
        &digits[keep as usize..]
    } else {
        &[]
    };
    if rounds_up(halfway, kept % 2 == 1, dropped) {
        kept += 1;
    }
    if kept == 0 {
        // Spark's decimal has no negative zero: `round(-0.0004, 3)` is `0.0`.
        return 0.0;
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
    use crate::expr::{SqlExpr, texts_of};

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
        assert!(half_up(-0.0004, 3).is_sign_positive(), "no negative zero");
    }

    /// The values are PySpark 4.3.0's `bround` of the same numbers.
    #[test]
    fn bround_rounds_half_to_even_as_in_spark() {
        for (x, scale, want) in [
            (2.5, 0, 2.0),
            (3.5, 0, 4.0),
            (0.125, 2, 0.12),
            (0.135, 2, 0.14),
            (-2.5, 0, -2.0),
            (2.675, 2, 2.68),
            (1.0e7 + 0.5, 0, 1.0e7),
            (1234.5, -2, 1200.0),
            (1250.0, -2, 1200.0),
            (1350.0, -2, 1400.0),
            (0.5, 0, 0.0),
            (1.5, 0, 2.0),
            (-0.0005, 3, 0.0),
            (0.0015, 3, 0.002),
        ] {
            let got = rounded(x, scale, Halfway::Even);
            assert_eq!(got, want, "bround({x}, {scale})");
            assert_eq!(
                got.is_sign_negative(),
                want.is_sign_negative(),
                "bround({x}, {scale})"
            );
        }
        for (v, scale, want) in [
            (25, -1, 20),
            (35, -1, 40),
            (-25, -1, -20),
            (15, -5, 0),
            (7, 2, 7),
        ] {
            assert_eq!(integer_half_even(v, scale), want, "bround({v}, {scale})");
        }
        let doubles = Float64Array::from(vec![Some(2.5), None]);
        let batch = RecordBatch::try_from_iter([("x", Arc::new(doubles) as ArrayRef)]).unwrap();
        assert_eq!(
            texts_of("bround(x)", &batch),
            vec![Some("2.0".to_owned()), None]
        );
        assert_eq!(
            texts_of("bround(CAST(25 AS INT), -1)", &batch),
            vec![Some("20".to_owned()); 2]
        );
        let int = SqlExpr::compile("bround(CAST(25 AS INT), -1)", &batch.schema()).unwrap();
        assert_eq!(
            int.data_type(),
            &DataType::Int32,
            "an INT stays an INT, as Spark's"
        );
    }
}
