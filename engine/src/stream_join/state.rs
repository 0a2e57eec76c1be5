//! The keyed state of a stream–stream join and its per-epoch logic (see the [module
//! docs](super)).

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, UInt8Array, UInt32Array, new_null_array,
};
use arrow::compute::{concat_batches, interleave};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt8Type, UInt32Type};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, Rows};
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

use super::StreamJoinSpec;
use crate::error::{EngineError, Result};
use crate::event_time::{
    EventTimeState, SnapshotWriter, as_micros, binary_column, canonical_order, decode_snapshots,
    late_rows, late_schema, snapshot_batches, time_index, whole_rows,
};
use crate::key::{KeyColumns, key_group, unknown_column};
use crate::watermark::Watermark;
use crate::window::micros;

const LEFT: usize = 0;
const RIGHT: usize = 1;
/// The keys of each side's rows whose key has a null.
const NULL_KEYS: [&[u8]; 2] = [b"\xff\xffnull-left", b"\xff\xffnull-right"];

/// A row in state: its event time, the time its upper bound starts from (its event time,
/// or a left row's `until` column), where it is, and whether it has matched.
#[derive(Clone, Copy, Debug)]
struct Held {
    time: i64,
    until: i64,
    batch: usize,
    row: usize,
    matched: bool,
}

/// A batch some of whose rows are in state, and how many.
struct Kept {
    batch: RecordBatch,
    live: usize,
}

/// Where a row is: (batch id, row).
type At = (usize, usize);

/// One side of the join: its rows in state by key, and the batches holding them.
struct Side {
    schema: SchemaRef,
    keys: KeyColumns,
    converter: RowConverter,
    /// Encodes whole rows, for snapshots.
    whole: RowConverter,
    time_index: usize,
    /// The left side's `until` column, where the join has one.
    until_index: Option<usize>,
    late_schema: SchemaRef,
    /// The batches holding rows in state (or this epoch's), by id, with how many of their
    /// rows are in state; a batch goes once none is.
    batches: BTreeMap<usize, Kept>,
    /// The id of the next batch kept.
    next_batch: usize,
    held: HashMap<Box<[u8]>, Vec<Held>, Xxh3DefaultBuilder>,
    /// This epoch's rows that were not late, in arrival order.
    fresh: Vec<(Box<[u8]>, Held)>,
    /// The least event time and the least `until` of the rows in state (`i64::MAX` when
    /// none): while the watermark is behind them no row can go, and an epoch does not
    /// visit the whole state to find none.
    least: (i64, i64),
    watermark: Watermark,
}

impl Side {
    fn new(
        schema: &SchemaRef,
        keys: &[String],
        time: &str,
        until: Option<&str>,
        delay: i64,
    ) -> Result<Self> {
        let keys = KeyColumns::resolve(schema, keys)?;
        let event_time_index = time_index;
        let time_index = event_time_index(schema, time)?;
        let until_index = until.map(|u| event_time_index(schema, u)).transpose()?;
        let whole = whole_rows(schema)?;
        Ok(Self {
            schema: Arc::clone(schema),
            converter: keys.converter()?,
            keys,
            whole,
            time_index,
            until_index,
            late_schema: late_schema(schema),
            batches: BTreeMap::new(),
            next_batch: 0,
            held: HashMap::default(),
            fresh: Vec::new(),
            least: (i64::MAX, i64::MAX),
            watermark: Watermark::new(delay),
        })
    }

    /// Keeps `batch`, returning its index.
    fn keep(&mut self, batch: RecordBatch) -> usize {
        let id = self.next_batch;
        self.next_batch += 1;
        self.batches.insert(id, Kept { batch, live: 0 });
        id
    }

