//! The timely operators of a window aggregation: a max-event-time observer, all-reduced by
//! broadcast, and the keyed window operator itself.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::ops::Range;
use std::rc::Rc;
use std::sync::Arc;

use arrow::array::TimestampMicrosecondArray;
use arrow::compute::{cast, max};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use sluice_checkpoints::StatePart;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::operator::Operator;
use timely::progress::frontier::MutableAntichain;

use super::WindowSpec;
use super::state::WindowState;
use crate::batch::Batches;
use crate::epoch::complete_before;
use crate::error::Result;
use crate::key::{KeyColumns, key_pact, owned_groups};
use crate::watermark::Watermark;

/// Names the snapshot part of `(key groups, bytes)`; the part itself is written by whoever
/// receives the [`WindowNote::Snapshot`] (off the worker thread, in the runtime).
pub type PartNamer = Arc<dyn Fn(Range<u32>, u64, u64) -> StatePart>;

/// Shared between a worker's window operator and the loop that drives the worker.
#[derive(Debug, Default)]
pub struct WindowControl {
    /// The last epoch of a bounded input; processing it flushes every window.
    pub final_epoch: Cell<Option<u64>>,
    /// The watermark bookkeeping after the last processed epoch.
    pub watermark: RefCell<Watermark>,
    /// Late records routed so far on this worker.
    pub late_records: Cell<u64>,
    /// A failure the driver must surface (snapshot writes).
    pub failure: RefCell<Option<String>>,
    /// Event times (µs) that idle epochs count as seen, by epoch, as logged with them.
    pub idle_max: RefCell<BTreeMap<u64, i64>>,
}

/// How a window operator starts and checkpoints.
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
    Failed(String),
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
    ) -> Result<WindowOutputs<'scope>>;
}

impl<'scope> WindowExt<'scope> for Stream<'scope, u64, Batches> {
    fn window(
        self,
        spec: &WindowSpec,
        schema: &SchemaRef,
        setup: WindowSetup,
    ) -> Result<WindowOutputs<'scope>> {
        let mut state = WindowState::new(spec.clone(), schema)?;
        let keys = KeyColumns::resolve(schema, &spec.keys)?;
        let maxima = observe_max(self.clone(), &spec.time_column, schema)?;
        let scope = self.scope();
        let index = scope.index();
        let peers = scope.peers();
        let owned = owned_groups(index, setup.key_groups, peers);
        if !setup.restore.is_empty() {
            let mine: Vec<&bytes::Bytes> = setup
                .restore
                .iter()
                .filter(|(part, _)| part.operator == spec.name && part.overlaps(&owned))
                .map(|(_, bytes)| bytes)
                .collect();
            state.restore(&mine, owned.clone())?;
        }
        *setup.control.watermark.borrow_mut() = state.watermark().clone();
        let results_schema = Arc::clone(state.output_schema());
        let late_schema = Arc::clone(state.late_schema());

        let mut builder = OperatorBuilder::new(format!("Window({})", spec.name), scope);
        let mut data = builder.new_input(self, key_pact(&keys, setup.key_groups)?);
        let mut maxima = builder.new_input(maxima, Pipeline);
        let (results_out, results) = builder.new_output::<Batches>();
        let (late_out, late) = builder.new_output::<Batches>();
        let (parts_out, notes) = builder.new_output::<Vec<WindowNote>>();
        let mut results_out = OutputBuilder::from(results_out);
        let mut late_out = OutputBuilder::from(late_out);
        let mut parts_out = OutputBuilder::from(parts_out);
        let name = spec.name.clone();

        builder.build(move |capabilities| {
            let mut caps = capabilities;
            for cap in caps.iter_mut() {
                cap.downgrade(&setup.first_epoch);
            }
            let mut next = setup.first_epoch;
            let mut stash: BTreeMap<u64, Vec<RecordBatch>> = BTreeMap::new();
            let mut epoch_max: BTreeMap<u64, i64> = BTreeMap::new();
            move |frontiers: &[MutableAntichain<u64>]| {
                data.for_each(|cap, container| {
                    if let Some(&t) = cap.least() {
                        stash
                            .entry(t)
                            .or_default()
                            .extend(std::mem::take(&mut container.batches));
                    }
                });
                maxima.for_each(|cap, container| {
                    if let Some(&t) = cap.least() {
                        for &(_, m) in container.iter() {
                            let e = epoch_max.entry(t).or_insert(m);
                            *e = (*e).max(m);
                        }
                    }
                });
                if caps.is_empty() {
                    return;
                }
                let final_epoch = setup.control.final_epoch.get();
                let frontier = frontiers
                    .iter()
                    .filter_map(|f| f.frontier().first().copied())
                    .min();
                let limit =
                    complete_before(frontier, final_epoch, stash.keys().last().copied(), next);
                let mut results_handle = results_out.activate();
                let mut late_handle = late_out.activate();
                let mut parts_handle = parts_out.activate();
                while next < limit {
                    let e = next;
                    let mut batches = stash.remove(&e).unwrap_or_default();
                    state.canonical_order(&mut batches);
                    let flush = final_epoch == Some(e);
                    state.begin_epoch();
                    let mut late_rows = Vec::new();
                    let mut failures = Vec::new();
                    for batch in &batches {
                        match state.absorb(batch) {
                            Ok(Some(late)) => late_rows.push(late),
                            Ok(None) => {}
                            Err(err) => failures.push(err.to_string()),
                        }
                    }
                    let idle = setup.control.idle_max.borrow_mut().remove(&e);
                    let max = match (epoch_max.remove(&e), idle) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        (a, b) => a.or(b),
                    };
                    match state.finish_epoch(max, flush) {
                        Ok(out) => {
                            if let Some(results) = out.results {
                                let cap = caps[0].delayed(&e);
                                results_handle
                                    .session(&cap)
                                    .give_container(&mut Batches::one(results));
                            }
                        }
                        Err(err) => failures.push(err.to_string()),
                    }
                    if !late_rows.is_empty() {
                        let count: usize = late_rows.iter().map(RecordBatch::num_rows).sum();
                        let control = &setup.control;
                        control
                            .late_records
                            .set(control.late_records.get() + count as u64);
                        let cap = caps[1].delayed(&e);
                        late_handle
                            .session(&cap)
                            .give_container(&mut Batches { batches: late_rows });
                    }
                    if (flush
                        || (setup.snapshot_every > 0 && e.is_multiple_of(setup.snapshot_every)))
                        && let Some(namer) = &setup.snapshots
                    {
                        match state.snapshot(setup.key_groups) {
                            Ok(bytes) => {
                                let part = namer(
                                    owned.clone(),
                                    bytes.len() as u64,
                                    state.open_entries() as u64,
                                );
                                let cap = caps[2].delayed(&e);
                                parts_handle
                                    .session(&cap)
                                    .give(WindowNote::Snapshot(part, bytes));
                            }
                            Err(err) => failures.push(format!("snapshot: {err}")),
                        }
                    }
                    if !failures.is_empty() {
                        let cap = caps[2].delayed(&e);
                        let mut session = parts_handle.session(&cap);
                        for failure in failures {
                            fail(&setup.control, format!("window {name}: {failure}"));
                            session.give(WindowNote::Failed(failure));
                        }
                    }
                    *setup.control.watermark.borrow_mut() = state.watermark().clone();
                    next = e + 1;
                    for cap in caps.iter_mut() {
                        cap.downgrade(&next);
                    }
                    if flush {
                        caps.clear();
                        break;
                    }
                }
                if frontiers.iter().all(|f| f.frontier().is_empty()) && stash.is_empty() {
                    caps.clear();
                }
            }
        });
        Ok(WindowOutputs {
            results,
            late,
            results_schema,
            late_schema,
            notes,
        })
    }
}

