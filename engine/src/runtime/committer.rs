//! The single committer: on worker 0, commits each sink's files of an epoch in one
//! transaction per table, then marks the epoch committed in the checkpoint. The commits run
//! on a [`Lane`], in epoch order, while the workers go on with later epochs.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

use super::{TableSink, WorkerError};
use sluice_checkpoints::{SourceRange, StatePart, check_tiling};

use super::failure::{EpochFailure, Failure, fail};
use super::lane::Lane;
use super::marker::{InFlightEpochs, MarkerWriter};
use super::writer::EpochNote;
use super::{Cursors, advance};
use crate::epoch::complete_before;
use crate::metrics::RunMetrics;

/// What every sink committing an epoch produced.
pub(crate) struct Committed {
    pub(crate) epoch: u64,
    /// The epoch's state parts, sorted, covering every key group once (or empty).
    pub(crate) parts: Vec<StatePart>,
    /// The table version each commit created, by table.
    pub(crate) tables: BTreeMap<String, u64>,
}

/// Called on the committing worker once an epoch is durable (its marker written).
pub(crate) type OnCommitted = Box<dyn FnMut(Committed)>;

/// The tables an epoch commits to, in commit order, and where commits are reported.
#[derive(Clone)]
pub(crate) struct CommitTargets {
    pub(crate) sinks: Vec<Arc<dyn TableSink>>,
    pub(crate) metrics: RunMetrics,
    /// The job's key groups, which an epoch's state parts must cover exactly once.
    pub(crate) key_groups: u32,
    /// Writes each committed epoch's marker.
    pub(crate) marker: MarkerWriter,
    /// Whether the plan has operator state: then the snapshot epochs are those whose state
    /// parts were written; without, every `snapshot_every`th epoch and the last.
    pub(crate) has_state: bool,
    /// Snapshot every this many epochs.
    pub(crate) snapshot_every: u64,
    /// Whether the first sink is the quality gate, which commits before the others.
    pub(crate) gate_first: bool,
    /// The process's abort flag: once raised, no epoch commits.
    pub(crate) abort: Arc<AtomicBool>,
}

impl CommitTargets {
    /// Commits `epoch`'s files in every sink, in order, then writes its marker. Blocks on
    /// the tables and the checkpoint: it runs on the committer's lane. A failure raises
    /// `failed`, so that no later epoch commits (the committer raises the process's abort
    /// flag, naming the failure, when it hears of it).
    fn commit(&self, job: CommitJob, failed: &AtomicBool) -> Result<Committed, WorkerError> {
        if failed.load(Ordering::SeqCst) {
            return Err(WorkerError::Aborted);
        }
        let began = Instant::now();
        let result = self.commit_inner(job);
        self.metrics.epoch_phase("commit", began.elapsed());
        if result.is_err() {
            failed.store(true, Ordering::SeqCst);
        }
        result
    }

    fn commit_inner(&self, job: CommitJob) -> Result<Committed, WorkerError> {
        let CommitJob {
            epoch,
            files,
            parts,
            snapshot,
            cursors,
        } = job;
        if self.abort.load(Ordering::SeqCst) {
            return Err(WorkerError::Aborted);
        }
        let mut tables = BTreeMap::new();
        let mut pending: Vec<(&Arc<dyn TableSink>, Vec<String>)> =
            self.sinks.iter().zip(files).collect();
        // The quality gate commits first and alone: a breach stops the epoch before any
        // table has it.
        if self.gate_first && !pending.is_empty() {
            let (gate, files) = pending.remove(0);
            if let Some(version) = self.commit_table(epoch, gate, files)? {
                tables.insert(gate.name().to_string(), version);
            }
        }
        // The other tables are independent (each has its own txn): they commit at once,
        // each on its own thread, so an epoch's commit takes its slowest table's time, not
        // the sum.
        let results: Vec<Result<Option<u64>, WorkerError>> = std::thread::scope(|scope| {
            let running: Vec<_> = pending
                .into_iter()
                .map(|(sink, files)| {
                    std::thread::Builder::new()
                        .name(format!("sluice-commit-{}", sink.name()))
                        .spawn_scoped(scope, move || self.commit_table(epoch, sink, files))
                })
                .collect();
            running
                .into_iter()
                .map(|spawned| match spawned {
                    Ok(handle) => handle.join().unwrap_or_else(|_| {
                        Err(WorkerError::CommitThread {
                            epoch,
                            message: "panicked".into(),
                        })
                    }),
                    Err(err) => Err(WorkerError::CommitThread {
                        epoch,
                        message: format!("did not start: {err}"),
                    }),
                })
                .collect()
        });
        for (sink, result) in self
            .sinks
            .iter()
            .skip(usize::from(self.gate_first))
            .zip(results)
        {
            if let Some(version) = result? {
                tables.insert(sink.name().to_string(), version);
            }
        }
        let committed = Committed {
            epoch,
            parts,
            tables,
        };
        self.marker
            .write(&committed, snapshot, cursors.as_deref())
            .map_err(|err| WorkerError::Marker {
                epoch,
                message: err.to_string(),
            })?;
        Ok(committed)
    }
}

