//! `max_by`, `min_by` and `collect_list` over sliding windows in panes, through a
//! snapshot taken mid-way, against a naive reading of each window's rows.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, TimeUnit, TimestampMicrosecondType};
use arrow::record_batch::RecordBatch;

use crate::window::{AggregateFn, WindowKind, WindowSpec, WindowState};

/// `(key, second, price, bidder, name)`.
type Row = (&'static str, i64, Option<f64>, i64, Option<String>);

/// Prices repeat, so rows tie on the ordering; some prices and names are null.
fn rows() -> Vec<Row> {
    (0..300_i64)
        .map(|i| {
            let key = ["a", "b"][(i % 2) as usize];
            let price = (i % 13 != 0).then(|| ((i * 37) % 17) as f64 - 8.5);
            let name = (i % 7 != 0).then(|| format!("n{}", (i * 11) % 23));
            (key, i * 7 % 100, price, (i * 31) % 53, name)
        })
        .collect()
}

fn batch(schema: &Arc<Schema>, rows: &[Row]) -> RecordBatch {
    RecordBatch::try_new(
        Arc::clone(schema),
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(arrow::array::TimestampMicrosecondArray::from_iter_values(
                rows.iter().map(|r| r.1 * 1_000_000),
            )),
            Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.2))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.3))),
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.4.clone()))),
        ],
    )
    .unwrap()
}

/// The value the definition picks among `(ordering, value)`: the greatest (least)
/// ordering, ties to the greatest (least) value's text, a null value below every other.
fn naive<V: Ord + Clone>(rows: &[(f64, Option<V>)], max: bool) -> Option<Option<V>> {
    let mut best: Option<(f64, Option<V>)> = None;
    for (o, v) in rows {
        let better = match &best {
            None => true,
            Some((bo, bv)) => {
                let by = o.total_cmp(bo).then_with(|| v.cmp(bv));
                if max { by.is_gt() } else { by.is_lt() }
            }
        };
        if better {
            best = Some((*o, v.clone()));
        }
    }
    best.map(|(_, v)| v)
}

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
        Field::new("price", DataType::Float64, true),
        Field::new("bidder", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ]))
}

/// Windows of 20 seconds every 10, by `k`, in panes.
fn sliding() -> WindowSpec {
    WindowSpec::new(
        "w",
        WindowKind::Sliding {
            size: std::time::Duration::from_secs(20),
            slide: std::time::Duration::from_secs(10),
        },
        "ts",
    )
    .with_keys(["k"])
}

/// Every window of `spec` over `rows`: the first `split` in one epoch, which closes none,
/// then a snapshot restored into a new state, which takes the rest and closes them all.
fn through_a_snapshot(spec: WindowSpec, rows: &[Row], split: usize) -> RecordBatch {
    let schema = schema();
    let (first, second) = rows.split_at(split);
    let mut state = WindowState::new(spec.clone(), &schema).unwrap();
    state.begin_epoch();
    state.absorb(&batch(&schema, first)).unwrap();
    let early = state.finish_epoch(None, false).unwrap().results;
    assert!(early.is_none(), "no window closes before the watermark");
    let bytes = state.snapshot(4).unwrap();
    let mut restored = WindowState::new(spec, &schema).unwrap();
    restored
        .restore(&[bytes::Bytes::from(bytes.clone())], 0..4)
        .unwrap();
    assert_eq!(restored.snapshot(4).unwrap(), bytes);
    restored.begin_epoch();
    restored.absorb(&batch(&schema, second)).unwrap();
    restored.finish_epoch(None, true).unwrap().results.unwrap()
}

