//! What doubles cannot keep: sums, minima and maxima of integers past 2^53, exact,
//! decimals, and the least and greatest text.

use std::sync::Arc;

use arrow::array::{Array, AsArray, Decimal128Array, Int8Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Decimal128Type, Field, Float64Type, Int64Type, Schema};
use arrow::record_batch::RecordBatch;

use super::{agg, epoch, global};
use crate::changelog::CHANGE_COLUMN;
use crate::window::{AggregateFn, WindowState};

/// 2^61: IDs and nanosecond times are this large; a double's step there is 512.
const BIG: i64 = 1 << 61;

fn spec_over(name: &str) -> crate::window::WindowSpec {
    global(
        name,
        &["k"],
        vec![
            agg("total", AggregateFn::Sum, Some("v")),
            agg("lo", AggregateFn::Min, Some("v")),
            agg("hi", AggregateFn::Max, Some("v")),
            agg("mean", AggregateFn::Avg, Some("v")),
        ],
        false,
    )
}

fn batch(schema: &Arc<Schema>, keys: &[&str], values: &[i64]) -> RecordBatch {
    RecordBatch::try_new(
        Arc::clone(schema),
        vec![
            Arc::new(StringArray::from(keys.to_vec())),
            Arc::new(Int64Array::from(values.to_vec())),
        ],
    )
    .unwrap()
}

/// Row `k`'s `(total, lo, hi)`, `None` where null.
fn row(out: &RecordBatch, k: &str) -> (Option<i64>, Option<i64>, Option<i64>) {
    let keys = out.column(0).as_string::<i32>();
    let i = (0..out.num_rows())
        .find(|&i| keys.value(i) == k)
        .unwrap_or_else(|| panic!("no row for {k}"));
    let int = |c: usize| {
        let column = out.column(c).as_primitive::<Int64Type>();
        column.is_valid(i).then(|| column.value(i))
    };
    (int(1), int(2), int(3))
}

#[test]
fn sums_minima_and_maxima_of_large_integers_are_exact_and_bigint() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, false),
        Field::new("v", DataType::Int64, false),
    ]));
    let mut state = WindowState::new(spec_over("w"), &schema).unwrap();
    let overflows = prometheus_client::metrics::counter::Counter::default();
    state.count_overflows_in(overflows.clone());
    for (name, data_type) in [
        ("total", DataType::Int64),
        ("lo", DataType::Int64),
        ("hi", DataType::Int64),
        ("mean", DataType::Float64),
    ] {
        assert_eq!(
            state
                .output_schema()
                .field_with_name(name)
                .unwrap()
                .data_type(),
            &data_type,
            "{name}"
        );
    }
    // In doubles, BIG + 1 and BIG + 3 are both BIG: the sum, min and max would be off.
    let out = epoch(
        &mut state,
        &batch(
            &schema,
            &["a", "a", "a", "b", "b"],
            &[BIG + 1, BIG + 3, -5, i64::MAX, i64::MAX],
        ),
    );
    assert_eq!(row(&out, "a"), (Some(2 * BIG - 1), Some(-5), Some(BIG + 3)));
    // `b`'s sum does not fit a BIGINT: null, where its min and max do; it is counted.
    assert_eq!(row(&out, "b"), (None, Some(i64::MAX), Some(i64::MAX)));
    assert_eq!(overflows.get(), 1);
    let mean = out.column(4).as_primitive::<Float64Type>();
    assert_eq!(mean.value(0), (2 * BIG - 1) as f64 / 3.0);

    // The exact fields go through a snapshot; and `b`, back in range, sums again.
    let bytes = state.snapshot(4).unwrap();
    let mut restored = WindowState::new(spec_over("w"), &schema).unwrap();
    restored
        .restore(&[bytes::Bytes::from(bytes.clone())], 0..4)
        .unwrap();
    assert_eq!(restored.snapshot(4).unwrap(), bytes);
    let more = batch(&schema, &["a", "b"], &[2, i64::MIN]);
    let (want, got) = (epoch(&mut state, &more), epoch(&mut restored, &more));
    assert_eq!(got, want);
    assert_eq!(row(&got, "a"), (Some(2 * BIG + 1), Some(-5), Some(BIG + 3)));
    assert_eq!(
        row(&got, "b"),
        (Some(i64::MAX - 1), Some(i64::MIN), Some(i64::MAX))
    );
}

