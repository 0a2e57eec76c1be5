//! A global window's changelog, the lookup and the order of encoded keys.

use std::sync::Arc;

use arrow::array::{Array, AsArray, Int8Array, Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Float64Type, Int8Type, Int64Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use super::{OpenWindows, WindowState, key_order, slots_of};
use crate::changelog::CHANGE_COLUMN;
use crate::window::{Aggregate, AggregateFn, OutputMode, WindowKind, WindowSpec};

fn global(name: &str, keys: &[&str], aggregates: Vec<Aggregate>, changelog: bool) -> WindowSpec {
    WindowSpec {
        name: name.into(),
        kind: WindowKind::Global,
        time_column: String::new(),
        keys: keys.iter().map(|k| (*k).to_owned()).collect(),
        aggregates,
        delay: std::time::Duration::ZERO,
        mode: OutputMode::Update,
        allowed_lateness: std::time::Duration::ZERO,
        watermark_from: None,
        watermark_also: Vec::new(),
        changelog,
        deletes: false,
        offset: std::time::Duration::ZERO,
        gap_column: None,
    }
}

fn agg(name: &str, function: AggregateFn, column: Option<&str>) -> Aggregate {
    Aggregate {
        name: name.into(),
        function,
        column: column.map(str::to_owned),
        by: None,
    }
}

/// One epoch of `state` over `batch`: its output.
fn epoch(state: &mut WindowState, batch: &RecordBatch) -> RecordBatch {
    state.begin_epoch();
    assert!(
        state.absorb(batch).unwrap().is_none(),
        "a global window has no late rows"
    );
    state.finish_epoch(None, false).unwrap().results.unwrap()
}

#[test]
fn a_global_window_retracts_a_changed_group_s_old_row_and_an_outer_one_takes_it_out() {
    // Inner: each auction's highest bid and bid count, as a changelog.
    let bids = Arc::new(Schema::new(vec![
        Field::new("auction", DataType::Utf8, false),
        Field::new("price", DataType::Int64, false),
    ]));
    let inner_spec = global(
        "inner",
        &["auction"],
        vec![
            agg("hi", AggregateFn::Max, Some("price")),
            agg("n", AggregateFn::Count, None),
        ],
        true,
    );
    let mut inner = WindowState::new(inner_spec, &bids).unwrap();
    let batch = |rows: &[(&str, i64)]| {
        RecordBatch::try_new(
            Arc::clone(&bids),
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
            ],
        )
        .unwrap()
    };
    let rows = |out: &RecordBatch| -> Vec<(String, i64, i64, i8)> {
        (0..out.num_rows())
            .map(|i| {
                (
                    out.column(0).as_string::<i32>().value(i).to_owned(),
                    out.column(1).as_primitive::<Int64Type>().value(i),
                    out.column(2).as_primitive::<Int64Type>().value(i),
                    out.column(3).as_primitive::<Int8Type>().value(i),
                )
            })
            .collect()
    };
    let first = epoch(&mut inner, &batch(&[("b", 1), ("a", 5), ("a", 7)]));
    assert_eq!(
        first.schema().field(3).name(),
        CHANGE_COLUMN,
        "{:?}",
        first.schema()
    );
    assert_eq!(rows(&first), [("a".into(), 7, 2, 1), ("b".into(), 1, 1, 1)]);
    // Only `a` changes: its old row is retracted before its new one.
    let second = epoch(&mut inner, &batch(&[("a", 9)]));
    assert_eq!(
        rows(&second),
        [("a".into(), 7, 2, -1), ("a".into(), 9, 3, 1)]
    );

    // Outer: the average of the highest bids over the changelog.
    let changes = Arc::new(Schema::new(vec![
        Field::new("hi", DataType::Int64, true),
        Field::new(CHANGE_COLUMN, DataType::Int8, false),
    ]));
    let outer_spec = global(
        "outer",
        &[],
        vec![agg("avg_hi", AggregateFn::Avg, Some("hi"))],
        false,
    );
    let mut outer = WindowState::new(outer_spec, &changes).unwrap();
    let feed = |out: &RecordBatch| {
        RecordBatch::try_new(
            Arc::clone(&changes),
            vec![Arc::clone(out.column(1)), Arc::clone(out.column(3))],
        )
        .unwrap()
    };
    let avg = |out: &RecordBatch| out.column(0).as_primitive::<Float64Type>().value(0);
    assert_eq!(avg(&epoch(&mut outer, &feed(&first))), 4.0);
    assert_eq!(avg(&epoch(&mut outer, &feed(&second))), 5.0);

    // A group all of whose rows are retracted is gone, and says so in a changelog.
    let gone = RecordBatch::try_new(
        Arc::clone(&changes),
        vec![
            Arc::new(Int64Array::from(vec![7, 1])),
            Arc::new(Int8Array::from(vec![-1, -1])),
        ],
    )
    .unwrap();
    let spec = global(
        "outer2",
        &[],
        vec![agg("total", AggregateFn::Sum, Some("hi"))],
        true,
    );
    let mut emptied = WindowState::new(spec, &changes).unwrap();
    epoch(&mut emptied, &feed(&first));
    let out = epoch(&mut emptied, &gone);
    assert_eq!(out.num_rows(), 1);
    assert_eq!(out.column(1).as_primitive::<Int8Type>().value(0), -1);
    assert_eq!(emptied.open_entries(), 0);

    // Min, max and distinct counts cannot take a value back out.
    let spec = global(
        "bad",
        &[],
        vec![agg("lo", AggregateFn::Min, Some("hi"))],
        false,
    );
    let err = WindowState::new(spec, &changes).err().unwrap().to_string();
    assert!(
        err.contains("cannot take a retracted value back out"),
        "{err}"
    );
    assert!(out.column(0).is_valid(0));
}

