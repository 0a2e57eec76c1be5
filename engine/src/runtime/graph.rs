//! A worker's dataflow: the plan's operators from the source's batches to the sinks'
//! writers, the window, the aggregates and the dead-letter table, all feeding the single
//! committer; plus the inputs the worker loop drives.

use std::cell::Cell;
use std::ops::Range;
use std::rc::Rc;
use std::sync::Arc;

use sluice_checkpoints::{CheckpointStore, StatePart};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::core::{Concatenate, Input, Probe};
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::{InputHandle, ProbeHandle, Scope};

use super::committer::{CommitTargets, commit_epochs};
use super::dead_routes::to_dead;
use super::driver::{BatchInput, Shared};
use super::failure::{Failure, Site, fail, failure_gate};
use super::join_tables::TableInput;
use super::marker::{InFlightEpochs, Marker, MarkerWriter};
use super::planner::{PlanInput, Received, plan_feed};
use super::state_put::put_state;
use super::writer::{EpochNote, write_to};
use crate::aggregate::AggregateExt;
use crate::batch::Batches;
use crate::error::Result;
use crate::join::{KeyedJoinExt, TableUpdates};
use crate::plan::CompiledJoin;
use crate::quality::duplicates::{self, duplicate_notes};
use crate::stateless::{StatelessExt, split_by_rules};
use crate::window::{WindowControl, WindowExt, WindowSetup};

