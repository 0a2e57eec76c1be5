//! A run: recovers, starts the workers and gathers what they did, with up to
//! `max_epochs_in_flight` epochs between planned and durable (recovery is in `recovery`,
//! planning in `planner`, each worker's epoch loop in `worker`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use sluice_checkpoints::{CheckpointStore, JobMetadata, StatePart};

use super::future::FutureBound;
use super::planner::StopRequest;
use super::recovery::{Recovery, Start, recover};
use super::worker::WorkerReport;
use super::{Cursors, DeadLetters, EpochSource, TableSink, WorkerError};
use crate::error::{EngineError, Result};
use crate::metrics::RunMetrics;
use crate::plan::CompiledPlan;

/// Progress of a run, reported after each epoch is logged and fed.
#[derive(Clone, Debug)]
pub struct Progress {
    /// The epoch just started.
    pub epoch: u64,
    /// Records this epoch reads (all partitions).
    pub records: u64,
    /// Whether it is the last epoch of a bounded input.
    pub final_epoch: bool,
    /// How long planning and logging the epoch took (on the planning worker; `None`
    /// elsewhere), from asking the source to the offsets entry being durable.
    pub plan_time: Option<Duration>,
}

/// A callback told about each epoch as it starts.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// Settings of a run.
#[derive(Clone)]
pub struct RunOptions {
    /// Timely worker threads.
    pub workers: usize,
    /// Where checkpoints live.
    pub checkpoints: CheckpointStore,
    /// The shared runtime for checkpoint I/O.
    pub runtime: tokio::runtime::Handle,
    /// Snapshot operator state every this many epochs.
    pub snapshot_every: u64,
    /// Snapshots to keep.
    pub keep_snapshots: usize,
    /// Called on the first worker of each process as epochs start.
    pub progress: Option<ProgressFn>,
    /// Start an epoch at most this often (a processing-time trigger); `None` starts the
    /// next epoch as soon as the previous one is committed.
    pub trigger_interval: Option<Duration>,
    /// How long to wait before asking an idle source again.
    pub idle_poll: Duration,
    /// How many epochs may be planned and not yet committed at once (at least 1): epoch
    /// `e + 1` is planned, read and processed while `e`'s files upload and its commits run.
    pub max_epochs_in_flight: usize,
    /// Run as one process of a cluster; `None` runs in this process alone.
    pub cluster: Option<Cluster>,
    /// Dead letters found before the run, while loading static tables (a join's rows
    /// that do not decode): they go to the dead-letter table with epoch 0, so a job records
    /// them once, at its first start (a replay of epoch 0 writes them under the same txn).
    pub startup_dead_letters: Vec<RecordBatch>,
    /// Where the run reports its figures ([`RunMetrics::default`] reports nowhere).
    pub metrics: RunMetrics,
    /// Stops the run gracefully when requested (see [`StopRequest`]).
    pub stop: StopRequest,
    /// `watermark.max-future`: rows whose event time is further ahead of their epoch's
    /// planning time are dead letters (reason `future`); `None` bounds nothing.
    pub max_future: Option<Duration>,
    /// `watermark.idle-timeout`: once the source has had nothing new for this long, an
    /// empty epoch moves event time on by the wall-clock time that passed, so the last
    /// windows close; `None` waits for records.
    pub idle_timeout: Option<Duration>,
}

impl RunOptions {
    /// Settings for `workers` threads checkpointing to `checkpoints`, with I/O on
    /// `runtime`: snapshots every 5 epochs (3 kept), epochs back to back with up to 3 in
    /// flight, no progress reporting, metrics reported nowhere.
    pub fn new(
        workers: usize,
        checkpoints: CheckpointStore,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        Self {
            workers,
            checkpoints,
            runtime,
            snapshot_every: 5,
            keep_snapshots: 3,
            progress: None,
            trigger_interval: None,
            idle_poll: Duration::from_millis(100),
            max_epochs_in_flight: 3,
            cluster: None,
            startup_dead_letters: Vec::new(),
            metrics: RunMetrics::default(),
            stop: StopRequest::default(),
            max_future: None,
            idle_timeout: None,
        }
    }
}

