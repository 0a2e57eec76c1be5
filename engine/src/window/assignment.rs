//! Window assignment alone, as Flink's window table-valued functions give rows that no
//! aggregate follows (`SELECT * FROM TABLE(HOP(TABLE bids, DESCRIPTOR(ts), ...))`): each
//! row once per tumbling, sliding or cumulating window that contains its event time, with
//! the window's `window_start`, `window_end` and `window_time` (its end less a
//! millisecond, Flink's time attribute of a window) after the row's columns.
//!
//! It keeps no state and rejects no row: a row is not late for an assignment (Flink's
//! TVFs drop none either). A row whose event time is null is in no window; it comes out
//! once, with nulls in the window's columns, rather than vanish.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{
    Array, RecordBatch, RecordBatchOptions, TimestampMicrosecondArray, UInt32Array,
};
use arrow::compute::take;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use super::pane::Panes;
use super::{WindowKind, WindowSpec, micros};
use crate::error::{EngineError, Result};
use crate::event_time::{as_micros, time_index};

/// The columns an assignment adds, in order.
pub const WINDOW_COLUMNS: [&str; 3] = ["window_start", "window_end", "window_time"];

/// What a window assignment reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct AssignSpec {
    /// The event-time column (a timestamp).
    pub time_column: String,
    /// The windows: tumbling, sliding or cumulating.
    pub kind: WindowKind,
    /// How far past the Unix epoch tumbling and sliding windows start, as a window's
    /// [`WindowSpec::offset`].
    #[serde(default, skip_serializing_if = "Duration::is_zero")]
    pub offset: Duration,
}

/// A compiled window assignment.
#[derive(Clone, Debug)]
pub struct Assignment {
    time: usize,
    panes: Panes,
    schema: SchemaRef,
}

