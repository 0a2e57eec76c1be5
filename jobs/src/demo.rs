//! `sluice demo`: the user-activity job on its embedded defaults, with flags for the
//! generator and the trigger.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use sluice_config::JobConfig;

/// Flags of `sluice demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Output directory: tables under DIR/tables, checkpoints under DIR/checkpoints.
    #[arg(long, default_value = "sluice-demo")]
    dir: PathBuf,
    /// Events to generate.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Source partitions.
    #[arg(long, default_value_t = 4)]
    partitions: u32,
    /// Generator seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Events per epoch (micro-batch), across partitions.
    #[arg(long, default_value_t = 100_000)]
    epoch_events: u64,
    /// Run the same plan as one bounded epoch.
    #[arg(long)]
    batch: bool,
    /// Fraction of events later than the watermark delay.
    #[arg(long)]
    late_fraction: Option<f64>,
    /// Fraction of malformed JSON records.
    #[arg(long)]
    malformed_fraction: Option<f64>,
    /// Fraction of rule violations (null user_id, negative value, unknown event_type).
    #[arg(long)]
    violation_fraction: Option<f64>,
    /// Out-of-order skew of event times (e.g. 30s, 2m).
    #[arg(long, value_parser = humantime::parse_duration)]
    skew: Option<Duration>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
    /// Snapshot window state every N epochs.
    #[arg(long)]
    checkpoint_every: Option<u64>,
    #[command(flatten)]
    metrics: crate::metrics_endpoint::MetricsArgs,
}

/// How long the demo lets its epochs in flight commit after a SIGTERM or SIGINT.
const DEMO_SHUTDOWN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs the demo.
pub fn run(args: DemoArgs) -> Result<()> {
    let mut job =
        JobConfig::from_yaml_str(sluice_config::USER_ACTIVITY_YAML, "<embedded demo job>")?;
    let generator = job
        .source
        .generator
        .as_mut()
        .context("the demo job has a generator source")?;
    generator.events = args.events;
    generator.partitions = args.partitions;
    generator.seed = args.seed;
    if let Some(f) = args.late_fraction {
        generator.late_fraction = f;
    }
    if let Some(f) = args.malformed_fraction {
        generator.malformed_fraction = f;
    }
    if let Some(f) = args.violation_fraction {
        generator.violation_fraction = f;
    }
    if let Some(skew) = args.skew {
        generator.skew_ms = i64::try_from(skew.as_millis())?;
    }
    anyhow::ensure!(args.partitions > 0, "--partitions must be at least 1");
    anyhow::ensure!(args.epoch_events > 0, "--epoch-events must be at least 1");
    job.trigger.records_per_epoch = args.epoch_events;
    job.output.dir = args.dir;
    if let Some(w) = args.workers {
        job.workers = w;
    }
    if let Some(every) = args.checkpoint_every {
        anyhow::ensure!(every > 0, "--checkpoint-every must be at least 1");
        job.checkpoint.every = every;
    }
    args.metrics.apply(&mut job.metrics);
    let summary = crate::pipeline::run_job(&job, args.batch, None, DEMO_SHUTDOWN_TIMEOUT)?;
    crate::report::print(&job, &summary);
    Ok(())
}
