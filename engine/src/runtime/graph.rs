//! A worker's dataflow: the plan's operators from the source's batches to the sinks'
//! writers, the window, the aggregates and the dead-letter table, all feeding the single
//! committer; plus the inputs the worker loop drives.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::ops::Range;
use std::rc::Rc;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use sluice_checkpoints::{CheckpointStore, StatePart};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::core::{Concatenate, Input, Probe};
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::{InputHandle, ProbeHandle, Scope, Stream};

use super::committer::{CommitTargets, commit_epochs};
use super::controls::WindowControls;
use super::dead_routes::to_dead;
use super::driver::Shared;
use super::failure::{Failure, Site, fail_in, failure_gate};
use super::join_tables::TableInput;
use super::marker::{InFlightEpochs, Marker, MarkerWriter};
use super::planner::{PlanInput, Received, plan_feed};
use super::sources::routed;
use super::state_put::put_state;
use super::worker::BatchInput;
use super::writer::{EpochNote, write_to};
use crate::aggregate::AggregateExt;
use crate::batch::Batches;
use crate::dedup::DedupExt;
use crate::error::Result;
use crate::join::{KeyedJoinExt, TableUpdates};
use crate::plan::{CompiledJoin, CompiledOperator, DEAD_LETTERS, SinkRole};
use crate::quality::duplicates::{self, duplicate_notes};
use crate::stateless::{StatelessExt, split_by_rules};
use crate::stream_join::StreamJoinExt;
use crate::top_n::TopNExt;
use crate::top_n::WindowTopNExt;
use crate::window::{Observed, WindowControl, WindowExt, WindowOutputs, WindowSetup};

/// What a worker shares between its dataflow and its loop.
pub(super) struct WorkerParts {
    pub(super) site: Site,
    pub(super) rt: tokio::runtime::Handle,
    pub(super) store: CheckpointStore,
    pub(super) failure: Failure,
    /// The last epoch of a bounded input, once planned.
    pub(super) final_epoch: Rc<Cell<Option<u64>>>,
    pub(super) controls: WindowControls,
    pub(super) in_flight: InFlightEpochs,
}

/// The handles of a built dataflow that the worker loop drives.
pub(super) struct Graph {
    pub(super) plans_in: PlanInput,
    pub(super) received: Received,
    /// Failures outside operators (the loop's) reach the committer through this input.
    pub(super) failures_in:
        InputHandle<u64, timely::container::CapacityContainerBuilder<Vec<EpochNote>>>,
    pub(super) events_in: BatchInput,
    pub(super) dead_in: BatchInput,
    pub(super) tables: Vec<TableInput>,
    /// Passes an epoch once it is committed.
    pub(super) probe: ProbeHandle<u64>,
    /// Each pass an epoch once a window operator processed it on every worker, which
    /// fixes the next epoch's watermark (one per window).
    pub(super) processed: Vec<ProbeHandle<u64>>,
}

/// A function of one batch, as a stateless operator applies it.
type BatchFn = Box<dyn FnMut(&RecordBatch) -> Result<RecordBatch>>;

/// A stateless operator's label and its function of one batch; rows it fails on become
/// dead letters. Only for broadcast joins, projections, filters and unnests.
fn batch_map(compiled: &CompiledOperator) -> (&'static str, BatchFn) {
    match compiled {
        CompiledOperator::Join(CompiledJoin::Broadcast(join)) => {
            let join = join.clone();
            ("BroadcastJoin", Box::new(move |batch| join.apply(batch)))
        }
        CompiledOperator::Project(projection) => {
            let projection = projection.clone();
            ("Project", Box::new(move |batch| projection.apply(batch)))
        }
        CompiledOperator::Filter(predicate) => {
            let predicate = predicate.clone();
            let filter = move |batch: &RecordBatch| {
                let keep = predicate.predicate(batch)?;
                Ok(arrow::compute::filter_record_batch(batch, &keep)?)
            };
            ("Filter", Box::new(filter))
        }
        CompiledOperator::Unnest(unnest) => {
            let unnest = unnest.clone();
            ("Unnest", Box::new(move |batch| unnest.apply(batch)))
        }
        CompiledOperator::WindowAssign(assignment) => {
            let assignment = assignment.clone();
            (
                "WindowAssign",
                Box::new(move |batch| assignment.apply(batch)),
            )
        }
        _ => unreachable!("called for stateless operators only"),
    }
}

