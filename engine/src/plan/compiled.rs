//! A [`Plan`] compiled against its source's schema: every operator's expressions, joins and
//! output schema, checked before the job starts.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use super::{KeyCheck, Operator, OperatorKind, Plan, RuleSet};
use crate::aggregate::EpochAggregate;
use crate::dedup::{DedupSpec, DedupState};
use crate::error::{EngineError, Result};
use crate::expr::SqlExpr;
use crate::join::{BroadcastJoin, JoinKind, JoinSpec, JoinStrategy, KeyedJoin};
use crate::stateless::{Check, Projection, Rule, UniqueKeys};
use crate::stream_join::{StreamJoinSpec, StreamJoinState};
use crate::table_feed::TableFeed;
use crate::top_n::TopNSpec;
use crate::union::Union;
use crate::unnest::Unnest;
use crate::window::{WindowSpec, WindowState};

/// The tables a plan's joins and reference rules read, by name.
#[derive(Clone, Default)]
pub struct StaticInputs {
    /// Whole tables: a broadcast join's by the join's name, a `references` rule's by the
    /// rule's name.
    pub tables: BTreeMap<String, RecordBatch>,
    /// The table side of each keyed join, by the join's name.
    pub feeds: BTreeMap<String, Arc<dyn TableFeed>>,
}

/// A join of a compiled plan.
#[derive(Clone, Debug)]
pub enum CompiledJoin {
    /// A broadcast join, holding its whole table.
    Broadcast(BroadcastJoin),
    /// A keyed join, fed from its table's versions.
    Keyed(KeyedJoin),
}

impl CompiledJoin {
    /// The joined schema.
    pub fn schema(&self) -> &SchemaRef {
        match self {
            Self::Broadcast(j) => j.schema(),
            Self::Keyed(j) => j.schema(),
        }
    }
}

/// An operator of a compiled plan, parallel to [`Plan::operators`].
#[derive(Clone, Debug)]
pub enum CompiledOperator {
    /// Compiled rules, in order.
    Rules(Vec<Rule>),
    /// A join with its table.
    Join(CompiledJoin),
    /// A projection.
    Project(Projection),
    /// A filter's predicate.
    Filter(SqlExpr),
    /// A window aggregation over rows of the schema `input`.
    Window {
        /// The window.
        spec: WindowSpec,
        /// Its input rows' schema.
        input: SchemaRef,
    },
    /// A deduplication over rows of the schema `input`.
    Dedup {
        /// The deduplication.
        spec: DedupSpec,
        /// Its input rows' schema.
        input: SchemaRef,
    },
    /// A stream–stream join of the input (left) with another stream (right).
    StreamJoin {
        /// The join.
        spec: StreamJoinSpec,
        /// The left rows' schema.
        left: SchemaRef,
        /// The right rows' schema.
        right: SchemaRef,
        /// The columns of its output that the plan reads after it (in lowercase), where
        /// not all: its state holds only those and the columns it reads itself
        /// ([`StreamJoinState::narrowed`]).
        read: Option<BTreeSet<String>>,
    },
    /// An epoch aggregate.
    Aggregate(EpochAggregate),
    /// A union of streams.
    Union(Union),
    /// An unnest of an array column.
    Unnest(Unnest),
    /// A window assignment.
    WindowAssign(crate::window::Assignment),
    /// A window Top-N over rows of the schema `input`.
    WindowTopN {
        /// The ranking.
        spec: crate::top_n::WindowTopNSpec,
        /// Its input's schema.
        input: SchemaRef,
    },
    /// A Top-N per group and epoch, over rows of the schema `input`.
    TopN {
        /// The ranking.
        spec: TopNSpec,
        /// Its input rows' schema.
        input: SchemaRef,
    },
}

/// A plan compiled against the decoded source schema.
#[derive(Clone, Debug)]
pub struct CompiledPlan {
    /// The logical plan.
    pub plan: Plan,
    /// The source's rows: decoded records with their coordinates.
    pub source_schema: SchemaRef,
    /// The operators, parallel to `plan.operators`.
    pub operators: Vec<CompiledOperator>,
    /// Every stream's schema, by name.
    pub(super) schemas: BTreeMap<String, SchemaRef>,
}

