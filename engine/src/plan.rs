//! The plan a job compiles to (DESIGN section 2a): one named source, a DAG of named
//! operators and named sinks.
//!
//! A plan's streams are named: the source's decoded rows go by [`Plan::source`], and each
//! operator's output goes by the operator's name. Operators read one named stream each and
//! are listed in an order where every input is defined before it is read. What operators
//! reject (rule violations, rows an expression fails on, late rows) goes to the stream
//! [`DEAD_LETTERS`], with the dead letters of decoding. Sinks are looked up by name when
//! the job runs, never by position, and commit in the plan's order.
//!
//! The YAML job files' medallion template (bronze, silver, gold, dead letters) is one way
//! to write a plan; [`PlanBuilder`] is the Rust API, and the SQL front end is another.
//!
//! ```
//! use std::time::Duration;
//! use sluice_engine::plan::{PlanBuilder, SinkRole};
//! use sluice_engine::window::{AggregateFn, WindowKind, WindowSpec};
//!
//! let per_minute = WindowKind::Tumbling { size: Duration::from_secs(60) };
//! let plan = PlanBuilder::new("clicks", "events")
//!     .filter("valid", "events", "user_id IS NOT NULL")
//!     .project("enriched", "valid", true, &[("cents", "value * 100")])
//!     .window(
//!         "per_user",
//!         "enriched",
//!         WindowSpec::new("per_user", per_minute, "event_time")
//!             .with_keys(["user_id"])
//!             .with_aggregate("clicks", AggregateFn::Count, None)
//!             .with_delay(Duration::from_secs(600)),
//!     )
//!     .sink("silver", "enriched")
//!     .sink("gold", "per_user")
//!     .dead_letters("dlq")
//!     .build()
//!     .expect("a valid plan");
//! assert_eq!(plan.sinks.len(), 3);
//! assert_eq!(plan.sinks[2].role, SinkRole::DeadLetters);
//! ```

mod builder;
mod compiled;
mod explain;
mod reads;
mod sharing;
mod state_layout;

pub use builder::PlanBuilder;
pub use compiled::{CompiledJoin, CompiledOperator, CompiledPlan, StaticInputs};

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::aggregate::AggregateSpec;
use crate::dedup::DedupSpec;
use crate::error::{EngineError, Result};
use crate::join::JoinSpec;
use crate::quality::RulePolicy;
use crate::stream_join::StreamJoinSpec;
use crate::top_n::TopNSpec;
use crate::unnest::UnnestSpec;
use crate::window::{WindowKind, WindowSpec};

/// The stream of every dead letter: decoding errors, rule violations, rows an operator
/// failed on and late rows.
pub const DEAD_LETTERS: &str = "dead_letters";

/// A job's logical plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Plan {
    /// Job id: names the checkpoint directory and the Delta `txn` app ids.
    pub job_id: String,
    /// The name of the source's stream of decoded rows (with their coordinates).
    pub source: String,
    /// The streams of further sources (a stream–stream join reads two), each source's
    /// rows routed to its stream by name; empty for a job of one source.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_sources: Vec<String>,
    /// The operators, each after the operators whose output it reads.
    pub operators: Vec<Operator>,
    /// The sinks, in commit order: the quality gate first, the dead-letter table last.
    pub sinks: Vec<SinkNode>,
    /// Key groups (max parallelism), fixed at the job's first start.
    pub key_groups: u32,
}

/// A named operator reading one named stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    /// Its name: names its output stream, its timely operator and its state.
    pub name: String,
    /// The stream it reads.
    pub input: String,
    /// What it does.
    pub kind: OperatorKind,
}

/// What an operator does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OperatorKind {
    /// Data-quality rules: rows that pass go on, quarantined rows become dead letters.
    Rules(RuleSet),
    /// A join with a table (broadcast or keyed, static or followed).
    Join(JoinSpec),
    /// Computed columns `(name, SQL)`, after the input columns when `keep_input`, then
    /// `drop` left out.
    Project {
        /// The computed columns, each able to use the ones before it.
        columns: Vec<(String, String)>,
        /// Whether the input columns come first (`SELECT *, ...`).
        keep_input: bool,
        /// Input columns left out of the output.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        drop: Vec<String>,
        /// Whether the input's coordinate columns (`source`, `partition`, `offset`, ...)
        /// follow the computed ones when `keep_input` is false: a subquery's rows that
        /// a later operator may route to the dead-letter table keep where they came from.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        keep_coordinates: bool,
    },
    /// Rows for which a SQL predicate is true (`WHERE`); rows it fails to evaluate on
    /// become dead letters.
    Filter {
        /// The predicate.
        predicate: String,
    },
    /// Keyed event-time windows with a watermark; late rows become dead letters.
    Window(WindowSpec),
    /// Deduplication by key within the watermark; late rows become dead letters.
    Dedup(DedupSpec),
    /// An interval join of the input (the left side) with another stream (the right);
    /// late rows of either side become dead letters.
    StreamJoin(StreamJoinSpec),
    /// A group-by over each epoch's rows.
    Aggregate(AggregateSpec),
    /// The first rows of each group of each epoch (a window's rows: window Top-N).
    TopN(TopNSpec),
    /// Every row of the input and of `others` (`UNION ALL`), matched by position.
    Union {
        /// The streams read besides the input, in order.
        others: Vec<String>,
    },
    /// One row per element of an array column (`explode`, `CROSS JOIN UNNEST`).
    Unnest(UnnestSpec),
    /// Window assignment: each row once per window containing its event time, with the
    /// window's start, end and time (Flink's window TVFs without an aggregate).
    WindowAssign(crate::window::AssignSpec),
    /// A window Top-N over assigned rows, keeping each window's first ranks until the
    /// watermark closes it.
    WindowTopN(crate::top_n::WindowTopNSpec),
}

