//! `session_gap_us(gap)`: a session window's gap computed per row (Spark's
//! `session_window(ts, CASE WHEN ... THEN '5 minutes' ELSE '1 minute' END)`), as the
//! microseconds the window reads. The SQL front end writes it over the gap expression
//! cast to an interval, so text (`'5 minutes'`) and intervals (`INTERVAL '5' MINUTE`) both
//! work.
//!
//! A gap that is null, not positive, or of months (which have no fixed length) fails its
//! row, which goes to the dead-letter table with the reason, where Spark would drop the
//! row from the aggregation without a word.

use std::sync::Arc;

use arrow::array::{Array, AsArray, Int64Builder};
use arrow::datatypes::{DataType, IntervalMonthDayNanoType, IntervalUnit};
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// The function's name.
pub(super) const NAME: &str = "session_gap_us";

/// The per-row session gap.
pub(super) fn session_gap() -> ScalarUDF {
    ScalarUDF::from(SessionGap {
        signature: Signature::any(1, Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct SessionGap {
    signature: Signature,
}

impl ScalarUDFImpl for SessionGap {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args {
            [DataType::Interval(IntervalUnit::MonthDayNano)] => Ok(DataType::Int64),
            other => plan_err!("a session gap is an interval, not {other:?}"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let gaps = args.args[0].to_array(args.number_rows)?;
        let gaps = gaps.as_primitive::<IntervalMonthDayNanoType>();
        let mut out = Int64Builder::with_capacity(gaps.len());
        for i in 0..gaps.len() {
            if gaps.is_null(i) {
                return exec_err!("the session gap is null: a row needs a gap to be in a session");
            }
            let gap = gaps.value(i);
            let micros = i64::from(gap.days)
                .checked_mul(86_400_000_000)
                .and_then(|days| days.checked_add(gap.nanoseconds / 1_000));
            match micros {
                _ if gap.months != 0 => {
                    return exec_err!(
                        "a session gap of {} months: a month has no fixed length",
                        gap.months
                    );
                }
                Some(us) if us > 0 => out.append_value(us),
                _ => return exec_err!("the session gap is not positive"),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};

    use crate::expr::SqlExpr;

    #[test]
    fn gaps_are_microseconds_and_bad_ones_fail_their_row() {
        let batch = RecordBatch::try_from_iter([
            (
                "g",
                std::sync::Arc::new(StringArray::from(vec!["5 minutes", "1 day 2 seconds"]))
                    as ArrayRef,
            ),
            (
                "n",
                std::sync::Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef,
            ),
        ])
        .unwrap();
        let e = SqlExpr::compile("session_gap_us(CAST(g AS INTERVAL))", &batch.schema()).unwrap();
        let out = e.evaluate(&batch).unwrap();
        let out = out.as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(out.values(), &[300_000_000, 86_402_000_000]);
        let e = SqlExpr::compile(
            "session_gap_us(CASE WHEN n > 1 THEN INTERVAL '1' MINUTE ELSE INTERVAL '30' SECOND END)",
            &batch.schema(),
        )
        .unwrap();
        let out = e.evaluate(&batch).unwrap();
        let out = out.as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(out.values(), &[30_000_000, 60_000_000]);
        for (sql, expected) in [
            ("session_gap_us(INTERVAL '0' SECOND)", "not positive"),
            (
                "session_gap_us(INTERVAL '1' MONTH)",
                "a month has no fixed length",
            ),
            (
                "session_gap_us(CAST(NULL AS INTERVAL))",
                "the session gap is null",
            ),
        ] {
            let err = SqlExpr::compile(sql, &batch.schema())
                .and_then(|e| e.evaluate(&batch))
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{sql}: {err}");
        }
    }
}
