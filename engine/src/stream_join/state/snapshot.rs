//! A join's snapshot: every row both sides hold, ordered by content (key group, side,
//! matched, event time, then the whole row), so that equal states give equal bytes
//! whatever order their rows came in. The rows are encoded a batch of entries at a time
//! as they are written, not the whole state first.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{BooleanArray, UInt8Array, UInt32Array};
use arrow::datatypes::{DataType, Field};
use arrow::row::Rows;

use super::{HELD_COLUMNS, LEFT, RIGHT, StreamJoinState, Watermarks};
use crate::error::{EngineError, Result};
use crate::event_time::{EventTimeState, SnapshotWriter, binary_column, snapshot_batches};
use crate::key::key_group;
use crate::stream_join::side::{At, Side};

/// A held row: its place in the order (key group, side and matched, then event time,
/// packed into two integers compared in turn) and where it is.
#[derive(Clone, Copy)]
struct Entry {
    high: u64,
    low: u64,
    at: At,
}

impl Entry {
    fn new(group: u32, side: usize, matched: bool, time: i64, at: At) -> Self {
        Self {
            high: (u64::from(group) << 32) | ((side as u64) << 1) | u64::from(matched),
            // The sign bit flipped: the times in the order of unsigned integers.
            low: (time as u64) ^ (1 << 63),
            at,
        }
    }

    fn group(&self) -> u32 {
        (self.high >> 32) as u32
    }

    fn side(&self) -> usize {
        ((self.high >> 1) & 1) as usize
    }

    fn matched(&self) -> bool {
        self.high & 1 == 1
    }

    fn order(&self) -> (u64, u64) {
        (self.high, self.low)
    }
}

/// The entries of every row `state` holds, unordered, their keys spread over `key_groups`
/// key groups.
fn gather(state: &StreamJoinState, key_groups: u32) -> Vec<Entry> {
    if !key_groups.is_power_of_two() {
        return gather_by_key(state, key_groups);
    }
    // A key's group is its hash modulo the key groups (`key_group`): for a power of two,
    // the low bits of the hash each row keeps. The rows are then read in one pass.
    let mask = key_groups - 1;
    let mut entries = Vec::with_capacity(state.open_entries());
    for (s, side) in state.sides.iter().enumerate() {
        side.held.each_row(|hash, h| {
            entries.push(Entry::new(hash & mask, s, h.matched, h.time, h.at()));
        });
    }
    entries
}

/// The entries [`gather`] and [`gather_by_key`] find, each sorted (with where each row
/// is): the same, for a test to check.
#[cfg(test)]
pub(super) fn gathered_both_ways(
    state: &StreamJoinState,
    key_groups: u32,
) -> [Vec<(u64, u64, At)>; 2] {
    [gather(state, key_groups), gather_by_key(state, key_groups)].map(|entries| {
        let mut all: Vec<_> = entries.iter().map(|e| (e.high, e.low, e.at)).collect();
        all.sort_unstable();
        all
    })
}

/// [`gather`], key by key: each key's group computed from its bytes.
fn gather_by_key(state: &StreamJoinState, key_groups: u32) -> Vec<Entry> {
    let mut entries = Vec::with_capacity(state.open_entries());
    for (s, side) in state.sides.iter().enumerate() {
        side.held.each_key(|key, rows| {
            let group = key_group(key, key_groups);
            for h in rows {
                entries.push(Entry::new(group, s, h.matched, h.time, h.at()));
            }
        });
    }
    entries
}

/// The snapshot of `state`, its rows spread over `key_groups` key groups.
pub(super) fn write(state: &StreamJoinState, key_groups: u32) -> Result<Vec<u8>> {
    let mut entries = gather(state, key_groups);
    entries.sort_unstable_by_key(Entry::order);
    break_ties(&state.sides, &mut entries)?;
    let fields = vec![
        Field::new("key_group", DataType::UInt32, false),
        Field::new("side", DataType::UInt8, false),
        Field::new("matched", DataType::Boolean, false),
        Field::new("row", DataType::Binary, false),
    ];
    let watermarks = Watermarks {
        left: state.sides[LEFT].watermark.clone(),
        right: state.sides[RIGHT].watermark.clone(),
    };
    let held =
        serde_json::to_string(&state.held()).map_err(|e| EngineError::Snapshot(e.to_string()))?;
    let mut writer = None;
    for chunk in snapshot_batches(&entries) {
        let rows = [
            encode(&state.sides[LEFT], chunk, LEFT)?,
            encode(&state.sides[RIGHT], chunk, RIGHT)?,
        ];
        let mut next = [0usize; 2];
        let values = chunk.iter().map(move |e| {
            let s = e.side();
            next[s] += 1;
            (s, next[s] - 1)
        });
        let row = |(s, i): (usize, usize)| rows[s].row(i).data();
        if writer.is_none() {
            // Sized from the first batch's rows: a large state's stream would otherwise
            // be copied as its buffer doubles.
            let bytes: usize = values.clone().map(|v| row(v).len() + 16).sum();
            let size = bytes / chunk.len().max(1) * entries.len() * 9 / 8;
            writer = Some(SnapshotWriter::with_metadata(
                &state.spec.name,
                key_groups,
                &watermarks,
                fields.clone(),
                size,
                vec![(HELD_COLUMNS, held.clone())],
            )?);
        }
        let writer = writer.as_mut().expect("made above");
        writer.write(vec![
            Arc::new(UInt32Array::from_iter_values(
                chunk.iter().map(Entry::group),
            )),
            Arc::new(UInt8Array::from_iter_values(
                chunk.iter().map(|e| e.side() as u8),
            )),
            Arc::new(BooleanArray::from_iter(
                chunk.iter().map(|e| Some(e.matched())),
            )),
            Arc::new(binary_column(values.map(row))),
        ])?;
    }
    writer.expect("a snapshot has a batch").finish()
}

/// The rows of `side` among `entries`, encoded whole, in their order (empty when none).
fn encode(side: &Side, entries: &[Entry], s: usize) -> Result<Rows> {
    let at: Vec<At> = entries
        .iter()
        .filter(|e| e.side() == s)
        .map(|e| e.at)
        .collect();
    if at.is_empty() {
        return Ok(side.whole.empty_rows(0, 0));
    }
    Ok(side.whole.convert_columns(&side.take(&at)?)?)
}

/// Orders the runs of entries with equal places by their rows' encodings, the rows of
/// every such run encoded at once.
fn break_ties(sides: &[Side; 2], entries: &mut [Entry]) -> Result<()> {
    let mut runs: Vec<Range<usize>> = Vec::new();
    let mut i = 0;
    while i < entries.len() {
        let mut j = i + 1;
        while j < entries.len() && entries[j].order() == entries[i].order() {
            j += 1;
        }
        if j - i > 1 {
            runs.push(i..j);
        }
        i = j;
    }
    for s in [LEFT, RIGHT] {
        let mine: Vec<&Range<usize>> = runs
            .iter()
            .filter(|r| entries[r.start].side() == s)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let tied: Vec<Entry> = mine
            .iter()
            .flat_map(|r| entries[(*r).clone()].to_vec())
            .collect();
        let rows = encode(&sides[s], &tied, s)?;
        let mut first = 0;
        for run in mine {
            let mut order: Vec<usize> = (first..first + run.len()).collect();
            order.sort_unstable_by(|&a, &b| rows.row(a).cmp(&rows.row(b)));
            for (to, from) in run.clone().zip(order) {
                entries[to] = tied[from];
            }
            first += run.len();
        }
    }
    Ok(())
}
