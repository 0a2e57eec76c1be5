//! Errors of the Kafka connector.

/// A Kafka failure, worded for the user.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// The brokers could not be reached or answered with an error.
    #[error("Kafka brokers {brokers}: {message}")]
    Brokers {
        /// The bootstrap servers.
        brokers: String,
        /// What failed.
        message: String,
    },
    /// A topic does not exist.
    #[error("Kafka topic `{topic}` does not exist on {brokers}")]
    UnknownTopic {
        /// The topic.
        topic: String,
        /// The bootstrap servers.
        brokers: String,
    },
    /// No topic matches the subscription.
    #[error("no Kafka topic on {brokers} matches {subscription}")]
    NoTopics {
        /// The subscription (topics or pattern).
        subscription: String,
        /// The bootstrap servers.
        brokers: String,
    },
    /// Offsets the checkpoint needs were deleted by the broker (retention).
    #[error(
        "data loss on {topic}[{partition}]: the checkpoint needs offset {needed} but the earliest \
         offset on the broker is {earliest} ({lost} records lost); set \
         `fail-on-data-loss: false` to continue past the gap"
    )]
    DataLoss {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// The offset the checkpoint needs.
        needed: u64,
        /// The broker's earliest offset.
        earliest: u64,
        /// Records lost.
        lost: u64,
    },
    /// A setting is invalid.
    #[error("invalid Kafka setting `{key}`: {message}")]
    Setting {
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// Reading a range failed.
    #[error("reading {topic}[{partition}] offsets {start}..{end}: {message}")]
    Read {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// First offset wanted.
        start: u64,
        /// One past the last offset wanted.
        end: u64,
        /// What failed.
        message: String,
    },
    /// Producing failed.
    #[error("producing to {topic}: {message}")]
    Produce {
        /// Topic.
        topic: String,
        /// What failed.
        message: String,
    },
}

impl KafkaError {
    /// Whether retrying could help.
    pub fn retryable(&self) -> bool {
        matches!(self, Self::Read { .. } | Self::Brokers { .. })
    }
}

impl From<KafkaError> for sluice_engine::runtime::ConnectorFailure {
    fn from(e: KafkaError) -> Self {
        let retryable = e.retryable();
        Self::new(e.to_string(), retryable)
    }
}
