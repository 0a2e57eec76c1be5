//! Data quality: what a rule does with the rows that break it, per-epoch thresholds, and the
//! quality report.
//!
//! Every rule has an [`RuleAction`]:
//! - `quarantine` (default): the row goes to the dead-letter table with reason `rule:<name>`;
//! - `drop`: the row is left out of silver and counted, not kept anywhere;
//! - `warn`: the row stays in silver; violations are counted;
//! - `fail`: the row is quarantined, and the epoch fails before anything of it is committed.
//!
//! A row's fate is decided by the first rule in order, other than `warn` ones, that it
//! breaks. Counts are per rule over all rows of the epoch, whatever an earlier rule did with
//! them, so `max-ratio` reads as "at most this share of the epoch's rows may break the rule".
//!
//! The [`QualityGate`] is a [`TableSink`] that the committer commits *first* in every epoch:
//! it sums every worker's counts (and column profiles), fails the epoch when a `fail` rule
//! was broken or a ratio exceeded its threshold, and otherwise appends the epoch's figures to
//! the optional `quality_report` table. A breach therefore stops the job with nothing of the
//! epoch committed, and a replay decides the same way.

pub(crate) mod duplicates;
mod profile;

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Deserializer, Serialize};

use crate::metrics::QualityMetrics;
use crate::runtime::{CommitReport, ConnectorFailure, EpochWriter, TableSink};
use crate::stateless::{Check, Rule};
use profile::ColumnProfile;

/// What happens to rows that break a rule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleAction {
    /// To the dead-letter table with reason `rule:<name>`.
    #[default]
    Quarantine,
    /// Left out of silver, counted.
    Drop,
    /// Kept in silver, counted.
    Warn,
    /// Quarantined, and the epoch fails before it commits.
    Fail,
}

impl RuleAction {
    /// The name used in job files and the report.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Quarantine => "quarantine",
            Self::Drop => "drop",
            Self::Warn => "warn",
            Self::Fail => "fail",
        }
    }
}

/// A rule's action and optional threshold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RulePolicy {
    /// What happens to violating rows.
    #[serde(default)]
    pub action: RuleAction,
    /// The largest share of an epoch's rows that may break the rule (`0.01` or `"1%"`);
    /// above it the job fails.
    #[serde(default, deserialize_with = "ratio")]
    pub max_ratio: Option<f64>,
}

impl Eq for RulePolicy {}

impl RulePolicy {
    /// Whether the policy is the default (quarantine, no threshold).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// Deserializes an optional ratio given as a number in `[0, 1]` or a percentage string
/// such as `"1%"` (for `max-ratio` settings).
///
/// # Errors
/// Anything else.
pub fn ratio<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Given {
        Number(f64),
        Text(String),
    }
    let value = match Option::<Given>::deserialize(d)? {
        None => return Ok(None),
        Some(Given::Number(n)) => n,
        Some(Given::Text(t)) => {
            let t = t.trim();
            let number = t.strip_suffix('%').ok_or_else(|| {
                serde::de::Error::custom(format!("`{t}`: a ratio such as 0.01 or \"1%\""))
            })?;
            number.trim().parse::<f64>().map_err(|_| {
                serde::de::Error::custom(format!("`{t}`: a ratio such as 0.01 or \"1%\""))
            })? / 100.0
        }
    };
    if !(0.0..=1.0).contains(&value) {
        return Err(serde::de::Error::custom(format!(
            "{value}: a ratio between 0 and 1 (or 0% and 100%)"
        )));
    }
    Ok(Some(value))
}

/// One worker's figures for an epoch, as the gate's "file note". The duplicates of the
/// uniqueness rules come in notes of their own, from the workers that own the keys
/// ([`duplicates`]), with `rows` 0.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Partial {
    rows: u64,
    violations: Vec<u64>,
    columns: Vec<ColumnProfile>,
}

/// The per-epoch quality check and report; see the [module docs](self).
pub struct QualityGate {
    measure: Measure,
    report: Option<Arc<dyn TableSink>>,
    metrics: QualityMetrics,
}

/// What the gate measures on every worker: rule violations, uniqueness hashes, profiles.
#[derive(Clone)]
struct Measure {
    rules: Arc<[Rule]>,
    profile: Option<SchemaRef>,
}

