//! The plan a job compiles to: a medallion pipeline of bronze, silver, gold and dead
//! letters, with SQL rules and projections and an optional window aggregation.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::error::Result;
use crate::expr::SqlExpr;
use crate::join::{BroadcastJoin, JoinSpec};
use crate::quality::RulePolicy;
use crate::stateless::{Projection, Rule};
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
    /// Broadcast joins with static tables, applied in order to rows that passed the rules,
    /// before the silver columns (which may use the joined columns).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub joins: Vec<JoinSpec>,
    /// Computed silver columns `(name, SQL)`, appended to the bronze columns.
    pub silver_columns: Vec<(String, String)>,
    /// The gold aggregation, if any.
    pub window: Option<WindowSpec>,
    /// Key groups (max parallelism), fixed at the job's first start.
    pub key_groups: u32,
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
    /// The joins, loaded with their tables.
    pub joins: Vec<BroadcastJoin>,
    /// The silver projection.
    pub silver: Projection,
    /// Gold rows, when the plan has a window.
    pub gold_schema: Option<SchemaRef>,
}

impl CompiledPlan {
    /// Compiles `plan` for events with `bronze_schema`; `tables[i]` is the whole table of
    /// `plan.joins[i]`.
    ///
    /// # Errors
    /// When an expression, a join or the window spec does not fit the schemas.
    pub fn compile(plan: Plan, bronze_schema: &SchemaRef, tables: &[RecordBatch]) -> Result<Self> {
        let rules = plan
            .rules
            .iter()
            .enumerate()
            .map(|(i, (name, sql))| {
                Ok(Rule {
                    name: name.clone(),
                    predicate: SqlExpr::compile(sql, bronze_schema)?,
                    policy: plan.rule_policies.get(i).copied().unwrap_or_default(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if tables.len() != plan.joins.len() {
            return Err(crate::error::EngineError::InvalidPlan(format!(
                "{} joins but {} tables",
                plan.joins.len(),
                tables.len()
            )));
        }
        let mut joined = Arc::clone(bronze_schema);
        let mut joins = Vec::with_capacity(plan.joins.len());
        for (spec, table) in plan.joins.iter().zip(tables) {
            let join = BroadcastJoin::new(spec.clone(), &joined, table)?;
            joined = Arc::clone(join.schema());
            joins.push(join);
        }
        let silver = Projection::compile(&joined, true, &plan.silver_columns)?;
        let gold_schema = match &plan.window {
            Some(spec) => Some(Arc::clone(
                WindowState::new(spec.clone(), silver.schema())?.output_schema(),
            )),
            None => None,
        };
        Ok(Self {
            plan,
            bronze_schema: Arc::clone(bronze_schema),
            rules,
            joins,
            silver,
            gold_schema,
        })
    }
}
