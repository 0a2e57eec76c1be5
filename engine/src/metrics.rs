//! The engine's Prometheus metrics (DESIGN section 5): plain structs of metrics, registered
//! on a [`Registry`] the caller passes in, never globals. Names follow
//! `sluice_<component>_<what>_<unit>`; counters end in `_total` when exposed.
//!
//! | metric | type | labels | what |
//! |---|---|---|---|
//! | `sluice_source_records_total` | counter | `source` | records read, dead letters included |
//! | `sluice_sink_written_rows_total` | counter | `table` | rows written to data files |
//! | `sluice_sink_committed_rows_total` | counter | `table` | rows committed |
//! | `sluice_sink_committed_files_total` | counter | `table` | data files committed |
//! | `sluice_sink_replayed_epochs_total` | counter | `table` | epochs found already committed |
//! | `sluice_sink_complete_through_seconds` | gauge | `table` | the watermark of the table's last committed epoch (Unix time): its rows are complete through it |
//! | `sluice_sink_commit_duration_seconds` | histogram | `table` | one table commit |
//! | `sluice_source_lag_records` | gauge | `source`, `partition` | records not yet planned, as of the last plan |
//! | `sluice_source_lag_seconds` | gauge | `source`, `partition` | how far the last plan is behind the partition's head |
//! | `sluice_dead_letter_rows_total` | counter | `reason` | rows written to the dead-letter table |
//! | `sluice_engine_epochs_committed_total` | counter | | epochs committed in every sink |
//! | `sluice_engine_committed_epoch` | gauge | | the last committed epoch |
//! | `sluice_engine_started_epoch` | gauge | | the last epoch started |
//! | `sluice_engine_epoch_duration_seconds` | histogram | | epoch start to commit marker |
//! | `sluice_engine_watermark_seconds` | gauge | | the event-time watermark (Unix time) |
//! | `sluice_engine_max_event_time_seconds` | gauge | | the newest event time seen |
//! | `sluice_engine_aggregate_overflows_total` | counter | `operator` | emitted windows whose sum or average did not fit its type, written NULL |
//! | `sluice_quality_checked_rows_total` | counter | | rows the quality gate measured |
//! | `sluice_quality_rule_violations_total` | counter | `rule`, `action` | rows breaking a rule |
//! | `sluice_quality_column_values_total` | counter | `column` | non-null values profiled |
//! | `sluice_quality_column_nulls_total` | counter | `column` | nulls profiled |
//! | `sluice_quality_column_distinct_estimate` | gauge | `column` | distinct values, last epoch |
//! | `sluice_quality_column_min` / `_max` / `_mean` | gauge | `column` | numeric columns, last epoch |
//!
//! The committer's figures (commits, epochs, quality) come from the committing worker, so in
//! a cluster only process 0 reports them; reads and writes are reported by every process
//! for its own workers. Dead letters are counted as they are written, so a run that fails
//! before its commit has counted rows a restart writes again.
//!
//! ```
//! use prometheus_client::registry::Registry;
//! use sluice_engine::metrics::RunMetrics;
//!
//! let mut registry = Registry::default();
//! let metrics = RunMetrics::register(&mut registry);
//! metrics.record_read("kafka", 3);
//! let mut text = String::new();
//! prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
//! assert!(text.contains(r#"sluice_source_records_total{source="kafka"} 3"#));
//! ```

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use sluice_checkpoints::StateSize;

/// A `table` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableLabel {
    table: String,
}

/// A `source` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabel {
    source: String,
}

/// A dead letter's `reason`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

/// A quality rule and its action.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    rule: String,
    action: String,
}

/// A partition of a source.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartitionLabel {
    source: String,
    partition: String,
}

/// A stateful operator.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperatorLabel {
    operator: String,
}

/// A phase of an epoch: `plan`, `read`, `process` or `commit`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabel {
    phase: &'static str,
}

/// A profiled column.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ColumnLabel {
    column: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;
type Seconds = Family<TableLabel, Histogram, fn() -> Histogram>;