#[test]
fn a_retracted_integer_leaves_the_exact_sum() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, false),
        Field::new("v", DataType::Int64, false),
        Field::new(CHANGE_COLUMN, DataType::Int8, false),
    ]));
    let spec = global(
        "w",
        &["k"],
        vec![agg("total", AggregateFn::Sum, Some("v"))],
        false,
    );
    let mut state = WindowState::new(spec, &schema).unwrap();
    let changes = |values: &[i64], weights: &[i8]| {
        RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from(vec!["a"; values.len()])),
                Arc::new(Int64Array::from(values.to_vec())),
                Arc::new(Int8Array::from(weights.to_vec())),
            ],
        )
        .unwrap()
    };
    let sum = |out: &RecordBatch| out.column(1).as_primitive::<Int64Type>().value(0);
    let out = epoch(&mut state, &changes(&[BIG + 1, BIG + 3, 7], &[1, 1, 1]));
    assert_eq!(sum(&out), 2 * BIG + 11);
    // Taking `BIG + 1` out leaves `BIG + 10`; in doubles, `BIG + 3 + 7` was `BIG`.
    let out = epoch(&mut state, &changes(&[BIG + 1], &[-1]));
    assert_eq!(sum(&out), BIG + 10);
}

#[test]
fn a_snapshot_of_an_earlier_build_restores_its_integers_from_the_doubles() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, false),
        Field::new("v", DataType::Int64, false),
    ]));
    let mut state = WindowState::new(spec_over("w"), &schema).unwrap();
    epoch(&mut state, &batch(&schema, &["a", "a", "b"], &[5, 7, -3]));
    let bytes = state.snapshot(4).unwrap();
    // An earlier build's snapshot: integers in the doubles `sum`, `min` and `max`, and no
    // exact columns.
    let reader =
        arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(&bytes), None).unwrap();
    let full = reader.schema();
    let kept: Vec<usize> = (0..full.fields().len())
        .filter(|&i| !full.field(i).name().contains("_int_"))
        .collect();
    assert_eq!(full.fields().len() - kept.len(), 12, "4 aggregates, 3 each");
    let older = Arc::new(full.project(&kept).unwrap());
    let in_doubles = |b: &RecordBatch| {
        let columns = older
            .fields()
            .iter()
            .map(|f| {
                let exact = ["sum", "min", "max"]
                    .iter()
                    .find_map(|m| f.name().strip_suffix(&format!("_{m}")).map(|a| (a, m)));
                match exact {
                    Some((a, m)) => arrow::compute::cast(
                        b.column_by_name(&format!("{a}_int_{m}")).unwrap(),
                        &DataType::Float64,
                    )
                    .unwrap(),
                    None => Arc::clone(b.column_by_name(f.name()).unwrap()),
                }
            })
            .collect();
        RecordBatch::try_new(Arc::clone(&older), columns).unwrap()
    };
    let mut old_bytes = Vec::new();
    let mut writer = arrow::ipc::writer::StreamWriter::try_new(&mut old_bytes, &older).unwrap();
    for b in reader {
        writer.write(&in_doubles(&b.unwrap())).unwrap();
    }
    writer.finish().unwrap();
    drop(writer);
    let mut restored = WindowState::new(spec_over("w"), &schema).unwrap();
    restored
        .restore(&[bytes::Bytes::from(old_bytes)], 0..4)
        .unwrap();
    let more = batch(&schema, &["a", "b"], &[1, 10]);
    let (want, got) = (epoch(&mut state, &more), epoch(&mut restored, &more));
    assert_eq!(got, want);
    assert_eq!(row(&got, "a"), (Some(13), Some(1), Some(7)));
    assert_eq!(row(&got, "b"), (Some(7), Some(-3), Some(10)));
}

