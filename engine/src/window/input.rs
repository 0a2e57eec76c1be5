//! What an aggregate reads from its column, and the type of what it returns.
//!
//! The state keeps doubles (moments) and sketches, so each aggregate's column is read as
//! one of them. The types are checked when the operator is built: an aggregate over a
//! column it cannot read is refused then, naming the column and its type, instead of
//! counting nothing or summing nulls at run time.
//!
//! | aggregate | reads | returns |
//! |---|---|---|
//! | `count(*)` | rows | `Int64` |
//! | `count(c)` | whether `c` is null, any type | `Int64` |
//! | `approx_count_distinct(c)` | `c` as text, any type | `Int64` |
//! | `sum`, `avg`, `stddev`, `variance` | numbers | `Float64` |
//! | `min`, `max` of integers | numbers | `Int64` (exact to 2^53) |
//! | `min`, `max` of other numbers | numbers | `Float64` |
//! | `min`, `max` of timestamps (s, ms, µs) and dates | their integer value | the column's type |

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, StringArray};
use arrow::buffer::ScalarBuffer;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, TimeUnit};

use super::{Aggregate, AggregateFn};
use crate::error::{EngineError, Result};

/// How an aggregate reads its column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reading {
    /// `count(*)`: the rows, no column.
    Rows,
    /// `count(c)`: whether each value is null.
    Presence,
    /// A number, as a double.
    Number,
    /// A timestamp or date, as its integer value in a double.
    Time,
    /// A value as text, for a sketch.
    Distinct,
}

impl Reading {
    /// How `agg` reads a column of `data_type` (`None` for `count(*)`).
    ///
    /// # Errors
    /// [`EngineError::InvalidPlan`] when the aggregate cannot read that type.
    pub(crate) fn of(agg: &Aggregate, data_type: Option<&DataType>) -> Result<Self> {
        let Some(data_type) = data_type else {
            return match agg.function {
                AggregateFn::Count => Ok(Self::Rows),
                f => Err(EngineError::InvalidPlan(format!(
                    "aggregate `{}`: {f:?} needs a column",
                    agg.name
                ))),
            };
        };
        let column = agg.column.as_deref().unwrap_or_default();
        let refuse = |takes: &str| {
            EngineError::InvalidPlan(format!(
                "aggregate `{}`: {:?} of `{column}`, a {data_type} column: it takes {takes}; \
                 cast the column (CAST({column} AS DOUBLE)) if it holds numbers as text",
                agg.name, agg.function,
            ))
        };
        Ok(match agg.function {
            AggregateFn::Count => Self::Presence,
            AggregateFn::ApproxCountDistinct => Self::Distinct,
            AggregateFn::Min | AggregateFn::Max if is_time(data_type) => Self::Time,
            AggregateFn::Min | AggregateFn::Max if !data_type.is_numeric() => {
                return Err(refuse(
                    "numbers, timestamps (to the microsecond) and dates; of text, not yet",
                ));
            }
            _ if !data_type.is_numeric() => return Err(refuse("numbers")),
            _ => Self::Number,
        })
    }

    /// The type and nullability of the aggregate's result, over a column of `input`.
    pub(crate) fn output(self, function: AggregateFn, input: Option<&DataType>) -> Field {
        let (data_type, nullable) = match (self, function) {
            (Self::Rows | Self::Presence | Self::Distinct, _) => (DataType::Int64, false),
            (Self::Time, _) => (input.cloned().unwrap_or(DataType::Int64), true),
            // The minimum or maximum of integers is one of them (exact to 2^53).
            (Self::Number, AggregateFn::Min | AggregateFn::Max)
                if input.is_some_and(DataType::is_integer) =>
            {
                (DataType::Int64, true)
            }
            (Self::Number, _) => (DataType::Float64, true),
        };
        Field::new("", data_type, nullable)
    }

    /// The column's values as the moments read them; `None` for rows and sketches.
    ///
    /// # Errors
    /// When the column cannot be cast (it was checked when the operator was built).
    pub(crate) fn doubles(self, column: &ArrayRef) -> Result<Option<Float64Array>> {
        Ok(match self {
            Self::Rows | Self::Distinct => None,
            // Zeros where the column has a value: the moments count them.
            Self::Presence => Some(Float64Array::new(
                ScalarBuffer::from(vec![0.0; column.len()]),
                column.logical_nulls(),
            )),
            Self::Number => Some(as_doubles(column)?),
            Self::Time => Some(as_doubles(&cast(column, &DataType::Int64)?)?),
        })
    }