impl Assignment {
    /// Resolves `spec` against its input's schema.
    ///
    /// # Errors
    /// [`EngineError::InvalidPlan`] for sessions and global windows (whose windows depend
    /// on other rows), windows the spec's fields cannot make (an offset not below the
    /// period, ...), a time column that is missing or no timestamp, or an input that has
    /// a column of a window's name already.
    pub fn new(spec: &AssignSpec, input: &SchemaRef) -> Result<Self> {
        let window =
            WindowSpec::new("assignment", spec.kind, &spec.time_column).with_offset(spec.offset);
        window.validate()?;
        let Some(panes) = Panes::of(spec.kind) else {
            return Err(EngineError::InvalidPlan(format!(
                "window assignment by {:?}: a session's (or a global) window depends on the \
                 other rows of its key, so only an aggregate assigns it; aggregate per window \
                 (GROUP BY window_start, window_end, ...)",
                spec.kind
            )));
        };
        let time = time_index(input, &spec.time_column)?;
        if let Some(taken) = WINDOW_COLUMNS.iter().find(|c| input.index_of(c).is_ok()) {
            return Err(EngineError::InvalidPlan(format!(
                "window assignment over `{}`: its input has a column `{taken}` already",
                spec.time_column
            )));
        }
        let time_type = match input.field(time).data_type() {
            DataType::Timestamp(_, zone) => {
                DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, zone.clone())
            }
            other => other.clone(),
        };
        let mut fields: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
        let nullable = input.field(time).is_nullable();
        fields.extend(WINDOW_COLUMNS.map(|c| Field::new(c, time_type.clone(), nullable)));
        Ok(Self {
            time,
            panes: panes.with_offset(micros(spec.offset)),
            schema: Arc::new(Schema::new(fields)),
        })
    }

    /// The output schema: the input's columns, then the window's.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Each row once per window containing its event time.
    ///
    /// # Errors
    /// Only when Arrow fails to take the rows.
    pub fn apply(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let times = as_micros(batch.column(self.time))?;
        let mut rows = Vec::with_capacity(batch.num_rows());
        let (mut starts, mut ends) = (Vec::new(), Vec::new());
        for i in 0..batch.num_rows() {
            if times.is_null(i) {
                rows.push(i as u32);
                starts.push(None);
                ends.push(None);
                continue;
            }
            let t = times.value(i);
            for (start, end) in self.panes.windows(t, t.saturating_add(1)) {
                rows.push(i as u32);
                starts.push(Some(start));
                ends.push(Some(end));
            }
        }
        let rows = UInt32Array::from(rows);
        let mut columns = batch
            .columns()
            .iter()
            .map(|c| take(c.as_ref(), &rows, None))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let window_time: Vec<Option<i64>> = ends.iter().map(|e| e.map(|e| e - 1_000)).collect();
        let data_type = self
            .schema
            .field(self.schema.fields().len() - 1)
            .data_type();
        for values in [starts, ends, window_time] {
            let array = TimestampMicrosecondArray::from(values).with_data_type(data_type.clone());
            columns.push(Arc::new(array));
        }
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(&self.schema),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(rows.len())),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{ArrayRef, AsArray, Int64Array};
    use arrow::datatypes::{Int64Type, TimeUnit, TimestampMicrosecondType};

    use super::*;

    const MINUTE: i64 = 60_000_000;

    fn input(times: Vec<Option<i64>>) -> RecordBatch {
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(0..times.len() as i64));
        let times: ArrayRef = Arc::new(TimestampMicrosecondArray::from(times).with_timezone("UTC"));
        RecordBatch::try_from_iter([("id", ids), ("ts", times)]).unwrap()
    }

    fn assign(kind: WindowKind, offset: Duration, batch: &RecordBatch) -> Vec<(i64, i64, i64)> {
        let spec = AssignSpec {
            time_column: "ts".into(),
            kind,
            offset,
        };
        let a = Assignment::new(&spec, &batch.schema()).unwrap();
        let out = a.apply(batch).unwrap();
        assert_eq!(out.schema(), *a.schema());
        let ids = out.column(0).as_primitive::<Int64Type>();
        let starts = out.column(2).as_primitive::<TimestampMicrosecondType>();
        let ends = out.column(3).as_primitive::<TimestampMicrosecondType>();
        let times = out.column(4).as_primitive::<TimestampMicrosecondType>();
        let mut rows: Vec<(i64, i64, i64)> = (0..out.num_rows())
            .map(|i| {
                assert_eq!(times.value(i), ends.value(i) - 1_000);
                (ids.value(i), starts.value(i), ends.value(i))
            })
            .collect();
        rows.sort_unstable();
        rows
    }

    fn minutes(m: i64) -> Duration {
        Duration::from_secs(60 * m as u64)
    }

    #[test]
    fn rows_are_repeated_per_window_containing_them() {
        let batch = input(vec![Some(7 * MINUTE + 5), Some(-1), Some(10 * MINUTE)]);
        let tumbling = WindowKind::Tumbling { size: minutes(5) };
        assert_eq!(
            assign(tumbling, Duration::ZERO, &batch),
            [
                (0, 5 * MINUTE, 10 * MINUTE),
                (1, -5 * MINUTE, 0),
                (2, 10 * MINUTE, 15 * MINUTE)
            ]
        );
        // An offset moves the windows' starts.
        assert_eq!(
            assign(tumbling, minutes(3), &batch)[0],
            (0, 3 * MINUTE, 8 * MINUTE)
        );
        let sliding = WindowKind::Sliding {
            size: minutes(10),
            slide: minutes(5),
        };
        assert_eq!(
            assign(sliding, Duration::ZERO, &batch),
            [
                (0, 0, 10 * MINUTE),
                (0, 5 * MINUTE, 15 * MINUTE),
                (1, -10 * MINUTE, 0),
                (1, -5 * MINUTE, 5 * MINUTE),
                (2, 5 * MINUTE, 15 * MINUTE),
                (2, 10 * MINUTE, 20 * MINUTE)
            ]
        );
        // Cumulating: every window of the period that ends after the row.
        let cumulating = WindowKind::Cumulating {
            size: minutes(10),
            step: minutes(5),
        };
        assert_eq!(
            assign(cumulating, Duration::ZERO, &input(vec![Some(2 * MINUTE)])),
            [(0, 0, 5 * MINUTE), (0, 0, 10 * MINUTE)]
        );
        assert_eq!(
            assign(cumulating, Duration::ZERO, &input(vec![Some(7 * MINUTE)])),
            [(0, 0, 10 * MINUTE)]
        );
    }

    #[test]
    fn a_null_time_keeps_its_row_and_sessions_are_refused() {
        let batch = input(vec![None, Some(0)]);
        let spec = AssignSpec {
            time_column: "ts".into(),
            kind: WindowKind::Tumbling { size: minutes(1) },
            offset: Duration::ZERO,
        };
        let out = Assignment::new(&spec, &batch.schema())
            .unwrap()
            .apply(&batch)
            .unwrap();
        assert_eq!(out.num_rows(), 2);
        assert!(out.column(2).is_null(0) && out.column(4).is_null(0));
        assert_eq!(
            out.schema().field(2).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );

        let session = AssignSpec {
            kind: WindowKind::Session { gap: minutes(1) },
            ..spec.clone()
        };
        let err = Assignment::new(&session, &batch.schema()).unwrap_err();
        assert!(
            err.to_string().contains("only an aggregate assigns it"),
            "{err}"
        );
        let offset = AssignSpec {
            offset: minutes(1),
            ..spec.clone()
        };
        let err = Assignment::new(&offset, &batch.schema()).unwrap_err();
        assert!(err.to_string().contains("not less than"), "{err}");
        let assigned = Assignment::new(&spec, &batch.schema()).unwrap();
        let err = Assignment::new(&spec, assigned.schema()).unwrap_err();
        assert!(err.to_string().contains("`window_start` already"), "{err}");
    }
}
