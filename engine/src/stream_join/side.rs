//! One side of a stream–stream join's state: its rows in state by key, the batches that
//! hold them, its watermark, and eviction (see the [module docs](super)).

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, new_null_array};
use arrow::compute::interleave;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow::row::RowConverter;

use super::chains::{Chains, key_hash};
use crate::error::{EngineError, Result};
use crate::event_time::{as_micros, late_schema, time_index, whole_rows};
use crate::key::{KeyColumns, column_index};
use crate::watermark::Watermark;

/// The keys of each side's rows whose key has a null.
pub(super) const NULL_KEYS: [&[u8]; 2] = [b"\xff\xffnull-left", b"\xff\xffnull-right"];

/// A row in state: its event time, the time its upper bound starts from (its event time,
/// or a left row's `until` column), where it is, and whether it has matched.
#[derive(Clone, Copy, Debug)]
pub(super) struct Held {
    pub(super) time: i64,
    pub(super) until: i64,
    pub(super) batch: u32,
    pub(super) row: u32,
    pub(super) matched: bool,
}

impl Held {
    pub(super) fn at(&self) -> At {
        (self.batch, self.row)
    }
}

/// A batch some of whose rows are in state, and how many.
pub(super) struct Kept {
    pub(super) batch: RecordBatch,
    live: usize,
}

/// Where a row is: (batch id, row).
pub(super) type At = (u32, u32);

/// A row of this epoch that was not late: its key's hash, where its key is among the
/// epoch's keys, and the row.
pub(super) struct Fresh {
    pub(super) hash: u64,
    key: Range<usize>,
    pub(super) held: Held,
}

/// One side of the join: its rows in state by key, and the batches holding them.
pub(super) struct Side {
    /// The side's input rows' schema.
    pub(super) input: SchemaRef,
    /// The columns of the input it holds, where not all: those the join reads and those
    /// of its output that are read after it.
    projection: Option<Vec<usize>>,
    /// The schema of the rows it holds.
    pub(super) schema: SchemaRef,
    pub(super) keys: KeyColumns,
    pub(super) converter: RowConverter,
    /// Encodes whole rows, for snapshots.
    pub(super) whole: RowConverter,
    pub(super) time_index: usize,
    /// The left side's `until` column, where the join has one.
    until_index: Option<usize>,
    pub(super) late_schema: SchemaRef,
    /// The batches holding rows in state (or this epoch's), by id, with how many of their
    /// rows are in state; a batch goes once none is.
    pub(super) batches: BTreeMap<u32, Kept>,
    /// The id of the next batch kept.
    next_batch: u32,
    /// The rows in state, by key.
    pub(super) held: Chains,
    /// This epoch's rows that were not late, in arrival order, and their keys, one after
    /// the other.
    pub(super) fresh: Vec<Fresh>,
    pub(super) fresh_keys: Vec<u8>,
    /// The least event time and the least `until` of the rows in state (`i64::MAX` when
    /// none): while the watermark is behind them no row can go, and an epoch does not
    /// visit the whole state to find none.
    least: (i64, i64),
    pub(super) watermark: Watermark,
}

