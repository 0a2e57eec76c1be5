//! The job file.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sluice_connectors::delta::{DeltaSourceConfig, MergeConfig};
use sluice_connectors::files::FileSourceConfig;
use sluice_connectors::format::RecordFormat;
use sluice_connectors::format::avro::AvroConfig;
use sluice_connectors::generator::GeneratorConfig;
use sluice_connectors::kafka::KafkaSourceConfig;
use sluice_connectors::kinesis::KinesisSourceConfig;
use sluice_engine::join::{JoinKind, JoinStrategy};
use sluice_engine::quality::RuleAction;

use crate::aggregation::{EpochAggregateConfig, GoldConfig};
use crate::error::{ConfigError, Result};
use crate::output::{CheckpointConfig, ObjectStoreConfig, OutputConfig};
use crate::overrides::Override;

mod validation;

pub use sluice_engine::field_type::FieldType;

/// A whole job: source, rules, silver columns, gold window, outputs, checkpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct JobConfig {
    /// Parameters and their defaults, referenced as `${name}` in any string value and set
    /// with `--param name=value` (see [`crate::params`]).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub params: std::collections::BTreeMap<String, serde_norway::Value>,
    /// Names the checkpoint and the Delta transaction app ids.
    pub job_id: String,
    /// Where records come from.
    pub source: SourceConfig,
    /// When epochs end.
    #[serde(default)]
    pub trigger: TriggerConfig,
    /// Data-quality rules, in order.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    /// Broadcast joins with static tables, applied in order after the rules; silver
    /// columns may use the joined columns.
    #[serde(default)]
    pub joins: Vec<JoinConfig>,
    /// Silver table settings.
    #[serde(default)]
    pub silver: SilverConfig,
    /// The gold aggregation.
    pub gold: Option<GoldConfig>,
    /// Group-by aggregates over each epoch's silver rows, each written to its own table
    /// (appended, or MERGEd with `merge`).
    #[serde(default)]
    pub aggregates: Vec<EpochAggregateConfig>,
    /// Output location and table names.
    pub output: OutputConfig,
    /// Checkpoint settings.
    #[serde(default)]
    pub checkpoint: CheckpointConfig,
    /// How object-store requests are retried.
    #[serde(default)]
    pub object_store: ObjectStoreConfig,
    /// Timely worker threads; 0 means one per core.
    #[serde(default)]
    pub workers: usize,
    /// Data-quality reporting.
    #[serde(default)]
    pub quality: QualityConfig,
    /// The Prometheus metrics endpoint.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// How event time is judged against processing time.
    #[serde(default)]
    pub watermark: WatermarkConfig,
    /// Which columns of the sources are decoded: all of them (the default), or only those
    /// the job reads.
    #[serde(default)]
    pub source_columns: SourceColumns,
    /// The plan and tables of a SQL job (see [`crate::sql`]); `None` for a YAML job, whose
    /// plan is its medallion template.
    #[serde(skip)]
    pub queries: Option<crate::sql::SqlQueries>,
}

/// Which columns of the sources a job decodes (`source-columns`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceColumns {
    /// Every declared column: a row that becomes a dead letter after decoding (late, failed
    /// by an expression, quarantined by a rule) carries the whole record in its payload.
    #[default]
    All,
    /// Only the columns some sink, expression, key, event time or aggregate of the job
    /// reads (projection pushdown; Parquet files read no other column chunk). Such a dead
    /// letter's payload then holds those columns; its coordinates locate the whole record.
    Used,
}

/// Event time against processing time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct WatermarkConfig {
    /// Rows whose event time is further than this ahead of the time their epoch was planned
    /// go to the dead-letter table (reason `future`) instead of moving the watermark. Needs
    /// a gold window whose event-time column the source decodes. Unset: no bound.
    #[serde(default, with = "humantime_serde")]
    pub max_future: Option<Duration>,
    /// Once the source has had nothing new for this long (every partition caught up), an
    /// empty epoch moves event time on by the wall-clock time that passed, so the last
    /// windows close without new records. Needs a gold window. Unset: wait for records.
    #[serde(default, with = "humantime_serde")]
    pub idle_timeout: Option<Duration>,
}