impl CompiledPlan {
    /// Compiles `plan` for source rows with `source_schema`, with the tables its joins and
    /// reference rules read.
    ///
    /// # Errors
    /// When the plan is invalid, an expression, a join or a window does not fit its input,
    /// or a table the plan reads is missing (named).
    pub fn compile(plan: Plan, source_schema: &SchemaRef, inputs: &StaticInputs) -> Result<Self> {
        let sources = BTreeMap::from([(plan.source.clone(), Arc::clone(source_schema))]);
        Self::compile_sources(plan, &sources, inputs)
    }

    /// Compiles `plan` for the rows of each of its sources, with `sources` their schemas by
    /// stream name.
    ///
    /// # Errors
    /// As [`compile`](Self::compile), and when a source's schema is missing.
    pub fn compile_sources(
        plan: Plan,
        sources: &BTreeMap<String, SchemaRef>,
        inputs: &StaticInputs,
    ) -> Result<Self> {
        Self::compile_pruned(plan, sources, inputs, &BTreeSet::new())
    }

    /// The plan compiled again for sources that decode only the columns
    /// [`source_reads`](Self::source_reads) names, `sources` their narrowed schemas by
    /// stream name (those not named keep theirs).
    ///
    /// # Errors
    /// As [`compile_sources`](Self::compile_sources): when a narrowed source lacks a
    /// column the plan reads.
    pub fn narrowed(
        self,
        sources: &BTreeMap<String, SchemaRef>,
        inputs: &StaticInputs,
    ) -> Result<Self> {
        let mut schemas = BTreeMap::new();
        let mut pruned = BTreeSet::new();
        for source in self.plan.sources() {
            let whole = &self.schemas[source];
            let schema = sources.get(source).unwrap_or(whole);
            pruned.extend(
                whole
                    .fields()
                    .iter()
                    .filter(|f| schema.field_with_name(f.name()).is_err())
                    .map(|f| f.name().clone()),
            );
            schemas.insert(source.to_owned(), Arc::clone(schema));
        }
        Self::compile_pruned(self.plan, &schemas, inputs, &pruned)
    }

    /// Compiles `plan`, where the source columns `pruned` are not decoded: a projection
    /// that drops one of them has nothing to drop.
    ///
    /// Compiled once with every stream join holding whole rows, it is compiled again with
    /// each holding only what is read of it, when something is not
    /// ([`stream_join_reads`](Self::stream_join_reads)).
    fn compile_pruned(
        plan: Plan,
        sources: &BTreeMap<String, SchemaRef>,
        inputs: &StaticInputs,
        pruned: &BTreeSet<String>,
    ) -> Result<Self> {
        let whole = Self::compile_reading(plan, sources, inputs, pruned, &BTreeMap::new())?;
        let reads = whole.stream_join_reads();
        if reads.is_empty() {
            return Ok(whole);
        }
        Self::compile_reading(whole.plan, sources, inputs, pruned, &reads)
    }

    /// Compiles `plan` as [`compile_pruned`](Self::compile_pruned) does, the stream joins
    /// named in `reads` holding only the columns of their output it names.
    fn compile_reading(
        plan: Plan,
        sources: &BTreeMap<String, SchemaRef>,
        inputs: &StaticInputs,
        pruned: &BTreeSet<String>,
        reads: &BTreeMap<String, BTreeSet<String>>,
    ) -> Result<Self> {
        plan.validate()?;
        let mut schemas = BTreeMap::new();
        for source in plan.sources() {
            let schema = sources.get(source).ok_or_else(|| {
                EngineError::InvalidPlan(format!("no schema for the source `{source}`"))
            })?;
            schemas.insert(source.to_owned(), Arc::clone(schema));
        }
        let source_schema = Arc::clone(&schemas[&plan.source]);
        let mut operators = Vec::with_capacity(plan.operators.len());
        for op in &plan.operators {
            let input = Arc::clone(&schemas[&op.input]);
            let in_operator = |e: EngineError| match e {
                EngineError::InvalidPlan(m) => {
                    EngineError::InvalidPlan(format!("operator `{}`: {m}", op.name))
                }
                other => other,
            };
            let (compiled, schema) =
                compile_operator(op, &input, &schemas, inputs, pruned, reads.get(&op.name))
                    .map_err(in_operator)?;
            schemas.insert(op.name.clone(), schema);
            operators.push(compiled);
        }
        Ok(Self {
            plan,
            source_schema,
            operators,
            schemas,
        })
    }

