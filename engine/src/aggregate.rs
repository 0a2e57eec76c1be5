//! Group-by aggregates over each epoch's rows (non-windowed aggregation), for tables that a
//! sink MERGEs into (`t.total + s.total`) or appends per epoch, as Spark's `foreachBatch`
//! with a `groupBy` does.
//!
//! The query is DataFusion SQL (aggregate expressions such as `sum(revenue)`,
//! `count(DISTINCT customer_id)` or `max(sale_time)`), fed while the rows arrive, so a
//! worker holds group state rather than rows. It runs in two [phases](phase): every worker
//! aggregates its own rows into one state per group; the states are exchanged by a hash of
//! the group keys, so every worker owns whole groups; when the epoch is complete, the owner
//! merges them and emits one row per group, ordered by the keys. (A query that cannot be
//! split exchanges its rows instead and runs whole on the owner.) Nothing is kept
//! across epochs, so there is no state to snapshot: a replayed epoch recomputes the same
//! rows from the same logged input.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::TreeNode;
use datafusion::datasource::MemTable;
use datafusion::logical_expr::LogicalPlan;
use serde::{Deserialize, Serialize};
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::{ParallelizationContract, Pipeline};
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::operator::Operator;

use crate::batch::Batches;
use crate::epoch::complete_before;
use crate::error::{EngineError, Result};
use crate::key::{KeyColumns, key_pact};
use crate::runtime::failure::{Failure, fail_in};

mod phase;
mod running;

use phase::Phase;
use running::RunningAggregation;

/// A named group-by over each epoch's silver rows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggregateSpec {
    /// Operator name; also the output table's name.
    pub name: String,
    /// Grouping columns (a null key is a group of its own).
    pub keys: Vec<String>,
    /// Rows to aggregate: a SQL predicate over the input (all rows when absent).
    pub filter: Option<String>,
    /// Output columns `(name, SQL aggregate expression)`, after the keys.
    pub columns: Vec<(String, String)>,
}

/// Quotes an identifier for DataFusion SQL.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The name the input goes by in the aggregate query.
const INPUT: &str = "epoch_rows";

/// An [`AggregateSpec`] planned against its input schema.
#[derive(Clone, Debug)]
pub struct EpochAggregate {
    spec: AggregateSpec,
    sql: String,
    /// The input columns the query reads (the rest are not exchanged).
    needed: Vec<usize>,
    input_schema: SchemaRef,
    output_schema: SchemaRef,
    /// The partial states' schema, when the query runs in two phases.
    states: Option<SchemaRef>,
}

impl EpochAggregate {
    /// Plans `spec` over rows with `schema`.
    ///
    /// # Errors
    /// [`EngineError::Expression`] when the query does not plan (unknown columns, a
    /// non-aggregate expression, a bad filter), [`EngineError::InvalidPlan`] without keys
    /// or columns.
    pub fn new(spec: AggregateSpec, schema: &SchemaRef) -> Result<Self> {
        if spec.columns.is_empty() {
            return Err(EngineError::InvalidPlan(format!(
                "aggregate `{}` has no columns",
                spec.name
            )));
        }
        KeyColumns::resolve(schema, &spec.keys)?;
        let keys: Vec<String> = spec.keys.iter().map(|k| quote(k)).collect();
        let mut select = keys.clone();
        select.extend(
            spec.columns
                .iter()
                .map(|(name, sql)| format!("{sql} AS {}", quote(name))),
        );
        let mut sql = format!("SELECT {} FROM {INPUT}", select.join(", "));
        if let Some(filter) = &spec.filter {
            sql.push_str(&format!(" WHERE {filter}"));
        }
        if !keys.is_empty() {
            sql.push_str(&format!(
                " GROUP BY {k} ORDER BY {k} NULLS FIRST",
                k = keys.join(", ")
            ));
        }
        let wrap = |source| EngineError::Expression {
            sql: sql.clone(),
            source: Box::new(source),
        };
        let ctx = phase::session(Phase::Partial);
        let empty = MemTable::try_new(Arc::clone(schema), vec![vec![]]).map_err(wrap)?;
        ctx.register_table(INPUT, Arc::new(empty)).map_err(wrap)?;
        let state = ctx.state();
        let plan = futures::executor::block_on(state.create_logical_plan(&sql)).map_err(wrap)?;
        let output_schema: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
        let optimized = state.optimize(&plan).map_err(wrap)?;
        let needed = scanned_columns(&optimized, schema);
        let physical =
            futures::executor::block_on(state.create_physical_plan(&plan)).map_err(wrap)?;
        let states = phase::state_schema(&physical, &spec.keys);
        Ok(Self {
            spec,
            sql,
            needed,
            input_schema: Arc::clone(schema),
            output_schema,
            states,
        })
    }

