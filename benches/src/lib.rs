//! Benchmark fixtures: pre-generated Arrow batches of user events, and a one-worker timely
//! dataflow that pushes them through an operator into a blackhole sink.
#![warn(missing_docs)]

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Float64Array, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use sluice_engine::Batches;
use sluice_engine::window::{
    AggregateFn, WindowControl, WindowExt, WindowKind, WindowSetup, WindowSpec,
};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::core::{Input, Probe};
use timely::dataflow::operators::generic::operator::Operator;

/// The event schema of the benchmarks.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, true),
        Field::new("event_type", DataType::Utf8, true),
        Field::new(
            "event_time",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("value", DataType::Float64, true),
    ]))
}

/// `batches` batches of `rows` events each: 1000 users, 5 event types, 10 ms apart with up
/// to 60 s of disorder. Deterministic.
pub fn events(batches: usize, rows: usize) -> Vec<RecordBatch> {
    let types = ["click", "view", "add_to_cart", "purchase", "search"];
    let base = 1_767_225_600_000_000i64;
    let mut state = 42u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    (0..batches)
        .map(|b| {
            let mut users = Vec::with_capacity(rows);
            let mut kinds = Vec::with_capacity(rows);
            let mut times = Vec::with_capacity(rows);
            let mut values = Vec::with_capacity(rows);
            for r in 0..rows {
                let i = (b * rows + r) as i64;
                users.push(format!("user_{:04}", next() % 1000));
                kinds.push(types[(next() % 5) as usize]);
                times.push(base + i * 10_000 - (next() % 60_000_000) as i64);
                values.push((next() % 10_000) as f64 / 100.0);
            }
            RecordBatch::try_new(
                schema(),
                vec![
                    Arc::new(StringArray::from(users)),
                    Arc::new(StringArray::from(kinds)),
                    Arc::new(TimestampMicrosecondArray::from(times).with_timezone("UTC")),
                    Arc::new(Float64Array::from(values)),
                ],
            )
            .expect("valid batch")
        })
        .collect()
}

/// The demo's gold aggregation: 5-minute windows every minute per (user, event type).
pub fn sliding_spec() -> WindowSpec {
    let sliding = WindowKind::Sliding {
        size: Duration::from_secs(300),
        slide: Duration::from_secs(60),
    };
    WindowSpec::new("gold", sliding, "event_time")
        .with_keys(["user_id", "event_type"])
        .with_aggregate("event_count", AggregateFn::Count, None)
        .with_aggregate("total_value", AggregateFn::Sum, Some("value"))
        .with_aggregate("avg_value", AggregateFn::Avg, Some("value"))
        .with_delay(Duration::from_secs(600))
}

/// Pushes `epochs` (each a list of batches) through `spec`'s window operator on one timely
/// worker into a blackhole; returns the result rows emitted.
pub fn run_window(spec: &WindowSpec, epochs: &[Vec<RecordBatch>]) -> usize {
    let spec = spec.clone();
    let epochs = epochs.to_vec();
    timely::execute_directly(move |worker| {
        let control = Rc::new(WindowControl::default());
        let emitted = Rc::new(std::cell::Cell::new(0usize));
        let counter = Rc::clone(&emitted);
        let (mut input, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (input, stream) = scope.new_input::<Batches>();
            let setup = WindowSetup {
                key_groups: 128,
                restore: vec![],
                first_epoch: 0,
                snapshot_every: 0,
                snapshots: None,
                control: Rc::clone(&control),
                overflows: Default::default(),
            };
            let out = stream.window(&spec, &schema(), setup).expect("valid spec");
            let (probe, results) = out.results.probe();
            results.sink(Pipeline, "Blackhole", move |(input, _)| {
                input.for_each(|_, c| counter.set(counter.get() + c.rows()));
            });
            out.late.sink(Pipeline, "BlackholeLate", |(input, _)| {
                input.for_each(|_, _| {})
            });
            (input, probe)
        });
        let last = epochs.len() as u64 - 1;
        for (e, batches) in epochs.into_iter().enumerate() {
            if e as u64 == last {
                control.final_epoch.set(Some(last));
            }
            for batch in batches {
                input.send_batch(&mut Batches::one(batch));
            }
            input.advance_to(e as u64 + 1);
            while probe.less_than(&(e as u64 + 1)) {
                worker.step();
            }
        }
        drop(input);
        while !probe.done() {
            worker.step();
        }
        emitted.get()
    })
}
