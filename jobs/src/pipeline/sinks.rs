//! Opening a job's output tables: Delta appends or MERGEs, optionally published to Kafka,
//! the quality gate, and their auto-compaction.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::datatypes::SchemaRef;
use sluice_config::JobConfig;
use sluice_connectors::blackhole::BlackholeSink;
use sluice_connectors::delta::{
    AutoCompact, CompactionState, DeltaTableSink, MergeConfig, MergeTableSink, SinkOptions,
};
use sluice_connectors::kafka::{KafkaClient, KafkaPublishedSink, create_topic};
use sluice_engine::changelog::CHANGE_COLUMN;
use sluice_engine::metrics::RunMetrics;
use sluice_engine::plan::CompiledPlan;
use sluice_engine::plan::SinkRole;
use sluice_engine::quality::QualityGate;
use sluice_engine::runtime::TableSink;
use sluice_engine::window::OutputMode;

use super::Location;

/// Sinks by name.
type Sinks = BTreeMap<String, Arc<dyn TableSink>>;

/// A job's opened sinks.
pub(super) struct OpenedSinks {
    /// Every sink of the plan, by name.
    sinks: Sinks,
    /// The auto-compactions of the appended tables (empty without `output.auto-compact`).
    pub(super) compactions: Vec<CompactionState>,
    tables_dir: Location,
    /// The table names, in output order.
    names: Vec<String>,
}

/// Opens (or creates) every output table of `job` for `compiled`.
///
/// # Errors
/// A table that cannot be opened or created, a Kafka topic that cannot be created.
pub(super) fn open(
    job: &JobConfig,
    compiled: &CompiledPlan,
    handle: &tokio::runtime::Handle,
    metrics: &RunMetrics,
) -> Result<OpenedSinks> {
    let mut tables = Tables::new(job, handle)?;
    let (sinks, names) = match &job.queries {
        Some(queries) => sql_sinks(&mut tables, queries, compiled)?,
        None => medallion_sinks(&mut tables, compiled, metrics)?,
    };
    Ok(OpenedSinks {
        sinks,
        compactions: tables.compactions,
        tables_dir: tables.dir,
        names,
    })
}

/// The sinks of a SQL job, and the tables to count after the run: every table its queries
/// write is a Delta append, or a MERGE table in update mode, or a blackhole (not counted).
fn sql_sinks(
    tables: &mut Tables<'_>,
    queries: &sluice_config::SqlQueries,
    compiled: &CompiledPlan,
) -> Result<(Sinks, Vec<String>)> {
    let mut sinks = Sinks::new();
    let mut names = Vec::new();
    for node in &compiled.plan.sinks {
        let table = match node.role {
            SinkRole::DeadLetters => {
                tables.append(&node.name, sluice_connectors::dead_letter::schema(), vec![])?
            }
            SinkRole::Table => {
                let declared = queries.sinks.iter().find(|s| s.name == node.name);
                if declared.is_some_and(|s| s.blackhole) {
                    sinks.insert(
                        node.name.clone(),
                        Arc::new(BlackholeSink::new(node.name.clone())),
                    );
                    continue;
                }
                let partitions = declared.map(|s| s.partition_by.clone()).unwrap_or_default();
                let schema = sink_schema(compiled, &node.name)?;
                // Update mode: each epoch's changed windows are merged by their key;
                // sessions merged away are deleted, by their `_change` (not a column of
                // the table).
                let deletes = declared.is_some_and(|s| s.deletes);
                let merge =
                    declared
                        .filter(|s| s.mode == OutputMode::Update)
                        .map(|s| MergeConfig {
                            keys: s.merge_keys.clone(),
                            delete_when: deletes.then(deleted_rows),
                            update: BTreeMap::new(),
                        });
                let schema = if deletes {
                    without_change(&schema)
                } else {
                    schema
                };
                tables.append_or_merge(
                    &node.name,
                    (schema, partitions),
                    &merge,
                    "'output-mode' = 'update'",
                )?
            }
            SinkRole::QualityGate { .. } => {
                anyhow::bail!("a SQL job has no quality gate (`{}`)", node.name)
            }
        };
        sinks.insert(node.name.clone(), table);
        names.push(node.name.clone());
    }
    Ok((sinks, names))
}

