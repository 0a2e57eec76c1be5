//! Compiling a job file into an engine plan with its source and sinks, and running it.

use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use indicatif::{ProgressBar, ProgressStyle};
use prometheus_client::registry::Registry;
use sluice_config::{FieldType, GoldConfig, JobConfig, JoinConfig, JoinTableConfig, WindowConfig};
use sluice_connectors::dead_letter::DeadLetterRows;
use sluice_connectors::delta::{
    AutoCompact, CompactionState, DeltaSource, DeltaTableFeed, DeltaTableSink, MergeTableSink,
    SinkOptions,
};
use sluice_connectors::files::FileSource;
use sluice_connectors::format::Decoder;
use sluice_connectors::generator::GeneratorSource;
use sluice_connectors::kafka::{
    EndingOffsets, KafkaClient, KafkaPublishedSink, KafkaSource, create_topic,
};
use sluice_connectors::kinesis::{Ending, KinesisSource};
use sluice_engine::aggregate::AggregateSpec;
use sluice_engine::join::{JoinSpec, JoinStrategy};
use sluice_engine::metrics::RunMetrics;
use sluice_engine::plan::{CompiledPlan, KeyCheck, KeyRule, Plan};
use sluice_engine::quality::{QualityGate, RulePolicy};
use sluice_engine::runtime::{Cluster, EpochSource, RunOptions, RunSummary, Sinks, TableSink, run};
use sluice_engine::table_feed::{StaticTable, TableFeed};
use sluice_engine::window::{Aggregate, AggregateFn, OutputMode, WindowKind, WindowSpec};

use crate::metrics_endpoint::{MetricsEndpoint, Readiness};

/// What a finished run reports.
pub struct JobSummary {
    /// The engine's summary.
    pub run: RunSummary,
    /// Rows per table after the run, in output order.
    pub tables: Vec<(String, u64)>,
    /// Worker threads used.
    pub workers: usize,
    /// Events the source holds.
    pub source_events: u64,
}