#[test]
fn keys_are_found_and_told_apart_whatever_their_length() {
    let mut open = OpenWindows::default();
    let keys: [&[u8]; 5] = [b"", b"a", b"ab", b"ac", &[7u8; 40]];
    for (i, key) in keys.iter().enumerate() {
        slots_of(&mut open, key).push(super::Slot {
            start: i as i64,
            end: 0,
            acc: super::Accumulator::new(&[]),
            changed: false,
        });
    }
    assert_eq!(open.len(), keys.len());
    for (i, key) in keys.iter().enumerate() {
        // Found by the stored key's own hash and equality, as a snapshot's reader does.
        assert_eq!(open[&key.to_vec().into_boxed_slice()][0].start, i as i64);
        assert_eq!(
            slots_of(&mut open, key).len(),
            1,
            "{key:?} found, not added again"
        );
    }
    assert_eq!(open.len(), keys.len());
}

#[test]
fn key_order_is_the_byte_order() {
    let keys: Vec<&[u8]> = vec![
        b"",
        b"\0",
        b"a",
        b"a\0",
        b"a\0\x01",
        b"aa\xff",
        b"ab",
        b"abcdefgh",
        b"abcdefgh\0",
        b"abcdefgi",
        b"abcdefghz",
        b"\xff\xff\xff\xff\xff\xff\xff\xff\xff",
    ];
    for a in &keys {
        for b in &keys {
            assert_eq!(key_order(a, b), a.cmp(b), "{a:?} {b:?}");
        }
    }
}

