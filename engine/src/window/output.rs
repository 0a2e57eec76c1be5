//! Building result batches from emitted windows.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Decimal128Array, Float64Array, Int8Array, Int64Array, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;

use tracing::warn;

use super::input::{Reading, SetOf};
use super::state::{Slot, WindowState};
use super::{Aggregate, AggregateFn, DistinctValues, Extra, Hll, Moments, WindowKind};
use crate::error::{EngineError, Result};

/// One result row per emitted `(key, slot)`, in the given order; with `changes`, a
/// changelog's rows, each with its change.
pub(crate) fn build(
    state: &WindowState,
    emitted: &[(Box<[u8]>, Slot)],
    changes: Option<&[i8]>,
) -> Result<RecordBatch> {
    let mut columns: Vec<ArrayRef> = Vec::new();
    if state.spec.kind != WindowKind::Global {
        let starts =
            TimestampMicrosecondArray::from_iter_values(emitted.iter().map(|(_, s)| s.start))
                .with_timezone("UTC");
        let ends = TimestampMicrosecondArray::from_iter_values(emitted.iter().map(|(_, s)| s.end))
            .with_timezone("UTC");
        columns.push(Arc::new(starts));
        columns.push(Arc::new(ends));
    }
    let parser = state.converter.parser();
    let keys = state
        .converter
        .convert_rows(emitted.iter().map(|(k, _)| parser.parse(k)))?;
    columns.extend(keys);
    for (a, (agg, reading)) in state
        .spec
        .aggregates
        .iter()
        .zip(state.readings())
        .enumerate()
    {
        let out = state.output_schema().field(columns.len()).data_type();
        columns.push(aggregate_column(state, emitted, a, agg, reading, out)?);
    }
    if let Some(changes) = changes {
        columns.push(Arc::new(Int8Array::from(changes.to_vec())));
    }
    Ok(RecordBatch::try_new(
        Arc::clone(state.output_schema()),
        columns,
    )?)
}