#[test]
fn picked_values_are_those_of_the_greatest_and_least_ordering_across_panes_and_a_snapshot() {
    let spec = sliding()
        .with_pick("top_bidder", AggregateFn::MaxBy, "bidder", "price")
        .with_pick("low_name", AggregateFn::MinBy, "name", "price")
        .with_pick("last_name", AggregateFn::MaxBy, "name", "ts");
    let all = rows();
    let got = through_a_snapshot(spec, &all, 170);
    assert_eq!(got.schema().field(3).data_type(), &DataType::Int64);
    assert_eq!(got.schema().field(4).data_type(), &DataType::Utf8);

    // Each window [s, s + 20) and key, from the rows alone.
    // (window start, key) to (top bidder, cheapest name, last name).
    type Picked = (Option<i64>, Option<String>, Option<String>);
    let mut want: BTreeMap<(i64, &str), Picked> = BTreeMap::new();
    for start in (-10..100).step_by(10) {
        for key in ["a", "b"] {
            let inside: Vec<_> = all
                .iter()
                .filter(|r| r.0 == key && r.1 >= start && r.1 < start + 20)
                .collect();
            if inside.is_empty() {
                continue;
            }
            let bidders: Vec<_> = inside
                .iter()
                .filter_map(|r| r.2.map(|p| (p, Some(r.3.to_string()))))
                .collect();
            let names: Vec<_> = inside
                .iter()
                .filter_map(|r| r.2.map(|p| (p, r.4.clone())))
                .collect();
            #[allow(clippy::cast_precision_loss)]
            let by_time: Vec<_> = inside.iter().map(|r| (r.1 as f64, r.4.clone())).collect();
            want.insert(
                (start, key),
                (
                    naive(&bidders, true)
                        .flatten()
                        .map(|b| b.parse::<i64>().unwrap()),
                    naive(&names, false).flatten(),
                    naive(&by_time, true).flatten(),
                ),
            );
        }
    }
    let starts = got.column(0).as_primitive::<TimestampMicrosecondType>();
    let keys = got.column(2).as_string::<i32>();
    let bidders = got.column(3).as_primitive::<Int64Type>();
    let text = |c: usize, i: usize| {
        let column = got.column(c).as_string::<i32>();
        column.is_valid(i).then(|| column.value(i).to_owned())
    };
    let mut seen = BTreeMap::new();
    for i in 0..got.num_rows() {
        seen.insert(
            (starts.value(i) / 1_000_000, keys.value(i)),
            (
                bidders.is_valid(i).then(|| bidders.value(i)),
                text(4, i),
                text(5, i),
            ),
        );
    }
    assert_eq!(seen, want);
    // Ties decided by the value's text: a window's greatest price held by bidders 8 and 31
    // gives 8.
    assert_eq!(seen[&(60, "a")].0, Some(8));
}

#[test]
fn collected_lists_hold_every_value_in_event_time_order_across_panes_and_a_snapshot() {
    let spec = sliding()
        .with_aggregate("names", AggregateFn::CollectList, Some("name"))
        .with_aggregate("prices", AggregateFn::CollectList, Some("price"));
    let all = rows();
    let got = through_a_snapshot(spec, &all, 130);

    // Each window's non-null values by event time, ties by the value's text.
    type Lists = (Vec<String>, Vec<String>);
    let mut want: BTreeMap<(i64, &str), Lists> = BTreeMap::new();
    for start in (-10..100).step_by(10) {
        for key in ["a", "b"] {
            let inside: Vec<&Row> = all
                .iter()
                .filter(|r| r.0 == key && r.1 >= start && r.1 < start + 20)
                .collect();
            if inside.is_empty() {
                continue;
            }
            let ordered = |values: Vec<(i64, String)>| {
                let mut values = values;
                values.sort();
                values.into_iter().map(|(_, v)| v).collect::<Vec<_>>()
            };
            let names = inside
                .iter()
                .filter_map(|r| r.4.clone().map(|n| (r.1, n)))
                .collect();
            let prices = inside
                .iter()
                .filter_map(|r| r.2.map(|p| (r.1, p.to_string())))
                .collect();
            want.insert((start, key), (ordered(names), ordered(prices)));
        }
    }
    let starts = got.column(0).as_primitive::<TimestampMicrosecondType>();
    let keys = got.column(2).as_string::<i32>();
    let texts = |c: usize, i: usize| -> Vec<String> {
        let list = got.column(c).as_list::<i32>().value(i);
        let list = arrow::compute::cast(&list, &DataType::Utf8).unwrap();
        list.as_string::<i32>()
            .iter()
            .map(|v| v.unwrap().to_owned())
            .collect()
    };
    let mut seen = BTreeMap::new();
    for i in 0..got.num_rows() {
        seen.insert(
            (starts.value(i) / 1_000_000, keys.value(i)),
            (texts(3, i), texts(4, i)),
        );
    }
    assert_eq!(seen, want);
    assert!(seen.values().any(|(names, _)| names.len() > 5));
}
