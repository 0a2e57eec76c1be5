//! Compiling a job file into an engine plan with its source and sinks, and running it.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::datatypes::{Field, Schema, SchemaRef};
use prometheus_client::registry::Registry;
use sluice_config::{JobConfig, SourceColumns};
use sluice_connectors::dead_letter::DeadLetterRows;
use sluice_connectors::delta::DeltaSource;
use sluice_connectors::files::FileSource;
use sluice_connectors::format::Decoder;
use sluice_connectors::generator::GeneratorSource;
use sluice_connectors::kafka::{EndingOffsets, KafkaSource};
use sluice_connectors::kinesis::{Ending, KinesisSource};
use sluice_connectors::nexmark::NexmarkSource;
use sluice_engine::metrics::RunMetrics;
use sluice_engine::plan::CompiledPlan;
use sluice_engine::runtime::{Cluster, EpochSource, NamedSources, RunOptions, RunSummary, run};

use crate::metrics_endpoint::{MetricsEndpoint, Readiness};

mod progress;
mod pushdown;
mod sinks;
mod static_inputs;

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
    let plan = job.plan()?;
    let (sources, source_events) = open_sources(job, &plan, batch, records_per_epoch, &handle)?;
    let static_inputs::StaticTables {
        inputs,
        dead_letters: startup_dead_letters,
    } = static_inputs::static_tables(job, &handle)?;
    let compiled = CompiledPlan::compile_sources(plan, &schemas(&sources), &inputs)
        .context("compiling the job's SQL and joins")?;
    let whole = job.source_columns == SourceColumns::All;
    let (compiled, sources) = pushdown::read_only_what_is_read(compiled, sources, &inputs, whole)?;
    let source = as_one(sources)?;
    // Checked once the plan compiles: a job refused at start leaves no checkpoints.
    if let Some(replay) = handle.block_on(open_checkpoints(job)?.replay_intent())? {
        anyhow::bail!(
            "a replay of job `{}` from epoch {} is under way; finish it first with \
             `sluice replay <job> --from-epoch {} --in-place`",
            job.job_id,
            replay.restart,
            replay.restart
        );
    }
    let opened = sinks::open(job, &compiled, &handle, &metrics)?;
    let checkpoints = open_checkpoints(job)?;
    let (progress, bar) = progress::reporter(source_events, ready);
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
    let sinks = opened.sinks();
    let summary = run(compiled, source, sinks, Arc::new(DeadLetterRows), options);
    // A compaction still running finishes before the job ends (it commits nothing the
    // tables need, but a stop mid-way would leave its files to vacuum).
    for compaction in &opened.compactions {
        if !compaction.wait_idle(std::time::Duration::from_secs(120)) {
            tracing::warn!("an auto-compaction still runs after 120 s; stopping without it");
        }
    }
    linger(job, endpoint.as_ref());
    let summary = summary?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let tables = opened.count_rows(&handle)?;
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
pub(super) fn schema_of(declared: &[sluice_config::FieldConfig]) -> SchemaRef {
    let fields: Vec<Field> = declared
        .iter()
        .map(|f| {
            let data_type = f.data_type.arrow_type();
            Field::new(&f.name, data_type, f.nullable)
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// The decoder of the job's `source.format`.
fn decoder(job: &JobConfig) -> Result<Decoder> {
    Decoder::build(job.source.format, job.source.avro.as_ref(), fields(job))
        .with_context(|| format!("source.format `{}`", job.source.format))
}

/// Each source of a job by its stream's name.
pub(crate) type Sources = Vec<(String, Arc<dyn EpochSource>)>;

/// Opens every source of `job` (its `source`, and a SQL job's other source tables), each
/// named as the plan's stream of its rows; returns them with the number of events they
/// hold when known (0 for an unbounded stream).
fn open_sources(
    job: &JobConfig,
    plan: &sluice_engine::plan::Plan,
    batch: bool,
    records_per_epoch: u64,
    handle: &tokio::runtime::Handle,
) -> Result<(Sources, u64)> {
    let (main, mut events) = open_source(job, batch, records_per_epoch, handle)?;
    let mut sources = vec![(plan.source.clone(), main)];
    let others = job.queries.as_ref().map(|q| q.other_sources.as_slice());
    for (name, config) in others.unwrap_or_default() {
        let mut other = job.clone();
        other.source = config.clone();
        let (source, held) = open_source(&other, batch, records_per_epoch, handle)
            .with_context(|| format!("source table `{name}`"))?;
        events += held;
        sources.push((name.clone(), source));
    }
    Ok((sources, events))
}

/// Each source's schema, by stream name.
fn schemas(sources: &Sources) -> BTreeMap<String, SchemaRef> {
    sources
        .iter()
        .map(|(name, source)| (name.clone(), source.schema()))
        .collect()
}

/// The sources read as one: each source's rows routed to its stream.
fn as_one(mut sources: Sources) -> Result<Arc<dyn EpochSource>> {
    if sources.len() == 1 {
        return Ok(sources.remove(0).1);
    }
    Ok(Arc::new(NamedSources::new(sources)?))
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
    if let Some(nexmark) = &job.source.nexmark {
        let source =
            NexmarkSource::new(nexmark.clone(), records_per_epoch).context("source.nexmark")?;
        let generated = sluice_connectors::nexmark::fields(nexmark.kind);
        let declared = &job.source.schema;
        let names = |fields: &mut dyn Iterator<Item = String>| fields.collect::<Vec<_>>();
        let expected = names(&mut generated.iter().map(|f| f.name().clone()));
        if !declared.is_empty() && names(&mut declared.iter().map(|f| f.name.clone())) != expected {
            anyhow::bail!(
                "source.nexmark: the {:?} rows have the columns {expected:?}; declare those, \
                 in that order, or none",
                nexmark.kind
            );
        }
        return Ok((Arc::new(source), nexmark.events));
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
        if job.source.schema.is_empty() {
            return Ok((Arc::new(source), 0));
        }
        let declared = fields(job);
        source.check_declared(&declared).context("source.schema")?;
        return Ok((declared_only(source, &declared)?, 0));
    }
    anyhow::bail!("the job has no source")
}

/// A Delta `source`'s rows with the columns `declared` (a SQL `CREATE TABLE`'s), in its
/// order, as a declaration means: `SELECT *` reads them, and the table's other columns
/// are never decoded. The change feed's columns and the coordinates stay.
pub(super) fn declared_only(
    source: DeltaSource,
    declared: &Schema,
) -> Result<Arc<dyn EpochSource>> {
    let table = source.table_columns();
    let named: Vec<&String> = declared.fields().iter().map(|f| f.name()).collect();
    let mut columns: Vec<String> = named.iter().map(|n| (*n).clone()).collect();
    columns.extend(
        source
            .schema()
            .fields()
            .iter()
            .map(|f| f.name())
            .filter(|n| !named.contains(n) && !table.contains(n))
            .cloned(),
    );
    sluice_engine::runtime::read_only(Arc::new(source), &columns).context("source.schema")
}

/// The checkpoint store of `job`: `<output.dir>/checkpoints/<job-id>/`.
pub(crate) fn open_checkpoints(job: &JobConfig) -> Result<sluice_checkpoints::CheckpointStore> {
    let dir = Location::new(&job.output.dir, "checkpoints")?;
    sluice_checkpoints::CheckpointStore::open_with(dir.as_str(), &job.job_id, &store_retry(job))
        .with_context(|| format!("opening checkpoints at {}", dir.as_str()))
}

/// How `job`'s object-store requests are retried (its `object-store` settings).
pub(crate) fn store_retry(job: &JobConfig) -> sluice_checkpoints::StoreRetry {
    let settings = &job.object_store;
    sluice_checkpoints::StoreRetry {
        max_retries: settings.max_retries,
        retry_timeout: settings.retry_timeout,
        initial_backoff: settings.initial_backoff,
        max_backoff: settings.max_backoff,
    }
}

/// `job`'s plan compiled against its sources' schemas and the tables its joins read,
/// without running it (a replay checks an edited plan's state layout with it).
///
/// # Errors
/// A source or table that cannot be opened, or a plan that does not compile.
pub(crate) fn compile(job: &JobConfig, handle: &tokio::runtime::Handle) -> Result<CompiledPlan> {
    let plan = job.plan()?;
    let (sources, _) = open_sources(job, &plan, false, job.trigger.records_per_epoch, handle)?;
    let inputs = static_inputs::static_tables(job, handle)?.inputs;
    CompiledPlan::compile_sources(plan, &schemas(&sources), &inputs)
        .context("compiling the job's SQL and joins")
}

/// For each Kafka partition `job` reads (its source and a SQL job's other source tables),
/// `(topic, partition, offset)`: the first offset whose record's timestamp is at or after
/// `ms`, `None` where no record is that recent. `None` for a job that reads no Kafka topic.
///
/// # Errors
/// A Kafka source that cannot be opened or whose brokers do not answer.
pub(crate) fn kafka_offsets_at(
    job: &JobConfig,
    ms: i64,
) -> Result<Option<sluice_connectors::kafka::OffsetsAtTime>> {
    let mut configs = vec![job.source.clone()];
    if let Some(queries) = &job.queries {
        configs.extend(queries.other_sources.iter().map(|(_, c)| c.clone()));
    }
    let mut found: Option<Vec<_>> = None;
    for config in configs {
        let Some(kafka) = &config.kafka else { continue };
        let mut one = job.clone();
        one.source = config.clone();
        let source =
            KafkaSource::new(kafka.clone(), decoder(&one)?, &job.job_id).context("source.kafka")?;
        let offsets = source
            .offsets_at(ms)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("the offsets of topic(s) {:?} at {ms} ms", kafka.topics))?;
        found.get_or_insert_with(Vec::new).extend(offsets);
    }
    Ok(found)
}

/// The fingerprint of `job`'s plan, as its checkpoint records it.
///
/// # Errors
/// A window setting the engine does not accept.
pub(crate) fn plan_fingerprint(job: &JobConfig) -> Result<String> {
    Ok(job.plan()?.fingerprint())
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
