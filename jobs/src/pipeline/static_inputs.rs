//! The static tables a job file's joins and reference rules read, by name.

use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::record_batch::RecordBatch;
use sluice_config::{JobConfig, JoinConfig, JoinTableConfig};
use sluice_connectors::delta::{DeltaSource, DeltaTableFeed};
use sluice_connectors::files::FileSource;
use sluice_engine::join::JoinStrategy;
use sluice_engine::plan::StaticInputs;
use sluice_engine::runtime::EpochSource;
use sluice_engine::table_feed::{StaticTable, TableFeed};

use super::declared_only;

use super::schema_of;

/// What a job's joins and reference rules read before the run.
pub(super) struct StaticTables {
    /// The broadcast joins' and reference rules' tables (loaded whole) and the keyed
    /// joins' feeds, by join or rule name.
    pub(super) inputs: StaticInputs,
    /// Their rows that do not decode, as dead letters (written with epoch 0).
    pub(super) dead_letters: Vec<RecordBatch>,
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
    let mut inputs = StaticInputs::default();
    let mut startup_dead_letters = Vec::new();
    for (i, j) in job.joins.iter().enumerate() {
        if j.effective_strategy() == JoinStrategy::Keyed {
            let feed = table_feed(j, handle)
                .with_context(|| format!("joins[{i}] `{}`: opening its table", j.name))?;
            inputs.feeds.insert(j.name.clone(), feed);
            continue;
        }
        let (table, dead) = load_table(&j.name, &j.table, handle)
            .with_context(|| format!("joins[{i}] `{}`: loading its table", j.name))?;
        inputs.tables.insert(j.name.clone(), table);
        startup_dead_letters.extend(dead);
    }
    for (i, r) in job.rules.iter().enumerate() {
        if let Some(reference) = &r.references {
            let (table, dead) = load_table(&r.name, &reference.table, handle)
                .with_context(|| format!("rules[{i}] `{}`: loading its reference table", r.name))?;
            inputs.tables.insert(r.name.clone(), table);
            startup_dead_letters.extend(dead);
        }
    }
    Ok(StaticTables {
        inputs,
        dead_letters: startup_dead_letters,
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
            let source = DeltaSource::new(delta, handle)?;
            if table.schema.is_empty() {
                return Ok(Arc::new(source));
            }
            let declared = schema_of(&table.schema);
            source.check_declared(&declared)?;
            declared_only(source, &declared)?
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
