//! A job file's engine plan, and the static tables its joins and reference rules read.

use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::record_batch::RecordBatch;
use sluice_config::{GoldConfig, JobConfig, JoinConfig, JoinTableConfig, WindowConfig};
use sluice_connectors::delta::{DeltaSource, DeltaTableFeed};
use sluice_connectors::files::FileSource;
use sluice_engine::aggregate::AggregateSpec;
use sluice_engine::join::{JoinSpec, JoinStrategy};
use sluice_engine::plan::{KeyCheck, KeyRule, Plan};
use sluice_engine::quality::RulePolicy;
use sluice_engine::runtime::EpochSource;
use sluice_engine::table_feed::{StaticTable, TableFeed};
use sluice_engine::window::{Aggregate, AggregateFn, OutputMode, WindowKind, WindowSpec};

use super::schema_of;

/// The engine plan of `job`.
///
/// # Errors
/// A window setting the engine does not accept.
pub(super) fn plan_of(job: &JobConfig) -> Result<Plan> {
    Ok(Plan {
        job_id: job.job_id.clone(),
        rules: job
            .rules
            .iter()
            .map(|r| {
                // The plan's text of a key rule (a reference table's location is not part
                // of the plan: pointing it elsewhere keeps the checkpoint).
                let check = match &r.references {
                    Some(reference) => format!("references ({})", reference.on.join(", ")),
                    None if !r.unique.is_empty() => format!("unique ({})", r.unique.join(", ")),
                    None => r.check.clone(),
                };
                (r.name.clone(), check)
            })
            .collect(),
        rule_policies: rule_policies(job),
        key_rules: job
            .rules
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match (&r.references, r.unique.is_empty()) {
                (Some(reference), _) => Some(KeyRule {
                    rule: i,
                    keys: reference.on.clone(),
                    kind: KeyCheck::References,
                }),
                (None, false) => Some(KeyRule {
                    rule: i,
                    keys: r.unique.clone(),
                    kind: KeyCheck::Unique,
                }),
                (None, true) => None,
            })
            .collect(),
        silver_columns: job
            .silver
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.expr.clone()))
            .collect(),
        silver_drop: job.silver.drop.clone(),
        joins: job
            .joins
            .iter()
            .map(|j| JoinSpec {
                name: j.name.clone(),
                keys: j.on.clone(),
                kind: j.kind,
                columns: j.columns.clone(),
                strategy: j.effective_strategy(),
                follow: j.follow,
            })
            .collect(),
        window: job.gold.as_ref().map(window_spec).transpose()?,
        aggregates: job
            .aggregates
            .iter()
            .map(|a| AggregateSpec {
                name: a.name.clone(),
                keys: a.keys.clone(),
                filter: a.filter.clone(),
                columns: a
                    .columns
                    .iter()
                    .map(|c| (c.name.clone(), c.expr.clone()))
                    .collect(),
            })
            .collect(),
        key_groups: sluice_engine::key::DEFAULT_KEY_GROUPS,
    })
}

/// What a job's joins and reference rules read before the run.
pub(super) struct StaticTables {
    /// The broadcast joins' and reference rules' tables, loaded whole.
    pub(super) tables: Vec<RecordBatch>,
    /// Their rows that do not decode, as dead letters (written with epoch 0).
    pub(super) dead_letters: Vec<RecordBatch>,
    /// The keyed joins' feeds.
    pub(super) feeds: Vec<Arc<dyn TableFeed>>,
}

/// The broadcast joins' and reference rules' tables (loaded whole), the dead letters of
/// their rows that do not decode, and the keyed joins' feeds.
///
/// # Errors
/// A table that cannot be opened or read.
pub(super) fn static_tables(
    job: &JobConfig,
    handle: &tokio::runtime::Handle,
) -> Result<StaticTables> {
    let mut tables = Vec::new();
    let mut startup_dead_letters = Vec::new();
    let mut feeds = Vec::new();
    for (i, j) in job.joins.iter().enumerate() {
        if j.effective_strategy() == JoinStrategy::Keyed {
            let feed = table_feed(j, handle)
                .with_context(|| format!("joins[{i}] `{}`: opening its table", j.name))?;
            feeds.push(feed);
            continue;
        }
        let (table, dead) = load_table(&j.name, &j.table, handle)
            .with_context(|| format!("joins[{i}] `{}`: loading its table", j.name))?;
        tables.push(table);
        startup_dead_letters.extend(dead);
    }
    for (i, r) in job.rules.iter().enumerate() {
        if let Some(reference) = &r.references {
            let (table, dead) = load_table(&r.name, &reference.table, handle)
                .with_context(|| format!("rules[{i}] `{}`: loading its reference table", r.name))?;
            tables.push(table);
            startup_dead_letters.extend(dead);
        }
    }
    Ok(StaticTables {
        tables,
        dead_letters: startup_dead_letters,
        feeds,
    })
}

