//! `sluice checkpoints`: a job's checkpoint, as a summary, epoch by epoch, one epoch in
//! full, or two epochs compared.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use sluice_checkpoints::{CheckpointStore, diff_epochs};

use crate::output::outln;

/// Flags of `sluice checkpoints`.
#[derive(Debug, Args)]
pub struct CheckpointsArgs {
    /// A job file (its `output.dir` and `job-id` locate the checkpoint; `--set` applies),
    /// or a checkpoint directory such as DIR/checkpoints (with `--job-id`).
    target: PathBuf,
    /// The job id, when TARGET is a checkpoint directory.
    #[arg(long, default_value = "user-activity")]
    job_id: String,
    /// Override a job file setting, as for `sluice run` (repeatable).
    #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
    set: Vec<String>,
    /// Set a job parameter, as for `sluice run` (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    param: Vec<String>,
    #[command(subcommand)]
    action: Option<Action>,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// One line per epoch: committed or not, records read, watermark, state size, the
    /// table versions its commit created.
    List,
    /// One epoch in full: every range read, watermark, state per operator, table versions.
    Show {
        /// The epoch.
        epoch: u64,
    },
    /// What changed between two epochs: records per partition, watermark, state size,
    /// table versions.
    Diff {
        /// The earlier epoch.
        from: u64,
        /// The later epoch.
        to: u64,
    },
}

/// Runs `sluice checkpoints`.
pub fn run(args: CheckpointsArgs) -> Result<()> {
    let store = open(&args)?;
    let runtime = tokio::runtime::Runtime::new()?;
    match args.action {
        None => outln!("{}", runtime.block_on(store.describe())?),
        Some(Action::List) => {
            let reports = runtime.block_on(store.epoch_reports())?;
            if reports.is_empty() {
                outln!("no epoch logged yet");
            }
            for report in reports {
                outln!("{}", report.line());
            }
        }
        Some(Action::Show { epoch }) => {
            let report = runtime.block_on(store.epoch_report(epoch))?;
            if report.offsets.is_none() && report.marker.is_none() {
                bail!("epoch {epoch} is not in the checkpoint (see `list`)");
            }
            outln!("{report}");
        }
        Some(Action::Diff { from, to }) => {
            let a = runtime.block_on(store.epoch_report(from))?;
            let b = runtime.block_on(store.epoch_report(to))?;
            for r in [&a, &b] {
                if r.offsets.is_none() {
                    bail!("epoch {} has no offsets entry (see `list`)", r.epoch);
                }
            }
            outln!("{}", diff_epochs(&a, &b));
        }
    }
    Ok(())
}

fn open(args: &CheckpointsArgs) -> Result<CheckpointStore> {
    let is_job_file = args.target.is_file()
        && args
            .target
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "sql");
    if !is_job_file {
        return CheckpointStore::open(&args.target.display().to_string(), &args.job_id)
            .with_context(|| format!("opening the checkpoint {}", args.target.display()));
    }
    let job = crate::load_job(&args.target, &args.set, &args.param)?;
    crate::pipeline::open_checkpoints(&job)
}