#[test]
fn emitted_windows_sort_by_window_then_key_as_a_plain_sort_does() {
    // Keys sharing long prefixes, windows repeating: ties on the 8-byte prefix go to the
    // whole key; each cycle of the permutation is applied.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |n: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        (state >> 33) % n
    };
    for len in [0usize, 1, 2, 3, 17, 500] {
        let mut emitted: super::Emitted = (0..len)
            .map(|i| {
                let mut key = b"prefix!!".to_vec();
                key.extend(std::iter::repeat_n(b'k', next(3) as usize));
                key.push(next(4) as u8);
                let start = next(5) as i64 * 10;
                let slot = super::Slot {
                    start,
                    end: start + 10 + next(2) as i64,
                    acc: crate::window::accumulator::Accumulator::new(&[]),
                    changed: false,
                };
                // The row count tells the slots apart after the sort.
                let mut slot = slot;
                slot.acc.rows = i as i64;
                (key.into_boxed_slice(), slot)
            })
            .collect();
        let mut want: Vec<(i64, i64, Vec<u8>, i64)> = emitted
            .iter()
            .map(|(k, s)| (s.start, s.end, k.to_vec(), s.acc.rows))
            .collect();
        want.sort_by(|a, b| (a.0, a.1, &a.2).cmp(&(b.0, b.1, &b.2)));
        super::sort_emitted(&mut emitted);
        let got: Vec<(i64, i64, Vec<u8>, i64)> = emitted
            .iter()
            .map(|(k, s)| (s.start, s.end, k.to_vec(), s.acc.rows))
            .collect();
        // Equal windows and keys may come in either order: compare without the tag, then
        // check that every slot is still there.
        let strip = |v: &[(i64, i64, Vec<u8>, i64)]| -> Vec<(i64, i64, Vec<u8>)> {
            v.iter().map(|(a, b, k, _)| (*a, *b, k.clone())).collect()
        };
        assert_eq!(strip(&got), strip(&want), "{len} slots");
        let mut tags: Vec<i64> = got.iter().map(|g| g.3).collect();
        tags.sort_unstable();
        assert_eq!(tags, (0..len as i64).collect::<Vec<_>>());
    }
}

/// A sliding window's state as checkpoints written before panes held it: one slot per
/// open window, rebuilt from the panes of `state` by merging them.
fn as_whole_windows(state: &WindowState) -> super::OpenWindows {
    let panes = state.panes.expect("a sliding window");
    let bound = state.watermark.current();
    let mut open = super::OpenWindows::default();
    for (key, slots) in &state.open {
        let mut windows: std::collections::BTreeMap<i64, super::Slot> = Default::default();
        for slot in slots {
            for (start, end) in panes.windows(slot.start, slot.end) {
                if bound.is_some_and(|w| end <= w) {
                    continue;
                }
                windows
                    .entry(start)
                    .or_insert_with(|| super::Slot {
                        start,
                        end,
                        acc: super::Accumulator::new(&state.kept),
                        changed: false,
                    })
                    .acc
                    .merge(&slot.acc, &state.kept);
            }
        }
        open.insert(key.clone(), windows.into_values().collect());
    }
    open
}

/// Rows of a string `key`, a microsecond timestamp `ts` and an integer `v`.
fn key_ts_v() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new(
            "ts",
            DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None),
            false,
        ),
        Field::new("v", DataType::Int64, false),
    ]))
}