    /// The spec.
    pub fn spec(&self) -> &AggregateSpec {
        &self.spec
    }

    /// The rows it emits: the keys, then the aggregate columns.
    pub fn output_schema(&self) -> &SchemaRef {
        &self.output_schema
    }

    /// The input columns it reads, in input order.
    fn needed_schema(&self) -> SchemaRef {
        Arc::new(
            self.input_schema
                .project(&self.needed)
                .unwrap_or_else(|_| Schema::empty()),
        )
    }

    /// Keeps only the columns the query reads.
    fn narrow(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        Ok(batch.project(&self.needed)?)
    }
}

/// The columns of `schema` that the optimized plan's scan reads (all when it is not found).
fn scanned_columns(plan: &LogicalPlan, schema: &SchemaRef) -> Vec<usize> {
    let mut found: Option<Vec<usize>> = None;
    let _ = plan.apply(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            found = Some(
                scan.projected_schema
                    .fields()
                    .iter()
                    .filter_map(|f| schema.index_of(f.name()).ok())
                    .collect(),
            );
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    });
    let mut needed = found.unwrap_or_else(|| (0..schema.fields().len()).collect());
    needed.sort_unstable();
    needed.dedup();
    needed
}

/// Group-by aggregation of a stream of Arrow batches, epoch by epoch.
pub trait AggregateExt<'scope> {
    /// Aggregates each epoch of `self` per `aggregate`; DataFusion runs on `runtime`, and
    /// failures go to `failure`, which the worker loop checks.
    ///
    /// # Errors
    /// When the keys do not fit the input schema.
    fn aggregate_epochs(
        self,
        aggregate: &EpochAggregate,
        key_groups: u32,
        first_epoch: u64,
        runtime: tokio::runtime::Handle,
        failure: Failure,
    ) -> Result<Stream<'scope, u64, Batches>>;
}

impl<'scope> AggregateExt<'scope> for Stream<'scope, u64, Batches> {
    fn aggregate_epochs(
        self,
        aggregate: &EpochAggregate,
        key_groups: u32,
        first_epoch: u64,
        runtime: tokio::runtime::Handle,
        failure: Failure,
    ) -> Result<Stream<'scope, u64, Batches>> {
        let name = aggregate.spec.name.clone();
        // Narrow the rows before they are aggregated or cross workers.
        let narrowing = aggregate.clone();
        let narrow_failure = failure.clone();
        let narrowed = self.unary::<timely::container::CapacityContainerBuilder<Batches>, _, _, _>(
            Pipeline,
            &format!("AggregateColumns({name})"),
            move |_, _| {
                move |input, output| {
                    input.for_each(|cap, container| {
                        let mut out = Batches::default();
                        for batch in &container.batches {
                            match narrowing.narrow(batch) {
                                Ok(b) => out.batches.push(b),
                                Err(e) => fail_in(
                                    &narrow_failure,
                                    format!("aggregate {}", narrowing.spec.name),
                                    cap.least().copied().unwrap_or_default(),
                                    &e,
                                ),
                            }
                        }
                        if !out.batches.is_empty() {
                            output.session(&cap).give_container(&mut out);
                        }
                    });
                }
            },
        );
        let run = EpochQuery {
            aggregate: aggregate.clone(),
            first_epoch,
            runtime,
            failure,
        };
        Ok(match &aggregate.states {
            Some(states) => {
                let keys = KeyColumns::resolve(states, &aggregate.spec.keys)?;
                let states = run.clone().operator(
                    narrowed,
                    format!("PartialAggregate({name})"),
                    Pipeline,
                    Phase::Partial,
                );
                run.operator(
                    states,
                    format!("Aggregate({name})"),
                    key_pact(&keys, key_groups)?,
                    Phase::Final,
                )
            }
            None => {
                let keys = KeyColumns::resolve(&aggregate.needed_schema(), &aggregate.spec.keys)?;
                run.operator(
                    narrowed,
                    format!("Aggregate({name})"),
                    key_pact(&keys, key_groups)?,
                    Phase::Whole,
                )
            }
        })
    }
}