impl CommitTargets {
    /// Commits `epoch`'s `files` to `sink`; the table version it created, if any.
    fn commit_table(
        &self,
        epoch: u64,
        sink: &Arc<dyn TableSink>,
        files: Vec<String>,
    ) -> Result<Option<u64>, WorkerError> {
        let began = Instant::now();
        let report = sink
            .commit(epoch, files)
            .map_err(|err| WorkerError::Commit {
                table: sink.name().to_owned(),
                epoch,
                message: err.to_string(),
            })?;
        self.metrics
            .table_committed(sink.name(), began.elapsed(), &report);
        tracing::debug!(
            table = sink.name(),
            epoch,
            skipped = report.skipped,
            rows = report.rows,
            files = report.files,
            "epoch committed"
        );
        Ok(report.version)
    }
}

/// One epoch to commit, as the committer's lane receives it.
struct CommitJob {
    epoch: u64,
    /// Each sink's file notes.
    files: Vec<Vec<String>>,
    parts: Vec<StatePart>,
    /// Whether the epoch is a snapshot.
    snapshot: bool,
    /// Where every partition stands after the epoch, for a snapshot's cursor record.
    cursors: Option<Vec<SourceRange>>,
}

/// Commits the notes in `files` epoch by epoch, in epoch order, starting at `first_epoch`.
/// Holds a capability until each epoch is committed, so a probe downstream of the
/// returned stream passes an epoch only once it is durable. An epoch whose state parts do
/// not cover every key group exactly once (a worker's snapshot is missing) is not
/// committed.
#[allow(clippy::too_many_arguments)]
pub(crate) fn commit_epochs<'scope>(
    files: Stream<'scope, u64, Vec<EpochNote>>,
    targets: CommitTargets,
    first_epoch: u64,
    final_epoch: Rc<Cell<Option<u64>>>,
    mut on_committed: OnCommitted,
    failure: Failure,
    runtime: tokio::runtime::Handle,
    (mut cursors, in_flight): (Cursors, InFlightEpochs),
) -> Stream<'scope, u64, Vec<()>> {
    let scope = files.scope();
    let worker = scope.worker();
    let is_committer = scope.index() == 0;
    let mut builder = OperatorBuilder::new("Commit".to_owned(), scope);
    let activator = worker.sync_activator_for(builder.operator_info().address.to_vec());
    let mut input = builder.new_input(files, Exchange::new(|_: &EpochNote| 0));
    let (_output, stream) = builder.new_output::<Vec<()>>();
    builder.build(move |capabilities| {
        let mut caps = capabilities;
        for cap in caps.iter_mut() {
            cap.downgrade(&first_epoch);
        }
        let mut lane: Lane<(u64, Result<Committed, WorkerError>)> =
            Lane::new("Commit", runtime, activator);
        // Raised by the first commit that fails: no later one runs.
        let poisoned = Arc::new(AtomicBool::new(false));
        // Epochs handed to the lane and not yet durable.
        let mut committing = 0usize;
        let mut next = first_epoch;
        let mut stash: BTreeMap<u64, Vec<EpochNote>> = BTreeMap::new();
        // A failure was seen: the operator only waits for its lane, then lets go.
        let mut giving_up = false;
        move |frontiers| {
            input.for_each(|cap, container| {
                if let Some(&t) = cap.least() {
                    stash.entry(t).or_default().append(container);
                }
            });
            if caps.is_empty() {
                stash.clear();
                return;
            }
            if giving_up {
                // Nothing commits any more. The capabilities go (timely steps a worker until
                // its dataflows complete, even after a failure) once the lane is idle: a
                // commit in flight finishes before the process may exit, and those queued
                // see the abort and return at once.
                stash.clear();
                lane.finished();
                if lane.is_idle() {
                    caps.clear();
                }
                return;
            }
            for (epoch, result) in lane.finished() {
                committing -= 1;
                match result {
                    Ok(committed) => on_committed(committed),
                    Err(err) => {
                        if err.is_cause() {
                            fail(&failure, err);
                        }
                        giving_up = true;
                        if lane.is_idle() {
                            caps.clear();
                        }
                        return;
                    }
                }
                if final_epoch.get() == Some(epoch) {
                    caps.clear();
                    return;
                }
                for cap in caps.iter_mut() {
                    cap.downgrade(&(epoch + 1));
                }
            }
            let frontier = frontiers[0].frontier().first().copied();
            let limit = complete_before(
                frontier,
                final_epoch.get(),
                stash.keys().last().copied(),
                next,
            );
            while next < limit {
                let epoch = next;
                next = epoch + 1;
                let notes = stash.remove(&epoch).unwrap_or_default();
                // A worker that failed closes its inputs as it leaves, which completes the
                // epoch here without its share: never commit once any worker aborted.
                if !is_committer {
                    if final_epoch.get() == Some(epoch) {
                        caps.clear();
                        break;
                    }
                    for cap in caps.iter_mut() {
                        cap.downgrade(&next);
                    }
                    continue;
                }
                if failure.first().is_some() || targets.abort.load(Ordering::SeqCst) {
                    giving_up = true;
                    if lane.is_idle() {
                        caps.clear();
                    }
                    return;
                }
                // Name the first cause: a worker that only stopped because another failed
                // is not one, and the cause may sit in a later epoch.
                let later = stash.values().flatten().filter_map(|note| match note {
                    EpochNote::Failed(f) => Some(f.clone()),
                    _ => None,
                });
                let is_final = final_epoch.get() == Some(epoch);
                let ready = (&mut cursors, &in_flight);
                let job = match commit_job(epoch, is_final, notes, later, &targets, ready) {
                    Ok(job) => job,
                    Err(error) => {
                        fail(&failure, error);
                        giving_up = true;
                        if lane.is_idle() {
                            caps.clear();
                        }
                        return;
                    }
                };
                let targets = targets.clone();
                let poisoned = Arc::clone(&poisoned);
                committing += 1;
                lane.submit(move || (epoch, targets.commit(job, &poisoned)));
            }
            if is_committer && committing > 0 {
                return;
            }
            if frontier.is_none() && stash.is_empty() && (!is_committer || lane.is_idle()) {
                caps.clear();
            }
        }
    });
    stream
}