impl OperatorKind {
    /// A short name of the kind, for messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::Rules(_) => "rules",
            Self::Join(_) => "join",
            Self::Project { .. } => "project",
            Self::Filter { .. } => "filter",
            Self::Window(_) => "window",
            Self::Dedup(_) => "dedup",
            Self::StreamJoin(_) => "stream-join",
            Self::Aggregate(_) => "aggregate",
            Self::TopN(_) => "top-n",
            Self::Union { .. } => "union",
            Self::Unnest(_) => "unnest",
            Self::WindowAssign(_) => "window-assign",
            Self::WindowTopN(_) => "window-top-n",
        }
    }
}

/// The data-quality rules of a [`OperatorKind::Rules`] operator.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSet {
    /// Rules `(name, SQL predicate)`, checked in order.
    pub rules: Vec<(String, String)>,
    /// Each rule's action and threshold, parallel to `rules`; empty when every rule has
    /// the default policy (quarantine, no threshold).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<RulePolicy>,
    /// Rules that check keys instead of SQL (referential integrity, uniqueness); their
    /// `rules` entry holds a description.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_rules: Vec<KeyRule>,
}

/// A rule over key columns instead of a SQL predicate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRule {
    /// Index into [`RuleSet::rules`].
    pub rule: usize,
    /// Key columns (named the same in the rows and a referenced table).
    pub keys: Vec<String>,
    /// What is checked.
    pub kind: KeyCheck,
}

/// What a [`KeyRule`] checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyCheck {
    /// Referential integrity: the key exists in a dimension table, the static table named
    /// after the rule (see [`StaticInputs`]).
    References,
    /// Uniqueness within an epoch: rows repeating a key already seen break it (counted by
    /// the quality gate; `warn` or `fail` only).
    Unique,
}

/// A named sink reading one named stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkNode {
    /// Its name, by which the job supplies its table.
    pub name: String,
    /// The stream it writes.
    pub input: String,
    /// What it is.
    pub role: SinkRole,
}

/// What a sink is to the commit protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SinkRole {
    /// An output table.
    Table,
    /// The data-quality gate over the rows a [`OperatorKind::Rules`] operator checks:
    /// committed before every other sink, so that a breached threshold stops the epoch
    /// before anything commits.
    QualityGate {
        /// Index of the rules operator it measures, in [`Plan::operators`].
        rules: usize,
    },
    /// The dead-letter table (reads [`DEAD_LETTERS`]).
    DeadLetters,
}

impl Plan {
    /// A stable fingerprint of what shapes the plan's results and state (the job id, the
    /// source's name, the operators and the key groups), recorded in the offsets log. The
    /// sinks are left out: adding a table, or a quality report, keeps the checkpoint.
    pub fn fingerprint(&self) -> String {
        let shape = (&self.job_id, &self.source, &self.operators, self.key_groups);
        let mut text = serde_json::to_string(&shape).expect("plan serializes");
        // Only when there are any, so that one-source plans keep their fingerprints.
        if !self.other_sources.is_empty() {
            text.push_str(&serde_json::to_string(&self.other_sources).expect("names serialize"));
        }
        format!("{:016x}", xxh3_64(text.as_bytes()))
    }

    /// The operator named `name`.
    pub fn operator(&self, name: &str) -> Option<&Operator> {
        self.operators.iter().find(|o| o.name == name)
    }

    /// The event-time windows, in plan order.
    pub fn windows(&self) -> impl Iterator<Item = &WindowSpec> {
        self.operators.iter().filter_map(|o| match &o.kind {
            OperatorKind::Window(spec) => Some(spec),
            _ => None,
        })
    }

