//! One worker's epoch loop: it builds the worker's dataflow, then, epoch after epoch, takes
//! the next logged epoch (worker 0 plans and logs it, the others receive it), reads its
//! share of the epoch's ranges into the dataflow and closes the epoch on its inputs. The
//! committer, the snapshots and the recovery are elsewhere (`committer`, `marker`,
//! `recovery`); the loop only feeds.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use sluice_checkpoints::{OffsetsEntry, SourceRange};

use super::abort::AbortGuard;
use super::controls::WindowControls;
use super::driver::Shared;
use super::failure::{EpochFailure, Failure, Site};
use super::future::FutureBound;
use super::graph::{Graph, WorkerParts, build};
use super::join_tables::{TableInput, feed_tables, table_versions};
use super::marker::{InFlight, InFlightEpochs};
use super::planner::{PlanInput, PlanNote, Planner, Received};
use super::writer::EpochNote;
use super::{ConnectorFailure, Cursors, DeadLetters, EpochSource, RangePart, WorkerError, advance};
use crate::batch::Batches;

/// What one worker did in a run.
#[derive(Debug, Default)]
pub(super) struct WorkerReport {
    pub(super) records: u64,
    pub(super) late: u64,
    pub(super) last_epoch: Option<u64>,
    pub(super) stopped: bool,
}

/// A worker's input of batches.
pub(super) type BatchInput =
    timely::dataflow::InputHandle<u64, timely::container::CapacityContainerBuilder<Batches>>;

/// Runs one worker: builds its dataflow, feeds it every epoch until the input ends or a
/// stop is asked for, then waits for the dataflow to finish. Any failure of the loop
/// (planning, reading, another worker's stop) goes to the committer as data at the epoch
/// being fed, before this worker's inputs close.
pub(super) fn run_worker(
    worker: &mut timely::worker::Worker,
    shared: &Shared,
) -> std::result::Result<WorkerReport, WorkerError> {
    let mut epochs = EpochLoop::new(worker, shared)?;
    let rt = shared.options.runtime.clone();
    let store = shared.options.checkpoints.clone();
    let planner = Planner {
        source: shared.source.as_ref(),
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
        last_planned_ms: Cell::new(None),
    };
    if let Err(error) = epochs.feed_all(worker, &planner) {
        // Also when this worker only stops because another failed: its share of the
        // epoch is missing, and the epoch must not commit without it.
        epochs
            .inputs
            .failures_in
            .send(EpochNote::Failed(EpochFailure {
                site: epochs.site,
                operator: "EpochLoop".into(),
                error: error.clone(),
            }));
        epochs.inputs.failures_in.flush();
        return Err(error);
    }
    epochs.finish(worker)
}

/// The inputs a worker feeds, closed together when its loop ends.
struct Inputs {
    plans_in: PlanInput,
    failures_in: timely::dataflow::InputHandle<
        u64,
        timely::container::CapacityContainerBuilder<Vec<EpochNote>>,
    >,
    events_in: BatchInput,
    dead_in: BatchInput,
    tables: Vec<TableInput>,
}

impl Inputs {
    /// Moves every input on to `epoch`: what was fed before it is complete here.
    fn advance_to(&mut self, epoch: u64) {
        self.failures_in.advance_to(epoch);
        self.events_in.advance_to(epoch);
        self.dead_in.advance_to(epoch);
        for (_, table_in, _) in &mut self.tables {
            table_in.advance_to(epoch);
        }
    }
}

/// One worker's loop over epochs and what it holds across them.
struct EpochLoop<'a> {
    /// Declared first, so it drops before the inputs: it raises the abort flag before the
    /// inputs close unless the loop finished normally; see `AbortGuard`.
    guard: AbortGuard,
    inputs: Inputs,
    received: Received,
    probe: timely::dataflow::ProbeHandle<u64>,
    /// The frontiers of the operators whose `W(epoch)` the next plan needs.
    processed: Vec<timely::dataflow::ProbeHandle<u64>>,
    shared: &'a Shared,
    index: usize,
    peers: usize,
    site: Site,
    failure: Failure,
    controls: WindowControls,
    final_epoch: Rc<Cell<Option<u64>>>,
    in_flight: InFlightEpochs,
    /// Where each partition stands after the epochs fed so far.
    cursors: Cursors,
    /// The next epoch to feed.
    epoch: u64,
    /// Worker 0: the next epoch's note, planned (and sent) ahead while this one was read,
    /// and how long planning it took.
    ahead: Option<(PlanNote, Duration)>,
    last_start: Option<Instant>,
    report: WorkerReport,
}