/// How an event-time operator (state name `state`) starts, restores and names its
/// snapshot parts.
fn event_time_setup(state: &str, shared: &Shared, control: Rc<WindowControl>) -> WindowSetup {
    let op_name = state.to_owned();
    // Named after the key groups and the run, so that a re-run of the epoch with another
    // worker count never overwrites a part that a marker lists.
    let run_tag = xxhash_rust::xxh3::xxh3_64(shared.run_id.as_bytes()) as u32;
    WindowSetup {
        key_groups: shared.key_groups,
        restore: shared.restore.clone(),
        first_epoch: shared.first_epoch,
        snapshot_every: shared.options.snapshot_every.max(1),
        snapshots: Some(Arc::new(
            move |groups: Range<u32>, bytes: u64, keys: u64| StatePart {
                operator: op_name.clone(),
                part: format!("kg-{:05}-{:05}-{run_tag:08x}", groups.start, groups.end),
                first_key_group: groups.start,
                end_key_group: groups.end,
                bytes,
                keys,
            },
        )),
        control,
        overflows: shared.options.metrics.aggregate_overflows(state),
    }
}

/// The streams of an event-time operator (a window, a deduplication or a stream join)
/// reading `input` (and, for a join, its right side among `streams`), with the label of
/// its state.
fn event_time<'scope>(
    compiled: &CompiledOperator,
    input: Stream<'scope, u64, Batches>,
    streams: &BTreeMap<String, Stream<'scope, u64, Batches>>,
    shared: &Shared,
    control: Rc<WindowControl>,
) -> Result<(WindowOutputs<'scope>, String)> {
    Ok(match compiled {
        CompiledOperator::Window {
            spec,
            input: schema,
        } => {
            control
                .untimed
                .set(matches!(spec.kind, crate::window::WindowKind::Global));
            let setup = event_time_setup(&spec.name, shared, control);
            let watermarks =
                watermarks(&spec.watermark_from, &spec.watermark_also, streams, shared);
            (
                input.window_observing(spec, schema, setup, watermarks)?,
                format!("Window({})", spec.name),
            )
        }
        CompiledOperator::Dedup {
            spec,
            input: schema,
        } => {
            let setup = event_time_setup(&spec.name, shared, control);
            let watermarks =
                watermarks(&spec.watermark_from, &spec.watermark_also, streams, shared);
            (
                input.dedup_observing(spec, schema, setup, watermarks)?,
                format!("Dedup({})", spec.name),
            )
        }
        CompiledOperator::WindowTopN {
            spec,
            input: schema,
        } => {
            let setup = event_time_setup(&spec.top.name, shared, control);
            let watermarks = watermarks(&spec.watermark_from, &[], streams, shared);
            (
                input.window_top_n(spec, schema, setup, watermarks)?,
                format!("WindowTopN({})", spec.top.name),
            )
        }
        CompiledOperator::StreamJoin {
            spec,
            left,
            right,
            read,
        } => {
            let setup = event_time_setup(&spec.name, shared, control);
            let other = streams[&spec.right].clone();
            let watermarks = [
                observed(spec.left_watermark_from.as_deref(), streams, shared),
                observed(spec.right_watermark_from.as_deref(), streams, shared),
            ];
            (
                input.stream_join(other, spec, [left, right], read.as_ref(), setup, watermarks)?,
                format!("StreamJoin({})", spec.name),
            )
        }
        _ => unreachable!("called for event-time operators only"),
    })
}

