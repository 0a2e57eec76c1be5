//! The keyed state of a window operator and its per-epoch logic.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, StringArray};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use arrow::row::RowConverter;
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

use super::accumulator::{Accumulator, Extra, Kept};
use super::input::{Reading, Values};
use super::pane::{Closing, Panes};
use super::{OutputMode, WindowKind, WindowSpec, micros};
use crate::changelog::{CHANGE_COLUMN, change_field, weights};
use crate::error::{EngineError, Result};
use crate::event_time::{as_micros, canonical_order, late_schema, time_index};
use crate::key::{KeyColumns, column_index};
use crate::watermark::{Watermark, delays};

/// One key's open aggregate over `[start, end)`: a session, a global group, or, for
/// tumbling and sliding windows, a pane (see [`Panes`]).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Slot {
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) acc: Accumulator,
    pub(crate) changed: bool,
}

/// Emitted slots with their encoded keys.
pub(crate) type Emitted = Vec<(Box<[u8]>, Slot)>;

/// Open slots per encoded key (hashbrown's map, whose `entry_ref` finds or inserts a key
/// with one hash and one lookup: a row's key is looked up once).
pub(crate) type OpenWindows = hashbrown::HashMap<Box<[u8]>, Vec<Slot>, Xxh3DefaultBuilder>;

/// What an epoch produced.
#[derive(Debug, Default)]
pub struct EpochOutput {
    /// Emitted window results, sorted by window then key.
    pub results: Option<RecordBatch>,
}

/// The state of one window operator instance: open windows per key and the watermark.
pub struct WindowState {
    pub(crate) spec: WindowSpec,
    pub(crate) keys: KeyColumns,
    pub(crate) converter: RowConverter,
    pub(crate) kept: Vec<Kept>,
    pub(crate) open: OpenWindows,
    /// The panes of tumbling and sliding windows; none for sessions and global windows.
    panes: Option<Panes>,
    /// A bound on the earliest end of the open panes: every window over them ends at or
    /// after it, so while the watermark is behind it an append-mode epoch has nothing to
    /// emit or evict, and ends without visiting every open pane. `i64::MIN` after a
    /// restore, until the next epoch's visit.
    pub(crate) earliest_end: i64,
    /// In update mode, the keys whose panes changed this epoch (a key once per pane it
    /// changed): while no window closes, an epoch's end visits these keys only.
    touched: Vec<Box<[u8]>>,
    pub(crate) watermark: Watermark,
    /// The event-time column; none for a global window.
    time_index: Option<usize>,
    /// The column of each row's session gap (µs), for sessions whose rows set it.
    gap_index: Option<usize>,
    /// The input's change column, when it is a changelog.
    change_index: Option<usize>,
    /// In a changelog, the groups changed this epoch as they were before it (those that
    /// had rows), whose old rows are retracted when the epoch ends.
    before: HashMap<Box<[u8]>, Accumulator, Xxh3DefaultBuilder>,
    /// With [`WindowSpec::deletes`], the sessions merged this epoch into another, by key:
    /// `(start, end)`.
    vanished: Vec<(Box<[u8]>, i64, i64)>,
    agg_inputs: Vec<Option<usize>>,
    /// Each aggregate's ordering column (`max_by`, `min_by`).
    agg_orders: Vec<Option<usize>>,
    /// How each aggregate reads its input.
    readings: Vec<Reading>,
    output_schema: SchemaRef,
    late_schema: SchemaRef,
    /// Counts emitted sums and averages that did not fit their type.
    pub(crate) overflows: prometheus_client::metrics::counter::Counter,
}

impl WindowState {
    /// Counts in `counter` the emitted sums and averages that do not fit their type
    /// (written NULL).
    pub fn count_overflows_in(&mut self, counter: prometheus_client::metrics::counter::Counter) {
        self.overflows = counter;
    }