/// Buckets from 5 ms to about 80 s.
fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

/// The metrics of a job run; cheap to clone (every clone updates the same figures).
///
/// `RunMetrics::default()` is registered nowhere: its figures are kept but not exported.
#[derive(Clone, Debug)]
pub struct RunMetrics {
    source_records: Family<SourceLabel, Counter>,
    lag_records: Family<PartitionLabel, Gauge>,
    lag_seconds: Family<PartitionLabel, FloatGauge>,
    written_rows: Family<TableLabel, Counter>,
    committed_rows: Family<TableLabel, Counter>,
    committed_files: Family<TableLabel, Counter>,
    replayed_epochs: Family<TableLabel, Counter>,
    commit_seconds: Seconds,
    complete_through: Family<TableLabel, FloatGauge>,
    dead_letters: Family<ReasonLabel, Counter>,
    epochs_committed: Counter,
    committed_epoch: Gauge,
    started_epoch: Gauge,
    epoch_seconds: Histogram,
    phase_seconds: Family<PhaseLabel, Histogram, fn() -> Histogram>,
    watermark: FloatGauge,
    max_event_time: FloatGauge,
    state_bytes: Family<OperatorLabel, Gauge>,
    state_parts: Family<OperatorLabel, Gauge>,
    state_keys: Family<OperatorLabel, Gauge>,
    aggregate_overflows: Family<OperatorLabel, Counter>,
    quality: QualityMetrics,
}

impl Default for RunMetrics {
    fn default() -> Self {
        Self {
            source_records: Family::default(),
            lag_records: Family::default(),
            lag_seconds: Family::default(),
            written_rows: Family::default(),
            committed_rows: Family::default(),
            committed_files: Family::default(),
            replayed_epochs: Family::default(),
            commit_seconds: Family::new_with_constructor(seconds_histogram),
            complete_through: Family::default(),
            dead_letters: Family::default(),
            epochs_committed: Counter::default(),
            committed_epoch: Gauge::default(),
            started_epoch: Gauge::default(),
            epoch_seconds: seconds_histogram(),
            phase_seconds: Family::new_with_constructor(seconds_histogram),
            watermark: FloatGauge::default(),
            max_event_time: FloatGauge::default(),
            state_bytes: Family::default(),
            state_parts: Family::default(),
            state_keys: Family::default(),
            aggregate_overflows: Family::default(),
            quality: QualityMetrics::default(),
        }
    }
}