/// The streams that set an event-time operator's watermark: `from` instead of its input,
/// and each of `also`.
fn watermarks<'scope>(
    from: &Option<String>,
    also: &[crate::watermark::WatermarkInput],
    streams: &BTreeMap<String, Stream<'scope, u64, Batches>>,
    shared: &Shared,
) -> Observed<'scope> {
    Observed {
        instead: observed(from.as_deref(), streams, shared),
        also: also
            .iter()
            .filter_map(|w| observed(Some(&w.stream), streams, shared))
            .collect(),
    }
}

/// The stream named `from`, with its schema: what sets an operator's watermark when it
/// is not the operator's input.
fn observed<'scope>(
    from: Option<&str>,
    streams: &BTreeMap<String, Stream<'scope, u64, Batches>>,
    shared: &Shared,
) -> Option<(Stream<'scope, u64, Batches>, arrow::datatypes::SchemaRef)> {
    let from = from?;
    let schema = shared.plan.schema(from)?;
    Some((streams.get(from)?.clone(), Arc::clone(schema)))
}

/// What the plan's operators and sinks feed as they are wired: the committer's notes,
/// the dead letters and their conversion errors, the event-time operators' probes, and
/// the table inputs of keyed joins.
struct Wiring<'scope> {
    files: Vec<Stream<'scope, u64, Vec<EpochNote>>>,
    dead_parts: Vec<Stream<'scope, u64, Batches>>,
    conversion_errors: Vec<Stream<'scope, u64, Batches>>,
    processed: Vec<ProbeHandle<u64>>,
    tables: Vec<TableInput>,
    /// The control of the next event-time operator, in plan order.
    next_control: usize,
}

impl<'scope> Wiring<'scope> {
    /// Routes `stream`'s rows (rejected, failed or `late`) by the operator `operator` to
    /// the dead-letter table, through a timely operator `<what>ToDeadLetters(<operator>)`.
    fn route_dead(
        &mut self,
        stream: Stream<'scope, u64, Batches>,
        what: &str,
        operator: &str,
        late: bool,
        shared: &Shared,
    ) {
        let label = format!("{what}ToDeadLetters({operator})");
        let (ok, errors) = to_dead(stream, &label, operator, late, &shared.dead_letters);
        self.dead_parts.push(ok);
        self.conversion_errors.push(errors);
    }

