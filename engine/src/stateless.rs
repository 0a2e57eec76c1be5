//! Stateless operators over Arrow batches: SQL filters, projections and data-quality rules.

mod isolate;
mod required;

pub(crate) use isolate::isolating;
pub(crate) use required::required_schema;

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, StringArray, UInt32Array};
use arrow::compute::{filter_record_batch, take_record_batch};
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

use crate::batch::Batches;
use crate::error::Result;
use crate::expr::SqlExpr;
use crate::join::BroadcastJoin;
use crate::key::KeyColumns;
use crate::quality::{RuleAction, RulePolicy};

/// Computed columns appended to (or replacing) the input columns.
#[derive(Clone, Debug)]
pub struct Projection {
    keep_input: bool,
    /// Input columns left out of the output (ascending indices), kept for the computed
    /// columns.
    dropped: Vec<usize>,
    columns: Vec<(String, SqlExpr)>,
    /// Whether each computed column is visible to the ones after it: not when it has the
    /// name of an input column or of an earlier computed column, which that name keeps
    /// meaning (as in SQL, where `SELECT v * 2 AS v, v + 1 AS w` reads the input's `v`).
    lateral: Vec<bool>,
    /// Whether each computed column reads one computed before it: only then is it
    /// evaluated over a batch holding those (built per batch), else over the input.
    reads_computed: Vec<bool>,
    schema: SchemaRef,
}

impl Projection {
    /// Compiles `columns` (name, SQL) against `input`; `keep_input` keeps every input column
    /// first, as `SELECT *, ...` does. Each column may use the input columns and the
    /// columns before it of other names (`final_revenue: revenue - discount`); a name
    /// always means the input's column of that name, or else the first computed one.
    ///
    /// # Errors
    /// When an expression does not compile.
    pub fn compile(
        input: &SchemaRef,
        keep_input: bool,
        columns: &[(String, String)],
    ) -> Result<Self> {
        let mut visible: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
        let mut computed = Vec::with_capacity(columns.len());
        let mut compiled = Vec::with_capacity(columns.len());
        let mut lateral = Vec::with_capacity(columns.len());
        let mut reads_computed = Vec::with_capacity(columns.len());
        for (name, sql) in columns {
            let visible_schema = Schema::new(visible.clone());
            let expr = SqlExpr::compile(sql, &Arc::new(visible_schema.clone()))?;
            // A column read as it is keeps its nullability (a column that rules made
            // required stays so); any other expression may give null.
            let required = expr
                .bare_column()
                .and_then(|c| visible_schema.field_with_name(c).ok())
                .is_some_and(|f| !f.is_nullable());
            let field = Field::new(name, expr.data_type().clone(), !required);
            let earlier = &visible[input.fields().len()..];
            reads_computed.push(
                expr.columns()
                    .iter()
                    .any(|c| earlier.iter().any(|f| f.name() == c)),
            );
            let new_name = !visible.iter().any(|f| f.name() == name);
            if new_name {
                visible.push(field.clone());
            }
            lateral.push(new_name);
            computed.push(field);
            compiled.push((name.clone(), expr));
        }
        let fields = if keep_input {
            let mut fields: Vec<Field> =
                input.fields().iter().map(|f| f.as_ref().clone()).collect();
            fields.extend(computed);
            fields
        } else {
            computed
        };
        Ok(Self {
            keep_input,
            dropped: Vec::new(),
            columns: compiled,
            lateral,
            reads_computed,
            schema: Arc::new(Schema::new(fields)),
        })
    }