/// What every phase's operator needs.
#[derive(Clone)]
struct EpochQuery {
    aggregate: EpochAggregate,
    first_epoch: u64,
    runtime: tokio::runtime::Handle,
    failure: Failure,
}

impl EpochQuery {
    /// An operator named `name` that runs `phase` of the query over each epoch of `input`
    /// (which arrives through `pact`) and emits its output once the epoch is complete:
    /// partial states as they come, output rows as one batch.
    fn operator<'scope, P>(
        self,
        input: Stream<'scope, u64, Batches>,
        name: String,
        pact: P,
        phase: Phase,
    ) -> Stream<'scope, u64, Batches>
    where
        P: ParallelizationContract<u64, Batches>,
    {
        let Self {
            aggregate,
            first_epoch,
            runtime,
            failure,
        } = self;
        let scope = input.scope();
        let mut builder = OperatorBuilder::new(name.clone(), scope);
        let mut input = builder.new_input(input, pact);
        let (out, stream) = builder.new_output::<Batches>();
        let mut out = OutputBuilder::from(out);
        builder.build(move |capabilities| {
            let mut caps = capabilities;
            for cap in caps.iter_mut() {
                cap.downgrade(&first_epoch);
            }
            let mut next = first_epoch;
            // Each epoch's query runs while its rows arrive.
            let mut running: BTreeMap<u64, RunningAggregation> = BTreeMap::new();
            move |frontiers| {
                input.for_each(|cap, container| {
                    if let Some(&t) = cap.least() {
                        let query = running.entry(t).or_insert_with(|| {
                            RunningAggregation::start(&aggregate, phase, &runtime)
                        });
                        for batch in std::mem::take(&mut container.batches) {
                            if batch.num_rows() > 0 {
                                query.push(batch);
                            }
                        }
                    }
                });
                if caps.is_empty() {
                    return;
                }
                let frontier = frontiers[0].frontier().first().copied();
                let limit = complete_before(frontier, None, running.keys().last().copied(), next);
                let mut handle = out.activate();
                while next < limit {
                    let epoch = next;
                    if let Some(query) = running.remove(&epoch) {
                        let output = query.finish(&runtime).and_then(|batches| {
                            if phase == Phase::Partial || batches.is_empty() {
                                return Ok(batches);
                            }
                            let rows =
                                arrow::compute::concat_batches(&aggregate.output_schema, &batches)?;
                            Ok(vec![rows])
                        });
                        match output {
                            Ok(batches) if batches.is_empty() => {}
                            Ok(batches) => {
                                let cap = caps[0].delayed(&epoch);
                                handle
                                    .session(&cap)
                                    .give_container(&mut Batches { batches });
                            }
                            Err(e) => fail_in(&failure, name.clone(), epoch, &e),
                        }
                    }
                    next = epoch + 1;
                    for cap in caps.iter_mut() {
                        cap.downgrade(&next);
                    }
                }
                if frontier.is_none() && running.is_empty() {
                    caps.clear();
                }
            }
        });
        stream
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, Float64Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field};

    fn input() -> (SchemaRef, RecordBatch) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("tier", DataType::Utf8, true),
            Field::new("customer", DataType::Int64, true),
            Field::new("revenue", DataType::Float64, true),
            Field::new("unused", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from(vec![
                    Some("b"),
                    None,
                    Some("a"),
                    Some("b"),
                    None,
                ])),
                Arc::new(Int64Array::from(vec![
                    Some(1),
                    Some(2),
                    None,
                    Some(1),
                    Some(3),
                ])),
                Arc::new(Float64Array::from(vec![1.0, 2.0, 4.0, 8.0, 16.0])),
                Arc::new(StringArray::from(vec!["x"; 5])),
            ],
        )
        .unwrap();
        (schema, batch)
    }

    fn spec(filter: Option<&str>) -> AggregateSpec {
        AggregateSpec {
            name: "by_tier".into(),
            keys: vec!["tier".into()],
            filter: filter.map(str::to_string),
            columns: vec![
                ("n".into(), "count(*)".into()),
                ("total".into(), "sum(revenue)".into()),
                ("customers".into(), "count(DISTINCT customer)".into()),
            ],
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap()
    }

    /// Feeds `batches` to `phase` of a running aggregation from this (non-runtime) thread.
    fn run_phase(
        agg: &EpochAggregate,
        phase: Phase,
        batches: Vec<RecordBatch>,
    ) -> Vec<RecordBatch> {
        let runtime = runtime();
        let mut query = RunningAggregation::start(agg, phase, runtime.handle());
        for batch in batches {
            query.push(batch);
        }
        query.finish(runtime.handle()).unwrap()
    }

    /// The query over `batches` in two phases, as two workers run it: each half of the
    /// batches aggregated apart, and the states of both merged by one owner.
    fn run(agg: &EpochAggregate, batches: Vec<RecordBatch>) -> Option<RecordBatch> {
        let half = batches.len() / 2;
        let mut states = run_phase(agg, Phase::Partial, batches[..half].to_vec());
        states.extend(run_phase(agg, Phase::Partial, batches[half..].to_vec()));
        let out = run_phase(agg, Phase::Final, states);
        assert!(out.len() <= 1, "one batch of rows");
        out.into_iter().next()
    }

    #[test]
    fn a_query_error_surfaces_at_the_end_of_the_epoch() {
        let (schema, batch) = input();
        let mut overflow = spec(None);
        overflow.columns = vec![("x".into(), "sum(CAST(tier AS INT))".into())];
        let agg = EpochAggregate::new(overflow, &schema).unwrap();
        let runtime = runtime();
        let mut query = RunningAggregation::start(&agg, Phase::Partial, runtime.handle());
        // More batches than the channel holds: a failed query must not block the feeder.
        for _ in 0..10 {
            query.push(agg.narrow(&batch).unwrap());
        }
        let err = query.finish(runtime.handle()).unwrap_err();
        assert!(err.to_string().contains("Cast"), "{err}");
    }

    #[test]
    fn groups_with_null_keys_in_key_order_and_reads_only_needed_columns() {
        let (schema, batch) = input();
        let agg = EpochAggregate::new(spec(None), &schema).unwrap();
        assert_eq!(agg.needed, vec![0, 1, 2]);
        let names: Vec<&str> = agg
            .output_schema()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(names, ["tier", "n", "total", "customers"]);
        // The rows arrive in two batches, as a worker feeds them.
        let narrowed = agg.narrow(&batch).unwrap();
        let out = run(&agg, vec![narrowed.slice(0, 2), narrowed.slice(2, 3)]).unwrap();
        let tier = out
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert!(tier.is_null(0));
        assert_eq!((tier.value(1), tier.value(2)), ("a", "b"));
        let n = out.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(n.values(), &[2, 1, 2]);
        let total = out
            .column(2)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!(total.values(), &[18.0, 4.0, 9.0]);
        let distinct = out.column(3).as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(distinct.values(), &[2, 0, 1]);
    }

    #[test]
    fn two_phases_equal_the_whole_query() {
        let (schema, batch) = input();
        let mut with_avg = spec(None);
        with_avg
            .columns
            .push(("mean".into(), "avg(revenue)".into()));
        with_avg
            .columns
            .push(("top".into(), "max(customer)".into()));
        let agg = EpochAggregate::new(with_avg, &schema).unwrap();
        let states = agg.states.clone().expect("a plain group-by splits");
        assert_eq!(states.field(0).name(), "tier");
        let narrowed = agg.narrow(&batch).unwrap();
        // One row per batch: both halves hold rows of group `b` and of the null group.
        let rows: Vec<RecordBatch> = (0..narrowed.num_rows())
            .map(|i| narrowed.slice(i, 1))
            .collect();
        let whole = run_phase(&agg, Phase::Whole, rows.clone());
        assert_eq!(whole.len(), 1);
        assert_eq!(run(&agg, rows).unwrap(), whole[0]);
    }

    #[test]
    fn filter_applies_before_grouping() {
        let (schema, batch) = input();
        let agg = EpochAggregate::new(spec(Some("customer IS NOT NULL")), &schema).unwrap();
        let out = run(&agg, vec![agg.narrow(&batch).unwrap()]).unwrap();
        assert_eq!(out.num_rows(), 2, "group `a` has no row left");
    }

    #[test]
    fn bad_expressions_are_user_errors() {
        let (schema, _) = input();
        let mut bad = spec(None);
        bad.columns.push(("x".into(), "sum(nope)".into()));
        let err = EpochAggregate::new(bad, &schema).unwrap_err();
        assert!(matches!(err, EngineError::Expression { .. }), "{err}");
        let mut unknown_key = spec(None);
        unknown_key.keys = vec!["nope".into()];
        let err = EpochAggregate::new(unknown_key, &schema).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
