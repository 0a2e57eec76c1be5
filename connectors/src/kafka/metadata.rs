//! Topic and partition discovery, and partition watermarks.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaRespErr;
use regex::Regex;

use super::client::KafkaClient;
use super::error::KafkaError;

/// The topics a job reads: a fixed list, or a pattern matched against the broker's topics.
#[derive(Clone, Debug)]
pub(crate) enum Subscription {
    /// These topics; each must exist.
    Topics(Vec<String>),
    /// Topics whose names match (internal topics starting with `__` excluded).
    Pattern(Regex),
}

impl Subscription {
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Topics(t) => format!("topics {}", t.join(", ")),
            Self::Pattern(p) => format!("pattern `{}`", p.as_str()),
        }
    }
}

/// Every `(topic, partition)` of the subscription, sorted.
pub(crate) fn discover(
    consumer: &BaseConsumer,
    client: &KafkaClient,
    subscription: &Subscription,
    timeout: Duration,
) -> Result<Vec<(String, i32)>, KafkaError> {
    let metadata = match subscription {
        // One request per topic: asking for a single topic that is missing gives a clear
        // per-topic error rather than an absent entry.
        Subscription::Topics(topics) if topics.len() == 1 => {
            consumer.fetch_metadata(Some(&topics[0]), timeout)
        }
        _ => consumer.fetch_metadata(None, timeout),
    }
    .map_err(|e| client.brokers_error(format!("cannot fetch metadata: {e}")))?;
    let mut found = Vec::new();
    match subscription {
        Subscription::Topics(topics) => {
            for topic in topics {
                let entry = metadata.topics().iter().find(|t| t.name() == topic);
                let missing = match entry {
                    None => true,
                    Some(t) => {
                        matches!(
                            t.error(),
                            Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
                        ) || t.partitions().is_empty()
                    }
                };
                if missing {
                    return Err(KafkaError::UnknownTopic {
                        topic: topic.clone(),
                        brokers: client.brokers().to_string(),
                    });
                }
                if let Some(t) = entry {
                    if let Some(err) = t.error() {
                        return Err(client.brokers_error(format!("topic `{topic}`: {err:?}")));
                    }
                    found.extend(t.partitions().iter().map(|p| (topic.clone(), p.id())));
                }
            }
        }
        Subscription::Pattern(re) => {
            for t in metadata.topics() {
                if !t.name().starts_with("__") && re.is_match(t.name()) && t.error().is_none() {
                    found.extend(
                        t.partitions()
                            .iter()
                            .map(|p| (t.name().to_string(), p.id())),
                    );
                }
            }
            if found.is_empty() {
                return Err(KafkaError::NoTopics {
                    subscription: subscription.describe(),
                    brokers: client.brokers().to_string(),
                });
            }
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

/// `(low, high)` offsets of a partition.
pub(crate) fn watermarks(
    consumer: &BaseConsumer,
    client: &KafkaClient,
    topic: &str,
    partition: i32,
    timeout: Duration,
) -> Result<(u64, u64), KafkaError> {
    let (low, high) = consumer
        .fetch_watermarks(topic, partition, timeout)
        .map_err(|e| client.brokers_error(format!("watermarks of {topic}[{partition}]: {e}")))?;
    Ok((low.max(0) as u64, high.max(0) as u64))
}
