//! `sluice savepoint create | list | delete JOB`: named copies of a job's newest committed
//! snapshot, kept outside retention; `sluice run JOB --from-savepoint NAME` restarts from
//! one (see `replay::from_savepoint`).

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use crate::output::emit;
use crate::pipeline;

/// `sluice savepoint <command>`.
#[derive(Debug, Args)]
pub struct SavepointArgs {
    #[command(subcommand)]
    command: SavepointCommand,
}

/// The job file and its overrides, as `sluice run` takes them.
#[derive(Debug, Args)]
struct JobFile {
    /// The job file.
    job: PathBuf,
    /// Override a setting, as for `sluice run` (repeatable).
    #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
    set: Vec<String>,
    /// Set a job parameter, as for `sluice run` (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    param: Vec<String>,
}

impl JobFile {
    fn load(&self) -> Result<sluice_config::JobConfig> {
        crate::load_job(&self.job, &self.set, &self.param)
    }
}

#[derive(Debug, Subcommand)]
enum SavepointCommand {
    /// Copy the job's newest committed snapshot as a savepoint.
    Create {
        #[command(flatten)]
        job: JobFile,
        /// Its name (default `sp-<epoch>-<unix seconds>`).
        #[arg(long)]
        name: Option<String>,
    },
    /// The job's savepoints.
    List {
        #[command(flatten)]
        job: JobFile,
    },
    /// Restore a savepoint into the job's checkpoint and tables without running the job
    /// (then start it, a cluster included, with `sluice run`).
    Restore {
        #[command(flatten)]
        job: JobFile,
        /// The savepoint.
        name: String,
    },
    /// Delete a savepoint.
    Delete {
        #[command(flatten)]
        job: JobFile,
        /// The savepoint.
        name: String,
    },
}

/// Runs a `sluice savepoint` command.
///
/// # Errors
/// A job file or checkpoint that cannot be read, a taken or unknown name.
pub fn run(args: SavepointArgs) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let now = chrono::Utc::now();
    match args.command {
        SavepointCommand::Create { job, name } => {
            let config = job.load()?;
            let store = pipeline::open_checkpoints(&config)?;
            let name = match name {
                Some(name) => name,
                None => {
                    let epoch = runtime
                        .block_on(store.latest_commit())?
                        .map_or(0, |m| m.epoch);
                    format!("sp-{epoch}-{}", now.timestamp())
                }
            };
            let sp = runtime.block_on(store.create_savepoint(&name, now.timestamp_millis()))?;
            emit(&format!(
                "savepoint {} of job `{}`: epoch {}, {} state bytes, {} tables\n",
                sp.name,
                config.job_id,
                sp.epoch(),
                sp.state_bytes(),
                sp.marker.tables.len()
            ));
        }
        SavepointCommand::List { job } => {
            let config = job.load()?;
            let store = pipeline::open_checkpoints(&config)?;
            let mut text = String::from(
                "name                      epoch  created (UTC)         state bytes\n",
            );
            for sp in runtime.block_on(store.savepoints())? {
                let when = chrono::DateTime::from_timestamp_millis(sp.created_at_ms)
                    .map_or("-".into(), |t| t.format("%Y-%m-%dT%H:%M:%S").to_string());
                let _ = writeln!(
                    text,
                    "{:<25} {:>6}  {when}  {}",
                    sp.name,
                    sp.epoch(),
                    sp.state_bytes()
                );
            }
            emit(&text);
        }
        SavepointCommand::Restore { job, name } => {
            let config = job.load()?;
            crate::replay::from_savepoint(&config, &name)?.print();
        }
        SavepointCommand::Delete { job, name } => {
            let config = job.load()?;
            let store = pipeline::open_checkpoints(&config)?;
            let deleted = runtime.block_on(store.delete_savepoint(&name))?;
            emit(&format!("deleted savepoint {name} ({deleted} objects)\n"));
        }
    }
    Ok(())
}
