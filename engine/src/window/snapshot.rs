//! Window state snapshots as Arrow IPC: one row per open (window, key), tagged with its key
//! group, and the watermark in the schema metadata.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, Float64Array, Int64Array,
    PrimitiveArray, StringArray, UInt32Array,
};
use arrow::datatypes::{DataType, Decimal128Type, Field, Float64Type, Int64Type, UInt32Type};
use arrow::record_batch::RecordBatch;

use super::accumulator::{Accumulator, Extra, Hll, Kept, Moments, TextRange, WideDecimal};
use super::distinct_values::DistinctValues;
use super::listed::ValueList;
use super::quantiles::Quantiles;
use super::state::{Slot, WindowState};
use crate::error::{EngineError, Result};
use crate::event_time::{
    SnapshotWriter, binary_column, decode_snapshots, nullable_binary_column, snapshot_batches,
};
use crate::key::key_group;

const MOMENT_FIELDS: [&str; 5] = ["sum", "min", "max", "mean", "m2"];

impl WindowState {
    /// Encodes the whole state as Arrow IPC bytes.
    ///
    /// # Errors
    /// When encoding fails.
    pub fn snapshot(&self, key_groups: u32) -> Result<Vec<u8>> {
        let mut entries: Vec<(&[u8], &Slot)> = self
            .open
            .iter()
            .flat_map(|(k, slots)| slots.iter().map(move |s| (&k[..], s)))
            .collect();
        entries.sort_unstable_by(|a, b| {
            super::state::key_order(a.0, b.0)
                .then_with(|| (a.1.start, a.1.end).cmp(&(b.1.start, b.1.end)))
        });
        let fields = self.snapshot_fields();
        let keys: usize = entries.iter().map(|(k, _)| k.len()).sum();
        let size = keys + entries.len() * 8 * fields.len();
        let mut writer =
            SnapshotWriter::new(&self.spec.name, key_groups, self.watermark(), fields, size)?;
        // A batch of entries at a time: the state is copied once, into the stream.
        for chunk in snapshot_batches(&entries) {
            writer.write(self.snapshot_columns(chunk, key_groups))?;
        }
        writer.finish()
    }

    /// The fields of a snapshot: an entry's key, window, rows and whether it changed, then
    /// each aggregate's moments and sketch.
    fn snapshot_fields(&self) -> Vec<Field> {
        let mut fields = vec![
            Field::new("key_group", DataType::UInt32, false),
            Field::new("key", DataType::Binary, false),
            Field::new("start", DataType::Int64, false),
            Field::new("end", DataType::Int64, false),
            Field::new("rows", DataType::Int64, false),
            Field::new("changed", DataType::Boolean, false),
        ];
        for a in 0..self.kept.len() {
            fields.push(Field::new(format!("a{a}_count"), DataType::Int64, false));
            for name in MOMENT_FIELDS {
                fields.push(Field::new(format!("a{a}_{name}"), DataType::Float64, false));
            }
            fields.push(Field::new(format!("a{a}_hll"), DataType::Binary, true));
            if self.kept[a] == Kept::Range {
                fields.push(Field::new(format!("a{a}_least"), DataType::Utf8, true));
                fields.push(Field::new(format!("a{a}_greatest"), DataType::Utf8, true));
            }
            if self.kept[a] == Kept::Integers {
                fields.push(Field::new(
                    format!("a{a}_int_sum"),
                    DataType::Decimal128(38, 0),
                    false,
                ));
                fields.push(Field::new(format!("a{a}_int_min"), DataType::Int64, false));
                fields.push(Field::new(format!("a{a}_int_max"), DataType::Int64, false));
            }
        }
        fields
    }

