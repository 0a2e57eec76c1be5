//! Spark's `months_between(end, start[, round_off])`: the months from `start` to `end`, as
//! a DOUBLE. DataFusion has no such function.
//!
//! As Spark computes it (in UTC, the engine's time zone): the whole months between the
//! two dates' months; when the days of the month differ, and they are not both the last
//! day of their month, plus the rest as a fraction of a 31-day month, counting the days
//! and the seconds of their times. With `round_off` (the default, `true`) the result is
//! rounded to 8 decimals, half up. A date counts as its midnight; a NULL gives NULL.

use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray, Float64Array};
use arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use chrono::{Datelike, NaiveDate};
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

const MICROS_PER_SECOND: i64 = 1_000_000;
const SECONDS_PER_DAY: i64 = 86_400;
const MICROS_PER_DAY: i64 = SECONDS_PER_DAY * MICROS_PER_SECOND;

/// Spark's `months_between`.
pub(super) fn months_between() -> ScalarUDF {
    ScalarUDF::from(MonthsBetween {
        signature: Signature::user_defined(Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct MonthsBetween {
    signature: Signature,
}

/// The type both times are cast to.
fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

impl ScalarUDFImpl for MonthsBetween {
    fn name(&self) -> &str {
        "months_between"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        if !(2..=3).contains(&args.len()) {
            return plan_err!("months_between(end, start[, round_off]) takes 2 or 3 arguments");
        }
        let mut types = vec![timestamp(), timestamp()];
        if args.len() == 3 {
            types.push(DataType::Boolean);
        }
        Ok(types)
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let end = args.args[0].to_array(rows)?;
        let start = args.args[1].to_array(rows)?;
        let round_off = match args.args.get(2) {
            Some(r) => r.to_array(rows)?,
            None => Arc::new(BooleanArray::from(vec![true; rows])),
        };
        let (end, start) = (
            end.as_primitive::<TimestampMicrosecondType>(),
            start.as_primitive::<TimestampMicrosecondType>(),
        );
        let round_off = round_off.as_boolean();
        let out: Float64Array = (0..rows)
            .map(|i| {
                if end.is_null(i) || start.is_null(i) || round_off.is_null(i) {
                    return None;
                }
                between(end.value(i), start.value(i), round_off.value(i))
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// The date of `micros` since the epoch (UTC), and the whole seconds into its day.
fn date_and_seconds(micros: i64) -> Option<(NaiveDate, i64)> {
    let days = micros.div_euclid(MICROS_PER_DAY);
    let seconds = micros.rem_euclid(MICROS_PER_DAY) / MICROS_PER_SECOND;
    let date = NaiveDate::from_num_days_from_ce_opt(i32::try_from(days + 719_163).ok()?)?;
    Some((date, seconds))
}

fn last_day_of_month(date: NaiveDate) -> bool {
    date.succ_opt()
        .is_none_or(|next| next.month() != date.month())
}

/// Spark's `DateTimeUtils.monthsBetween` of two instants, in microseconds (UTC).
fn between(end: i64, start: i64, round_off: bool) -> Option<f64> {
    let (date1, seconds1) = date_and_seconds(end)?;
    let (date2, seconds2) = date_and_seconds(start)?;
    let months = (date1.year() - date2.year()) * 12 + date1.month() as i32 - date2.month() as i32;
    let months = f64::from(months);
    let (day1, day2) = (i64::from(date1.day()), i64::from(date2.day()));
    if day1 == day2 || (last_day_of_month(date1) && last_day_of_month(date2)) {
        return Some(months);
    }
    let seconds = (day1 - day2) * SECONDS_PER_DAY + seconds1 - seconds2;
    let diff = months + seconds as f64 / (31 * SECONDS_PER_DAY) as f64;
    Some(if round_off {
        // Java's `Math.round`: half up.
        (diff * 1e8 + 0.5).floor() / 1e8
    } else {
        diff
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDateTime;

    fn micros(text: &str) -> i64 {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
            .unwrap()
            .and_utc()
            .timestamp_micros()
    }

    /// PySpark 4.3.0's `months_between` of the same times (UTC).
    #[test]
    fn sparks_values() {
        for (end, start, round_off, want) in [
            (
                "1997-02-28 10:30:00",
                "1996-10-30 00:00:00",
                true,
                3.94959677,
            ),
            (
                "1997-02-28 10:30:00",
                "1996-10-30 00:00:00",
                false,
                3.9495967741935485,
            ),
            ("2024-03-31 00:00:00", "2024-02-29 00:00:00", true, 1.0),
            ("2024-03-15 12:00:00", "2024-01-15 00:00:00", true, 2.0),
            (
                "2024-01-01 00:00:00",
                "2024-03-15 06:00:00",
                true,
                -2.45967742,
            ),
            // Both the last day of their month: whole months, whatever the times.
            ("2024-02-29 23:59:59", "2023-02-28 00:00:00", true, 12.0),
            (
                "2024-02-28 23:59:59",
                "2023-02-27 00:00:00",
                true,
                12.06451576,
            ),
            // DATE '2024-05-10' and DATE '2024-01-01'.
            (
                "2024-05-10 00:00:00",
                "2024-01-01 00:00:00",
                true,
                4.29032258,
            ),
        ] {
            let got = between(micros(end), micros(start), round_off).unwrap();
            assert_eq!(got, want, "months_between({end}, {start}, {round_off})");
        }
    }

    // Compiled as a job's expression: dates and timestamp text are cast, NULL is NULL.
    #[test]
    fn a_jobs_months_between() {
        let dates = arrow::array::Date32Array::from(vec![Some(19_853), None]); // 2024-05-10
        let batch = arrow::record_batch::RecordBatch::try_from_iter([(
            "d",
            Arc::new(dates) as arrow::array::ArrayRef,
        )])
        .unwrap();
        let texts = |sql: &str| crate::expr::texts_of(sql, &batch);
        assert_eq!(
            texts("months_between(d, DATE '2024-01-01')"),
            [Some("4.29032258".into()), None]
        );
        assert_eq!(
            texts("months_between('2024-03-31 00:00:00', '2024-02-29 00:00:00', false)")[0]
                .as_deref(),
            Some("1.0")
        );
    }
}
