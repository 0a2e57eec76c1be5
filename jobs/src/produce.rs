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

/// Flags of `sluice produce`.
#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Bootstrap servers.
    #[arg(long, env = "SLUICE_KAFKA_BROKERS")]
    brokers: String,
    /// Topic (created with --partitions partitions if missing).
    #[arg(long)]
    topic: String,
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
    let client = KafkaClient::plain(&args.brokers);
    create_topic(
        &client,
        &args.topic,
        i32::try_from(args.partitions)?,
        Duration::from_secs(10),
    )?;
    if args.create_only {
        println!(
            "topic {} ready ({} partitions)",
            args.topic, args.partitions
        );
        return Ok(());
    }
    let producer = EventProducer::new(&client, &args.topic, args.idempotence)?;
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
            let end = (offset + CHUNK).min(generator.partition_len(p));
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
    println!(
        "produced {} events to {} ({} partitions) in {:.2}s ({:.0} events/s)",
        report.delivered,
        args.topic,
        args.partitions,
        took,
        report.delivered as f64 / took.max(1e-9)
    );
    Ok(())
}
