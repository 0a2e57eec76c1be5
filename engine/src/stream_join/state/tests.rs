//! The join state's unit tests: eviction by each side's bound, and snapshots.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, Int64Array, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;

use super::{LEFT, RIGHT, StreamJoinState};
use crate::event_time::EventTimeState;
use crate::stream_join::{StreamJoinKind, StreamJoinSpec};

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, None)
}

fn batch(schema: &SchemaRef, columns: Vec<Vec<Option<i64>>>) -> RecordBatch {
    let arrays = schema
        .fields()
        .iter()
        .zip(columns)
        .map(|(f, c)| -> arrow::array::ArrayRef {
            if f.data_type() == &DataType::Int64 {
                Arc::new(Int64Array::from(c))
            } else {
                Arc::new(TimestampMicrosecondArray::from(c))
            }
        })
        .collect();
    RecordBatch::try_new(Arc::clone(schema), arrays).unwrap()
}

/// An auction–bid join spec (`a.id = b.auction`, both timed by `t`, no watermark
/// delay, prefixes `a.` and `b.`) of `kind`, matching `b.t` from `a.t + min` to
/// `a.t + max` (µs).
fn auction_bids(name: &str, kind: StreamJoinKind, (min, max): (i64, i64)) -> StreamJoinSpec {
    StreamJoinSpec {
        name: name.into(),
        right: "bids".into(),
        kind,
        left_keys: vec!["id".into()],
        right_keys: vec!["auction".into()],
        left_time: "t".into(),
        right_time: "t".into(),
        min_offset_us: min,
        max_offset_us: max,
        left_delay: Duration::ZERO,
        right_delay: Duration::ZERO,
        left_prefix: "a.".into(),
        right_prefix: "b.".into(),
        left_until: None,
        left_watermark_from: None,
        right_watermark_from: None,
        condition: None,
    }
}

/// The schemas of auctions (`id`, `t`) and bids (`auction`, `t`).
fn auctions_and_bids() -> (SchemaRef, SchemaRef) {
    let auctions = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("t", ts(), false),
    ]));
    let bids = Arc::new(Schema::new(vec![
        Field::new("auction", DataType::Int64, false),
        Field::new("t", ts(), false),
    ]));
    (auctions, bids)
}

/// An auction (`id`, start `t`, expiry `u`) and bids (`auction`, `t`): a bid matches
/// its auction from the start to the expiry, and the auction stays in state until the
/// watermark passes its expiry, not its start.
#[test]
fn a_join_bounded_above_by_a_left_column_keeps_the_left_row_until_it() {
    let auctions: SchemaRef = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("t", ts(), false),
        Field::new("u", ts(), true),
    ]));
    let bids: SchemaRef = Arc::new(Schema::new(vec![
        Field::new("auction", DataType::Int64, false),
        Field::new("t", ts(), false),
    ]));
    let spec = StreamJoinSpec {
        left_until: Some("u".into()),
        ..auction_bids("q4", StreamJoinKind::LeftOuter, (0, 0))
    };
    let mut state = StreamJoinState::new(spec, &auctions, &bids).unwrap();
    // Epoch 0: auction 1 runs from 10 to 100; auction 2 has no expiry (null).
    state.begin_epoch();
    let a = batch(
        &auctions,
        vec![
            vec![Some(1), Some(2)],
            vec![Some(10), Some(10)],
            vec![Some(100), None],
        ],
    );
    assert!(state.absorb(LEFT, &a).unwrap().is_none());
    // Bids at 5 (before the start), 50 and 100 (within), 101 (after); one for auction 2.
    let b = batch(
        &bids,
        vec![
            vec![Some(1), Some(1), Some(1), Some(1), Some(2)],
            vec![Some(5), Some(50), Some(100), Some(101), Some(50)],
        ],
    );
    assert!(state.absorb(RIGHT, &b).unwrap().is_none());
    let out = state
        .finish_epoch(&[Some(10), Some(101)], false)
        .unwrap()
        .unwrap();
    let bid_times = out
        .column_by_name("b.t")
        .unwrap()
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .unwrap()
        .values()
        .to_vec();
    assert_eq!(bid_times, [50, 100], "the bids within auction 1's run");
    // Epoch 1, under the watermark of epoch 0 (10, the lower side's): a bid at 80
    // still matches auction 1; auction 2, whose null expiry matches nothing, leaves
    // unmatched (with nulls) once the watermark reaches its start.
    state.begin_epoch();
    let within = batch(&bids, vec![vec![Some(1)], vec![Some(80)]]);
    assert!(state.absorb(RIGHT, &within).unwrap().is_none());
    let out = state.finish_epoch(&[Some(60), Some(60)], false).unwrap();
    assert_eq!(
        out.map(|b| b.num_rows()),
        Some(2),
        "the bid at 80, and auction 2"
    );
    assert_eq!(state.sides[LEFT].rows_held(), 1);
    // Epoch 2, under 60: past auction 1's start, not its expiry: it stays.
    state.begin_epoch();
    state.finish_epoch(&[Some(150), Some(150)], false).unwrap();
    assert_eq!(state.sides[LEFT].rows_held(), 1, "held until its expiry");
    // Epoch 3, under 150: past its expiry, it leaves.
    state.begin_epoch();
    state.finish_epoch(&[None, None], false).unwrap();
    assert_eq!(state.sides[LEFT].rows_held(), 0);
}

