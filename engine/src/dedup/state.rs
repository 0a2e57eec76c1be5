//! The keyed state of a deduplication and its per-epoch logic (see the [module
//! docs](super)).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, UInt32Array};
use arrow::compute::interleave_record_batch;
use arrow::datatypes::{DataType, Field, Int64Type, SchemaRef, UInt32Type};
use arrow::record_batch::RecordBatch;
use arrow::row::RowConverter;
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

use super::DedupSpec;
use crate::error::{EngineError, Result};
use crate::event_time::{
    EventTimeState, as_micros, binary_column, canonical_order, decode_snapshots, encode_snapshot,
    late_rows, late_schema, time_index, whole_rows,
};
use crate::key::{KeyColumns, key_group};
use crate::watermark::{Watermark, delays};
use crate::window::micros;

/// The epoch's first row of a new key: its event time and where it is.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    time: i64,
    batch: usize,
    row: usize,
}

/// The state of one deduplication instance: remembered keys with the event time at which
/// they may be forgotten, the watermark, and the epoch in progress.
pub struct DedupState {
    spec: DedupSpec,
    keys: KeyColumns,
    converter: RowConverter,
    /// Encodes whole rows, to break ties between rows of a key with one event time.
    whole_rows: RowConverter,
    time_index: usize,
    /// The input's schema, also the passing rows'.
    schema: SchemaRef,
    late_schema: SchemaRef,
    /// Remembered keys: first event time plus the delay.
    seen: HashMap<Box<[u8]>, i64, Xxh3DefaultBuilder>,
    watermark: Watermark,
    /// The epoch's batches, and its first row of each new key.
    batches: Vec<RecordBatch>,
    candidates: HashMap<Box<[u8]>, Candidate, Xxh3DefaultBuilder>,
    duplicates: u64,
}

impl DedupState {
    /// Empty state for `spec` over inputs with `schema`.
    ///
    /// # Errors
    /// When a key or the time column is missing, or the time column is not a timestamp.
    pub fn new(spec: DedupSpec, schema: &SchemaRef) -> Result<Self> {
        let keys = KeyColumns::resolve(schema, &spec.keys)?;
        let time_index = time_index(schema, &spec.time_column)?;
        let whole_rows = whole_rows(schema)?;
        Ok(Self {
            converter: keys.converter()?,
            keys,
            whole_rows,
            time_index,
            schema: Arc::clone(schema),
            late_schema: late_schema(schema),
            seen: HashMap::default(),
            watermark: Watermark::with_others(micros(spec.delay), &delays(&spec.watermark_also)),
            batches: Vec::new(),
            candidates: HashMap::default(),
            duplicates: 0,
            spec,
        })
    }

    /// Rows dropped as duplicates so far.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// The schema of late rows: the input's columns, `windows_missed` (always 0) and
    /// `late_watermark`.
    pub fn late_schema(&self) -> &SchemaRef {
        &self.late_schema
    }

    /// Orders two candidates of one key: the earlier event time first, then the lower
    /// whole-row encoding.
    fn earlier(&self, a: Candidate, b: Candidate) -> Result<Ordering> {
        match a.time.cmp(&b.time) {
            Ordering::Equal => {}
            other => return Ok(other),
        }
        let encode = |c: Candidate| -> Result<Vec<u8>> {
            let row = self.batches[c.batch].slice(c.row, 1);
            let rows = self.whole_rows.convert_columns(row.columns())?;
            Ok(rows.row(0).as_ref().to_vec())
        };
        Ok(encode(a)?.cmp(&encode(b)?))
    }
}

impl EventTimeState for DedupState {
    fn name(&self) -> &str {
        &self.spec.name
    }

    fn begin_epoch(&mut self) {
        self.watermark.advance();
    }

    fn canonical_order(&self, _input: usize, batches: &mut [RecordBatch]) {
        canonical_order(batches, self.time_index);
    }

