//! librdkafka clients built from the job's settings.

use rdkafka::ClientConfig;
use rdkafka::consumer::BaseConsumer;

use super::config::KafkaSourceConfig;
use super::error::KafkaError;

/// Builds consumers and producers for one set of brokers and properties.
#[derive(Clone)]
pub struct KafkaClient {
    brokers: String,
    properties: Vec<(String, String)>,
}

impl std::fmt::Debug for KafkaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaClient")
            .field("brokers", &self.brokers)
            .field(
                "properties",
                &format!("<{} redacted>", self.properties.len()),
            )
            .finish()
    }
}

impl KafkaClient {
    /// A client for `config`'s brokers and properties.
    pub fn new(config: &KafkaSourceConfig) -> Self {
        Self {
            brokers: config.brokers.clone(),
            properties: config
                .properties
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// A client for `brokers` with extra librdkafka `properties`.
    pub fn with_properties(
        brokers: impl Into<String>,
        properties: &std::collections::BTreeMap<String, String>,
    ) -> Self {
        Self {
            brokers: brokers.into(),
            properties: properties
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// A client for `brokers` with no extra properties.
    pub fn plain(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            properties: Vec::new(),
        }
    }

    /// The bootstrap servers.
    pub fn brokers(&self) -> &str {
        &self.brokers
    }

    fn base(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        // librdkafka logs through its own logger; keep it quiet, errors come back as values.
        config.set("log_level", "3");
        for (k, v) in &self.properties {
            config.set(k, v);
        }
        config
    }

    /// A consumer used with `assign` and explicit offsets (no group management), tuned
    /// for throughput: short fetch waits, no queue back-off.
    ///
    /// # Errors
    /// When librdkafka rejects a property.
    pub fn consumer(&self, group_id: &str) -> Result<BaseConsumer, KafkaError> {
        let mut config = self.base();
        config
            .set("group.id", group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "error")
            .set("enable.partition.eof", "false")
            .set("fetch.wait.max.ms", "5")
            .set("fetch.queue.backoff.ms", "0")
            .set("fetch.min.bytes", "1")
            .set("queued.min.messages", "200000")
            .set("topic.metadata.refresh.interval.ms", "5000");
        config.create().map_err(|e| self.setting(e))
    }

    /// The settings of a producer with acks=all that keeps order per partition: idempotent
    /// when `idempotent`, else one request in flight per connection.
    pub fn producer_config(&self, idempotent: bool) -> ClientConfig {
        let mut config = self.base();
        if !idempotent {
            config.set("max.in.flight.requests.per.connection", "1");
        }
        config
            .set(
                "enable.idempotence",
                if idempotent { "true" } else { "false" },
            )
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("batch.num.messages", "10000")
            // A small local queue makes `send` wait for a slow broker instead of letting
            // queued records expire.
            .set("queue.buffering.max.messages", "50000")
            .set("message.timeout.ms", "300000");
        config
    }

    /// An admin client.
    ///
    /// # Errors
    /// When librdkafka rejects a property.
    pub fn admin(
        &self,
    ) -> Result<rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext>, KafkaError>
    {
        self.base().create().map_err(|e| self.setting(e))
    }

    fn setting(&self, e: rdkafka::error::KafkaError) -> KafkaError {
        KafkaError::Setting {
            key: "properties".into(),
            message: e.to_string(),
        }
    }

    /// A broker-level error, naming the brokers.
    pub(crate) fn brokers_error(&self, message: impl std::fmt::Display) -> KafkaError {
        KafkaError::Brokers {
            brokers: self.brokers.clone(),
            message: message.to_string(),
        }
    }
}
