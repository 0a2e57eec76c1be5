//! One planner per job: worker 0 plans each epoch (the source's ranges, the followed join
//! tables' versions, the watermark), logs it in the offsets log, and sends it through the
//! dataflow to every worker, which reads exactly the ranges it receives. The broker, the
//! Delta log and the checkpoint store are asked once per epoch, not once per worker.
//!
//! The planner also decides when a run stops early: on a [`StopRequest`] it sends
//! [`PlanNote::Stop`] instead of the next epoch, so every worker stops before the same
//! epoch and no epoch is fed by some workers only. A stop requested in another process (a
//! SIGTERM to one pod of a cluster) reaches the planner through the dataflow too.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sluice_checkpoints::{CheckpointStore, Logged, OffsetsEntry, SourceRange};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::InputHandle;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Exchange;
use timely::dataflow::operators::core::Input;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::vec::Broadcast;

use super::{Cursors, EpochSource, Planned, WorkerError, advance};
use crate::metrics::RunMetrics;
use crate::watermark::Watermark;

/// Asks a run to stop gracefully: no new epoch is planned, the epochs in flight are
/// finished and committed, and the run returns. Cheap to clone; set it from a signal
/// handler.
#[derive(Clone, Debug, Default)]
pub struct StopRequest(Arc<AtomicBool>);

impl StopRequest {
    /// Requests the stop.
    pub fn request(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether a stop was requested.
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// What the planner sends every worker for an epoch.
#[derive(Clone, Debug)]
pub(super) enum PlanNote {
    /// Run this logged epoch.
    Run(OffsetsEntry),
    /// Take no more epochs: the run stops before this one.
    Stop,
}

/// A [`PlanNote`] as it crosses processes: the entry as logged, in JSON. Timely's
/// exchange encodes with bincode, which cannot decode the entry's skipped optional fields.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum PlanWire {
    Run(String),
    Stop,
}

impl PlanNote {
    fn to_wire(&self) -> Result<PlanWire, WorkerError> {
        match self {
            PlanNote::Run(entry) => serde_json::to_string(entry)
                .map(PlanWire::Run)
                .map_err(|e| WorkerError::EpochPlan {
                    epoch: entry.epoch,
                    message: format!("encoding: {e}"),
                }),
            PlanNote::Stop => Ok(PlanWire::Stop),
        }
    }

    /// The note worker 0 sent at `epoch`.
    fn from_wire(wire: PlanWire, epoch: u64) -> Result<Self, WorkerError> {
        match wire {
            PlanWire::Run(json) => {
                serde_json::from_str(&json)
                    .map(PlanNote::Run)
                    .map_err(|e| WorkerError::EpochPlan {
                        epoch,
                        message: format!("what worker 0 sent does not decode: {e}"),
                    })
            }
            PlanWire::Stop => Ok(PlanNote::Stop),
        }
    }
}

/// The plan notes a worker has received, by epoch.
pub(super) type Received = Rc<RefCell<BTreeMap<u64, Result<PlanNote, WorkerError>>>>;

/// The planner's inputs: the plans (only worker 0 sends them) and the stop requests
/// (any worker may send one, to worker 0). Every worker advances both.
pub(super) struct PlanInput {
    plans: InputHandle<u64, CapacityContainerBuilder<Vec<PlanWire>>>,
    stops: InputHandle<u64, CapacityContainerBuilder<Vec<u8>>>,
    asked: bool,
}

impl PlanInput {
    /// Sends `note` to every worker, at the input's current epoch.
    pub(super) fn send(&mut self, note: &PlanNote) -> Result<(), WorkerError> {
        self.plans.send(note.to_wire()?);
        Ok(())
    }

    /// Tells the planner, once, that this process was asked to stop.
    pub(super) fn forward_stop(&mut self, stop: &StopRequest) {
        if stop.requested() && !self.asked {
            self.stops.send(0);
            self.stops.flush();
            self.asked = true;
        }
    }

    /// Pushes what was sent on to the workers now, not when the input next advances.
    pub(super) fn flush(&mut self) {
        self.plans.flush();
    }