impl<'a> EpochLoop<'a> {
    /// Builds the worker's dataflow, its inputs at the run's first epoch.
    fn new(
        worker: &mut timely::worker::Worker,
        shared: &'a Shared,
    ) -> std::result::Result<Self, WorkerError> {
        let index = worker.index();
        let site = Site {
            process: index / shared.options.workers.max(1),
            worker: index,
        };
        let failure = Failure::new(Arc::clone(&shared.abort));
        let final_epoch = Rc::new(Cell::new(None));
        let controls = WindowControls::new(shared.plan.plan.event_time_operators().count());
        let in_flight: InFlightEpochs = Rc::default();
        let parts = WorkerParts {
            site,
            rt: shared.options.runtime.clone(),
            store: shared.options.checkpoints.clone(),
            failure: failure.clone(),
            final_epoch: Rc::clone(&final_epoch),
            controls: controls.clone(),
            in_flight: Rc::clone(&in_flight),
        };
        let built = worker.dataflow::<u64, _, _>(|scope| build(scope, shared, &parts));
        let Graph {
            plans_in,
            received,
            failures_in,
            events_in,
            dead_in,
            tables,
            probe,
            processed,
        } = built.map_err(|e| WorkerError::Dataflow(e.to_string()))?;
        let mut inputs = Inputs {
            plans_in,
            failures_in,
            events_in,
            dead_in,
            tables,
        };
        inputs.plans_in.advance_to(shared.first_epoch);
        inputs.advance_to(shared.first_epoch);
        Ok(Self {
            guard: AbortGuard {
                abort: Arc::clone(&shared.abort),
                cluster: shared.options.cluster.is_some(),
                finished: false,
            },
            inputs,
            received,
            probe,
            processed,
            shared,
            index,
            peers: worker.peers(),
            site,
            failure,
            controls,
            final_epoch,
            in_flight,
            cursors: shared.starts.clone(),
            epoch: shared.first_epoch,
            ahead: None,
            last_start: None,
            report: WorkerReport::default(),
        })
    }

    /// The first failure of this worker's operators or of any other worker, if any.
    fn check(&self) -> std::result::Result<(), WorkerError> {
        check(&self.failure, &self.controls, &self.shared.abort)
    }

    /// Feeds epochs until the input's final epoch or a stop.
    fn feed_all(
        &mut self,
        worker: &mut timely::worker::Worker,
        planner: &Planner<'_>,
    ) -> std::result::Result<(), WorkerError> {
        loop {
            let (note, plan_time) = if self.index == 0 {
                let (note, plan_time) = match self.ahead.take() {
                    Some(planned) => planned,
                    None => self.plan(worker, planner)?,
                };
                self.shared.options.metrics.epoch_phase("plan", plan_time);
                (note, Some(plan_time))
            } else {
                (self.receive(worker)?, None)
            };
            self.inputs.plans_in.advance_to(self.epoch + 1);
            let entry = match note {
                PlanNote::Run(entry) => entry,
                PlanNote::Stop => {
                    self.report.stopped = true;
                    return Ok(());
                }
            };
            let started = self.start(&entry, plan_time);
            if self.index == 0 && !entry.final_epoch {
                self.ahead = self.plan_ahead(worker, planner)?;
            }
            self.read(worker, &entry)?;
            let final_epoch = entry.final_epoch;
            self.close(entry, started);
            if final_epoch {
                return Ok(());
            }
            self.check()?;
        }
    }

    /// Worker 0: plans and logs the next epoch, and broadcasts it to the other workers.
    /// Returns the note and how long planning and logging took (the waits before left
    /// out).
    fn plan(
        &mut self,
        worker: &mut timely::worker::Worker,
        planner: &Planner<'_>,
    ) -> std::result::Result<(PlanNote, Duration), WorkerError> {
        let epoch = self.epoch;
        let options = &self.shared.options;
        while self.must_wait(epoch) {
            worker.step_or_park(Some(Duration::from_millis(5)));
            self.check()?;
        }
        self.forget_notes_to(epoch);
        if let (Some(interval), Some(last)) = (options.trigger_interval, self.last_start) {
            while last.elapsed() < interval && !options.stop.requested() {
                let left = interval.saturating_sub(last.elapsed());
                worker.step_or_park(Some(left.min(Duration::from_millis(20))));
                self.check()?;
            }
        }
        let watermark = self.controls.watermark();
        let planning = Instant::now();
        let tables = &self.inputs.tables;
        let note = planner.plan(
            epoch,
            &self.cursors,
            &watermark,
            &|| table_versions(tables),
            &mut |left| {
                worker.step_or_park(Some(left.min(Duration::from_millis(5))));
                self.check()
            },
        )?;
        self.inputs.plans_in.send(&note)?;
        Ok((note, planning.elapsed()))
    }