/// The table side of a keyed join: the followed Delta table's versions, or the bounded
/// source of a static table (read in shares by the workers).
fn table_feed(join: &JoinConfig, handle: &tokio::runtime::Handle) -> Result<Arc<dyn TableFeed>> {
    if join.follow {
        let delta = join
            .table
            .delta
            .clone()
            .context("`follow` needs a `table.delta`")?;
        return Ok(Arc::new(DeltaTableFeed::new(delta, handle)?));
    }
    Ok(Arc::new(StaticTable::new(
        join.name.clone(),
        bounded_source(&join.table, handle)?,
    )?))
}

/// A join or reference table's bounded source.
fn bounded_source(
    table: &JoinTableConfig,
    handle: &tokio::runtime::Handle,
) -> Result<Arc<dyn EpochSource>> {
    Ok(match (&table.delta, &table.files) {
        (Some(delta), None) => {
            let mut delta = delta.clone();
            delta.bounded = true;
            Arc::new(DeltaSource::new(delta, handle)?)
        }
        (None, Some(files)) => {
            let declared = (!table.schema.is_empty()).then(|| schema_of(&table.schema));
            let mut files = files.clone();
            files.bounded = true;
            Arc::new(FileSource::new(files, declared)?)
        }
        _ => anyhow::bail!("give exactly one of `table.delta` or `table.files`"),
    })
}

/// Reads a join's (or a reference rule's) whole table through its bounded source, without
/// the coordinate columns; returns it with the dead letters of its rows that do not
/// decode (they go to the dead-letter table with epoch 0).
fn load_table(
    name: &str,
    table: &JoinTableConfig,
    handle: &tokio::runtime::Handle,
) -> Result<(RecordBatch, Vec<RecordBatch>)> {
    let whole = StaticTable::new(name, bounded_source(table, handle)?)?;
    let changes = whole.changes(None, 0, 0, 1)?;
    let bad: usize = changes.dead_letters.iter().map(RecordBatch::num_rows).sum();
    if bad > 0 {
        eprintln!(
            "`{name}`: {bad} rows of its table did not decode; they are left out of it and \
             go to the dead-letter table (with epoch 0, when the job starts fresh)"
        );
    }
    let table = arrow::compute::concat_batches(&whole.schema(), &changes.inserted)?;
    Ok((table, changes.dead_letters))
}

/// The rules' actions and thresholds; empty when all are the default, so that plans
/// without them keep their fingerprint.
fn rule_policies(job: &JobConfig) -> Vec<RulePolicy> {
    let policies: Vec<RulePolicy> = job
        .rules
        .iter()
        .map(|r| RulePolicy {
            action: r.action,
            max_ratio: r.max_ratio,
        })
        .collect();
    if policies.iter().all(RulePolicy::is_default) {
        Vec::new()
    } else {
        policies
    }
}

fn window_spec(gold: &GoldConfig) -> Result<WindowSpec> {
    let kind = match gold.window {
        WindowConfig::Tumbling { size } => WindowKind::Tumbling { size },
        WindowConfig::Sliding { size, slide } => WindowKind::Sliding { size, slide },
        WindowConfig::Session { gap } => WindowKind::Session { gap },
    };
    let aggregates = gold
        .aggregates
        .iter()
        .map(|a| {
            let function = match a.function.as_str() {
                "count" => AggregateFn::Count,
                "sum" => AggregateFn::Sum,
                "avg" => AggregateFn::Avg,
                "min" => AggregateFn::Min,
                "max" => AggregateFn::Max,
                "stddev" => AggregateFn::Stddev,
                "approx_count_distinct" => AggregateFn::ApproxCountDistinct,
                other => anyhow::bail!("gold.aggregates: unknown function `{other}`"),
            };
            Ok(Aggregate {
                name: a.name.clone(),
                function,
                column: a.column.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(WindowSpec {
        name: gold.name.clone(),
        kind,
        time_column: gold.event_time.clone(),
        keys: gold.keys.clone(),
        aggregates,
        delay: gold.watermark_delay,
        mode: if gold.output_mode == "update" {
            OutputMode::Update
        } else {
            OutputMode::Append
        },
    })
}