impl Side {
    /// A side over input rows of the schema `input`, holding the columns `held` of them
    /// (every one when `None`), which must include its keys, time and `until` columns.
    pub(super) fn new(
        input: &SchemaRef,
        held: Option<&[String]>,
        keys: &[String],
        time: &str,
        until: Option<&str>,
        delay: i64,
    ) -> Result<Self> {
        let projection = held
            .map(|held| {
                let mut at = held
                    .iter()
                    .map(|c| column_index(input, c))
                    .collect::<Result<Vec<_>>>()?;
                at.sort_unstable();
                at.dedup();
                Ok::<_, EngineError>(at)
            })
            .transpose()?
            .filter(|at| at.len() < input.fields().len());
        let schema = match &projection {
            Some(at) => Arc::new(input.project(at)?),
            None => Arc::clone(input),
        };
        let schema = &schema;
        let keys = KeyColumns::resolve(schema, keys)?;
        let event_time_index = time_index;
        let time_index = event_time_index(schema, time)?;
        let until_index = until.map(|u| event_time_index(schema, u)).transpose()?;
        let whole = whole_rows(schema)?;
        Ok(Self {
            input: Arc::clone(input),
            projection,
            schema: Arc::clone(schema),
            converter: keys.converter()?,
            keys,
            whole,
            time_index,
            until_index,
            late_schema: late_schema(input),
            batches: BTreeMap::new(),
            next_batch: 0,
            held: Chains::default(),
            fresh: Vec::new(),
            fresh_keys: Vec::new(),
            least: (i64::MAX, i64::MAX),
            watermark: Watermark::new(delay),
        })
    }

    /// The columns of `batch`, an input batch, that the side holds.
    pub(super) fn narrow(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        Ok(match &self.projection {
            Some(at) => batch.project(at)?,
            None => batch.clone(),
        })
    }

