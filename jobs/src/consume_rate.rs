//! `sluice consume-rate`: how fast a plain librdkafka consumer reads a topic here, with the
//! same client settings as the Kafka source. The baseline that `benches/kafka-throughput.sh`
//! runs beside the end-to-end job.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use sluice_connectors::kafka::KafkaClient;

/// Flags of `sluice consume-rate`.
#[derive(Debug, Args)]
pub struct ConsumeRateArgs {
    /// Bootstrap servers.
    #[arg(long, env = "SLUICE_KAFKA_BROKERS")]
    brokers: String,
    /// Topic to read from its earliest offsets to the high watermarks seen at start.
    #[arg(long)]
    topic: String,
}

/// Reads the whole topic once and prints messages, bytes and rate.
pub fn run(args: ConsumeRateArgs) -> Result<()> {
    let client = KafkaClient::plain(&args.brokers);
    let consumer: BaseConsumer = client.consumer("sluice-consume-rate")?;
    let timeout = Duration::from_secs(10);
    let metadata = consumer
        .fetch_metadata(Some(&args.topic), timeout)
        .with_context(|| format!("metadata of {} from {}", args.topic, args.brokers))?;
    let topic = metadata.topics().first().context("no such topic")?;
    let mut tpl = TopicPartitionList::new();
    let mut remaining = 0u64;
    let mut ends = std::collections::BTreeMap::new();
    for p in topic.partitions() {
        let (low, high) = consumer.fetch_watermarks(&args.topic, p.id(), timeout)?;
        tpl.add_partition_offset(&args.topic, p.id(), Offset::Offset(low))?;
        remaining += (high - low).max(0) as u64;
        ends.insert(p.id(), high);
    }
    let total = remaining;
    consumer.assign(&tpl)?;
    let started = Instant::now();
    let mut bytes = 0u64;
    let mut idle = Instant::now();
    while remaining > 0 {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                if m.offset() < ends.get(&m.partition()).copied().unwrap_or(i64::MAX) {
                    remaining -= 1;
                    bytes += m.payload_len() as u64;
                }
                idle = Instant::now();
            }
            Some(Err(e)) => anyhow::bail!("consuming {}: {e}", args.topic),
            None => anyhow::ensure!(
                idle.elapsed() < Duration::from_secs(30),
                "no message for 30 s with {remaining} of {total} left"
            ),
        }
    }
    let took = started.elapsed().as_secs_f64();
    crate::output::outln!(
        "consumed {total} messages ({bytes} payload bytes) from {} partitions in {took:.3}s: \
         {:.0} messages/s",
        topic.partitions().len(),
        total as f64 / took.max(1e-9)
    );
    Ok(())
}