#[test]
fn a_checkpoint_of_whole_windows_restores_and_goes_on_with_panes() {
    let schema = key_ts_v();
    let second = 1_000_000;
    let batch = |rows: &[(&str, i64, i64)]| {
        RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(arrow::array::TimestampMicrosecondArray::from_iter_values(
                    rows.iter().map(|r| r.1 * second),
                )),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
            ],
        )
        .unwrap()
    };
    let spec = WindowSpec {
        name: "w".into(),
        kind: WindowKind::Sliding {
            size: std::time::Duration::from_secs(50),
            slide: std::time::Duration::from_secs(20),
        },
        time_column: "ts".into(),
        keys: vec!["key".into()],
        aggregates: vec![
            agg("n", AggregateFn::Count, None),
            agg("total", AggregateFn::Sum, Some("v")),
        ],
        delay: std::time::Duration::from_secs(30),
        mode: OutputMode::Append,
        allowed_lateness: std::time::Duration::ZERO,
        watermark_from: None,
        watermark_also: Vec::new(),
        changelog: false,
        deletes: false,
        offset: std::time::Duration::ZERO,
        gap_column: None,
    };
    let epochs = [
        batch(&[("a", 5, 1), ("a", 17, 2), ("b", 33, 4), ("a", 41, 8)]),
        // `a` at 44 opens the pane [40, 50) beside the restored window [40, 90).
        batch(&[
            ("a", 64, 16),
            ("b", 38, 32),
            ("a", 12, 64),
            ("b", 90, 128),
            ("a", 44, 4096),
        ]),
        batch(&[("a", 95, 256), ("b", 71, 512), ("a", 130, 1024)]),
        batch(&[("b", 150, 2048)]),
    ];
    // The rows of an epoch's output: (start s, end s, key, n, total).
    let run = |state: &mut WindowState, epoch: &RecordBatch, last: bool| {
        state.begin_epoch();
        let _late = state.absorb(epoch).unwrap();
        let max = (0..epoch.num_rows())
            .map(|i| {
                epoch
                    .column(1)
                    .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                    .value(i)
            })
            .max();
        let out = state.finish_epoch(max, last).unwrap().results;
        let mut rows = Vec::new();
        if let Some(out) = out {
            let ts = |c: usize, i: usize| {
                out.column(c)
                    .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                    .value(i)
                    / second
            };
            for i in 0..out.num_rows() {
                rows.push((
                    ts(0, i),
                    ts(1, i),
                    out.column(2).as_string::<i32>().value(i).to_owned(),
                    out.column(3).as_primitive::<Int64Type>().value(i),
                    out.column(4).as_primitive::<Int64Type>().value(i),
                ));
            }
        }
        rows
    };
    let mut straight = WindowState::new(spec.clone(), &schema).unwrap();
    let mut restored = WindowState::new(spec.clone(), &schema).unwrap();
    let mut want = Vec::new();
    for (e, epoch) in epochs.iter().enumerate() {
        want.extend(run(&mut straight, epoch, e == epochs.len() - 1));
    }
    let mut got = run(&mut restored, &epochs[0], false);
    // What an older release would have checkpointed: whole windows, written and read back.
    restored.open = as_whole_windows(&restored);
    assert!(
        restored
            .open
            .values()
            .flatten()
            .any(|s| s.end - s.start == 50 * second),
        "the old form holds whole windows"
    );
    let bytes = restored.snapshot(4).unwrap();
    let mut restored = WindowState::new(spec, &schema).unwrap();
    restored
        .restore(&[bytes::Bytes::from(bytes)], 0..4)
        .unwrap();
    for (e, epoch) in epochs.iter().enumerate().skip(1) {
        got.extend(run(&mut restored, epoch, e == epochs.len() - 1));
    }
    assert!(want.len() > 6, "{want:?}");
    assert_eq!(got, want);
    // Window [0, 50) of `a` holds 5, 17, 41, the late-arriving 12 and 44; [40, 90) holds
    // 41, 44 and 64.
    assert!(want.contains(&(0, 50, "a".into(), 5, 4171)), "{want:?}");
    assert!(want.contains(&(40, 90, "a".into(), 3, 4120)), "{want:?}");
}