/// The sinks of a medallion (YAML) job, and the tables to count after the run: bronze,
/// silver, the aggregates, gold, the dead letters (each published to Kafka when its topic
/// is set) and the quality gate.
fn medallion_sinks(
    tables: &mut Tables<'_>,
    compiled: &CompiledPlan,
    metrics: &RunMetrics,
) -> Result<(Sinks, Vec<String>)> {
    let job = tables.job;
    let names = &job.output.tables;
    let topics = job
        .output
        .kafka
        .as_ref()
        .map(|k| k.topics.clone())
        .unwrap_or_default();
    let schema = |name: &str| sink_schema(compiled, name);
    let mut sinks = Sinks::new();
    if let Some(name) = &names.bronze {
        let bronze = tables.append(name, schema(name)?, vec![])?;
        sinks.insert(name.clone(), tables.publish(bronze, &topics.bronze)?);
    }
    let silver = (schema(&names.silver)?, job.silver.partition_by.clone());
    let silver_sink = match &job.silver.replace_where {
        Some(predicate) => tables.replacing(&names.silver, silver, Some(predicate.clone()))?,
        None => tables.append_or_merge(&names.silver, silver, &job.silver.merge, "silver.merge")?,
    };
    sinks.insert(
        names.silver.clone(),
        tables.publish(silver_sink, &topics.silver)?,
    );
    for config in &job.aggregates {
        let sink = tables.append_or_merge(
            &config.name,
            (schema(&config.name)?, config.partition_by.clone()),
            &config.merge,
            &format!("aggregate {}", config.name),
        )?;
        sinks.insert(config.name.clone(), sink);
    }
    if let Some(config) = &job.gold {
        let (gold_schema, merge) = gold_merge(config, schema(&names.gold)?);
        let gold = tables.append_or_merge(
            &names.gold,
            (gold_schema, vec![]),
            &merge,
            "gold.output-mode: update",
        )?;
        sinks.insert(names.gold.clone(), tables.publish(gold, &topics.gold)?);
    }
    let dead = tables.append(
        &names.dead_letters,
        sluice_connectors::dead_letter::schema(),
        vec![],
    )?;
    sinks.insert(
        names.dead_letters.clone(),
        tables.publish(dead, &topics.dead_letters)?,
    );
    let gate = compiled.plan.sinks.iter().find_map(|s| match s.role {
        SinkRole::QualityGate { rules } => Some((s, rules)),
        _ => None,
    });
    if let Some((node, rules)) = gate {
        let report = if job.quality.report {
            Some(tables.append(&names.quality_report, QualityGate::report_schema(), vec![])?)
        } else {
            None
        };
        let rules = compiled.rules(rules).context("the gate's rules")?;
        let gate = QualityGate::new(rules.to_vec(), schema(&node.name)?, report)
            .with_metrics(metrics.quality().clone());
        sinks.insert(node.name.clone(), Arc::new(gate));
    }
    // The tables to count after the run, in the plan's order (the gate's report aside).
    let names = compiled
        .plan
        .sinks
        .iter()
        .filter(|s| !matches!(s.role, SinkRole::QualityGate { .. }))
        .map(|s| s.name.clone())
        .collect();
    Ok((sinks, names))
}

/// The gold table's schema and, in update mode, how each epoch's changed windows are
/// merged: by window and keys; a session by its start (its end moves), the sessions merged
/// into an earlier one deleted (by the change column, then not a column of the table).
fn gold_merge(
    config: &sluice_config::GoldConfig,
    schema: SchemaRef,
) -> (SchemaRef, Option<MergeConfig>) {
    if config.output_mode != "update" {
        return (schema, None);
    }
    let session = matches!(config.window, sluice_config::WindowConfig::Session { .. });
    let bounds: &[&str] = if session {
        &["window_start"]
    } else {
        &["window_start", "window_end"]
    };
    let merge = MergeConfig {
        keys: bounds
            .iter()
            .map(|b| (*b).to_owned())
            .chain(config.keys.iter().cloned())
            .collect(),
        delete_when: session.then(deleted_rows),
        update: BTreeMap::new(),
    };
    let schema = if session {
        without_change(&schema)
    } else {
        schema
    };
    (schema, Some(merge))
}

/// The schema of the plan's sink `name`.
fn sink_schema(compiled: &CompiledPlan, name: &str) -> Result<SchemaRef> {
    compiled
        .sink_schema(name)
        .cloned()
        .with_context(|| format!("the plan has no sink `{name}`"))
}

/// Opens a job's Delta tables under its tables directory, collecting their
/// auto-compactions.
struct Tables<'a> {
    job: &'a JobConfig,
    handle: &'a tokio::runtime::Handle,
    dir: Location,
    auto_compact: Option<AutoCompact>,
    compactions: Vec<CompactionState>,
}

