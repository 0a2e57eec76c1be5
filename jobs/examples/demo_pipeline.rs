//! The demo pipeline built with the plan's Rust API, as a team ships its own job binary:
//! the generator's events, data-quality rules, a silver projection and 5-minute windows
//! sliding every minute, committed exactly once into Delta tables.
//!
//! ```sh
//! cargo run --release --example demo_pipeline -- DIR [EVENTS] [EPOCH_EVENTS]
//! ```
//!
//! It writes `silver`, `gold_user_activity` and `dlq` under `DIR/tables/` and its
//! checkpoint under `DIR/checkpoints/`: the tables `sluice demo --dir DIR` writes, bronze
//! aside. Run it again on the same `DIR` and it resumes from the checkpoint.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use sluice_checkpoints::CheckpointStore;
use sluice_connectors::dead_letter::{self, DeadLetterRows};
use sluice_connectors::delta::DeltaTableSink;
use sluice_connectors::generator::{GeneratorConfig, GeneratorSource, event_schema};
use sluice_engine::plan::{CompiledPlan, PlanBuilder, RuleSet, SinkRole, StaticInputs};
use sluice_engine::runtime::{EpochSource, RunOptions, TableSink, run};
use sluice_engine::window::{AggregateFn, WindowKind, WindowSpec};

const JOB_ID: &str = "user-activity-rust";

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| "sluice-demo-rust".to_owned());
    let events: u64 = args.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let epoch_events: u64 = args.next().map_or(Ok(100_000), |a| a.parse())?;

    let rules = RuleSet {
        rules: vec![
            ("user_id_not_null".into(), "user_id IS NOT NULL".into()),
            ("value_non_negative".into(), "value >= 0".into()),
            (
                "event_type_known".into(),
                "event_type IN ('click', 'view', 'add_to_cart', 'purchase', 'search')".into(),
            ),
        ],
        ..RuleSet::default()
    };
    let sliding = WindowKind::Sliding {
        size: Duration::from_secs(300),
        slide: Duration::from_secs(60),
    };
    let window = WindowSpec::new("user_activity", sliding, "event_time")
        .with_keys(["user_id", "event_type"])
        .with_aggregate("event_count", AggregateFn::Count, None)
        .with_aggregate("total_value", AggregateFn::Sum, Some("value"))
        .with_aggregate("avg_value", AggregateFn::Avg, Some("value"))
        .with_delay(Duration::from_secs(600));
    let plan = PlanBuilder::new(JOB_ID, "events")
        .rules("rules", "events", rules)
        .project(
            "silver",
            "rules",
            true,
            &[("event_date", "CAST(event_time AS DATE)")],
        )
        .window("gold", "silver", window)
        .sink("silver", "silver")
        .sink("gold_user_activity", "gold")
        .dead_letters("dlq")
        .build()?;

    let generator = GeneratorConfig {
        events,
        ..GeneratorConfig::default()
    };
    let source = Arc::new(GeneratorSource::new(
        generator,
        event_schema(),
        epoch_events,
    )?);
    let compiled = CompiledPlan::compile(plan, &source.schema(), &StaticInputs::default())?;

    let runtime = tokio::runtime::Runtime::new()?;
    let handle = runtime.handle().clone();
    let mut sinks: BTreeMap<String, Arc<dyn TableSink>> = BTreeMap::new();
    for node in &compiled.plan.sinks {
        let (schema, partitions) = match node.role {
            SinkRole::DeadLetters => (dead_letter::schema(), vec![]),
            _ => {
                let schema = compiled.sink_schema(&node.name).context("a sink's rows")?;
                let partitions = if node.name == "silver" {
                    vec!["event_date".to_owned()]
                } else {
                    vec![]
                };
                (Arc::clone(schema), partitions)
            }
        };
        let location = format!("{dir}/tables/{}", node.name);
        let app_id = format!("{JOB_ID}/{}", node.name);
        let table = DeltaTableSink::open(&handle, &location, &app_id, schema, partitions)
            .with_context(|| format!("opening {location}"))?;
        sinks.insert(node.name.clone(), Arc::new(table));
    }
    let checkpoints = CheckpointStore::open(&format!("{dir}/checkpoints"), JOB_ID)?;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let options = RunOptions::new(workers, checkpoints, handle);
    let summary = run(compiled, source, sinks, Arc::new(DeadLetterRows), options)?;
    println!(
        "read {} records in {:.2?}; epochs up to {:?}",
        summary.records_read, summary.duration, summary.last_epoch
    );
    Ok(())
}
