//! Producing to Kafka: generated events for tests and benchmarks, and at-least-once
//! outputs. Idempotent producer (acks=all), so retries neither duplicate nor reorder
//! within a partition.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Message};

use super::client::KafkaClient;
use super::error::KafkaError;

/// Creates `topic` with `partitions` partitions (replication 1) unless it exists;
/// returns whether it was created.
///
/// # Errors
/// When the brokers cannot be reached or refuse.
pub fn create_topic(
    client: &KafkaClient,
    topic: &str,
    partitions: i32,
    timeout: Duration,
) -> Result<bool, KafkaError> {
    let admin = client.admin()?;
    let options = AdminOptions::new()
        .operation_timeout(Some(timeout))
        .request_timeout(Some(timeout));
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let results = futures::executor::block_on(admin.create_topics(&[new], &options))
        .map_err(|e| client.brokers_error(format!("creating topic `{topic}`: {e}")))?;
    match results.into_iter().next() {
        Some(Ok(_)) => Ok(true),
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => Ok(false),
        Some(Err((_, code))) => {
            Err(client.brokers_error(format!("creating topic `{topic}`: {code}")))
        }
        None => Err(client.brokers_error(format!("creating topic `{topic}`: no answer"))),
    }
}

/// Counts delivery failures so that none goes unnoticed.
#[derive(Default)]
pub struct DeliveryTracker {
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for DeliveryTracker {}

impl ProducerContext for DeliveryTracker {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, m)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = self.first_error.lock().expect("delivery lock");
                if first.is_none() {
                    *first = Some(format!("{}[{}]: {e}", m.topic(), m.partition()));
                }
            }
        }
    }
}

/// What a production run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProduceReport {
    /// Records acknowledged by the brokers.
    pub delivered: u64,
    /// Records that failed after the producer's own retries.
    pub failed: u64,
}

/// An idempotent producer to one topic.
pub struct EventProducer {
    producer: ThreadedProducer<DeliveryTracker>,
    topic: String,
}

impl std::fmt::Debug for EventProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventProducer")
            .field("topic", &self.topic)
            .finish()
    }
}

impl EventProducer {
    /// A producer to `topic`, idempotent unless `idempotent` is false.
    ///
    /// # Errors
    /// When librdkafka rejects a property.
    pub fn new(client: &KafkaClient, topic: &str, idempotent: bool) -> Result<Self, KafkaError> {
        let producer = client
            .producer_config(idempotent)
            .create_with_context(DeliveryTracker::default())
            .map_err(|e| KafkaError::Setting {
                key: "properties".into(),
                message: e.to_string(),
            })?;
        Ok(Self {
            producer,
            topic: topic.to_string(),
        })
    }

    /// Queues one record for `partition` (`-1`: the partitioner picks; waiting while the
    /// local queue is full).
    ///
    /// # Errors
    /// When the record cannot be queued.
    pub fn send(
        &self,
        partition: i32,
        key: Option<&[u8]>,
        payload: &[u8],
    ) -> Result<(), KafkaError> {
        let started = Instant::now();
        loop {
            let mut record = BaseRecord::to(&self.topic).payload(payload);
            if partition >= 0 {
                record = record.partition(partition);
            }
            if let Some(k) = key {
                record = record.key(k);
            }
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((RdError::MessageProduction(RDKafkaErrorCode::QueueFull), _))
                    if started.elapsed() < Duration::from_secs(60) =>
                {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err((e, _)) => {
                    return Err(KafkaError::Produce {
                        topic: self.topic.clone(),
                        message: e.to_string(),
                    });
                }
            }
        }
    }

    /// Waits until every queued record is acknowledged or failed.
    ///
    /// # Errors
    /// When records failed or the flush timed out; the message names the first failure.
    pub fn flush(&self, timeout: Duration) -> Result<ProduceReport, KafkaError> {
        self.producer
            .flush(timeout)
            .map_err(|e| KafkaError::Produce {
                topic: self.topic.clone(),
                message: format!("flush: {e}"),
            })?;
        let context = self.producer.context();
        let report = ProduceReport {
            delivered: context.delivered.load(Ordering::Relaxed),
            failed: context.failed.load(Ordering::Relaxed),
        };
        if report.failed > 0 {
            let first = context.first_error.lock().expect("delivery lock").clone();
            return Err(KafkaError::Produce {
                topic: self.topic.clone(),
                message: format!(
                    "{} records failed, first: {}",
                    report.failed,
                    first.unwrap_or_default()
                ),
            });
        }
        Ok(report)
    }
}