/// Runs `job` to the end of its input; `batch` runs it as one bounded epoch. A SIGTERM or
/// SIGINT stops it gracefully, within `shutdown_timeout` (see [`crate::shutdown`]).
pub fn run_job(
    job: &JobConfig,
    batch: bool,
    cluster: Option<Cluster>,
    shutdown_timeout: std::time::Duration,
) -> Result<JobSummary> {
    let workers = if job.workers == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        job.workers
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("sluice-io")
        .enable_all()
        .build()?;
    let handle = runtime.handle().clone();
    sluice_connectors::delta::set_store_retry(&store_retry(job));
    if let Some(replay) = handle.block_on(open_checkpoints(job)?.replay_intent())? {
        anyhow::bail!(
            "a replay of job `{}` from epoch {} is under way; finish it first with \
             `sluice replay <job> --from-epoch {} --in-place`",
            job.job_id,
            replay.restart,
            replay.restart
        );
    }
    let stop = crate::shutdown::stop_on_signals(&handle, shutdown_timeout)?;
    let records_per_epoch = if batch {
        u64::MAX
    } else {
        job.trigger.records_per_epoch
    };
    let mut registry = Registry::default();
    let metrics = RunMetrics::register(&mut registry);
    let ready = Readiness::default();
    let endpoint = job
        .metrics
        .listen
        .map(|listen| MetricsEndpoint::serve(Arc::new(registry), listen, ready.clone()))
        .transpose()?;
    let (source, source_events) = open_source(job, batch, records_per_epoch, &handle)?;
    let bronze_schema = source.schema();
    let plan = Plan {
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
    };
    let mut tables = Vec::new();
    let mut startup_dead_letters = Vec::new();
    let mut feeds = Vec::new();
    for (i, j) in job.joins.iter().enumerate() {
        if j.effective_strategy() == JoinStrategy::Keyed {
            let feed = table_feed(j, &handle)
                .with_context(|| format!("joins[{i}] `{}`: opening its table", j.name))?;
            feeds.push(feed);
            continue;
        }
        let (table, dead) = load_table(&j.name, &j.table, &handle)
            .with_context(|| format!("joins[{i}] `{}`: loading its table", j.name))?;
        tables.push(table);
        startup_dead_letters.extend(dead);
    }
    for (i, r) in job.rules.iter().enumerate() {
        if let Some(reference) = &r.references {
            let (table, dead) = load_table(&r.name, &reference.table, &handle)
                .with_context(|| format!("rules[{i}] `{}`: loading its reference table", r.name))?;
            tables.push(table);
            startup_dead_letters.extend(dead);
        }
    }
    let compiled = CompiledPlan::compile(plan, &bronze_schema, &tables, &feeds)
        .context("compiling the job's SQL and joins")?;
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
            DeltaTableSink::open_with(&handle, &location, &app_id, schema, partitions, &options)
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
                        &handle,
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
    let checkpoints = open_checkpoints(job)?;
    let total = source_events;
    let bar = (std::io::stderr().is_terminal() && total > 0).then(|| {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} epoch {msg} [{bar:30}] {pos}/{len} events ({per_sec}, eta {eta})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar
    });
    let progress_bar = bar.clone();
    let progress = Arc::new(move |p: &sluice_engine::runtime::Progress| {
        ready.set(true);
        if let Some(bar) = &progress_bar {
            bar.set_message(p.epoch.to_string());
            bar.inc(p.records);
        }
        tracing::info!(
            epoch = p.epoch,
            records = p.records,
            final_epoch = p.final_epoch,
            plan_ms = p.plan_time.map(|t| t.as_secs_f64() * 1000.0),
            "epoch"
        );
    });
    let options = RunOptions {
        workers,
        checkpoints,
        runtime: handle.clone(),
        snapshot_every: job.checkpoint.every,
        keep_snapshots: job.checkpoint.keep,
        progress: Some(progress),
        trigger_interval: if batch { None } else { job.trigger.interval },
        cluster,
        idle_poll: std::time::Duration::from_millis(100),
        max_epochs_in_flight: job.trigger.max_epochs_in_flight,
        startup_dead_letters,
        metrics: metrics.clone(),
        stop,
        max_future: job.watermark.max_future,
        idle_timeout: if batch {
            None
        } else {
            job.watermark.idle_timeout
        },
    };
    let sinks = Sinks {
        bronze: bronze.clone(),
        silver: Arc::clone(&silver),
        gold: gold.clone(),
        aggregates: aggregates.clone(),
        dead_letters: Arc::clone(&dead),
        quality,
    };
    let summary = run(compiled, source, sinks, Arc::new(DeadLetterRows), options);
    // A compaction still running finishes before the job ends (it commits nothing the
    // tables need, but a stop mid-way would leave its files to vacuum).
    for compaction in compactions.borrow().iter() {
        if !compaction.wait_idle(std::time::Duration::from_secs(120)) {
            tracing::warn!("an auto-compaction still runs after 120 s; stopping without it");
        }
    }
    linger(job, endpoint.as_ref());
    let summary = summary?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let mut tables = Vec::new();
    let mut count = |name: &str| -> Result<()> {
        let location = tables_dir.join(name);
        let rows = DeltaTableSink::count_rows(&handle, &location)?;
        tables.push((name.to_string(), rows));
        Ok(())
    };
    if let Some(name) = &names.bronze {
        count(name)?;
    }
    count(&names.silver)?;
    if gold.is_some() {
        count(&names.gold)?;
    }
    for a in &job.aggregates {
        count(&a.name)?;
    }
    count(&names.dead_letters)?;
    drop(runtime);
    Ok(JobSummary {
        run: summary,
        tables,
        workers,
        source_events,
    })
}

/// Keeps the metrics endpoint up for the job's `metrics.linger` after the run.
fn linger(job: &JobConfig, endpoint: Option<&MetricsEndpoint>) {
    let (Some(endpoint), Some(linger)) = (endpoint, job.metrics.linger) else {
        return;
    };
    eprintln!(
        "serving the final metrics at http://{}/metrics for {}",
        endpoint.addr(),
        humantime::format_duration(linger)
    );
    std::thread::sleep(linger);
}

fn fields(job: &JobConfig) -> SchemaRef {
    schema_of(&job.source.schema)
}