/// The Prometheus metrics endpoint (`GET /metrics`, OpenMetrics text).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address to serve on, such as `0.0.0.0:9464`; none serves no endpoint.
    #[serde(default)]
    pub listen: Option<std::net::SocketAddr>,
    /// How long to keep serving after the job ends, so that a last scrape sees a bounded
    /// job's final figures (e.g. `30s`).
    #[serde(default, with = "humantime_serde")]
    pub linger: Option<Duration>,
}

/// Data-quality reporting settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct QualityConfig {
    /// Append each epoch's rule counts and a profile of every bronze column (count, nulls,
    /// distinct estimate, min, max, mean) to the `quality-report` table.
    #[serde(default)]
    pub report: bool,
}

/// The source and how its records decode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SourceConfig {
    /// The deterministic generator.
    #[serde(default)]
    pub generator: Option<GeneratorConfig>,
    /// Kafka topics.
    #[serde(default)]
    pub kafka: Option<KafkaSourceConfig>,
    /// The Nexmark benchmark's generator (one kind of row; no `schema` or `format`).
    #[serde(default)]
    pub nexmark: Option<sluice_connectors::nexmark::NexmarkConfig>,
    /// A Kinesis stream.
    #[serde(default)]
    pub kinesis: Option<KinesisSourceConfig>,
    /// Files (Parquet, JSON lines, CSV, Avro, ORC): a bounded source; their format is
    /// `files.format`, and `schema` is optional (inferred when absent).
    #[serde(default)]
    pub files: Option<FileSourceConfig>,
    /// A Delta table: a snapshot (`version-as-of`, `timestamp-as-of`), then its new
    /// versions unless bounded; takes no `schema` or `format`.
    #[serde(default)]
    pub delta: Option<DeltaSourceConfig>,
    /// Record format: `json` (default), `avro`, `string` or `bytes`. The last two give
    /// one `value` column and take no `schema`.
    #[serde(default)]
    pub format: RecordFormat,
    /// Avro settings (`schema-file`, `wire`), for `format: avro`.
    #[serde(default)]
    pub avro: Option<AvroConfig>,
    /// Fields to decode (JSON and Avro); next to `delta`, the columns the job expects of
    /// the table, checked against its own at start (its rows keep the table's columns).
    #[serde(default)]
    pub schema: Vec<FieldConfig>,
}

/// One decoded field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FieldConfig {
    /// Field name.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub data_type: FieldType,
    /// Whether it may be null or missing (a missing non-nullable field is a parse error).
    #[serde(default = "yes")]
    pub nullable: bool,
}

pub(crate) fn yes() -> bool {
    true
}

/// When an epoch ends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct TriggerConfig {
    /// Records per epoch across all partitions (the generator's epochs; Kafka uses its
    /// `max-records-per-epoch`).
    #[serde(default = "default_records_per_epoch")]
    pub records_per_epoch: u64,
    /// Start an epoch at most this often (a processing-time trigger, e.g. `1s`); absent
    /// starts the next epoch as soon as the previous one is committed.
    #[serde(default, with = "humantime_serde")]
    pub interval: Option<Duration>,
    /// How many epochs may be in flight at once, planned and not yet committed (at least
    /// 1): the next epoch is read and processed while the previous ones upload and commit.
    /// Commits stay in epoch order, and the tables are the same for any value.
    #[serde(default = "default_max_epochs_in_flight")]
    pub max_epochs_in_flight: usize,
}

fn default_records_per_epoch() -> u64 {
    100_000
}

fn default_max_epochs_in_flight() -> usize {
    3
}