    /// Empty state for `spec` over inputs with `schema`.
    ///
    /// # Errors
    /// When a column is missing or an aggregate is malformed.
    pub fn new(spec: WindowSpec, schema: &SchemaRef) -> Result<Self> {
        spec.validate()?;
        let keys = KeyColumns::resolve(schema, &spec.keys)?;
        let global = spec.kind == WindowKind::Global;
        let time_index = if global {
            None
        } else {
            Some(time_index(schema, &spec.time_column)?)
        };
        let gap_index = match &spec.gap_column {
            Some(gap) => {
                let index = column_index(schema, gap)?;
                if schema.field(index).data_type() != &DataType::Int64 {
                    return Err(EngineError::InvalidPlan(format!(
                        "window `{}`: the session gap column `{gap}` holds microseconds, a \
                         BIGINT, not {}",
                        spec.name,
                        schema.field(index).data_type()
                    )));
                }
                Some(index)
            }
            None => None,
        };
        let change_index = schema.index_of(CHANGE_COLUMN).ok();
        if change_index.is_some() && !global {
            return Err(EngineError::InvalidPlan(format!(
                "window `{}` reads a changelog (`{CHANGE_COLUMN}`), whose retractions only an \
                 aggregate without a window takes back out",
                spec.name
            )));
        }
        let mut agg_inputs = Vec::new();
        let mut agg_orders = Vec::new();
        let mut fields = if global {
            Vec::new()
        } else {
            vec![
                Field::new("window_start", utc(), false),
                Field::new("window_end", utc(), false),
            ]
        };
        for key in keys.names() {
            fields.push(schema.field_with_name(key)?.clone());
        }
        let mut readings = Vec::new();
        for agg in &spec.aggregates {
            let input = match &agg.column {
                None => None,
                Some(c) => Some(column_index(schema, c)?),
            };
            let order = match &agg.by {
                None => None,
                Some(c) => Some(column_index(schema, c)?),
            };
            let input_type = input.map(|i| schema.field(i).data_type());
            let reading = Reading::of(agg, input_type, order.map(|i| schema.field(i).data_type()))?;
            if change_index.is_some() && !agg.function.retracts() {
                return Err(EngineError::InvalidPlan(format!(
                    "aggregate `{}`: {:?} over a changelog (an aggregate's updated rows) \
                     cannot take a retracted value back out; count, sum, avg, stddev and \
                     variance can",
                    agg.name, agg.function
                )));
            }
            if change_index.is_some() && matches!(reading, Reading::Decimal(p, _) if p > 18) {
                return Err(EngineError::InvalidPlan(format!(
                    "aggregate `{}`: a decimal of more than 18 digits over a changelog (an \
                     aggregate's updated rows): its range cannot take a retracted value back \
                     out; cast it to DECIMAL(18, s) in the inner query",
                    agg.name
                )));
            }
            if global && reading == Reading::ValueList {
                return Err(EngineError::InvalidPlan(format!(
                    "aggregate `{}`: collect_list orders a window's values by their event \
                     times, and an aggregate without a window has none; collect_set keeps \
                     the distinct values, max_by(c, ts) the latest",
                    agg.name
                )));
            }
            agg_orders.push(order);
            agg_inputs.push(input);
            readings.push(reading);
            let out = reading.output(agg.function, input_type);
            fields.push(out.with_name(&agg.name));
        }
        if spec.changelog || spec.deletes {
            fields.push(change_field());
        }
        let kept = readings.iter().map(|r| r.kept()).collect();
        Ok(Self {
            converter: keys.converter()?,
            keys,
            kept,
            open: OpenWindows::default(),
            panes: Panes::of(spec.kind).map(|p| p.with_offset(micros(spec.offset))),
            earliest_end: i64::MAX,
            touched: Vec::new(),
            watermark: Watermark::with_others(micros(spec.delay), &delays(&spec.watermark_also)),
            time_index,
            gap_index,
            change_index,
            before: HashMap::default(),
            vanished: Vec::new(),
            agg_inputs,
            agg_orders,
            readings,
            output_schema: Arc::new(Schema::new(fields)),
            late_schema: late_schema(schema),
            overflows: prometheus_client::metrics::counter::Counter::default(),
            spec,
        })
    }

    /// How each aggregate reads its column, in plan order.
    pub(crate) fn readings(&self) -> &[Reading] {
        &self.readings
    }

    /// The schema of emitted results.
    pub fn output_schema(&self) -> &SchemaRef {
        &self.output_schema
    }

    /// The schema of late records: the input columns plus `windows_missed` and
    /// `late_watermark`.
    pub fn late_schema(&self) -> &SchemaRef {
        &self.late_schema
    }