/// What a worker shares between its dataflow and its loop.
pub(super) struct WorkerParts {
    pub(super) site: Site,
    pub(super) rt: tokio::runtime::Handle,
    pub(super) store: CheckpointStore,
    pub(super) failure: Failure,
    /// The last epoch of a bounded input, once planned.
    pub(super) final_epoch: Rc<Cell<Option<u64>>>,
    pub(super) control: Rc<WindowControl>,
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
    /// Passes an epoch once the window operator processed it on every worker, which fixes
    /// the next epoch's watermark (`None` without a window).
    pub(super) processed: Option<ProbeHandle<u64>>,
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
        control,
        in_flight,
    } = parts;
    let (site, rt, store) = (*site, rt.clone(), store.clone());
    let plan = shared.plan.clone();
    let first_epoch = shared.first_epoch;
    let snapshot_every = shared.options.snapshot_every.max(1);
    let (plans_in, received) = plan_feed(scope, shared.options.stop.clone());
    // Failures outside operators (a read) reach the committer through this input.
    let (failures_in, failures) = scope.new_input::<Vec<EpochNote>>();
    let (events_in, events) = scope.new_input::<Batches>();
    let (dead_in, dead) = scope.new_input::<Batches>();
    let mut files = vec![failures];
    let mut sink_index = 0u32;
    let sink_count = shared.sink_list.len();
    let mut next_sink = |stream, files: &mut Vec<_>| {
        let i = sink_index as usize;
        let sink = Arc::clone(&shared.sink_list[i]);
        // The dead-letter table is always the last sink.
        let tally = shared
            .options
            .metrics
            .sink_tally(sink.name(), i + 1 == sink_count);
        files.push(write_to(
            stream,
            sink_index,
            sink,
            shared.committed[i],
            failure.clone(),
            tally,
            site,
            rt.clone(),
        ));
        sink_index += 1;
    };
    if shared.has_quality_gate {
        next_sink(events.clone(), &mut files);
        // The gate is sink 0; its uniqueness rules are counted where the keys meet.
        if duplicates::any(&plan.rules) {
            files.push(duplicate_notes(
                events.clone(),
                plan.rules.clone().into(),
                0,
                shared.committed[0],
                failure.clone(),
            ));
        }
    }
    if shared.has_bronze {
        next_sink(events.clone(), &mut files);
    }
    let rules = plan.rules.clone();
    let (passed, violations) = events.split_batches("Rules", move |_, batch| {
        let (passed, violations) = split_by_rules(&rules, batch)?;
        Ok((passed, Some(violations)))
    });
    let mut passed = passed;
    let mut join_errors = Vec::new();
    let mut table_inputs = Vec::new();
    for join in plan.joins.clone() {
        match join {
            CompiledJoin::Broadcast(join) => {
                let name = format!("BroadcastJoin({})", join.name());
                let (joined, errors) = passed.map_batches(&name, move |_, batch| join.apply(batch));
                passed = joined;
                join_errors.push(errors);
            }
            CompiledJoin::Keyed(join) => {
                let (table_in, table) = scope.new_input::<TableUpdates>();
                passed = passed.keyed_join(&join, table, shared.key_groups, failure.clone())?;
                table_inputs.push((join, table_in, None));
            }
        }
    }
    let projection = plan.silver.clone();
    let (silver, silver_errors) =
        passed.map_batches("SilverColumns", move |_, batch| projection.apply(batch));
    next_sink(silver.clone(), &mut files);
    let mut dead_parts = vec![dead];
    let mut conversion_errors = Vec::new();
    let silver_errors = if join_errors.is_empty() {
        silver_errors
    } else {
        join_errors.push(silver_errors);
        scope.concatenate(join_errors)
    };
    for (stream, name) in [
        (violations, "RuleViolationsToDeadLetters"),
        (silver_errors, "SilverErrorsToDeadLetters"),
    ] {
        let (ok, errors) = to_dead(stream, name, false, &shared.dead_letters);
        dead_parts.push(ok);
        conversion_errors.push(errors);
    }
    let mut processed = None;
    if let Some(spec) = &plan.plan.window {
        let op_name = spec.name.clone();
        // Named after the key groups and the run, so that a re-run of the epoch with
        // another worker count never overwrites a part that a marker lists.
        let run_tag = xxhash_rust::xxh3::xxh3_64(shared.run_id.as_bytes()) as u32;
        let setup = WindowSetup {
            key_groups: shared.key_groups,
            restore: shared.restore.clone(),
            first_epoch,
            snapshot_every,
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
            control: Rc::clone(control),
        };
        let outputs = silver.clone().window(spec, plan.silver.schema(), setup)?;
        processed = Some(outputs.results.clone().probe().0);
        next_sink(outputs.results, &mut files);
        files.push(put_state(
            outputs.notes,
            format!("Window({})", spec.name),
            store.clone(),
            rt.clone(),
            failure.clone(),
            site,
        ));
        let (ok, errors) = to_dead(
            outputs.late,
            "LateToDeadLetters",
            true,
            &shared.dead_letters,
        );
        dead_parts.push(ok);
        conversion_errors.push(errors);
    }
    for aggregate in &plan.aggregates {
        let rows = silver.clone().aggregate_epochs(
            aggregate,
            shared.key_groups,
            first_epoch,
            rt.clone(),
            failure.clone(),
        )?;
        next_sink(rows, &mut files);
    }
    let dead_all = scope.concatenate(dead_parts);
    next_sink(dead_all, &mut files);
    let conversion_failure = failure.clone();
    scope.concatenate(conversion_errors).sink(
        Pipeline,
        "DeadLetterConversionErrors",
        move |(input, _)| {
            input.for_each(|_, container| {
                for batch in &container.batches {
                    fail(
                        &conversion_failure,
                        format!("{} rows could not become dead letters", batch.num_rows()),
                    );
                }
            });
        },
    );
    let gate_failure = failure.clone();
    let gate_control = Rc::clone(control);
    let files = failure_gate(
        scope.concatenate(files),
        first_epoch,
        site,
        Box::new(move || {
            gate_failure
                .first()
                .or_else(|| gate_control.failure.borrow().clone())
        }),
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
        has_state: plan.plan.window.is_some(),
        snapshot_every,
        gate_first: shared.has_quality_gate,
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
        tables: table_inputs,
        probe,
        processed,
    })
}
