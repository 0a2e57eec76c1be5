//! Spark's `collect_set(c)` (and `array_agg(DISTINCT c)`) per window: the window's
//! distinct values, kept as text ([`DistinctValues`], the state of `count(DISTINCT c)`),
//! given back as an array of the column's type in ascending order. Spark leaves the order
//! unspecified; sorting makes it the same in every run, a replay's and a batch's too.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, ListArray, StringArray, new_empty_array};
use arrow::buffer::OffsetBuffer;
use arrow::compute::{CastOptions, cast_with_options, concat, sort};
use arrow::datatypes::DataType;

use super::DistinctValues;
use crate::error::{EngineError, Result};

/// Whether values of `data_type` come back whole from their text: numbers (decimals
/// too), text, booleans, dates and timestamps.
pub(crate) fn can_collect(data_type: &DataType) -> bool {
    data_type.is_numeric()
        || matches!(
            data_type,
            DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Boolean
                | DataType::Date32
                | DataType::Date64
                | DataType::Timestamp(..)
        )
}

/// Each window's set as an array of `out`'s item type, sorted; empty where a window
/// saw only nulls.
///
/// # Errors
/// When a value's text does not read back as the type (a damaged snapshot).
pub(super) fn arrays<'a>(
    name: &str,
    sets: impl Iterator<Item = Option<&'a DistinctValues>>,
    out: &DataType,
) -> Result<ArrayRef> {
    let strict = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    lists(name, out, sets, |set, item| {
        let values: Vec<&str> = set.into_iter().flat_map(|s| s.values()).collect();
        let texts = StringArray::from_iter_values(values);
        let typed = cast_with_options(&texts, item, &strict).map_err(|e| {
            EngineError::Snapshot(format!(
                "aggregate `{name}`: a distinct value does not read back as {item}: {e}"
            ))
        })?;
        Ok(sort(&typed, None)?)
    })
}

/// One array of `out`'s item type per window, each made by `each` of the window's
/// state (`None` where it has none) and the item type.
///
/// # Errors
/// When `out` is no array type, or `each` fails.
pub(super) fn lists<S>(
    name: &str,
    out: &DataType,
    states: impl Iterator<Item = Option<S>>,
    mut each: impl FnMut(Option<S>, &DataType) -> Result<ArrayRef>,
) -> Result<ArrayRef> {
    let DataType::List(item) = out else {
        return Err(EngineError::InvalidPlan(format!(
            "aggregate `{name}`: typed {out}, not an array"
        )));
    };
    let mut offsets = vec![0i32];
    let mut parts: Vec<ArrayRef> = Vec::new();
    for state in states {
        let values = each(state, item.data_type())?;
        let end = offsets.last().copied().unwrap_or(0) + i32::try_from(values.len()).unwrap_or(0);
        offsets.push(end);
        parts.push(values);
    }
    let values = if parts.is_empty() {
        new_empty_array(item.data_type())
    } else {
        let parts: Vec<&dyn Array> = parts.iter().map(AsRef::as_ref).collect();
        concat(&parts)?
    };
    Ok(Arc::new(ListArray::try_new(
        Arc::clone(item),
        OffsetBuffer::new(offsets.into()),
        values,
        None,
    )?))
}
