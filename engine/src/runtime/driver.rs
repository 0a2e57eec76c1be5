//! The worker loop: plans epochs, logs offsets and feeds the dataflow, with up to
//! `max_epochs_in_flight` epochs between planned and durable (recovery is in `recovery`,
//! planning in `planner`).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use sluice_checkpoints::{CheckpointStore, JobMetadata, StatePart};

use super::abort::{ABORTED, AbortGuard};
use super::controls::WindowControls;
use super::failure::{EpochFailure, Failure, Site};
use super::future::FutureBound;
use super::graph::{Graph, WorkerParts, build};
use super::join_tables::{feed_tables, table_versions};
use super::marker::{InFlight, InFlightEpochs};
use super::planner::{PlanNote, Planner, StopRequest};
use super::recovery::{Recovery, Start, recover};
use super::writer::EpochNote;
use super::{Cursors, DeadLetters, EpochSource, RangePart, TableSink, advance};
use crate::batch::Batches;
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

#[derive(Debug, Default)]
struct WorkerReport {
    records: u64,
    late: u64,
    last_epoch: Option<u64>,
    stopped: bool,
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
    let ck = |e: sluice_checkpoints::Error| EngineError::Checkpoint(e.to_string());
    let fingerprint = plan.plan.fingerprint();
    let wanted = JobMetadata {
        job_id: plan.plan.job_id.clone(),
        plan_fingerprint: fingerprint.clone(),
        key_groups: plan.plan.key_groups,
        created_at_ms: now_ms(),
        state_layout: Some(plan.state_layout()),
        state_reset_at: None,
    };
    let mut meta = rt.block_on(store.init_metadata(&wanted)).map_err(ck)?;
    if meta.plan_fingerprint != fingerprint {
        return Err(EngineError::PlanChanged {
            stored: meta.plan_fingerprint,
            current: fingerprint,
        });
    }
    if meta.state_layout.is_none() {
        // Written before layouts were recorded: the plan is the same, so its layout is the
        // state's, and a later replay with an edited plan can be checked against it.
        meta.state_layout = wanted.state_layout.clone();
        rt.block_on(store.replace_metadata(&meta)).map_err(ck)?;
    }
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
        committed.push(
            sink.committed_epoch()
                .map_err(|e| EngineError::Connector(e.to_string()))?,
        );
    }
    let replayed = latest
        .as_ref()
        .map_or(0, |l| (l.epoch + 1).saturating_sub(first_epoch));
    tracing::info!(first_epoch, replayed, workers = options.workers, "starting");

    let logged_before = rt.block_on(store.latest_offsets()).map_err(ck)?;
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
    let threads = shared.options.workers.max(1);
    let config = match &shared.options.cluster {
        None => timely::Config::process(threads),
        Some(cluster) => {
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
            timely::Config {
                communication: timely::CommunicationConfig::Cluster {
                    threads,
                    process: cluster.process,
                    addresses: cluster.addresses.clone(),
                    report: false,
                    zerocopy: false,
                },
                worker: timely::WorkerConfig::default(),
            }
        }
    };
    let guards = timely::execute(config, move |worker| {
        let result = run_worker(worker, &shared);
        if result.is_err() {
            shared.abort.store(true, Ordering::SeqCst);
        }
        result
    })
    .map_err(EngineError::Worker)?;
    let mut summary = RunSummary {
        first_epoch,
        replayed_epochs: replayed,
        ..RunSummary::default()
    };
    let mut errors = Vec::new();
    for result in guards.join() {
        match result {
            Ok(Ok(report)) => {
                summary.records_read += report.records;
                summary.late_records += report.late;
                summary.last_epoch = summary.last_epoch.max(report.last_epoch);
                summary.stopped |= report.stopped;
            }
            Ok(Err(e)) => errors.push(e),
            Err(e) => errors.push(e),
        }
    }
    if let Some(first) = errors.into_iter().find(|e| e != ABORTED) {
        return Err(EngineError::Worker(first));
    }
    if abort.load(Ordering::SeqCst) {
        return Err(EngineError::Worker("a worker aborted".into()));
    }
    summary.duration = started.elapsed();
    Ok(summary)
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

