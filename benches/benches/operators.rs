//! Criterion benchmarks of the in-memory operators (DESIGN section 7), on pre-generated
//! Arrow batches with a blackhole sink, one worker.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sluice_benches::{events, run_window, schema, sliding_spec};
use sluice_engine::expr::SqlExpr;
use sluice_engine::stateless::{Check, Projection, Rule, split_by_rules};

const BATCHES: usize = 50;
const ROWS: usize = 8192;

fn stateless(c: &mut Criterion) {
    let batches = events(BATCHES, ROWS);
    let schema = schema();
    let rules = vec![
        Rule {
            name: "user".into(),
            check: Check::Sql(SqlExpr::compile("user_id IS NOT NULL", &schema).unwrap()),
            policy: Default::default(),
        },
        Rule {
            name: "value".into(),
            check: Check::Sql(SqlExpr::compile("value >= 0", &schema).unwrap()),
            policy: Default::default(),
        },
        Rule {
            name: "type".into(),
            check: Check::Sql(
                SqlExpr::compile(
                    "event_type IN ('click', 'view', 'add_to_cart', 'purchase', 'search')",
                    &schema,
                )
                .unwrap(),
            ),
            policy: Default::default(),
        },
    ];
    let projection = Projection::compile(
        &schema,
        true,
        &[("event_date".into(), "CAST(event_time AS DATE)".into())],
    )
    .unwrap();
    let mut group = c.benchmark_group("stateless");
    group.throughput(Throughput::Elements((BATCHES * ROWS) as u64));
    group.sample_size(10);
    group.bench_function("rules+project (filter/project)", |b| {
        b.iter(|| {
            let mut rows = 0;
            for batch in &batches {
                let (passed, _) = split_by_rules(&rules, batch).unwrap();
                rows += projection.apply(&passed).unwrap().num_rows();
            }
            black_box(rows)
        })
    });
    group.finish();
}

fn windows(c: &mut Criterion) {
    let batches = events(BATCHES, ROWS);
    // Ten epochs of five batches each.
    let epochs: Vec<Vec<_>> = batches.chunks(5).map(|c| c.to_vec()).collect();
    let spec = sliding_spec();
    let mut group = c.benchmark_group("window");
    group.throughput(Throughput::Elements((BATCHES * ROWS) as u64));
    group.sample_size(10);
    group.bench_function("sliding 5m/1m by (user, type), 1 worker", |b| {
        b.iter(|| black_box(run_window(&spec, &epochs)))
    });
    // Baseline, side by side: a plain single-threaded hash aggregation of the same sliding
    // windows, row at a time, with no watermark, eviction, timely or output batches.
    group.bench_function("baseline: naive HashMap sliding aggregate", |b| {
        b.iter(|| {
            use arrow::array::{AsArray, Float64Array};
            use arrow::datatypes::TimestampMicrosecondType;
            let mut state: std::collections::HashMap<(&str, &str, i64), (i64, f64)> =
                std::collections::HashMap::new();
            for batch in &batches {
                let users = batch.column(0).as_string::<i32>();
                let kinds = batch.column(1).as_string::<i32>();
                let times = batch.column(2).as_primitive::<TimestampMicrosecondType>();
                let values = batch
                    .column(3)
                    .as_any()
                    .downcast_ref::<Float64Array>()
                    .unwrap();
                for i in 0..batch.num_rows() {
                    let t = times.value(i);
                    let last = t.div_euclid(60_000_000) * 60_000_000;
                    for k in 0..5 {
                        let e = state
                            .entry((users.value(i), kinds.value(i), last - k * 60_000_000))
                            .or_insert((0, 0.0));
                        e.0 += 1;
                        e.1 += values.value(i);
                    }
                }
            }
            black_box(state.len())
        })
    });
    let mut tumbling = spec.clone();
    tumbling.kind = sluice_engine::window::WindowKind::Tumbling {
        size: std::time::Duration::from_secs(60),
    };
    group.bench_function("tumbling 1m by (user, type), 1 worker", |b| {
        b.iter(|| black_box(run_window(&tumbling, &epochs)))
    });
    group.finish();
}

criterion_group!(benches, stateless, windows);
criterion_main!(benches);
