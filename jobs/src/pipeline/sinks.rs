//! Opening a job's output tables: Delta appends or MERGEs, optionally published to Kafka,
//! the quality gate, and their auto-compaction.

use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::datatypes::SchemaRef;
use sluice_config::JobConfig;
use sluice_connectors::delta::{
    AutoCompact, CompactionState, DeltaTableSink, MergeTableSink, SinkOptions,
};
use sluice_connectors::kafka::{KafkaClient, KafkaPublishedSink, create_topic};
use sluice_engine::metrics::RunMetrics;
use sluice_engine::plan::CompiledPlan;
use sluice_engine::quality::QualityGate;
use sluice_engine::runtime::{Sinks, TableSink};

use super::Location;

/// A job's opened sinks.
pub(super) struct OpenedSinks {
    bronze: Option<Arc<dyn TableSink>>,
    silver: Arc<dyn TableSink>,
    gold: Option<Arc<dyn TableSink>>,
    aggregates: Vec<Arc<dyn TableSink>>,
    dead: Arc<dyn TableSink>,
    quality: Option<Arc<dyn TableSink>>,
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
    let topics = job
        .output
        .kafka
        .as_ref()
        .map(|k| k.topics.clone())
        .unwrap_or_default();
    let bronze = match &names.bronze {
        Some(name) => Some(publish(
            open(name, Arc::clone(&compiled.bronze_schema), vec![])?,
            &topics.bronze,
        )?),
        None => None,
    };
    // An append table, or a MERGE table when `merge` is set.
    let open_or_merge = |name: &str,
                         schema: SchemaRef,
                         partitions: Vec<String>,
                         merge: &Option<sluice_connectors::delta::MergeConfig>,
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
    let silver_sink = match &job.silver.replace_where {
        Some(predicate) => open_replacing(
            &names.silver,
            Arc::clone(compiled.silver.schema()),
            job.silver.partition_by.clone(),
            Some(predicate.clone()),
        )?,
        None => open_or_merge(
            &names.silver,
            Arc::clone(compiled.silver.schema()),
            job.silver.partition_by.clone(),
            &job.silver.merge,
            "silver.merge",
        )?,
    };
    let silver = publish(silver_sink, &topics.silver)?;
    let aggregates = job
        .aggregates
        .iter()
        .zip(&compiled.aggregates)
        .map(|(config, planned)| {
            open_or_merge(
                &config.name,
                Arc::clone(planned.output_schema()),
                config.partition_by.clone(),
                &config.merge,
                &format!("aggregate {}", config.name),
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let gold = match &compiled.gold_schema {
        Some(schema) => Some(publish(
            open(&names.gold, Arc::clone(schema), vec![])?,
            &topics.gold,
        )?),
        None => None,
    };
    let dead = publish(
        open(
            &names.dead_letters,
            sluice_connectors::dead_letter::schema(),
            vec![],
        )?,
        &topics.dead_letters,
    )?;
    let report = if job.quality.report {
        Some(open(
            &names.quality_report,
            QualityGate::report_schema(),
            vec![],
        )?)
    } else {
        None
    };
    let quality: Option<Arc<dyn TableSink>> =
        (report.is_some() || QualityGate::needed(&compiled.rules)).then(|| {
            Arc::new(
                QualityGate::new(
                    compiled.rules.clone(),
                    Arc::clone(&compiled.bronze_schema),
                    report,
                )
                .with_metrics(metrics.quality().clone()),
            ) as Arc<dyn TableSink>
        });
    let mut names: Vec<String> = names.bronze.iter().cloned().collect();
    names.push(job.output.tables.silver.clone());
    if gold.is_some() {
        names.push(job.output.tables.gold.clone());
    }
    names.extend(job.aggregates.iter().map(|a| a.name.clone()));
    names.push(job.output.tables.dead_letters.clone());
    Ok(OpenedSinks {
        bronze,
        silver,
        gold,
        aggregates,
        dead,
        quality,
        compactions: compactions.into_inner(),
        tables_dir,
        names,
    })
}

impl OpenedSinks {
    /// The sinks, as the engine takes them.
    pub(super) fn sinks(&self) -> Sinks {
        Sinks {
            bronze: self.bronze.clone(),
            silver: Arc::clone(&self.silver),
            gold: self.gold.clone(),
            aggregates: self.aggregates.clone(),
            dead_letters: Arc::clone(&self.dead),
            quality: self.quality.clone(),
        }
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