impl Default for TriggerConfig {
    fn default() -> Self {
        Self {
            records_per_epoch: default_records_per_epoch(),
            interval: None,
            max_epochs_in_flight: default_max_epochs_in_flight(),
        }
    }
}

/// A join with a table (a Delta table or files): broadcast (the whole table on every
/// worker, loaded at start), or keyed (the table spread over the workers by key, and
/// optionally followed as new Delta versions are committed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct JoinConfig {
    /// Name, for messages.
    pub name: String,
    /// The table: exactly one of `delta` or `files` (with an optional `schema`).
    pub table: JoinTableConfig,
    /// Key columns, named the same on both sides.
    pub on: Vec<String>,
    /// `left` (default), `inner` or `left-anti`.
    #[serde(default)]
    pub kind: JoinKind,
    /// Table columns to add (default: every non-key column).
    #[serde(default)]
    pub columns: Vec<String>,
    /// `broadcast` (default: the whole table on every worker) or `keyed` (the table as a
    /// differential arrangement spread over the workers by key; rows are exchanged by key
    /// to meet it).
    #[serde(default)]
    pub strategy: JoinStrategy,
    /// Follow the Delta table's new versions (a stream–table join; implies `keyed`): each
    /// epoch joins the version that is newest when the epoch is planned, recorded in the
    /// checkpoint so that a replay joins the same one.
    #[serde(default)]
    pub follow: bool,
    /// A SQL predicate over the table's columns: only the rows it holds for join (the
    /// others are as absent: a `left` join gives nulls, a `left-anti` join keeps the row).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
}

impl JoinConfig {
    /// The strategy in effect: `follow` implies `keyed`.
    pub fn effective_strategy(&self) -> JoinStrategy {
        if self.follow {
            JoinStrategy::Keyed
        } else {
            self.strategy
        }
    }
}

/// Where a join's table comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct JoinTableConfig {
    /// A Delta table (any version; read bounded).
    #[serde(default)]
    pub delta: Option<DeltaSourceConfig>,
    /// Files.
    #[serde(default)]
    pub files: Option<FileSourceConfig>,
    /// The files' fields (inferred when absent).
    #[serde(default)]
    pub schema: Vec<FieldConfig>,
}

/// A data-quality rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RuleConfig {
    /// Name; violations are dead letters with reason `rule:<name>`.
    pub name: String,
    /// SQL predicate rows must satisfy (null counts as a violation); give this or
    /// `references`.
    #[serde(default)]
    pub check: String,
    /// Referential integrity: the row's `on` columns must exist in a dimension table
    /// (`table`, as in a join: `delta` or `files`); a null key passes.
    #[serde(default)]
    pub references: Option<ReferenceConfig>,
    /// Uniqueness: no two rows of an epoch share these columns (rows with a null part
    /// are not compared). Its violations are the repeats beyond each key's first row,
    /// counted per epoch against `max-ratio` (the duplicate ratio); `warn` or `fail`
    /// only, since which of two equal rows is the repeat is not defined.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unique: Vec<String>,
    /// What happens to violating rows: `quarantine` (default: to the dead letters),
    /// `drop`, `warn` (kept, counted) or `fail` (the job stops before the epoch commits).
    #[serde(default)]
    pub action: RuleAction,
    /// The largest share of an epoch's rows that may break the rule, `0.01` or `"1%"`;
    /// above it the job stops with a message naming the rule and the figure.
    #[serde(default, deserialize_with = "sluice_engine::quality::ratio")]
    pub max_ratio: Option<f64>,
}

/// The dimension table a referential-integrity rule looks keys up in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ReferenceConfig {
    /// The table, as in a join.
    pub table: JoinTableConfig,
    /// Key columns, named the same in the rows and the table.
    pub on: Vec<String>,
}

