//! `watermark.max-future`: rows whose event time is further ahead of their epoch's planning
//! time than the bound are dead letters (reason `future`), split off as they are read, so
//! that they never reach the tables or move the watermark.
//!
//! The bound of epoch `e` is `planned_at(e) + max_future`, where `planned_at(e)` is the
//! wall-clock time logged in `offsets/<e>` when the epoch was planned. A replay of `e`
//! therefore judges its rows exactly as the first run did. Epochs logged without a time
//! (by an older version) are not bounded.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, BooleanArray, StringArray, TimestampMicrosecondArray};
use arrow::compute::kernels::boolean::not;
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;

use super::{ConnectorFailure, DeadLetters};
use crate::error::{EngineError, Result};

/// The dead-letter reason of rows beyond the bound.
pub const REASON_FUTURE: &str = "future";

/// Where the event time is in the source's rows, and how far ahead of processing time it
/// may be.
#[derive(Clone, Debug)]
pub(super) struct FutureBound {
    column: usize,
    max_future_us: i64,
}

impl FutureBound {
    /// The bound of a run: `None` without `max_future`.
    ///
    /// # Errors
    /// When the window's event-time column is not a column of the source's rows (it is
    /// computed later, in silver): the bound is applied as rows are read.
    pub(super) fn resolve(
        max_future: Option<Duration>,
        time_column: Option<&str>,
        schema: &SchemaRef,
    ) -> Result<Option<Self>> {
        let Some(max_future) = max_future else {
            return Ok(None);
        };
        let Some(time_column) = time_column else {
            return Err(EngineError::InvalidPlan(
                "watermark.max-future needs a window (its event-time column)".into(),
            ));
        };
        let column = crate::key::column_index(schema, time_column).map_err(|_| {
            EngineError::InvalidPlan(format!(
                "watermark.max-future applies to the event-time column `{time_column}` as rows \
                 are read, but the source's rows have no such column (a silver column cannot \
                 be bounded)"
            ))
        })?;
        if !matches!(schema.field(column).data_type(), DataType::Timestamp(_, _)) {
            return Err(EngineError::InvalidPlan(format!(
                "watermark.max-future: the event-time column `{time_column}` is {}, not a timestamp",
                schema.field(column).data_type()
            )));
        }
        Ok(Some(Self {
            column,
            max_future_us: i64::try_from(max_future.as_micros()).unwrap_or(i64::MAX),
        }))
    }

    /// The newest event time (µs) allowed in an epoch planned at `planned_at_ms`.
    pub(super) fn bound_us(&self, planned_at_ms: Option<i64>) -> Option<i64> {
        planned_at_ms.map(|ms| ms.saturating_mul(1000).saturating_add(self.max_future_us))
    }

    /// Splits `rows` into the rows within `bound_us` and, as dead letters, those beyond.
    ///
    /// # Errors
    /// When the rows cannot be filtered or converted.
    pub(super) fn split(
        &self,
        rows: RecordBatch,
        bound_us: i64,
        dead_letters: &dyn DeadLetters,
        epoch: u64,
    ) -> std::result::Result<(RecordBatch, Option<RecordBatch>), ConnectorFailure> {
        let fail = |e: arrow::error::ArrowError| ConnectorFailure::new(e.to_string(), false);
        let times = cast(
            rows.column(self.column),
            &DataType::Timestamp(TimeUnit::Microsecond, None),
        )
        .map_err(fail)?;
        let times = times
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .expect("cast to timestamp(us)");
        let beyond: BooleanArray = times
            .iter()
            .map(|t| Some(t.is_some_and(|t| t > bound_us)))
            .collect();
        if beyond.true_count() == 0 {
            return Ok((rows, None));
        }
        let future = filter_record_batch(&rows, &beyond).map_err(fail)?;
        let kept = filter_record_batch(&rows, &not(&beyond).map_err(fail)?).map_err(fail)?;
        let mut fields: Vec<Field> = future
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new("reason", DataType::Utf8, false));
        let mut columns = future.columns().to_vec();
        columns.push(Arc::new(StringArray::from_iter_values(
            std::iter::repeat_n(REASON_FUTURE, future.num_rows()),
        )));
        let tagged = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(fail)?;
        Ok((kept, Some(dead_letters.rejected(&tagged, epoch)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;

    struct Tagged;

    impl DeadLetters for Tagged {
        fn rejected(
            &self,
            batch: &RecordBatch,
            _epoch: u64,
        ) -> std::result::Result<RecordBatch, ConnectorFailure> {
            Ok(batch.clone())
        }
        fn late(
            &self,
            batch: &RecordBatch,
            _epoch: u64,
        ) -> std::result::Result<RecordBatch, ConnectorFailure> {
            Ok(batch.clone())
        }
    }

    fn rows() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
                Arc::new(arrow::array::TimestampMillisecondArray::from(vec![
                    Some(1_000),
                    Some(5_000),
                    None,
                    Some(5_001),
                ])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn rows_beyond_the_bound_become_future_dead_letters() {
        let batch = rows();
        let bound = FutureBound::resolve(Some(Duration::from_secs(4)), Some("ts"), &batch.schema())
            .unwrap()
            .unwrap();
        // Planned at 1 s: rows up to 5 s (inclusive) stay; a null time is not judged here.
        let limit = bound.bound_us(Some(1_000)).unwrap();
        assert_eq!(limit, 5_000_000);
        let (kept, future) = bound.split(batch, limit, &Tagged, 0).unwrap();
        let ids = |b: &RecordBatch| {
            b.column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .values()
                .to_vec()
        };
        assert_eq!(ids(&kept), vec![1, 2, 3]);
        let future = future.unwrap();
        assert_eq!(ids(&future), vec![4]);
        let reason = future.column_by_name("reason").unwrap();
        let reason = reason.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(reason.value(0), REASON_FUTURE);
        assert_eq!(bound.bound_us(None), None);
    }

    #[test]
    fn the_column_must_be_a_source_timestamp() {
        let schema = rows().schema();
        assert!(
            FutureBound::resolve(None, Some("ts"), &schema)
                .unwrap()
                .is_none()
        );
        let err = FutureBound::resolve(Some(Duration::from_secs(1)), Some("event_time"), &schema)
            .unwrap_err();
        assert!(err.to_string().contains("no such column"), "{err}");
        let err =
            FutureBound::resolve(Some(Duration::from_secs(1)), Some("id"), &schema).unwrap_err();
        assert!(err.to_string().contains("not a timestamp"), "{err}");
    }
}
