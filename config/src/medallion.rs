//! The YAML job files' medallion template as a [`Plan`]: the source's rows (bronze), the
//! data-quality rules, the joins and computed columns (silver), the event-time window
//! (gold), the epoch aggregates and the dead letters.
//!
//! ```text
//! source ─ rules ─ <join>… ─ [dedup] ─ silver ─┬─ <gold window>
//!    │       │                                 └─ <aggregate>…
//!  bronze  violations ─> dead letters
//! ```
//!
//! `silver.dedup` puts a deduplication within the watermark before the silver columns;
//! its late rows are dead letters.
//!
//! Sinks are named after the output tables; the quality gate, when the job needs one, is
//! the sink [`QUALITY_GATE`].

use std::time::Duration;

use sluice_engine::aggregate::AggregateSpec;
use sluice_engine::dedup::DedupSpec;
use sluice_engine::join::JoinSpec;
use sluice_engine::plan::{KeyCheck, KeyRule, Plan, PlanBuilder, RuleSet};
use sluice_engine::quality::{RuleAction, RulePolicy};
use sluice_engine::window::{Aggregate, AggregateFn, OutputMode, WindowKind, WindowSpec};

use crate::aggregation::{GoldConfig, WindowConfig};
use crate::error::{ConfigError, Result};
use crate::job::JobConfig;

/// The source's stream in a medallion plan.
pub const SOURCE: &str = "source";
/// The rules operator of a medallion plan.
pub const RULES: &str = "rules";
/// The silver projection of a medallion plan.
pub const SILVER: &str = "silver";
/// The deduplication before silver (`silver.dedup`), also its state's name.
pub const DEDUP: &str = "dedup";
/// The quality gate's sink in a medallion plan.
pub const QUALITY_GATE: &str = "quality_gate";

impl JobConfig {
    /// The job's plan: its SQL queries', or its medallion template's.
    ///
    /// # Errors
    /// When the operators' names collide (a join or aggregate named `rules` or `silver`,
    /// or like the gold window), or the window is not one the engine runs.
    pub fn plan(&self) -> Result<Plan> {
        if let Some(queries) = &self.queries {
            return Ok(queries.plan.clone());
        }
        let invalid = |key: &str, expected: String| ConfigError::Invalid {
            file: self.job_id.clone(),
            key: key.to_owned(),
            expected,
        };
        let mut plan = PlanBuilder::new(&self.job_id, SOURCE).rules(RULES, SOURCE, self.rule_set());
        let mut last = RULES.to_owned();
        for j in &self.joins {
            let spec = JoinSpec {
                name: j.name.clone(),
                keys: j.on.clone(),
                table_keys: Vec::new(),
                kind: j.kind,
                columns: j.columns.clone(),
                strategy: j.effective_strategy(),
                follow: j.follow,
                table_filter: j.filter.clone(),
                renamed: std::collections::BTreeMap::new(),
            };
            plan = plan.join(&j.name, &last, spec);
            last.clone_from(&j.name);
        }
        if let Some(dedup) = &self.silver.dedup {
            if dedup.keys.is_empty() {
                return Err(invalid(
                    "silver.dedup.keys",
                    "at least one key column".into(),
                ));
            }
            let spec = DedupSpec::new(
                DEDUP,
                dedup.keys.clone(),
                dedup.event_time.clone(),
                dedup.watermark_delay,
            );
            plan = plan.dedup(DEDUP, &last, spec);
            last = DEDUP.to_owned();
        }
        plan = plan.operator(
            SILVER,
            &last,
            sluice_engine::plan::OperatorKind::Project {
                columns: self
                    .silver
                    .columns
                    .iter()
                    .map(|c| (c.name.clone(), c.expr.clone()))
                    .collect(),
                keep_input: true,
                drop: self.silver.drop.clone(),
                keep_coordinates: false,
            },
        );
        let tables = &self.output.tables;
        if self.needs_quality_gate() {
            plan = plan.quality_gate(QUALITY_GATE, RULES);
        }
        if let Some(bronze) = &tables.bronze {
            plan = plan.sink(bronze, SOURCE);
        }
        plan = plan.sink(&tables.silver, SILVER);
        if let Some(gold) = &self.gold {
            plan = plan
                .window(
                    &gold.name,
                    SILVER,
                    window_spec(gold).map_err(|e| invalid("gold", e))?,
                )
                .sink(&tables.gold, &gold.name);
        }
        for a in &self.aggregates {
            let spec = AggregateSpec {
                name: a.name.clone(),
                keys: a.keys.clone(),
                filter: a.filter.clone(),
                columns: a
                    .columns
                    .iter()
                    .map(|c| (c.name.clone(), c.expr.clone()))
                    .collect(),
            };
            plan = plan.aggregate(&a.name, SILVER, spec).sink(&a.name, &a.name);
        }
        plan.dead_letters(&tables.dead_letters)
            .build()
            .map_err(|e| invalid("job", e.to_string()))
    }

