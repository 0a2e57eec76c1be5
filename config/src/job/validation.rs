//! The checks of a job file once parsed: each names the key at fault and what it expects.

use sluice_connectors::format::RecordFormat;
use sluice_engine::quality::RuleAction;

use super::JobConfig;
use crate::aggregation::WindowConfig;
use crate::error::{ConfigError, Result};

impl JobConfig {
    /// `source.*`: exactly one connector, and its settings.
    pub(crate) fn validate_connector(
        &self,
        invalid: &dyn Fn(&str, &str) -> ConfigError,
    ) -> Result<()> {
        let kinds = [
            self.source.generator.is_some(),
            self.source.kafka.is_some(),
            self.source.kinesis.is_some(),
            self.source.files.is_some(),
            self.source.delta.is_some(),
            self.source.nexmark.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() != 1 {
            return Err(invalid(
                "source",
                "exactly one of `generator`, `kafka`, `kinesis`, `files`, `delta` or `nexmark`",
            ));
        }
        if let Some(n) = &self.source.nexmark
            && let Err(e) = n.validate()
        {
            return Err(invalid("source.nexmark", &e));
        }
        if let Some(k) = &self.source.kinesis
            && k.stream.trim().is_empty()
        {
            return Err(invalid("source.kinesis.stream", "a stream name"));
        }
        if self
            .source
            .generator
            .as_ref()
            .is_some_and(|g| g.partitions == 0)
        {
            return Err(invalid("source.generator.partitions", "at least 1"));
        }
        if let Some(k) = &self.source.kafka {
            if k.brokers.trim().is_empty() {
                return Err(invalid("source.kafka.brokers", "`host:port[,host:port]`"));
            }
            if k.topics.is_empty() == k.topic_pattern.is_none() {
                return Err(invalid(
                    "source.kafka.topics",
                    "a list of topics, or `topic-pattern` instead (one of the two)",
                ));
            }
            if k.max_records_per_epoch == 0 {
                return Err(invalid(
                    "source.kafka.max-records-per-epoch",
                    "a positive number",
                ));
            }
        }
        Ok(())
    }

    /// `watermark.*`: both bounds need a gold window and must be above 0.
    fn validate_watermark(&self, invalid: &dyn Fn(&str, &str) -> ConfigError) -> Result<()> {
        if let Some(max_future) = self.watermark.max_future {
            if self.gold.is_none() {
                return Err(invalid(
                    "watermark.max-future",
                    "a gold window (whose event-time column the bound applies to)",
                ));
            }
            if max_future.is_zero() {
                return Err(invalid("watermark.max-future", "a duration above 0"));
            }
        }
        if let Some(idle) = self.watermark.idle_timeout {
            if self.gold.is_none() {
                return Err(invalid(
                    "watermark.idle-timeout",
                    "a gold window (whose watermark it moves)",
                ));
            }
            if idle.is_zero() {
                return Err(invalid("watermark.idle-timeout", "a duration above 0"));
            }
        }
        Ok(())
    }

    pub(super) fn validate(&self, file: &str) -> Result<()> {
        let invalid = |key: &str, expected: &str| ConfigError::Invalid {
            file: file.to_string(),
            key: key.to_string(),
            expected: expected.to_string(),
        };
        if self.job_id.is_empty() || self.job_id.contains(['/', '\\']) {
            return Err(invalid("job-id", "a non-empty name without slashes"));
        }
        self.validate_source(&invalid)?;
        self.validate_rules_and_joins(&invalid)?;
        if self.trigger.records_per_epoch == 0 {
            return Err(invalid("trigger.records-per-epoch", "a positive number"));
        }
        if self.trigger.max_epochs_in_flight == 0 {
            return Err(invalid(
                "trigger.max-epochs-in-flight",
                "at least 1 (1 commits each epoch before the next starts)",
            ));
        }
        self.validate_connector(&invalid)?;
        if self.checkpoint.every == 0 {
            return Err(invalid("checkpoint.every", "a positive number of epochs"));
        }
        self.validate_gold(&invalid)?;
        if self.silver.replace_where.is_some()
            && (self.silver.merge.is_some() || self.silver.partition_by.is_empty())
        {
            return Err(invalid(
                "silver.replace-where",
                "an appended (not merged) table with `partition-by`",
            ));
        }
        self.validate_watermark(&invalid)?;
        self.validate_output_names(&invalid)
    }

    /// The source: its format, schema and connector sections fit together.
    fn validate_source(&self, invalid: &dyn Fn(&str, &str) -> ConfigError) -> Result<()> {
        let format = self.source.format;
        if self.source.files.is_some() || self.source.delta.is_some() {
            if format != RecordFormat::Json || self.source.avro.is_some() {
                return Err(invalid(
                    "source.format",
                    "no `format` or `avro` next to `files` or `delta` (set `files.format`)",
                ));
            }
        } else if format.has_fields() && self.source.schema.is_empty() {
            return Err(invalid("source.schema", "at least one field to decode"));
        }
        if !format.has_fields() && !self.source.schema.is_empty() {
            return Err(invalid(
                "source.schema",
                "no fields: `string` and `bytes` give one `value` column",
            ));
        }
        if (format == RecordFormat::Avro) != self.source.avro.is_some() {
            return Err(invalid(
                "source.avro",
                "an `avro: { schema-file: ... }` section with `format: avro`, and only then",
            ));
        }
        if self.source.generator.is_some() && format != RecordFormat::Json {
            return Err(invalid("source.format", "`json` for the generator"));
        }
        Ok(())
    }

    /// Each rule has one kind; each join one table and keys.
    fn validate_rules_and_joins(&self, invalid: &dyn Fn(&str, &str) -> ConfigError) -> Result<()> {
        for (i, r) in self.rules.iter().enumerate() {
            let given = usize::from(!r.check.trim().is_empty())
                + usize::from(r.references.is_some())
                + usize::from(!r.unique.is_empty());
            if given != 1 {
                return Err(invalid(
                    &format!("rules[{i}]"),
                    "exactly one of `check` (SQL), `references` (a dimension table) or \
                     `unique` (key columns)",
                ));
            }
            if let Some(reference) = &r.references {
                let t = &reference.table;
                if usize::from(t.delta.is_some()) + usize::from(t.files.is_some()) != 1
                    || reference.on.is_empty()
                {
                    return Err(invalid(
                        &format!("rules[{i}].references"),
                        "a `table` with exactly one of `delta` or `files`, and `on` keys",
                    ));
                }
            }
            if !r.unique.is_empty() && !matches!(r.action, RuleAction::Warn | RuleAction::Fail) {
                return Err(invalid(
                    &format!("rules[{i}].action"),
                    "`warn` or `fail` for a `unique` rule (which of two equal rows is the \
                     duplicate is not defined, so rows are not routed by it)",
                ));
            }
        }
        for (i, j) in self.joins.iter().enumerate() {
            if usize::from(j.table.delta.is_some()) + usize::from(j.table.files.is_some()) != 1 {
                return Err(invalid(
                    &format!("joins[{i}].table"),
                    "exactly one of `delta` or `files`",
                ));
            }
            if j.on.is_empty() {
                return Err(invalid(
                    &format!("joins[{i}].on"),
                    "at least one key column",
                ));
            }
            if j.follow && j.table.delta.is_none() {
                return Err(invalid(
                    &format!("joins[{i}].follow"),
                    "a `table.delta` (only Delta tables have versions to follow)",
                ));
            }
        }
        Ok(())
    }

    /// The gold window: its mode, lateness, aggregates and sizes.
    fn validate_gold(&self, invalid: &dyn Fn(&str, &str) -> ConfigError) -> Result<()> {
        if let Some(gold) = &self.gold {
            if !matches!(gold.output_mode.as_str(), "append" | "update") {
                return Err(invalid("gold.output-mode", "`append` or `update`"));
            }
            if !gold.allowed_lateness.is_zero() && gold.output_mode != "update" {
                return Err(invalid(
                    "gold.allowed-lateness",
                    "`output-mode: update` with it: append emits each window once, so a late \
                     row could never correct it",
                ));
            }
            for (i, agg) in gold.aggregates.iter().enumerate() {
                let known = [
                    "count",
                    "sum",
                    "avg",
                    "min",
                    "max",
                    "stddev",
                    "stddev_pop",
                    "variance",
                    "var_samp",
                    "var_pop",
                    "approx_count_distinct",
                    "count_distinct",
                    "sum_distinct",
                    "avg_distinct",
                    "collect_set",
                    "collect_list",
                    "max_by",
                    "min_by",
                ];
                if !known.contains(&agg.function.as_str()) && agg.percentile().is_none() {
                    return Err(invalid(
                        &format!("gold.aggregates[{i}].fn"),
                        &format!(
                            "one of {}, or percentile_approx(q) with q from 0 to 1",
                            known.join(", ")
                        ),
                    ));
                }
                if agg.column.is_none() && agg.function != "count" {
                    return Err(invalid(&format!("gold.aggregates[{i}].column"), "a column"));
                }
            }
            match gold.window {
                WindowConfig::Sliding { size, slide, .. } if slide.is_zero() || size < slide => {
                    return Err(invalid(
                        "gold.window.slide",
                        "a positive slide no longer than size",
                    ));
                }
                WindowConfig::Cumulating { size, step }
                    if step.is_zero() || size < step || size.as_nanos() % step.as_nanos() != 0 =>
                {
                    return Err(invalid(
                        "gold.window.step",
                        "a positive step that divides size",
                    ));
                }
                WindowConfig::Tumbling { size, .. } if size.is_zero() => {
                    return Err(invalid("gold.window.size", "a positive duration"));
                }
                WindowConfig::Tumbling {
                    size: period,
                    offset,
                }
                | WindowConfig::Sliding {
                    slide: period,
                    offset,
                    ..
                } if offset >= period => {
                    return Err(invalid(
                        "gold.window.offset",
                        "an offset less than the windows' period (the slide, or the size of \
                         tumbling windows)",
                    ));
                }
                WindowConfig::Session { gap } if gap.is_zero() => {
                    return Err(invalid("gold.window.gap", "a positive duration"));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Every output table has a name of its own; epoch aggregates have columns and merge keys.
    fn validate_output_names(&self, invalid: &dyn Fn(&str, &str) -> ConfigError) -> Result<()> {
        let tables = &self.output.tables;
        let mut names: Vec<&str> = vec![&tables.silver, &tables.dead_letters];
        names.extend(tables.bronze.as_deref());
        if self.gold.is_some() {
            names.push(&tables.gold);
        }
        for (i, agg) in self.aggregates.iter().enumerate() {
            let key = |k: &str| format!("aggregates[{i}].{k}");
            if agg.name.is_empty() || names.contains(&agg.name.as_str()) {
                return Err(invalid(
                    &key("name"),
                    "a table name not used by another output",
                ));
            }
            names.push(&agg.name);
            if agg.columns.is_empty() {
                return Err(invalid(&key("columns"), "at least one aggregate column"));
            }
            if let Some(merge) = &agg.merge
                && (merge.keys.is_empty() || merge.keys.iter().any(|k| !agg.keys.contains(k)))
            {
                return Err(invalid(
                    &key("merge.keys"),
                    "grouping keys of the aggregate (one row per group to merge)",
                ));
            }
        }
        Ok(())
    }
}