/// Silver table settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SilverConfig {
    /// Computed columns appended to the bronze columns.
    #[serde(default)]
    pub columns: Vec<ColumnConfig>,
    /// Bronze or joined columns left out of the silver table, such as the source
    /// coordinates (`source`, `partition`, `offset`) when only dead letters need them. The
    /// computed columns may still use them.
    #[serde(default)]
    pub drop: Vec<String>,
    /// Partition columns of the silver table.
    #[serde(default)]
    pub partition_by: Vec<String>,
    /// Upsert each epoch into silver with a Delta `MERGE` on these keys instead of
    /// appending (exactly once: the epoch's txn rides in the MERGE commit).
    #[serde(default)]
    pub merge: Option<MergeConfig>,
    /// Overwrite with partition replace (Delta's `replaceWhere`): SQL over the partition
    /// columns (as text), e.g. `process_date = '${process-date}'`. The job's first epoch
    /// removes the table's files in matching partitions in the same commit as its own
    /// files; later epochs append.
    #[serde(default)]
    pub replace_where: Option<String>,
    /// Deduplication within the watermark before the silver columns, Spark's
    /// `dropDuplicatesWithinWatermark`: the first row of each key passes, later rows of
    /// the key are dropped while the key is remembered, and late rows are dead letters.
    #[serde(default)]
    pub dedup: Option<DedupConfig>,
}

/// `silver.dedup`: deduplication within the watermark.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DedupConfig {
    /// The columns that identify a row (of the rows after the rules and joins).
    pub keys: Vec<String>,
    /// Event-time column.
    pub event_time: String,
    /// Watermark delay: a key is remembered until the watermark passes its first row's
    /// event time plus this, and a row at or behind the watermark is late.
    #[serde(with = "humantime_serde")]
    pub watermark_delay: std::time::Duration,
}

/// A computed column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ColumnConfig {
    /// Output name.
    pub name: String,
    /// SQL expression over the bronze columns.
    pub expr: String,
}

/// A job file's name, for messages, and its text.
///
/// # Errors
/// [`ConfigError::Read`] naming the file.
pub(crate) fn read_job_file(path: &Path) -> Result<(String, String)> {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((file, text)),
        Err(source) => Err(ConfigError::Read { file, source }),
    }
}

impl JobConfig {
    /// Reads and validates a job file.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, the key and what was expected.
    pub fn from_file(path: &Path) -> Result<Self> {
        Self::from_file_with(path, &[])
    }

    /// Parses and validates YAML text; `file` names it in errors.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, the key and what was expected.
    pub fn from_yaml_str(text: &str, file: &str) -> Result<Self> {
        Self::from_yaml_with(text, file, &[])
    }

    /// Reads a job file, then applies `overrides` (`key.path=value`, from `--set` or the
    /// environment; see [`crate::overrides`]) before validating.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file (or the override), the key and what was expected.
    pub fn from_file_with(path: &Path, overrides: &[Override]) -> Result<Self> {
        let (file, text) = read_job_file(path)?;
        let mut job = Self::from_yaml_with(&text, &file, overrides)?;
        job.resolve_paths(path.parent().unwrap_or(Path::new(".")));
        Ok(job)
    }

    /// Makes the Avro schema file's path, if relative, relative to `dir` (the job file's
    /// directory). Data paths (`output.dir`, `files.path`) stay relative to the working
    /// directory.
    pub fn resolve_paths(&mut self, dir: &Path) {
        if let Some(avro) = &mut self.source.avro
            && avro.schema_file.is_relative()
        {
            avro.schema_file = dir.join(&avro.schema_file);
        }
    }

