//! Building a [`Plan`] in Rust, as a job binary does.

use super::{DEAD_LETTERS, Operator, OperatorKind, Plan, RuleSet, SinkNode, SinkRole};
use crate::aggregate::AggregateSpec;
use crate::dedup::DedupSpec;
use crate::error::Result;
use crate::join::JoinSpec;
use crate::key::DEFAULT_KEY_GROUPS;
use crate::stream_join::StreamJoinSpec;
use crate::top_n::TopNSpec;
use crate::window::WindowSpec;

/// Builds a [`Plan`] operator by operator; [`build`](Self::build) validates it.
///
/// Each operator is named and names the stream it reads: the source's name or an operator
/// added before it. See the [module docs](super) for an example.
#[derive(Clone, Debug)]
pub struct PlanBuilder {
    plan: Plan,
}

impl PlanBuilder {
    /// A plan for job `job_id` whose source rows go by `source`.
    pub fn new(job_id: impl Into<String>, source: impl Into<String>) -> Self {
        Self {
            plan: Plan {
                job_id: job_id.into(),
                source: source.into(),
                other_sources: Vec::new(),
                operators: Vec::new(),
                sinks: Vec::new(),
                key_groups: DEFAULT_KEY_GROUPS,
            },
        }
    }

    /// Adds a further source, whose rows go by `source` (a job reading several sources,
    /// for stream–stream joins).
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.plan.other_sources.push(source.into());
        self
    }

    /// Sets the key groups (max parallelism) of a new job.
    pub fn key_groups(mut self, key_groups: u32) -> Self {
        self.plan.key_groups = key_groups;
        self
    }

    /// Adds an operator `name` of `kind` reading `input`.
    pub fn operator(
        mut self,
        name: impl Into<String>,
        input: impl Into<String>,
        kind: OperatorKind,
    ) -> Self {
        self.plan.operators.push(Operator {
            name: name.into(),
            input: input.into(),
            kind,
        });
        self
    }

    /// Adds data-quality rules.
    pub fn rules(self, name: &str, input: &str, rules: RuleSet) -> Self {
        self.operator(name, input, OperatorKind::Rules(rules))
    }

    /// Adds a union `name` of `inputs` (at least one): every row of each, matched by
    /// position, with the first input's column names.
    pub fn union(self, name: &str, inputs: &[&str]) -> Self {
        let (first, others) = inputs.split_first().map_or(("", &[][..]), |(f, o)| (*f, o));
        let others = others.iter().map(|s| (*s).to_owned()).collect();
        self.operator(name, first, OperatorKind::Union { others })
    }

    /// Adds an unnest: one row per element of `spec.column`'s array, the element in a
    /// column `spec.element` after the input's columns.
    pub fn unnest(self, name: &str, input: &str, spec: crate::unnest::UnnestSpec) -> Self {
        self.operator(name, input, OperatorKind::Unnest(spec))
    }

    /// Adds a window Top-N over assigned rows: each window's first ranks, kept until the
    /// watermark closes the window.
    pub fn window_top_n(self, name: &str, input: &str, spec: crate::top_n::WindowTopNSpec) -> Self {
        self.operator(name, input, OperatorKind::WindowTopN(spec))
    }

    /// Adds a window assignment: each row once per window of `spec.kind` containing its
    /// event time, with `window_start`, `window_end` and `window_time` after its columns.
    pub fn assign_windows(self, name: &str, input: &str, spec: crate::window::AssignSpec) -> Self {
        self.operator(name, input, OperatorKind::WindowAssign(spec))
    }

    /// Adds a filter on a SQL predicate.
    pub fn filter(self, name: &str, input: &str, predicate: &str) -> Self {
        self.operator(
            name,
            input,
            OperatorKind::Filter {
                predicate: predicate.to_owned(),
            },
        )
    }

    /// Adds computed columns `(name, SQL)`, after the input's when `keep_input`.
    pub fn project(
        self,
        name: &str,
        input: &str,
        keep_input: bool,
        columns: &[(&str, &str)],
    ) -> Self {
        self.operator(
            name,
            input,
            OperatorKind::Project {
                columns: columns
                    .iter()
                    .map(|(n, sql)| ((*n).to_owned(), (*sql).to_owned()))
                    .collect(),
                keep_input,
                drop: Vec::new(),
                keep_coordinates: false,
            },
        )
    }

    /// Adds a join; a broadcast or a static keyed join reads the static table named
    /// after `spec.name` (see [`super::StaticInputs`]).
    pub fn join(self, name: &str, input: &str, spec: JoinSpec) -> Self {
        self.operator(name, input, OperatorKind::Join(spec))
    }

    /// Adds an event-time window aggregation.
    pub fn window(self, name: &str, input: &str, spec: WindowSpec) -> Self {
        self.operator(name, input, OperatorKind::Window(spec))
    }

    /// Adds a deduplication within the watermark.
    pub fn dedup(self, name: &str, input: &str, spec: DedupSpec) -> Self {
        self.operator(name, input, OperatorKind::Dedup(spec))
    }

    /// Adds an interval join of `input` (the left side) with the stream `spec.right`.
    pub fn stream_join(self, name: &str, input: &str, spec: StreamJoinSpec) -> Self {
        self.operator(name, input, OperatorKind::StreamJoin(spec))
    }

    /// Adds a Top-N per group and epoch.
    pub fn top_n(self, name: &str, input: &str, spec: TopNSpec) -> Self {
        self.operator(name, input, OperatorKind::TopN(spec))
    }

    /// Adds a group-by over each epoch's rows.
    pub fn aggregate(self, name: &str, input: &str, spec: AggregateSpec) -> Self {
        self.operator(name, input, OperatorKind::Aggregate(spec))
    }

    /// Adds a table sink `name` writing the stream `input`.
    pub fn sink(mut self, name: &str, input: &str) -> Self {
        self.plan.sinks.push(SinkNode {
            name: name.to_owned(),
            input: input.to_owned(),
            role: SinkRole::Table,
        });
        self
    }

    /// Adds the quality gate `name`, measuring the rules operator `rules` over the rows it
    /// reads; it goes first among the sinks.
    pub fn quality_gate(mut self, name: &str, rules: &str) -> Self {
        let found = self.plan.operators.iter().position(|o| o.name == rules);
        let input = found.map_or_else(
            || rules.to_owned(),
            |i| self.plan.operators[i].input.clone(),
        );
        self.plan.sinks.insert(
            0,
            SinkNode {
                name: name.to_owned(),
                input,
                // An unknown operator fails validation (no operator has this index).
                role: SinkRole::QualityGate {
                    rules: found.unwrap_or(usize::MAX),
                },
            },
        );
        self
    }

    /// Adds the dead-letter sink `name`.
    pub fn dead_letters(mut self, name: &str) -> Self {
        self.plan.sinks.push(SinkNode {
            name: name.to_owned(),
            input: DEAD_LETTERS.to_owned(),
            role: SinkRole::DeadLetters,
        });
        self
    }

    /// The plan, validated, a window that one query computes twice computed once (see the
    /// `sharing` module).
    ///
    /// # Errors
    /// As [`Plan::validate`].
    pub fn build(mut self) -> Result<Plan> {
        // The dead-letter table commits last, as the runtime expects of any plan.
        let dead: Vec<SinkNode> = self
            .plan
            .sinks
            .iter()
            .filter(|s| s.role == SinkRole::DeadLetters)
            .cloned()
            .collect();
        self.plan.sinks.retain(|s| s.role != SinkRole::DeadLetters);
        self.plan.sinks.extend(dead);
        super::sharing::share_windows(&mut self.plan);
        self.plan.validate()?;
        Ok(self.plan)
    }
}
