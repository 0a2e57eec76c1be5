//! Building result batches from emitted windows.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Array, Int8Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;

use tracing::warn;

use super::input::Reading;
use super::state::{Slot, WindowState};
use super::{AggregateFn, Extra, Hll, Moments, WindowKind};
use crate::error::Result;

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
        let moments = emitted.iter().map(|(_, s)| &s.acc.moments[a]);
        let exact = reading.is_exact();
        let column: ArrayRef = match agg.function {
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
            AggregateFn::Sum if exact => integer_sums(&agg.name, moments),
            AggregateFn::Sum => doubles(moments, Moments::sum),
            #[allow(clippy::cast_precision_loss)]
            AggregateFn::Avg if exact => doubles(moments, |m| m.int_sum() as f64 / m.count as f64),
            AggregateFn::Avg => doubles(moments, |m| m.sum() / m.count as f64),
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
                match state.output_schema().field(columns.len()).data_type() {
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
            AggregateFn::Variance => {
                Arc::new(Float64Array::from_iter(moments.map(|m| m.variance())))
            }
            AggregateFn::VariancePop => {
                Arc::new(Float64Array::from_iter(moments.map(|m| m.variance_pop())))
            }
        };
        columns.push(column);
    }
    if let Some(changes) = changes {
        columns.push(Arc::new(Int8Array::from(changes.to_vec())));
    }
    Ok(RecordBatch::try_new(
        Arc::clone(state.output_schema()),
        columns,
    )?)
}

/// The exact sum of integers per window as a BIGINT: null when no value contributed, and
/// when the sum does not fit one (with a warning naming the aggregate).
fn integer_sums<'a>(name: &str, moments: impl Iterator<Item = &'a Moments>) -> ArrayRef {
    let mut overflowed = 0usize;
    let sums = Int64Array::from_iter(moments.map(|m| {
        let sum = (m.count > 0).then(|| i64::try_from(m.int_sum()).ok())?;
        overflowed += usize::from(sum.is_none());
        sum
    }));
    if overflowed > 0 {
        warn!(
            aggregate = name,
            windows = overflowed,
            "a sum of integers does not fit a BIGINT; written as NULL (cast the column to \
             DOUBLE to sum it approximately)"
        );
    }
    Arc::new(sums)
}

/// A double per window, null when no value contributed.
fn doubles<'a>(
    moments: impl Iterator<Item = &'a Moments>,
    f: impl Fn(&Moments) -> f64,
) -> ArrayRef {
    Arc::new(Float64Array::from_iter(
        moments.map(|m| (m.count > 0).then(|| f(m))),
    ))
}
