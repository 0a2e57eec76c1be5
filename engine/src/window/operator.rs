//! The timely operator of a window aggregation: the keyed event-time operator
//! ([`crate::event_time`]) over a [`WindowState`], and what the driver shares with it.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::ops::Range;
use std::rc::Rc;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use sluice_checkpoints::StatePart;
use timely::dataflow::Stream;

use super::state::WindowState;
use super::{WindowKind, WindowSpec};
use crate::batch::Batches;
use crate::error::Result;
use crate::event_time::{EventTimeInput, event_time_operator};
use crate::runtime::WorkerError;
use crate::watermark::Watermark;

/// Names the snapshot part of `(key groups, bytes)`; the part itself is written by whoever
/// receives the [`WindowNote::Snapshot`] (off the worker thread, in the runtime).
pub type PartNamer = Arc<dyn Fn(Range<u32>, u64, u64) -> StatePart>;

/// Shared between a worker's event-time operator (a window or a deduplication) and the
/// loop that drives the worker.
#[derive(Debug, Default)]
pub struct WindowControl {
    /// The last epoch of a bounded input; processing it flushes every window.
    pub final_epoch: Cell<Option<u64>>,
    /// The watermark bookkeeping after the last processed epoch.
    pub watermark: RefCell<Watermark>,
    /// Late records routed so far on this worker.
    pub late_records: Cell<u64>,
    /// A failure the driver must surface (snapshot writes).
    pub failure: RefCell<Option<WorkerError>>,
    /// Event times (µs) that idle epochs count as seen, by epoch, as logged with them.
    pub idle_max: RefCell<BTreeMap<u64, i64>>,
    /// Whether the operator reads no event time (an aggregate without a window), so that
    /// its watermark, never set, does not hold the job's back.
    pub untimed: Cell<bool>,
}

/// How an event-time operator (a window or a deduplication) starts and checkpoints.
pub struct WindowSetup {
    /// Key groups of the job.
    pub key_groups: u32,
    /// The snapshot parts to restore from, each with what it holds (empty for a fresh
    /// start); each worker reads the parts that hold its key groups.
    pub restore: Vec<(StatePart, bytes::Bytes)>,
    /// The first epoch this run will process.
    pub first_epoch: u64,
    /// Snapshot when `epoch % every == 0` (and at the final epoch).
    pub snapshot_every: u64,
    /// How snapshot parts are named; `None` takes no snapshots.
    pub snapshots: Option<PartNamer>,
    /// Shared with the driver.
    pub control: Rc<WindowControl>,
    /// Counts a window's emitted sums and averages that do not fit their type.
    pub overflows: prometheus_client::metrics::counter::Counter,
}

/// The streams a window aggregation produces.
pub struct WindowOutputs<'scope> {
    /// Emitted window results.
    pub results: Stream<'scope, u64, Batches>,
    /// Late records, with `windows_missed` and `late_watermark` columns.
    pub late: Stream<'scope, u64, Batches>,
    /// Schema of `results`.
    pub results_schema: SchemaRef,
    /// Schema of `late`.
    pub late_schema: SchemaRef,
    /// The snapshot parts this operator took and its failures, at their epochs: once
    /// written, the committer lists the parts in the epoch's commit marker, and it never
    /// commits an epoch with a failure.
    pub notes: Stream<'scope, u64, Vec<WindowNote>>,
}

/// What a window operator tells the committer about an epoch.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum WindowNote {
    /// A snapshot part to write: what it is and its bytes.
    Snapshot(StatePart, Vec<u8>),
    /// Processing or snapshotting the epoch failed.
    Failed(WorkerError),
}

/// Keyed event-time windows over a stream of Arrow batches.
pub trait WindowExt<'scope> {
    /// Aggregates `self` (batches with `schema`) per `spec`.
    ///
    /// # Errors
    /// When the spec does not fit the schema.
    fn window(
        self,
        spec: &WindowSpec,
        schema: &SchemaRef,
        setup: WindowSetup,
    ) -> Result<WindowOutputs<'scope>>
    where
        Self: Sized,
    {
        self.window_observing(spec, schema, setup, Observed::default())
    }

    /// As [`window`](Self::window), with the watermark set by the event times of the
    /// `observed` streams.
    ///
    /// # Errors
    /// When the spec does not fit the schemas, or `observed` does not hold a stream for
    /// each of the spec's `watermark_also`.
    fn window_observing(
        self,
        spec: &WindowSpec,
        schema: &SchemaRef,
        setup: WindowSetup,
        observed: Observed<'scope>,
    ) -> Result<WindowOutputs<'scope>>;
}

/// The streams whose event times set a window's watermark, when not its input alone.
#[derive(Clone, Default)]
pub struct Observed<'scope> {
    /// The stream observed instead of the input (holding the spec's time column, a
    /// query's source rows before its `WHERE`), with its schema.
    pub instead: Option<(Stream<'scope, u64, Batches>, SchemaRef)>,
    /// A stream for each of the spec's `watermark_also`, in order, with its schema.
    pub also: Vec<(Stream<'scope, u64, Batches>, SchemaRef)>,
}

impl<'scope> WindowExt<'scope> for Stream<'scope, u64, Batches> {
    fn window_observing(
        self,
        spec: &WindowSpec,
        schema: &SchemaRef,
        setup: WindowSetup,
        observed: Observed<'scope>,
    ) -> Result<WindowOutputs<'scope>> {
        let time = (spec.kind != WindowKind::Global).then_some(spec.time_column.as_str());
        let input = EventTimeInput::new(self, schema, &spec.keys, time)?.observing(
            &spec.name,
            observed,
            &spec.watermark_also,
        )?;
        let mut state = WindowState::new(spec.clone(), schema)?;
        state.count_overflows_in(setup.overflows.clone());
        event_time_operator(vec![input], state, setup, format!("Window({})", spec.name))
    }
}