    /// Moves the inputs to `epoch`.
    pub(super) fn advance_to(&mut self, epoch: u64) {
        self.plans.advance_to(epoch);
        self.stops.advance_to(epoch);
    }
}

/// Builds the plan broadcast in `scope` (what worker 0 sends, every worker receives) and
/// the stop requests to worker 0, which set `stop` there.
pub(super) fn plan_feed(
    scope: timely::dataflow::Scope<'_, u64>,
    stop: StopRequest,
) -> (PlanInput, Received) {
    let (stops, requests) = scope.new_input::<Vec<u8>>();
    requests
        .exchange(|_| 0)
        .sink(Pipeline, "ReceiveStopRequests", move |(input, _)| {
            input.for_each(|_, requests| {
                if !requests.is_empty() && !stop.requested() {
                    tracing::info!("a stop was requested in another process");
                    stop.request();
                }
            });
        });
    let (input, stream) = scope.new_input::<Vec<PlanWire>>();
    let received: Received = Rc::default();
    let into = Rc::clone(&received);
    stream
        .broadcast()
        .sink(Pipeline, "ReceiveEpochPlans", move |(input, _)| {
            input.for_each(|cap, notes| {
                if let Some(&epoch) = cap.least() {
                    let mut into = into.borrow_mut();
                    for note in notes.drain(..) {
                        into.insert(epoch, PlanNote::from_wire(note, epoch));
                    }
                }
            });
        });
    let input = PlanInput {
        plans: input,
        stops,
        asked: false,
    };
    (input, received)
}

/// What the planner needs besides the source.
pub(super) struct Planner<'a> {
    pub(super) source: &'a dyn EpochSource,
    pub(super) store: &'a CheckpointStore,
    pub(super) runtime: &'a tokio::runtime::Handle,
    pub(super) fingerprint: &'a str,
    pub(super) job_id: &'a str,
    pub(super) run_id: &'a str,
    /// The newest epoch logged when this run started.
    pub(super) logged_before: Option<u64>,
    pub(super) idle_poll: Duration,
    pub(super) stop: &'a StopRequest,
    pub(super) metrics: &'a RunMetrics,
    /// `watermark.idle-timeout`: after this long without records, plan an empty epoch
    /// that moves event time on by the wall-clock time that passed.
    pub(super) idle_timeout: Option<Duration>,
    /// When the last epoch this planner ran was planned (ms since the Unix epoch).
    pub(super) last_planned_ms: std::cell::Cell<Option<i64>>,
}