    /// Parses YAML text, applies `overrides`, and validates.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file (or the override), the key and what was expected.
    pub fn from_yaml_with(text: &str, file: &str, overrides: &[Override]) -> Result<Self> {
        let mut value: serde_norway::Value =
            serde_norway::from_str(text).map_err(|e| ConfigError::Parse {
                file: file.to_string(),
                message: e.to_string(),
            })?;
        for o in overrides {
            o.apply(&mut value, file)?;
        }
        let substituted = crate::params::substitute(&mut value, file)?;
        let job: JobConfig = if overrides.is_empty() && !substituted {
            serde_norway::from_str(text)
        } else {
            // Through text again, so that errors carry the key path.
            let text = serde_norway::to_string(&value).map_err(|e| ConfigError::Parse {
                file: file.to_string(),
                message: e.to_string(),
            })?;
            serde_norway::from_str(&text)
        }
        .map_err(|e| ConfigError::Parse {
            file: if overrides.is_empty() {
                file.to_string()
            } else {
                format!("{file} (with overrides; line numbers are of the merged document)")
            },
            message: e.to_string(),
        })?;
        job.validate(file)?;
        Ok(job)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_job_parses() {
        let job = JobConfig::from_yaml_str(crate::USER_ACTIVITY_YAML, "example").unwrap();
        assert_eq!(job.gold.unwrap().aggregates.len(), 3);
    }

    #[test]
    fn every_example_job_in_config_parses() {
        for (name, text) in [
            (
                "kafka-events-to-delta.yaml",
                include_str!("../kafka-events-to-delta.yaml"),
            ),
            (
                "kafka-logs-errors.yaml",
                include_str!("../kafka-logs-errors.yaml"),
            ),
        ] {
            let job = JobConfig::from_yaml_str(text, name).unwrap_or_else(|e| panic!("{e}"));
            let kafka = job.source.kafka.expect("a kafka source");
            assert!(!kafka.topics.is_empty(), "{name}");
            assert!(job.gold.is_some(), "{name}");
        }
        let text = include_str!("../data-quality.yaml");
        let job =
            JobConfig::from_yaml_str(text, "data-quality.yaml").unwrap_or_else(|e| panic!("{e}"));
        assert!(job.quality.report && job.source.delta.is_some());
        assert_eq!(job.rules[0].max_ratio, Some(0.01));
        assert_eq!(job.rules[4].action, RuleAction::Fail);
        let text = include_str!("../delta-merge.yaml");
        let job =
            JobConfig::from_yaml_str(text, "delta-merge.yaml").unwrap_or_else(|e| panic!("{e}"));
        let merge = job.silver.merge.expect("a merge");
        assert_eq!(merge.keys, vec!["customer_id".to_string()]);
        assert!(job.source.files.is_some());
        let text = include_str!("../kinesis-iot-to-delta.yaml");
        let job = JobConfig::from_yaml_str(text, "kinesis-iot-to-delta.yaml")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            job.source.kinesis.expect("a kinesis source").stream,
            "iot-readings"
        );
        assert_eq!(job.gold.expect("gold").aggregates.len(), 4);
        let text = include_str!("../batch-etl.yaml");
        let job =
            JobConfig::from_yaml_str(text, "batch-etl.yaml").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(job.job_id, "batch-etl-2024-01-01");
        assert_eq!(job.output.tables.bronze, None);
        assert_eq!(job.aggregates.len(), 2);
        let files = job.source.files.expect("files");
        assert_eq!(files.path, "sluice-batch-data/sales");
        assert_eq!(
            files.partition_filter.as_deref(),
            Some("process_date = '2024-01-01'")
        );
        let set = [Override::param("process-date=2024-01-02").unwrap()];
        let job = JobConfig::from_yaml_with(text, "batch-etl.yaml", &set).unwrap();
        assert_eq!(job.job_id, "batch-etl-2024-01-02");
        let reused = include_str!("../batch-etl.yaml").replace("aggregates:", "aggregates:\n  - { name: enriched_sales, keys: [], columns: [{ name: n, expr: \"count(*)\" }] }");
        let e = JobConfig::from_yaml_str(&reused, "batch-etl.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("aggregates[0].name"), "{e}");
    }

    #[test]
    fn a_job_needs_exactly_one_source() {
        let text = crate::USER_ACTIVITY_YAML.replace(
            "  format: json",
            "  kafka: { brokers: \"b:9092\", topics: [t] }\n  format: json",
        );
        let err = JobConfig::from_yaml_str(&text, "two.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("two.yaml") && err.contains("exactly one"),
            "{err}"
        );
    }

    #[test]
    fn errors_name_the_file_and_key() {
        let text =
            crate::USER_ACTIVITY_YAML.replace("records-per-epoch: 100000", "records-per-epoch: 0");
        let err = JobConfig::from_yaml_str(&text, "x.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("x.yaml") && err.contains("trigger.records-per-epoch"),
            "{err}"
        );
        let text = crate::USER_ACTIVITY_YAML.replace("job-id:", "jobid:");
        let err = JobConfig::from_yaml_str(&text, "y.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("y.yaml") && err.contains("jobid"), "{err}");
    }

    #[test]
    fn formats_are_checked_against_schema_and_avro_settings() {
        let kafka = |format: &str, extra: &str| {
            format!(
                "job-id: f\nsource:\n  kafka: {{ brokers: \"b:9092\", topics: [t] }}\n  format: {format}\n{extra}output:\n  dir: out\n"
            )
        };
        let schema = "  schema:\n    - { name: a, type: string }\n";
        let ok = JobConfig::from_yaml_str(&kafka("string", ""), "s.yaml").unwrap();
        assert_eq!(ok.source.format, RecordFormat::String);
        let err = |text: String| {
            JobConfig::from_yaml_str(&text, "f.yaml")
                .unwrap_err()
                .to_string()
        };
        let e = err(kafka("bytes", schema));
        assert!(e.contains("source.schema") && e.contains("value"), "{e}");
        let e = err(kafka("avro", schema));
        assert!(e.contains("source.avro"), "{e}");
        let e = err(kafka("json", ""));
        assert!(e.contains("source.schema"), "{e}");
        let e = err(kafka("protobuf", schema));
        assert!(e.contains("f.yaml") && e.contains("protobuf"), "{e}");
        let with_avro = format!("  avro: {{ schema-file: r.avsc, wire: confluent }}\n{schema}");
        let mut job = JobConfig::from_yaml_str(&kafka("avro", &with_avro), "a.yaml").unwrap();
        job.resolve_paths(Path::new("/jobs"));
        let avro = job.source.avro.expect("avro settings");
        assert_eq!(avro.schema_file, Path::new("/jobs/r.avsc"));
        assert_eq!(
            avro.wire,
            sluice_connectors::format::avro::AvroWire::Confluent
        );
    }

    #[test]
    fn max_future_needs_a_window_and_a_positive_bound() {
        let base = crate::USER_ACTIVITY_YAML;
        let job = JobConfig::from_yaml_str(&format!("{base}\nwatermark:\n  max-future: 1h\n"), "j")
            .unwrap();
        assert_eq!(job.watermark.max_future, Some(Duration::from_secs(3600)));
        let err = JobConfig::from_yaml_str(&format!("{base}\nwatermark:\n  max-future: 0s\n"), "j")
            .unwrap_err();
        assert!(err.to_string().contains("watermark.max-future"), "{err}");
        let no_gold = base.split("gold:").next().unwrap().to_string()
            + "output:\n  dir: out\nwatermark:\n  max-future: 1h\n";
        let err = JobConfig::from_yaml_str(&no_gold, "j").unwrap_err();
        assert!(err.to_string().contains("a gold window"), "{err}");
        let job =
            JobConfig::from_yaml_str(&format!("{base}\nwatermark:\n  idle-timeout: 30s\n"), "j")
                .unwrap();
        assert_eq!(job.watermark.idle_timeout, Some(Duration::from_secs(30)));
        let no_gold = base.split("gold:").next().unwrap().to_string()
            + "output:\n  dir: out\nwatermark:\n  idle-timeout: 30s\n";
        let err = JobConfig::from_yaml_str(&no_gold, "j").unwrap_err();
        assert!(err.to_string().contains("watermark.idle-timeout"), "{err}");
    }
}