fn fail(control: &WindowControl, message: String) {
    tracing::error!(%message, "window operator failed");
    control.failure.borrow_mut().get_or_insert(message);
}

/// Each worker's max event time per epoch, sent to every worker (an all-reduce by
/// broadcast): every window operator then derives the same watermark.
fn observe_max<'scope>(
    stream: Stream<'scope, u64, Batches>,
    time_column: &str,
    schema: &SchemaRef,
) -> Result<Stream<'scope, u64, Vec<(u64, i64)>>> {
    let index = schema
        .index_of(time_column)
        .map_err(|_| crate::key::unknown_column(schema, time_column))?;
    let peers = stream.scope().peers() as u64;
    let local = stream.unary::<CapacityContainerBuilder<Vec<(u64, i64)>>, _, _, _>(
        Pipeline,
        "ObserveMaxEventTime",
        move |_, _| {
            move |input, output| {
                input.for_each(|cap, container| {
                    let mut best: Option<i64> = None;
                    for batch in &container.batches {
                        let Ok(times) = cast(
                            batch.column(index),
                            &DataType::Timestamp(TimeUnit::Microsecond, None),
                        ) else {
                            continue;
                        };
                        let times = times
                            .as_any()
                            .downcast_ref::<TimestampMicrosecondArray>()
                            .expect("cast to timestamp(us)");
                        if let Some(m) = max(times) {
                            best = Some(best.map_or(m, |b| b.max(m)));
                        }
                    }
                    if let Some(m) = best {
                        let mut session = output.session(&cap);
                        for peer in 0..peers {
                            session.give((peer, m));
                        }
                    }
                });
            }
        },
    );
    Ok(
        local.unary::<CapacityContainerBuilder<Vec<(u64, i64)>>, _, _, _>(
            Exchange::new(|x: &(u64, i64)| x.0),
            "AllReduceMaxEventTime",
            |_, _| {
                move |input, output| {
                    input.for_each(|cap, container| {
                        output.session(&cap).give_container(container);
                    })
                }
            },
        ),
    )
}