#[test]
fn the_least_and_greatest_text_merge_across_panes_and_go_through_a_snapshot() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, false),
        Field::new(
            "ts",
            DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None),
            false,
        ),
        Field::new("s", DataType::Utf8, true),
    ]));
    let spec = crate::window::WindowSpec::new(
        "w",
        crate::window::WindowKind::Sliding {
            size: std::time::Duration::from_secs(20),
            slide: std::time::Duration::from_secs(10),
        },
        "ts",
    )
    .with_keys(["k"])
    .with_aggregate("lo", AggregateFn::Min, Some("s"))
    .with_aggregate("hi", AggregateFn::Max, Some("s"))
    .with_aggregate("n", AggregateFn::Count, Some("s"));
    let rows = |rows: &[(i64, Option<&str>)]| {
        RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from(vec!["a"; rows.len()])),
                Arc::new(arrow::array::TimestampMicrosecondArray::from_iter_values(
                    rows.iter().map(|r| r.0 * 1_000_000),
                )),
                Arc::new(StringArray::from_iter(rows.iter().map(|r| r.1))),
            ],
        )
        .unwrap()
    };
    // Panes [0, 10) and [10, 20): the window [0, 20) merges them.
    let first = rows(&[
        (1, Some("pear")),
        (3, None),
        (12, Some("apple")),
        (14, Some("Zed")),
    ]);
    let mut state = WindowState::new(spec.clone(), &schema).unwrap();
    state.begin_epoch();
    state.absorb(&first).unwrap();
    assert!(
        state
            .finish_epoch(Some(14), false)
            .unwrap()
            .results
            .is_none()
    );
    let bytes = state.snapshot(4).unwrap();
    let mut restored = WindowState::new(spec, &schema).unwrap();
    restored
        .restore(&[bytes::Bytes::from(bytes.clone())], 0..4)
        .unwrap();
    assert_eq!(restored.snapshot(4).unwrap(), bytes);
    let end = |state: &mut WindowState| {
        state.begin_epoch();
        state.absorb(&rows(&[(25, Some("fig"))])).unwrap();
        state.finish_epoch(None, true).unwrap().results.unwrap()
    };
    let (want, got) = (end(&mut state), end(&mut restored));
    assert_eq!(got, want);
    let text = |c: usize, i: usize| {
        let column = got.column(c).as_string::<i32>();
        column.is_valid(i).then(|| column.value(i).to_owned())
    };
    let windows: Vec<(Option<String>, Option<String>, i64)> = (0..got.num_rows())
        .map(|i| {
            (
                text(3, i),
                text(4, i),
                got.column(5).as_primitive::<Int64Type>().value(i),
            )
        })
        .collect();
    // Byte order, as Spark and DuckDB compare strings: "Zed" < "apple" < "pear".
    assert_eq!(
        windows,
        [
            (Some("pear".into()), Some("pear".into()), 1),
            (Some("Zed".into()), Some("pear".into()), 3),
            (Some("Zed".into()), Some("fig".into()), 3),
            (Some("fig".into()), Some("fig".into()), 1),
        ]
    );
    assert_eq!(
        got.schema().field(3).data_type(),
        &DataType::Utf8,
        "min of text is text"
    );
}

#[test]
fn decimals_sum_average_and_compare_exactly_in_spark_s_types() {
    let (schema, spec) = decimal_window(10, 2, Some(agg("spread", AggregateFn::Stddev, Some("v"))));
    let spec = || spec.clone();
    let mut state = WindowState::new(spec(), &schema).unwrap();
    assert_output_types(
        &state,
        &[
            ("total", DataType::Decimal128(20, 2)),
            ("lo", DataType::Decimal128(10, 2)),
            ("hi", DataType::Decimal128(10, 2)),
            ("mean", DataType::Decimal128(14, 6)),
            ("spread", DataType::Float64),
        ],
    );
    let batch = |keys: &[&str], cents: &[Option<i128>]| {
        let values = Decimal128Array::from(cents.to_vec())
            .with_precision_and_scale(10, 2)
            .unwrap();
        RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(StringArray::from(keys.to_vec())), Arc::new(values)],
        )
        .unwrap()
    };
    // a: 0.10 + 0.20 + 0.20 = 0.50 (in doubles 0.1 + 0.2 is not 0.3); mean 0.166667.
    // b: -0.01 and -0.02, mean -0.015 to six places. c: only nulls.
    let out = epoch(
        &mut state,
        &batch(
            &["a", "a", "a", "b", "b", "c", "a"],
            &[Some(10), Some(20), Some(20), Some(-1), Some(-2), None, None],
        ),
    );
    let cell = |column: usize, k: &str| {
        let keys = out.column(0).as_string::<i32>();
        let i = (0..out.num_rows()).find(|&i| keys.value(i) == k).unwrap();
        let values = out.column(column).as_primitive::<Decimal128Type>();
        values.is_valid(i).then(|| values.value(i))
    };
    assert_eq!(
        [1, 2, 3, 4].map(|c| cell(c, "a")),
        [Some(50), Some(10), Some(20), Some(166_667)]
    );
    assert_eq!(
        [1, 2, 3, 4].map(|c| cell(c, "b")),
        [Some(-3), Some(-2), Some(-1), Some(-15_000)]
    );
    assert_eq!([1, 2, 3, 4].map(|c| cell(c, "c")), [None; 4]);
    // a's sample deviation: sqrt((0.0667² + 0.0333² + 0.0333²) / 2) = 0.0577...
    let keys = out.column(0).as_string::<i32>();
    let a = (0..out.num_rows()).find(|&i| keys.value(i) == "a").unwrap();
    let spread = out.column(5).as_primitive::<Float64Type>().value(a);
    assert!((spread - 0.057_735).abs() < 1e-6, "{spread}");

    // Through a snapshot, the state goes on exactly.
    let bytes = state.snapshot(4).unwrap();
    let mut restored = WindowState::new(spec(), &schema).unwrap();
    restored
        .restore(&[bytes::Bytes::from(bytes)], 0..4)
        .unwrap();
    let more = batch(&["a"], &[Some(9_999_999_999)]);
    assert_eq!(epoch(&mut restored, &more), epoch(&mut state, &more));
}