fn run_worker(
    worker: &mut timely::worker::Worker,
    shared: &Shared,
) -> std::result::Result<WorkerReport, String> {
    let index = worker.index();
    let peers = worker.peers();
    let site = Site {
        process: index / shared.options.workers.max(1),
        worker: index,
    };
    let rt = shared.options.runtime.clone();
    let store = shared.options.checkpoints.clone();
    let failure = Failure::new(Arc::clone(&shared.abort));
    let final_epoch = Rc::new(Cell::new(None));
    let controls = WindowControls::new(shared.plan.plan.event_time_operators().count());
    let first_epoch = shared.first_epoch;
    let in_flight: InFlightEpochs = Rc::default();

    let parts = WorkerParts {
        site,
        rt: rt.clone(),
        store: store.clone(),
        failure: failure.clone(),
        final_epoch: Rc::clone(&final_epoch),
        controls: controls.clone(),
        in_flight: Rc::clone(&in_flight),
    };
    let built = worker.dataflow::<u64, _, _>(|scope| build(scope, shared, &parts));
    let Graph {
        mut plans_in,
        received,
        mut failures_in,
        mut events_in,
        mut dead_in,
        mut tables,
        probe,
        processed,
    } = built.map_err(|e| e.to_string())?;
    // Declared after the input handles, so it drops before them: raises the abort flag
    // before the inputs close unless the loop finished normally; see `AbortGuard`.
    let mut guard = AbortGuard {
        abort: Arc::clone(&shared.abort),
        cluster: shared.options.cluster.is_some(),
        finished: false,
    };

    let check = |failure: &Failure, controls: &WindowControls| -> std::result::Result<(), String> {
        if let Some(f) = failure.first() {
            return Err(f);
        }
        if let Some(f) = controls.failure() {
            return Err(f);
        }
        if shared.abort.load(Ordering::SeqCst) {
            return Err(ABORTED.to_string());
        }
        Ok(())
    };

    plans_in.advance_to(first_epoch);
    failures_in.advance_to(first_epoch);
    events_in.advance_to(first_epoch);
    dead_in.advance_to(first_epoch);
    for (_, table_in, _) in &mut tables {
        table_in.advance_to(first_epoch);
    }
    let mut cursors = shared.starts.clone();
    let mut epoch = first_epoch;
    let mut report = WorkerReport::default();
    let source = &shared.source;
    let mut last_start: Option<Instant> = None;
    let mut stopped = false;
    let max_in_flight = shared.options.max_epochs_in_flight.max(1) as u64;
    let planner = Planner {
        source: source.as_ref(),
        store: &store,
        runtime: &rt,
        fingerprint: &shared.fingerprint,
        job_id: &shared.plan.plan.job_id,
        run_id: &shared.run_id,
        logged_before: shared.logged_before,
        idle_poll: shared.options.idle_poll,
        stop: &shared.options.stop,
        metrics: &shared.options.metrics,
        idle_timeout: shared.options.idle_timeout,
        last_planned_ms: std::cell::Cell::new(None),
    };
    // Any failure of the loop (planning, reading, a stop of another worker) goes to the
    // committer as data at the epoch being fed, before this worker's inputs close.
    let fed: std::result::Result<(), String> = (|| {
        loop {
            let mut plan_time = None;
            let note = if index == 0 {
                // At most `max_epochs_in_flight` epochs are planned and not yet committed,
                // and `W(epoch)`, logged with the epoch, needs the window to have processed
                // the epoch before it on every worker.
                let oldest = (epoch + 1).saturating_sub(max_in_flight);
                while probe.less_than(&oldest) || processed.iter().any(|p| p.less_than(&epoch)) {
                    worker.step_or_park(Some(Duration::from_millis(5)));
                    check(&failure, &controls)?;
                }
                // Its own notes come back through the broadcast too; only later ones matter.
                received.borrow_mut().retain(|&e, _| e > epoch);
                if let (Some(interval), Some(last)) = (shared.options.trigger_interval, last_start)
                {
                    while last.elapsed() < interval && !shared.options.stop.requested() {
                        let left = interval.saturating_sub(last.elapsed());
                        worker.step_or_park(Some(left.min(Duration::from_millis(20))));
                        check(&failure, &controls)?;
                    }
                }
                let watermark = controls.watermark();
                let planning = Instant::now();
                let note = planner.plan(
                    epoch,
                    &cursors,
                    &watermark,
                    &|| table_versions(&tables),
                    &mut |left| {
                        worker.step_or_park(Some(left.min(Duration::from_millis(5))));
                        check(&failure, &controls)
                    },
                )?;
                plans_in.send(&note)?;
                plan_time = Some(planning.elapsed());
                shared
                    .options
                    .metrics
                    .epoch_phase("plan", planning.elapsed());
                note
            } else {
                loop {
                    plans_in.forward_stop(&shared.options.stop);
                    if let Some(note) = received.borrow_mut().remove(&epoch) {
                        break note?;
                    }
                    worker.step_or_park(Some(Duration::from_millis(5)));
                    check(&failure, &controls)?;
                }
            };
            plans_in.advance_to(epoch + 1);
            let entry = match note {
                PlanNote::Run(entry) => entry,
                PlanNote::Stop => {
                    stopped = true;
                    break;
                }
            };
            let started = Instant::now();
            last_start = Some(started);
            if entry.final_epoch {
                final_epoch.set(Some(epoch));
                controls.set_final(epoch);
            }
            if let Some(ms) = entry.idle_max_event_time_ms {
                controls.idle(epoch, ms.saturating_mul(1000));
            }
            let records: u64 = entry.ranges.iter().map(|r| r.len()).sum();
            // Each process has its own metrics and progress: its first worker reports them.
            let reports = index.is_multiple_of(shared.options.workers.max(1));
            if reports {
                let watermark = controls.watermark();
                shared.options.metrics.epoch_started(
                    epoch,
                    watermark.next(),
                    watermark.max_event_time(),
                );
            }
            if reports && let Some(progress) = &shared.options.progress {
                progress(&Progress {
                    epoch,
                    records,
                    final_epoch: entry.final_epoch,
                    plan_time,
                });
            }
            advance(&mut cursors, &entry.ranges);
            if epoch == 0 && index == 0 {
                for letters in &shared.options.startup_dead_letters {
                    send(&mut dead_in, letters.clone());
                }
            }
            feed_tables(&mut tables, &entry, (index, peers), &mut dead_in)?;
            let reading = Instant::now();
            let future = shared
                .future
                .as_ref()
                .and_then(|f| Some((f, f.bound_us(entry.planned_at_ms)?)));
            for (i, range) in entry.ranges.iter().enumerate() {
                if i % peers != index || range.is_empty() {
                    continue;
                }
                let inputs = (&mut events_in, &mut dead_in);
                let judge = future.map(|(f, bound)| (f, bound, shared.dead_letters.as_ref()));
                let records = read_range(source.as_ref(), range, epoch, worker, inputs, judge)
                    .map_err(|e| {
                        tracing::error!(epoch, source = %range.source, partition = range.partition, error = %e, "read failed");
                        format!(
                            "reading {} partition {} in epoch {epoch}: {e}",
                            range.source, range.partition
                        )
                    })?;
                report.records += records;
                shared
                    .options
                    .metrics
                    .record_read(source.metric_label(range), records);
            }
            shared
                .options
                .metrics
                .epoch_phase("read", reading.elapsed());
            // Only the committing worker (0) hears of commits, so only it keeps its epochs.
            if index == 0 {
                in_flight.borrow_mut().insert(
                    epoch,
                    InFlight {
                        ranges: entry.ranges,
                        watermark_ms: entry.watermark_ms,
                        started,
                        fed: Instant::now(),
                    },
                );
            }
            report.last_epoch = Some(epoch);
            epoch += 1;
            failures_in.advance_to(epoch);
            events_in.advance_to(epoch);
            dead_in.advance_to(epoch);
            for (_, table_in, _) in &mut tables {
                table_in.advance_to(epoch);
            }
            if entry.final_epoch {
                break;
            }
            check(&failure, &controls)?;
        }
        Ok(())
    })();
    if let Err(error) = fed {
        // Also when this worker only stops because another failed: its share of the
        // epoch is missing, and the epoch must not commit without it.
        failures_in.send(EpochNote::Failed(EpochFailure {
            site,
            operator: "EpochLoop".into(),
            error: error.clone(),
        }));
        failures_in.flush();
        return Err(error);
    }
    guard.finished = true;
    drop(plans_in);
    drop(failures_in);
    drop(events_in);
    drop(dead_in);
    drop(tables);
    while !probe.done() {
        worker.step_or_park(Some(Duration::from_millis(5)));
        check(&failure, &controls)?;
    }
    check(&failure, &controls)?;
    report.late = controls.late_records();
    report.stopped = stopped;
    Ok(report)
}

