//! One side of a stream–stream join's state: its rows in state by key, the batches that
//! hold them, its watermark, and eviction (see the [module docs](super)).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, new_null_array};
use arrow::compute::interleave;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow::row::RowConverter;
use smallvec::SmallVec;
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

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
    /// Most keys hold one row (bids by price, say): that one is kept inline.
    pub(super) held: HashMap<Box<[u8]>, SmallVec<[Held; 1]>, Xxh3DefaultBuilder>,
    /// This epoch's rows that were not late, in arrival order.
    pub(super) fresh: Vec<(Box<[u8]>, Held)>,
    /// The least event time and the least `until` of the rows in state (`i64::MAX` when
    /// none): while the watermark is behind them no row can go, and an epoch does not
    /// visit the whole state to find none.
    least: (i64, i64),
    pub(super) watermark: Watermark,
}

impl Side {
    /// A side over input rows with `schema` holding the columns `held` of them (every one
    /// when `None`), which must include its keys, time and `until` columns.
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
            held: HashMap::default(),
            fresh: Vec::new(),
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
            self.note(&held);
            self.held
                .entry(keys.row(row).as_ref().into())
                .or_default()
                .push(held);
            self.kept(at).live += 1;
        }
        Ok(())
    }

    /// Moves the epoch's fresh rows into state.
    pub(super) fn settle(&mut self) {
        for (key, held) in std::mem::take(&mut self.fresh) {
            self.note(&held);
            self.kept(held.batch).live += 1;
            self.held.entry(key).or_default().push(held);
        }
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
        let gone = |h: &Held| w == i64::MAX || due(h.time, h.until) <= w;
        let mut unmatched = Vec::new();
        let mut freed = Vec::new();
        let mut least = (i64::MAX, i64::MAX);
        self.held.retain(|_, rows| {
            rows.retain(|h| {
                if !gone(h) {
                    least = (least.0.min(h.time), least.1.min(h.until));
                    return true;
                }
                if !h.matched {
                    unmatched.push(h.at());
                }
                freed.push(h.batch);
                false
            });
            !rows.is_empty()
        });
        self.least = least;
        for b in freed {
            self.kept(b).live -= 1;
        }
        unmatched.sort_unstable();
        unmatched
    }

    /// Removes the rows at `rows` (each with its key) from state, those still in it.
    pub(super) fn forget(&mut self, rows: &[(Box<[u8]>, At)]) {
        for (key, at) in rows {
            let Some(held) = self.held.get_mut(key) else {
                continue;
            };
            let before = held.len();
            held.retain(|h| h.at() != *at);
            let removed = before - held.len();
            if held.is_empty() {
                self.held.remove(key);
            }
            self.kept(at.0).live -= removed;
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
        self.held.values().map(|rows| rows.len()).sum()
    }
}