    /// Whether the job needs the quality gate: a report, a `fail` rule, a threshold or a
    /// uniqueness rule.
    pub fn needs_quality_gate(&self) -> bool {
        self.quality.report
            || self.rules.iter().any(|r| {
                r.action == RuleAction::Fail || r.max_ratio.is_some() || !r.unique.is_empty()
            })
    }

    fn rule_set(&self) -> RuleSet {
        let rules = self
            .rules
            .iter()
            .map(|r| {
                // The plan's text of a key rule (a reference table's location is not part
                // of the plan: pointing it elsewhere keeps the checkpoint).
                let check = match &r.references {
                    Some(reference) => format!("references ({})", reference.on.join(", ")),
                    None if !r.unique.is_empty() => format!("unique ({})", r.unique.join(", ")),
                    None => r.check.clone(),
                };
                (r.name.clone(), check)
            })
            .collect();
        let key_rules = self
            .rules
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match (&r.references, r.unique.is_empty()) {
                (Some(reference), _) => Some(KeyRule {
                    rule: i,
                    keys: reference.on.clone(),
                    kind: KeyCheck::References,
                }),
                (None, false) => Some(KeyRule {
                    rule: i,
                    keys: r.unique.clone(),
                    kind: KeyCheck::Unique,
                }),
                (None, true) => None,
            })
            .collect();
        let policies: Vec<RulePolicy> = self
            .rules
            .iter()
            .map(|r| RulePolicy {
                action: r.action,
                max_ratio: r.max_ratio,
            })
            .collect();
        RuleSet {
            rules,
            // Empty when all are the default, which keeps the plan's text short.
            policies: if policies.iter().all(RulePolicy::is_default) {
                Vec::new()
            } else {
                policies
            },
            key_rules,
        }
    }
}