    fn absorb(&mut self, _input: usize, batch: &RecordBatch) -> Result<Option<RecordBatch>> {
        let times = as_micros(batch.column(self.time_index))?;
        let rows = self.keys.rows(&self.converter, batch)?;
        let bound = self.watermark.late_threshold();
        let at = self.batches.len();
        self.batches.push(batch.clone());
        let mut late = Vec::new();
        for i in 0..batch.num_rows() {
            if times.is_null(i) || bound.is_some_and(|w| times.value(i) <= w) {
                late.push(i as u32);
                continue;
            }
            let key = rows.row(i);
            if self.seen.contains_key(key.as_ref()) {
                self.duplicates += 1;
                continue;
            }
            let candidate = Candidate {
                time: times.value(i),
                batch: at,
                row: i,
            };
            match self.candidates.get(key.as_ref()).copied() {
                None => {
                    self.candidates.insert(key.as_ref().into(), candidate);
                }
                Some(held) => {
                    self.duplicates += 1;
                    if self.earlier(candidate, held)? == Ordering::Less {
                        self.candidates.insert(key.as_ref().into(), candidate);
                    }
                }
            }
        }
        let missed = vec![0; late.len()];
        late_rows(batch, late, missed, bound, &self.late_schema)
    }

    fn finish_epoch(
        &mut self,
        epoch_max: &[Option<i64>],
        _flush: bool,
    ) -> Result<Option<RecordBatch>> {
        // The input is clock 0; the streams of `watermark_also` follow.
        self.watermark
            .observe_others(epoch_max.get(1..).unwrap_or_default());
        let epoch_max = epoch_max[0];
        let delay = self.watermark.delay();
        let mut passed: Vec<(Box<[u8]>, Candidate)> = self.candidates.drain().collect();
        passed.sort_by(|a, b| (a.1.time, &a.0).cmp(&(b.1.time, &b.0)));
        let output = if passed.is_empty() {
            None
        } else {
            let sources: Vec<&RecordBatch> = self.batches.iter().collect();
            let indices: Vec<(usize, usize)> =
                passed.iter().map(|(_, c)| (c.batch, c.row)).collect();
            Some(interleave_record_batch(&sources, &indices)?)
        };
        for (key, candidate) in passed {
            self.seen.insert(key, candidate.time.saturating_add(delay));
        }
        self.batches.clear();
        if let Some(w) = self.watermark.current() {
            self.seen.retain(|_, forget_at| *forget_at > w);
        }
        self.watermark.observe(epoch_max);
        Ok(output)
    }

    fn snapshot(&self, key_groups: u32) -> Result<Vec<u8>> {
        let mut entries: Vec<(&Box<[u8]>, &i64)> = self.seen.iter().collect();
        entries.sort();
        let fields = vec![
            Field::new("key_group", DataType::UInt32, false),
            Field::new("key", DataType::Binary, false),
            Field::new("forget_at", DataType::Int64, false),
        ];
        let columns: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from_iter_values(
                entries.iter().map(|(k, _)| key_group(k, key_groups)),
            )),
            Arc::new(binary_column(entries.iter().map(|(k, _)| &k[..]))),
            Arc::new(Int64Array::from_iter_values(
                entries.iter().map(|(_, t)| **t),
            )),
        ];
        encode_snapshot(
            &self.spec.name,
            key_groups,
            &self.watermark,
            fields,
            columns,
        )
    }

    fn restore(&mut self, parts: &[&bytes::Bytes], owned: Range<u32>) -> Result<()> {
        let (watermark, batches) = decode_snapshots(&self.spec.name, parts)?;
        for batch in &batches {
            let col = |name: &str| -> Result<&ArrayRef> {
                batch
                    .column_by_name(name)
                    .ok_or_else(|| EngineError::Snapshot(format!("missing column {name}")))
            };
            let groups = col("key_group")?.as_primitive::<UInt32Type>();
            let keys = col("key")?.as_binary::<i32>();
            let forget = col("forget_at")?.as_primitive::<Int64Type>();
            for i in 0..batch.num_rows() {
                if owned.contains(&groups.value(i)) {
                    self.seen.insert(keys.value(i).into(), forget.value(i));
                }
            }
        }
        if let Some(w) = watermark {
            self.watermark = Watermark::restored_with_others(w, &delays(&self.spec.watermark_also));
        }
        Ok(())
    }

    fn open_entries(&self) -> usize {
        self.seen.len()
    }

    fn watermark(&self) -> &Watermark {
        &self.watermark
    }

    fn results_schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn late_rows_schema(&self) -> SchemaRef {
        Arc::clone(&self.late_schema)
    }
}