    /// The schema of the stream `name` (the source or an operator's output).
    pub fn schema(&self, stream: &str) -> Option<&SchemaRef> {
        self.schemas.get(stream)
    }

    /// The schema of the rows the sink `name` writes (`None` for the dead-letter sink,
    /// whose rows the job's dead-letter conversion shapes, and for an unknown sink).
    pub fn sink_schema(&self, name: &str) -> Option<&SchemaRef> {
        let sink = self.plan.sinks.iter().find(|s| s.name == name)?;
        self.schemas.get(&sink.input)
    }

    /// The compiled rules of the operator at `index`, if it is a rules operator.
    pub fn rules(&self, index: usize) -> Option<&[Rule]> {
        match self.operators.get(index)? {
            CompiledOperator::Rules(rules) => Some(rules),
            _ => None,
        }
    }
}

/// Compiles one operator over `input`; `streams` are the schemas of the streams before
/// it (a join's right side).
fn compile_operator(
    op: &Operator,
    input: &SchemaRef,
    streams: &BTreeMap<String, SchemaRef>,
    inputs: &StaticInputs,
    pruned: &BTreeSet<String>,
    read: Option<&BTreeSet<String>>,
) -> Result<(CompiledOperator, SchemaRef)> {
    Ok(match &op.kind {
        OperatorKind::Rules(set) => {
            let rules = compile_rules(set, input, inputs)?;
            let output = crate::stateless::required_schema(&rules, input);
            (CompiledOperator::Rules(rules), output)
        }
        OperatorKind::Join(spec) => {
            let join = compile_join(spec, input, inputs)?;
            let schema = Arc::clone(join.schema());
            (CompiledOperator::Join(join), schema)
        }
        OperatorKind::Project {
            columns,
            keep_input,
            drop,
            keep_coordinates,
        } => {
            let mut columns = columns.clone();
            if *keep_coordinates && !*keep_input {
                for c in crate::table_feed::COORDINATES {
                    if input.index_of(c).is_ok() && !columns.iter().any(|(n, _)| n == c) {
                        columns.push((c.to_owned(), format!("\"{c}\"")));
                    }
                }
            }
            let drop: Vec<String> = drop
                .iter()
                .filter(|d| input.index_of(d).is_ok() || !pruned.contains(*d))
                .cloned()
                .collect();
            let projection =
                Projection::compile(input, *keep_input, &columns)?.without(input, &drop)?;
            let schema = Arc::clone(projection.schema());
            (CompiledOperator::Project(projection), schema)
        }
        OperatorKind::Filter { predicate } => (
            CompiledOperator::Filter(SqlExpr::compile(predicate, input)?),
            Arc::clone(input),
        ),
        OperatorKind::Window(spec) => {
            observable(streams, spec.watermark_from.as_deref(), &spec.time_column)?;
            for also in &spec.watermark_also {
                observable(streams, Some(&also.stream), &also.time_column)?;
            }
            let schema = Arc::clone(WindowState::new(spec.clone(), input)?.output_schema());
            let compiled = CompiledOperator::Window {
                spec: spec.clone(),
                input: Arc::clone(input),
            };
            (compiled, schema)
        }
        OperatorKind::Dedup(spec) => {
            observable(streams, spec.watermark_from.as_deref(), &spec.time_column)?;
            for also in &spec.watermark_also {
                observable(streams, Some(&also.stream), &also.time_column)?;
            }
            DedupState::new(spec.clone(), input)?;
            let compiled = CompiledOperator::Dedup {
                spec: spec.clone(),
                input: Arc::clone(input),
            };
            (compiled, Arc::clone(input))
        }
        OperatorKind::StreamJoin(spec) => {
            observable(
                streams,
                spec.left_watermark_from.as_deref(),
                &spec.left_time,
            )?;
            observable(
                streams,
                spec.right_watermark_from.as_deref(),
                &spec.right_time,
            )?;
            let right = Arc::clone(&streams[&spec.right]);
            let state = match read {
                Some(read) => StreamJoinState::narrowed(spec.clone(), input, &right, read)?,
                None => StreamJoinState::new(spec.clone(), input, &right)?,
            };
            let schema = Arc::clone(state.output_schema());
            let compiled = CompiledOperator::StreamJoin {
                spec: spec.clone(),
                left: Arc::clone(input),
                right,
                read: read.cloned(),
            };
            (compiled, schema)
        }
        OperatorKind::Union { others } => {
            let mut all = vec![(op.input.as_str(), input)];
            for other in others {
                all.push((other.as_str(), &streams[other]));
            }
            let union = Union::new(&all)?;
            let schema = Arc::clone(union.schema());
            (CompiledOperator::Union(union), schema)
        }
        OperatorKind::Unnest(spec) => {
            let unnest = Unnest::new(spec, input)?;
            let schema = Arc::clone(unnest.schema());
            (CompiledOperator::Unnest(unnest), schema)
        }
        OperatorKind::WindowTopN(spec) => {
            observable(streams, spec.watermark_from.as_deref(), &spec.time_column)?;
            let state = crate::top_n::WindowTopNState::new(spec.clone(), input)?;
            let schema = crate::event_time::EventTimeState::results_schema(&state);
            let compiled = CompiledOperator::WindowTopN {
                spec: spec.clone(),
                input: Arc::clone(input),
            };
            (compiled, schema)
        }
        OperatorKind::WindowAssign(spec) => {
            let assignment = crate::window::Assignment::new(spec, input)?;
            let schema = Arc::clone(assignment.schema());
            (CompiledOperator::WindowAssign(assignment), schema)
        }
        OperatorKind::TopN(spec) => {
            spec.validate(input)?;
            let compiled = CompiledOperator::TopN {
                spec: spec.clone(),
                input: Arc::clone(input),
            };
            (compiled, spec.output_schema(input))
        }
        OperatorKind::Aggregate(spec) => {
            let aggregate = EpochAggregate::new(spec.clone(), input)?;
            let schema = Arc::clone(aggregate.output_schema());
            (CompiledOperator::Aggregate(aggregate), schema)
        }
    })
}

