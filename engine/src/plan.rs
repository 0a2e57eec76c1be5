//! The plan a job compiles to: a medallion pipeline of bronze, silver, gold and dead
//! letters, with SQL rules and projections and an optional window aggregation.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::aggregate::{AggregateSpec, EpochAggregate};
use crate::error::Result;
use crate::expr::SqlExpr;
use crate::join::{BroadcastJoin, JoinKind, JoinSpec, JoinStrategy, KeyedJoin};
use crate::quality::RulePolicy;
use crate::stateless::{Check, Projection, Rule, UniqueKeys};
use crate::table_feed::TableFeed;
use crate::window::{WindowSpec, WindowState};

/// A job's logical plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Job id: names the checkpoint directory and the Delta `txn` app ids.
    pub job_id: String,
    /// Data-quality rules `(name, SQL predicate)`, checked in order on bronze rows.
    pub rules: Vec<(String, String)>,
    /// Each rule's action and threshold, parallel to `rules`; empty when every rule has the
    /// default policy (quarantine, no threshold), which keeps older plans' fingerprints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rule_policies: Vec<RulePolicy>,
    /// Rules that check keys instead of SQL (referential integrity, uniqueness); their
    /// `rules` entry holds a description.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_rules: Vec<KeyRule>,
    /// Broadcast joins with static tables, applied in order to rows that passed the rules,
    /// before the silver columns (which may use the joined columns).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub joins: Vec<JoinSpec>,
    /// Computed silver columns `(name, SQL)`, appended to the bronze columns.
    pub silver_columns: Vec<(String, String)>,
    /// Bronze or joined columns left out of silver (after the computed columns).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub silver_drop: Vec<String>,
    /// The gold aggregation, if any.
    pub window: Option<WindowSpec>,
    /// Group-by aggregates over each epoch's silver rows, each to its own table.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aggregates: Vec<AggregateSpec>,
    /// Key groups (max parallelism), fixed at the job's first start.
    pub key_groups: u32,
}

/// A rule over key columns instead of a SQL predicate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRule {
    /// Index into [`Plan::rules`].
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
    /// Referential integrity: the key exists in a dimension table (one of the plan's
    /// tables, after the joins' ones, in key-rule order).
    References,
    /// Uniqueness within an epoch: rows repeating a key already seen break it (counted by
    /// the quality gate; `warn` or `fail` only).
    Unique,
}

impl Plan {
    /// A stable fingerprint of the plan, recorded in the offsets log.
    pub fn fingerprint(&self) -> String {
        let text = serde_json::to_string(self).expect("plan serializes");
        format!("{:016x}", xxh3_64(text.as_bytes()))
    }
}

/// A plan compiled against the decoded event schema.
#[derive(Clone, Debug)]
pub struct CompiledPlan {
    /// The logical plan.
    pub plan: Plan,
    /// Bronze rows: decoded events with source coordinates.
    pub bronze_schema: SchemaRef,
    /// Compiled rules.
    pub rules: Vec<Rule>,
    /// The joins, in order.
    pub joins: Vec<CompiledJoin>,
    /// The silver projection.
    pub silver: Projection,
    /// Gold rows, when the plan has a window.
    pub gold_schema: Option<SchemaRef>,
    /// The epoch aggregates, planned over the silver rows.
    pub aggregates: Vec<EpochAggregate>,
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

impl CompiledPlan {
    /// Compiles `plan` for events with `bronze_schema`. `tables` holds the whole table of
    /// each broadcast join of `plan.joins`, then of each `references` key rule, in order;
    /// `feeds` holds the table of each keyed join, in order.
    ///
    /// # Errors
    /// When an expression, a join or the window spec does not fit the schemas.
    pub fn compile(
        plan: Plan,
        bronze_schema: &SchemaRef,
        tables: &[RecordBatch],
        feeds: &[Arc<dyn TableFeed>],
    ) -> Result<Self> {
        let references: Vec<&KeyRule> = plan
            .key_rules
            .iter()
            .filter(|k| k.kind == KeyCheck::References)
            .collect();
        let keyed = plan
            .joins
            .iter()
            .filter(|j| j.strategy == JoinStrategy::Keyed)
            .count();
        let broadcast = plan.joins.len() - keyed;
        if tables.len() != broadcast + references.len() || feeds.len() != keyed {
            return Err(crate::error::EngineError::InvalidPlan(format!(
                "{broadcast} broadcast joins, {keyed} keyed joins and {} reference rules but \
                 {} tables and {} table feeds",
                references.len(),
                tables.len(),
                feeds.len()
            )));
        }
        let (join_tables, rule_tables) = tables.split_at(broadcast);
        let rules = plan
            .rules
            .iter()
            .enumerate()
            .map(|(i, (name, sql))| {
                let key_rule = plan.key_rules.iter().find(|k| k.rule == i);
                let check = match key_rule {
                    Some(k) if k.kind == KeyCheck::References => {
                        let r = references
                            .iter()
                            .position(|x| x.rule == i)
                            .expect("a references rule");
                        Check::References(BroadcastJoin::new(
                            JoinSpec {
                                name: name.clone(),
                                keys: k.keys.clone(),
                                kind: JoinKind::LeftAnti,
                                columns: Vec::new(),
                                ..JoinSpec::default()
                            },
                            bronze_schema,
                            &rule_tables[r],
                        )?)
                    }
                    Some(k) => Check::Unique(UniqueKeys::new(bronze_schema, &k.keys)?),
                    None => Check::Sql(SqlExpr::compile(sql, bronze_schema)?),
                };
                Ok(Rule {
                    name: name.clone(),
                    check,
                    policy: plan.rule_policies.get(i).copied().unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut joined = Arc::clone(bronze_schema);
        let mut joins = Vec::with_capacity(plan.joins.len());
        let (mut join_tables, mut feeds) = (join_tables.iter(), feeds.iter());
        for spec in &plan.joins {
            let join = match spec.strategy {
                JoinStrategy::Broadcast => {
                    let table = join_tables.next().expect("counted above");
                    CompiledJoin::Broadcast(BroadcastJoin::new(spec.clone(), &joined, table)?)
                }
                JoinStrategy::Keyed => {
                    let feed = feeds.next().expect("counted above");
                    CompiledJoin::Keyed(KeyedJoin::new(spec.clone(), &joined, Arc::clone(feed))?)
                }
            };
            joined = Arc::clone(join.schema());
            joins.push(join);
        }
        let silver = Projection::compile(&joined, true, &plan.silver_columns)?
            .without(&joined, &plan.silver_drop)?;
        let gold_schema = match &plan.window {
            Some(spec) => Some(Arc::clone(
                WindowState::new(spec.clone(), silver.schema())?.output_schema(),
            )),
            None => None,
        };
        let aggregates = plan
            .aggregates
            .iter()
            .map(|spec| EpochAggregate::new(spec.clone(), silver.schema()))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            plan,
            bronze_schema: Arc::clone(bronze_schema),
            rules,
            joins,
            silver,
            gold_schema,
            aggregates,
        })
    }
}