    /// The sources' streams: the first source's, then the others'.
    pub fn sources(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.source.as_str()).chain(self.other_sources.iter().map(String::as_str))
    }

    /// The event-time operators (windows, deduplications and stream joins), in plan
    /// order: each keeps state by key group under its state name and derives its own
    /// watermark from its event-time columns. Returns `(state name, time column)`, the
    /// left side's for a join, none for an aggregate without a window.
    pub fn event_time_operators(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.operators.iter().filter_map(|o| match &o.kind {
            OperatorKind::Window(spec) => Some((
                spec.name.as_str(),
                (spec.kind != WindowKind::Global).then_some(spec.time_column.as_str()),
            )),
            OperatorKind::Dedup(spec) => {
                Some((spec.name.as_str(), Some(spec.time_column.as_str())))
            }
            OperatorKind::StreamJoin(spec) => {
                Some((spec.name.as_str(), Some(spec.left_time.as_str())))
            }
            OperatorKind::WindowTopN(spec) => {
                Some((spec.top.name.as_str(), Some(spec.time_column.as_str())))
            }
            _ => None,
        })
    }

    /// The first event-time window, if the plan has one.
    pub fn window(&self) -> Option<&WindowSpec> {
        self.windows().next()
    }

    /// The joins, in plan order.
    pub fn joins(&self) -> impl Iterator<Item = &JoinSpec> {
        self.operators.iter().filter_map(|o| match &o.kind {
            OperatorKind::Join(spec) => Some(spec),
            _ => None,
        })
    }

    /// The rule sets, in plan order, with their operator's name.
    pub fn rule_sets(&self) -> impl Iterator<Item = (&str, &RuleSet)> {
        self.operators.iter().filter_map(|o| match &o.kind {
            OperatorKind::Rules(rules) => Some((o.name.as_str(), rules)),
            _ => None,
        })
    }

    /// Checks that names are unique (windows' state names too), every stream is defined
    /// before it is read, the quality gate comes first and the dead-letter table once.
    ///
    /// # Errors
    /// [`EngineError::InvalidPlan`], naming the operator or sink at fault.
    pub fn validate(&self) -> Result<()> {
        let invalid = |m: String| Err(EngineError::InvalidPlan(m));
        let mut streams = BTreeSet::from([DEAD_LETTERS]);
        for source in self.sources() {
            if source == DEAD_LETTERS || !streams.insert(source) {
                return invalid(format!(
                    "a source may not be named `{source}` (twice, or as the dead letters)"
                ));
            }
        }
        for op in &self.operators {
            let mut inputs = vec![op.input.as_str()];
            match &op.kind {
                OperatorKind::StreamJoin(join) => {
                    inputs.push(join.right.as_str());
                    inputs.extend(join.left_watermark_from.as_deref());
                    inputs.extend(join.right_watermark_from.as_deref());
                }
                OperatorKind::Union { others } => inputs.extend(others.iter().map(String::as_str)),
                OperatorKind::Window(WindowSpec {
                    watermark_from: Some(from),
                    ..
                })
                | OperatorKind::Dedup(DedupSpec {
                    watermark_from: Some(from),
                    ..
                }) => inputs.push(from.as_str()),
                OperatorKind::WindowTopN(spec) => inputs.extend(spec.watermark_from.as_deref()),
                _ => {}
            }
            match &op.kind {
                OperatorKind::Window(spec) => {
                    inputs.extend(spec.watermark_also.iter().map(|w| w.stream.as_str()));
                }
                OperatorKind::Dedup(spec) => {
                    inputs.extend(spec.watermark_also.iter().map(|w| w.stream.as_str()));
                }
                _ => {}
            }
            if let Some(input) = inputs
                .into_iter()
                .find(|i| !streams.contains(i) || *i == DEAD_LETTERS)
            {
                return invalid(format!(
                    "operator `{}` reads `{input}`, which is neither a source nor an operator \
                     before it",
                    op.name
                ));
            }
            if !streams.insert(op.name.as_str()) {
                return invalid(format!(
                    "two streams are named `{}` (operator names must differ from each other \
                     and from the source)",
                    op.name
                ));
            }
        }
        let mut state_names = BTreeSet::new();
        for (state, _) in self.event_time_operators() {
            if let Err(e) = sluice_checkpoints::check_name("state name", state) {
                return invalid(format!(
                    "an event-time operator's {e} (it names checkpoint files)"
                ));
            }
            if !state_names.insert(state) {
                return invalid(format!(
                    "two event-time operators keep their state under the name `{state}`"
                ));
            }
        }
        let mut sinks = BTreeSet::new();
        let mut dead = 0;
        for (i, sink) in self.sinks.iter().enumerate() {
            if !sinks.insert(sink.name.as_str()) {
                return invalid(format!("two sinks are named `{}`", sink.name));
            }
            if !streams.contains(sink.input.as_str()) {
                return invalid(format!(
                    "sink `{}` writes `{}`, which is neither the source nor an operator",
                    sink.name, sink.input
                ));
            }
            match sink.role {
                SinkRole::QualityGate { rules } => {
                    let is_rules = self
                        .operators
                        .get(rules)
                        .is_some_and(|o| matches!(o.kind, OperatorKind::Rules(_)));
                    if i != 0 || !is_rules {
                        return invalid(format!(
                            "the quality gate `{}` must be the first sink and measure a rules \
                             operator",
                            sink.name
                        ));
                    }
                }
                SinkRole::DeadLetters => {
                    dead += 1;
                    if sink.input != DEAD_LETTERS {
                        return invalid(format!(
                            "the dead-letter sink `{}` must write `{DEAD_LETTERS}`",
                            sink.name
                        ));
                    }
                }
                SinkRole::Table => {}
            }
        }
        if dead != 1 {
            return invalid(format!(
                "a plan has exactly one dead-letter sink, not {dead}: bad rows are never \
                 dropped silently"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> PlanBuilder {
        PlanBuilder::new("job", "events")
            .filter("valid", "events", "value > 0")
            .sink("silver", "valid")
            .dead_letters("dlq")
    }

    #[test]
    fn a_valid_plan_passes_and_its_fingerprint_is_stable() {
        let a = plan().build().expect("valid");
        let b = plan().build().expect("valid");
        assert_eq!(a.fingerprint(), b.fingerprint());
        let c = plan()
            .filter("more", "valid", "value > 1")
            .build()
            .expect("valid");
        assert_ne!(a.fingerprint(), c.fingerprint());
        let d = plan().sink("bronze", "events").build().expect("valid");
        assert_eq!(a.fingerprint(), d.fingerprint(), "sinks are not part of it");
    }

    #[test]
    fn an_unknown_input_is_named() {
        let err = plan()
            .filter("x", "nowhere", "true")
            .build()
            .expect_err("unknown input");
        assert!(
            err.to_string().contains("operator `x` reads `nowhere`"),
            "{err}"
        );
        let err = plan()
            .union("u", &["valid", "later"])
            .filter("later", "events", "true")
            .build()
            .expect_err("a union read before its input");
        assert!(
            err.to_string().contains("operator `u` reads `later`"),
            "{err}"
        );
        let err = plan().sink("t", "nowhere").build().expect_err("unknown");
        assert!(
            err.to_string().contains("sink `t` writes `nowhere`"),
            "{err}"
        );
    }

    #[test]
    fn duplicate_names_are_refused() {
        let err = plan()
            .filter("valid", "events", "true")
            .build()
            .expect_err("duplicate");
        assert!(
            err.to_string().contains("two streams are named `valid`"),
            "{err}"
        );
        let err = plan()
            .sink("silver", "events")
            .build()
            .expect_err("duplicate");
        assert!(
            err.to_string().contains("two sinks are named `silver`"),
            "{err}"
        );
    }

    #[test]
    fn a_plan_needs_exactly_one_dead_letter_sink() {
        let err = PlanBuilder::new("job", "events")
            .sink("bronze", "events")
            .build()
            .expect_err("no dead letters");
        assert!(
            err.to_string().contains("exactly one dead-letter sink"),
            "{err}"
        );
    }

    #[test]
    fn two_windows_cannot_share_a_state_name() {
        let spec = crate::window::WindowSpec {
            name: "counts".into(),
            kind: crate::window::WindowKind::Tumbling {
                size: std::time::Duration::from_secs(60),
            },
            time_column: "ts".into(),
            keys: vec![],
            aggregates: vec![],
            delay: std::time::Duration::ZERO,
            mode: crate::window::OutputMode::Append,
            allowed_lateness: std::time::Duration::ZERO,
            watermark_from: None,
            watermark_also: Vec::new(),
            changelog: false,
            deletes: false,
            offset: std::time::Duration::ZERO,
            gap_column: None,
        };
        let two = |second: &str| {
            let mut other = spec.clone();
            other.name = second.into();
            plan()
                .window("a", "events", spec.clone())
                .window("b", "events", other)
                .build()
        };
        assert!(two("other").is_ok(), "two windows with their own state");
        let err = two("counts").expect_err("shared state name");
        assert!(err.to_string().contains("under the name `counts`"), "{err}");
    }

    #[test]
    fn an_operator_cannot_read_the_dead_letters() {
        let err = plan()
            .filter("x", DEAD_LETTERS, "true")
            .build()
            .expect_err("reads dead letters");
        assert!(err.to_string().contains("operator `x` reads"), "{err}");
    }
}
