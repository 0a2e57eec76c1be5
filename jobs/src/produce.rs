//! `sluice produce`: writes the deterministic generator's events to a Kafka topic, so that
//! tests and benchmarks feed real brokers with input whose content is known.
//!
//! Generator partition `p` goes to Kafka partition `p`, in offset order, so on a fresh
//! topic Kafka offset `o` of partition `p` holds generator event `(p, o)`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use sluice_connectors::generator::GeneratorConfig;
use sluice_connectors::kafka::{EventProducer, KafkaClient, create_topic};
use sluice_connectors::kinesis::{self, KinesisSourceConfig};

/// Flags of `sluice produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Bootstrap servers.
    #[arg(long, env = "SLUICE_KAFKA_BROKERS", default_value = "127.0.0.1:19092")]
    brokers: String,
    /// Kafka topic (created with --partitions partitions if missing).
    #[arg(long, required_unless_present = "kinesis_stream")]
    topic: Option<String>,
    /// Produce to this Kinesis stream instead (it must exist); generator partition `p`
    /// uses partition key `p<p>`, so each partition keeps its order within a shard.
    #[arg(long, conflicts_with = "topic")]
    kinesis_stream: Option<String>,
    /// Kinesis endpoint override (e.g. kinesalite); credentials from the AWS environment.
    #[arg(long, env = "SLUICE_KINESIS_ENDPOINT")]
    kinesis_endpoint: Option<String>,
    /// Events to produce, over all partitions.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Partitions (generator and topic).
    #[arg(long, default_value_t = 8)]
    partitions: u32,
    /// Generator seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Offered load in events per second (default: as fast as possible).
    #[arg(long)]
    rate: Option<u64>,
    /// Fraction of events later than the watermark delay.
    #[arg(long)]
    late_fraction: Option<f64>,
    /// Fraction of malformed JSON records.
    #[arg(long)]
    malformed_fraction: Option<f64>,
    /// Start at this offset in every partition (resume an interrupted production).
    #[arg(long, default_value_t = 0)]
    from_offset: u64,
    /// Stop before this offset in every partition (produce in phases).
    #[arg(long)]
    until_offset: Option<u64>,
    /// Only create the topic.
    #[arg(long)]
    create_only: bool,
    /// Use the idempotent producer (`--idempotence false`: acks=all with one request in
    /// flight, which keeps order but may duplicate on retries).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    idempotence: bool,
}

/// Produces the events and prints how many and how fast.
pub fn run(args: ProduceArgs) -> Result<()> {
    let mut generator = GeneratorConfig {
        events: args.events,
        partitions: args.partitions,
        seed: args.seed,
        ..GeneratorConfig::default()
    };
    if let Some(f) = args.late_fraction {
        generator.late_fraction = f;
    }
    if let Some(f) = args.malformed_fraction {
        generator.malformed_fraction = f;
    }
    generator.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(stream) = &args.kinesis_stream {
        return produce_kinesis(&args, &generator, stream);
    }
    let topic = args.topic.clone().context("--topic")?;
    let client = KafkaClient::plain(&args.brokers);
    create_topic(
        &client,
        &topic,
        i32::try_from(args.partitions)?,
        Duration::from_secs(10),
    )?;
    if args.create_only {
        crate::output::outln!("topic {topic} ready ({} partitions)", args.partitions);
        return Ok(());
    }
    let producer = EventProducer::new(&client, &topic, args.idempotence)?;
    let started = Instant::now();
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(args.events);
        bar.set_style(
            ProgressStyle::with_template("producing [{bar:30}] {pos}/{len} ({per_sec}, eta {eta})")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar
    });
    // Round-robin over partitions in small chunks, so all partitions grow together.
    const CHUNK: u64 = 500;
    let mut sent = 0u64;
    let mut offset = args.from_offset;
    loop {
        let mut any = false;
        for p in 0..args.partitions {
            let end = (offset + CHUNK)
                .min(generator.partition_len(p))
                .min(args.until_offset.unwrap_or(u64::MAX));
            if offset >= end {
                continue;
            }
            any = true;
            let raw = generator.read(p, offset, end);
            for i in 0..raw.len() {
                producer.send(i32::try_from(p)?, None, raw.payload(i))?;
            }
            sent += end - offset;
            if let Some(bar) = &bar {
                bar.set_position(sent);
            }
            if let Some(rate) = args.rate {
                let due = Duration::from_secs_f64(sent as f64 / rate.max(1) as f64);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
        if !any {
            break;
        }
        offset += CHUNK;
    }
    let report = producer
        .flush(Duration::from_secs(120))
        .context("waiting for the brokers to acknowledge")?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let took = started.elapsed().as_secs_f64();
    crate::output::outln!(
        "produced {} events to {} ({} partitions) in {:.2}s ({:.0} events/s)",
        report.delivered,
        topic,
        args.partitions,
        took,
        report.delivered as f64 / took.max(1e-9)
    );
    Ok(())
}

/// Puts the generator's events into a Kinesis stream, partition by partition in chunks.
fn produce_kinesis(args: &ProduceArgs, generator: &GeneratorConfig, stream: &str) -> Result<()> {
    let mut config = KinesisSourceConfig::new(stream);
    config.endpoint = args.kinesis_endpoint.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = runtime.block_on(kinesis::connect(&config));
    let started = Instant::now();
    let until = args.until_offset.unwrap_or(u64::MAX);
    let mut sent = 0u64;
    for p in 0..args.partitions {
        let end = generator.partition_len(p).min(until);
        let mut offset = args.from_offset;
        while offset < end {
            let stop = (offset + 2000).min(end);
            let raw = generator.read(p, offset, stop);
            let records = (0..raw.len())
                .map(|i| (format!("p{p}"), raw.payload(i).to_vec()))
                .collect();
            let report = runtime
                .block_on(kinesis::put_records(&client, stream, records))
                .with_context(|| format!("putting records into {stream}"))?;
            sent += report.records;
            offset = stop;
        }
    }
    let took = started.elapsed().as_secs_f64();
    crate::output::outln!(
        "produced {sent} events to Kinesis stream {stream} in {took:.2}s ({:.0} events/s)",
        sent as f64 / took.max(1e-9)
    );
    Ok(())
}
