//! SQL expressions, compiled once per plan into DataFusion physical expressions.
//!
//! An expression is coerced and simplified as DataFusion's optimizer would (constants
//! folded, `arrow_cast(x, 'Int32')` made a cast), then planned. One that reads the clock
//! (`now()`, `current_timestamp`, `current_date()`, `current_time()`) is simplified again
//! at each evaluation with the time of that evaluation: processing time, read once per
//! batch (Spark reads it once per micro-batch, Flink once per row), so a replay gives new
//! values.
//!
//! Spark's functions that DataFusion lacks or means otherwise (`date_format` with Java
//! patterns, `if`, `hour`, `datediff`, `regexp_extract`, ...) mean what they mean in
//! Spark, and column names resolve whatever their case, as in Spark (an unquoted `userId`
//! reads the column `userId`): see the `spark` module. Spark's `get_json_object` and
//! Flink's `JSON_VALUE` read values out of JSON text (see the `json` module). A `/` of two
//! integers divides as doubles, as in Spark and DuckDB (see the `division` module), and
//! timestamps become text, and `concat` joins texts, as in Spark (the `text` module), and
//! `round` of a double rounds half up on its decimal form, as Spark's (`rounding`). An
//! array's elements are numbered from 1, and a literal `[0]` is refused (`subscript`).

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::TreeNode;
use datafusion::common::{DFSchema, DFSchemaRef};
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::SessionContext;

use crate::error::{EngineError, Result};

mod division;
mod element_at;
mod format_number;
mod from_json;
mod hash;
mod infallible;
mod initcap;
mod json;
mod months_between;
mod rounding;
mod session_gap;
mod spark;
mod split;
mod subscript;
mod text;
mod to_json;

/// The functions that read the clock, which a simplification with a time replaces.
const CLOCK: [&str; 3] = ["now", "current_date", "current_time"];

/// A SQL expression compiled against one input schema, evaluated vectorized per batch.
#[derive(Clone, Debug)]
pub struct SqlExpr {
    sql: String,
    physical: Arc<dyn PhysicalExpr>,
    data_type: DataType,
    /// For an expression that reads the clock: what is planned again at each evaluation.
    clock: Option<Arc<Clocked>>,
    /// Whether no row can make it fail (see the `infallible` module).
    infallible: bool,
}

/// The name of the column `e` is, if it is one.
fn column_name(e: &Arc<dyn PhysicalExpr>) -> Option<&str> {
    use datafusion::physical_expr::expressions::Column;
    e.downcast_ref::<Column>().map(Column::name)
}

/// An expression that reads the clock, coerced, with its schema and session.
struct Clocked {
    expr: Expr,
    schema: DFSchemaRef,
    ctx: SessionContext,
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
        for function in spark::catalog::functions() {
            ctx.register_udf(function);
        }
        // After DataFusion's own: Spark's `element_at` replaces its `map_extract` alias.
        for function in [
            json::get_json_object(),
            json::json_value(),
            from_json::from_json(),
            to_json::to_json(),
            split::spark_split(),
            initcap::spark_initcap(),
            element_at::element_at(),
            element_at::try_element_at(),
            hash::spark_hash(),
            rounding::bround(),
            months_between::months_between(),
            format_number::format_number(),
            session_gap::session_gap(),
        ] {
            ctx.register_udf(function);
        }
        let df_schema = Arc::new(DFSchema::try_from(Arc::clone(schema)).map_err(wrap)?);
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let spark = spark::rewrite(sql, &names)
            .map_err(|message| wrap(datafusion::error::DataFusionError::Plan(message)))?;
        let logical = ctx
            .parse_sql_expr(spark.as_deref().unwrap_or(sql), &df_schema)
            .map_err(wrap)?;
        subscript::refuse_index_zero(&logical).map_err(wrap)?;
        let logical = division::as_spark(logical, &df_schema).map_err(wrap)?;
        // Rounding first: its BIGINTs and doubles are then made text as Spark's.
        let logical = rounding::as_spark(logical, &df_schema).map_err(wrap)?;
        let logical = text::as_spark(logical, &df_schema).map_err(wrap)?;
        let simplifier = ExprSimplifier::new(
            SimplifyContext::builder()
                .with_schema(Arc::clone(&df_schema))
                .build(),
        );
        let coerced = simplifier.coerce(logical, &df_schema).map_err(wrap)?;
        let simplified = simplifier.simplify(coerced.clone()).map_err(wrap)?;
        let reads_clock = simplified
            .exists(|e| Ok(matches!(e, Expr::ScalarFunction(f) if CLOCK.contains(&f.name()))))
            .map_err(wrap)?;
        let physical = ctx
            .create_physical_expr(simplified, &df_schema)
            .map_err(wrap)?;
        let data_type = physical.data_type(schema).map_err(wrap)?;
        let infallible = !reads_clock && infallible::infallible(&physical, schema);
        let clock = reads_clock.then(|| {
            Arc::new(Clocked {
                expr: coerced,
                schema: df_schema,
                ctx,
            })
        });
        Ok(Self {
            sql: sql.to_string(),
            physical,
            data_type,
            clock,
            infallible,
        })
    }

    /// The column `c` when the expression is `c IS NOT NULL`.
    pub fn not_null_column(&self) -> Option<&str> {
        use datafusion::physical_expr::expressions::IsNotNullExpr;
        let test = self.physical.downcast_ref::<IsNotNullExpr>()?;
        column_name(test.arg())
    }

    /// The column when the expression reads one column as it is.
    pub fn bare_column(&self) -> Option<&str> {
        column_name(&self.physical)
    }

    /// The input columns the expression reads, by name.
    pub fn columns(&self) -> BTreeSet<String> {
        datafusion::physical_expr::utils::collect_columns(&self.physical)
            .into_iter()
            .map(|c| c.name().to_owned())
            .collect()
    }

    /// Whether no row can make the expression fail: columns, constants, comparisons,
    /// logic, float arithmetic and casts that cannot fail (see the `infallible` module).
    pub fn cannot_fail(&self) -> bool {
        self.infallible
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
        let values = match &self.clock {
            None => self.physical.evaluate(batch)?,
            Some(clocked) => clocked
                .at_now()
                .map_err(|source| EngineError::Expression {
                    sql: self.sql.clone(),
                    source: Box::new(source),
                })?
                .evaluate(batch)?,
        };
        Ok(values.into_array(batch.num_rows())?)
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

impl std::fmt::Debug for Clocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clocked").field("expr", &self.expr).finish()
    }
}