/// The column of aggregate number `a` (`agg`, read as `reading`, typed `out`) of the
/// emitted windows.
fn aggregate_column(
    state: &WindowState,
    emitted: &[(Box<[u8]>, Slot)],
    a: usize,
    agg: &Aggregate,
    reading: &Reading,
    out: &DataType,
) -> Result<ArrayRef> {
    let moments = emitted.iter().map(|(_, s)| &s.acc.moments[a]);
    let exact = reading.is_exact();
    Ok(match agg.function {
        AggregateFn::Count if agg.column.is_none() => Arc::new(Int64Array::from_iter_values(
            emitted.iter().map(|(_, s)| s.acc.rows),
        )),
        AggregateFn::Count => Arc::new(Int64Array::from_iter_values(moments.map(|m| m.count))),
        AggregateFn::ApproxCountDistinct => Arc::new(Int64Array::from_iter_values(
            emitted.iter().map(|(_, s)| {
                s.acc.extras[a]
                    .as_ref()
                    .and_then(Extra::sketch)
                    .map_or(0, Hll::estimate)
            }),
        )),
        AggregateFn::CountDistinct => Arc::new(Int64Array::from_iter_values(emitted.iter().map(
            |(_, s)| {
                s.acc.extras[a]
                    .as_ref()
                    .and_then(Extra::set)
                    .map_or(0, DistinctValues::count)
            },
        ))),
        AggregateFn::CollectSet => {
            let sets = emitted
                .iter()
                .map(|(_, s)| s.acc.extras[a].as_ref().and_then(Extra::set));
            super::collected::arrays(&agg.name, sets, out)?
        }
        AggregateFn::CollectList => {
            let lists = emitted
                .iter()
                .map(|(_, s)| s.acc.extras[a].as_ref().and_then(Extra::list));
            super::listed::arrays(&agg.name, lists, out)?
        }
        AggregateFn::SumDistinct | AggregateFn::AvgDistinct => {
            let Reading::NumberSet(of) = *reading else {
                return Err(EngineError::InvalidPlan(format!(
                    "aggregate `{}`: {:?} reads {reading:?}",
                    agg.name, agg.function
                )));
            };
            let sets = emitted
                .iter()
                .map(|(_, s)| s.acc.extras[a].as_ref().and_then(Extra::set));
            distinct_numbers(state, agg, of, sets, out)?
        }
        AggregateFn::ApproxPercentile { per_million } => {
            let q = f64::from(per_million) / 1e6;
            let estimates = emitted.iter().map(|(_, s)| {
                s.acc.extras[a]
                    .as_ref()
                    .and_then(Extra::quantiles)
                    .and_then(|sketch| sketch.quantile(q))
            });
            match reading {
                // An integer column's percentile is an integer, as in Spark.
                Reading::Distribution { integer: true } => Arc::new(Int64Array::from_iter(
                    estimates.map(|e| e.map(|e| e.round() as i64)),
                )),
                _ => Arc::new(Float64Array::from_iter(estimates)),
            }
        }
        AggregateFn::Sum | AggregateFn::Avg | AggregateFn::Min | AggregateFn::Max
            if matches!(reading, Reading::Decimal(..)) =>
        {
            // Up to 18 digits in the moments, wider ones beside them.
            let totals = emitted.iter().map(|(_, s)| {
                let m = &s.acc.moments[a];
                match s.acc.extras[a].as_ref().and_then(Extra::wide) {
                    Some(w) => DecimalTotals {
                        count: m.count,
                        sum: w.sum,
                        range: w.range.unwrap_or_default(),
                    },
                    None => DecimalTotals {
                        count: m.count,
                        sum: Some(m.int_sum()),
                        range: (i128::from(m.int_min()), i128::from(m.int_max())),
                    },
                }
            });
            decimals(state, &agg.name, agg.function, *reading, totals, out)?
        }
        AggregateFn::Sum if exact => integer_sums(state, &agg.name, moments),
        AggregateFn::Sum => doubles(moments, Moments::sum),
        #[allow(clippy::cast_precision_loss)]
        AggregateFn::Avg if exact => doubles(moments, |m| m.int_sum() as f64 / m.count as f64),
        AggregateFn::Avg => doubles(moments, |m| m.sum() / m.count as f64),
        AggregateFn::MaxBy | AggregateFn::MinBy => {
            let Reading::Pick(ordering) = *reading else {
                return Err(EngineError::InvalidPlan(format!(
                    "aggregate `{}`: {:?} reads {reading:?}",
                    agg.name, agg.function
                )));
            };
            let max = agg.function == AggregateFn::MaxBy;
            let picks = emitted.iter().map(|(_, s)| {
                let range = s.acc.extras[a].as_ref().and_then(Extra::range)?;
                Some(if max { &*range.greatest } else { &*range.least })
            });
            super::best::values(&agg.name, ordering, picks, out)?
        }
        AggregateFn::Min | AggregateFn::Max if *reading == Reading::Text => {
            let max = agg.function == AggregateFn::Max;
            Arc::new(StringArray::from_iter(emitted.iter().map(|(_, s)| {
                let range = s.acc.extras[a].as_ref().and_then(Extra::range)?;
                Some(if max { &range.greatest } else { &range.least })
            })))
        }
        AggregateFn::Min | AggregateFn::Max if exact => {
            let max = agg.function == AggregateFn::Max;
            let values: ArrayRef =
                Arc::new(Int64Array::from_iter(moments.map(|m| {
                    (m.count > 0).then(|| if max { m.int_max() } else { m.int_min() })
                })));
            // Integers, or a timestamp's or date's value (`input.rs`).
            match out {
                DataType::Int64 => values,
                data_type => super::input::times_back(values, data_type)?,
            }
        }
        AggregateFn::Min => doubles(moments, Moments::min),
        AggregateFn::Max => doubles(moments, Moments::max),
        AggregateFn::Stddev => Arc::new(Float64Array::from_iter(moments.map(|m| m.stddev()))),
        AggregateFn::StddevPop => Arc::new(Float64Array::from_iter(
            moments.map(|m| m.variance_pop().map(f64::sqrt)),
        )),
        AggregateFn::Variance => Arc::new(Float64Array::from_iter(moments.map(|m| m.variance()))),
        AggregateFn::VariancePop => {
            Arc::new(Float64Array::from_iter(moments.map(|m| m.variance_pop())))
        }
    })
}