/// Checks that the stream `from`, when given, has the timestamp column `time` that sets
/// an operator's watermark.
fn observable(streams: &BTreeMap<String, SchemaRef>, from: Option<&str>, time: &str) -> Result<()> {
    let Some(from) = from else {
        return Ok(());
    };
    let schema = streams
        .get(from)
        .ok_or_else(|| missing("watermark stream", from))?;
    match schema.field_with_name(time).map(|f| f.data_type()) {
        Ok(arrow::datatypes::DataType::Timestamp(_, _)) => Ok(()),
        _ => Err(EngineError::InvalidPlan(format!(
            "the watermark follows `{from}`, which has no timestamp column `{time}`"
        ))),
    }
}

fn missing(what: &str, name: &str) -> EngineError {
    EngineError::InvalidPlan(format!("{what} `{name}` has no table to read"))
}

fn compile_join(spec: &JoinSpec, input: &SchemaRef, inputs: &StaticInputs) -> Result<CompiledJoin> {
    Ok(match spec.strategy {
        JoinStrategy::Broadcast => {
            let table = inputs
                .tables
                .get(&spec.name)
                .ok_or_else(|| missing("join", &spec.name))?;
            CompiledJoin::Broadcast(BroadcastJoin::new(spec.clone(), input, table)?)
        }
        JoinStrategy::Keyed => {
            let feed = inputs
                .feeds
                .get(&spec.name)
                .ok_or_else(|| missing("keyed join", &spec.name))?;
            CompiledJoin::Keyed(KeyedJoin::new(spec.clone(), input, Arc::clone(feed))?)
        }
    })
}

fn compile_rules(set: &RuleSet, input: &SchemaRef, inputs: &StaticInputs) -> Result<Vec<Rule>> {
    set.rules
        .iter()
        .enumerate()
        .map(|(i, (name, sql))| {
            let check = match set.key_rules.iter().find(|k| k.rule == i) {
                Some(k) if k.kind == KeyCheck::References => {
                    let table = inputs
                        .tables
                        .get(name)
                        .ok_or_else(|| missing("reference rule", name))?;
                    Check::References(Box::new(BroadcastJoin::new(
                        JoinSpec {
                            name: name.clone(),
                            keys: k.keys.clone(),
                            kind: JoinKind::LeftAnti,
                            columns: Vec::new(),
                            ..JoinSpec::default()
                        },
                        input,
                        table,
                    )?))
                }
                Some(k) => Check::Unique(UniqueKeys::new(input, &k.keys)?),
                None => Check::Sql(SqlExpr::compile(sql, input)?),
            };
            Ok(Rule {
                name: name.clone(),
                check,
                policy: set.policies.get(i).copied().unwrap_or_default(),
            })
        })
        .collect()
}