impl Clocked {
    /// The expression planned with the clock read now.
    fn at_now(&self) -> datafusion::error::Result<Arc<dyn PhysicalExpr>> {
        let simplifier = ExprSimplifier::new(
            SimplifyContext::builder()
                .with_schema(Arc::clone(&self.schema))
                .with_current_time()
                .build(),
        );
        let expr = simplifier.simplify(self.expr.clone())?;
        self.ctx.create_physical_expr(expr, &self.schema)
    }
}

/// The values of `sql` over `batch`, as text (`None` for a null): what the tests of the
/// rewrites compare with Spark's.
#[cfg(test)]
pub(crate) fn texts_of(sql: &str, batch: &RecordBatch) -> Vec<Option<String>> {
    let expr = SqlExpr::compile(sql, &batch.schema()).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let values = expr
        .evaluate(batch)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let text = arrow::compute::cast(&values, &DataType::Utf8).unwrap();
    let text = text
        .as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .unwrap();
    (0..text.len())
        .map(|i| text.is_valid(i).then(|| text.value(i).to_owned()))
        .collect()
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
    fn casts_written_as_functions_evaluate() {
        let b = batch();
        let e = SqlExpr::compile("arrow_cast(value, 'Int32')", &b.schema()).unwrap();
        assert_eq!(e.data_type(), &DataType::Int32);
        let values = e.evaluate(&b).unwrap();
        assert_eq!(
            values.as_any().downcast_ref::<arrow::array::Int32Array>(),
            Some(&arrow::array::Int32Array::from(vec![
                Some(1),
                Some(-2),
                None
            ]))
        );
    }

    #[test]
    fn the_clock_is_read_at_each_evaluation() {
        use arrow::array::{Date32Array, TimestampNanosecondArray};
        let b = batch();
        let now = SqlExpr::compile("now()", &b.schema()).unwrap();
        let read = |e: &SqlExpr| {
            let values = e.evaluate(&b).unwrap();
            let values = values
                .as_any()
                .downcast_ref::<TimestampNanosecondArray>()
                .expect("a timestamp")
                .clone();
            assert_eq!(values.len(), 3);
            assert!(
                values.iter().all(|v| v == Some(values.value(0))),
                "one time per batch"
            );
            values.value(0)
        };
        let clock = || {
            let since = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap();
            i64::try_from(since.as_nanos()).unwrap()
        };
        let before = clock();
        let first = read(&now);
        std::thread::sleep(std::time::Duration::from_millis(5));
        let second = read(&now);
        let after = clock();
        assert!(before <= first && first < second && second <= after);
        let today = SqlExpr::compile("current_date()", &b.schema()).unwrap();
        let days = today.evaluate(&b).unwrap();
        let days = days.as_any().downcast_ref::<Date32Array>().unwrap();
        assert_eq!(i64::from(days.value(0)), clock() / 86_400_000_000_000);
    }

    #[test]
    fn arrays_are_indexed_from_one_and_a_literal_zero_is_refused() {
        use arrow::array::{AsArray, MapBuilder, StringBuilder};
        let b = batch();
        let first = SqlExpr::compile("split(user_id, ',')[1]", &b.schema()).unwrap();
        let values = first.evaluate(&b).unwrap();
        assert_eq!(values.as_string::<i32>().value(0), "a");
        for zero in ["split(user_id, ',')[0]", "make_array(value, 2.0)[0] + 1"] {
            let err = SqlExpr::compile(zero, &b.schema()).unwrap_err().to_string();
            assert!(
                err.contains(zero) && err.contains("numbered from 1"),
                "{err}"
            );
        }
        // A map's key 0 is a key.
        let mut map = MapBuilder::new(
            None,
            arrow::array::Int64Builder::new(),
            StringBuilder::new(),
        );
        map.keys().append_value(0);
        map.values().append_value("zero");
        map.append(true).unwrap();
        let map = map.finish();
        let schema = Arc::new(arrow::datatypes::Schema::new(vec![Field::new(
            "m",
            map.data_type().clone(),
            true,
        )]));
        let rows = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(map)]).unwrap();
        let key = SqlExpr::compile("m[0]", &schema).unwrap();
        let values = key.evaluate(&rows).unwrap();
        assert_eq!(values.as_string::<i32>().value(0), "zero");
    }

    #[test]
    fn unknown_columns_are_reported_with_the_sql() {
        let b = batch();
        let err = SqlExpr::compile("nope > 1", &b.schema()).unwrap_err();
        assert!(err.to_string().contains("nope > 1"), "{err}");
    }
}
