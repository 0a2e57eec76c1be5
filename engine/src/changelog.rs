//! Changelogs: a stream whose rows are changes to a table rather than new facts.
//!
//! An aggregate without a window ([`WindowKind::Global`](crate::window::WindowKind))
//! updates its groups for as long as the job runs. When another aggregate reads its rows
//! (Nexmark q4: the average, per category, of each auction's highest bid), a group's new
//! row must replace its old one there, not add to it. So such an aggregate emits, each
//! epoch, for every group that changed: its previous row (if it emitted one before) with
//! [`CHANGE_COLUMN`] `-1`, a retraction, then its new row with `+1`.
//!
//! An aggregate reading a changelog takes a retracted row's values back out of its
//! group: count, sum, avg, stddev and variance can, min, max and approx_count_distinct
//! cannot (a retracted minimum leaves no trace of the one before it), so they are refused
//! over a changelog. A group all of whose rows were retracted is dropped.

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Field, Int8Type, SchemaRef};
use arrow::record_batch::RecordBatch;

use crate::error::{EngineError, Result};

/// The column that says whether a changelog row is added (`1`) or retracted (`-1`).
pub const CHANGE_COLUMN: &str = "_change";

/// The change column's field.
pub fn change_field() -> Field {
    Field::new(CHANGE_COLUMN, DataType::Int8, false)
}

/// Whether rows of `schema` are a changelog.
pub fn is_changelog(schema: &SchemaRef) -> bool {
    schema.index_of(CHANGE_COLUMN).is_ok()
}

/// Each row's weight in `batch`, whose change column is column `index`: `1` for an
/// added row, `-1` for a retracted one.
///
/// # Errors
/// When the column is not `Int8` or holds anything but `1` and `-1`.
pub(crate) fn weights(batch: &RecordBatch, index: usize) -> Result<Vec<i8>> {
    let column = batch.column(index);
    let Some(changes) = column.as_primitive_opt::<Int8Type>() else {
        return Err(EngineError::InvalidPlan(format!(
            "the changelog column `{CHANGE_COLUMN}` is {}, not Int8",
            column.data_type()
        )));
    };
    if changes.null_count() > 0 || changes.values().iter().any(|&c| c != 1 && c != -1) {
        return Err(EngineError::InvalidPlan(format!(
            "the changelog column `{CHANGE_COLUMN}` holds a value other than 1 and -1"
        )));
    }
    Ok(changes.values().to_vec())
}