    /// The watermark bookkeeping.
    pub fn watermark(&self) -> &Watermark {
        &self.watermark
    }

    /// Open entries: (pane, key) for tumbling and sliding windows, (session, key) and
    /// groups otherwise.
    pub fn open_entries(&self) -> usize {
        self.open.values().map(Vec::len).sum()
    }

    /// The allowed lateness in microseconds: windows stay open that long past the
    /// watermark.
    fn lateness(&self) -> i64 {
        micros(self.spec.allowed_lateness)
    }

    /// Starts an epoch: `W(e)` becomes the watermark in effect.
    pub fn begin_epoch(&mut self) {
        self.watermark.advance();
    }

    /// Puts one epoch's batches in an order that depends only on their contents, not on
    /// the order in which other workers' batches happened to arrive. Floating-point sums
    /// then come out bit-identical across runs, crashes and replays.
    pub fn canonical_order(&self, batches: &mut [RecordBatch]) {
        // A global window has no event time; its keys order its batches as well.
        let column = self
            .time_index
            .or_else(|| self.keys.indices().first().copied())
            .unwrap_or(0);
        canonical_order(batches, column);
    }

    /// Adds the rows of `batch` (one epoch's data) and returns the late ones.
    ///
    /// # Errors
    /// When a column cannot be read as its expected type.
    pub fn absorb(&mut self, batch: &RecordBatch) -> Result<Option<RecordBatch>> {
        let rows = self.keys.rows(&self.converter, batch)?;
        let mut values: Vec<Option<Values>> = Vec::with_capacity(self.agg_inputs.len());
        let mut distinct: Vec<Option<StringArray>> = Vec::with_capacity(self.agg_inputs.len());
        for (((input, order), reading), agg) in self
            .agg_inputs
            .iter()
            .zip(&self.agg_orders)
            .zip(&self.readings)
            .zip(&self.spec.aggregates)
        {
            let column = input.map(|i| batch.column(i));
            distinct.push(match column {
                Some(c) => reading.texts(
                    c,
                    order.map(|o| batch.column(o)),
                    self.time_index.map(|t| batch.column(t)),
                )?,
                None => None,
            });
            values.push(match column {
                Some(c) => reading.values(agg.function, c)?,
                None => None,
            });
        }
        let Some(time_index) = self.time_index else {
            let weights = match self.change_index {
                Some(c) => Some(weights(batch, c)?),
                None => None,
            };
            for i in 0..batch.num_rows() {
                let weight = weights.as_ref().map_or(1, |w| w[i]);
                self.add_to_group(rows.row(i).as_ref(), weight, i, &values, &distinct);
            }
            return Ok(None);
        };
        let times = as_micros(batch.column(time_index))?;
        let gaps = self
            .gap_index
            .map(|g| batch.column(g).as_primitive::<Int64Type>());
        let late_bound = self
            .watermark
            .late_threshold()
            .map(|w| w.saturating_sub(self.lateness()));
        let mut late_rows = Vec::new();
        let mut late_missed = Vec::new();
        for i in 0..batch.num_rows() {
            // A row's own gap, where rows set it: one that is null or not positive (which
            // the SQL front end fails before the window) puts the row in no session.
            let gap = gaps.map(|g| g.is_valid(i).then(|| g.value(i)).filter(|&g| g > 0));
            if times.is_null(i) || gap == Some(None) {
                late_rows.push(i as u32);
                late_missed.push(0);
                continue;
            }
            let t = times.value(i);
            let key = rows.row(i);
            let gap = gap.flatten();
            let missed = self.add_row(key.as_ref(), t, gap, late_bound, i, &values, &distinct);
            if missed > 0 {
                late_rows.push(i as u32);
                late_missed.push(missed);
            }
        }
        crate::event_time::late_rows(batch, late_rows, late_missed, late_bound, &self.late_schema)
    }