    /// The names of the columns the side holds.
    pub(super) fn held_names(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// Keeps `batch`, returning its index.
    pub(super) fn keep(&mut self, batch: RecordBatch) -> u32 {
        let id = self.next_batch;
        self.next_batch += 1;
        self.batches.insert(id, Kept { batch, live: 0 });
        id
    }

    /// The times each row's upper bound starts from: its `until` column, a null being
    /// `i64::MIN` (it matches nothing), or else its event time.
    pub(super) fn untils(&self, batch: &RecordBatch) -> Result<Option<Vec<i64>>> {
        let Some(index) = self.until_index else {
            return Ok(None);
        };
        let until = as_micros(batch.column(index))?;
        Ok(Some(
            (0..until.len())
                .map(|i| {
                    if until.is_null(i) {
                        i64::MIN
                    } else {
                        until.value(i)
                    }
                })
                .collect(),
        ))
    }

    /// Adds the rows of `batch` at `rows` (times `times`) to state, each with `matched`.
    pub(super) fn hold(&mut self, batch: RecordBatch, matched: &[bool]) -> Result<()> {
        let times = as_micros(batch.column(self.time_index))?;
        let untils = self.untils(&batch)?;
        let keys = self.keys.rows(&self.converter, &batch)?;
        let at = self.keep(batch);
        for (row, &matched) in matched.iter().enumerate() {
            let held = Held {
                time: times.value(row),
                until: untils.as_ref().map_or(times.value(row), |u| u[row]),
                batch: at,
                row: row as u32,
                matched,
            };
            let key = keys.row(row);
            self.insert(key_hash(key.as_ref()), key.as_ref(), held);
        }
        Ok(())
    }

    /// Adds a row of this epoch that was not late, under `key`.
    pub(super) fn push_fresh(&mut self, key: &[u8], held: Held) {
        let start = self.fresh_keys.len();
        self.fresh_keys.extend_from_slice(key);
        self.fresh.push(Fresh {
            hash: key_hash(key),
            key: start..self.fresh_keys.len(),
            held,
        });
    }

    /// The key of the fresh row `fresh`.
    pub(super) fn fresh_key<'a>(keys: &'a [u8], fresh: &Fresh) -> &'a [u8] {
        &keys[fresh.key.clone()]
    }

    /// Moves the epoch's fresh rows into state.
    pub(super) fn settle(&mut self) {
        let fresh = std::mem::take(&mut self.fresh);
        let keys = std::mem::take(&mut self.fresh_keys);
        for f in &fresh {
            self.insert(f.hash, &keys[f.key.clone()], f.held);
        }
        // The buffers are kept for the next epoch's rows.
        self.fresh = fresh;
        self.fresh.clear();
        self.fresh_keys = keys;
        self.fresh_keys.clear();
    }

    /// Puts `held` into state, last of the rows of `key` (whose hash is `hash`).
    fn insert(&mut self, hash: u64, key: &[u8], held: Held) {
        self.note(&held);
        self.kept(held.batch).live += 1;
        self.held.push(hash, key, held);
    }

    /// Lowers the least times of the state to those of `held`, a row going into it.
    fn note(&mut self, held: &Held) {
        self.least = (self.least.0.min(held.time), self.least.1.min(held.until));
    }

    /// Removes the rows whose `due` time (of their event time and `until`) the watermark
    /// `w` has reached, or every row when `w` is `i64::MAX` (the input ended); returns
    /// those that never matched. `due` grows with both times, so no row is due while the
    /// state's least times are not, and then the rows are not visited.
    pub(super) fn evict(&mut self, w: i64, due: impl Fn(i64, i64) -> i64) -> Vec<At> {
        if w != i64::MAX && due(self.least.0, self.least.1) > w {
            return Vec::new();
        }
        let mut unmatched = Vec::new();
        if w == i64::MAX {
            self.held.clear(|h| {
                if !h.matched {
                    unmatched.push(h.at());
                }
            });
            for kept in self.batches.values_mut() {
                kept.live = 0;
            }
            self.least = (i64::MAX, i64::MAX);
            unmatched.sort_unstable();
            return unmatched;
        }
        let gone = |h: &Held| due(h.time, h.until) <= w;
        let mut least = (i64::MAX, i64::MAX);
        // Rows of one batch mostly follow one another: their count is taken per run.
        let mut freed: Vec<(u32, usize)> = Vec::new();
        self.held.retain(|h| {
            if !gone(h) {
                least = (least.0.min(h.time), least.1.min(h.until));
                return true;
            }
            if !h.matched {
                unmatched.push(h.at());
            }
            match freed.last_mut() {
                Some((batch, n)) if *batch == h.batch => *n += 1,
                _ => freed.push((h.batch, 1)),
            }
            false
        });
        for (batch, n) in freed {
            self.kept(batch).live -= n;
        }
        self.least = least;
        unmatched.sort_unstable();
        unmatched
    }

    /// Removes the rows at `rows` (each with its key) from state, those still in it.
    pub(super) fn forget(&mut self, rows: &[(Box<[u8]>, At)]) {
        for (key, at) in rows {
            if self.held.remove(key, *at) {
                self.kept(at.0).live -= 1;
            }
        }
    }

    /// Drops the batches none of whose rows is in state any more.
    pub(super) fn release(&mut self) {
        self.batches.retain(|_, kept| kept.live > 0);
    }

    /// The kept batch `id`.
    fn kept(&mut self, id: u32) -> &mut Kept {
        self.batches
            .get_mut(&id)
            .expect("a held row's batch is kept")
    }

    /// The rows at `at`, in this side's schema.
    pub(super) fn take(&self, at: &[At]) -> Result<Vec<ArrayRef>> {
        // Batch ids as positions among the kept batches, in id order.
        let ids: Vec<u32> = self.batches.keys().copied().collect();
        let at: Vec<(usize, usize)> = at
            .iter()
            .map(|&(id, row)| {
                let position = ids.binary_search(&id).expect("a kept batch");
                (position, row as usize)
            })
            .collect();
        let mut columns = Vec::with_capacity(self.schema.fields().len());
        for c in 0..self.schema.fields().len() {
            let arrays: Vec<&dyn Array> = self
                .batches
                .values()
                .map(|k| k.batch.column(c).as_ref())
                .collect();
            columns.push(interleave(&arrays, &at)?);
        }
        Ok(columns)
    }

    /// Null columns for `n` rows, in this side's schema.
    pub(super) fn nulls(&self, n: usize) -> Vec<ArrayRef> {
        self.schema
            .fields()
            .iter()
            .map(|f| new_null_array(f.data_type(), n))
            .collect()
    }

    pub(super) fn rows_held(&self) -> usize {
        self.held.len()
    }
}