#[test]
fn sessions_in_update_mode_name_the_sessions_merged_into_an_earlier_one() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new(
            "ts",
            DataType::Timestamp(arrow::datatypes::TimeUnit::Second, None),
            false,
        ),
    ]));
    let batch = |rows: &[(&str, i64)]| {
        RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(arrow::array::TimestampSecondArray::from_iter_values(
                    rows.iter().map(|r| r.1),
                )),
            ],
        )
        .unwrap()
    };
    let spec = WindowSpec {
        name: "sessions".into(),
        kind: WindowKind::Session {
            gap: std::time::Duration::from_secs(30),
        },
        time_column: "ts".into(),
        keys: vec!["key".into()],
        aggregates: vec![agg("n", AggregateFn::Count, None)],
        delay: std::time::Duration::from_secs(3600),
        mode: OutputMode::Update,
        allowed_lateness: std::time::Duration::ZERO,
        watermark_from: None,
        watermark_also: Vec::new(),
        changelog: false,
        deletes: true,
        offset: std::time::Duration::ZERO,
        gap_column: None,
    };
    let mut state = WindowState::new(spec.clone(), &schema).unwrap();
    // (start s, end s, key, n, change)
    let mut epoch = |rows: &[(&str, i64)]| {
        state.begin_epoch();
        assert!(state.absorb(&batch(rows)).unwrap().is_none());
        let out = state.finish_epoch(Some(0), false).unwrap().results.unwrap();
        let ts = |c: usize, i: usize| {
            out.column(c)
                .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                .value(i)
                / 1_000_000
        };
        (0..out.num_rows())
            .map(|i| {
                (
                    ts(0, i),
                    ts(1, i),
                    out.column(2).as_string::<i32>().value(i).to_owned(),
                    out.column(3).as_primitive::<Int64Type>().value(i),
                    out.column(4).as_primitive::<Int8Type>().value(i),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        epoch(&[("a", 0), ("a", 100), ("b", 7)]),
        [
            (0, 30, "a".into(), 1, 1),
            (7, 37, "b".into(), 1, 1),
            (100, 130, "a".into(), 1, 1)
        ]
    );
    // 25 extends [0, 30) forward: same start, no delete. 90 extends [100, 130) back:
    // the row of the session starting at 100 must go. For `b`, 50 opens a session, 40
    // extends it back (start 50 merged away), and 20 joins it to [7, 37) (start 40 merged
    // away), all in the same epoch: neither reached the table, and their deletes delete
    // nothing.
    assert_eq!(
        epoch(&[("a", 25), ("a", 90), ("b", 50), ("b", 40), ("b", 20)]),
        [
            (0, 55, "a".into(), 2, 1),
            (7, 80, "b".into(), 4, 1),
            (40, 80, "b".into(), 0, -1),
            (50, 80, "b".into(), 0, -1),
            (90, 130, "a".into(), 2, 1),
            (100, 130, "a".into(), 0, -1)
        ]
    );
    // Only sessions in update mode emit deletes.
    let mut append = spec;
    append.mode = OutputMode::Append;
    assert!(WindowState::new(append, &schema).is_err());
}

/// A state larger than one snapshot batch (and with a sketch) restores to the same
/// entries: its snapshot, taken again after the restore, has the same bytes.
#[test]
fn a_snapshot_of_several_batches_restores_the_same_state() {
    let schema = key_ts_v();
    let spec = WindowSpec {
        name: "w".into(),
        kind: WindowKind::Tumbling {
            size: std::time::Duration::from_secs(10),
        },
        time_column: "ts".into(),
        keys: vec!["key".into()],
        aggregates: vec![
            agg("n", AggregateFn::Count, None),
            agg("total", AggregateFn::Sum, Some("v")),
            agg("d", AggregateFn::ApproxCountDistinct, Some("v")),
            agg("e", AggregateFn::CountDistinct, Some("v")),
        ],
        delay: std::time::Duration::from_secs(60),
        mode: OutputMode::Append,
        allowed_lateness: std::time::Duration::ZERO,
        watermark_from: None,
        watermark_also: Vec::new(),
        changelog: false,
        deletes: false,
        offset: std::time::Duration::ZERO,
        gap_column: None,
    };
    let rows = crate::event_time::SNAPSHOT_BATCH_ROWS * 2 + 77;
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(StringArray::from_iter_values(
                (0..rows).map(|i| format!("k{}", i / 2)),
            )),
            Arc::new(arrow::array::TimestampMicrosecondArray::from_iter_values(
                (0..rows as i64).map(|i| (i % 25) * 1_000_000),
            )),
            Arc::new(Int64Array::from_iter_values(
                (0..rows as i64).map(|i| i % 7),
            )),
        ],
    )
    .unwrap();
    let mut state = WindowState::new(spec.clone(), &schema).unwrap();
    state.begin_epoch();
    state.absorb(&batch).unwrap();
    assert!(
        state
            .finish_epoch(Some(0), false)
            .unwrap()
            .results
            .is_none()
    );
    let bytes = state.snapshot(16).unwrap();
    let reader =
        arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(&bytes), None).unwrap();
    assert!(reader.count() > 1, "several batches");
    let mut restored = WindowState::new(spec, &schema).unwrap();
    restored
        .restore(&[bytes::Bytes::from(bytes.clone())], 0..16)
        .unwrap();
    assert_eq!(restored.snapshot(16).unwrap(), bytes);
    // And it goes on alike: the end emits the same windows, sketches included.
    let results = |state: &mut WindowState| {
        state.begin_epoch();
        state.finish_epoch(None, true).unwrap().results.unwrap()
    };
    let (want, got) = (results(&mut state), results(&mut restored));
    let distinct = want
        .column_by_name("d")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert!(
        distinct.values().iter().all(|&d| d > 0),
        "every window has a sketch"
    );
    assert_eq!(got, want);
    // The exact distinct counts, against the values each window and key was given.
    let mut sets: std::collections::BTreeMap<(String, i64), std::collections::BTreeSet<i64>> =
        std::collections::BTreeMap::new();
    for i in 0..rows as i64 {
        let start = (i % 25) / 10 * 10_000_000;
        sets.entry((format!("k{}", i / 2), start))
            .or_default()
            .insert(i % 7);
    }
    let keys = want.column_by_name("key").unwrap().as_string::<i32>();
    let starts = want
        .column_by_name("window_start")
        .unwrap()
        .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
    let exact = want
        .column_by_name("e")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert_eq!(want.num_rows(), sets.len());
    for r in 0..want.num_rows() {
        let set = &sets[&(keys.value(r).to_owned(), starts.value(r))];
        assert_eq!(exact.value(r), set.len() as i64, "row {r}");
    }
}

