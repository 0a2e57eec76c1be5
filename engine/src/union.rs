//! A union of streams (`UNION ALL`, or several queries writing one table): every row of
//! every input, in one stream.
//!
//! The inputs match by position, as SQL's `UNION ALL` does: the same number of columns,
//! and the same type at each position. The output takes the first input's column names;
//! a column is nullable when it is in any input. A union keeps no state: each input's
//! rows pass in the epoch they arrive in, and the event-time operators before it keep
//! their own watermarks.

use std::sync::Arc;

use arrow::compute::cast;
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use crate::error::{EngineError, Result};

/// The compiled union: the schema its inputs' rows take.
#[derive(Clone, Debug)]
pub struct Union {
    schema: SchemaRef,
}

impl Union {
    /// Checks that `inputs` (each a stream's name and schema, the first the operator's
    /// input) line up column by column.
    ///
    /// # Errors
    /// [`EngineError::InvalidPlan`] naming the input and column that differ from the
    /// first input's.
    pub fn new(inputs: &[(&str, &SchemaRef)]) -> Result<Self> {
        let Some(((first_name, first), rest)) = inputs.split_first() else {
            return Err(EngineError::InvalidPlan("a union of no streams".into()));
        };
        let mut fields: Vec<Field> = first.fields().iter().map(|f| f.as_ref().clone()).collect();
        for (name, schema) in rest {
            if schema.fields().len() != fields.len() {
                return Err(EngineError::InvalidPlan(format!(
                    "the union's inputs differ: `{first_name}` has {} columns ({}), `{name}` \
                     has {} ({}); select the same columns in the same order",
                    fields.len(),
                    names(first),
                    schema.fields().len(),
                    names(schema)
                )));
            }
            for (i, (field, other)) in fields.iter_mut().zip(schema.fields()).enumerate() {
                if !field.data_type().equals_datatype(other.data_type()) {
                    return Err(EngineError::InvalidPlan(format!(
                        "the union's inputs differ at column {}: `{first_name}`.`{}` is {}, \
                         `{name}`.`{}` is {}; CAST one of them",
                        i + 1,
                        field.name(),
                        field.data_type(),
                        other.name(),
                        other.data_type()
                    )));
                }
                if other.is_nullable() {
                    field.set_nullable(true);
                }
            }
        }
        Ok(Self {
            schema: Arc::new(Schema::new(fields)),
        })
    }

    /// The rows' schema: the first input's names.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// One input's batch, with the union's schema.
    ///
    /// # Errors
    /// When a column cannot take the union's type (nested fields that differ only in
    /// names are cast).
    pub fn apply(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let columns = batch
            .columns()
            .iter()
            .zip(self.schema.fields())
            .map(|(column, field)| {
                if column.data_type() == field.data_type() {
                    Ok(Arc::clone(column))
                } else {
                    cast(column, field.data_type())
                }
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), columns)?)
    }
}

fn names(schema: &Schema) -> String {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::DataType;

    use super::*;

    fn schema(fields: &[(&str, DataType, bool)]) -> SchemaRef {
        Arc::new(Schema::new(
            fields
                .iter()
                .map(|(n, t, nullable)| Field::new(*n, t.clone(), *nullable))
                .collect::<Vec<_>>(),
        ))
    }

    #[test]
    fn rows_take_the_first_input_s_names_and_any_input_s_nullability() {
        let a = schema(&[
            ("id", DataType::Int64, false),
            ("name", DataType::Utf8, false),
        ]);
        let b = schema(&[
            ("key", DataType::Int64, true),
            ("label", DataType::Utf8, false),
        ]);
        let union = Union::new(&[("a", &a), ("b", &b)]).unwrap();
        assert_eq!(union.schema().field(0).name(), "id");
        assert!(union.schema().field(0).is_nullable());
        assert!(!union.schema().field(1).is_nullable());
        let batch = RecordBatch::try_new(
            b,
            vec![
                Arc::new(Int64Array::from(vec![Some(1), None])),
                Arc::new(StringArray::from(vec!["x", "y"])),
            ],
        )
        .unwrap();
        let out = union.apply(&batch).unwrap();
        assert_eq!(out.schema(), *union.schema());
        assert_eq!(out.num_rows(), 2);
        assert_eq!(out.column(0).null_count(), 1);
    }

    #[test]
    fn inputs_that_do_not_line_up_are_refused_naming_the_column() {
        let a = schema(&[
            ("id", DataType::Int64, false),
            ("name", DataType::Utf8, false),
        ]);
        let b = schema(&[("id", DataType::Int64, false)]);
        let c = schema(&[
            ("id", DataType::Int64, false),
            ("name", DataType::Float64, false),
        ]);
        let e = Union::new(&[("a", &a), ("b", &b)]).unwrap_err().to_string();
        assert!(
            e.contains("`a` has 2 columns (id, name), `b` has 1 (id)"),
            "{e}"
        );
        let e = Union::new(&[("a", &a), ("c", &c)]).unwrap_err().to_string();
        assert!(
            e.contains("column 2: `a`.`name` is Utf8, `c`.`name` is Float64"),
            "{e}"
        );
    }
}