/// One worker's measuring of an epoch, batch by batch (the gate's streaming writer).
struct EpochMeasure {
    measure: Measure,
    partial: Partial,
}

impl EpochWriter for EpochMeasure {
    fn push(&mut self, batch: &RecordBatch) -> Result<(), ConnectorFailure> {
        self.measure
            .add(&mut self.partial, batch)
            .map_err(|e| ConnectorFailure::new(format!("quality rules: {e}"), false))
    }

    fn finish(self: Box<Self>) -> Result<Vec<String>, ConnectorFailure> {
        let note = serde_json::to_string(&self.partial)
            .map_err(|e| ConnectorFailure::new(e.to_string(), false))?;
        Ok(vec![note])
    }
}

impl Measure {
    /// Zero figures: one count per rule, one empty profile per profiled column.
    fn empty(&self) -> Partial {
        Partial {
            rows: 0,
            violations: vec![0; self.rules.len()],
            columns: self.profile.as_ref().map_or_else(Vec::new, |schema| {
                vec![ColumnProfile::default(); schema.fields().len()]
            }),
        }
    }

    /// Adds one batch's figures to `partial`.
    fn add(&self, partial: &mut Partial, batch: &RecordBatch) -> Result<(), String> {
        partial.rows += batch.num_rows() as u64;
        for (r, rule) in self.rules.iter().enumerate() {
            if let Check::Unique(_) = &rule.check {
                // Counted where the keys meet: see `duplicates`.
                continue;
            }
            let pass = rule.check.passes(batch).map_err(|e| e.to_string())?;
            partial.violations[r] += (pass.len() - pass.true_count()) as u64;
        }
        if let Some(schema) = &self.profile {
            for (field, column) in schema.fields().iter().zip(&mut partial.columns) {
                if let Some(array) = batch.column_by_name(field.name()) {
                    column.add(array);
                }
            }
        }
        Ok(())
    }
}

impl QualityGate {
    /// A gate over `rules` (compiled against the bronze schema). With `report`, it appends
    /// each epoch's figures there, including a profile of every column of `bronze` (the
    /// source coordinate columns `source`, `partition` and `offset` left out).
    pub fn new(rules: Vec<Rule>, bronze: SchemaRef, report: Option<Arc<dyn TableSink>>) -> Self {
        let profile = report.is_some().then(|| {
            let fields: Vec<Field> = bronze
                .fields()
                .iter()
                .filter(|f| !matches!(f.name().as_str(), "source" | "partition" | "offset"))
                .map(|f| f.as_ref().clone())
                .collect();
            Arc::new(Schema::new(fields))
        });
        Self {
            measure: Measure {
                rules: rules.into(),
                profile,
            },
            report,
            metrics: QualityMetrics::default(),
        }
    }

