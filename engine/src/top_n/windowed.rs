//! Window Top-N over the rows of a window assignment, Flink's window Top-N (and window
//! deduplication) over a window TVF's own rows:
//!
//! ```sql
//! SELECT * FROM (
//!   SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end ORDER BY price DESC)
//!     AS rownum
//!   FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' MINUTES))
//! ) WHERE rownum <= 3
//! ```
//!
//! Each window's rows arrive over many epochs, so the first ranks of each group (a window
//! and the other `PARTITION BY` columns) are kept until the watermark closes the window.
//! Only rows that may still rank are kept: after each epoch, a window's kept rows and its
//! new ones are ranked together and those past the limit are dropped. That is exact, as
//! a row's rank among fewer rows is never worse, and a row ranked within the limit among
//! all of them is ranked within it among any that hold it. So the state holds at most
//! `limit` rows per group (more only where `RANK` and `DENSE_RANK` keep ties).
//!
//! Epoch by epoch, with `W(e)` as for windows (DESIGN section 2):
//! - a row of epoch `e` whose window ends at or before `W(e-1)` is late (the dead-letter
//!   table, reason `late`, once per window it missed, the window in its payload);
//! - at the end of epoch `e`, the windows ending at or before `W(e)` are final: their
//!   ranked rows are emitted, with their ranks, and their state is dropped. A bounded
//!   input's end closes every window.
//!
//! The kept rows are checkpointed by key group, whole.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, ArrayRef, AsArray, UInt32Array};
use arrow::compute::{concat_batches, filter_record_batch, take_record_batch};
use arrow::datatypes::{DataType, Field, SchemaRef, UInt32Type};
use arrow::record_batch::RecordBatch;
use arrow::row::RowConverter;
use serde::{Deserialize, Serialize};
use timely::dataflow::Stream;

use super::TopNSpec;
use crate::batch::Batches;
use crate::error::{EngineError, Result};
use crate::event_time::{
    EventTimeInput, EventTimeState, as_micros, binary_column, canonical_order, decode_snapshots,
    encode_snapshot, event_time_operator, late_rows, late_schema, time_index,
};
use crate::key::{KeyColumns, key_group};
use crate::watermark::Watermark;
use crate::window::{Observed, WINDOW_COLUMNS, WindowOutputs, WindowSetup, micros};

/// A window Top-N over assigned rows (see the [module docs](self)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct WindowTopNSpec {
    /// The ranking: its name names the state; its groups hold `window_start` and
    /// `window_end`; its rank column, if any, is written when a window closes.
    pub top: TopNSpec,
    /// The rows' event-time column, whose watermark closes the windows.
    pub time_column: String,
    /// The watermark delay.
    pub delay: Duration,
    /// The stream whose event times set the watermark (a SQL query's source rows, before
    /// the assignment and any `WHERE`); the input itself when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark_from: Option<String>,
}

/// Window Top-N of a stream of Arrow batches.
pub trait WindowTopNExt<'scope> {
    /// Ranks `self` (batches with `schema`, window columns included) per `spec`, the
    /// watermark set by the event times of `observed` (or of `self`). The results have
    /// the input's schema and the rank column; late rows carry `windows_missed` (1) and
    /// `late_watermark`.
    ///
    /// # Errors
    /// When the spec does not fit the schema.
    fn window_top_n(
        self,
        spec: &WindowTopNSpec,
        schema: &SchemaRef,
        setup: WindowSetup,
        observed: Observed<'scope>,
    ) -> Result<WindowOutputs<'scope>>;
}

impl<'scope> WindowTopNExt<'scope> for Stream<'scope, u64, Batches> {
    fn window_top_n(
        self,
        spec: &WindowTopNSpec,
        schema: &SchemaRef,
        setup: WindowSetup,
        observed: Observed<'scope>,
    ) -> Result<WindowOutputs<'scope>> {
        let keys = &spec.top.partition_by;
        let input = EventTimeInput::new(self, schema, keys, Some(&spec.time_column))?.observing(
            &spec.top.name,
            observed,
            &[],
        )?;
        let state = WindowTopNState::new(spec.clone(), schema)?;
        let label = format!("WindowTopN({})", spec.top.name);
        event_time_operator(vec![input], state, setup, label)
    }
}

