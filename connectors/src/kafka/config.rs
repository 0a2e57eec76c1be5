//! The Kafka source settings of a job file.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::starting::{EndingOffsets, StartingOffsets};

/// Where and how to read Kafka.
///
/// `properties` are passed to librdkafka unchanged (e.g. `security.protocol`,
/// `sasl.mechanism`, `sasl.username`, `sasl.password`, `ssl.ca.location`); their values
/// are never logged or printed.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct KafkaSourceConfig {
    /// Bootstrap servers, `host:port[,host:port]`.
    pub brokers: String,
    /// Topics to read.
    #[serde(default)]
    pub topics: Vec<String>,
    /// A regular expression over topic names, instead of `topics`; topics that appear
    /// while the job runs are picked up.
    #[serde(default)]
    pub topic_pattern: Option<String>,
    /// Where a job without a checkpoint starts.
    #[serde(default)]
    pub starting_offsets: StartingOffsets,
    /// An optional end, which makes the job a batch over the topic.
    #[serde(default)]
    pub ending_offsets: Option<EndingOffsets>,
    /// At most this many records per epoch over all partitions.
    #[serde(default = "default_max_records")]
    pub max_records_per_epoch: u64,
    /// Fail when offsets the checkpoint needs were deleted by retention; when `false`,
    /// continue at the earliest offset and count the gap.
    #[serde(default = "yes")]
    pub fail_on_data_loss: bool,
    /// Consumer group whose offsets are committed after each durable epoch (for lag
    /// tools only; recovery never reads them). Default `sluice-<job-id>`.
    #[serde(default)]
    pub group_id: Option<String>,
    /// Kafka metadata exposed as columns.
    #[serde(default)]
    pub metadata_columns: Vec<MetadataColumn>,
    /// How long metadata and offset queries may take before the brokers count as
    /// unreachable.
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Extra librdkafka properties (security settings); never logged.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

impl std::fmt::Debug for KafkaSourceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted: BTreeMap<&str, &str> = self
            .properties
            .keys()
            .map(|k| (k.as_str(), "<redacted>"))
            .collect();
        f.debug_struct("KafkaSourceConfig")
            .field("brokers", &self.brokers)
            .field("topics", &self.topics)
            .field("topic_pattern", &self.topic_pattern)
            .field("starting_offsets", &self.starting_offsets)
            .field("ending_offsets", &self.ending_offsets)
            .field("max_records_per_epoch", &self.max_records_per_epoch)
            .field("fail_on_data_loss", &self.fail_on_data_loss)
            .field("group_id", &self.group_id)
            .field("metadata_columns", &self.metadata_columns)
            .field("properties", &redacted)
            .finish()
    }
}

/// Kafka metadata that can be exposed as columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MetadataColumn {
    /// `kafka_key`: the message key as UTF-8 text (lossy).
    Key,
    /// `kafka_timestamp`: the message timestamp (create or log-append time).
    Timestamp,
    /// `kafka_headers`: the headers as a JSON object of UTF-8 text values.
    Headers,
}

impl MetadataColumn {
    /// The column name.
    pub fn column(self) -> &'static str {
        match self {
            Self::Key => "kafka_key",
            Self::Timestamp => "kafka_timestamp",
            Self::Headers => "kafka_headers",
        }
    }
}

fn default_max_records() -> u64 {
    100_000
}

fn default_request_timeout() -> Duration {
    Duration::from_secs(10)
}

fn yes() -> bool {
    true
}

impl KafkaSourceConfig {
    /// A config reading `topics` from `brokers` with every other setting at its default.
    pub fn new(brokers: impl Into<String>, topics: Vec<String>) -> Self {
        Self {
            brokers: brokers.into(),
            topics,
            topic_pattern: None,
            starting_offsets: StartingOffsets::default(),
            ending_offsets: None,
            max_records_per_epoch: default_max_records(),
            fail_on_data_loss: true,
            group_id: None,
            metadata_columns: Vec::new(),
            request_timeout: default_request_timeout(),
            properties: BTreeMap::new(),
        }
    }

    /// The subscription, for messages.
    pub fn subscription(&self) -> String {
        match &self.topic_pattern {
            Some(p) => format!("pattern `{p}`"),
            None => format!("topics {}", self.topics.join(", ")),
        }
    }
}