impl RunMetrics {
    /// New metrics, registered on `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "sluice_source_records",
            "Records read from the source, dead letters included",
            m.source_records.clone(),
        );
        registry.register(
            "sluice_source_lag_records",
            "Records of a partition not yet planned into an epoch, as of the last plan",
            m.lag_records.clone(),
        );
        registry.register_with_unit(
            "sluice_source_lag",
            "How far behind its partition's head the last plan was",
            Unit::Seconds,
            m.lag_seconds.clone(),
        );
        registry.register(
            "sluice_sink_written_rows",
            "Rows written to a table's data files (committed at the epoch's end)",
            m.written_rows.clone(),
        );
        registry.register(
            "sluice_sink_committed_rows",
            "Rows committed to a table",
            m.committed_rows.clone(),
        );
        registry.register(
            "sluice_sink_committed_files",
            "Data files committed to a table",
            m.committed_files.clone(),
        );
        registry.register(
            "sluice_sink_replayed_epochs",
            "Epochs a table already held when the committer reached them (replays after a restart)",
            m.replayed_epochs.clone(),
        );
        registry.register_with_unit(
            "sluice_sink_complete_through",
            "The watermark of the last epoch committed to a table, as Unix time: the table holds \
             every row with an earlier event time that the job will accept",
            Unit::Seconds,
            m.complete_through.clone(),
        );
        registry.register_with_unit(
            "sluice_sink_commit_duration",
            "Time to commit one epoch to one table",
            Unit::Seconds,
            m.commit_seconds.clone(),
        );
        registry.register(
            "sluice_dead_letter_rows",
            "Rows written to the dead-letter table, by reason",
            m.dead_letters.clone(),
        );
        registry.register(
            "sluice_engine_epochs_committed",
            "Epochs committed in every sink",
            m.epochs_committed.clone(),
        );
        registry.register(
            "sluice_engine_committed_epoch",
            "The last epoch committed in every sink",
            m.committed_epoch.clone(),
        );
        registry.register(
            "sluice_engine_started_epoch",
            "The last epoch started",
            m.started_epoch.clone(),
        );
        registry.register_with_unit(
            "sluice_engine_epoch_duration",
            "Time from an epoch's start to its commit marker",
            Unit::Seconds,
            m.epoch_seconds.clone(),
        );
        registry.register_with_unit(
            "sluice_engine_epoch_phase_duration",
            "Time an epoch spends in each phase: `plan` (asking the sources and logging the \
             entry, on the planning worker), `read` (reading and decoding its ranges, per \
             worker), `process` (from the last range fed to every worker's share done: \
             operators, data-file uploads, snapshot puts) and `commit` (every table's commit \
             and the marker)",
            Unit::Seconds,
            m.phase_seconds.clone(),
        );
        registry.register_with_unit(
            "sluice_engine_watermark",
            "The event-time watermark at the last epoch's start, as Unix time",
            Unit::Seconds,
            m.watermark.clone(),
        );
        registry.register_with_unit(
            "sluice_engine_max_event_time",
            "The newest event time seen at the last epoch's start, as Unix time",
            Unit::Seconds,
            m.max_event_time.clone(),
        );
        registry.register_with_unit(
            "sluice_state_snapshot",
            "Size of an operator's state in the last snapshot committed",
            Unit::Bytes,
            m.state_bytes.clone(),
        );
        registry.register(
            "sluice_state_snapshot_parts",
            "Parts (key-group ranges) of an operator's state in the last snapshot committed",
            m.state_parts.clone(),
        );
        registry.register(
            "sluice_state_snapshot_keys",
            "State entries of an operator (a window's open (window, key) pairs) in the last snapshot committed",
            m.state_keys.clone(),
        );
        registry.register(
            "sluice_engine_aggregate_overflows",
            "Emitted windows (or groups) whose sum or average did not fit its type, written NULL",
            m.aggregate_overflows.clone(),
        );
        m.quality.register(registry);
        m
    }

    /// Records that an epoch spent `took` in `phase` (`plan`, `read`, `process`, `commit`).
    pub(crate) fn epoch_phase(&self, phase: &'static str, took: Duration) {
        self.phase_seconds
            .get_or_create(&PhaseLabel { phase })
            .observe(took.as_secs_f64());
    }

    /// The quality gate's share.
    pub fn quality(&self) -> &QualityMetrics {
        &self.quality
    }

    /// Counts `records` read from `source`.
    pub fn record_read(&self, source: &str, records: u64) {
        self.source_records
            .get_or_create(&SourceLabel {
                source: source.to_owned(),
            })
            .inc_by(records);
    }

    /// Notes that `table` holds every row with an event time before `watermark_ms`.
    pub(crate) fn table_complete_through(&self, table: &str, watermark_ms: i64) {
        self.complete_through
            .get_or_create(&TableLabel {
                table: table.to_owned(),
            })
            .set(watermark_ms as f64 / 1000.0);
    }

    /// Notes how far each partition of `source` is behind, as its last plan saw it.
    pub(crate) fn source_lag(&self, source: &str, lags: &[crate::runtime::PartitionLag]) {
        for lag in lags {
            let label = PartitionLabel {
                source: source.to_owned(),
                partition: lag.partition.clone(),
            };
            if let Some(records) = lag.records {
                self.lag_records
                    .get_or_create(&label)
                    .set(saturating_i64(records));
            }
            if let Some(seconds) = lag.seconds {
                self.lag_seconds.get_or_create(&label).set(seconds);
            }
        }
    }

    /// Notes the start of `epoch` and where event time stood (µs since the Unix epoch).
    pub(crate) fn epoch_started(&self, epoch: u64, watermark: Option<i64>, newest: Option<i64>) {
        self.started_epoch.set(saturating_i64(epoch));
        if let Some(w) = watermark {
            self.watermark.set(w as f64 / 1e6);
        }
        if let Some(t) = newest {
            self.max_event_time.set(t as f64 / 1e6);
        }
    }

    /// Notes a table commit of one epoch.
    pub(crate) fn table_committed(
        &self,
        table: &str,
        took: Duration,
        report: &crate::runtime::CommitReport,
    ) {
        let label = TableLabel {
            table: table.to_owned(),
        };
        self.commit_seconds
            .get_or_create(&label)
            .observe(took.as_secs_f64());
        if report.skipped {
            self.replayed_epochs.get_or_create(&label).inc();
        } else {
            self.committed_rows
                .get_or_create(&label)
                .inc_by(report.rows);
            self.committed_files
                .get_or_create(&label)
                .inc_by(report.files);
        }
    }

    /// Notes that `epoch`, started `took` ago, is committed in every sink.
    pub(crate) fn epoch_committed(&self, epoch: u64, took: Option<Duration>) {
        self.epochs_committed.inc();
        self.committed_epoch.set(saturating_i64(epoch));
        if let Some(took) = took {
            self.epoch_seconds.observe(took.as_secs_f64());
        }
    }

    /// The counter of the window operator `operator`'s sums and averages that did not fit
    /// their type; it exists (at zero) from then on.
    pub(crate) fn aggregate_overflows(&self, operator: &str) -> Counter {
        self.aggregate_overflows
            .get_or_create(&OperatorLabel {
                operator: operator.to_owned(),
            })
            .clone()
    }

    /// Notes a committed snapshot's state size per operator.
    pub(crate) fn state_snapshot(&self, sizes: BTreeMap<String, StateSize>) {
        for (operator, size) in sizes {
            let label = OperatorLabel { operator };
            self.state_parts
                .get_or_create(&label)
                .set(i64::try_from(size.parts).unwrap_or(i64::MAX));
            self.state_bytes
                .get_or_create(&label)
                .set(saturating_i64(size.bytes));
            self.state_keys
                .get_or_create(&label)
                .set(saturating_i64(size.keys));
        }
    }

    /// A counter of rows written to `table`; `dead_letters` also counts them by reason.
    /// The table's series all start at zero, so that they exist (and `rate` works) before
    /// its first commit or replay.
    pub(crate) fn sink_tally(&self, table: &str, dead_letters: bool) -> SinkTally {
        let label = TableLabel {
            table: table.to_owned(),
        };
        drop(self.committed_rows.get_or_create_owned(&label));
        drop(self.committed_files.get_or_create_owned(&label));
        drop(self.replayed_epochs.get_or_create_owned(&label));
        drop(self.commit_seconds.get_or_create_owned(&label));
        SinkTally {
            rows: self.written_rows.get_or_create_owned(&label),
            reasons: dead_letters.then(|| self.dead_letters.clone()),
        }
    }
}

fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Counts the rows a sink writer writes.
pub(crate) struct SinkTally {
    rows: Counter,
    reasons: Option<Family<ReasonLabel, Counter>>,
}

impl SinkTally {
    /// Counts `batch`'s rows (and, for dead letters, their reasons).
    pub(crate) fn count(&self, batch: &RecordBatch) {
        self.rows.inc_by(batch.num_rows() as u64);
        let Some(reasons) = &self.reasons else { return };
        let Some(column) = batch.column_by_name("reason") else {
            return;
        };
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        if let DataType::Utf8 = column.data_type() {
            let strings = column.as_string::<i32>();
            for i in 0..strings.len() {
                let reason = if strings.is_null(i) {
                    "unknown"
                } else {
                    strings.value(i)
                };
                *counts.entry(reason).or_default() += 1;
            }
        } else {
            counts.insert("unknown", column.len() as u64);
        }
        for (reason, n) in counts {
            reasons
                .get_or_create(&ReasonLabel {
                    reason: reason_label(reason).to_owned(),
                })
                .inc_by(n);
        }
    }
}

/// The label a dead letter's `reason` is counted under: the reason itself (`late`,
/// `parse_error`, `rule:<name>`), but only `error` for a row an expression failed on,
/// whose reason (`error:<message>`) holds the message, often with the row's values: a
/// label per message would make a series per bad value, without bound.
fn reason_label(reason: &str) -> &str {
    if reason.starts_with(crate::stateless::ERROR_PREFIX) {
        "error"
    } else {
        reason
    }
}