fn window_spec(gold: &GoldConfig) -> std::result::Result<WindowSpec, String> {
    let (kind, offset) = match gold.window {
        WindowConfig::Tumbling { size, offset } => (WindowKind::Tumbling { size }, offset),
        WindowConfig::Sliding {
            size,
            slide,
            offset,
        } => (WindowKind::Sliding { size, slide }, offset),
        WindowConfig::Cumulating { size, step } => {
            (WindowKind::Cumulating { size, step }, Duration::ZERO)
        }
        WindowConfig::Session { gap } => (WindowKind::Session { gap }, Duration::ZERO),
    };
    let aggregates = gold
        .aggregates
        .iter()
        .map(|a| {
            let function = match a.function.as_str() {
                "count" => AggregateFn::Count,
                "sum" => AggregateFn::Sum,
                "avg" => AggregateFn::Avg,
                "min" => AggregateFn::Min,
                "max" => AggregateFn::Max,
                "stddev" => AggregateFn::Stddev,
                "stddev_pop" => AggregateFn::StddevPop,
                "variance" | "var_samp" => AggregateFn::Variance,
                "var_pop" => AggregateFn::VariancePop,
                "approx_count_distinct" => AggregateFn::ApproxCountDistinct,
                "count_distinct" => AggregateFn::CountDistinct,
                "sum_distinct" => AggregateFn::SumDistinct,
                "avg_distinct" => AggregateFn::AvgDistinct,
                "collect_set" => AggregateFn::CollectSet,
                "collect_list" => AggregateFn::CollectList,
                "max_by" => AggregateFn::MaxBy,
                "min_by" => AggregateFn::MinBy,
                other => match a.percentile() {
                    Some(per_million) => AggregateFn::ApproxPercentile { per_million },
                    None => return Err(format!("unknown aggregate function `{other}`")),
                },
            };
            if function.picks() != a.by.is_some() {
                return Err(format!(
                    "aggregate `{}`: `by` (the ordering column) goes with max_by and min_by, \
                     and only with them",
                    a.name
                ));
            }
            Ok(Aggregate {
                name: a.name.clone(),
                function,
                column: a.column.clone(),
                by: a.by.clone(),
            })
        })
        .collect::<std::result::Result<Vec<_>, String>>()?;
    let update = gold.output_mode == "update";
    let mut spec = WindowSpec::new(gold.name.clone(), kind, gold.event_time.clone())
        .with_keys(gold.keys.clone())
        .with_delay(gold.watermark_delay)
        .with_mode(if update {
            OutputMode::Update
        } else {
            OutputMode::Append
        })
        .with_allowed_lateness(gold.allowed_lateness)
        .with_offset(offset);
    spec.aggregates = aggregates;
    // Sessions in update mode: the rows of sessions merged into an earlier one go.
    spec.deletes = update && matches!(kind, WindowKind::Session { .. });
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use sluice_engine::plan::{OperatorKind, SinkRole};

    use crate::JobConfig;

    fn plan_of(yaml: &str, file: &str) -> sluice_engine::plan::Plan {
        JobConfig::from_yaml_str(yaml, file)
            .expect("parses")
            .plan()
            .expect("plans")
    }

    #[test]
    fn every_example_job_compiles_to_a_plan() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .expect("config dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.sort();
        assert!(files.len() >= 7, "{files:?}");
        for path in files {
            let file = path.display().to_string();
            let job = JobConfig::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
            let plan = job.plan().unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(
                plan.sinks.last().map(|s| s.role),
                Some(SinkRole::DeadLetters),
                "{file}"
            );
        }
    }

    /// A YAML join's `filter` is its table's filter (a SQL lookup join's conditions of
    /// `ON` on the table), shown by `explain`.
    #[test]
    fn a_yaml_join_takes_a_filter_of_its_table() {
        let yaml = crate::USER_ACTIVITY_YAML.replace(
            "\nrules:",
            "\njoins:\n  - name: users\n    table: { delta: { path: /lake/users } }\n    \
             on: [user_id]\n    filter: \"tier = 'gold'\"\nrules:",
        );
        let plan = plan_of(&yaml, "joins.yaml");
        let OperatorKind::Join(spec) = &plan.operator("users").expect("the join").kind else {
            panic!("{:?}", plan.operators);
        };
        assert_eq!(spec.table_filter.as_deref(), Some("tier = 'gold'"));
        assert!(
            plan.explain().contains("(its rows where tier = 'gold')"),
            "{}",
            plan.explain()
        );
    }

    /// A YAML gold window takes `percentile_approx(q)`, as SQL's `percentile_approx(c, q)`.
    #[test]
    fn a_gold_window_takes_approximate_percentiles() {
        let yaml = crate::USER_ACTIVITY_YAML.replace(
            "    - { name: avg_value, fn: avg, column: value }",
            "    - { name: avg_value, fn: avg, column: value }\n    \
             - { name: p95_value, fn: percentile_approx(0.95), column: value }",
        );
        let plan = plan_of(&yaml, "p95.yaml");
        let window = plan.window().expect("a window");
        assert_eq!(
            window
                .aggregates
                .last()
                .map(|a| (a.name.as_str(), a.function)),
            Some((
                "p95_value",
                sluice_engine::window::AggregateFn::ApproxPercentile {
                    per_million: 950_000
                }
            ))
        );
        let bad = yaml.replace("percentile_approx(0.95)", "percentile_approx(95)");
        let err = JobConfig::from_yaml_str(&bad, "p95.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("percentile_approx(q) with q from 0 to 1"),
            "{err}"
        );
    }

    /// A YAML gold window takes `count_distinct`, `sum_distinct` and `avg_distinct`, as
    /// SQL's `count(DISTINCT c)`, `sum(DISTINCT c)` and `avg(DISTINCT c)`.
    #[test]
    fn a_gold_window_takes_exact_distinct_counts_sums_and_means() {
        use sluice_engine::window::AggregateFn;
        let yaml = crate::USER_ACTIVITY_YAML.replace(
            "    - { name: avg_value, fn: avg, column: value }",
            "    - { name: avg_value, fn: avg, column: value }\n    \
             - { name: values, fn: count_distinct, column: value }\n    \
             - { name: value_sum, fn: sum_distinct, column: value }\n    \
             - { name: value_mean, fn: avg_distinct, column: value }",
        );
        let window = plan_of(&yaml, "distinct.yaml").window().cloned().unwrap();
        let last: Vec<(&str, AggregateFn)> = window.aggregates[window.aggregates.len() - 3..]
            .iter()
            .map(|a| (a.name.as_str(), a.function))
            .collect();
        assert_eq!(
            last,
            [
                ("values", AggregateFn::CountDistinct),
                ("value_sum", AggregateFn::SumDistinct),
                ("value_mean", AggregateFn::AvgDistinct)
            ]
        );
    }

    /// A YAML gold window takes `max_by` and `min_by` with their ordering column `by`,
    /// which no other function takes.
    #[test]
    fn a_gold_window_picks_values_by_an_ordering_column() {
        use sluice_engine::window::AggregateFn;
        let yaml = crate::USER_ACTIVITY_YAML.replace(
            "    - { name: avg_value, fn: avg, column: value }",
            "    - { name: avg_value, fn: avg, column: value }\n    \
             - { name: latest, fn: max_by, column: value, by: event_time }",
        );
        let window = plan_of(&yaml, "picks.yaml").window().cloned().unwrap();
        let last = window.aggregates.last().unwrap();
        assert_eq!(
            (last.function, last.by.as_deref()),
            (AggregateFn::MaxBy, Some("event_time"))
        );
        for (aggregate, needs) in [
            ("{ name: latest, fn: max_by, column: value }", "`by`"),
            (
                "{ name: latest, fn: max, column: value, by: event_time }",
                "`by`",
            ),
        ] {
            let yaml = crate::USER_ACTIVITY_YAML.replace(
                "    - { name: avg_value, fn: avg, column: value }",
                &format!("    - {{ name: avg_value, fn: avg, column: value }}\n    - {aggregate}"),
            );
            let err = crate::JobConfig::from_yaml_str(&yaml, "picks.yaml")
                .and_then(|job| job.plan())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(needs), "{aggregate}: {err}");
        }
    }

    #[test]
    fn the_demo_job_is_rules_silver_and_a_window() {
        let plan = plan_of(crate::USER_ACTIVITY_YAML, "user-activity.yaml");
        let kinds: Vec<(&str, &str, &str)> = plan
            .operators
            .iter()
            .map(|o| (o.name.as_str(), o.input.as_str(), o.kind.kind_name()))
            .collect();
        assert_eq!(kinds[0], ("rules", "source", "rules"));
        assert_eq!(kinds[1], ("silver", "rules", "project"));
        assert!(matches!(plan.operators[2].kind, OperatorKind::Window(_)));
        assert_eq!(plan.operators[2].input, "silver");
        let sinks: Vec<(&str, &str)> = plan
            .sinks
            .iter()
            .map(|s| (s.name.as_str(), s.input.as_str()))
            .collect();
        assert_eq!(sinks[0], ("bronze", "source"));
        assert_eq!(sinks[1], ("silver", "silver"));
        assert_eq!(sinks[3].1, "dead_letters");
    }

    #[test]
    fn a_gold_window_may_cumulate_and_its_step_must_divide_its_size() {
        let yaml = crate::USER_ACTIVITY_YAML.replace(
            "window: { kind: sliding, size: 5m, slide: 1m }",
            "window: { kind: cumulating, size: 1h, step: 5m }",
        );
        let plan = plan_of(&yaml, "cumulating.yaml");
        let OperatorKind::Window(spec) = &plan.operators[2].kind else {
            panic!("{:?}", plan.operators[2]);
        };
        assert_eq!(
            spec.kind,
            sluice_engine::window::WindowKind::Cumulating {
                size: std::time::Duration::from_secs(3600),
                step: std::time::Duration::from_secs(300),
            }
        );
        let bad = yaml.replace("step: 5m", "step: 7m");
        let err = JobConfig::from_yaml_str(&bad, "bad.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("gold.window.step"), "{err}");
    }

    #[test]
    fn a_gold_window_may_start_at_an_offset_below_its_period() {
        let yaml = crate::USER_ACTIVITY_YAML.replace(
            "window: { kind: sliding, size: 5m, slide: 1m }",
            "window: { kind: sliding, size: 5m, slide: 1m, offset: 20s }",
        );
        let plan = plan_of(&yaml, "offset.yaml");
        let OperatorKind::Window(spec) = &plan.operators[2].kind else {
            panic!("{:?}", plan.operators[2]);
        };
        assert_eq!(spec.offset, std::time::Duration::from_secs(20));
        let bad = yaml.replace("offset: 20s", "offset: 1m");
        let err = JobConfig::from_yaml_str(&bad, "bad.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("gold.window.offset"), "{err}");
        let plain = plan_of(crate::USER_ACTIVITY_YAML, "user-activity.yaml");
        let OperatorKind::Window(spec) = &plain.operators[2].kind else {
            panic!("{:?}", plain.operators[2]);
        };
        assert!(spec.offset.is_zero());
    }

    #[test]
    fn a_silver_dedup_comes_between_the_rules_and_the_silver_columns() {
        let yaml = crate::USER_ACTIVITY_YAML.replace(
            "silver:\n",
            "silver:\n  dedup: { keys: [event_id], event-time: event_time, watermark-delay: 10m }\n",
        );
        let plan = plan_of(&yaml, "user-activity.yaml");
        let kinds: Vec<(&str, &str, &str)> = plan
            .operators
            .iter()
            .map(|o| (o.name.as_str(), o.input.as_str(), o.kind.kind_name()))
            .collect();
        assert_eq!(kinds[1], ("dedup", "rules", "dedup"));
        assert_eq!(kinds[2], ("silver", "dedup", "project"));
        let OperatorKind::Dedup(spec) = &plan.operators[1].kind else {
            panic!("not a dedup");
        };
        assert_eq!(spec.keys, ["event_id"]);
        assert_eq!(spec.delay, std::time::Duration::from_secs(600));
        let no_keys = yaml.replace("keys: [event_id]", "keys: []");
        let err = JobConfig::from_yaml_str(&no_keys, "user-activity.yaml")
            .expect("parses")
            .plan()
            .expect_err("no keys");
        assert!(err.to_string().contains("silver.dedup.keys"), "{err}");
    }
}
