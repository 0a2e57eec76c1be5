//! `sluice`: the command-line entry point. Thin: parse, set up tracing, call the libraries.

mod checkpoints_cmd;
mod consume_rate;
mod demo;
mod demo_data;
mod explain;
mod failure;
mod metrics_endpoint;
mod output;
mod pipeline;
mod plan_change;
mod produce;
mod replay;
mod report;
mod savepoint_cmd;
mod shadow;
mod shutdown;
mod table;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Write demo input datasets (batch: the batch-etl sales, customers and products).
    DemoData(demo_data::DemoDataArgs),
    /// Run a job described in a YAML or SQL file.
    Run {
        /// The job file.
        job: PathBuf,
        /// Run the same plan as one bounded epoch.
        #[arg(long)]
        batch: bool,
        /// Worker threads (default: the job's `workers`, else one per core).
        #[arg(long)]
        workers: Option<usize>,
        /// Override a setting: `--set source.kafka.brokers=host:9092` (repeatable). The
        /// environment overrides too: `SLUICE__SOURCE__KAFKA__BROKERS=...`; `--set` wins.
        #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
        set: Vec<String>,
        /// Set a job parameter, referenced as `${name}` in the job file:
        /// `--param process-date=2024-01-02` (repeatable).
        #[arg(long = "param", value_name = "NAME=VALUE")]
        param: Vec<String>,
        /// Run as one process of a cluster: `host:port` of every process, in order
        /// (comma-separated). Every process runs the same job and flags.
        #[arg(long, env = "SLUICE_HOSTS", value_delimiter = ',')]
        hosts: Vec<String>,
        /// This process's index in --hosts; a StatefulSet pod name such as `sluice-2`
        /// gives index 2.
        #[arg(long, env = "SLUICE_PROCESS")]
        process: Option<String>,
        /// On SIGTERM or SIGINT, how long to let the epochs in flight commit before
        /// aborting (a second signal aborts at once).
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        shutdown_timeout: std::time::Duration,
        /// Restart from this savepoint: the tables go back to the versions its epoch
        /// committed, the checkpoint to its state, and the epochs after it are planned anew
        /// (any worker or process count).
        #[arg(long, value_name = "NAME")]
        from_savepoint: Option<String>,
        #[command(flatten)]
        metrics: metrics_endpoint::MetricsArgs,
    },
    /// Print the plan a job file (YAML or SQL) compiles to, without running it: its
    /// sources, each operator (what it reads and does, the state it keeps, what sets its
    /// watermark) and its sinks in commit order. Reads no source, table or checkpoint.
    Explain {
        /// The job file.
        job: PathBuf,
        /// Override a setting, as for `run` (repeatable).
        #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
        set: Vec<String>,
        /// Set a job parameter, as for `run` (repeatable).
        #[arg(long = "param", value_name = "NAME=VALUE")]
        param: Vec<String>,
        /// Also compile the plan against its sources' schemas, as `run` does at start:
        /// every expression, key, window and join is checked (an unknown column or
        /// function, a type that does not fit). Opens the sources and the tables joins
        /// read; writes nothing.
        #[arg(long)]
        check: bool,
    },
    /// Produce the generator's events to a Kafka topic (for tests and benchmarks).
    Produce(produce::ProduceArgs),
    /// Measure how fast a plain Kafka consumer reads a topic on this machine.
    ConsumeRate(consume_rate::ConsumeRateArgs),
    /// Inspect and maintain a Delta table: describe, history, optimize, vacuum, restore,
    /// checkpoint, and update or delete rows by predicate.
    Table(table::TableArgs),
    /// Inspect a job's checkpoint: a summary, `list` of epochs, `show E`, `diff E1 E2`.
    Checkpoints(checkpoints_cmd::CheckpointsArgs),
    /// Savepoints: `create`, `list`, `delete` copies of a job's newest snapshot, kept
    /// outside retention (`sluice run --from-savepoint NAME` restarts from one).
    Savepoint(savepoint_cmd::SavepointArgs),
    /// Reprocess a job's epochs from `--from-epoch` on, after a bug fix: `--dry-run`
    /// prints the epochs, ranges and table versions involved; `--in-place` restores the
    /// tables and the checkpoint to before those epochs and runs the job again. The job
    /// file may be edited (a bug fix): its state must fit the checkpoint's, or
    /// `--reset-state` rebuilds it from the earliest input the checkpoint logs.
    Replay {
        /// The job file.
        job: PathBuf,
        /// The first epoch to reprocess (the replay restarts at the epoch after the newest
        /// snapshot before it).
        #[arg(long, required_unless_present_any = ["from_version", "from_time"], conflicts_with_all = ["from_version", "from_time"])]
        from_epoch: Option<u64>,
        /// Reprocess from the epoch that committed this version of an output table:
        /// `TABLE@VERSION` (e.g. `gold_user_activity@42`).
        #[arg(long, value_name = "TABLE@VERSION", conflicts_with = "from_time")]
        from_version: Option<String>,
        /// Reprocess from the first epoch that read a Kafka record stamped at or after this
        /// time (RFC 3339, e.g. `2026-12-05T14:00:00Z`); for a job without Kafka, from the
        /// first epoch committed at or after it.
        #[arg(long, value_name = "TIME")]
        from_time: Option<String>,
        /// Print what would be replayed; change nothing.
        #[arg(
            long,
            conflicts_with_all = ["in_place", "into"],
            required_unless_present_any = ["in_place", "into"]
        )]
        dry_run: bool,
        /// Restore the tables and the checkpoint, then run the job.
        #[arg(long, conflicts_with = "into")]
        in_place: bool,
        /// Replay into shadow tables under this new or empty directory (or object-store
        /// prefix, `s3://bucket/prefix`), leaving production alone; compare them with
        /// `sluice table diff`.
        #[arg(long, value_name = "DIR")]
        into: Option<PathBuf>,
        /// Rebuild operator state from the earliest input the checkpoint logs, for an
        /// edited plan whose state does not fit the checkpoint's (a renamed operator, a
        /// changed key or window): the replay restarts there with empty state.
        #[arg(long)]
        reset_state: bool,
        /// Override a setting, as for `sluice run` (repeatable).
        #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
        set: Vec<String>,
        /// Set a job parameter, as for `sluice run` (repeatable).
        #[arg(long = "param", value_name = "NAME=VALUE")]
        param: Vec<String>,
    },
}