    /// The column's values as text, for a sketch; `None` for every other reading.
    ///
    /// # Errors
    /// When the column cannot be cast to text.
    pub(crate) fn texts(self, column: &ArrayRef) -> Result<Option<StringArray>> {
        if self != Self::Distinct {
            return Ok(None);
        }
        let cast = cast(column, &DataType::Utf8)?;
        Ok(Some(
            cast.as_any()
                .downcast_ref::<StringArray>()
                .expect("cast to utf8")
                .clone(),
        ))
    }
}

/// A minimum or maximum of a column read as [`Reading::Time`], back in the column's type.
///
/// # Errors
/// When the integers cannot be cast back (they came from that type).
pub(crate) fn times_back(values: ArrayRef, data_type: &DataType) -> Result<ArrayRef> {
    let values = match data_type {
        DataType::Date32 => cast(&values, &DataType::Int32)?,
        _ => values,
    };
    Ok(Arc::new(cast(&values, data_type)?))
}

/// Timestamps whose integer values a double holds exactly (to 2^53: nanoseconds do not),
/// and dates.
fn is_time(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Timestamp(
            TimeUnit::Second | TimeUnit::Millisecond | TimeUnit::Microsecond,
            _
        ) | DataType::Date32
            | DataType::Date64
    )
}

fn as_doubles(column: &ArrayRef) -> Result<Float64Array> {
    let cast = cast(column, &DataType::Float64)?;
    Ok(cast
        .as_any()
        .downcast_ref::<Float64Array>()
        .expect("cast to f64")
        .clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agg(function: AggregateFn) -> Aggregate {
        Aggregate {
            name: "a".into(),
            function,
            column: Some("c".into()),
        }
    }

    #[test]
    fn each_aggregate_reads_the_types_it_can() {
        let text = DataType::Utf8;
        let micros = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let nanos = DataType::Timestamp(TimeUnit::Nanosecond, None);
        assert_eq!(
            Reading::of(&agg(AggregateFn::Count), Some(&text)).unwrap(),
            Reading::Presence
        );
        assert_eq!(
            Reading::of(&agg(AggregateFn::ApproxCountDistinct), Some(&text)).unwrap(),
            Reading::Distinct
        );
        assert_eq!(
            Reading::of(&agg(AggregateFn::Max), Some(&micros)).unwrap(),
            Reading::Time
        );
        assert_eq!(
            Reading::of(&agg(AggregateFn::Min), Some(&DataType::Date32)).unwrap(),
            Reading::Time
        );
        for (function, data_type) in [
            (AggregateFn::Sum, &text),
            (AggregateFn::Avg, &micros),
            (AggregateFn::Min, &text),
            (AggregateFn::Max, &nanos),
            (AggregateFn::Stddev, &DataType::Boolean),
        ] {
            let err = Reading::of(&agg(function), Some(data_type))
                .unwrap_err()
                .to_string();
            assert!(err.contains("of `c`") && err.contains("it takes"), "{err}");
        }
        assert!(Reading::of(&agg(AggregateFn::Sum), None).is_err());
    }

    #[test]
    fn a_count_of_a_column_counts_its_values_whatever_their_type() {
        let column: ArrayRef = Arc::new(StringArray::from(vec![Some("x"), None, Some("7")]));
        let read = Reading::Presence.doubles(&column).unwrap().unwrap();
        assert_eq!(read.len(), 3);
        assert_eq!(read.null_count(), 1);
    }

    #[test]
    fn times_come_back_in_their_type() {
        for data_type in [
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            DataType::Timestamp(TimeUnit::Millisecond, None),
            DataType::Date32,
            DataType::Date64,
        ] {
            let column = cast(
                &(Arc::new(arrow::array::Int64Array::from(vec![Some(19_000), None])) as ArrayRef),
                &match data_type {
                    DataType::Date32 => DataType::Int32,
                    _ => DataType::Int64,
                },
            )
            .unwrap();
            let column = cast(&column, &data_type).unwrap();
            let read = Reading::Time.doubles(&column).unwrap().unwrap();
            assert_eq!(read.value(0), 19_000.0);
            let ints: ArrayRef = Arc::new(arrow::array::Int64Array::from(vec![
                Some(read.value(0) as i64),
                None,
            ]));
            let back = times_back(ints, &data_type).unwrap();
            assert_eq!(back.data_type(), &data_type);
            assert_eq!(&back, &column, "{data_type}");
        }
    }
}