mod aggregates;
mod distinct;
mod picks;

/// Sessions whose rows set their gap: a row's own session is `[t, t + gap)`, and two
/// merge where a row's time is before the session's end.
#[test]
fn each_row_may_set_its_session_gap() {
    use arrow::array::{Int64Array, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("gap", DataType::Int64, true),
    ]));
    let mut spec = WindowSpec::new(
        "s",
        WindowKind::Session {
            gap: std::time::Duration::ZERO,
        },
        "ts",
    )
    .with_keys(["k"])
    .with_aggregate("n", AggregateFn::Count, None);
    spec.gap_column = Some("gap".into());
    let mut state = WindowState::new(spec.clone(), &schema).unwrap();
    // k: [0, 10) and [5, 25) merge; [30, 31) stays apart; a null gap is in no session.
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(StringArray::from(vec!["k", "k", "k", "k"])),
            Arc::new(TimestampMicrosecondArray::from(vec![0, 5, 30, 40]).with_timezone("UTC")),
            Arc::new(Int64Array::from(vec![Some(10), Some(20), Some(1), None])),
        ],
    )
    .unwrap();
    state.begin_epoch();
    let late = state
        .absorb(&batch)
        .unwrap()
        .expect("the row without a gap");
    assert_eq!(late.num_rows(), 1);
    let out = state.finish_epoch(Some(40), true).unwrap().results.unwrap();
    let starts = out
        .column(0)
        .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
    let ends = out
        .column(1)
        .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
    let mut sessions: Vec<(i64, i64)> = (0..out.num_rows())
        .map(|i| (starts.value(i), ends.value(i)))
        .collect();
    sessions.sort_unstable();
    assert_eq!(sessions, [(0, 25), (30, 31)]);

    spec.kind = WindowKind::Tumbling {
        size: std::time::Duration::from_secs(1),
    };
    assert!(WindowState::new(spec, &schema).is_err());
}