    /// The columns of `entries`, in the order of [`snapshot_fields`](Self::snapshot_fields).
    fn snapshot_columns(&self, entries: &[(&[u8], &Slot)], key_groups: u32) -> Vec<ArrayRef> {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from_iter_values(
                entries.iter().map(|(k, _)| key_group(k, key_groups)),
            )),
            Arc::new(binary_column(entries.iter().map(|(k, _)| *k))),
            Arc::new(Int64Array::from_iter_values(
                entries.iter().map(|(_, s)| s.start),
            )),
            Arc::new(Int64Array::from_iter_values(
                entries.iter().map(|(_, s)| s.end),
            )),
            Arc::new(Int64Array::from_iter_values(
                entries.iter().map(|(_, s)| s.acc.rows),
            )),
            Arc::new(BooleanArray::from_iter(
                entries.iter().map(|(_, s)| Some(s.changed)),
            )),
        ];
        for a in 0..self.kept.len() {
            columns.push(Arc::new(Int64Array::from_iter_values(
                entries.iter().map(|(_, s)| s.acc.moments[a].count),
            )));
            // An exact aggregate's values in doubles too: what an earlier build kept.
            let exact = self.kept[a] == Kept::Integers;
            for f in [
                (|m: &Moments, exact| m.as_doubles(exact).0) as fn(&Moments, bool) -> f64,
                |m, exact| m.as_doubles(exact).1,
                |m, exact| m.as_doubles(exact).2,
                |m, _| m.mean(),
                |m, _| m.m2(),
            ] {
                columns.push(Arc::new(Float64Array::from_iter_values(
                    entries.iter().map(|(_, s)| f(&s.acc.moments[a], exact)),
                )));
            }
            // A HyperLogLog's registers, or a distribution's buckets.
            let sketches: Vec<Option<Vec<u8>>> = entries
                .iter()
                .map(|(_, s)| s.acc.extras[a].as_ref().and_then(Extra::sketch_bytes))
                .collect();
            columns.push(Arc::new(nullable_binary_column(
                sketches.iter().map(Option::as_deref),
            )));
            if self.kept[a] == Kept::Range {
                let ranges: Vec<Option<&TextRange>> = entries
                    .iter()
                    .map(|(_, s)| s.acc.extras[a].as_ref().and_then(Extra::range))
                    .collect();
                columns.push(Arc::new(StringArray::from_iter(
                    ranges.iter().map(|r| r.map(|r| r.least.as_str())),
                )));
                columns.push(Arc::new(StringArray::from_iter(
                    ranges.iter().map(|r| r.map(|r| r.greatest.as_str())),
                )));
            }
            if exact {
                columns.push(Arc::new(
                    Decimal128Array::from_iter_values(
                        entries.iter().map(|(_, s)| s.acc.moments[a].int_sum()),
                    )
                    .with_precision_and_scale(38, 0)
                    .expect("38 digits hold every i128 sum a window reaches"),
                ));
                for f in [(|m: &Moments| m.int_min()) as fn(&Moments) -> i64, |m| {
                    m.int_max()
                }] {
                    columns.push(Arc::new(Int64Array::from_iter_values(
                        entries.iter().map(|(_, s)| f(&s.acc.moments[a])),
                    )));
                }
            }
        }
        columns
    }

    /// Restores the entries of the key groups in `owned` from snapshot `parts` written by
    /// any number of workers, and the watermark.
    ///
    /// # Errors
    /// [`EngineError::Snapshot`] when a part does not match this operator.
    pub fn restore(&mut self, parts: &[impl AsRef<[u8]>], owned: Range<u32>) -> Result<()> {
        let (watermark, batches) = decode_snapshots(&self.spec.name, parts)?;
        for batch in &batches {
            self.restore_batch(batch, &owned)?;
        }
        if let Some(w) = watermark {
            let others = crate::watermark::delays(&self.spec.watermark_also);
            self.watermark = crate::watermark::Watermark::restored_with_others(w, &others);
        }
        for slots in self.open.values_mut() {
            slots.sort_by_key(|s| (s.start, s.end));
        }
        // Unknown until the next epoch visits the restored panes.
        self.earliest_end = i64::MIN;
        Ok(())
    }

    fn restore_batch(&mut self, batch: &RecordBatch, owned: &Range<u32>) -> Result<()> {
        let col = |name: &str| -> Result<&ArrayRef> {
            batch
                .column_by_name(name)
                .ok_or_else(|| EngineError::Snapshot(format!("missing column {name}")))
        };
        let groups = col("key_group")?.as_primitive::<UInt32Type>();
        let keys = col("key")?.as_binary::<i32>();
        let starts = col("start")?.as_primitive::<Int64Type>();
        let ends = col("end")?.as_primitive::<Int64Type>();
        let rows = col("rows")?.as_primitive::<Int64Type>();
        let changed = col("changed")?.as_boolean();
        let n = self.kept.len();
        let mut counts = Vec::with_capacity(n);
        let mut moments = Vec::with_capacity(n);
        let mut sketches = Vec::with_capacity(n);
        let mut exact = Vec::with_capacity(n);
        let mut ranges = Vec::with_capacity(n);
        for a in 0..n {
            counts.push(col(&format!("a{a}_count"))?.as_primitive::<Int64Type>());
            let mut fs = Vec::new();
            for name in MOMENT_FIELDS {
                fs.push(col(&format!("a{a}_{name}"))?.as_primitive::<Float64Type>());
            }
            moments.push(fs);
            sketches.push(col(&format!("a{a}_hll"))?.as_binary::<i32>());
            exact.push(ExactColumns::of(batch, a));
            ranges.push(if self.kept[a] == Kept::Range {
                Some((
                    col(&format!("a{a}_least"))?.as_string::<i32>(),
                    col(&format!("a{a}_greatest"))?.as_string::<i32>(),
                ))
            } else {
                None
            });
        }
        for i in 0..batch.num_rows() {
            if !owned.contains(&groups.value(i)) {
                continue;
            }
            let mut acc = Accumulator::new(&self.kept);
            acc.rows = rows.value(i);
            for a in 0..n {
                let f = &moments[a];
                let mut m = Moments::with_doubles(
                    counts[a].value(i),
                    f[0].value(i),
                    f[1].value(i),
                    f[2].value(i),
                    f[3].value(i),
                    f[4].value(i),
                );
                if self.kept[a] == Kept::Integers {
                    exact[a].restore(i, &mut m);
                }
                acc.moments[a] = m;
                if sketches[a].is_valid(i) {
                    let bytes = sketches[a].value(i);
                    let bad = || EngineError::Snapshot("a sketch that does not decode".into());
                    acc.extras[a] = Some(match self.kept[a] {
                        Kept::Quantiles => Extra::Quantiles(Box::new(
                            Quantiles::from_bytes(bytes).ok_or_else(bad)?,
                        )),
                        Kept::WideDecimal => {
                            Extra::Wide(Box::new(WideDecimal::from_bytes(bytes).ok_or_else(bad)?))
                        }
                        Kept::Set => {
                            Extra::Set(Box::new(DistinctValues::from_bytes(bytes).ok_or_else(bad)?))
                        }
                        Kept::List => {
                            Extra::List(Box::new(ValueList::from_bytes(bytes).ok_or_else(bad)?))
                        }
                        _ => Extra::Sketch(Hll::from_registers(bytes).ok_or_else(bad)?),
                    });
                }
                if let Some((least, greatest)) = ranges[a]
                    && least.is_valid(i)
                    && greatest.is_valid(i)
                {
                    acc.extras[a] = Some(Extra::Range(Box::new(TextRange {
                        least: least.value(i).to_owned(),
                        greatest: greatest.value(i).to_owned(),
                    })));
                }
            }
            self.open
                .entry(keys.value(i).into())
                .or_default()
                .push(Slot {
                    start: starts.value(i),
                    end: ends.value(i),
                    acc,
                    changed: changed.value(i),
                });
        }
        Ok(())
    }
}