/// The kept rows of a window Top-N, per window, and its watermark.
pub struct WindowTopNState {
    spec: WindowTopNSpec,
    /// The ranking without its rank column, to drop rows that can no longer rank.
    prune: TopNSpec,
    keys: KeyColumns,
    converter: RowConverter,
    time_index: usize,
    start: usize,
    end: usize,
    schema: SchemaRef,
    output_schema: SchemaRef,
    late_schema: SchemaRef,
    /// The rows that may still rank, per window `(end, start)`.
    kept: BTreeMap<(i64, i64), RecordBatch>,
    /// The epoch's rows that are not late.
    pending: Vec<RecordBatch>,
    watermark: Watermark,
}

impl WindowTopNState {
    /// Empty state for `spec` over inputs with `schema`.
    ///
    /// # Errors
    /// When a column is missing, the time column or the window's columns are not
    /// timestamps, or the groups do not hold the window's start and end.
    pub fn new(spec: WindowTopNSpec, schema: &SchemaRef) -> Result<Self> {
        spec.top.validate(schema)?;
        let [start_name, end_name, _] = WINDOW_COLUMNS;
        for bound in [start_name, end_name] {
            if !spec.top.partition_by.iter().any(|c| c == bound) {
                return Err(EngineError::InvalidPlan(format!(
                    "window top-n `{}`: it ranks each window's rows, so it partitions by \
                     `{bound}`",
                    spec.top.name
                )));
            }
        }
        let keys = KeyColumns::resolve(schema, &spec.top.partition_by)?;
        Ok(Self {
            prune: TopNSpec {
                rank_column: None,
                ..spec.top.clone()
            },
            converter: keys.converter()?,
            keys,
            time_index: time_index(schema, &spec.time_column)?,
            start: time_index(schema, start_name)?,
            end: time_index(schema, end_name)?,
            schema: Arc::clone(schema),
            output_schema: spec.top.output_schema(schema),
            late_schema: late_schema(schema),
            kept: BTreeMap::new(),
            pending: Vec::new(),
            watermark: Watermark::new(micros(spec.delay)),
            spec,
        })
    }

    /// `rows` split by window `(end, start)`.
    fn by_window(&self, rows: &RecordBatch) -> Result<BTreeMap<(i64, i64), RecordBatch>> {
        let starts = as_micros(rows.column(self.start))?;
        let ends = as_micros(rows.column(self.end))?;
        let mut indices: BTreeMap<(i64, i64), Vec<u32>> = BTreeMap::new();
        for i in 0..rows.num_rows() {
            indices
                .entry((ends.value(i), starts.value(i)))
                .or_default()
                .push(i as u32);
        }
        let mut windows = BTreeMap::new();
        for (window, rows_of) in indices {
            windows.insert(
                window,
                take_record_batch(rows, &UInt32Array::from(rows_of))?,
            );
        }
        Ok(windows)
    }

    /// Adds `rows` of one window to what it keeps, dropping rows that can no longer rank.
    fn keep(&mut self, window: (i64, i64), rows: RecordBatch) -> Result<()> {
        let merged = match self.kept.remove(&window) {
            Some(kept) => concat_batches(&self.schema, [&kept, &rows])?,
            None => rows,
        };
        self.kept.insert(window, self.prune.apply(&merged)?);
        Ok(())
    }
}

impl EventTimeState for WindowTopNState {
    fn name(&self) -> &str {
        &self.spec.top.name
    }

    fn begin_epoch(&mut self) {
        self.watermark.advance();
    }

    fn canonical_order(&self, _input: usize, batches: &mut [RecordBatch]) {
        canonical_order(batches, self.time_index);
    }

    fn absorb(&mut self, _input: usize, batch: &RecordBatch) -> Result<Option<RecordBatch>> {
        let ends = as_micros(batch.column(self.end))?;
        let starts = batch.column(self.start);
        let bound = self.watermark.late_threshold();
        let mut late = Vec::new();
        let mut keep = Vec::with_capacity(batch.num_rows());
        for i in 0..batch.num_rows() {
            // A row of no window (its event time null) can never rank: late as well.
            let is_late =
                ends.is_null(i) || starts.is_null(i) || bound.is_some_and(|w| ends.value(i) <= w);
            if is_late {
                late.push(i as u32);
            }
            keep.push(!is_late);
        }
        if late.len() < batch.num_rows() {
            let kept = filter_record_batch(batch, &keep.into())?;
            self.pending.push(kept);
        }
        let missed = vec![1; late.len()];
        late_rows(batch, late, missed, bound, &self.late_schema)
    }