    /// Reports each committed epoch's rule counts and column profiles to `metrics` too.
    #[must_use]
    pub fn with_metrics(mut self, metrics: QualityMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Whether a job with these rules needs a gate even without a report: a `fail` rule or a
    /// threshold.
    pub fn needed(rules: &[Rule]) -> bool {
        rules.iter().any(|r| {
            r.policy.action == RuleAction::Fail
                || r.policy.max_ratio.is_some()
                || matches!(r.check, Check::Unique(_))
        })
    }

    /// The report table's schema: one row per rule and per profiled column and epoch.
    pub fn report_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("epoch", DataType::Int64, false),
            Field::new("kind", DataType::Utf8, false),
            Field::new("name", DataType::Utf8, false),
            Field::new("rows", DataType::Int64, false),
            Field::new("violations", DataType::Int64, true),
            Field::new("ratio", DataType::Float64, true),
            Field::new("action", DataType::Utf8, true),
            Field::new("threshold", DataType::Float64, true),
            Field::new("non_null", DataType::Int64, true),
            Field::new("nulls", DataType::Int64, true),
            Field::new("distinct_estimate", DataType::Int64, true),
            Field::new("min", DataType::Utf8, true),
            Field::new("max", DataType::Utf8, true),
            Field::new("mean", DataType::Float64, true),
        ]))
    }

    fn empty(&self) -> Partial {
        self.measure.empty()
    }

    /// A fresh measuring of one epoch on one worker.
    fn epoch_measure(&self) -> EpochMeasure {
        EpochMeasure {
            partial: self.measure.empty(),
            measure: self.measure.clone(),
        }
    }

    /// Reports an epoch's figures to the metrics.
    fn observe(&self, total: &Partial) {
        self.metrics.checked(total.rows);
        for (rule, violations) in self.measure.rules.iter().zip(&total.violations) {
            self.metrics
                .rule(&rule.name, rule.policy.action.as_str(), *violations);
        }
        if let Some(schema) = &self.measure.profile {
            for (field, column) in schema.fields().iter().zip(&total.columns) {
                self.metrics.column(
                    field.name(),
                    column.non_null,
                    column.nulls,
                    column.distinct_estimate(),
                    column.numeric_summary(field.data_type()),
                );
            }
        }
    }

    fn report_batch(&self, epoch: u64, total: &Partial) -> Result<RecordBatch, String> {
        let mut b = ReportRows::default();
        for (r, rule) in self.measure.rules.iter().enumerate() {
            let violations = total.violations[r];
            b.push_rule(epoch, rule, total.rows, violations);
        }
        if let Some(schema) = &self.measure.profile {
            for (field, column) in schema.fields().iter().zip(&total.columns) {
                b.push_column(epoch, field.name(), field.data_type(), total.rows, column);
            }
        }
        b.finish().map_err(|e| e.to_string())
    }
}

fn share(violations: u64, rows: u64) -> f64 {
    if rows == 0 {
        0.0
    } else {
        violations as f64 / rows as f64
    }
}

fn percent(ratio: f64) -> String {
    let text = format!("{:.3}", ratio * 100.0);
    format!("{}%", text.trim_end_matches('0').trim_end_matches('.'))
}

impl TableSink for QualityGate {
    fn name(&self) -> &str {
        match &self.report {
            Some(r) => r.name(),
            None => "quality gate",
        }
    }

    fn committed_epoch(&self) -> Result<Option<u64>, ConnectorFailure> {
        match &self.report {
            Some(r) => r.committed_epoch(),
            None => Ok(None),
        }
    }

    fn write(&self, _epoch: u64, batches: &[RecordBatch]) -> Result<Vec<String>, ConnectorFailure> {
        let mut measure = self.epoch_measure();
        for batch in batches {
            measure.push(batch)?;
        }
        Box::new(measure).finish()
    }

    fn stream(&self, _epoch: u64) -> Result<Option<Box<dyn EpochWriter>>, ConnectorFailure> {
        Ok(Some(Box::new(self.epoch_measure())))
    }

    fn commit(&self, epoch: u64, files: Vec<String>) -> Result<CommitReport, ConnectorFailure> {
        let mut total = self.empty();
        for note in &files {
            let part: Partial = serde_json::from_str(note)
                .map_err(|e| ConnectorFailure::new(format!("quality figures: {e}"), false))?;
            total.rows += part.rows;
            for (t, v) in total.violations.iter_mut().zip(&part.violations) {
                *t += v;
            }
            for (t, c) in total.columns.iter_mut().zip(part.columns) {
                t.merge(c);
            }
        }
        if !files.is_empty() {
            self.observe(&total);
        }
        for (r, rule) in self.measure.rules.iter().enumerate() {
            let violations = total.violations[r];
            let ratio = share(violations, total.rows);
            if rule.policy.action == RuleAction::Fail && violations > 0 {
                return Err(ConnectorFailure::new(
                    format!(
                        "data-quality rule `{}` (action fail) broken by {violations} of {} rows in epoch {epoch} ({})",
                        rule.name,
                        total.rows,
                        percent(ratio)
                    ),
                    false,
                ));
            }
            if let Some(limit) = rule.policy.max_ratio
                && ratio > limit
            {
                return Err(ConnectorFailure::new(
                    format!(
                        "data-quality rule `{}`: {} of rows in epoch {epoch} break it ({violations} of {}), above its max-ratio {}",
                        rule.name,
                        percent(ratio),
                        total.rows,
                        percent(limit)
                    ),
                    false,
                ));
            }
            if violations > 0 && rule.policy.action == RuleAction::Warn {
                tracing::warn!(rule = %rule.name, epoch, violations, rows = total.rows, "rows kept despite breaking a warn rule");
            }
        }
        let Some(report) = &self.report else {
            return Ok(CommitReport::default());
        };
        let batch = self
            .report_batch(epoch, &total)
            .map_err(|e| ConnectorFailure::new(format!("quality report: {e}"), false))?;
        let files = report.write(epoch, &[batch])?;
        report.commit(epoch, files)
    }
}

