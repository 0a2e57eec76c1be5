//! SQL jobs: a file of statements compiled into the job's settings and its [`Plan`].
//!
//! ```sql
//! SET 'output.dir' = 'sluice-sql';                -- any job-file key, as `--set` takes it
//! SET 'params.min_value' = '0';                   -- a parameter, `${min_value}` below
//! CREATE TABLE events (
//!   event_id STRING NOT NULL, user_id STRING, event_type STRING,
//!   event_time TIMESTAMP NOT NULL, value DOUBLE,
//!   CONSTRAINT value_non_negative CHECK (value >= ${min_value}),
//!   WATERMARK FOR event_time AS event_time - INTERVAL '10' MINUTE
//! ) WITH ('connector' = 'generator', 'events' = '100000');
//! INSERT INTO silver SELECT *, CAST(event_time AS DATE) AS event_date FROM events;
//! INSERT INTO gold SELECT window_start, window_end, user_id, count(*) AS n
//! FROM events GROUP BY TUMBLE(event_time, INTERVAL '5' MINUTE), user_id;
//! ```
//!
//! - `SET 'key' = 'value'` sets a job-file key (`trigger.records-per-epoch`,
//!   `checkpoint.every`, `job-id`, ...); `--set` and the environment override it, and
//!   `--param` the `params.*` ones.
//! - One `CREATE TABLE` with a `connector` other than `delta` declares the source:
//!   `generator`, `kafka`, `kinesis`, `files` or `delta-source`. Its other options are the
//!   connector's job-file keys (values parse as YAML: `'topics' = '[a, b]'`), except
//!   `format`. The columns are the decoded schema; `CONSTRAINT name CHECK (...)` are the
//!   data-quality rules (violations go to the dead-letter table as `rule:<name>`);
//!   `WATERMARK FOR col AS col - INTERVAL ...` sets the event time and its delay.
//! - `INSERT INTO t SELECT ...` writes the Delta table `t` under `output.dir/tables/`.
//!   `CREATE TABLE t WITH ('connector' = 'delta', 'partition-by' = 'c')` may declare it.
//!   Queries read the source, filter (`WHERE`), compute columns, and aggregate in
//!   event-time windows: `GROUP BY TUMBLE(ts, size)`, `HOP(ts, slide, size)`,
//!   `SESSION(ts, gap)`, or Spark's `window(ts, '5 minutes'[, '1 minute'])` and
//!   `session_window(ts, '5 minutes')`, and key columns or expressions, selecting
//!   `window_start`, `window_end`, the keys, `count`, `sum`, `avg`, `min`, `max`,
//!   `stddev`, `count`, `sum` or `avg` of `DISTINCT c`, or `approx_count_distinct` (with
//!   `FILTER (WHERE ...)` if need be), and
//!   expressions of those.
//! - A table declared with `'lookup' = 'broadcast' | 'keyed' | 'follow'` (a Delta table
//!   or files) is read whole and joined by key, Spark's stream–static join
//!   (the `join::lookup` module).
//! - What cannot run incrementally, or does not run yet, is refused naming the construct.

mod cascade;
mod clauses;
mod ddl;
mod declared_sink;
mod dedup;
mod distinct;
mod error;
mod explode;
mod flink_settings;
mod group_by;
mod insert;
mod join;
mod last_row;
mod levels;
mod names;
mod nested;
mod projected;
mod query;
mod spark_aggregates;
mod subquery;
mod system_time;
mod text;
mod top_n;
mod tvf;
mod union;
mod views;
mod window;

use std::path::Path;

use serde_norway::{Mapping, Value};
use sluice_engine::plan::{Plan, PlanBuilder};

use crate::error::{ConfigError, Result};
use crate::job::{JobConfig, SourceConfig};
use crate::overrides::Override;

pub use ddl::{Lookup, SinkTable, SourceTable};
pub use error::SqlError;

/// Reading a job written in SQL into its settings, with its queries.
#[derive(Clone, Copy, Debug)]
pub struct SqlJob;