    /// Adds row `i` (or, with `weight` -1, takes it back out) to the group `key` of a
    /// global window.
    fn add_to_group(
        &mut self,
        key: &[u8],
        weight: i8,
        i: usize,
        values: &[Option<Values>],
        distinct: &[Option<StringArray>],
    ) {
        let slots = slots_of(&mut self.open, key);
        if slots.is_empty() {
            slots.push(Slot {
                start: i64::MIN,
                end: i64::MAX,
                acc: Accumulator::new(&self.kept),
                changed: false,
            });
        }
        let slot = &mut slots[0];
        if self.spec.changelog && !slot.changed && slot.acc.rows != 0 {
            self.before.insert(key.into(), slot.acc.clone());
        }
        slot.changed = true;
        if weight > 0 {
            accumulate(&mut slot.acc, i, values, distinct);
        } else {
            retract(&mut slot.acc, i, values);
        }
    }

    /// Adds row `i` with event time `t` (and, for sessions whose rows set it, gap `gap`)
    /// under `key`; returns how many windows it missed.
    #[allow(clippy::too_many_arguments)]
    fn add_row(
        &mut self,
        key: &[u8],
        t: i64,
        gap: Option<i64>,
        late_bound: Option<i64>,
        i: usize,
        values: &[Option<Values>],
        distinct: &[Option<StringArray>],
    ) -> i32 {
        let is_late = |end: i64| late_bound.is_some_and(|w| end <= w);
        let Some(panes) = self.panes else {
            let WindowKind::Session { gap: fixed } = self.spec.kind else {
                unreachable!("a global window takes rows by add_to_group")
            };
            let end = t.saturating_add(gap.unwrap_or_else(|| micros(fixed)));
            if is_late(end) {
                return 1;
            }
            let mut acc = Accumulator::new(&self.kept);
            accumulate(&mut acc, i, values, distinct);
            let merged = merge_session(slots_of(&mut self.open, key), t, end, acc, &self.kept);
            if self.spec.deletes {
                self.vanished
                    .extend(merged.into_iter().map(|(s, e)| (Box::from(key), s, e)));
            }
            return 0;
        };
        // The row's windows are its pane's, counted by plain arithmetic (the late ones are
        // what it missed); the row goes to its pane when a window of it is still open.
        let (start, end) = panes.pane(t);
        let (windows, late) = panes
            .windows(start, end)
            .fold((0usize, 0usize), |(n, l), (_, window_end)| {
                (n + 1, l + usize::from(is_late(window_end)))
            });
        let missed = i32::try_from(late).unwrap_or(i32::MAX);
        if late == windows {
            return missed;
        }
        self.earliest_end = self.earliest_end.min(end);
        let slots = slots_of(&mut self.open, key);
        // Slots are sorted by (start, end): a checkpoint written before panes may hold a
        // whole window starting where a pane does.
        let at = match slots.binary_search_by(|s| (s.start, s.end).cmp(&(start, end))) {
            Ok(at) => at,
            Err(at) => {
                slots.insert(
                    at,
                    Slot {
                        start,
                        end,
                        acc: Accumulator::new(&self.kept),
                        changed: false,
                    },
                );
                at
            }
        };
        let slot = &mut slots[at];
        if !slot.changed && self.spec.mode == OutputMode::Update {
            self.touched.push(key.into());
        }
        slot.changed = true;
        accumulate(&mut slot.acc, i, values, distinct);
        missed
    }

    /// Ends the epoch: emits per the output mode, evicts final windows, and folds this
    /// epoch's global max event time into the watermark. `flush` ends a bounded input.
    ///
    /// # Errors
    /// When building the output batch fails.
    pub fn finish_epoch(&mut self, epoch_max: Option<i64>, flush: bool) -> Result<EpochOutput> {
        let bound = if flush {
            Some(i64::MAX)
        } else {
            let lateness = self.lateness();
            self.watermark.current().map(|w| w.saturating_sub(lateness))
        };
        let mode = self.spec.mode;
        let mut emptied: Vec<Box<[u8]>> = Vec::new();
        let mut emitted = match self.panes {
            Some(panes) => {
                let since = self
                    .watermark
                    .late_threshold()
                    .map(|w| w.saturating_sub(self.lateness()));
                let closing = Closing { since, bound, mode };
                // No window is final yet: nothing to evict, and only changed panes (in
                // update mode) to emit, so the open panes are not all visited.
                let closes_nothing = bound.is_none_or(|b| b < self.earliest_end);
                match mode {
                    OutputMode::Append if closes_nothing => Vec::new(),
                    OutputMode::Update if closes_nothing => {
                        panes.finish_touched(&mut self.open, &mut self.touched, &self.kept, closing)
                    }
                    _ => {
                        self.touched.clear();
                        let (emitted, earliest) = panes.finish(&mut self.open, &self.kept, closing);
                        self.earliest_end = earliest;
                        emitted
                    }
                }
            }
            None => self.finish_slots(bound, &mut emptied),
        };
        sort_emitted(&mut emitted);
        let changes = if self.spec.changelog {
            let (rows, changes) = self.changelog(emitted, emptied);
            emitted = rows;
            Some(changes)
        } else if self.spec.deletes {
            let (rows, changes) = self.with_deletes(emitted);
            emitted = rows;
            Some(changes)
        } else {
            None
        };
        let results = if emitted.is_empty() {
            None
        } else {
            Some(super::output::build(self, &emitted, changes.as_deref())?)
        };
        self.watermark.observe(epoch_max);
        Ok(EpochOutput { results })
    }
}

