//! `sum(DISTINCT c)` and `avg(DISTINCT c)`: each window's set of distinct values, read
//! back as numbers, against `sum` and `avg` over the values deduplicated by hand.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::{ArrayRef, Decimal128Array, Float64Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;

use super::{agg, epoch, global};
use crate::window::{AggregateFn, WindowState};

/// Keys and values (unscaled, for decimals), with repeats and nulls: every key in both
/// halves, so that the second epoch emits every key.
fn rows() -> Vec<(&'static str, Option<i64>)> {
    let keys = ["a", "b", "c"];
    (0..120)
        .map(|i| {
            let value = (i % 11 != 0).then(|| (i * 7 % 13) - 4);
            (keys[i as usize % 3], value)
        })
        .collect()
}

/// A batch of `rows` whose values are of `data_type` (integers, doubles of halves, or
/// decimals of two places).
fn batch(schema: &Arc<Schema>, rows: &[(&str, Option<i64>)]) -> RecordBatch {
    let values = rows.iter().map(|(_, v)| *v);
    let column: ArrayRef = match schema.field(1).data_type() {
        DataType::Int64 => Arc::new(Int64Array::from_iter(values)),
        DataType::Float64 => Arc::new(Float64Array::from_iter(
            values.map(|v| v.map(|v| v as f64 / 2.0)),
        )),
        DataType::Decimal128(p, s) => Arc::new(
            Decimal128Array::from_iter(values.map(|v| v.map(i128::from)))
                .with_precision_and_scale(*p, *s)
                .unwrap(),
        ),
        other => panic!("{other}"),
    };
    RecordBatch::try_new(
        Arc::clone(schema),
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|(k, _)| *k))),
            column,
        ],
    )
    .unwrap()
}

#[test]
fn distinct_sums_and_means_equal_plain_ones_over_deduplicated_values() {
    for data_type in [
        DataType::Int64,
        DataType::Float64,
        DataType::Decimal128(10, 2),
    ] {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, false),
            Field::new("v", data_type.clone(), true),
        ]));
        let distinct = global(
            "w",
            &["k"],
            vec![
                agg("s", AggregateFn::SumDistinct, Some("v")),
                agg("m", AggregateFn::AvgDistinct, Some("v")),
            ],
            false,
        );
        let plain = global(
            "w",
            &["k"],
            vec![
                agg("s", AggregateFn::Sum, Some("v")),
                agg("m", AggregateFn::Avg, Some("v")),
            ],
            false,
        );
        let all = rows();
        let (first, second) = all.split_at(all.len() / 2);
        // The distinct aggregates over two epochs, through a snapshot between them.
        let mut state = WindowState::new(distinct.clone(), &schema).unwrap();
        epoch(&mut state, &batch(&schema, first));
        let bytes = state.snapshot(4).unwrap();
        let mut restored = WindowState::new(distinct, &schema).unwrap();
        restored
            .restore(&[bytes::Bytes::from(bytes)], 0..4)
            .unwrap();
        let got = epoch(&mut restored, &batch(&schema, second));
        assert_eq!(
            got,
            epoch(&mut state, &batch(&schema, second)),
            "{data_type}"
        );
        // The plain ones over the values deduplicated per key.
        let unique: BTreeSet<(&str, Option<i64>)> = all.iter().copied().collect();
        let unique: Vec<_> = unique.into_iter().collect();
        assert!(unique.len() < all.len() / 2, "{data_type}: repeats matter");
        let mut reference = WindowState::new(plain, &schema).unwrap();
        let want = epoch(&mut reference, &batch(&schema, &unique));
        assert_eq!(got, want, "{data_type}");
        assert_eq!(got.num_rows(), 3);
    }
    // Of text there is no sum.
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, false),
        Field::new("v", DataType::Utf8, true),
    ]));
    let spec = global(
        "w",
        &["k"],
        vec![agg("s", AggregateFn::SumDistinct, Some("v"))],
        false,
    );
    let err = WindowState::new(spec, &schema).err().unwrap();
    assert!(err.to_string().contains("it takes numbers"), "{err}");
}