    /// Each source's stream: `events` itself for one source, else its rows routed by the
    /// stream name they carry.
    fn sources(
        &mut self,
        events: Stream<'scope, u64, Batches>,
        shared: &Shared,
    ) -> BTreeMap<String, Stream<'scope, u64, Batches>> {
        let plan = &shared.plan.plan;
        if plan.other_sources.is_empty() {
            return BTreeMap::from([(plan.source.clone(), events)]);
        }
        let mut streams = BTreeMap::new();
        for source in plan.sources() {
            let stream = source.to_owned();
            let (rows, errors) = events
                .clone()
                .map_batches(&format!("Route({source})"), move |_, batch| {
                    routed(batch, &stream)
                });
            self.route_dead(errors, "RouteErrors", source, false, shared);
            streams.insert(source.to_owned(), rows);
        }
        streams
    }

    /// The output stream of the plan operator `op` (`compiled`), reading `streams`.
    fn operator(
        &mut self,
        scope: Scope<'scope, u64>,
        op: &crate::plan::Operator,
        compiled: &CompiledOperator,
        streams: &BTreeMap<String, Stream<'scope, u64, Batches>>,
        shared: &Shared,
        parts: &WorkerParts,
    ) -> Result<Stream<'scope, u64, Batches>> {
        let (name, input) = (&op.name, streams[&op.input].clone());
        let failure = &parts.failure;
        Ok(match compiled {
            CompiledOperator::Rules(rules) => {
                let rules = rules.clone();
                let (passed, violations) =
                    input.split_batches(&format!("Rules({name})"), move |_, batch| {
                        let (passed, violations) = split_by_rules(&rules, batch)?;
                        Ok((passed, Some(violations)))
                    });
                self.route_dead(violations, "RuleViolations", name, false, shared);
                passed
            }
            CompiledOperator::Join(CompiledJoin::Keyed(join)) => {
                let (table_in, table) = scope.new_input::<TableUpdates>();
                let joined = input.keyed_join(join, table, shared.key_groups, failure.clone())?;
                self.tables.push((join.clone(), table_in, None));
                joined
            }
            CompiledOperator::Join(CompiledJoin::Broadcast(_))
            | CompiledOperator::Project(_)
            | CompiledOperator::Filter(_)
            | CompiledOperator::Unnest(_)
            | CompiledOperator::WindowAssign(_) => {
                let (kind, mut f) = batch_map(compiled);
                // A failing row goes to the dead letters alone, not with its batch.
                let operator = name.to_owned();
                let (output, errors) = input
                    .split_batches(&format!("{kind}({name})"), move |_, batch| {
                        crate::stateless::isolating(&operator, &mut f, batch)
                    });
                self.route_dead(errors, &format!("{kind}Errors"), name, false, shared);
                output
            }
            CompiledOperator::Window { .. }
            | CompiledOperator::Dedup { .. }
            | CompiledOperator::WindowTopN { .. }
            | CompiledOperator::StreamJoin { .. } => {
                let control = Rc::clone(&parts.controls.0[self.next_control]);
                self.next_control += 1;
                let (outputs, label) = event_time(compiled, input, streams, shared, control)?;
                self.processed.push(outputs.results.clone().probe().0);
                self.files.push(put_state(
                    outputs.notes,
                    label,
                    parts.store.clone(),
                    parts.rt.clone(),
                    failure.clone(),
                    parts.site,
                ));
                self.route_dead(outputs.late, "Late", name, true, shared);
                outputs.results
            }
            CompiledOperator::Union(union) => {
                let crate::plan::OperatorKind::Union { others } = &op.kind else {
                    unreachable!("compiled from a union")
                };
                let mut all = vec![input];
                all.extend(others.iter().map(|o| streams[o].clone()));
                let union = union.clone();
                let (output, errors) = scope
                    .concatenate(all)
                    .map_batches(&format!("Union({name})"), move |_, batch| {
                        union.apply(batch)
                    });
                self.route_dead(errors, "UnionErrors", name, false, shared);
                output
            }
            CompiledOperator::TopN {
                spec,
                input: schema,
            } => input.top_n_per_epoch(
                spec,
                schema,
                shared.key_groups,
                shared.first_epoch,
                failure.clone(),
            )?,
            CompiledOperator::Aggregate(aggregate) => input.aggregate_epochs(
                aggregate,
                shared.key_groups,
                shared.first_epoch,
                parts.rt.clone(),
                failure.clone(),
            )?,
        })
    }

    /// Writes each sink's stream (the quality gate also counting its uniqueness rules),
    /// the written files going to the committer.
    fn sinks(
        &mut self,
        streams: &BTreeMap<String, Stream<'scope, u64, Batches>>,
        shared: &Shared,
        parts: &WorkerParts,
    ) {
        let plan = &shared.plan;
        for (i, node) in plan.plan.sinks.iter().enumerate() {
            let stream = streams[&node.input].clone();
            let sink = Arc::clone(&shared.sink_list[i]);
            let dead_letters = node.role == SinkRole::DeadLetters;
            let tally = shared.options.metrics.sink_tally(sink.name(), dead_letters);
            if let SinkRole::QualityGate { rules } = node.role {
                // The gate's uniqueness rules are counted where the keys meet.
                let rules = plan
                    .rules(rules)
                    .expect("validated: the gate measures rules");
                if duplicates::any(rules) {
                    self.files.push(duplicate_notes(
                        stream.clone(),
                        rules.to_vec().into(),
                        i as u32,
                        shared.committed[i],
                        parts.failure.clone(),
                    ));
                }
            }
            self.files.push(write_to(
                stream,
                i as u32,
                sink,
                shared.committed[i],
                parts.failure.clone(),
                tally,
                parts.site,
                parts.rt.clone(),
            ));
        }
    }
}