    /// Whether planning `epoch` must wait: at most `max_epochs_in_flight` epochs are
    /// planned and not yet committed, and `W(epoch)`, logged with the epoch, needs the
    /// event-time operators to have processed the epoch before it on every worker.
    fn must_wait(&self, epoch: u64) -> bool {
        let max_in_flight = self.shared.options.max_epochs_in_flight.max(1) as u64;
        let oldest = (epoch + 1).saturating_sub(max_in_flight);
        self.probe.less_than(&oldest) || self.processed.iter().any(|p| p.less_than(&epoch))
    }

    /// Worker 0: drops its own notes up to `epoch`, which come back through the broadcast
    /// too; only later ones matter.
    fn forget_notes_to(&self, epoch: u64) {
        self.received.borrow_mut().retain(|&e, _| e > epoch);
    }

    /// Worker 0, before it reads its share of the epoch just started: plans and sends the
    /// next epoch now if nothing needs waiting for, so that the other workers can read
    /// their share of it as soon as they are done with this one, not only once worker 0
    /// is. Not when an event-time operator's `W(epoch + 1)` needs this epoch processed
    /// first, when the epochs in flight are at their limit, under a processing-time
    /// trigger, or while the source has nothing new: the next epoch is then planned after
    /// this one is read, as always.
    fn plan_ahead(
        &mut self,
        worker: &mut timely::worker::Worker,
        planner: &Planner<'_>,
    ) -> std::result::Result<Option<(PlanNote, Duration)>, WorkerError> {
        let next = self.epoch + 1;
        if self.shared.options.trigger_interval.is_some() || self.must_wait(next) {
            return Ok(None);
        }
        self.forget_notes_to(self.epoch);
        let planning = Instant::now();
        let tables = &self.inputs.tables;
        let watermark = self.controls.watermark();
        let note =
            planner.plan_ahead(next, &self.cursors, &watermark, &|| table_versions(tables))?;
        let Some(note) = note else {
            return Ok(None);
        };
        self.inputs.plans_in.send(&note)?;
        self.inputs.plans_in.flush();
        let planned = planning.elapsed();
        // One step sends the note on to the other workers before this one starts reading.
        worker.step();
        Ok(Some((note, planned)))
    }

    /// The other workers: waits for worker 0's note of the next epoch.
    fn receive(
        &mut self,
        worker: &mut timely::worker::Worker,
    ) -> std::result::Result<PlanNote, WorkerError> {
        loop {
            self.inputs.plans_in.forward_stop(&self.shared.options.stop);
            if let Some(note) = self.received.borrow_mut().remove(&self.epoch) {
                return note;
            }
            worker.step_or_park(Some(Duration::from_millis(5)));
            self.check()?;
        }
    }

    /// Starts the epoch `entry` logs: its controls, metrics and progress, and the cursors
    /// after it. Returns when it started.
    fn start(&mut self, entry: &OffsetsEntry, plan_time: Option<Duration>) -> Instant {
        let (epoch, options) = (self.epoch, &self.shared.options);
        let started = Instant::now();
        self.last_start = Some(started);
        if entry.final_epoch {
            self.final_epoch.set(Some(epoch));
            self.controls.set_final(epoch);
        }
        if let Some(ms) = entry.idle_max_event_time_ms {
            self.controls.idle(epoch, ms.saturating_mul(1000));
        }
        // Each process has its own metrics and progress: its first worker reports them.
        if self.index.is_multiple_of(options.workers.max(1)) {
            let watermark = self.controls.watermark();
            options
                .metrics
                .epoch_started(epoch, watermark.next(), watermark.max_event_time());
            if let Some(progress) = &options.progress {
                progress(&super::Progress {
                    epoch,
                    records: entry.ranges.iter().map(SourceRange::len).sum(),
                    final_epoch: entry.final_epoch,
                    plan_time,
                });
            }
        }
        advance(&mut self.cursors, &entry.ranges);
        started
    }

