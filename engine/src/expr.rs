//! SQL expressions, compiled once per plan into DataFusion physical expressions.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::common::DFSchema;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::SessionContext;

use crate::error::{EngineError, Result};

/// A SQL expression compiled against one input schema, evaluated vectorized per batch.
#[derive(Clone, Debug)]
pub struct SqlExpr {
    sql: String,
    physical: Arc<dyn PhysicalExpr>,
    data_type: DataType,
}

impl SqlExpr {
    /// Parses and plans `sql` against `schema`.
    ///
    /// # Errors
    /// [`EngineError::Expression`] when the text does not parse, names unknown columns or
    /// does not type-check.
    pub fn compile(sql: &str, schema: &SchemaRef) -> Result<Self> {
        let wrap = |source| EngineError::Expression {
            sql: sql.to_string(),
            source: Box::new(source),
        };
        let ctx = SessionContext::new();
        let df_schema = DFSchema::try_from(Arc::clone(schema)).map_err(wrap)?;
        let logical = ctx.parse_sql_expr(sql, &df_schema).map_err(wrap)?;
        let physical = ctx
            .create_physical_expr(logical, &df_schema)
            .map_err(wrap)?;
        let data_type = physical.data_type(schema).map_err(wrap)?;
        Ok(Self {
            sql: sql.to_string(),
            physical,
            data_type,
        })
    }

    /// The input columns the expression reads, by name.
    pub fn columns(&self) -> BTreeSet<String> {
        datafusion::physical_expr::utils::collect_columns(&self.physical)
            .into_iter()
            .map(|c| c.name().to_owned())
            .collect()
    }

    /// The SQL text.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// The type the expression yields.
    pub fn data_type(&self) -> &DataType {
        &self.data_type
    }

    /// Evaluates over `batch`, yielding one value per row.
    ///
    /// # Errors
    /// When evaluation fails, e.g. a cast of a bad value.
    pub fn evaluate(&self, batch: &RecordBatch) -> Result<ArrayRef> {
        Ok(self
            .physical
            .evaluate(batch)?
            .into_array(batch.num_rows())?)
    }

    /// Evaluates a boolean predicate; a null result counts as false.
    ///
    /// # Errors
    /// When the expression is not boolean or evaluation fails.
    pub fn predicate(&self, batch: &RecordBatch) -> Result<BooleanArray> {
        let values = self.evaluate(batch)?;
        let values = values
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| {
                EngineError::InvalidPlan(format!(
                    "`{}` must be a boolean predicate, it yields {}",
                    self.sql, self.data_type
                ))
            })?;
        Ok(if values.null_count() == 0 {
            values.clone()
        } else {
            arrow::compute::prep_null_mask_filter(values)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Utf8, true),
            Field::new("value", DataType::Float64, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![Some("a"), None, Some("c")])),
                Arc::new(Float64Array::from(vec![Some(1.0), Some(-2.0), None])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn predicates_treat_null_as_false() {
        let b = batch();
        let e = SqlExpr::compile("value >= 0", &b.schema()).unwrap();
        let p = e.predicate(&b).unwrap();
        assert_eq!(p, BooleanArray::from(vec![true, false, false]));
    }

    #[test]
    fn unknown_columns_are_reported_with_the_sql() {
        let b = batch();
        let err = SqlExpr::compile("nope > 1", &b.schema()).unwrap_err();
        assert!(err.to_string().contains("nope > 1"), "{err}");
    }
}
