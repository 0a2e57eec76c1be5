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

/// A job's opened sinks.
pub(super) struct OpenedSinks {
    /// Every sink of the plan, by name.
    sinks: BTreeMap<String, Arc<dyn TableSink>>,
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
    let tables_dir = Location::new(&job.output.dir, "tables")?;
    let names = &job.output.tables;
    let auto_compact = job
        .output
        .auto_compact
        .as_ref()
        .map(|c| -> Result<AutoCompact> {
            Ok(AutoCompact {
                min_files: c.min_files.max(2),
                target_size: std::num::NonZeroU64::new(c.target_size_mib.saturating_mul(1 << 20))
                    .context("output.auto-compact.target-size-mib must be above 0")?,
            })
        })
        .transpose()?;
    let compactions: std::cell::RefCell<Vec<CompactionState>> = std::cell::RefCell::default();
    let open_replacing = |name: &str,
                          schema: SchemaRef,
                          partitions: Vec<String>,
                          replace_where: Option<String>|
     -> Result<Arc<dyn TableSink>> {
        let location = tables_dir.join(name);
        let app_id = format!("{}/{}", job.job_id, name);
        let options = SinkOptions {
            merge_schema: job.output.merge_schema,
            replace_where,
            table_properties: job.output.table_properties.clone(),
            auto_compact: auto_compact.clone(),
        };
        let sink =
            DeltaTableSink::open_with(handle, &location, &app_id, schema, partitions, &options)
                .with_context(|| format!("opening table {location}"))?;
        compactions.borrow_mut().extend(sink.compaction());
        Ok(Arc::new(sink))
    };
    let open = |name: &str, schema: SchemaRef, partitions: Vec<String>| {
        open_replacing(name, schema, partitions, None)
    };
    let publish =
        |sink: Arc<dyn TableSink>, topic: &Option<String>| -> Result<Arc<dyn TableSink>> {
            match (&job.output.kafka, topic) {
                (Some(kafka), Some(topic)) => {
                    let client = KafkaClient::with_properties(&kafka.brokers, &kafka.properties);
                    create_topic(&client, topic, 8, std::time::Duration::from_secs(10))
                        .with_context(|| format!("output.kafka: topic {topic}"))?;
                    Ok(Arc::new(
                        KafkaPublishedSink::new(sink, &client, topic, kafka.idempotence)
                            .with_context(|| format!("output.kafka: topic {topic}"))?,
                    ))
                }
                _ => Ok(sink),
            }
        };
    // An append table, or a MERGE table when `merge` is set.
    let open_or_merge = |name: &str,
                         schema: SchemaRef,
                         partitions: Vec<String>,
                         merge: &Option<MergeConfig>,
                         what: &str|
     -> Result<Arc<dyn TableSink>> {
        match merge {
            None => open(name, schema, partitions),
            Some(merge) => {
                let location = tables_dir.join(name);
                Ok(Arc::new(
                    MergeTableSink::open(
                        handle,
                        &location,
                        &format!("{}/{}", job.job_id, name),
                        schema,
                        partitions,
                        merge.clone(),
                        &SinkOptions {
                            merge_schema: job.output.merge_schema,
                            replace_where: None,
                            table_properties: job.output.table_properties.clone(),
                            auto_compact: None,
                        },
                    )
                    .with_context(|| format!("opening table {location} ({what})"))?,
                ))
            }
        }
    };
    if let Some(queries) = &job.queries {
        // A SQL job: every table its queries write is a Delta append, or a MERGE table in
        // update mode.
        let mut sinks: BTreeMap<String, Arc<dyn TableSink>> = BTreeMap::new();
        let mut names = Vec::new();
        for node in &compiled.plan.sinks {
            let table = match node.role {
                SinkRole::DeadLetters => {
                    open(&node.name, sluice_connectors::dead_letter::schema(), vec![])?
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
                    let schema = compiled
                        .sink_schema(&node.name)
                        .cloned()
                        .with_context(|| format!("the plan has no sink `{}`", node.name))?;
                    // Update mode: each epoch's changed windows are merged by their key;
                    // sessions merged away are deleted, by their `_change` (not a column
                    // of the table).
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
                    open_or_merge(
                        &node.name,
                        schema,
                        partitions,
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
        return Ok(OpenedSinks {
            sinks,
            compactions: compactions.into_inner(),
            tables_dir,
            names,
        });
    }
    let topics = job
        .output
        .kafka
        .as_ref()
        .map(|k| k.topics.clone())
        .unwrap_or_default();
    let schema = |name: &str| -> Result<SchemaRef> {
        compiled
            .sink_schema(name)
            .cloned()
            .with_context(|| format!("the plan has no sink `{name}`"))
    };
    let mut sinks: BTreeMap<String, Arc<dyn TableSink>> = BTreeMap::new();
    if let Some(name) = &names.bronze {
        let bronze = publish(open(name, schema(name)?, vec![])?, &topics.bronze)?;
        sinks.insert(name.clone(), bronze);
    }
    let silver_sink = match &job.silver.replace_where {
        Some(predicate) => open_replacing(
            &names.silver,
            schema(&names.silver)?,
            job.silver.partition_by.clone(),
            Some(predicate.clone()),
        )?,
        None => open_or_merge(
            &names.silver,
            schema(&names.silver)?,
            job.silver.partition_by.clone(),
            &job.silver.merge,
            "silver.merge",
        )?,
    };
    sinks.insert(names.silver.clone(), publish(silver_sink, &topics.silver)?);
    for config in &job.aggregates {
        let sink = open_or_merge(
            &config.name,
            schema(&config.name)?,
            config.partition_by.clone(),
            &config.merge,
            &format!("aggregate {}", config.name),
        )?;
        sinks.insert(config.name.clone(), sink);
    }
    if let Some(config) = &job.gold {
        // Update mode: each epoch's changed windows are merged by window and keys; a
        // session by its start (its end moves), and the sessions merged into an earlier
        // one are deleted.
        let update = config.output_mode == "update";
        let session = matches!(config.window, sluice_config::WindowConfig::Session { .. });
        let bounds: &[&str] = if session {
            &["window_start"]
        } else {
            &["window_start", "window_end"]
        };
        let merge = update.then(|| MergeConfig {
            keys: bounds
                .iter()
                .map(|b| (*b).to_owned())
                .chain(config.keys.iter().cloned())
                .collect(),
            delete_when: session.then(deleted_rows),
            update: BTreeMap::new(),
        });
        let gold_schema = schema(&names.gold)?;
        let gold = publish(
            open_or_merge(
                &names.gold,
                if update && session {
                    without_change(&gold_schema)
                } else {
                    gold_schema
                },
                vec![],
                &merge,
                "gold.output-mode: update",
            )?,
            &topics.gold,
        )?;
        sinks.insert(names.gold.clone(), gold);
    }
    let dead = open(
        &names.dead_letters,
        sluice_connectors::dead_letter::schema(),
        vec![],
    )?;
    sinks.insert(
        names.dead_letters.clone(),
        publish(dead, &topics.dead_letters)?,
    );
    let gate = compiled.plan.sinks.iter().find_map(|s| match s.role {
        SinkRole::QualityGate { rules } => Some((s, rules)),
        _ => None,
    });
    if let Some((node, rules)) = gate {
        let report = if job.quality.report {
            Some(open(
                &names.quality_report,
                QualityGate::report_schema(),
                vec![],
            )?)
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
    Ok(OpenedSinks {
        sinks,
        compactions: compactions.into_inner(),
        tables_dir,
        names,
    })
}

impl OpenedSinks {
    /// The sinks by name, as the engine takes them.
    pub(super) fn sinks(&self) -> BTreeMap<String, Arc<dyn TableSink>> {
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