/// What the quality gate reports per committed epoch (see the [module docs](self)).
#[derive(Clone, Debug, Default)]
pub struct QualityMetrics {
    checked_rows: Counter,
    violations: Family<RuleLabels, Counter>,
    values: Family<ColumnLabel, Counter>,
    nulls: Family<ColumnLabel, Counter>,
    distinct: Family<ColumnLabel, Gauge>,
    min: Family<ColumnLabel, FloatGauge>,
    max: Family<ColumnLabel, FloatGauge>,
    mean: Family<ColumnLabel, FloatGauge>,
}

impl QualityMetrics {
    fn register(&self, registry: &mut Registry) {
        registry.register(
            "sluice_quality_checked_rows",
            "Rows the data-quality gate measured",
            self.checked_rows.clone(),
        );
        registry.register(
            "sluice_quality_rule_violations",
            "Rows breaking a data-quality rule, by rule and action",
            self.violations.clone(),
        );
        registry.register(
            "sluice_quality_column_values",
            "Non-null values profiled, by column",
            self.values.clone(),
        );
        registry.register(
            "sluice_quality_column_nulls",
            "Nulls profiled, by column",
            self.nulls.clone(),
        );
        registry.register(
            "sluice_quality_column_distinct_estimate",
            "Estimated distinct values of a column in the last epoch",
            self.distinct.clone(),
        );
        registry.register(
            "sluice_quality_column_min",
            "Minimum of a numeric column in the last epoch",
            self.min.clone(),
        );
        registry.register(
            "sluice_quality_column_max",
            "Maximum of a numeric column in the last epoch",
            self.max.clone(),
        );
        registry.register(
            "sluice_quality_column_mean",
            "Mean of a numeric column in the last epoch",
            self.mean.clone(),
        );
    }

    /// Counts an epoch's measured rows.
    pub(crate) fn checked(&self, rows: u64) {
        self.checked_rows.inc_by(rows);
    }

    /// Counts `violations` of `rule`.
    pub(crate) fn rule(&self, rule: &str, action: &str, violations: u64) {
        self.violations
            .get_or_create(&RuleLabels {
                rule: rule.to_owned(),
                action: action.to_owned(),
            })
            .inc_by(violations);
    }

