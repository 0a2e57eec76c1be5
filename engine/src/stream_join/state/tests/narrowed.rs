//! A join narrowed to what is read of it: what it holds, what it emits, and how its
//! snapshots restore, compared with the same join holding whole rows.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;

use super::{LEFT, RIGHT, StreamJoinState, auction_bids, batch, ts};
use crate::event_time::EventTimeState;
use crate::stream_join::StreamJoinKind;

/// Auctions (`id`, `reserve`, `category`, `t`) and bids (`auction`, `price`, `bidder`,
/// `t`).
fn schemas() -> (SchemaRef, SchemaRef) {
    let int = |n: &str| Field::new(n, DataType::Int64, true);
    let auctions = Arc::new(Schema::new(vec![
        int("id"),
        int("reserve"),
        int("category"),
        Field::new("t", ts(), false),
    ]));
    let bids = Arc::new(Schema::new(vec![
        int("auction"),
        int("price"),
        int("bidder"),
        Field::new("t", ts(), false),
    ]));
    (auctions, bids)
}

/// A FULL join of auctions with bids within 100 of their start, whose pairs must bid
/// over the reserve, the plan reading only `a.id` and `b.price` of its output.
fn state(narrowed: bool) -> StreamJoinState {
    let (auctions, bids) = schemas();
    let spec = crate::stream_join::StreamJoinSpec {
        condition: Some("\"b.price\" > \"a.reserve\"".into()),
        ..auction_bids("narrow", StreamJoinKind::FullOuter, (0, 100))
    };
    if narrowed {
        let read = BTreeSet::from(["a.id".to_owned(), "b.price".to_owned()]);
        StreamJoinState::narrowed(spec, &auctions, &bids, &read).unwrap()
    } else {
        StreamJoinState::new(spec, &auctions, &bids).unwrap()
    }
}

/// Runs epoch 0 (auctions 1 and 2, three bids) and a late auction in epoch 2 over
/// `state`; returns the pairs of epoch 0 and the late rows of epoch 2.
fn run(state: &mut StreamJoinState) -> (RecordBatch, RecordBatch) {
    let (auctions, bids) = schemas();
    state.begin_epoch();
    let a = batch(
        &auctions,
        vec![
            vec![Some(1), Some(2)],
            vec![Some(10), Some(100)],
            vec![Some(7), Some(8)],
            vec![Some(50), Some(50)],
        ],
    );
    assert!(state.absorb(LEFT, &a).unwrap().is_none());
    let b = batch(
        &bids,
        vec![
            vec![Some(1), Some(1), Some(2)],
            vec![Some(5), Some(20), Some(50)],
            vec![Some(70), Some(71), Some(72)],
            vec![Some(60), Some(61), Some(62)],
        ],
    );
    assert!(state.absorb(RIGHT, &b).unwrap().is_none());
    let pairs = state.finish_epoch(&[Some(50), Some(62)], false).unwrap();
    // An epoch without rows: the watermarks of epoch 0 make rows late from epoch 2 on.
    state.begin_epoch();
    assert!(state.finish_epoch(&[None, None], false).unwrap().is_none());
    state.begin_epoch();
    let late = batch(
        &auctions,
        vec![vec![Some(3)], vec![Some(1)], vec![Some(9)], vec![Some(40)]],
    );
    let late = state.absorb(LEFT, &late).unwrap().expect("a late auction");
    (pairs.expect("a pair"), late)
}

fn names(schema: &SchemaRef) -> Vec<&str> {
    schema.fields().iter().map(|f| f.name().as_str()).collect()
}

/// The narrowed join holds, of the auctions, their key, time and the reserve its
/// condition reads, and of the bids their key, time and the price read after it: not
/// `category` nor `bidder`. Its pairs are the whole join's, in those columns, and a late
/// row still goes out whole.
#[test]
fn a_narrowed_join_holds_and_emits_only_what_is_read() {
    let mut whole = state(false);
    let mut narrow = state(true);
    assert_eq!(
        names(narrow.output_schema()),
        ["a.id", "a.reserve", "a.t", "b.auction", "b.price", "b.t"]
    );
    assert_eq!(names(&narrow.sides[LEFT].schema), ["id", "reserve", "t"]);
    assert_eq!(
        names(&narrow.sides[RIGHT].schema),
        ["auction", "price", "t"]
    );
    let (whole_pairs, whole_late) = run(&mut whole);
    let (pairs, late) = run(&mut narrow);
    let at: Vec<usize> = names(narrow.output_schema())
        .iter()
        .map(|n| whole_pairs.schema().index_of(n).unwrap())
        .collect();
    let expected = whole_pairs.project(&at).unwrap();
    assert_eq!(pairs.columns(), expected.columns());
    assert_eq!(pairs.num_rows(), 1, "only the bid of 20 beats its reserve");
    assert_eq!(late, whole_late, "a late row keeps every column");
    assert!(late.schema().index_of("category").is_ok());
}

/// Rewrites a snapshot without the columns its rows hold, as a snapshot written before
/// joins recorded them.
fn unrecorded(bytes: &[u8]) -> Vec<u8> {
    let reader = StreamReader::try_new(bytes, None).unwrap();
    let mut metadata = reader.schema().metadata().clone();
    assert!(metadata.remove(super::super::HELD_COLUMNS).is_some());
    let schema = Arc::new(reader.schema().as_ref().clone().with_metadata(metadata));
    let mut writer = StreamWriter::try_new(Vec::new(), &schema).unwrap();
    for b in reader {
        let b = b.unwrap();
        writer
            .write(&RecordBatch::try_new(Arc::clone(&schema), b.columns().to_vec()).unwrap())
            .unwrap();
    }
    writer.finish().unwrap();
    writer.into_inner().unwrap()
}

/// A narrowed join restores from its own snapshot, from one of the whole join (its rows
/// narrowed as they are read) and from one that records no columns (written before joins
/// held fewer: whole rows); each gives the narrowed join's own snapshot again. A whole
/// join does not restore from a narrowed snapshot: it names the column the rows lack.
#[test]
fn a_narrowed_join_restores_whole_and_narrowed_snapshots() {
    let mut whole = state(false);
    let mut narrow = state(true);
    run(&mut whole);
    run(&mut narrow);
    let own = narrow.snapshot(8).unwrap();
    let of_whole = whole.snapshot(8).unwrap();
    assert_ne!(own, of_whole);
    for (what, bytes) in [
        ("its own", own.clone()),
        ("the whole join's", of_whole.clone()),
        ("one recording no columns", unrecorded(&of_whole)),
    ] {
        let mut restored = state(true);
        restored
            .restore(&[&bytes::Bytes::from(bytes)], 0..8)
            .unwrap();
        assert_eq!(restored.open_entries(), narrow.open_entries(), "{what}");
        assert_eq!(restored.snapshot(8).unwrap(), own, "{what}");
    }
    let err = state(false)
        .restore(&[&bytes::Bytes::from(own)], 0..8)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`category`") && err.contains("narrow"),
        "{err}"
    );
}