/// A state larger than one snapshot batch restores to the same rows: its snapshot,
/// taken again after the restore, has the same bytes.
#[test]
fn a_snapshot_of_several_batches_restores_the_same_state() {
    let schema: SchemaRef = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("t", ts(), false),
    ]));
    let spec = StreamJoinSpec {
        name: "big".into(),
        right: "r".into(),
        kind: StreamJoinKind::LeftOuter,
        left_keys: vec!["k".into()],
        right_keys: vec!["k".into()],
        left_time: "t".into(),
        right_time: "t".into(),
        min_offset_us: -5,
        max_offset_us: 5,
        left_delay: Duration::ZERO,
        right_delay: Duration::ZERO,
        left_prefix: "l.".into(),
        right_prefix: "r.".into(),
        left_until: None,
        left_watermark_from: None,
        right_watermark_from: None,
        condition: None,
    };
    let rows = crate::event_time::SNAPSHOT_BATCH_ROWS as i64 * 2 + 123;
    let mut state = StreamJoinState::new(spec.clone(), &schema, &schema).unwrap();
    state.begin_epoch();
    let left = batch(
        &schema,
        vec![
            (0..rows).map(|i| Some(i % 5000)).collect(),
            (0..rows).map(|i| Some(i % 97)).collect(),
        ],
    );
    let right = batch(
        &schema,
        vec![vec![Some(7), Some(8)], vec![Some(3), Some(50)]],
    );
    state.absorb(LEFT, &left).unwrap();
    state.absorb(RIGHT, &right).unwrap();
    let matched = state.finish_epoch(&[None, None], false).unwrap().unwrap();
    assert!(matched.num_rows() > 0);
    // Rows read in one pass find the key groups a walk key by key finds.
    let [one_pass, by_key] = super::snapshot::gathered_both_ways(&state, 128);
    assert_eq!(one_pass.len(), rows as usize + 2);
    assert_eq!(one_pass, by_key);
    let groups: std::collections::BTreeSet<u64> = one_pass.iter().map(|e| e.0 >> 32).collect();
    assert!(groups.len() > 100, "rows spread over the key groups");
    let bytes = state.snapshot(128).unwrap();
    let reader =
        arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(&bytes), None).unwrap();
    assert!(reader.count() > 2, "several batches");
    let mut restored = StreamJoinState::new(spec, &schema, &schema).unwrap();
    restored
        .restore(&[&bytes::Bytes::from(bytes.clone())], 0..128)
        .unwrap();
    assert_eq!(restored.open_entries(), rows as usize + 2);
    assert_eq!(restored.snapshot(128).unwrap(), bytes);
}