/// `collect_set`: each key's distinct non-null values, sorted, of the column's type, for
/// every type text reads back, through a snapshot; only nulls give an empty array.
#[test]
fn collected_sets_are_the_sorted_distinct_values_of_the_column_s_type() {
    use arrow::array::{
        Array, AsArray, BooleanArray, Date32Array, ListArray, TimestampMicrosecondArray,
    };

    let keys = ["a", "b", "a", "a", "b", "a", "c", "b", "a"];
    let raw: [Option<i64>; 9] = [
        Some(10),
        Some(-3),
        Some(9),
        Some(10),
        None,
        Some(-1),
        None,
        Some(-3),
        Some(100),
    ];
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(raw.to_vec())),
        Arc::new(Float64Array::from_iter(
            raw.iter().map(|v| v.map(|v| v as f64 / 4.0)),
        )),
        Arc::new(
            Decimal128Array::from_iter(raw.iter().map(|v| v.map(i128::from)))
                .with_precision_and_scale(12, 3)
                .unwrap(),
        ),
        Arc::new(StringArray::from_iter(
            raw.iter().map(|v| v.map(|v| format!("v{v}"))),
        )),
        Arc::new(
            TimestampMicrosecondArray::from_iter(
                raw.iter()
                    .map(|v| v.map(|v| 1_700_000_000_123_456 + v * 1_000_001)),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(Date32Array::from_iter(
            raw.iter().map(|v| v.map(|v| 19_000 + v as i32)),
        )),
        Arc::new(BooleanArray::from_iter(
            raw.iter().map(|v| v.map(|v| v > 0)),
        )),
    ];
    for values in columns {
        let data_type = values.data_type().clone();
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, false),
            Field::new("v", data_type.clone(), true),
        ]));
        let spec = global(
            "w",
            &["k"],
            vec![agg("set", AggregateFn::CollectSet, Some("v"))],
            false,
        );
        let batch = |range: std::ops::Range<usize>| {
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(StringArray::from_iter_values(keys[range.clone()].iter())),
                    values.slice(range.start, range.len()),
                ],
            )
            .unwrap()
        };
        let mut state = WindowState::new(spec.clone(), &schema).unwrap();
        epoch(&mut state, &batch(0..4));
        let bytes = state.snapshot(4).unwrap();
        let mut restored = WindowState::new(spec, &schema).unwrap();
        restored
            .restore(&[bytes::Bytes::from(bytes)], 0..4)
            .unwrap();
        let out = epoch(&mut restored, &batch(4..keys.len()));
        assert_eq!(out, epoch(&mut state, &batch(4..keys.len())), "{data_type}");
        assert_eq!(
            out.schema().field(1).data_type(),
            &DataType::List(Arc::new(Field::new("item", data_type.clone(), true)))
        );
        // The reference: each key's distinct non-null values, sorted by the kernel.
        let lists = out.column(1).as_any().downcast_ref::<ListArray>().unwrap();
        let out_keys = out.column(0).as_string::<i32>();
        for (r, key) in out_keys.iter().enumerate() {
            let key = key.unwrap();
            let mine: Vec<u32> = (0..keys.len() as u32)
                .filter(|&i| keys[i as usize] == key && values.is_valid(i as usize))
                .collect();
            let taken = arrow::compute::take(
                values.as_ref(),
                &arrow::array::UInt32Array::from(mine),
                None,
            )
            .unwrap();
            let sorted = arrow::compute::sort(&taken, None).unwrap();
            let mut want: Vec<String> = Vec::new();
            let text = arrow::compute::cast(&sorted, &DataType::Utf8).unwrap();
            for v in text.as_string::<i32>().iter().flatten() {
                if want.last().map(String::as_str) != Some(v) {
                    want.push(v.to_owned());
                }
            }
            let got = arrow::compute::cast(&lists.value(r), &DataType::Utf8).unwrap();
            let got: Vec<String> = got
                .as_string::<i32>()
                .iter()
                .map(|v| v.unwrap().to_owned())
                .collect();
            assert_eq!(got, want, "{data_type}, key {key}");
            if key == "c" {
                assert!(got.is_empty(), "only nulls: an empty array");
            }
        }
    }
}