/// Builds report rows.
#[derive(Default)]
struct ReportRows {
    epoch: Vec<i64>,
    kind: Vec<&'static str>,
    name: Vec<String>,
    rows: Vec<i64>,
    violations: Vec<Option<i64>>,
    ratio: Vec<Option<f64>>,
    action: Vec<Option<&'static str>>,
    threshold: Vec<Option<f64>>,
    non_null: Vec<Option<i64>>,
    nulls: Vec<Option<i64>>,
    distinct: Vec<Option<i64>>,
    min: Vec<Option<String>>,
    max: Vec<Option<String>>,
    mean: Vec<Option<f64>>,
}

impl ReportRows {
    fn push_rule(&mut self, epoch: u64, rule: &Rule, rows: u64, violations: u64) {
        self.epoch.push(epoch as i64);
        self.kind.push("rule");
        self.name.push(rule.name.clone());
        self.rows.push(rows as i64);
        self.violations.push(Some(violations as i64));
        self.ratio.push(Some(share(violations, rows)));
        self.action.push(Some(rule.policy.action.as_str()));
        self.threshold.push(rule.policy.max_ratio);
        self.non_null.push(None);
        self.nulls.push(None);
        self.distinct.push(None);
        self.min.push(None);
        self.max.push(None);
        self.mean.push(None);
    }

    fn push_column(
        &mut self,
        epoch: u64,
        name: &str,
        data_type: &DataType,
        rows: u64,
        c: &ColumnProfile,
    ) {
        self.epoch.push(epoch as i64);
        self.kind.push("column");
        self.name.push(name.to_string());
        self.rows.push(rows as i64);
        self.violations.push(None);
        self.ratio.push(None);
        self.action.push(None);
        self.threshold.push(None);
        self.non_null.push(Some(c.non_null as i64));
        self.nulls.push(Some(c.nulls as i64));
        self.distinct.push(Some(c.distinct_estimate() as i64));
        self.min.push(c.min_text(data_type));
        self.max.push(c.max_text(data_type));
        self.mean.push(c.mean());
    }