/// What `epoch` commits, from the notes every worker sent for it, and the cursors after
/// it (advanced past the ranges `in_flight` logged for it); or why it must not commit: a
/// failure in it (the first cause, which may sit in a `later` epoch's notes), or state
/// parts that do not cover every key group exactly once.
fn commit_job(
    epoch: u64,
    is_final: bool,
    notes: Vec<EpochNote>,
    later: impl Iterator<Item = EpochFailure>,
    targets: &CommitTargets,
    (cursors, in_flight): (&mut Cursors, &InFlightEpochs),
) -> Result<CommitJob, WorkerError> {
    let mut files: Vec<Vec<String>> = vec![Vec::new(); targets.sinks.len()];
    let mut parts = Vec::new();
    let mut failures = Vec::new();
    for note in notes {
        match note {
            EpochNote::Sink { sink, note } => files[sink as usize].push(note),
            EpochNote::State(part) => parts.push(part),
            EpochNote::Failed(f) => failures.push(f),
        }
    }
    parts.sort();
    let failed = !failures.is_empty();
    if failed && let Some(cause) = first_cause(failures.into_iter().chain(later)) {
        return Err(WorkerError::EpochFailed {
            epoch,
            cause: Box::new(cause),
        });
    }
    check_tiling(epoch, &parts, targets.key_groups).map_err(|e| WorkerError::Tiling {
        epoch,
        message: e.to_string(),
    })?;
    // The loop logs an epoch's ranges in `in_flight` before the epoch can complete.
    if let Some(done) = in_flight.borrow().get(&epoch) {
        advance(cursors, &done.ranges);
        targets.metrics.epoch_phase("process", done.fed.elapsed());
    }
    let snapshot = if targets.has_state {
        !parts.is_empty()
    } else {
        is_final || epoch.is_multiple_of(targets.snapshot_every.max(1))
    };
    Ok(CommitJob {
        epoch,
        files,
        parts,
        snapshot,
        cursors: snapshot.then(|| cursor_record(cursors)),
    })
}

/// `cursors` as a cursor record: an empty range at each partition's cursor.
fn cursor_record(cursors: &Cursors) -> Vec<SourceRange> {
    cursors
        .iter()
        .map(|((source, partition), cursor)| {
            let mut range =
                SourceRange::offsets(source.clone(), *partition, cursor.offset, cursor.offset);
            range.end_position = cursor.position.clone();
            range
        })
        .collect()
}

/// The first of `failures` that is a cause, not a worker stopping because another failed
/// (the first of all if there is none).
fn first_cause(failures: impl Iterator<Item = EpochFailure>) -> Option<EpochFailure> {
    let mut first = None;
    for f in failures {
        if f.error.is_cause() {
            return Some(f);
        }
        first.get_or_insert(f);
    }
    first
}