/// Decimals of more than 18 digits sum, average and compare exactly in 128 bits, in
/// Spark's types capped at 38 digits; a sum past 128 bits or 38 digits is NULL.
#[test]
fn wide_decimals_sum_average_and_compare_in_128_bits() {
    let (schema, spec) = decimal_window(38, 18, None);
    let spec = || spec.clone();
    let mut state = WindowState::new(spec(), &schema).unwrap();
    assert_output_types(
        &state,
        &[
            ("total", DataType::Decimal128(38, 18)),
            ("lo", DataType::Decimal128(38, 18)),
            ("hi", DataType::Decimal128(38, 18)),
            ("mean", DataType::Decimal128(38, 22)),
        ],
    );
    let batch = |keys: &[&str], values: &[Option<i128>]| {
        let values = Decimal128Array::from(values.to_vec())
            .with_precision_and_scale(38, 18)
            .unwrap();
        RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(StringArray::from(keys.to_vec())), Arc::new(values)],
        )
        .unwrap()
    };
    // a: 10^19 (far past an i64) + 1 + 2; b: two values whose sum passes 38 digits.
    let big = 10i128.pow(19);
    let near = 9 * 10i128.pow(37);
    let first = batch(&["a", "a", "b"], &[Some(big), Some(1), Some(near)]);
    epoch(&mut state, &first);
    // Through a snapshot, the state goes on exactly.
    let bytes = state.snapshot(4).unwrap();
    let mut restored = WindowState::new(spec(), &schema).unwrap();
    restored
        .restore(&[bytes::Bytes::from(bytes)], 0..4)
        .unwrap();
    let more = batch(&["a", "b"], &[Some(2), Some(near)]);
    let out = epoch(&mut restored, &more);
    assert_eq!(out, epoch(&mut state, &more));
    let cell = |column: usize, k: &str| {
        let keys = out.column(0).as_string::<i32>();
        let i = (0..out.num_rows()).find(|&i| keys.value(i) == k).unwrap();
        let values = out.column(column).as_primitive::<Decimal128Type>();
        values.is_valid(i).then(|| values.value(i))
    };
    // The mean of a, (10^19 + 3) / 3 at 4 more places, rounded half up.
    assert_eq!(
        [1, 2, 3, 4].map(|c| cell(c, "a")),
        [
            Some(big + 3),
            Some(1),
            Some(big),
            Some(((big + 3) * 10_000 * 2 + 3) / 6)
        ]
    );
    // b's sum, 1.8 * 10^38, does not fit 38 digits (nor its mean scaled up): NULL.
    assert_eq!(
        [1, 2, 3, 4].map(|c| cell(c, "b")),
        [None, Some(near), Some(near), None]
    );

    // Over a changelog, the range could not take a value back out.
    let changelog = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, false),
        Field::new("v", DataType::Decimal128(38, 18), true),
        Field::new(crate::changelog::CHANGE_COLUMN, DataType::Int8, false),
    ]));
    let mut over_changes = spec();
    over_changes.aggregates.truncate(1);
    let err = WindowState::new(over_changes, &changelog).err().unwrap();
    assert!(err.to_string().contains("of more than 18 digits"), "{err}");
}

/// A global window by `k` of `v`, a `DECIMAL(precision, scale)`: its sum `total`, `lo`,
/// `hi` and `mean`, then `more`.
fn decimal_window(
    precision: u8,
    scale: i8,
    more: Option<crate::window::Aggregate>,
) -> (Arc<Schema>, crate::window::WindowSpec) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, false),
        Field::new("v", DataType::Decimal128(precision, scale), true),
    ]));
    let mut aggregates = vec![
        agg("total", AggregateFn::Sum, Some("v")),
        agg("lo", AggregateFn::Min, Some("v")),
        agg("hi", AggregateFn::Max, Some("v")),
        agg("mean", AggregateFn::Avg, Some("v")),
    ];
    aggregates.extend(more);
    (schema, global("w", &["k"], aggregates, false))
}

/// Asserts the types of `state`'s output columns.
fn assert_output_types(state: &WindowState, types: &[(&str, DataType)]) {
    for (name, data_type) in types {
        let field = state.output_schema().field_with_name(name).unwrap().clone();
        assert_eq!(field.data_type(), data_type, "{name}");
    }
}
