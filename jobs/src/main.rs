//! `sluice`: the command-line entry point. Thin: parse, set up tracing, call the libraries.

mod demo;
mod pipeline;
mod report;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// A streaming dataflow engine: Kafka, Kinesis and files into Delta Lake, exactly once.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the user-activity medallion demo on the built-in event generator (no services).
    Demo(demo::DemoArgs),
    /// Run a job described in a YAML file.
    Run {
        /// The job file.
        job: PathBuf,
        /// Run the same plan as one bounded epoch.
        #[arg(long)]
        batch: bool,
        /// Worker threads (default: the job's `workers`, else one per core).
        #[arg(long)]
        workers: Option<usize>,
    },
    /// Inspect a job's checkpoint directory.
    Checkpoints {
        /// The checkpoint directory (e.g. DIR/checkpoints).
        dir: PathBuf,
        /// The job id.
        #[arg(long, default_value = "user-activity")]
        job_id: String,
    },
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("warn,buoyant_kernel=off,delta_kernel=off")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Run {
            job,
            batch,
            workers,
        } => {
            let mut config = sluice_config::JobConfig::from_file(&job)?;
            if let Some(w) = workers {
                config.workers = w;
            }
            let summary = pipeline::run_job(&config, batch)?;
            report::print(&config, &summary);
            Ok(())
        }
        Command::Checkpoints { dir, job_id } => {
            let runtime = tokio::runtime::Runtime::new()?;
            let store =
                sluice_checkpoints::CheckpointStore::open(&dir.display().to_string(), &job_id)?;
            let summary = runtime.block_on(store.describe())?;
            println!("{summary}");
            Ok(())
        }
    }
}