    fn finish_epoch(
        &mut self,
        epoch_max: &[Option<i64>],
        flush: bool,
    ) -> Result<Option<RecordBatch>> {
        if !self.pending.is_empty() {
            let rows = concat_batches(&self.schema, &std::mem::take(&mut self.pending))?;
            for (window, rows) in self.by_window(&rows)? {
                self.keep(window, rows)?;
            }
        }
        let closing: Vec<(i64, i64)> = match (flush, self.watermark.current()) {
            (true, _) => self.kept.keys().copied().collect(),
            (false, Some(w)) => self.kept.range(..=(w, i64::MAX)).map(|(k, _)| *k).collect(),
            (false, None) => Vec::new(),
        };
        let closed: Vec<RecordBatch> = closing
            .iter()
            .filter_map(|window| self.kept.remove(window))
            .collect();
        self.watermark.observe(epoch_max[0]);
        if closed.is_empty() {
            return Ok(None);
        }
        let rows = concat_batches(&self.schema, &closed)?;
        Ok(Some(self.spec.top.apply(&rows)?))
    }

    fn snapshot(&self, key_groups: u32) -> Result<Vec<u8>> {
        let batches: Vec<&RecordBatch> = self.kept.values().collect();
        let rows = concat_batches(&self.schema, batches)?;
        let keys = self.keys.rows(&self.converter, &rows)?;
        let keys: Vec<&[u8]> = keys.iter().map(|row| row.data()).collect();
        let mut fields = vec![
            Field::new("key_group", DataType::UInt32, false),
            Field::new("key", DataType::Binary, false),
        ];
        fields.extend(self.schema.fields().iter().map(|f| f.as_ref().clone()));
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from_iter_values(
                keys.iter().map(|k| key_group(k, key_groups)),
            )),
            Arc::new(binary_column(keys.iter().copied())),
        ];
        columns.extend(rows.columns().iter().cloned());
        encode_snapshot(
            &self.spec.top.name,
            key_groups,
            &self.watermark,
            fields,
            columns,
        )
    }

    fn restore(&mut self, parts: &[&bytes::Bytes], owned: Range<u32>) -> Result<()> {
        let (watermark, batches) = decode_snapshots(&self.spec.top.name, parts)?;
        for batch in &batches {
            let groups = batch
                .column_by_name("key_group")
                .ok_or_else(|| EngineError::Snapshot("missing column key_group".into()))?
                .as_primitive::<UInt32Type>();
            let mine: Vec<bool> = groups
                .iter()
                .map(|g| g.is_some_and(|g| owned.contains(&g)))
                .collect();
            let rows = filter_record_batch(batch, &mine.into())?;
            let rows = RecordBatch::try_new(
                Arc::clone(&self.schema),
                rows.columns().get(2..).unwrap_or_default().to_vec(),
            )
            .map_err(|e| {
                EngineError::Snapshot(format!(
                    "window top-n `{}`: the checkpointed rows do not have the query's \
                     columns ({e})",
                    self.spec.top.name
                ))
            })?;
            for (window, rows) in self.by_window(&rows)? {
                self.keep(window, rows)?;
            }
        }
        if let Some(w) = watermark {
            self.watermark = w;
        }
        Ok(())
    }

    fn open_entries(&self) -> usize {
        self.kept.len()
    }

    fn watermark(&self) -> &Watermark {
        &self.watermark
    }

    fn results_schema(&self) -> SchemaRef {
        Arc::clone(&self.output_schema)
    }

    fn late_rows_schema(&self) -> SchemaRef {
        Arc::clone(&self.late_schema)
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, TimestampMicrosecondArray};
    use arrow::datatypes::{Int64Type, Schema, TimeUnit};

    use super::super::{Ranking, SortKey};
    use super::*;

    fn schema() -> SchemaRef {
        let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("price", DataType::Int64, false),
            Field::new("ts", ts.clone(), false),
            Field::new("window_start", ts.clone(), true),
            Field::new("window_end", ts.clone(), true),
            Field::new("window_time", ts, true),
        ]))
    }

    /// Rows `(id, price, ts)` of tumbling windows of 10 µs.
    fn rows(rows: &[(i64, i64, i64)]) -> RecordBatch {
        let ts = |f: &dyn Fn(i64) -> i64| -> ArrayRef {
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| f(r.2)))
                    .with_timezone("UTC"),
            )
        };
        RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
                ts(&|t| t),
                ts(&|t| t - t % 10),
                ts(&|t| t - t % 10 + 10),
                ts(&|t| t - t % 10 + 9),
            ],
        )
        .unwrap()
    }

    fn state() -> WindowTopNState {
        let spec = WindowTopNSpec {
            top: TopNSpec {
                name: "top".into(),
                partition_by: vec!["window_start".into(), "window_end".into()],
                order_by: vec![SortKey::descending("price")],
                limit: 2,
                ranking: Ranking::RowNumber,
                rank_column: Some("rn".into()),
            },
            time_column: "ts".into(),
            delay: Duration::ZERO,
            watermark_from: None,
        };
        WindowTopNState::new(spec, &schema()).unwrap()
    }

    /// One epoch of `batch`: its late rows' ids, and the emitted `(id, rank)`.
    fn epoch(
        s: &mut WindowTopNState,
        batch: &RecordBatch,
        max: i64,
        flush: bool,
    ) -> (Vec<i64>, Vec<(i64, i64)>) {
        s.begin_epoch();
        let late = s.absorb(0, batch).unwrap().map_or_else(Vec::new, |l| {
            l.column(0).as_primitive::<Int64Type>().values().to_vec()
        });
        let out = s.finish_epoch(&[Some(max)], flush).unwrap();
        let emitted = out.map_or_else(Vec::new, |o| {
            let ids = o.column(0).as_primitive::<Int64Type>();
            let ranks = o.column_by_name("rn").unwrap().as_primitive::<Int64Type>();
            ids.iter()
                .zip(ranks.iter())
                .map(|(i, r)| (i.unwrap(), r.unwrap()))
                .collect()
        });
        (late, emitted)
    }

    #[test]
    fn each_window_s_first_ranks_come_out_once_the_watermark_closes_it() {
        let mut s = state();
        // Window [0, 10): prices 5, 9, 7; window [10, 20): 1. Nothing is final yet.
        let first = rows(&[(1, 5, 1), (2, 9, 2), (3, 7, 3), (4, 1, 12)]);
        assert_eq!(epoch(&mut s, &first, 12, false), (vec![], vec![]));
        // Only the first two ranks of a window are kept.
        assert_eq!(s.kept[&(10, 0)].num_rows(), 2);
        // W(1) = 12: a row of [0, 10) still counts (late only against W(0)), and the
        // window closes at the end of the epoch.
        let second = rows(&[(5, 100, 4), (6, 3, 15)]);
        assert_eq!(
            epoch(&mut s, &second, 15, false),
            (vec![], vec![(5, 1), (2, 2)])
        );
        // A row of the closed window is late now.
        let third = rows(&[(7, 1_000, 5), (8, 2, 16)]);
        let snapshot = {
            let (late, emitted) = epoch(&mut s, &third, 16, false);
            assert_eq!((late, emitted), (vec![7], vec![]));
            s.snapshot(8).unwrap()
        };
        // Restored elsewhere, the open window goes on; the end of the input closes it.
        let mut restored = state();
        restored
            .restore(&[&bytes::Bytes::from(snapshot)], 0..8)
            .unwrap();
        assert_eq!(
            epoch(&mut restored, &rows(&[(9, 2, 17)]), 17, true),
            (vec![], vec![(6, 1), (8, 2)])
        );
        assert_eq!(restored.open_entries(), 0);
    }

    #[test]
    fn the_groups_hold_the_window() {
        let mut spec = state().spec;
        spec.top.partition_by = vec!["window_start".into()];
        let err = WindowTopNState::new(spec, &schema()).err().unwrap();
        assert!(
            err.to_string().contains("partitions by `window_end`"),
            "{err}"
        );
    }
}