    /// The times each row's upper bound starts from: its `until` column, a null being
    /// `i64::MIN` (it matches nothing), or else its event time.
    fn untils(&self, batch: &RecordBatch) -> Result<Option<Vec<i64>>> {
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
    fn hold(&mut self, batch: RecordBatch, matched: &[bool]) -> Result<()> {
        let times = as_micros(batch.column(self.time_index))?;
        let untils = self.untils(&batch)?;
        let keys = self.keys.rows(&self.converter, &batch)?;
        let at = self.keep(batch);
        for (row, &matched) in matched.iter().enumerate() {
            let held = Held {
                time: times.value(row),
                until: untils.as_ref().map_or(times.value(row), |u| u[row]),
                batch: at,
                row,
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
    fn settle(&mut self) {
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

    /// Removes the rows `gone` says are gone, unless `none_gone` says, from the least
    /// times of the state, that none can be; returns those that never matched.
    fn evict(
        &mut self,
        none_gone: impl Fn((i64, i64)) -> bool,
        gone: impl Fn(&Held) -> bool,
    ) -> Vec<At> {
        if none_gone(self.least) {
            return Vec::new();
        }
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
                    unmatched.push((h.batch, h.row));
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

    /// Drops the batches none of whose rows is in state any more.
    fn release(&mut self) {
        self.batches.retain(|_, kept| kept.live > 0);
    }

    /// The kept batch `id`.
    fn kept(&mut self, id: usize) -> &mut Kept {
        self.batches
            .get_mut(&id)
            .expect("a held row's batch is kept")
    }

    /// The rows at `at`, in this side's schema.
    fn take(&self, at: &[At]) -> Result<Vec<ArrayRef>> {
        // Batch ids as positions among the kept batches, in id order.
        let ids: Vec<usize> = self.batches.keys().copied().collect();
        let at: Vec<At> = at
            .iter()
            .map(|&(id, row)| (ids.binary_search(&id).expect("a kept batch"), row))
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
    fn nulls(&self, n: usize) -> Vec<ArrayRef> {
        self.schema
            .fields()
            .iter()
            .map(|f| new_null_array(f.data_type(), n))
            .collect()
    }

    fn rows_held(&self) -> usize {
        self.held.values().map(Vec::len).sum()
    }
}

/// The watermarks of both sides, as snapshots keep them.
#[derive(serde::Serialize, serde::Deserialize)]
struct Watermarks {
    left: Watermark,
    right: Watermark,
}

/// The state of one stream–stream join instance.
pub struct StreamJoinState {
    spec: StreamJoinSpec,
    sides: [Side; 2],
    output_schema: SchemaRef,
}

impl StreamJoinState {
    /// Empty state for `spec` over left rows with `left` and right rows with `right`.
    ///
    /// # Errors
    /// A missing column, keys whose counts or types differ between the sides, a time
    /// column that is not a timestamp, or bounds in the wrong order.
    pub fn new(spec: StreamJoinSpec, left: &SchemaRef, right: &SchemaRef) -> Result<Self> {
        let invalid = |m: String| EngineError::InvalidPlan(format!("join `{}`: {m}", spec.name));
        if spec.left_keys.is_empty() || spec.left_keys.len() != spec.right_keys.len() {
            return Err(invalid(format!(
                "the sides need as many keys, at least one: {:?} and {:?}",
                spec.left_keys, spec.right_keys
            )));
        }
        for (l, r) in spec.left_keys.iter().zip(&spec.right_keys) {
            let lt = left
                .field_with_name(l)
                .map_err(|_| unknown_column(left, l))?;
            let rt = right
                .field_with_name(r)
                .map_err(|_| unknown_column(right, r))?;
            if lt.data_type() != rt.data_type() {
                return Err(invalid(format!(
                    "keys `{l}` ({}) and `{r}` ({}) must have one type; CAST one of them",
                    lt.data_type(),
                    rt.data_type()
                )));
            }
        }
        if spec.min_offset_us > spec.max_offset_us {
            return Err(invalid(
                "the time bounds are in the wrong order (the lower one is above the upper)".into(),
            ));
        }
        let sides = [
            Side::new(
                left,
                &spec.left_keys,
                &spec.left_time,
                spec.left_until.as_deref(),
                micros(spec.left_delay),
            )?,
            Side::new(
                right,
                &spec.right_keys,
                &spec.right_time,
                None,
                micros(spec.right_delay),
            )?,
        ];
        let prefixed = |schema: &SchemaRef, prefix: &str, nullable: bool| {
            schema
                .fields()
                .iter()
                .map(|f| {
                    Field::new(
                        format!("{prefix}{}", f.name()),
                        f.data_type().clone(),
                        f.is_nullable() || nullable,
                    )
                })
                .collect::<Vec<_>>()
        };
        let mut fields = prefixed(left, &spec.left_prefix, spec.kind.keeps_unmatched_right());
        fields.extend(prefixed(
            right,
            &spec.right_prefix,
            spec.kind.keeps_unmatched_left(),
        ));
        let output_schema = Arc::new(Schema::new(fields));
        let mut names = std::collections::BTreeSet::new();
        if let Some(f) = output_schema
            .fields()
            .iter()
            .find(|f| !names.insert(f.name().as_str()))
        {
            return Err(invalid(format!(
                "two output columns are named `{}`; give the sides other prefixes",
                f.name()
            )));
        }
        Ok(Self {
            spec,
            sides,
            output_schema,
        })
    }

    /// The schema of joined rows: the left columns, then the right, each with its prefix.
    pub fn output_schema(&self) -> &SchemaRef {
        &self.output_schema
    }

    /// The schema of input `side`'s late rows.
    pub fn late_schema(&self, side: usize) -> &SchemaRef {
        &self.sides[side].late_schema
    }

    /// `W(e-1)` of the join: the lower of the sides'; `None` (-infinity) when either has
    /// none.
    fn late_threshold(&self) -> Option<i64> {
        lowest(
            self.sides[LEFT].watermark.late_threshold(),
            self.sides[RIGHT].watermark.late_threshold(),
        )
    }

    /// The matching pairs of the epoch: fresh left rows with the right rows in state and
    /// the fresh right rows, then fresh right rows with the left rows in state.
    fn pairs(&mut self) -> Vec<(At, At)> {
        let (min, max) = (self.spec.min_offset_us, self.spec.max_offset_us);
        let matches = move |l: &Held, r: &Held| {
            r.time >= l.time.saturating_add(min) && r.time <= l.until.saturating_add(max)
        };
        let [left, right] = &mut self.sides;
        let mut fresh_right: HashMap<Box<[u8]>, Vec<usize>, Xxh3DefaultBuilder> =
            HashMap::default();
        for (i, (key, _)) in right.fresh.iter().enumerate() {
            fresh_right.entry(key.clone()).or_default().push(i);
        }
        let mut pairs = Vec::new();
        for (key, l) in &mut left.fresh {
            if let Some(rows) = right.held.get_mut(key) {
                let held = *l;
                for r in rows.iter_mut().filter(|r| matches(&held, r)) {
                    pairs.push(((l.batch, l.row), (r.batch, r.row)));
                    l.matched = true;
                    r.matched = true;
                }
            }
            for &i in fresh_right.get(key).map_or(&[][..], Vec::as_slice) {
                let r = &mut right.fresh[i].1;
                if matches(l, r) {
                    pairs.push(((l.batch, l.row), (r.batch, r.row)));
                    l.matched = true;
                    r.matched = true;
                }
            }
        }
        for (key, r) in &mut right.fresh {
            if let Some(rows) = left.held.get_mut(key) {
                let held = *r;
                for l in rows.iter_mut().filter(|l| matches(l, &held)) {
                    pairs.push(((l.batch, l.row), (r.batch, r.row)));
                    l.matched = true;
                    r.matched = true;
                }
            }
        }
        pairs
    }

    /// The output rows: the pairs, then unmatched left rows with nulls, then unmatched
    /// right rows with nulls.
    fn output(
        &self,
        pairs: &[(At, At)],
        left_only: &[At],
        right_only: &[At],
    ) -> Result<Option<RecordBatch>> {
        let [left, right] = &self.sides;
        let mut parts = Vec::new();
        if !pairs.is_empty() {
            let l: Vec<At> = pairs.iter().map(|p| p.0).collect();
            let r: Vec<At> = pairs.iter().map(|p| p.1).collect();
            let mut columns = left.take(&l)?;
            columns.extend(right.take(&r)?);
            parts.push(RecordBatch::try_new(
                Arc::clone(&self.output_schema),
                columns,
            )?);
        }
        if !left_only.is_empty() {
            let mut columns = left.take(left_only)?;
            columns.extend(right.nulls(left_only.len()));
            parts.push(RecordBatch::try_new(
                Arc::clone(&self.output_schema),
                columns,
            )?);
        }
        if !right_only.is_empty() {
            let mut columns = left.nulls(right_only.len());
            columns.extend(right.take(right_only)?);
            parts.push(RecordBatch::try_new(
                Arc::clone(&self.output_schema),
                columns,
            )?);
        }
        if parts.is_empty() {
            return Ok(None);
        }
        Ok(Some(concat_batches(&self.output_schema, &parts)?))
    }
}

/// The lower of two watermarks, `None` being -infinity.
fn lowest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        _ => None,
    }
}

impl EventTimeState for StreamJoinState {
    fn name(&self) -> &str {
        &self.spec.name
    }

    fn begin_epoch(&mut self) {
        for side in &mut self.sides {
            side.watermark.advance();
        }
    }

    fn canonical_order(&self, input: usize, batches: &mut [RecordBatch]) {
        canonical_order(batches, self.sides[input].time_index);
    }

    fn absorb(&mut self, input: usize, batch: &RecordBatch) -> Result<Option<RecordBatch>> {
        let bound = self.late_threshold();
        let side = &mut self.sides[input];
        let times = as_micros(batch.column(side.time_index))?;
        let untils = side.untils(batch)?;
        let keys = side.keys.rows(&side.converter, batch)?;
        let key_columns = side.keys.columns(batch);
        let at = side.keep(batch.clone());
        let mut late = Vec::new();
        for i in 0..batch.num_rows() {
            if times.is_null(i) || bound.is_some_and(|w| times.value(i) <= w) {
                late.push(i as u32);
                continue;
            }
            // A null key never matches: such rows are held under a key of their side's
            // own (row encodings of keys never start with 0xff), so that an outer join
            // still emits them.
            let key: Box<[u8]> = if key_columns.iter().any(|c| c.is_null(i)) {
                Box::from(NULL_KEYS[input])
            } else {
                keys.row(i).as_ref().into()
            };
            side.fresh.push((
                key,
                Held {
                    time: times.value(i),
                    until: untils.as_ref().map_or(times.value(i), |u| u[i]),
                    batch: at,
                    row: i,
                    matched: false,
                },
            ));
        }
        let missed = vec![0; late.len()];
        late_rows(batch, late, missed, bound, &side.late_schema)
    }

    fn finish_epoch(
        &mut self,
        epoch_max: &[Option<i64>],
        flush: bool,
    ) -> Result<Option<RecordBatch>> {
        let pairs = self.pairs();
        for side in &mut self.sides {
            side.settle();
        }
        let bound = if flush {
            Some(i64::MAX)
        } else {
            lowest(
                self.sides[LEFT].watermark.current(),
                self.sides[RIGHT].watermark.current(),
            )
        };
        let (min, max) = (self.spec.min_offset_us, self.spec.max_offset_us);
        let (left_gone, right_gone) = match bound {
            None => (Vec::new(), Vec::new()),
            // A left row goes once the watermark passes its `until` plus the upper bound,
            // a right row once it passes its event time less the lower bound: no row goes
            // while the watermark is behind the least of those.
            Some(w) => (
                self.sides[LEFT].evict(
                    |(_, until)| w != i64::MAX && until.saturating_add(max) > w,
                    |h| h.until.saturating_add(max) <= w || w == i64::MAX,
                ),
                self.sides[RIGHT].evict(
                    |(time, _)| w != i64::MAX && time.saturating_sub(min) > w,
                    |h| h.time.saturating_sub(min) <= w || w == i64::MAX,
                ),
            ),
        };
        let left_only: &[At] = if self.spec.kind.keeps_unmatched_left() {
            &left_gone
        } else {
            &[]
        };
        let right_only: &[At] = if self.spec.kind.keeps_unmatched_right() {
            &right_gone
        } else {
            &[]
        };
        let output = self.output(&pairs, left_only, right_only)?;
        for (side, max) in self.sides.iter_mut().zip(epoch_max) {
            side.release();
            side.watermark.observe(*max);
        }
        Ok(output)
    }

    fn snapshot(&self, key_groups: u32) -> Result<Vec<u8>> {
        // Each kept batch is encoded once, whole; an entry names its row there:
        // (key group, side, matched, event time, encoded batch, row).
        let mut encoded: Vec<Rows> = Vec::new();
        let mut entries: Vec<(u32, u8, bool, i64, usize, usize)> = Vec::new();
        for (s, side) in self.sides.iter().enumerate() {
            let mut encodings: HashMap<usize, usize> = HashMap::new();
            for (key, rows) in &side.held {
                let group = key_group(key, key_groups);
                for h in rows {
                    let at = match encodings.get(&h.batch) {
                        Some(at) => *at,
                        None => {
                            let batch = &side.batches[&h.batch].batch;
                            encoded.push(side.whole.convert_columns(batch.columns())?);
                            encodings.insert(h.batch, encoded.len() - 1);
                            encoded.len() - 1
                        }
                    };
                    entries.push((group, s as u8, h.matched, h.time, at, h.row));
                }
            }
        }
        // Ordered by content, whatever the batches' ids: the event time first, which
        // leaves few rows to compare whole.
        entries.sort_unstable_by(|a, b| {
            (a.0, a.1, a.2, a.3)
                .cmp(&(b.0, b.1, b.2, b.3))
                .then_with(|| encoded[a.4].row(a.5).cmp(&encoded[b.4].row(b.5)))
        });
        let fields = vec![
            Field::new("key_group", DataType::UInt32, false),
            Field::new("side", DataType::UInt8, false),
            Field::new("matched", DataType::Boolean, false),
            Field::new("row", DataType::Binary, false),
        ];
        let watermarks = Watermarks {
            left: self.sides[LEFT].watermark.clone(),
            right: self.sides[RIGHT].watermark.clone(),
        };
        let row = |e: &(u32, u8, bool, i64, usize, usize)| encoded[e.4].row(e.5).data();
        let size = entries.iter().map(|e| row(e).len() + 16).sum();
        let mut writer =
            SnapshotWriter::new(&self.spec.name, key_groups, &watermarks, fields, size)?;
        // A batch of entries at a time: a held row is copied once, into the stream.
        for chunk in snapshot_batches(&entries) {
            writer.write(vec![
                Arc::new(UInt32Array::from_iter_values(chunk.iter().map(|e| e.0))),
                Arc::new(UInt8Array::from_iter_values(chunk.iter().map(|e| e.1))),
                Arc::new(BooleanArray::from_iter(chunk.iter().map(|e| Some(e.2)))),
                Arc::new(binary_column(chunk.iter().map(row))),
            ])?;
        }
        writer.finish()
    }

    fn restore(&mut self, parts: &[&bytes::Bytes], owned: Range<u32>) -> Result<()> {
        let (watermarks, batches) = decode_snapshots::<Watermarks>(&self.spec.name, parts)?;
        for batch in &batches {
            let col = |name: &str| -> Result<&ArrayRef> {
                batch
                    .column_by_name(name)
                    .ok_or_else(|| EngineError::Snapshot(format!("missing column {name}")))
            };
            let groups = col("key_group")?.as_primitive::<UInt32Type>();
            let sides = col("side")?.as_primitive::<UInt8Type>();
            let matched = col("matched")?.as_boolean();
            let rows = col("row")?.as_binary::<i32>();
            for s in [LEFT, RIGHT] {
                let side = &mut self.sides[s];
                let parser = side.whole.parser();
                let mut picked = Vec::new();
                let mut flags = Vec::new();
                for i in 0..batch.num_rows() {
                    if usize::from(sides.value(i)) == s && owned.contains(&groups.value(i)) {
                        picked.push(parser.parse(rows.value(i)));
                        flags.push(matched.value(i));
                    }
                }
                if picked.is_empty() {
                    continue;
                }
                let columns = side.whole.convert_rows(picked)?;
                let restored = RecordBatch::try_new(Arc::clone(&side.schema), columns)?;
                side.hold(restored, &flags)?;
            }
        }
        if let Some(w) = watermarks {
            self.sides[LEFT].watermark = w.left;
            self.sides[RIGHT].watermark = w.right;
        }
        Ok(())
    }

    fn open_entries(&self) -> usize {
        self.sides.iter().map(Side::rows_held).sum()
    }

    fn watermark(&self) -> &Watermark {
        let [left, right] = &self.sides;
        if left.watermark.next() <= right.watermark.next() {
            &left.watermark
        } else {
            &right.watermark
        }
    }

    fn results_schema(&self) -> SchemaRef {
        Arc::clone(&self.output_schema)
    }

    fn late_rows_schema(&self) -> SchemaRef {
        Arc::clone(&self.sides[LEFT].late_schema)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use arrow::array::{Int64Array, TimestampMicrosecondArray};
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
            name: "q4".into(),
            right: "bids".into(),
            kind: StreamJoinKind::LeftOuter,
            left_keys: vec!["id".into()],
            right_keys: vec!["auction".into()],
            left_time: "t".into(),
            right_time: "t".into(),
            min_offset_us: 0,
            max_offset_us: 0,
            left_delay: Duration::ZERO,
            right_delay: Duration::ZERO,
            left_prefix: "a.".into(),
            right_prefix: "b.".into(),
            left_until: Some("u".into()),
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
        let auctions: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("t", ts(), false),
        ]));
        let bids: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("auction", DataType::Int64, false),
            Field::new("t", ts(), false),
        ]));
        let spec = StreamJoinSpec {
            name: "bids".into(),
            right: "bids".into(),
            kind: StreamJoinKind::RightOuter,
            left_keys: vec!["id".into()],
            right_keys: vec!["auction".into()],
            left_time: "t".into(),
            right_time: "t".into(),
            min_offset_us: -10,
            max_offset_us: 10,
            left_delay: Duration::ZERO,
            right_delay: Duration::ZERO,
            left_prefix: "a.".into(),
            right_prefix: "b.".into(),
            left_until: None,
        };
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
}
