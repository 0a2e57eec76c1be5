//! Routing rejected and late rows to the dead-letter table inside the dataflow.
//!
//! A row keeps its source coordinates (`source`, `partition`, `offset`). A row computed
//! from many records (an aggregate's, a window's) has none: it goes to the dead letters
//! with `source` = the operator that rejected it, `partition` and `offset` -1, and
//! itself as the payload (its window and keys locate it).

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};

use super::DeadLetters;
use crate::batch::Batches;
use crate::error::EngineError;
use crate::stateless::StatelessExt;

/// Converts rejected (or late) rows into dead letters; the second stream holds batches the
/// conversion failed on.
pub(super) fn to_dead<'scope>(
    stream: timely::dataflow::Stream<'scope, u64, Batches>,
    name: &str,
    operator: &str,
    late: bool,
    letters: &Arc<dyn DeadLetters>,
) -> (
    timely::dataflow::Stream<'scope, u64, Batches>,
    timely::dataflow::Stream<'scope, u64, Batches>,
) {
    let letters = Arc::clone(letters);
    let operator = operator.to_owned();
    stream.map_batches(name, move |epoch, batch| {
        let batch = located(batch, &operator)?;
        let converted = if late {
            letters.late(&batch, epoch)
        } else {
            letters.rejected(&batch, epoch)
        };
        converted.map_err(EngineError::from)
    })
}

/// `batch`, with the coordinates of rows that have none (see the [module docs](self)).
fn located<'a>(
    batch: &'a RecordBatch,
    operator: &str,
) -> Result<Cow<'a, RecordBatch>, EngineError> {
    let schema = batch.schema();
    let has = |name: &str| {
        schema
            .fields()
            .iter()
            .any(|f| f.name() == name || f.name().ends_with(&format!(".{name}")))
    };
    if has("source") {
        return Ok(Cow::Borrowed(batch));
    }
    let n = batch.num_rows();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    fields.push(Field::new("source", DataType::Utf8, false));
    columns.push(Arc::new(StringArray::from(vec![operator; n])));
    if !has("partition") {
        fields.push(Field::new("partition", DataType::Int32, false));
        columns.push(Arc::new(Int32Array::from(vec![-1; n])));
    }
    if !has("offset") {
        fields.push(Field::new("offset", DataType::Int64, false));
        columns.push(Arc::new(Int64Array::from(vec![-1; n])));
    }
    let schema = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    Ok(Cow::Owned(RecordBatch::try_new(schema, columns)?))
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Int32Type, Int64Type};

    use super::*;

    fn batch(names: &[&str]) -> RecordBatch {
        let fields: Vec<Field> = names
            .iter()
            .map(|n| Field::new(*n, DataType::Utf8, true))
            .collect();
        let columns: Vec<ArrayRef> = names
            .iter()
            .map(|_| Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef)
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
    }

    #[test]
    fn rows_without_coordinates_are_located_by_their_operator() {
        let window_row = batch(&["window_start", "n"]);
        let at = located(&window_row, "t/expressions").unwrap();
        let source = at.column_by_name("source").unwrap().as_string::<i32>();
        assert_eq!(
            (source.value(0), source.value(1)),
            ("t/expressions", "t/expressions")
        );
        let partition = at.column_by_name("partition").unwrap();
        let offset = at.column_by_name("offset").unwrap();
        assert_eq!(partition.as_primitive::<Int32Type>().value(1), -1);
        assert_eq!(offset.as_primitive::<Int64Type>().value(1), -1);
        assert_eq!(at.num_columns(), 5);
        // Rows with their own coordinates, or a join side's, keep them.
        for names in [
            &["v", "source", "partition", "offset"][..],
            &["v", "L.source"],
        ] {
            let rows = batch(names);
            let kept = located(&rows, "t/expressions").unwrap();
            assert!(matches!(kept, Cow::Borrowed(_)));
            assert_eq!(kept.num_columns(), names.len());
            assert_eq!(kept.column(0).len(), 2);
        }
    }
}