/// An aggregate's exact integer columns in a snapshot, when it has them: a snapshot of a
/// build that kept integers in doubles has none, and its doubles are read back instead.
struct ExactColumns<'a>(
    Option<(
        &'a PrimitiveArray<Decimal128Type>,
        &'a PrimitiveArray<Int64Type>,
        &'a PrimitiveArray<Int64Type>,
    )>,
);

impl<'a> ExactColumns<'a> {
    fn of(batch: &'a RecordBatch, a: usize) -> Self {
        let column = |name: &str| batch.column_by_name(&format!("a{a}_{name}"));
        Self(
            match (column("int_sum"), column("int_min"), column("int_max")) {
                (Some(sum), Some(min), Some(max)) => sum
                    .as_primitive_opt::<Decimal128Type>()
                    .zip(min.as_primitive_opt::<Int64Type>())
                    .zip(max.as_primitive_opt::<Int64Type>())
                    .map(|((s, lo), hi)| (s, lo, hi)),
                _ => None,
            },
        )
    }

    /// Sets the integers of `m`, an exact aggregate's moments read from entry `i`'s
    /// doubles, from its exact columns, or from those doubles.
    #[allow(clippy::cast_possible_truncation)]
    fn restore(&self, i: usize, m: &mut Moments) {
        match self.0 {
            Some((sum, min, max)) => m.set_ints(sum.value(i), min.value(i), max.value(i)),
            // Saturating casts: the doubles held integers.
            None if m.count > 0 => m.set_ints(m.sum() as i128, m.min() as i64, m.max() as i64),
            None => {}
        }
    }
}
