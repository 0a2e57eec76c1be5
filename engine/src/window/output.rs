//! Building result batches from emitted windows.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int8Array, Int64Array, TimestampMicrosecondArray};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;

use super::state::{Slot, WindowState};
use super::{AggregateFn, Moments, WindowKind};
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
    for (a, agg) in state.spec.aggregates.iter().enumerate() {
        let moments = emitted.iter().map(|(_, s)| &s.acc.moments[a]);
        let column: ArrayRef = match agg.function {
            AggregateFn::Count if agg.column.is_none() => Arc::new(Int64Array::from_iter_values(
                emitted.iter().map(|(_, s)| s.acc.rows),
            )),
            AggregateFn::Count => Arc::new(Int64Array::from_iter_values(moments.map(|m| m.count))),
            AggregateFn::ApproxCountDistinct => {
                Arc::new(Int64Array::from_iter_values(emitted.iter().map(
                    |(_, s)| s.acc.sketches[a].as_ref().map_or(0, |h| h.estimate()),
                )))
            }
            AggregateFn::Sum => doubles(moments, |m| m.sum),
            AggregateFn::Avg => doubles(moments, |m| m.sum / m.count as f64),
            AggregateFn::Min | AggregateFn::Max
                if state.output_schema().field(columns.len()).data_type() != &DataType::Float64 =>
            {
                let max = agg.function == AggregateFn::Max;
                let values: ArrayRef = Arc::new(Int64Array::from_iter(moments.map(|m| {
                    // Exact for integers up to 2^53 in magnitude: the state keeps doubles.
                    #[allow(clippy::cast_possible_truncation)]
                    (m.count > 0).then_some(if max { m.max } else { m.min } as i64)
                })));
                // Integers, or a timestamp's or date's value (`input.rs`).
                match state.output_schema().field(columns.len()).data_type() {
                    DataType::Int64 => values,
                    data_type => super::input::times_back(values, data_type)?,
                }
            }
            AggregateFn::Min => doubles(moments, |m| m.min),
            AggregateFn::Max => doubles(moments, |m| m.max),
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

/// A double per window, null when no value contributed.
fn doubles<'a>(
    moments: impl Iterator<Item = &'a Moments>,
    f: impl Fn(&Moments) -> f64,
) -> ArrayRef {
    Arc::new(Float64Array::from_iter(
        moments.map(|m| (m.count > 0).then(|| f(m))),
    ))
}