/// Sorts `emitted` by window, then key ([`key_order`]). Small entries (window, the key's
/// first 8 bytes, index) are sorted, then each slot is moved once into its place: sorting
/// the ~100-byte slots themselves moved them O(n log n) times, 14% of q5's samples in
/// `memmove`.
fn sort_emitted(emitted: &mut Emitted) {
    let mut order: Vec<(i64, i64, u64, usize)> = emitted
        .iter()
        .enumerate()
        .map(|(i, (key, slot))| (slot.start, slot.end, key_prefix(key), i))
        .collect();
    order.sort_unstable_by(|a, b| {
        (a.0, a.1, a.2)
            .cmp(&(b.0, b.1, b.2))
            .then_with(|| emitted[a.3].0.cmp(&emitted[b.3].0))
    });
    // `from[j]`: the index of the slot that goes to `j`; each cycle of the permutation is
    // applied with one swap per slot.
    let mut from: Vec<usize> = order.into_iter().map(|o| o.3).collect();
    for i in 0..from.len() {
        let mut j = i;
        loop {
            let k = from[j];
            from[j] = j;
            if k == i || k == j {
                break;
            }
            emitted.swap(j, k);
            j = k;
        }
    }
}

/// The first 8 bytes of an encoded key as one integer, zero-padded: their order is the
/// bytes' order.
#[inline]
fn key_prefix(k: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    let n = k.len().min(8);
    bytes[..n].copy_from_slice(&k[..n]);
    u64::from_be_bytes(bytes)
}

/// The byte order of two encoded keys (their sort order), comparing their first 8 bytes
/// as one integer before calling `memcmp` on ties: sorting an epoch's windows by key
/// spent a fifth of q5's time in `memcmp` calls on short keys.
#[inline]
pub(crate) fn key_order(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    key_prefix(a).cmp(&key_prefix(b)).then_with(|| a.cmp(b))
}

/// An encoded key looked up in [`OpenWindows`]: hashed as the stored `Box<[u8]>` is, and
/// compared without calling `memcmp` when it is empty. A window without keys looks up the
/// empty key once per row, and the stored empty key's pointer is dangling: glibc's
/// `memcmp` of zero bytes still issues a masked vector load from it, which the CPU
/// completes by a microcode assist (7% of Nexmark q7's samples were in that `memcmp`).
struct KeyRef<'a>(&'a [u8]);

impl std::hash::Hash for KeyRef<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl hashbrown::Equivalent<Box<[u8]>> for KeyRef<'_> {
    #[inline]
    fn equivalent(&self, key: &Box<[u8]>) -> bool {
        self.0.len() == key.len() && (self.0.is_empty() || *self.0 == **key)
    }
}

/// The open slots of `key`, created empty on first use.
#[inline]
fn slots_of<'a>(open: &'a mut OpenWindows, key: &[u8]) -> &'a mut Vec<Slot> {
    match open.entry_ref(&KeyRef(key)) {
        hashbrown::hash_map::EntryRef::Occupied(slots) => slots.into_mut(),
        hashbrown::hash_map::EntryRef::Vacant(vacant) => {
            vacant.insert_with_key(key.into(), Vec::new())
        }
    }
}