/// A worker's input of batches.
pub(super) type BatchInput =
    timely::dataflow::InputHandle<u64, timely::container::CapacityContainerBuilder<Batches>>;

/// Reads `range` into `(events, dead)` as the source decodes it, and returns how many
/// records it held. The rows go in slices, each run through the dataflow before the next:
/// sinks that stream then hold only their open files, and the worker only the part of the
/// range being decoded, never the epoch or the whole range.
fn read_range(
    source: &dyn EpochSource,
    range: &sluice_checkpoints::SourceRange,
    epoch: u64,
    worker: &mut timely::worker::Worker,
    (events, dead_in): (&mut BatchInput, &mut BatchInput),
    future: Option<(&FutureBound, i64, &dyn DeadLetters)>,
) -> std::result::Result<u64, super::ConnectorFailure> {
    let mut records = 0u64;
    source.read_each(range, epoch, &mut |part| {
        let rows = match part {
            RangePart::DeadLetters(dead) => {
                records += dead.num_rows() as u64;
                send(dead_in, dead);
                return Ok(());
            }
            RangePart::Rows(rows) => rows,
        };
        records += rows.num_rows() as u64;
        let rows = match future {
            Some((bound, bound_us, dead_letters)) => {
                let (kept, beyond) = bound.split(rows, bound_us, dead_letters, epoch)?;
                if let Some(beyond) = beyond {
                    send(dead_in, beyond);
                }
                kept
            }
            None => rows,
        };
        let mut offset = 0;
        while offset < rows.num_rows() {
            let length = SLICE_ROWS.min(rows.num_rows() - offset);
            send(events, rows.slice(offset, length));
            offset += length;
            worker.step();
        }
        Ok(())
    })?;
    Ok(records)
}

/// The most rows a source batch enters the dataflow with at once.
const SLICE_ROWS: usize = 64 * 1024;

pub(super) fn send(input: &mut BatchInput, batch: RecordBatch) {
    if batch.num_rows() > 0 {
        input.send_batch(&mut Batches::one(batch));
    }
}