/// A right outer join of bids with auctions within 10 of their start: a bid leaves
/// state, unmatched with nulls, once the watermark passes its time plus 10, and not
/// before; a later one stays.
#[test]
fn a_right_row_leaves_once_the_watermark_passes_its_bound() {
    let (auctions, bids) = auctions_and_bids();
    let spec = auction_bids("bids", StreamJoinKind::RightOuter, (-10, 10));
    let mut state = StreamJoinState::new(spec, &auctions, &bids).unwrap();
    // Epoch 0: auction 9 at 0; bids on auction 1 at 20 and 200 (none matches).
    state.begin_epoch();
    let a = batch(&auctions, vec![vec![Some(9)], vec![Some(0)]]);
    assert!(state.absorb(LEFT, &a).unwrap().is_none());
    let b = batch(
        &bids,
        vec![vec![Some(1), Some(1)], vec![Some(20), Some(200)]],
    );
    assert!(state.absorb(RIGHT, &b).unwrap().is_none());
    assert!(
        state
            .finish_epoch(&[Some(0), Some(200)], false)
            .unwrap()
            .is_none()
    );
    // Epoch 1, under 0: the bid at 20 could still meet an auction up to 30.
    state.begin_epoch();
    let out = state.finish_epoch(&[Some(100), Some(200)], false).unwrap();
    assert!(out.is_none());
    assert_eq!(state.sides[RIGHT].rows_held(), 2);
    assert_eq!(state.sides[LEFT].rows_held(), 1);
    // Epoch 2, under 100: the bid at 20 leaves with nulls, the one at 200 stays; the
    // auction at 0 leaves too (no bid after 10 can match it).
    state.begin_epoch();
    let out = state.finish_epoch(&[None, None], false).unwrap().unwrap();
    assert_eq!(out.num_rows(), 1);
    assert!(out.column_by_name("a.id").unwrap().is_null(0));
    let bid_time = out
        .column_by_name("b.t")
        .unwrap()
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .unwrap()
        .value(0);
    assert_eq!(bid_time, 20);
    assert_eq!(state.sides[RIGHT].rows_held(), 1, "the bid at 200 stays");
    assert_eq!(state.sides[LEFT].rows_held(), 0);
}

/// A row of a FULL join's output: `(a.id, b.price)`.
type IdPrice = (Option<i64>, Option<i64>);

/// The rows of a FULL join's output, sorted.
fn ids_and_prices(out: &RecordBatch) -> Vec<IdPrice> {
    let column = |name: &str| {
        out.column_by_name(name)
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .clone()
    };
    let (ids, prices) = (column("a.id"), column("b.price"));
    let mut rows: Vec<_> = (0..out.num_rows())
        .map(|i| {
            let at = |c: &Int64Array| (!c.is_null(i)).then(|| c.value(i));
            (at(&ids), at(&prices))
        })
        .collect();
    rows.sort();
    rows
}

/// A FULL join of auctions (`id`, `reserve`) with bids (`auction`, `price`) under
/// `condition`: auction 1 (reserve 10) gets bids of 5 and 20, auction 2 (reserve
/// `reserve`) one of 50. Returns the first epoch's pairs, then the rows the end of the
/// input evicts.
fn reserve_join(condition: &str, reserve: i64) -> (Vec<IdPrice>, Vec<IdPrice>) {
    let auctions: SchemaRef = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("reserve", DataType::Int64, false),
        Field::new("t", ts(), false),
    ]));
    let bids: SchemaRef = Arc::new(Schema::new(vec![
        Field::new("auction", DataType::Int64, false),
        Field::new("price", DataType::Int64, false),
        Field::new("t", ts(), false),
    ]));
    let spec = StreamJoinSpec {
        condition: Some(condition.into()),
        ..auction_bids("reserve", StreamJoinKind::FullOuter, (0, 100))
    };
    let mut state = StreamJoinState::new(spec, &auctions, &bids).unwrap();
    state.begin_epoch();
    let a = batch(
        &auctions,
        vec![
            vec![Some(1), Some(2)],
            vec![Some(10), Some(reserve)],
            vec![Some(0), Some(0)],
        ],
    );
    assert!(state.absorb(LEFT, &a).unwrap().is_none());
    let b = batch(
        &bids,
        vec![
            vec![Some(1), Some(1), Some(2)],
            vec![Some(5), Some(20), Some(50)],
            vec![Some(1), Some(2), Some(3)],
        ],
    );
    assert!(state.absorb(RIGHT, &b).unwrap().is_none());
    let pairs = state.finish_epoch(&[Some(0), Some(3)], false).unwrap();
    state.begin_epoch();
    let rest = state.finish_epoch(&[None, None], true).unwrap();
    (
        pairs.as_ref().map(ids_and_prices).unwrap_or_default(),
        rest.as_ref().map(ids_and_prices).unwrap_or_default(),
    )
}