/// What a SQL job's queries compile to, carried by its [`JobConfig::queries`].
#[derive(Clone, Debug, PartialEq)]
pub struct SqlQueries {
    /// The plan of its queries.
    pub plan: Plan,
    /// The tables its queries write, with their options, in plan order.
    pub sinks: Vec<SinkTable>,
    /// The sources after the job's main one (`source`), by the name of their stream in the
    /// plan: a job joining two streams reads two sources.
    pub other_sources: Vec<(String, SourceConfig)>,
}

/// The key of the statements in the settings document while parameters are substituted.
const STATEMENTS: &str = "sql-statements";

impl SqlJob {
    /// Reads a `.sql` job file, then applies `overrides` (`--set`, `--param`, the
    /// environment).
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, the statement and what was expected.
    pub fn from_file_with(path: &Path, overrides: &[Override]) -> Result<JobConfig> {
        let (file, text) = crate::job::read_job_file(path)?;
        let stem = path.file_stem().map_or_else(
            || "sql-job".to_owned(),
            |s| s.to_string_lossy().into_owned(),
        );
        Self::from_sql_with(&text, &file, &stem, overrides)
    }

    /// Parses SQL text; `file` names it in errors, `job_id` is the job's id unless a
    /// `SET 'job-id'` says otherwise.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, the statement and what was expected.
    pub fn from_sql_with(
        text: &str,
        file: &str,
        job_id: &str,
        overrides: &[Override],
    ) -> Result<JobConfig> {
        let invalid = |statement: String, error: SqlError| ConfigError::Sql {
            file: file.to_owned(),
            statement,
            error,
        };
        let statements = text::split(text).map_err(|e| invalid("SQL".into(), e))?;
        let statements = flink_settings::unwrap_statement_sets(statements)
            .map_err(|e| invalid("EXECUTE STATEMENT SET".into(), e))?;
        let mut doc = Mapping::new();
        doc.insert("job-id".into(), job_id.into());
        let mut sets = Vec::new();
        let mut rest = Vec::new();
        for statement in statements {
            match text::set_statement(&statement) {
                Some(Ok((key, value))) => match flink_settings::translate(key, value) {
                    Ok(flink_settings::Setting::Key(key, value)) => sets.push(Override {
                        key,
                        value,
                        origin: format!("SET in {file}"),
                    }),
                    Ok(flink_settings::Setting::Dropped(note)) => {
                        tracing::warn!(file, "{note}");
                    }
                    Err(e) => return Err(invalid(statement, e)),
                },
                Some(Err(e)) => return Err(invalid(statement, e)),
                None => rest.push(Value::String(statement)),
            }
        }
        doc.insert(STATEMENTS.into(), Value::Sequence(rest));
        let mut doc = Value::Mapping(doc);
        for o in sets.iter().chain(overrides) {
            o.apply(&mut doc, file)?;
        }
        crate::params::substitute(&mut doc, file)?;
        let Value::Mapping(map) = &mut doc else {
            unreachable!("built as a mapping")
        };
        let statements: Vec<String> = match map.remove(STATEMENTS) {
            Some(Value::Sequence(items)) => items
                .into_iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        map.remove(crate::params::PARAMS);
        let parsed = ddl::parse_all(&statements).map_err(|(s, e)| invalid(s, e))?;
        let Some(source) = parsed.sources.first().filter(|s| s.lookup.is_none()) else {
            return Err(invalid(
                "CREATE TABLE".into(),
                "a source table: `CREATE TABLE name (...) WITH ('connector' = \
                     'generator' | 'kafka' | 'kinesis' | 'files' | 'delta-source' | 'nexmark', ...)`"
                    .into(),
            ));
        };
        source.settings(map);
        let yaml = serde_norway::to_string(&doc).map_err(|e| ConfigError::Parse {
            file: file.to_owned(),
            message: e.to_string(),
        })?;
        let mut config = JobConfig::from_yaml_with(&yaml, &format!("{file} (its settings)"), &[])?;
        let dead_letters = config.output.tables.dead_letters.clone();
        let mut plan = PlanBuilder::new(&config.job_id, &source.name);
        let mut other_sources = Vec::new();
        for other in parsed.sources[1..].iter().filter(|s| s.lookup.is_none()) {
            plan = plan.source(&other.name);
            let settings = other.source_mapping();
            let other_config = other_source(&config, settings, file, &other.name)?;
            other_sources.push((other.name.clone(), other_config));
        }
        for table in &parsed.sources {
            if !table.computed.is_empty() {
                let columns: Vec<(&str, &str)> = table
                    .computed
                    .iter()
                    .map(|(name, sql)| (name.as_str(), sql.as_str()))
                    .collect();
                plan = plan.project(&table.computed_stream(), &table.name, true, &columns);
            }
            if let Some(rules) = table.rule_set() {
                plan = plan.rules(&table.checked_stream(), &table.computed_stream(), rules);
            }
        }
        let mut sinks = Vec::new();
        // The queries writing each table, tables in the order of their first query.
        let mut tables: Vec<(&str, Vec<&insert::Insert>)> = Vec::new();
        for insert in &parsed.inserts {
            match tables.iter_mut().find(|(t, _)| *t == insert.target) {
                Some((_, inserts)) => inserts.push(insert),
                None => tables.push((&insert.target, vec![insert])),
            }
        }
        for (target, inserts) in &tables {
            let (next, sink) = insert::lower(
                plan,
                target,
                inserts,
                &parsed.sources,
                &parsed.sinks,
                &parsed.views,
            )
            .map_err(|(statement, e)| invalid(statement, e))?;
            plan = next;
            sinks.push(sink);
        }
        if sinks.is_empty() {
            return Err(invalid(
                "INSERT INTO".into(),
                "at least one `INSERT INTO table SELECT ... FROM source` query".into(),
            ));
        }
        let plan = plan
            .dead_letters(&dead_letters)
            .build()
            .map_err(|e| invalid("the job's queries".into(), e.to_string().into()))?;
        config.joins = lookup_joins(&parsed.sources, &plan)
            .map_err(|(table, e)| invalid(format!("CREATE TABLE {table}"), e))?;
        config.queries = Some(SqlQueries {
            plan,
            sinks,
            other_sources,
        });
        Ok(config)
    }
}

/// The tables the job's lookup joins read, each under its name (as its joins name it), for
/// the runtime to load or follow; a lookup table no query joins is not read.
fn lookup_joins(
    tables: &[SourceTable],
    plan: &Plan,
) -> std::result::Result<Vec<crate::JoinConfig>, (String, SqlError)> {
    let mut joins = Vec::new();
    for table in tables {
        let Some(lookup) = table.lookup else { continue };
        let joined = plan.operators.iter().any(|o| {
            matches!(&o.kind, sluice_engine::plan::OperatorKind::Join(spec) if spec.name == table.name)
        });
        if !joined {
            continue;
        }
        let settings =
            serde_norway::from_value(Value::Mapping(table.source_mapping())).map_err(|e| {
                (
                    table.name.clone(),
                    SqlError::Invalid(format!("its options: {e}")),
                )
            })?;
        let strategy = match lookup {
            Lookup::Broadcast => sluice_engine::join::JoinStrategy::Broadcast,
            Lookup::Keyed | Lookup::Follow => sluice_engine::join::JoinStrategy::Keyed,
        };
        joins.push(crate::JoinConfig {
            name: table.name.clone(),
            table: settings,
            on: Vec::new(),
            kind: sluice_engine::join::JoinKind::default(),
            columns: Vec::new(),
            strategy,
            follow: lookup == Lookup::Follow,
            // Each query's join filters the rows (its `ON` conditions on the table).
            filter: None,
        });
    }
    Ok(joins)
}

/// The settings of the source table `name` (not the job's main one), checked as the
/// main source's are.
fn other_source(
    config: &JobConfig,
    settings: Mapping,
    file: &str,
    name: &str,
) -> Result<SourceConfig> {
    let what = format!("CREATE TABLE {name}");
    let source: SourceConfig =
        serde_norway::from_value(Value::Mapping(settings)).map_err(|e| ConfigError::Invalid {
            file: file.to_owned(),
            key: what.clone(),
            expected: e.to_string(),
        })?;
    let mut check = config.clone();
    check.source = source.clone();
    check.validate_connector(&|key, expected| ConfigError::Invalid {
        file: file.to_owned(),
        key: format!("{what}: {key}"),
        expected: expected.to_owned(),
    })?;
    Ok(source)
}