    /// Leaves the input columns `names` out of the output. The computed columns may still
    /// use them: they are dropped after them, as `SELECT * EXCEPT (...)` over the result.
    ///
    /// # Errors
    /// A name that is not a kept input column.
    pub fn without(mut self, input: &SchemaRef, names: &[String]) -> Result<Self> {
        for name in names {
            let i = input
                .index_of(name)
                .ok()
                .filter(|_| self.keep_input)
                .ok_or_else(|| {
                    crate::error::EngineError::InvalidPlan(format!(
                        "cannot drop {name:?}: it is not an input column"
                    ))
                })?;
            self.dropped.push(i);
        }
        self.dropped.sort_unstable();
        self.dropped.dedup();
        let fields: Vec<_> = self
            .schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(i, _)| self.dropped.binary_search(i).is_err())
            .map(|(_, f)| Arc::clone(f))
            .collect();
        self.schema = Arc::new(Schema::new(fields));
        Ok(self)
    }

    /// The output schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Whether a row may fail one of its expressions (and become a dead letter): not when
    /// none can fail ([`SqlExpr::cannot_fail`]).
    pub fn can_reject(&self) -> bool {
        self.columns.iter().any(|(_, e)| !e.cannot_fail())
    }

    /// The columns the computed columns read: input columns, and computed columns that
    /// later ones read.
    pub fn columns_read(&self) -> BTreeSet<String> {
        self.columns.iter().flat_map(|(_, e)| e.columns()).collect()
    }

    /// Applies the projection to one batch.
    ///
    /// # Errors
    /// When evaluation fails.
    pub fn apply(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let mut fields: Vec<Field> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let mut visible: Vec<ArrayRef> = batch.columns().to_vec();
        let mut computed: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        // The input's columns come first in every schema a column was compiled against,
        // so one that reads none computed before it evaluates over the input itself.
        let mut working = batch.clone();
        let mut stale = false;
        for (i, (name, expr)) in self.columns.iter().enumerate() {
            if self.reads_computed[i] && stale {
                working =
                    RecordBatch::try_new(Arc::new(Schema::new(fields.clone())), visible.clone())?;
                stale = false;
            }
            let column = expr.evaluate(&working)?;
            if self.lateral[i] {
                fields.push(Field::new(name, column.data_type().clone(), true));
                visible.push(Arc::clone(&column));
                stale = true;
            }
            computed.push(column);
        }
        let mut columns = if self.keep_input {
            let mut columns = batch.columns().to_vec();
            columns.extend(computed);
            columns
        } else {
            computed
        };
        for &i in self.dropped.iter().rev() {
            columns.remove(i);
        }
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), columns)?)
    }
}

/// What a rule checks.
#[derive(Clone, Debug)]
pub enum Check {
    /// A SQL predicate rows must satisfy (a null result breaks it).
    Sql(SqlExpr),
    /// Referential integrity: the row's key must exist in a dimension table (a null key
    /// passes, as a null foreign key does in SQL).
    References(Box<BroadcastJoin>),
    /// Uniqueness of a key within an epoch. Which of two equal rows is the duplicate
    /// depends on worker order, so rows are not routed by it: every row passes here, and
    /// the quality gate counts the epoch's duplicates against the rule's threshold.
    Unique(UniqueKeys),
}

/// The key columns of a uniqueness rule, hashed per row.
#[derive(Clone, Debug)]
pub struct UniqueKeys {
    keys: KeyColumns,
    converter: Arc<arrow::row::RowConverter>,
}

impl UniqueKeys {
    /// Resolves `keys` in `schema`.
    ///
    /// # Errors
    /// An unknown column, or no key.
    pub fn new(schema: &SchemaRef, keys: &[String]) -> Result<Self> {
        if keys.is_empty() {
            return Err(crate::error::EngineError::InvalidPlan(
                "a uniqueness rule needs at least one key column".into(),
            ));
        }
        let keys = KeyColumns::resolve(schema, keys)?;
        let converter = Arc::new(keys.converter()?);
        Ok(Self { keys, converter })
    }

    /// A 64-bit hash of each row's key; rows with a null key part are left out (a null
    /// is never a duplicate).
    ///
    /// # Errors
    /// When the batch lacks the key columns.
    pub fn hashes(&self, batch: &RecordBatch) -> Result<Vec<u64>> {
        let columns = self.keys.columns(batch);
        let rows = self.converter.convert_columns(&columns)?;
        Ok((0..batch.num_rows())
            .filter(|&i| !columns.iter().any(|c| c.is_null(i)))
            .map(|i| xxhash_rust::xxh3::xxh3_64(rows.row(i).as_ref()))
            .collect())
    }
}

impl Check {
    /// Per row of `batch`: whether it passes.
    ///
    /// # Errors
    /// When evaluation fails.
    pub fn passes(&self, batch: &RecordBatch) -> Result<BooleanArray> {
        match self {
            Self::Sql(expr) => expr.predicate(batch),
            Self::References(table) => table.matched_or_null(batch),
            Self::Unique(_) => Ok(BooleanArray::from(vec![true; batch.num_rows()])),
        }
    }
}

