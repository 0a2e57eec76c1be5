//! The two phases of an aggregate query, so that rows are aggregated where they are read.
//!
//! DataFusion plans an aggregate as a *partial* aggregation, which turns rows into one
//! state per group (a sum and a count for `avg`, the distinct values for
//! `count(DISTINCT ..)`), under a *final* one that merges states. Spark and Flink split an
//! aggregation across workers at the same place. Each worker runs the partial part over its
//! own rows; only the states cross workers, routed by the group keys; the worker that owns
//! a key runs the final part over the states it receives. For the batch ETL's
//! `customer_metrics` that is 2 × 100K states instead of 10M rows.
//!
//! A query whose plan has no partial aggregation whose output carries the group keys under
//! their own names is not split: its rows are exchanged and aggregated whole.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::execution::SessionStateBuilder;
use datafusion::physical_optimizer::optimizer::PhysicalOptimizer;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::{EngineError, Result};

/// Which part of an aggregate query a running aggregation evaluates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// The whole query, over rows already exchanged by key.
    Whole,
    /// One state per group, from a worker's own rows.
    Partial,
    /// The output rows, from the states of the groups a worker owns.
    Final,
}

/// The DataFusion optimizer rule that fuses a partial and a final aggregation in one
/// partition; left out when the query is planned to be split.
const COMBINE_RULE: &str = "CombinePartialFinalAggregate";

/// A session for `phase`: one partition (parallelism comes from the timely workers), and
/// for a split query, the partial and final aggregations kept apart.
pub(crate) fn session(phase: Phase) -> SessionContext {
    let config = SessionConfig::new().with_target_partitions(1);
    if phase == Phase::Whole {
        return SessionContext::new_with_config(config);
    }
    let rules = PhysicalOptimizer::new()
        .rules
        .into_iter()
        .filter(|rule| rule.name() != COMBINE_RULE)
        .collect();
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_physical_optimizer_rules(rules)
        .build();
    SessionContext::new_with_state(state)
}

/// The partial aggregation that reads the query's input: the deepest one, as a query
/// may stack aggregations (DataFusion plans `count(DISTINCT x)` as a group-by on `x` under
/// the group-by on the keys).
pub(crate) fn partial(plan: &Arc<dyn ExecutionPlan>) -> Option<Arc<dyn ExecutionPlan>> {
    plan.children()
        .into_iter()
        .find_map(partial)
        .or_else(|| is_partial(plan).then(|| Arc::clone(plan)))
}

fn is_partial(plan: &Arc<dyn ExecutionPlan>) -> bool {
    plan.downcast_ref::<AggregateExec>()
        .is_some_and(|a| *a.mode() == AggregateMode::Partial)
}

/// `plan` with its [`partial`] aggregation replaced by `states`, a plan producing the same
/// states (from other workers): what remains is the final part.
///
/// # Errors
/// [`EngineError::InvalidPlan`] when the plan has no partial aggregation.
pub(crate) fn final_part(
    plan: Arc<dyn ExecutionPlan>,
    states: Arc<dyn ExecutionPlan>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let target = partial(&plan)
        .ok_or_else(|| EngineError::InvalidPlan("aggregate plan has no partial part".into()))?;
    let replaced = plan.transform_up(|node| {
        Ok(if Arc::ptr_eq(&node, &target) {
            Transformed::yes(Arc::clone(&states))
        } else {
            Transformed::no(node)
        })
    })?;
    Ok(replaced.data)
}

/// The schema of the states, when `plan` can be split and its states carry every one of
/// `keys` by name (so that they can be routed by key).
pub(crate) fn state_schema(plan: &Arc<dyn ExecutionPlan>, keys: &[String]) -> Option<SchemaRef> {
    let states = partial(plan)?.schema();
    keys.iter()
        .all(|k| states.index_of(k).is_ok())
        .then_some(states)
}