/// deltalake aborts a failed multipart upload of a data file with object_store's
/// `BufWriter::abort`, which panics ("Already shut down") when the upload had already
/// begun completing; deltalake catches that panic (`catch_unwind`) and reports the upload's
/// error, so nothing is lost, but the default hook would print a backtrace as if the job had
/// crashed. Those caught panics are logged at debug level instead; every other panic is
/// printed as before.
fn quiet_caught_upload_aborts() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str));
        let in_buffered_writer = info.location().is_some_and(|l| {
            l.file().contains("object_store") && l.file().ends_with("buffered.rs")
        });
        if in_buffered_writer && message == Some("Already shut down") {
            tracing::debug!("caught panic aborting a finished multipart upload (deltalake)");
            return;
        }
        default(info);
    }));
}

fn main() -> std::process::ExitCode {
    quiet_caught_upload_aborts();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG").unwrap_or_else(|_| {
                // delta-rs's MERGE warns on every merge that a metric is missing (it
                // derives it): an update-mode table would log it every epoch.
                tracing_subscriber::EnvFilter::new(
                    "warn,buoyant_kernel=off,delta_kernel=off,\
                     deltalake_core::operations::merge=error",
                )
            }),
        )
        .with_writer(std::io::stderr)
        // Colours only on a terminal: a log file or a pod's log holds plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", failure::one_line(&err));
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::DemoData(args) => demo_data::run(args),
        Command::Run {
            job,
            batch,
            workers,
            set,
            param,
            hosts,
            process,
            shutdown_timeout,
            from_savepoint,
            metrics,
        } => {
            let cluster = cluster(hosts, process)?;
            let mut config = load_job(&job, &set, &param)?;
            if let Some(name) = &from_savepoint {
                anyhow::ensure!(
                    cluster.is_none(),
                    "--from-savepoint runs one process: for a cluster, restore the savepoint \
                     with `sluice savepoint restore JOB NAME`, then start every process"
                );
                replay::from_savepoint(&config, name)?.print();
            }
            if let Some(w) = workers {
                config.workers = w;
            }
            metrics.apply(&mut config.metrics);
            let summary = pipeline::run_job(&config, batch, cluster, shutdown_timeout)
                .with_context(|| job.display().to_string())?;
            report::print(&config, &summary);
            // A batch stopped early is not done: a scheduler (CronJob, Airflow) must not
            // count it a success.
            anyhow::ensure!(
                !(batch && summary.run.stopped),
                "stopped on request before the end of the --batch input; every epoch \
                 started is committed, and the same command finishes the job"
            );
            Ok(())
        }
        Command::Explain {
            job,
            set,
            param,
            check,
        } => {
            let config = load_job(&job, &set, &param)?;
            output::emit(&explain::explain(&config).with_context(|| job.display().to_string())?);
            if check {
                let holdings =
                    explain::check(&config).with_context(|| job.display().to_string())?;
                output::emit(&holdings);
                output::emit(
                    "check: every expression, key, window and join compiles against the \
                     sources' schemas\n",
                );
            }
            Ok(())
        }
        Command::Produce(args) => produce::run(args),
        Command::ConsumeRate(args) => consume_rate::run(args),
        Command::Table(args) => table::run(args),
        Command::Checkpoints(args) => checkpoints_cmd::run(args),
        Command::Savepoint(args) => savepoint_cmd::run(args),
        Command::Replay {
            job,
            from_epoch,
            from_version,
            from_time,
            dry_run: _,
            in_place,
            into,
            reset_state,
            set,
            param,
        } => {
            let config = load_job(&job, &set, &param)?;
            let from = replay_start(from_epoch, from_version, from_time)?;
            let (epoch, found) = from.epoch(&config)?;
            if let Some(line) = found {
                output::emit(&format!("{line}\n"));
            }
            let (config, in_place) = match into {
                Some(dir) => (shadow::prepare(&config, &dir)?, true),
                None => (config, in_place),
            };
            replay::prepare(&config, epoch, in_place, reset_state)?.print();
            if in_place {
                let summary =
                    pipeline::run_job(&config, false, None, std::time::Duration::from_secs(30))?;
                report::print(&config, &summary);
            }
            Ok(())
        }
    }
}