/// The exact sum of integers per window as a BIGINT: null when no value contributed, and
/// when the sum does not fit one (with a warning naming the aggregate).
fn integer_sums<'a>(
    state: &WindowState,
    name: &str,
    moments: impl Iterator<Item = &'a Moments>,
) -> ArrayRef {
    let mut overflowed = 0usize;
    let sums = Int64Array::from_iter(moments.map(|m| {
        let sum = (m.count > 0).then(|| i64::try_from(m.int_sum()).ok())?;
        overflowed += usize::from(sum.is_none());
        sum
    }));
    note_overflows(state, name, overflowed, || {
        "a sum of integers does not fit a BIGINT; written as NULL (cast the column to DOUBLE \
         to sum it approximately)"
            .to_owned()
    });
    Arc::new(sums)
}

/// Counts `windows` results of the aggregate `name` written NULL because they did not fit
/// their type, and warns, saying `what` happened.
fn note_overflows(state: &WindowState, name: &str, windows: usize, what: impl FnOnce() -> String) {
    if windows > 0 {
        state.overflows.inc_by(windows as u64);
        warn!(aggregate = name, windows, "{}", what());
    }
}

/// Exact sums, averages, minimums or maximums of a decimal's unscaled values, in `out`
/// (their decimal type): null when no value contributed, and when the result does not fit
/// `out` (with a warning naming the aggregate, as Spark gives null without ANSI mode).
/// A window's decimals, unscaled: how many, their sum (`None` once it overflowed 128
/// bits), least and greatest.
struct DecimalTotals {
    count: i64,
    sum: Option<i128>,
    range: (i128, i128),
}

fn decimals(
    state: &WindowState,
    name: &str,
    function: AggregateFn,
    reading: Reading,
    totals: impl Iterator<Item = DecimalTotals>,
    out: &DataType,
) -> Result<ArrayRef> {
    let (&DataType::Decimal128(precision, scale), Reading::Decimal(_, input_scale)) =
        (out, reading)
    else {
        return Err(EngineError::InvalidPlan(format!(
            "aggregate `{name}`: a decimal's {function:?} typed {out}"
        )));
    };
    let limit = 10u128.pow(u32::from(precision));
    // An average has more places than its input: the sum is scaled up before dividing.
    let places = u32::try_from(scale - input_scale).unwrap_or(0);
    let mut overflowed = 0usize;
    let values = Decimal128Array::from_iter(totals.map(|t| {
        if t.count == 0 {
            return None;
        }
        let value = match function {
            AggregateFn::Sum => t.sum,
            AggregateFn::Min => Some(t.range.0),
            AggregateFn::Max => Some(t.range.1),
            _ => t.sum.and_then(|sum| mean_half_up(sum, t.count, places)),
        }
        .filter(|v| v.unsigned_abs() < limit);
        overflowed += usize::from(value.is_none());
        value
    }))
    .with_precision_and_scale(precision, scale)?;
    note_overflows(state, name, overflowed, || {
        format!(
            "a decimal {function:?} does not fit {out}; written as NULL (cast the column to \
             DOUBLE to aggregate it approximately)"
        )
    });
    Ok(Arc::new(values))
}

/// `sum / count` with `places` more decimal places than `sum`, rounded half up (away from
/// zero), as Spark divides decimals; `None` when it overflows.
pub(crate) fn mean_half_up(sum: i128, count: i64, places: u32) -> Option<i128> {
    use arrow::datatypes::i256;
    // In 256 bits: a sum of 38 digits scaled up by 4 places still fits before dividing.
    let scaled = i256::from_i128(sum).checked_mul(i256::from_i128(10i128.checked_pow(places)?))?;
    let count = i256::from_i128(i128::from(count));
    let (quotient, remainder) = (scaled.checked_div(count)?, scaled.checked_rem(count)?);
    let away = remainder.wrapping_abs().checked_mul(i256::from_i128(2))? >= count.wrapping_abs();
    let step = if away { scaled.signum() } else { i256::ZERO };
    quotient.checked_add(step)?.to_i128()
}