    /// Reads this worker's share of the epoch: the tables' changes, and every `peers`-th
    /// range of the source.
    fn read(
        &mut self,
        worker: &mut timely::worker::Worker,
        entry: &OffsetsEntry,
    ) -> std::result::Result<(), WorkerError> {
        let (epoch, shared) = (self.epoch, self.shared);
        let inputs = &mut self.inputs;
        if epoch == 0 && self.index == 0 {
            for letters in &shared.options.startup_dead_letters {
                send(&mut inputs.dead_in, letters.clone());
            }
        }
        feed_tables(
            &mut inputs.tables,
            entry,
            (self.index, self.peers),
            &mut inputs.dead_in,
        )?;
        let reading = Instant::now();
        let future = shared
            .future
            .as_ref()
            .and_then(|f| Some((f, f.bound_us(entry.planned_at_ms)?)));
        let source = shared.source.as_ref();
        for (i, range) in entry.ranges.iter().enumerate() {
            if i % self.peers != self.index || range.is_empty() {
                continue;
            }
            let into = (&mut inputs.events_in, &mut inputs.dead_in);
            let judge = future.map(|(f, bound)| (f, bound, shared.dead_letters.as_ref()));
            let records = read_range(source, range, epoch, worker, into, judge).map_err(|e| {
                tracing::error!(epoch, source = %range.source, partition = range.partition, error = %e, "read failed");
                WorkerError::Read {
                    source_name: range.source.clone(),
                    partition: range.partition,
                    epoch,
                    message: e.to_string(),
                }
            })?;
            self.report.records += records;
            shared
                .options
                .metrics
                .record_read(source.metric_label(range), records);
        }
        shared
            .options
            .metrics
            .epoch_phase("read", reading.elapsed());
        Ok(())
    }

    /// Closes the epoch on every input; worker 0 keeps it among the epochs in flight.
    fn close(&mut self, entry: OffsetsEntry, started: Instant) {
        // Only the committing worker (0) hears of commits, so only it keeps its epochs.
        if self.index == 0 {
            self.in_flight.borrow_mut().insert(
                self.epoch,
                InFlight {
                    ranges: entry.ranges,
                    watermark_ms: entry.watermark_ms,
                    started,
                    fed: Instant::now(),
                },
            );
        }
        self.report.last_epoch = Some(self.epoch);
        self.epoch += 1;
        self.inputs.advance_to(self.epoch);
    }

    /// Closes the inputs and runs the dataflow until it has finished every epoch fed.
    fn finish(
        self,
        worker: &mut timely::worker::Worker,
    ) -> std::result::Result<WorkerReport, WorkerError> {
        let Self {
            mut guard,
            inputs,
            probe,
            shared,
            failure,
            controls,
            mut report,
            ..
        } = self;
        guard.finished = true;
        drop(inputs);
        while !probe.done() {
            worker.step_or_park(Some(Duration::from_millis(5)));
            check(&failure, &controls, &shared.abort)?;
        }
        check(&failure, &controls, &shared.abort)?;
        report.late = controls.late_records();
        Ok(report)
    }
}

/// The first failure of a worker's operators (`failure`), of its windows (`controls`) or
/// of any other worker (`abort`), if any.
fn check(
    failure: &Failure,
    controls: &WindowControls,
    abort: &AtomicBool,
) -> std::result::Result<(), WorkerError> {
    if let Some(f) = failure.first() {
        return Err(f);
    }
    if let Some(f) = controls.failure() {
        return Err(f);
    }
    if abort.load(Ordering::SeqCst) {
        return Err(WorkerError::Aborted);
    }
    Ok(())
}

/// Reads `range` into `(events, dead)` as the source decodes it, and returns how many
/// records it held. The rows go in slices, each run through the dataflow before the next:
/// sinks that stream then hold only their open files, and the worker only the part of the
/// range being decoded, never the epoch or the whole range.
fn read_range(
    source: &dyn EpochSource,
    range: &SourceRange,
    epoch: u64,
    worker: &mut timely::worker::Worker,
    (events, dead_in): (&mut BatchInput, &mut BatchInput),
    future: Option<(&FutureBound, i64, &dyn DeadLetters)>,
) -> std::result::Result<u64, ConnectorFailure> {
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

/// Sends `batch` into `input`, unless it is empty.
pub(super) fn send(input: &mut BatchInput, batch: RecordBatch) {
    if batch.num_rows() > 0 {
        input.send_batch(&mut Batches::one(batch));
    }
}