/// Loads a job file (YAML, or SQL when it ends in `.sql`) with the environment's
/// overrides, then `--param`s and `--set`s.
pub(crate) fn load_job(
    path: &std::path::Path,
    set: &[String],
    param: &[String],
) -> Result<sluice_config::JobConfig> {
    let mut overrides = sluice_config::Override::from_env(std::env::vars());
    for p in param {
        overrides.push(sluice_config::Override::param(p)?);
    }
    for s in set {
        overrides.push(sluice_config::Override::parse(s)?);
    }
    if path.extension().is_some_and(|e| e == "sql") {
        return Ok(sluice_config::SqlJob::from_file_with(path, &overrides)?);
    }
    Ok(sluice_config::JobConfig::from_file_with(path, &overrides)?)
}

/// Where `sluice replay` starts, from its flags (clap lets exactly one through).
fn replay_start(
    epoch: Option<u64>,
    version: Option<String>,
    time: Option<String>,
) -> Result<replay::ReplayStart> {
    if let Some(spec) = version {
        let (table, version) = spec
            .rsplit_once('@')
            .and_then(|(t, v)| Some((t.to_owned(), v.parse::<u64>().ok()?)))
            .ok_or_else(|| {
                anyhow::anyhow!("--from-version `{spec}`: TABLE@VERSION, e.g. silver@12")
            })?;
        return Ok(replay::ReplayStart::Version { table, version });
    }
    if let Some(time) = time {
        let at = chrono::DateTime::parse_from_rfc3339(&time).map_err(|e| {
            anyhow::anyhow!(
                "--from-time `{time}`: an RFC 3339 time, e.g. 2026-12-05T14:00:00Z ({e})"
            )
        })?;
        return Ok(replay::ReplayStart::Time(at.timestamp_millis()));
    }
    epoch
        .map(replay::ReplayStart::Epoch)
        .ok_or_else(|| anyhow::anyhow!("give --from-epoch, --from-version or --from-time"))
}

/// The cluster settings from `--hosts` and `--process`.
fn cluster(
    hosts: Vec<String>,
    process: Option<String>,
) -> Result<Option<sluice_engine::runtime::Cluster>> {
    let hosts: Vec<String> = hosts.into_iter().filter(|h| !h.trim().is_empty()).collect();
    if hosts.is_empty() {
        anyhow::ensure!(
            process.is_none(),
            "--process needs --hosts (the address of every process)"
        );
        return Ok(None);
    }
    let process =
        process.ok_or_else(|| anyhow::anyhow!("--hosts needs --process (this process's index)"))?;
    let digits: String = process
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let index: usize = digits.parse().map_err(|_| {
        anyhow::anyhow!(
            "--process `{process}`: expected an index or a name ending in one, like sluice-2"
        )
    })?;
    anyhow::ensure!(
        index < hosts.len(),
        "--process {index} is not below the {} --hosts",
        hosts.len()
    );
    Ok(Some(sluice_engine::runtime::Cluster {
        process: index,
        addresses: hosts,
    }))
}