impl<'a> Tables<'a> {
    fn new(job: &'a JobConfig, handle: &'a tokio::runtime::Handle) -> Result<Self> {
        let auto_compact = job
            .output
            .auto_compact
            .as_ref()
            .map(|c| -> Result<AutoCompact> {
                Ok(AutoCompact {
                    min_files: c.min_files.max(2),
                    target_size: std::num::NonZeroU64::new(
                        c.target_size_mib.saturating_mul(1 << 20),
                    )
                    .context("output.auto-compact.target-size-mib must be above 0")?,
                })
            })
            .transpose()?;
        Ok(Self {
            job,
            handle,
            dir: Location::new(&job.output.dir, "tables")?,
            auto_compact,
            compactions: Vec::new(),
        })
    }

    /// The options every table of the job is opened with.
    fn options(&self, replace_where: Option<String>, auto_compact: bool) -> SinkOptions {
        SinkOptions {
            merge_schema: self.job.output.merge_schema,
            replace_where,
            table_properties: self.job.output.table_properties.clone(),
            auto_compact: self.auto_compact.clone().filter(|_| auto_compact),
        }
    }

    /// An append table.
    fn append(
        &mut self,
        name: &str,
        schema: SchemaRef,
        partitions: Vec<String>,
    ) -> Result<Arc<dyn TableSink>> {
        self.replacing(name, (schema, partitions), None)
    }

    /// An append table whose epochs replace the rows `replace_where` selects, if set.
    fn replacing(
        &mut self,
        name: &str,
        (schema, partitions): (SchemaRef, Vec<String>),
        replace_where: Option<String>,
    ) -> Result<Arc<dyn TableSink>> {
        let location = self.dir.join(name);
        let app_id = format!("{}/{}", self.job.job_id, name);
        let options = self.options(replace_where, true);
        let sink = DeltaTableSink::open_with(
            self.handle,
            &location,
            &app_id,
            schema,
            partitions,
            &options,
        )
        .with_context(|| format!("opening table {location}"))?;
        self.compactions.extend(sink.compaction());
        Ok(Arc::new(sink))
    }

    /// An append table, or a MERGE table when `merge` is set (`what` names the setting
    /// that asked for it, in errors).
    fn append_or_merge(
        &mut self,
        name: &str,
        (schema, partitions): (SchemaRef, Vec<String>),
        merge: &Option<MergeConfig>,
        what: &str,
    ) -> Result<Arc<dyn TableSink>> {
        let Some(merge) = merge else {
            return self.append(name, schema, partitions);
        };
        let location = self.dir.join(name);
        let sink = MergeTableSink::open(
            self.handle,
            &location,
            &format!("{}/{}", self.job.job_id, name),
            schema,
            partitions,
            merge.clone(),
            &self.options(None, false),
        )
        .with_context(|| format!("opening table {location} ({what})"))?;
        Ok(Arc::new(sink))
    }

    /// `sink`, also published to Kafka `topic` when the job has `output.kafka` and the
    /// topic is set.
    fn publish(
        &self,
        sink: Arc<dyn TableSink>,
        topic: &Option<String>,
    ) -> Result<Arc<dyn TableSink>> {
        let (Some(kafka), Some(topic)) = (&self.job.output.kafka, topic) else {
            return Ok(sink);
        };
        let client = KafkaClient::with_properties(&kafka.brokers, &kafka.properties);
        create_topic(&client, topic, 8, std::time::Duration::from_secs(10))
            .with_context(|| format!("output.kafka: topic {topic}"))?;
        Ok(Arc::new(
            KafkaPublishedSink::new(sink, &client, topic, kafka.idempotence)
                .with_context(|| format!("output.kafka: topic {topic}"))?,
        ))
    }
}

impl OpenedSinks {
    /// The sinks by name, as the engine takes them.
    pub(super) fn sinks(&self) -> Sinks {
        self.sinks.clone()
    }

    /// Rows per output table (bronze, silver, gold, aggregates, dead letters), counted
    /// after the run.
    ///
    /// # Errors
    /// A table that cannot be read.
    pub(super) fn count_rows(&self, handle: &tokio::runtime::Handle) -> Result<Vec<(String, u64)>> {
        self.names
            .iter()
            .map(|name| {
                let rows = DeltaTableSink::count_rows(handle, &self.tables_dir.join(name))?;
                Ok((name.clone(), rows))
            })
            .collect()
    }
}

/// The MERGE predicate of the rows that delete (sessions merged away, `_change = -1`).
fn deleted_rows() -> String {
    format!("\"{CHANGE_COLUMN}\" < 0")
}

/// `schema` without the change column that marks deletes.
fn without_change(schema: &SchemaRef) -> SchemaRef {
    Arc::new(arrow::datatypes::Schema::new(
        schema
            .fields()
            .iter()
            .filter(|f| f.name() != CHANGE_COLUMN)
            .cloned()
            .collect::<Vec<_>>(),
    ))
}