/// A named data-quality rule: rows that do not pass its check violate it.
#[derive(Clone, Debug)]
pub struct Rule {
    /// The rule's name; quarantined violations carry the reason `rule:<name>`.
    pub name: String,
    /// What rows must satisfy.
    pub check: Check,
    /// What happens to violating rows, and the rule's threshold.
    pub policy: RulePolicy,
}

/// Splits batches into rows that go on to silver and rows quarantined to the dead letters.
///
/// A row's fate is set by the first rule in order, `warn` rules aside, that it breaks:
/// `quarantine` and `fail` send it to the dead letters tagged `rule:<name>`, `drop` leaves
/// it out of both outputs. Rows that break only `warn` rules go on.
pub fn split_by_rules(rules: &[Rule], batch: &RecordBatch) -> Result<(RecordBatch, RecordBatch)> {
    let n = batch.num_rows();
    let mut reason: Vec<Option<usize>> = vec![None; n];
    for (r, rule) in rules.iter().enumerate() {
        // Warn rules route nothing; uniqueness is counted by the quality gate only.
        if rule.policy.action == RuleAction::Warn || matches!(rule.check, Check::Unique(_)) {
            continue;
        }
        let pass = rule.check.passes(batch)?;
        for (i, slot) in reason.iter_mut().enumerate() {
            if slot.is_none() && !pass.value(i) {
                *slot = Some(r);
            }
        }
    }
    let keep = BooleanArray::from_iter(reason.iter().map(|r| Some(r.is_none())));
    let passed = required::as_required(rules, filter_record_batch(batch, &keep)?)?;
    let bad: Vec<u32> = (0..n as u32)
        .filter(|&i| reason[i as usize].is_some_and(|r| rules[r].policy.action != RuleAction::Drop))
        .collect();
    let reasons = StringArray::from_iter_values(
        bad.iter()
            .map(|&i| format!("rule:{}", rules[reason[i as usize].expect("bad row")].name)),
    );
    let violations = take_record_batch(batch, &UInt32Array::from(bad))?;
    Ok((passed, append_reason(&violations, reasons, None)?))
}

/// `batch` with a `reason` column holding `reason` on every row.
///
/// # Errors
/// When the batch cannot be rebuilt.
pub fn with_reason(batch: &RecordBatch, reason: &str) -> Result<RecordBatch> {
    let reasons = StringArray::from_iter_values(std::iter::repeat_n(reason, batch.num_rows()));
    append_reason(batch, reasons, None)
}

/// `batch` rejected by `operator` because evaluating it failed with `err`: a `reason`
/// column holding `error:<operator>` on every row, and an `error` column holding `err`'s
/// text. The reason names where rows failed, one value per operator, so that the dead
/// letters group by it; the error says why.
///
/// # Errors
/// When the batch cannot be rebuilt.
pub fn with_error(
    batch: &RecordBatch,
    operator: &str,
    err: &dyn std::fmt::Display,
) -> Result<RecordBatch> {
    let n = batch.num_rows();
    let reason = format!("{ERROR_PREFIX}{operator}");
    let reasons = StringArray::from_iter_values(std::iter::repeat_n(reason.as_str(), n));
    let text = err.to_string();
    let errors = StringArray::from_iter_values(std::iter::repeat_n(text.as_str(), n));
    append_reason(batch, reasons, Some(errors))
}

/// The prefix of the `reason` of rows whose evaluation failed: `error:<operator>`.
pub const ERROR_PREFIX: &str = "error:";

fn append_reason(
    batch: &RecordBatch,
    reasons: StringArray,
    errors: Option<StringArray>,
) -> Result<RecordBatch> {
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(
        "reason",
        arrow::datatypes::DataType::Utf8,
        false,
    ));
    let mut columns = batch.columns().to_vec();
    columns.push(Arc::new(reasons));
    if let Some(errors) = errors {
        fields.push(Field::new("error", arrow::datatypes::DataType::Utf8, false));
        columns.push(Arc::new(errors));
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Stateless operators on streams of batches.
pub trait StatelessExt<'scope> {
    /// Applies `f` to each batch of an epoch (`f(epoch, batch)`). The second stream holds batches whose evaluation failed,
    /// with a `reason` column appended.
    fn map_batches<F>(
        self,
        name: &str,
        f: F,
    ) -> (Stream<'scope, u64, Batches>, Stream<'scope, u64, Batches>)
    where
        F: FnMut(u64, &RecordBatch) -> Result<RecordBatch> + 'static;

    /// Splits each batch in two with `f`: `(passed, rejected)`, where rejected rows carry an
    /// appended `reason` column. A batch on which `f` fails is rejected whole.
    fn split_batches<F>(
        self,
        name: &str,
        f: F,
    ) -> (Stream<'scope, u64, Batches>, Stream<'scope, u64, Batches>)
    where
        F: FnMut(u64, &RecordBatch) -> Result<(RecordBatch, Option<RecordBatch>)> + 'static;
}