/// Builds the worker's dataflow in `scope`.
///
/// # Errors
/// When an operator's spec does not fit its input (a bad plan).
pub(super) fn build(scope: Scope<'_, u64>, shared: &Shared, parts: &WorkerParts) -> Result<Graph> {
    let WorkerParts {
        site,
        rt,
        store,
        failure,
        final_epoch,
        controls,
        in_flight,
    } = parts;
    let plan = shared.plan.clone();
    let first_epoch = shared.first_epoch;
    let (plans_in, received) = plan_feed(scope, shared.options.stop.clone());
    // Failures outside operators (a read) reach the committer through this input.
    let (failures_in, failures) = scope.new_input::<Vec<EpochNote>>();
    let (events_in, events) = scope.new_input::<Batches>();
    let (dead_in, dead) = scope.new_input::<Batches>();
    let mut wiring = Wiring {
        files: vec![failures],
        dead_parts: vec![dead],
        conversion_errors: Vec::new(),
        processed: Vec::new(),
        tables: Vec::new(),
        next_control: 0,
    };
    // Every named stream of the plan: the sources' rows, then each operator's output.
    let mut streams = wiring.sources(events, shared);
    for (op, compiled) in plan.plan.operators.iter().zip(&plan.operators) {
        let output = wiring.operator(scope, op, compiled, &streams, shared, parts)?;
        streams.insert(op.name.clone(), output);
    }
    let dead_parts = std::mem::take(&mut wiring.dead_parts);
    streams.insert(DEAD_LETTERS.to_owned(), scope.concatenate(dead_parts));
    wiring.sinks(&streams, shared, parts);
    let Wiring {
        files,
        conversion_errors,
        processed,
        tables,
        ..
    } = wiring;
    let conversion_failure = failure.clone();
    scope.concatenate(conversion_errors).sink(
        Pipeline,
        "DeadLetterConversionErrors",
        move |(input, _)| {
            input.for_each(|cap, container| {
                for batch in &container.batches {
                    fail_in(
                        &conversion_failure,
                        "DeadLetterConversionErrors",
                        cap.least().copied().unwrap_or_default(),
                        &format!("{} rows could not become dead letters", batch.num_rows()),
                    );
                }
            });
        },
    );
    let gate_failure = failure.clone();
    let gate_controls = controls.clone();
    let files = failure_gate(
        scope.concatenate(files),
        first_epoch,
        *site,
        Box::new(move || gate_failure.first().or_else(|| gate_controls.failure())),
    );
    let on_committed = Marker {
        in_flight: Rc::clone(in_flight),
        source: Arc::clone(&shared.source),
        metrics: shared.options.metrics.clone(),
    }
    .into_callback();
    let targets = CommitTargets {
        sinks: shared.sink_list.clone(),
        metrics: shared.options.metrics.clone(),
        key_groups: shared.key_groups,
        marker: MarkerWriter {
            store: store.clone(),
            runtime: rt.clone(),
            keep_snapshots: shared.options.keep_snapshots.max(1),
            marked_before: shared.marked_before,
        },
        abort: Arc::clone(&shared.abort),
        has_state: plan.plan.event_time_operators().next().is_some(),
        snapshot_every: shared.options.snapshot_every.max(1),
        gate_first: plan
            .plan
            .sinks
            .first()
            .is_some_and(|s| matches!(s.role, SinkRole::QualityGate { .. })),
    };
    let committed = commit_epochs(
        files,
        targets,
        first_epoch,
        Rc::clone(final_epoch),
        on_committed,
        failure.clone(),
        rt.clone(),
        (shared.starts.clone(), Rc::clone(in_flight)),
    );
    let (probe, _) = committed.probe();
    Ok(Graph {
        plans_in,
        received,
        failures_in,
        events_in,
        dead_in,
        tables,
        probe,
        processed,
    })
}