/// Adds row `i` to `acc`.
#[inline]
fn accumulate(
    acc: &mut Accumulator,
    i: usize,
    values: &[Option<Values>],
    texts: &[Option<StringArray>],
) {
    acc.rows += 1;
    for (a, column) in values.iter().enumerate() {
        if let Some(column) = column {
            column.add_to(i, &mut acc.moments[a]);
            match acc.extras[a].as_mut() {
                Some(Extra::Quantiles(q)) => {
                    if let Some(v) = column.double(i) {
                        q.add(v);
                    }
                }
                Some(Extra::Wide(w)) => {
                    if let Some(v) = column.wide(i) {
                        w.add(v);
                    }
                }
                _ => {}
            }
        }
    }
    for (a, column) in texts.iter().enumerate() {
        if let Some(column) = column
            && column.is_valid(i)
        {
            let v = column.value(i);
            match acc.extras[a].as_mut() {
                Some(extra) => extra.add(v),
                None => acc.extras[a] = Some(Extra::range_of(v)),
            }
            acc.moments[a].count += 1;
        }
    }
}

/// Takes row `i` back out of `acc` (a retraction; never of a sketched aggregate).
#[inline]
fn retract(acc: &mut Accumulator, i: usize, values: &[Option<Values>]) {
    acc.rows -= 1;
    for (a, column) in values.iter().enumerate() {
        if let Some(column) = column {
            column.remove_from(i, &mut acc.moments[a]);
        }
    }
}

/// Merges the session `[start, end)` holding `acc` into a key's sessions (sorted by start):
/// every session it overlaps joins it, and the result spans all of them. Returns the
/// `(start, end)` of the sessions that joined it and no longer start where it does.
pub(crate) fn merge_session(
    slots: &mut Vec<Slot>,
    start: i64,
    end: i64,
    acc: Accumulator,
    kept: &[Kept],
) -> Vec<(i64, i64)> {
    let mut joined = Vec::new();
    let mut merged = Slot {
        start,
        end,
        acc,
        changed: true,
    };
    // Repeat until nothing overlaps: a merge can widen the session so that it now
    // overlaps a neighbour it did not before.
    loop {
        let before = slots.len();
        slots.retain(|s| {
            let overlaps = s.start < merged.end && merged.start < s.end;
            if overlaps {
                merged.start = merged.start.min(s.start);
                merged.end = merged.end.max(s.end);
                merged.acc.merge(&s.acc, kept);
                joined.push((s.start, s.end));
            }
            !overlaps
        });
        if slots.len() == before {
            break;
        }
    }
    joined.retain(|(s, _)| *s != merged.start);
    let at = slots.partition_point(|s| s.start < merged.start);
    slots.insert(at, merged);
    joined
}

fn utc() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

impl crate::event_time::EventTimeState for WindowState {
    fn name(&self) -> &str {
        &self.spec.name
    }

    fn begin_epoch(&mut self) {
        WindowState::begin_epoch(self);
    }

    fn canonical_order(&self, _input: usize, batches: &mut [RecordBatch]) {
        WindowState::canonical_order(self, batches);
    }

    fn absorb(&mut self, _input: usize, batch: &RecordBatch) -> Result<Option<RecordBatch>> {
        WindowState::absorb(self, batch)
    }

    fn finish_epoch(
        &mut self,
        epoch_max: &[Option<i64>],
        flush: bool,
    ) -> Result<Option<RecordBatch>> {
        // The operator's input is clock 0; the streams of `watermark_also` follow.
        self.watermark
            .observe_others(epoch_max.get(1..).unwrap_or_default());
        Ok(WindowState::finish_epoch(self, epoch_max[0], flush)?.results)
    }

    fn snapshot(&self, key_groups: u32) -> Result<Vec<u8>> {
        WindowState::snapshot(self, key_groups)
    }

    fn restore(&mut self, parts: &[&bytes::Bytes], owned: std::ops::Range<u32>) -> Result<()> {
        WindowState::restore(self, parts, owned)
    }

    fn open_entries(&self) -> usize {
        WindowState::open_entries(self)
    }

    fn watermark(&self) -> &Watermark {
        WindowState::watermark(self)
    }

    fn results_schema(&self) -> SchemaRef {
        Arc::clone(&self.output_schema)
    }

    fn late_rows_schema(&self) -> SchemaRef {
        Arc::clone(&self.late_schema)
    }
}

mod slots;
#[cfg(test)]
mod tests;