/// A double per window, null when no value contributed.
/// The sums or averages of each window's distinct values (`sum(DISTINCT c)`): the set of
/// its values as text, each read back as a number of the column's kind, then summed as
/// [`AggregateFn::Sum`] and [`AggregateFn::Avg`] sum every value (of the same type, NULL
/// for an empty window or a sum that overflows).
fn distinct_numbers<'a>(
    state: &WindowState,
    agg: &Aggregate,
    of: SetOf,
    sets: impl Iterator<Item = Option<&'a DistinctValues>>,
    out: &DataType,
) -> Result<ArrayRef> {
    let function = agg.function.plain();
    let unread = |value: &str, why: &dyn std::fmt::Display| {
        EngineError::Snapshot(format!(
            "aggregate `{}`: the distinct value {value:?} does not read as a number: {why}",
            agg.name
        ))
    };
    let values = |set: Option<&'a DistinctValues>| set.into_iter().flat_map(|s| s.values());
    match of {
        SetOf::Integer | SetOf::Number => {
            let mut moments = Vec::new();
            for set in sets {
                let mut m = Moments::default();
                for v in values(set) {
                    if of == SetOf::Integer {
                        m.add_int(v.parse().map_err(|e| unread(v, &e))?);
                    } else {
                        m.add_plain(v.parse().map_err(|e| unread(v, &e))?);
                    }
                }
                moments.push(m);
            }
            #[allow(clippy::cast_precision_loss)]
            Ok(match (of, function) {
                (SetOf::Integer, AggregateFn::Sum) => {
                    integer_sums(state, &agg.name, moments.iter())
                }
                (SetOf::Integer, _) => {
                    doubles(moments.iter(), |m| m.int_sum() as f64 / m.count as f64)
                }
                (_, AggregateFn::Sum) => doubles(moments.iter(), Moments::sum),
                _ => doubles(moments.iter(), |m| m.sum() / m.count as f64),
            })
        }
        SetOf::Decimal(precision, scale) => {
            let places = u8::try_from(scale).unwrap_or(0);
            let mut totals = Vec::new();
            for set in sets {
                let mut t = DecimalTotals {
                    count: 0,
                    sum: Some(0),
                    range: (i128::MAX, i128::MIN),
                };
                for v in values(set) {
                    let unscaled =
                        crate::decimal::parse(v, precision, places).map_err(|e| unread(v, &e))?;
                    t.count += 1;
                    t.sum = t.sum.and_then(|s| s.checked_add(unscaled));
                    t.range = (t.range.0.min(unscaled), t.range.1.max(unscaled));
                }
                totals.push(t);
            }
            let reading = Reading::Decimal(precision, scale);
            decimals(state, &agg.name, function, reading, totals.into_iter(), out)
        }
    }
}

fn doubles<'a>(
    moments: impl Iterator<Item = &'a Moments>,
    f: impl Fn(&Moments) -> f64,
) -> ArrayRef {
    Arc::new(Float64Array::from_iter(
        moments.map(|m| (m.count > 0).then(|| f(m))),
    ))
}

#[cfg(test)]
mod tests {
    use super::mean_half_up;

    #[test]
    fn a_decimal_mean_rounds_half_away_from_zero() {
        // 1.00 + 2.00 + 2.00 = 5.00 over 3: 1.666666... to 6 places.
        assert_eq!(mean_half_up(500, 3, 4), Some(1_666_667));
        assert_eq!(mean_half_up(-500, 3, 4), Some(-1_666_667));
        // 0.00005 exactly: half rounds away from zero.
        assert_eq!(mean_half_up(1, 2, 4), Some(5000));
        assert_eq!(mean_half_up(1, 20_000, 0), Some(0));
        assert_eq!(mean_half_up(1, 20_000, 4), Some(1));
        assert_eq!(mean_half_up(-1, 20_000, 4), Some(-1));
        assert_eq!(mean_half_up(-1, 30_000, 4), Some(0));
        assert_eq!(mean_half_up(i128::MAX / 10, 1, 4), None);
    }
}
