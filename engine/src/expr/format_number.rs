//! Spark's `format_number(x, d)`: `x` as text with `d` decimals and a comma between
//! each group of three digits (`format_number(1234567.891, 2)` is `'1,234,567.89'`), as
//! Java's `DecimalFormat("#,##0.00")` writes it. DataFusion has no such function.
//!
//! - Rounding is half to even (`DecimalFormat`'s), on the number's exact value: a double
//!   `2.675` is `2.67499999...`, so it gives `2.67`, and `0.125` gives `0.12`;
//! - `d` of 0 writes no decimal point; a negative `d` gives NULL, as in Spark;
//! - integers and decimals are exact, doubles and floats by their binary value;
//! - NaN and the infinities are written as Java writes them (`NaN`, `∞`, `-∞`);
//! - a NULL gives NULL. Spark's other form, a pattern (`format_number(x, '#.##')`), is
//!   refused.

use std::sync::Arc;

use arrow::array::{Array, AsArray, StringBuilder};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use super::rounding::{Halfway, rounds_up};

/// Spark's `format_number`.
pub(super) fn format_number() -> ScalarUDF {
    ScalarUDF::from(FormatNumber {
        signature: Signature::user_defined(Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct FormatNumber {
    signature: Signature,
}

impl ScalarUDFImpl for FormatNumber {
    fn name(&self) -> &str {
        "format_number"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let [value, decimals] = args else {
            return plan_err!("format_number(x, d) takes a number and a count of decimals");
        };
        let value = match value {
            t if t.is_integer() => DataType::Int64,
            DataType::Decimal128(..) | DataType::Decimal256(..) => value.clone(),
            t if t.is_floating() || t.is_null() => DataType::Float64,
            t => return plan_err!("format_number of a {t}: a number is formatted"),
        };
        if !(decimals.is_integer() || decimals.is_null()) {
            return plan_err!(
                "format_number(x, d): d is a count of decimals (a pattern is not supported)"
            );
        }
        Ok(vec![value, DataType::Int64])
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let mut values = args.args[0].to_array(rows)?;
        if matches!(
            values.data_type(),
            DataType::Decimal128(..) | DataType::Decimal256(..)
        ) {
            // A decimal's exact text.
            values = arrow::compute::cast(&values, &DataType::Utf8)?;
        }
        let decimals = args.args[1].to_array(rows)?;
        let decimals = decimals.as_primitive::<Int64Type>();
        let mut out = StringBuilder::with_capacity(rows, rows * 16);
        for i in 0..rows {
            if values.is_null(i) || decimals.is_null(i) || decimals.value(i) < 0 {
                out.append_null();
                continue;
            }
            let d = usize::try_from(decimals.value(i))
                .unwrap_or(usize::MAX)
                .min(340);
            let plain = match values.data_type() {
                DataType::Int64 => format!("{}.", values.as_primitive::<Int64Type>().value(i)),
                DataType::Float64 => {
                    let x = values.as_primitive::<Float64Type>().value(i);
                    if !x.is_finite() {
                        out.append_value(java_special(x));
                        continue;
                    }
                    // Rust writes the exact binary value, ties to even.
                    format!("{x:.d$}")
                }
                // A decimal's exact text (cast above).
                _ => values.as_string::<i32>().value(i).to_owned(),
            };
            out.append_value(grouped(&rounded_half_even(&plain, d), d));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// Java's text of NaN and the infinities in a `DecimalFormat`.
fn java_special(x: f64) -> &'static str {
    if x.is_nan() {
        "NaN"
    } else if x > 0.0 {
        "\u{221e}"
    } else {
        "-\u{221e}"
    }
}

/// The decimal text `plain` (`-123.4567`, `12.`, `7`) rounded half to even to `d`
/// decimals, as sign, integer digits and exactly `d` decimal digits.
fn rounded_half_even(plain: &str, d: usize) -> (bool, Vec<u8>, Vec<u8>) {
    let (negative, unsigned) = match plain.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, plain),
    };
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes().take(d)).collect();
    let rest = frac.as_bytes().get(d..).unwrap_or_default();
    digits.extend(std::iter::repeat_n(b'0', d.saturating_sub(frac.len())));
    let odd = digits.last().is_some_and(|&l| (l - b'0') % 2 == 1);
    if rounds_up(Halfway::Even, odd, rest) {
        let mut i = digits.len();
        loop {
            if i == 0 {
                digits.insert(0, b'1');
                break;
            }
            i -= 1;
            if digits[i] == b'9' {
                digits[i] = b'0';
            } else {
                digits[i] += 1;
                break;
            }
        }
    }
    let split = digits.len() - d;
    let frac = digits.split_off(split);
    let mut int = digits;
    while int.len() > 1 && int[0] == b'0' {
        int.remove(0);
    }
    if int.is_empty() {
        int.push(b'0');
    }
    // A negative number keeps its sign when it rounds to zero (`-0.00`), as in Java.
    (negative, int, frac)
}

/// The rounded number written with commas between groups of three integer digits.
fn grouped((negative, int, frac): &(bool, Vec<u8>, Vec<u8>), d: usize) -> String {
    let mut out = String::with_capacity(int.len() + int.len() / 3 + d + 2);
    if *negative {
        out.push('-');
    }
    for (i, &b) in int.iter().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(char::from(b));
    }
    if d > 0 {
        out.push('.');
        out.extend(frac.iter().map(|&b| char::from(b)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn double(x: f64, d: usize) -> String {
        grouped(&rounded_half_even(&format!("{x:.d$}"), d), d)
    }

    fn text(plain: &str, d: usize) -> String {
        grouped(&rounded_half_even(plain, d), d)
    }

    /// PySpark 4.3.0's `format_number` of the same numbers.
    #[test]
    fn sparks_values() {
        assert_eq!(double(1_234_567.891, 2), "1,234,567.89");
        assert_eq!(double(2.675, 2), "2.67");
        assert_eq!(double(0.125, 2), "0.12");
        assert_eq!(double(0.375, 2), "0.38");
        assert_eq!(double(-1234.5, 0), "-1,234");
        assert_eq!(double(-0.001, 2), "-0.00");
        assert_eq!(double(-0.5, 0), "-0");
        assert_eq!(double(0.5, 0), "0");
        assert_eq!(double(1.5, 0), "2");
        assert_eq!(double(1e20, 1), "100,000,000,000,000,000,000.0");
        assert_eq!(java_special(f64::NAN), "NaN");
        assert_eq!(java_special(f64::INFINITY), "\u{221e}");
        assert_eq!(text("-0.001", 2), "-0.00");
        assert_eq!(double(999.999, 2), "1,000.00");
        assert_eq!(text("12345.", 2), "12,345.00");
        assert_eq!(text("-1000000.", 0), "-1,000,000");
        assert_eq!(text("1234.565", 2), "1,234.56");
        assert_eq!(text("1234.575", 2), "1,234.58");
    }

    // Compiled as a job's expression: integers, decimals and doubles, NULL and a negative
    // count of decimals.
    #[test]
    fn a_jobs_format_number() {
        let doubles = arrow::array::Float64Array::from(vec![Some(1234.5), None]);
        let batch = arrow::record_batch::RecordBatch::try_from_iter([(
            "x",
            Arc::new(doubles) as arrow::array::ArrayRef,
        )])
        .unwrap();
        let texts = |sql: &str| crate::expr::texts_of(sql, &batch);
        assert_eq!(
            texts("format_number(x, 2)"),
            [Some("1,234.50".into()), None]
        );
        assert_eq!(texts("format_number(x, -1)"), [None, None]);
        assert_eq!(
            texts("format_number(12345, 1)")[0].as_deref(),
            Some("12,345.0")
        );
        assert_eq!(
            texts("format_number(CAST(1234.565 AS DECIMAL(7, 3)), 2)")[0].as_deref(),
            Some("1,234.56")
        );
        assert!(
            crate::expr::SqlExpr::compile("format_number(x, '#.##')", &batch.schema()).is_err()
        );
    }
}
