//! Where a job's outputs go: table names, Kafka copies and checkpoints.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::job::yes;

/// Where outputs go.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct OutputConfig {
    /// Base location, a local directory or `s3://bucket/prefix`: tables under
    /// `<dir>/tables/`, checkpoints under `<dir>/checkpoints/`.
    pub dir: PathBuf,
    /// Table names.
    #[serde(default)]
    pub tables: TableNames,
    /// Also publish tables to Kafka topics (at least once).
    #[serde(default)]
    pub kafka: Option<KafkaOutputConfig>,
    /// Let existing tables evolve, as Delta's `mergeSchema`: columns the job adds are
    /// added to the table (nullable), nullable table columns the job no longer writes read
    /// as null, and columns the job writes in a type Delta allows widening to are widened
    /// (the table is rewritten once). Partitioning must still match.
    #[serde(default)]
    pub merge_schema: bool,
    /// Delta table properties of the tables the job creates, e.g.
    /// `delta.enableChangeDataFeed: "true"`; existing tables keep theirs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub table_properties: BTreeMap<String, String>,
    /// Compact the appended tables' small files in the background as they accumulate
    /// (`auto-compact: {}` for the defaults); tables written by MERGE do not compact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_compact: Option<AutoCompactConfig>,
}

/// `output.auto-compact`: when appended tables compact their small files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct AutoCompactConfig {
    /// Compact a table once this many files were committed to it since its last
    /// compaction (default 16).
    #[serde(default = "default_min_files")]
    pub min_files: usize,
    /// The file size compaction aims for, in MiB (default 128).
    #[serde(default = "default_target_size_mib")]
    pub target_size_mib: u64,
}

fn default_min_files() -> usize {
    16
}

fn default_target_size_mib() -> u64 {
    128
}

/// Kafka topics that receive copies of output tables, one JSON object per row.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct KafkaOutputConfig {
    /// Bootstrap servers.
    pub brokers: String,
    /// Topic per table role: `bronze`, `silver`, `gold`, `dead-letters`.
    #[serde(default)]
    pub topics: TableTopics,
    /// Use the idempotent producer (default); `false` keeps order with one request in
    /// flight instead.
    #[serde(default = "yes")]
    pub idempotence: bool,
    /// Extra librdkafka properties (security settings); never logged.
    #[serde(default)]
    pub properties: std::collections::BTreeMap<String, String>,
}

impl std::fmt::Debug for KafkaOutputConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaOutputConfig")
            .field("brokers", &self.brokers)
            .field("topics", &self.topics)
            .field("idempotence", &self.idempotence)
            .field(
                "properties",
                &format!("<{} redacted>", self.properties.len()),
            )
            .finish()
    }
}

/// Topics per table role; absent roles are not published.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct TableTopics {
    /// Topic for bronze rows.
    pub bronze: Option<String>,
    /// Topic for silver rows.
    pub silver: Option<String>,
    /// Topic for gold rows.
    pub gold: Option<String>,
    /// Topic for dead letters.
    pub dead_letters: Option<String>,
}

/// Names of the output tables.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct TableNames {
    /// Every decoded record; `bronze: ~` (null) writes no bronze table.
    #[serde(default = "bronze")]
    pub bronze: Option<String>,
    /// Records that pass the rules.
    pub silver: String,
    /// Window results (with a `gold` window; named `gold` unless given).
    #[serde(default = "gold")]
    pub gold: String,
    /// Dead letters.
    pub dead_letters: String,
    /// Per-epoch data-quality figures (with `quality.report: true`).
    #[serde(default = "quality_report")]
    pub quality_report: String,
}

fn gold() -> String {
    "gold".into()
}

fn bronze() -> Option<String> {
    Some("bronze".into())
}

fn quality_report() -> String {
    "quality_report".into()
}

impl Default for TableNames {
    fn default() -> Self {
        Self {
            bronze: bronze(),
            silver: "silver".into(),
            gold: "gold".into(),
            dead_letters: "dlq".into(),
            quality_report: quality_report(),
        }
    }
}

/// Checkpoint settings; a missing key takes its default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct CheckpointConfig {
    /// Snapshot operator state every this many epochs. Default 5.
    pub every: u64,
    /// Snapshots to keep. Default 3.
    pub keep: usize,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self { every: 5, keep: 3 }
    }
}

/// How requests to an object store (S3: the tables and the checkpoint) are retried when they
/// fail transiently (a refused or dropped connection, a timeout, a 5xx answer): with
/// exponential backoff and jitter, until `max-retries` retries or `retry-timeout` have
/// passed. The job fails only after that, and resumes exactly when restarted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ObjectStoreConfig {
    /// Retries of one request at most. The default leaves the limit to `retry-timeout`:
    /// the waits are drawn at random, so a count says little about the time.
    #[serde(default = "default_max_retries")]
    pub max_retries: usize,
    /// Time after a request's first attempt past which it is not retried any more.
    #[serde(default = "default_retry_timeout", with = "humantime_serde")]
    pub retry_timeout: Duration,
    /// The first wait before a retry.
    #[serde(default = "default_initial_backoff", with = "humantime_serde")]
    pub initial_backoff: Duration,
    /// The longest wait between retries.
    #[serde(default = "default_max_backoff", with = "humantime_serde")]
    pub max_backoff: Duration,
}

fn default_max_retries() -> usize {
    1000
}

fn default_retry_timeout() -> Duration {
    Duration::from_secs(120)
}

fn default_initial_backoff() -> Duration {
    Duration::from_millis(100)
}

fn default_max_backoff() -> Duration {
    Duration::from_secs(10)
}

impl Default for ObjectStoreConfig {
    fn default() -> Self {
        Self {
            max_retries: default_max_retries(),
            retry_timeout: default_retry_timeout(),
            initial_backoff: default_initial_backoff(),
            max_backoff: default_max_backoff(),
        }
    }
}