    /// Reports a column's profile of the last epoch; `numeric` holds min, max and mean for
    /// number columns.
    pub(crate) fn column(
        &self,
        column: &str,
        values: u64,
        nulls: u64,
        distinct: u64,
        numeric: Option<(f64, f64, f64)>,
    ) {
        let label = ColumnLabel {
            column: column.to_owned(),
        };
        self.values.get_or_create(&label).inc_by(values);
        self.nulls.get_or_create(&label).inc_by(nulls);
        self.distinct
            .get_or_create(&label)
            .set(saturating_i64(distinct));
        if let Some((low, high, mean)) = numeric {
            self.min.get_or_create(&label).set(low);
            self.max.get_or_create(&label).set(high);
            self.mean.get_or_create(&label).set(mean);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::StringArray;
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn exposed(registry: &Registry) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
        text
    }

    #[test]
    fn dead_letters_are_counted_by_reason() {
        let mut registry = Registry::default();
        let metrics = RunMetrics::register(&mut registry);
        let tally = metrics.sink_tally("dlq", true);
        let schema = Arc::new(Schema::new(vec![Field::new(
            "reason",
            DataType::Utf8,
            true,
        )]));
        let reasons = StringArray::from(vec![
            Some("late"),
            Some("rule:positive"),
            Some("late"),
            None,
            Some("error:gold/cents"),
            Some("error:silver/amount"),
        ]);
        tally.count(&RecordBatch::try_new(schema, vec![Arc::new(reasons)]).unwrap());
        let text = exposed(&registry);
        for line in [
            r#"sluice_sink_written_rows_total{table="dlq"} 6"#,
            r#"sluice_dead_letter_rows_total{reason="late"} 2"#,
            r#"sluice_dead_letter_rows_total{reason="rule:positive"} 1"#,
            r#"sluice_dead_letter_rows_total{reason="unknown"} 1"#,
            // One series for every expression error, whatever its operator.
            r#"sluice_dead_letter_rows_total{reason="error"} 2"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert!(
            !text.contains("cents"),
            "an operator became a label:\n{text}"
        );
    }

    #[test]
    fn commits_count_rows_unless_replayed() {
        let mut registry = Registry::default();
        let metrics = RunMetrics::register(&mut registry);
        let report = crate::runtime::CommitReport {
            skipped: false,
            rows: 10,
            files: 2,
            version: Some(3),
        };
        metrics.table_committed("silver", Duration::from_millis(20), &report);
        let replay = crate::runtime::CommitReport {
            skipped: true,
            ..report
        };
        metrics.table_committed("silver", Duration::from_millis(20), &replay);
        metrics.epoch_committed(7, Some(Duration::from_millis(30)));
        let text = exposed(&registry);
        for line in [
            r#"sluice_sink_committed_rows_total{table="silver"} 10"#,
            r#"sluice_sink_committed_files_total{table="silver"} 2"#,
            r#"sluice_sink_replayed_epochs_total{table="silver"} 1"#,
            r#"sluice_sink_commit_duration_seconds_count{table="silver"} 2"#,
            "sluice_engine_epochs_committed_total 1",
            "sluice_engine_committed_epoch 7",
            "sluice_engine_epoch_duration_seconds_count 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }

    #[test]
    fn lag_freshness_and_state_keys_are_exposed() {
        let mut registry = Registry::default();
        let metrics = RunMetrics::register(&mut registry);
        let lags = [
            crate::runtime::PartitionLag {
                partition: "events/0".into(),
                records: Some(120),
                seconds: Some(1.5),
            },
            crate::runtime::PartitionLag {
                partition: "shardId-000000000001".into(),
                records: None,
                seconds: Some(0.0),
            },
        ];
        metrics.source_lag("kafka", &lags);
        metrics.table_complete_through("gold", 1_767_225_600_500);
        let part = sluice_checkpoints::StatePart {
            operator: "user_activity".into(),
            part: "kg-0".into(),
            first_key_group: 0,
            end_key_group: 128,
            bytes: 4096,
            keys: 77,
        };
        metrics.state_snapshot(sluice_checkpoints::state_sizes(&[part.clone(), part]));
        metrics.aggregate_overflows("gold").inc_by(2);
        let text = exposed(&registry);
        for line in [
            r#"sluice_source_lag_records{source="kafka",partition="events/0"} 120"#,
            r#"sluice_source_lag_seconds{source="kafka",partition="events/0"} 1.5"#,
            r#"sluice_source_lag_seconds{source="kafka",partition="shardId-000000000001"} 0.0"#,
            r#"sluice_sink_complete_through_seconds{table="gold"} 1767225600.5"#,
            r#"sluice_state_snapshot_keys{operator="user_activity"} 154"#,
            r#"sluice_state_snapshot_bytes{operator="user_activity"} 8192"#,
            r#"sluice_engine_aggregate_overflows_total{operator="gold"} 2"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert!(
            !text.contains(r#"sluice_source_lag_records{source="kafka",partition="shardId"#),
            "a shard without a record count got one:\n{text}"
        );
    }
}