/// This process's place in a cluster of timely processes, each running `workers` threads.
///
/// Every process runs the same job against the same checkpoint and table locations
/// (shared object storage). Worker 0 of process 0 is the single committer. If a process
/// dies, the others lose their connections and stop; all of them then resume from the
/// last commit when restarted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    /// This process's index in `addresses`.
    pub process: usize,
    /// `host:port` of every process, in process order.
    pub addresses: Vec<String>,
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct RunSummary {
    /// The input was already fully processed by an earlier run.
    pub already_complete: bool,
    /// The first epoch this run processed (after a restored snapshot).
    pub first_epoch: u64,
    /// The last epoch this run processed.
    pub last_epoch: Option<u64>,
    /// Epochs replayed that were already committed.
    pub replayed_epochs: u64,
    /// Records read from the source (including dead letters), replays included.
    pub records_read: u64,
    /// Late records routed to the dead-letter table.
    pub late_records: u64,
    /// Wall time.
    pub duration: Duration,
    /// The run stopped on a [`StopRequest`] before its input ended; every epoch it
    /// started is committed.
    pub stopped: bool,
}

/// The sinks of `plan`, in its order, from the job's tables by sink name.
///
/// # Errors
/// A sink of the plan without a table, or a table no sink of the plan writes.
fn sinks_in_plan_order(
    plan: &CompiledPlan,
    mut sinks: BTreeMap<String, Arc<dyn TableSink>>,
) -> Result<Vec<Arc<dyn TableSink>>> {
    let list = plan
        .plan
        .sinks
        .iter()
        .map(|node| {
            sinks.remove(&node.name).ok_or_else(|| {
                EngineError::InvalidPlan(format!("sink `{}` of the plan has no table", node.name))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if let Some(extra) = sinks.keys().next() {
        return Err(EngineError::InvalidPlan(format!(
            "table `{extra}` was given, but no sink of the plan is named so"
        )));
    }
    Ok(list)
}

/// Runs `plan` from `source` into `sinks` (by sink name) until the source is exhausted, resuming from the
/// checkpoint.
///
/// # Errors
/// When the checkpoint belongs to another plan, or a source, sink or checkpoint fails; the
/// job can then be restarted and resumes from the last commit.
pub fn run(
    plan: CompiledPlan,
    source: Arc<dyn EpochSource>,
    sinks: BTreeMap<String, Arc<dyn TableSink>>,
    dead_letters: Arc<dyn DeadLetters>,
    options: RunOptions,
) -> Result<RunSummary> {
    let started = Instant::now();
    let store = options.checkpoints.clone();
    let rt = options.runtime.clone();
    let fingerprint = plan.plan.fingerprint();
    let meta = job_metadata(&plan, &fingerprint, &store, &rt)?;
    let key_groups = meta.key_groups;
    let future = FutureBound::resolve(
        options.max_future,
        plan.plan.event_time_operators().find_map(|(_, time)| time),
        &source.schema(),
    )?;
    let windows: Vec<&str> = plan
        .plan
        .event_time_operators()
        .map(|(name, _)| name)
        .collect();
    let Recovery {
        latest,
        first_epoch,
        starts,
        restore,
    } = match recover(&rt, &store, source.as_ref(), &windows, &meta)? {
        Start::Complete { next_epoch } => {
            return Ok(RunSummary {
                already_complete: true,
                first_epoch: next_epoch,
                duration: started.elapsed(),
                ..RunSummary::default()
            });
        }
        Start::Resume(recovery) => recovery,
    };
    // The committer commits the sinks in the plan's order (the quality gate first); the
    // dataflow feeds them in the same order.
    let sink_list = sinks_in_plan_order(&plan, sinks)?;
    let mut committed = Vec::new();
    for sink in &sink_list {
        committed.push(sink.committed_epoch()?);
    }
    let replayed = latest
        .as_ref()
        .map_or(0, |l| (l.epoch + 1).saturating_sub(first_epoch));
    tracing::info!(first_epoch, replayed, workers = options.workers, "starting");

    let logged_before = rt.block_on(store.latest_offsets())?;
    let run_id = match &options.cluster {
        // Every process of a cluster must log with the same id; two clusters cannot share
        // the same addresses.
        Some(c) => format!("cluster:{}", c.addresses.join(",")),
        None => format!("{}-{}", std::process::id(), now_ms()),
    };
    let abort = Arc::new(AtomicBool::new(false));
    let shared = Arc::new(Shared {
        run_id,
        logged_before,
        plan,
        source,
        sink_list,
        committed,
        dead_letters,
        options,
        key_groups,
        first_epoch,
        marked_before: latest.as_ref().map(|l| l.epoch),
        starts,
        restore,
        fingerprint,
        abort: Arc::clone(&abort),
        future,
    });
    let config = timely_config(
        shared.options.workers.max(1),
        shared.options.cluster.as_ref(),
    )?;
    let guards = timely::execute(config, move |worker| {
        let result = super::worker::run_worker(worker, &shared);
        if result.is_err() {
            shared.abort.store(true, Ordering::SeqCst);
        }
        result
    })
    .map_err(|e| EngineError::Worker(WorkerError::Start(e)))?;
    let mut summary = RunSummary {
        first_epoch,
        replayed_epochs: replayed,
        ..RunSummary::default()
    };
    gather(guards.join(), &mut summary)?;
    if abort.load(Ordering::SeqCst) {
        return Err(EngineError::Worker(WorkerError::Aborted));
    }
    summary.duration = started.elapsed();
    Ok(summary)
}

/// The job's metadata in the checkpoint: written if there is none, checked against the
/// plan's `fingerprint` otherwise, and given the plan's state layout if it was written
/// before layouts were recorded.
///
/// # Errors
/// The checkpoint cannot be read or written, or it belongs to another plan.
fn job_metadata(
    plan: &CompiledPlan,
    fingerprint: &str,
    store: &CheckpointStore,
    rt: &tokio::runtime::Handle,
) -> Result<JobMetadata> {
    let wanted = JobMetadata {
        job_id: plan.plan.job_id.clone(),
        plan_fingerprint: fingerprint.to_owned(),
        key_groups: plan.plan.key_groups,
        created_at_ms: now_ms(),
        state_layout: Some(plan.state_layout()),
        state_reset_at: None,
    };
    let mut meta = rt.block_on(store.init_metadata(&wanted))?;
    if meta.plan_fingerprint != fingerprint {
        return Err(EngineError::PlanChanged {
            stored: meta.plan_fingerprint,
            current: fingerprint.to_owned(),
        });
    }
    if meta.state_layout.is_none() {
        // Written before layouts were recorded: the plan is the same, so its layout is the
        // state's, and a later replay with an edited plan can be checked against it.
        meta.state_layout = wanted.state_layout.clone();
        rt.block_on(store.replace_metadata(&meta))?;
    }
    Ok(meta)
}

/// Timely's configuration: `threads` workers in this process, and in `cluster`'s other
/// processes when it is set.
///
/// # Errors
/// This process is not among the cluster's addresses.
fn timely_config(threads: usize, cluster: Option<&Cluster>) -> Result<timely::Config> {
    let Some(cluster) = cluster else {
        return Ok(timely::Config::process(threads));
    };
    if cluster.process >= cluster.addresses.len() {
        return Err(EngineError::InvalidPlan(format!(
            "process {} is not among the {} cluster addresses",
            cluster.process,
            cluster.addresses.len()
        )));
    }
    tracing::info!(
        process = cluster.process,
        processes = cluster.addresses.len(),
        threads,
        "joining the cluster"
    );
    Ok(timely::Config {
        communication: timely::CommunicationConfig::Cluster {
            threads,
            process: cluster.process,
            addresses: cluster.addresses.clone(),
            report: false,
            zerocopy: false,
        },
        worker: timely::WorkerConfig::default(),
    })
}

/// Adds every worker's report to `summary`.
///
/// # Errors
/// The first worker's failure that is a cause, not a stop because another failed.
fn gather(
    results: Vec<std::result::Result<std::result::Result<WorkerReport, WorkerError>, String>>,
    summary: &mut RunSummary,
) -> Result<()> {
    let mut errors = Vec::new();
    for result in results {
        match result {
            Ok(Ok(report)) => {
                summary.records_read += report.records;
                summary.late_records += report.late;
                summary.last_epoch = summary.last_epoch.max(report.last_epoch);
                summary.stopped |= report.stopped;
            }
            Ok(Err(e)) => errors.push(e),
            Err(panic) => errors.push(WorkerError::Panicked(panic)),
        }
    }
    match errors.into_iter().find(WorkerError::is_cause) {
        Some(first) => Err(EngineError::Worker(first)),
        None => Ok(()),
    }
}

pub(super) struct Shared {
    pub(super) plan: CompiledPlan,
    pub(super) source: Arc<dyn EpochSource>,
    pub(super) sink_list: Vec<Arc<dyn TableSink>>,
    pub(super) committed: Vec<Option<u64>>,
    pub(super) dead_letters: Arc<dyn DeadLetters>,
    pub(super) options: RunOptions,
    pub(super) key_groups: u32,
    pub(super) first_epoch: u64,
    /// The newest committed epoch when the run started.
    pub(super) marked_before: Option<u64>,
    pub(super) starts: Cursors,
    pub(super) restore: Vec<(StatePart, bytes::Bytes)>,
    pub(super) fingerprint: String,
    pub(super) abort: Arc<AtomicBool>,
    pub(super) run_id: String,
    pub(super) logged_before: Option<u64>,
    pub(super) future: Option<FutureBound>,
}

pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