impl<'scope> StatelessExt<'scope> for Stream<'scope, u64, Batches> {
    fn map_batches<F>(
        self,
        name: &str,
        mut f: F,
    ) -> (Stream<'scope, u64, Batches>, Stream<'scope, u64, Batches>)
    where
        F: FnMut(u64, &RecordBatch) -> Result<RecordBatch> + 'static,
    {
        self.split_batches(name, move |epoch, batch| Ok((f(epoch, batch)?, None)))
    }

    fn split_batches<F>(
        self,
        name: &str,
        mut f: F,
    ) -> (Stream<'scope, u64, Batches>, Stream<'scope, u64, Batches>)
    where
        F: FnMut(u64, &RecordBatch) -> Result<(RecordBatch, Option<RecordBatch>)> + 'static,
    {
        let mut builder = OperatorBuilder::new(name.to_owned(), self.scope());
        let mut input = builder.new_input(self, Pipeline);
        let (left, left_stream) = builder.new_output::<Batches>();
        let (right, right_stream) = builder.new_output::<Batches>();
        let mut left = OutputBuilder::from(left);
        let mut right = OutputBuilder::from(right);
        let name = name.to_owned();
        builder.build(move |_| {
            move |_frontiers| {
                let mut left = left.activate();
                let mut right = right.activate();
                input.for_each(|cap, container| {
                    let epoch = cap.least().copied().unwrap_or_default();
                    let mut passed = Vec::new();
                    let mut rejected = Vec::new();
                    for batch in &container.batches {
                        match f(epoch, batch) {
                            Ok((p, r)) => {
                                if p.num_rows() > 0 {
                                    passed.push(p);
                                }
                                if let Some(r) = r.filter(|r| r.num_rows() > 0) {
                                    rejected.push(r);
                                }
                            }
                            Err(err) => {
                                // Bad data must not crash the job: the batch goes to the
                                // rejected output, the operator as its reason.
                                tracing::warn!(operator = %name, %err, "batch rejected");
                                match with_error(batch, &name, &err) {
                                    Ok(r) => rejected.push(r),
                                    Err(e) => tracing::error!(operator = %name, %e, "cannot tag"),
                                }
                            }
                        }
                    }
                    if !passed.is_empty() {
                        left.session(&cap)
                            .give_container(&mut Batches { batches: passed });
                    }
                    if !rejected.is_empty() {
                        right
                            .session(&cap)
                            .give_container(&mut Batches { batches: rejected });
                    }
                });
            }
        });
        (left_stream, right_stream)
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{AsArray, Int64Array};
    use arrow::datatypes::{DataType, Int64Type};

    use super::*;

    #[test]
    fn a_name_means_the_input_s_column_even_after_a_computed_column_of_that_name() {
        let batch = RecordBatch::try_from_iter(vec![
            ("v", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
            ("k", Arc::new(Int64Array::from(vec![5, 6])) as ArrayRef),
        ])
        .unwrap();
        let input = batch.schema();
        // SELECT v, v * 10 AS v10, v * 2 AS v, v + 1 AS w, v10 + 1 AS lateral: `v` is the
        // input's throughout; `v10`, a new name, is visible to the columns after it.
        let columns: Vec<(String, String)> = [
            ("v", "\"v\""),
            ("v10", "v * 10"),
            ("v", "v * 2"),
            ("w", "v + 1"),
            ("lateral", "v10 + 1"),
        ]
        .iter()
        .map(|(n, e)| ((*n).to_owned(), (*e).to_owned()))
        .collect();
        let projection = Projection::compile(&input, false, &columns).unwrap();
        let out = projection.apply(&batch).unwrap();
        assert_eq!(out.schema(), *projection.schema());
        let values: Vec<&[i64]> = (0..out.num_columns())
            .map(|i| out.column(i).as_primitive::<Int64Type>().values().as_ref())
            .collect();
        assert_eq!(
            values,
            [&[1, 2][..], &[10, 20], &[2, 4], &[2, 3], &[11, 21]]
        );
    }

    #[test]
    fn dropped_columns_feed_the_computed_ones_and_leave_the_output() {
        let batch = RecordBatch::try_from_iter(vec![
            ("a", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
            ("b", Arc::new(Int64Array::from(vec![10, 20])) as ArrayRef),
            ("c", Arc::new(Int64Array::from(vec![100, 200])) as ArrayRef),
        ])
        .unwrap();
        let input = batch.schema();
        let columns = [("s".to_string(), "a + c".to_string())];
        let projection = Projection::compile(&input, true, &columns)
            .unwrap()
            .without(&input, &["c".to_string(), "a".to_string()])
            .unwrap();
        let out = projection.apply(&batch).unwrap();
        assert_eq!(out.schema(), *projection.schema());
        let names: Vec<_> = out
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["b", "s"]);
        assert_eq!(
            out.column(0).as_primitive::<Int64Type>().values(),
            &[10, 20]
        );
        assert_eq!(
            out.column(1).as_primitive::<Int64Type>().values(),
            &[101, 202]
        );
        let err = Projection::compile(&input, true, &columns)
            .unwrap()
            .without(&input, &["nope".to_string()])
            .unwrap_err();
        assert!(err.to_string().contains("cannot drop \"nope\""), "{err}");
    }

    #[test]
    fn actions_decide_each_rows_fate() {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(vec![
                Some(5),
                Some(-1),
                None,
                Some(200),
                Some(7),
            ]))],
        )
        .unwrap();
        let rule = |name: &str, sql: &str, action| Rule {
            name: name.into(),
            check: Check::Sql(SqlExpr::compile(sql, &schema).unwrap()),
            policy: RulePolicy {
                action,
                max_ratio: None,
            },
        };
        let rules = [
            rule("small", "n < 100", RuleAction::Warn),
            rule("present", "n IS NOT NULL", RuleAction::Drop),
            rule("positive", "n > 0", RuleAction::Quarantine),
            rule("not_seven", "n <> 7", RuleAction::Fail),
        ];
        let (passed, quarantined) = split_by_rules(&rules, &batch).unwrap();
        // 200 breaks only the warn rule and goes on; null is dropped; -1 and 7 quarantined.
        let kept: Vec<i64> = passed
            .column(0)
            .as_primitive::<Int64Type>()
            .values()
            .to_vec();
        assert_eq!(kept, vec![5, 200]);
        let values = quarantined.column(0).as_primitive::<Int64Type>();
        assert_eq!(values.values().to_vec(), vec![-1, 7]);
        let reasons = quarantined
            .column_by_name("reason")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(reasons.value(0), "rule:positive");
        assert_eq!(reasons.value(1), "rule:not_seven");
    }

    #[test]
    fn a_reference_rule_quarantines_keys_missing_from_its_table() {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(vec![
                Some(1),
                Some(4),
                None,
                Some(2),
            ]))],
        )
        .unwrap();
        let table = RecordBatch::try_from_iter(vec![(
            "n",
            Arc::new(arrow::array::Int32Array::from(vec![1, 2, 3])) as ArrayRef,
        )])
        .unwrap();
        let known = BroadcastJoin::new(
            crate::join::JoinSpec {
                name: "known".into(),
                keys: vec!["n".into()],
                kind: crate::join::JoinKind::LeftAnti,
                columns: vec![],
                ..crate::join::JoinSpec::default()
            },
            &schema,
            &table,
        )
        .unwrap();
        let rules = [Rule {
            name: "known".into(),
            check: Check::References(Box::new(known)),
            policy: RulePolicy::default(),
        }];
        let (passed, quarantined) = split_by_rules(&rules, &batch).unwrap();
        // 4 is not in the table; the null key passes, as a null foreign key does.
        let kept: Vec<Option<i64>> = passed
            .column(0)
            .as_primitive::<Int64Type>()
            .iter()
            .collect();
        assert_eq!(kept, vec![Some(1), None, Some(2)]);
        let bad = quarantined.column(0).as_primitive::<Int64Type>();
        assert_eq!(bad.values().to_vec(), vec![4]);
        let reasons = quarantined
            .column_by_name("reason")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(reasons.value(0), "rule:known");
    }
}