/// The Arrow schema of declared fields.
fn schema_of(declared: &[sluice_config::FieldConfig]) -> SchemaRef {
    let fields: Vec<Field> = declared
        .iter()
        .map(|f| {
            let data_type = match f.data_type {
                FieldType::String => DataType::Utf8,
                FieldType::Long => DataType::Int64,
                FieldType::Int => DataType::Int32,
                FieldType::Double => DataType::Float64,
                FieldType::Boolean => DataType::Boolean,
                FieldType::Timestamp => {
                    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
                }
                FieldType::Date => DataType::Date32,
            };
            Field::new(&f.name, data_type, f.nullable)
        })
        .collect();
    Arc::new(Schema::new(fields))
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

/// The decoder of the job's `source.format`.
fn decoder(job: &JobConfig) -> Result<Decoder> {
    Decoder::build(job.source.format, job.source.avro.as_ref(), fields(job))
        .with_context(|| format!("source.format `{}`", job.source.format))
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

/// Opens the job's source; returns it with the number of events it holds when known
/// (0 for an unbounded stream). `batch` reads the input as one bounded epoch.
fn open_source(
    job: &JobConfig,
    batch: bool,
    records_per_epoch: u64,
    handle: &tokio::runtime::Handle,
) -> Result<(Arc<dyn EpochSource>, u64)> {
    if let Some(generator) = &job.source.generator {
        let source = GeneratorSource::new(generator.clone(), fields(job), records_per_epoch)
            .context("source.generator")?;
        return Ok((Arc::new(source), generator.events));
    }
    if let Some(kafka) = &job.source.kafka {
        let mut kafka = kafka.clone();
        if batch {
            kafka.ending_offsets.get_or_insert(EndingOffsets::Latest);
            kafka.max_records_per_epoch = u64::MAX;
        }
        let source = KafkaSource::new(kafka, decoder(job)?, &job.job_id).context("source.kafka")?;
        return Ok((Arc::new(source), 0));
    }
    if let Some(kinesis) = &job.source.kinesis {
        let mut kinesis = kinesis.clone();
        if batch {
            kinesis.ending.get_or_insert(Ending::Latest);
            kinesis.max_records_per_epoch = u64::MAX;
        }
        let name = kinesis.stream.clone();
        let source = KinesisSource::new(kinesis, decoder(job)?, name).context("source.kinesis")?;
        return Ok((Arc::new(source), 0));
    }
    if let Some(files) = &job.source.files {
        let declared = (!job.source.schema.is_empty()).then(|| fields(job));
        let mut files = files.clone();
        if batch {
            // One epoch, as for every source: a batch has no micro-batches to bound.
            files.bounded = true;
            files.max_files_per_epoch = None;
        }
        let source = FileSource::new(files, declared).context("source.files")?;
        if let Some(report) = source.inference_report() {
            eprintln!("{report}");
        }
        return Ok((Arc::new(source), 0));
    }
    if let Some(delta) = &job.source.delta {
        let mut delta = delta.clone();
        if batch {
            delta.bounded = true;
            delta.max_files_per_epoch = None;
        }
        let source = DeltaSource::new(delta, handle).context("source.delta")?;
        return Ok((Arc::new(source), 0));
    }
    anyhow::bail!("the job has no source")
}

/// The checkpoint store of `job`: `<output.dir>/checkpoints/<job-id>/`.
pub(crate) fn open_checkpoints(job: &JobConfig) -> Result<sluice_checkpoints::CheckpointStore> {
    let dir = Location::new(&job.output.dir, "checkpoints")?;
    sluice_checkpoints::CheckpointStore::open_with(dir.as_str(), &job.job_id, &store_retry(job))
        .with_context(|| format!("opening checkpoints at {}", dir.as_str()))
}

/// How `job`'s object-store requests are retried (its `object-store` settings).
fn store_retry(job: &JobConfig) -> sluice_checkpoints::StoreRetry {
    let settings = &job.object_store;
    sluice_checkpoints::StoreRetry {
        max_retries: settings.max_retries,
        retry_timeout: settings.retry_timeout,
        initial_backoff: settings.initial_backoff,
        max_backoff: settings.max_backoff,
    }
}

/// Where `job`'s tables live: `<output.dir>/tables`.
pub(crate) fn tables_location(job: &JobConfig) -> Result<Location> {
    Location::new(&job.output.dir, "tables")
}

/// A base location (local directory or object-store URL) and a folder under it.
#[derive(Clone, Debug)]
pub(crate) struct Location(String);

impl Location {
    /// `<base>/<sub>`; a local directory is created and made absolute.
    fn new(base: &std::path::Path, sub: &str) -> Result<Self> {
        let text = base.display().to_string();
        if text.contains("://") {
            return Ok(Self(format!("{}/{sub}", text.trim_end_matches('/'))));
        }
        let dir = base.join(sub);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self(std::fs::canonicalize(&dir)?.display().to_string()))
    }

    fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn join(&self, name: &str) -> String {
        format!("{}/{name}", self.0.trim_end_matches('/'))
    }
}