impl Planner<'_> {
    /// Plans and logs `epoch`, or adopts the entry an earlier run logged for it; `Stop`
    /// when a stop was requested first. `versions` reads the followed tables' versions,
    /// and `wait` steps the worker for up to the given time (failing if the run failed).
    ///
    /// # Errors
    /// When the source or the checkpoint store fails, or another instance of the job
    /// logged the epoch.
    pub(super) fn plan(
        &self,
        epoch: u64,
        cursors: &Cursors,
        watermark: &Watermark,
        versions: &dyn Fn() -> Result<Vec<i64>, WorkerError>,
        wait: &mut dyn FnMut(Duration) -> Result<(), WorkerError>,
    ) -> Result<PlanNote, WorkerError> {
        loop {
            if let Some(note) = self.plan_once(epoch, cursors, watermark, versions, false)? {
                return Ok(note);
            }
            let until = Instant::now() + self.idle_poll;
            while Instant::now() < until && !self.stop.requested() {
                wait(until.saturating_duration_since(Instant::now()))?;
            }
        }
    }

    /// Plans and logs `epoch` ahead of time, while the epoch before it is still being
    /// read, if that needs no wait: `None` while the source has nothing new, and when a
    /// stop was requested (the epoch is then planned, or stopped, the usual way).
    ///
    /// # Errors
    /// As [`Planner::plan`].
    pub(super) fn plan_ahead(
        &self,
        epoch: u64,
        cursors: &Cursors,
        watermark: &Watermark,
        versions: &dyn Fn() -> Result<Vec<i64>, WorkerError>,
    ) -> Result<Option<PlanNote>, WorkerError> {
        if self.stop.requested() {
            return Ok(None);
        }
        self.plan_once(epoch, cursors, watermark, versions, true)
    }

    /// One attempt at planning `epoch`: `None` when the source is idle (and, unless
    /// `ahead`, no earlier run logged the epoch and no idle epoch is due).
    fn plan_once(
        &self,
        epoch: u64,
        cursors: &Cursors,
        watermark: &Watermark,
        versions: &dyn Fn() -> Result<Vec<i64>, WorkerError>,
        ahead: bool,
    ) -> Result<Option<PlanNote>, WorkerError> {
        if self.stop.requested() {
            tracing::info!(epoch, "stop requested: no new epoch");
            return Ok(Some(PlanNote::Stop));
        }
        // Table versions are read after the source's ranges are planned, so rows see
        // every table commit made before they were: a dimension updated before the facts
        // that need it is never joined stale.
        let proposal = |ranges: Vec<SourceRange>, final_epoch| -> Result<_, WorkerError> {
            Ok(OffsetsEntry {
                idle_max_event_time_ms: None,
                epoch,
                ranges,
                watermark_ms: watermark.next().map(|w| w.div_euclid(1000)),
                max_event_time_ms: watermark.max_event_time().map(|w| w.div_euclid(1000)),
                plan_fingerprint: self.fingerprint.to_string(),
                final_epoch,
                run_id: Some(self.run_id.to_string()),
                table_versions: versions()?,
                planned_at_ms: Some(super::driver::now_ms()),
            })
        };
        let planned =
            self.source
                .next_ranges(epoch, cursors)
                .map_err(|e| WorkerError::Planning {
                    epoch,
                    message: e.to_string(),
                })?;
        self.metrics
            .source_lag(self.source.name(), &self.source.lag());
        let entry = match planned {
            Planned::Ranges(ranges) => {
                let mut after = cursors.clone();
                advance(&mut after, &ranges);
                let exhausted = self.source.exhausted(&after);
                proposal(ranges, exhausted)?
            }
            Planned::Exhausted => proposal(Vec::new(), true)?,
            Planned::Idle if ahead => return Ok(None),
            Planned::Idle => {
                // An earlier run may have logged this epoch: re-run it as logged.
                if let Some(stored) = self
                    .runtime
                    .block_on(self.store.offsets(epoch))
                    .map_err(|e| WorkerError::checkpoint(&e))?
                {
                    let stored = self.adopt(stored)?;
                    self.last_planned_ms.set(stored.planned_at_ms);
                    return Ok(Some(PlanNote::Run(stored)));
                }
                let Some(advance_to) = self.idle_advance(watermark) else {
                    return Ok(None);
                };
                tracing::info!(
                    epoch,
                    advance_to_ms = advance_to,
                    "source idle: an empty epoch moves event time on"
                );
                let mut entry = proposal(Vec::new(), false)?;
                entry.idle_max_event_time_ms = Some(advance_to);
                entry
            }
        };
        let logged = self
            .runtime
            .block_on(self.store.put_offsets(&entry))
            .map_err(|e| WorkerError::checkpoint(&e))?;
        let entry = match logged {
            Logged::Written => entry,
            Logged::Existing(stored) => self.adopt(stored)?,
        };
        self.last_planned_ms.set(entry.planned_at_ms);
        Ok(Some(PlanNote::Run(entry)))
    }

    /// With `idle-timeout`, once the source has had nothing new for that long since the
    /// last epoch was planned (or this run started): the event time (ms) an empty epoch
    /// should count as seen, the newest so far plus the wall-clock time since then. `None`
    /// before any event time is known, without the setting, or before the timeout.
    fn idle_advance(&self, watermark: &Watermark) -> Option<i64> {
        let timeout = i64::try_from(self.idle_timeout?.as_millis()).unwrap_or(i64::MAX);
        let newest_ms = watermark.max_event_time()?.div_euclid(1000);
        let now = super::driver::now_ms();
        let since = match self.last_planned_ms.get() {
            Some(since) => since,
            None => {
                self.last_planned_ms.set(Some(now));
                now
            }
        };
        let quiet = now.saturating_sub(since);
        (quiet >= timeout).then(|| newest_ms.saturating_add(quiet))
    }

    /// Accepts an epoch an earlier run logged, unless it was logged by another live
    /// instance: an epoch beyond what was logged when this run started, with another
    /// run's id.
    fn adopt(&self, stored: OffsetsEntry) -> Result<OffsetsEntry, WorkerError> {
        let new = self.logged_before.is_none_or(|l| stored.epoch > l);
        if new && stored.run_id.as_deref() != Some(self.run_id) {
            return Err(WorkerError::AnotherInstance {
                job_id: self.job_id.to_owned(),
                epoch: stored.epoch,
                run: stored.run_id.unwrap_or_else(|| "unknown".to_owned()),
            });
        }
        Ok(stored)
    }
}