    fn finish(self) -> Result<RecordBatch, arrow::error::ArrowError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(self.epoch)),
            Arc::new(StringArray::from(self.kind)),
            Arc::new(StringArray::from(self.name)),
            Arc::new(Int64Array::from(self.rows)),
            Arc::new(Int64Array::from(self.violations)),
            Arc::new(Float64Array::from(self.ratio)),
            Arc::new(StringArray::from(self.action)),
            Arc::new(Float64Array::from(self.threshold)),
            Arc::new(Int64Array::from(self.non_null)),
            Arc::new(Int64Array::from(self.nulls)),
            Arc::new(Int64Array::from(self.distinct)),
            Arc::new(StringArray::from(self.min)),
            Arc::new(StringArray::from(self.max)),
            Arc::new(Float64Array::from(self.mean)),
        ];
        RecordBatch::try_new(QualityGate::report_schema(), columns)
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::Int64Array;

    use super::*;
    use crate::expr::SqlExpr;

    fn rule(name: &str, sql: &str, schema: &SchemaRef, policy: RulePolicy) -> Rule {
        Rule {
            name: name.into(),
            check: crate::stateless::Check::Sql(SqlExpr::compile(sql, schema).unwrap()),
            policy,
        }
    }

    fn batch(values: &[Option<i64>]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(values.to_vec()))]).unwrap()
    }

    #[test]
    fn ratios_parse_as_numbers_or_percentages() {
        let p: RulePolicy =
            serde_json::from_str(r#"{"action": "warn", "max-ratio": "2.5%"}"#).unwrap();
        assert_eq!(p.max_ratio, Some(0.025));
        let p: RulePolicy = serde_json::from_str(r#"{"max-ratio": 0.1}"#).unwrap();
        assert_eq!((p.action, p.max_ratio), (RuleAction::Quarantine, Some(0.1)));
        assert!(serde_json::from_str::<RulePolicy>(r#"{"max-ratio": "2"}"#).is_err());
        assert!(serde_json::from_str::<RulePolicy>(r#"{"max-ratio": 1.5}"#).is_err());
        assert!(RulePolicy::default().is_default());
    }

    #[test]
    fn the_gate_sums_workers_and_names_the_breached_rule() {
        let b = batch(&[Some(1), None, Some(3), Some(-4)]);
        let schema = b.schema();
        let threshold = RulePolicy {
            action: RuleAction::Warn,
            max_ratio: Some(0.3),
        };
        let gate = QualityGate::new(
            vec![rule("present", "n IS NOT NULL", &schema, threshold)],
            schema.clone(),
            None,
        );
        let one = gate.write(0, std::slice::from_ref(&b)).unwrap();
        let two = gate.write(0, &[batch(&[Some(5), Some(6)])]).unwrap();
        // 1 of 6 rows breaks the rule: under 30%.
        gate.commit(0, [one.clone(), two].concat()).unwrap();
        // 2 of 8 when the same worker's batch counts twice: 25%, still fine; alone 1 of 4.
        gate.commit(1, [one.clone(), one.clone()].concat()).unwrap();
        let bad = gate.write(2, &[batch(&[None, None, Some(1)])]).unwrap();
        let e = gate.commit(2, [one, bad].concat()).unwrap_err().to_string();
        assert!(
            e.contains("`present`")
                && e.contains("42.857%")
                && e.contains("3 of 7")
                && e.contains("max-ratio 30%"),
            "{e}"
        );
    }

    #[test]
    fn uniqueness_adds_the_owners_duplicate_notes_to_the_workers_rows() {
        let b = batch(&[Some(1), Some(2), Some(2), None, None]);
        let schema = b.schema();
        let unique = |max_ratio| Rule {
            name: "unique_n".into(),
            check: Check::Unique(
                crate::stateless::UniqueKeys::new(&schema, &["n".into()]).unwrap(),
            ),
            policy: RulePolicy {
                action: RuleAction::Warn,
                max_ratio: Some(max_ratio),
            },
        };
        assert!(QualityGate::needed(&[unique(1.0)]));
        let gate = QualityGate::new(vec![unique(0.4)], schema.clone(), None);
        // The workers' notes count rows only: their duplicates come from the key owners.
        let one = gate.write(0, std::slice::from_ref(&b)).unwrap();
        let two = gate
            .write(0, &[batch(&[Some(1), Some(3), Some(3)])])
            .unwrap();
        let owner = |duplicates: u64| {
            serde_json::to_string(&Partial {
                rows: 0,
                violations: vec![duplicates],
                columns: Vec::new(),
            })
            .unwrap()
        };
        // 3 duplicates (2 + 1 from the two owners) of 8 rows: 37.5%, under 40%.
        let notes = [one, two, vec![owner(2), owner(1)]].concat();
        gate.commit(0, notes.clone()).unwrap();
        let strict = QualityGate::new(vec![unique(0.3)], schema.clone(), None);
        let e = strict.commit(0, notes).unwrap_err().to_string();
        assert!(
            e.contains("`unique_n`") && e.contains("37.5%") && e.contains("3 of 8"),
            "{e}"
        );
    }

    #[test]
    fn a_fail_rule_fails_on_the_first_violation() {
        let b = batch(&[Some(1), Some(-1)]);
        let schema = b.schema();
        let gate = QualityGate::new(
            vec![rule(
                "positive",
                "n > 0",
                &schema,
                RulePolicy {
                    action: RuleAction::Fail,
                    max_ratio: None,
                },
            )],
            schema.clone(),
            None,
        );
        assert!(QualityGate::needed(&gate.measure.rules));
        let notes = gate.write(4, &[b]).unwrap();
        let e = gate.commit(4, notes).unwrap_err().to_string();
        assert!(
            e.contains("`positive` (action fail) broken by 1 of 2 rows in epoch 4 (50%)"),
            "{e}"
        );
    }
}
