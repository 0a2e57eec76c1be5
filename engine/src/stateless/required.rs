//! Columns that rules make required. A rule `c IS NOT NULL` whose breaking rows leave the
//! stream (`quarantine`, `drop` or `fail`; not `warn`) leaves no null in `c`: the rows
//! after it hold `c` as a non-nullable column. A Delta table created from them declares
//! the column required, as a sink table's `NOT NULL` column promises (the rules of the
//! operator `<table>/not-null`), and a YAML job's silver table does so for its
//! `c IS NOT NULL` rules.

use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use super::{Check, Rule};
use crate::error::Result;
use crate::quality::RuleAction;

/// `schema` with the columns that `rules` leave without nulls non-nullable.
pub(crate) fn required_schema(rules: &[Rule], schema: &SchemaRef) -> SchemaRef {
    let required: Vec<&str> = rules
        .iter()
        .filter(|r| r.policy.action != RuleAction::Warn)
        .filter_map(|r| match &r.check {
            Check::Sql(expr) => expr.not_null_column(),
            _ => None,
        })
        .collect();
    if !schema
        .fields()
        .iter()
        .any(|f| f.is_nullable() && required.contains(&f.name().as_str()))
    {
        return Arc::clone(schema);
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let field = f.as_ref().clone();
            if required.contains(&f.name().as_str()) {
                field.with_nullable(false)
            } else {
                field
            }
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// `passed`, the rows that passed `rules`, under [`required_schema`].
///
/// # Errors
/// When a required column holds a null (a rule that did not remove its rows).
pub(crate) fn as_required(rules: &[Rule], passed: RecordBatch) -> Result<RecordBatch> {
    let schema = required_schema(rules, passed.schema_ref());
    if &schema == passed.schema_ref() {
        return Ok(passed);
    }
    Ok(RecordBatch::try_new(schema, passed.columns().to_vec())?)
}

#[cfg(test)]
mod tests {
    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use arrow::datatypes::DataType;

    use super::*;
    use crate::expr::SqlExpr;
    use crate::quality::RulePolicy;
    use crate::stateless::split_by_rules;

    fn rule(name: &str, sql: &str, schema: &SchemaRef, action: RuleAction) -> Rule {
        Rule {
            name: name.to_owned(),
            check: Check::Sql(SqlExpr::compile(sql, schema).unwrap()),
            policy: RulePolicy {
                action,
                ..RulePolicy::default()
            },
        }
    }

    #[test]
    fn a_not_null_rule_that_removes_rows_makes_its_column_required() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("who", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
            Field::new("note", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from(vec![Some("a"), None, Some("c")])) as ArrayRef,
                Arc::new(Int64Array::from(vec![Some(1), Some(2), None])),
                Arc::new(StringArray::from(vec![None, Some("x"), None])),
            ],
        )
        .unwrap();
        let rules = [
            rule(
                "who_known",
                "who IS NOT NULL",
                &schema,
                RuleAction::Quarantine,
            ),
            rule("n_known", "n IS NOT NULL", &schema, RuleAction::Drop),
            rule("note_known", "note IS NOT NULL", &schema, RuleAction::Warn),
            rule("n_small", "n < 10", &schema, RuleAction::Quarantine),
        ];
        let (passed, _) = split_by_rules(&rules, &batch).unwrap();
        assert_eq!(passed.num_rows(), 1);
        let nullable: Vec<bool> = passed
            .schema()
            .fields()
            .iter()
            .map(|f| f.is_nullable())
            .collect();
        // A warning keeps its rows, and a comparison is no null test.
        assert_eq!(nullable, [false, false, true]);
        assert_eq!(
            required_schema(&rules, &schema).fields(),
            passed.schema().fields()
        );
        // Without such rules the schema is the input's.
        assert_eq!(required_schema(&rules[2..], &schema), schema);
    }
}