/// A FULL join with a condition on both sides (`b.price > a.reserve`): only the pairs
/// that meet it are emitted and mark their rows matched; every row without such a pair
/// comes out once with nulls, here when the input ends.
#[test]
fn a_condition_on_both_sides_decides_which_pairs_match() {
    let (pairs, rest) = reserve_join("\"b.price\" > \"a.reserve\"", 100);
    assert_eq!(pairs, [(Some(1), Some(20))]);
    // Auction 2 and the bids of 5 and 50 never matched; auction 1 did.
    assert_eq!(rest, [(None, Some(5)), (None, Some(50)), (Some(2), None)]);
}

/// A pair the condition fails to evaluate on (auction 2's reserve of 0 divides) does not
/// match, and neither stops the join nor decides the other pairs.
#[test]
fn a_pair_the_condition_fails_on_does_not_match() {
    let (pairs, rest) = reserve_join("\"b.price\" / \"a.reserve\" > 1", 0);
    assert_eq!(pairs, [(Some(1), Some(20))]);
    assert_eq!(rest, [(None, Some(5)), (None, Some(50)), (Some(2), None)]);
}

/// A semi join emits an auction once, at its first bid, and then no longer holds it: a
/// later bid finds nothing and emits nothing, while an auction without bids stays held
/// until one comes.
#[test]
fn a_semi_join_forgets_a_left_row_once_it_is_emitted() {
    let (auctions, bids) = auctions_and_bids();
    let spec = auction_bids("semi", StreamJoinKind::LeftSemi, (0, 1_000));
    let mut state = StreamJoinState::new(spec, &auctions, &bids).unwrap();
    let ids = |out: Option<RecordBatch>| -> Vec<i64> {
        out.map(|b| {
            let ids = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            ids.values().to_vec()
        })
        .unwrap_or_default()
    };
    // Epoch 0: auctions 1 and 2; two bids on auction 1, one on auction 2 (a fresh pair).
    state.begin_epoch();
    let a = batch(
        &auctions,
        vec![vec![Some(1), Some(2), Some(3)], vec![Some(10); 3]],
    );
    assert!(state.absorb(LEFT, &a).unwrap().is_none());
    let b = batch(
        &bids,
        vec![
            vec![Some(1), Some(1), Some(2)],
            vec![Some(20), Some(30), Some(20)],
        ],
    );
    assert!(state.absorb(RIGHT, &b).unwrap().is_none());
    let out = state.finish_epoch(&[Some(10), Some(30)], false).unwrap();
    assert_eq!(ids(out), [1, 2], "each matched auction once");
    assert_eq!(state.sides[LEFT].rows_held(), 1, "only auction 3 is held");
    // Epoch 1: a later bid on auction 1 (held bids stay) and one on auction 3, held.
    state.begin_epoch();
    let b = batch(
        &bids,
        vec![vec![Some(1), Some(3)], vec![Some(40), Some(40)]],
    );
    assert!(state.absorb(RIGHT, &b).unwrap().is_none());
    let out = state.finish_epoch(&[Some(10), Some(40)], false).unwrap();
    assert_eq!(ids(out), [3], "auction 1 is not emitted again");
    assert_eq!(state.sides[LEFT].rows_held(), 0);
    // Its snapshot restores the same (empty) left side.
    let bytes = state.snapshot(4).unwrap();
    let spec = auction_bids("semi", StreamJoinKind::LeftSemi, (0, 1_000));
    let mut restored = StreamJoinState::new(spec, &auctions, &bids).unwrap();
    restored
        .restore(&[&bytes::Bytes::from(bytes)], 0..4)
        .unwrap();
    assert_eq!(restored.sides[LEFT].rows_held(), 0);
    assert_eq!(restored.sides[RIGHT].rows_held(), 5);
}

mod narrowed;
