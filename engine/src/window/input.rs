//! What an aggregate reads from its column, and the type of what it returns.
//!
//! The state keeps moments (exact integers, or doubles) and sketches, so each aggregate's
//! column is read as one of them. The types are checked when the operator is built: an
//! aggregate over a column it cannot read is refused then, naming the column and its
//! type, instead of counting nothing or summing nulls at run time.
//!
//! | aggregate | reads | returns |
//! |---|---|---|
//! | `count(*)` | rows | `Int64` |
//! | `count(c)` | whether `c` is null, any type | `Int64` |
//! | `approx_count_distinct(c)` | `c` as text, any type | `Int64` |
//! | `sum`, `min`, `max` of integers | exact integers | `Int64` (as Spark and Flink) |
//! | `avg`, `stddev`, `variance` of integers | exact integers | `Float64` |
//! | `sum`, `avg`, `min`, `max`, `stddev`, `variance` of other numbers | doubles | `Float64` |
//! | `min`, `max` of timestamps and dates | their integer value | the column's type |
//! | `min`, `max` of text | the text (byte order) | `Utf8` |
//! | `sum` of `decimal(p, s)`, p ≤ 18 | exact unscaled integers | `decimal(p + 10, s)` |
//! | `avg` of `decimal(p, s)`, p ≤ 18 | exact unscaled integers | `decimal(p + 4, s + 4)` |
//! | `min`, `max` of `decimal(p, s)`, p ≤ 18 | exact unscaled integers | `decimal(p, s)` |
//! | `stddev`, `variance` of decimals | doubles | `Float64` |
//!
//! A sum of integers is kept in 128 bits, so no window's sum overflows while it is built;
//! one that does not fit a BIGINT when the window is emitted comes out NULL, with a
//! warning (Spark's ANSI mode fails the query; Flink's wraps around).
//!
//! Decimals follow Spark's result types (capped at 38 digits) and its rounding: an average
//! is the exact sum over the count, rounded half up to `s + 4` places. A sum or an average
//! that does not fit its type comes out NULL, with a warning, as Spark's does without ANSI
//! mode. Decimals of more than 18 digits (up to 38) are kept beside the moments, their
//! unscaled sum in 128 bits (NULL once it overflows) and their least and greatest.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Array, Float64Array, Int64Array, StringArray,
};
use arrow::buffer::ScalarBuffer;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Decimal128Type, Field};

use super::accumulator::Kept;
use super::best::Ordering;
use super::{Aggregate, AggregateFn, Moments};
use crate::error::{EngineError, Result};

/// How an aggregate reads its column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reading {
    /// `count(*)`: the rows, no column.
    Rows,
    /// `count(c)`: whether each value is null.
    Presence,
    /// A number that is not an integer, as a double.
    Number,
    /// An integer, exactly.
    Integer,
    /// A timestamp or date, as its integer value.
    Time,
    /// A value as text, for a sketch.
    Distinct,
    /// Text, for the set of its distinct values.
    Set,
    /// Values as text, for the set of their distinct values, read back as an array of
    /// the column's type (`collect_set`).
    ValueSet,
    /// Values with their event times as text, for the list of them (`collect_list`),
    /// read back as an array of the column's type in event-time order.
    ValueList,
    /// Numbers as text, for the set of their distinct values, which a sum or an average
    /// of them (`sum(DISTINCT c)`) reads back as numbers of that kind.
    NumberSet(SetOf),
    /// Text, for its least and greatest.
    Text,
    /// A `decimal(precision, scale)`, as its unscaled integer: in the moments' 64-bit
    /// integers up to [`EXACT_DECIMAL_DIGITS`] digits, in 128 bits beyond
    /// ([`super::accumulator::WideDecimal`]).
    Decimal(u8, i8),
    /// A number as a double, into a sketch of the distribution (`percentile_approx`);
    /// `integer` when its column holds integers, whose percentiles are integers.
    Distribution { integer: bool },
    /// A value with its ordering, as one text whose byte order is theirs
    /// ([`super::best`]), for the greatest or least (`max_by`, `min_by`).
    Pick(Ordering),
}

/// The kind of number a [`Reading::NumberSet`]'s values read back as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SetOf {
    /// Integers.
    Integer,
    /// Doubles.
    Number,
    /// Decimals of this precision and scale.
    Decimal(u8, i8),
}

impl SetOf {
    /// How the sum or average of every value reads such a column.
    pub(crate) fn reading(self) -> Reading {
        match self {
            Self::Integer => Reading::Integer,
            Self::Number => Reading::Number,
            Self::Decimal(p, s) => Reading::Decimal(p, s),
        }
    }
}

/// The most digits a decimal's sum, average, minimum and maximum are kept exactly for: its
/// unscaled values fit the moments' 64-bit integers.
pub(crate) const EXACT_DECIMAL_DIGITS: u8 = 18;

impl Reading {
    /// How `agg` reads a column of `data_type` (`None` for `count(*)`), and, for `max_by`
    /// and `min_by`, its ordering column of `by`.
    ///
    /// # Errors
    /// [`EngineError::InvalidPlan`] when the aggregate cannot read that type.
    pub(crate) fn of(
        agg: &Aggregate,
        data_type: Option<&DataType>,
        by: Option<&DataType>,
    ) -> Result<Self> {
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
        if agg.function.picks() {
            return Self::pick(agg, data_type, by);
        }
        Ok(match agg.function {
            AggregateFn::Count => Self::Presence,
            AggregateFn::ApproxCountDistinct => Self::Distinct,
            AggregateFn::CountDistinct => Self::Set,
            AggregateFn::CollectSet if super::collected::can_collect(data_type) => Self::ValueSet,
            AggregateFn::CollectList if super::collected::can_collect(data_type) => Self::ValueList,
            AggregateFn::CollectSet | AggregateFn::CollectList => {
                return Err(refuse(
                    "values of a type text reads back (numbers, text, dates, \
                                   timestamps, booleans)",
                ));
            }
            AggregateFn::SumDistinct | AggregateFn::AvgDistinct => {
                let plain = Aggregate {
                    function: agg.function.plain(),
                    ..agg.clone()
                };
                match Self::of(&plain, Some(data_type), None)? {
                    Self::Integer => Self::NumberSet(SetOf::Integer),
                    Self::Number => Self::NumberSet(SetOf::Number),
                    Self::Decimal(p, s) => Self::NumberSet(SetOf::Decimal(p, s)),
                    _ => return Err(refuse("numbers")),
                }
            }
            AggregateFn::ApproxPercentile { .. } if data_type.is_numeric() => Self::Distribution {
                integer: is_exact_integer(data_type),
            },
            AggregateFn::Min | AggregateFn::Max if is_time(data_type) => Self::Time,
            AggregateFn::Min | AggregateFn::Max if is_text(data_type) => Self::Text,
            AggregateFn::Min | AggregateFn::Max if !data_type.is_numeric() => {
                return Err(refuse("numbers, text, timestamps and dates"));
            }
            _ if !data_type.is_numeric() => return Err(refuse("numbers")),
            _ if is_exact_integer(data_type) => Self::Integer,
            // The spread of decimals is a double, as in Spark.
            _ if agg.function.reads_spread() => Self::Number,
            _ => match *data_type {
                DataType::Decimal128(p, s) if s >= 0 => Self::Decimal(p, s),
                DataType::Decimal128(..) | DataType::Decimal256(..) => {
                    return Err(EngineError::InvalidPlan(format!(
                        "aggregate `{}`: {:?} of `{column}`, a {data_type} column: sums, \
                         averages, minimums and maximums of decimals are exact up to 38 \
                         digits and a scale of 0 or more; cast the column to DECIMAL(38, s), \
                         or to DOUBLE to aggregate it approximately",
                        agg.name, agg.function,
                    )));
                }
                _ => Self::Number,
            },
        })
    }

    /// How `max_by` or `min_by` reads a value of `data_type` ordered by a column of `by`.
    fn pick(agg: &Aggregate, data_type: &DataType, by: Option<&DataType>) -> Result<Self> {
        let column = agg.column.as_deref().unwrap_or_default();
        let (Some(by), Some(by_name)) = (by, agg.by.as_deref()) else {
            return Err(EngineError::InvalidPlan(format!(
                "aggregate `{}`: {:?} of `{column}` needs the column that orders the rows",
                agg.name, agg.function
            )));
        };
        if !super::best::can_pick(data_type) {
            // A row kept whole (a last-row deduplication's) names the column it cannot keep.
            let what = match data_type {
                DataType::Struct(fields) => fields
                    .iter()
                    .find(|f| !super::collected::can_collect(f.data_type()))
                    .map_or_else(
                        || format!("`{column}`, an empty struct"),
                        |f| format!("a row whose column `{}` is a {}", f.name(), f.data_type()),
                    ),
                other => format!("`{column}`, a {other} column"),
            };
            return Err(EngineError::InvalidPlan(format!(
                "aggregate `{}`: {:?} of {what}: it keeps values of a type text reads back \
                 (numbers, text, dates, timestamps, booleans, and rows of those); leave that \
                 column out, or cast it to text",
                agg.name, agg.function
            )));
        }
        let ordering = Ordering::of(by).ok_or_else(|| {
            EngineError::InvalidPlan(format!(
                "aggregate `{}`: {:?} by `{by_name}`, a {by} column: rows are ordered by \
                 numbers, text, timestamps or dates",
                agg.name, agg.function
            ))
        })?;
        Ok(Self::Pick(ordering))
    }

    /// The type and nullability of the aggregate's result, over a column of `input`.
    pub(crate) fn output(self, function: AggregateFn, input: Option<&DataType>) -> Field {
        let (data_type, nullable) = match (self, function) {
            (Self::ValueSet | Self::ValueList, _) => (
                DataType::List(Arc::new(Field::new(
                    "item",
                    input.cloned().unwrap_or(DataType::Utf8),
                    true,
                ))),
                false,
            ),
            // Typed as the sum or average of every value.
            (Self::NumberSet(of), _) => {
                let plain = of.reading().output(function.plain(), input);
                (plain.data_type().clone(), true)
            }
            (Self::Rows | Self::Presence | Self::Distinct | Self::Set, _) => {
                (DataType::Int64, false)
            }
            (Self::Text, _) => (DataType::Utf8, true),
            (Self::Time, _) => (input.cloned().unwrap_or(DataType::Int64), true),
            // The sum, minimum or maximum of integers is an integer, as in Spark and Flink.
            (Self::Integer, AggregateFn::Sum | AggregateFn::Min | AggregateFn::Max) => {
                (DataType::Int64, true)
            }
            (Self::Integer | Self::Number, _) => (DataType::Float64, true),
            (Self::Decimal(p, s), AggregateFn::Sum) => {
                (DataType::Decimal128(38.min(p + 10), s), true)
            }
            (Self::Decimal(p, s), AggregateFn::Avg) => {
                (DataType::Decimal128(38.min(p + 4), 38.min(s + 4)), true)
            }
            (Self::Decimal(p, s), _) => (DataType::Decimal128(p, s), true),
            (Self::Distribution { integer: true }, _) => (DataType::Int64, true),
            (Self::Distribution { integer: false }, _) => (DataType::Float64, true),
            (Self::Pick(_), _) => (input.cloned().unwrap_or(DataType::Utf8), true),
        };
        Field::new("", data_type, nullable)
    }

    /// The column's values as `function`'s moments take them; `None` for rows and
    /// sketches.
    ///
    /// # Errors
    /// When the column cannot be cast (it was checked when the operator was built).
    pub(crate) fn values(self, function: AggregateFn, column: &ArrayRef) -> Result<Option<Values>> {
        let spread = function.reads_spread();
        Ok(match self {
            Self::Rows
            | Self::Distinct
            | Self::Set
            | Self::ValueSet
            | Self::ValueList
            | Self::NumberSet(_)
            | Self::Text
            | Self::Pick(_) => None,
            // Zeros where the column has a value: the moments count them.
            Self::Presence => Some(Values::Doubles {
                column: Float64Array::new(
                    ScalarBuffer::from(vec![0.0; column.len()]),
                    column.logical_nulls(),
                ),
                spread: false,
            }),
            Self::Number | Self::Distribution { .. } => Some(Values::Doubles {
                column: as_doubles(column)?,
                spread,
            }),
            Self::Integer | Self::Time => Some(Values::Integers {
                column: as_integers(column)?,
                spread,
            }),
            Self::Decimal(p, _) if p > EXACT_DECIMAL_DIGITS => Some(Values::Decimals {
                column: column
                    .as_primitive_opt::<Decimal128Type>()
                    .ok_or_else(|| {
                        EngineError::InvalidPlan(format!(
                            "expected a decimal column, got {}",
                            column.data_type()
                        ))
                    })?
                    .clone(),
            }),
            Self::Decimal(..) => Some(Values::Integers {
                column: unscaled(column)?,
                spread,
            }),
        })
    }

    /// The column's values as text, for a sketch, a range, a set or a list; `None` for
    /// every other reading. A pick reads its ordering column `by` too, a list the rows'
    /// event times `times` ([`super::best`], [`super::listed`]).
    ///
    /// # Errors
    /// When the column cannot be cast to text.
    pub(crate) fn texts(
        self,
        column: &ArrayRef,
        by: Option<&ArrayRef>,
        times: Option<&ArrayRef>,
    ) -> Result<Option<StringArray>> {
        Ok(match (self, by, times) {
            (Self::Pick(ordering), Some(by), _) => Some(super::best::picks(ordering, by, column)?),
            (Self::ValueList, _, Some(times)) => Some(super::listed::texts(times, column)?),
            (Self::Distinct | Self::Set | Self::ValueSet | Self::NumberSet(_) | Self::Text, ..) => {
                Some(cast(column, &DataType::Utf8)?.as_string::<i32>().clone())
            }
            _ => None,
        })
    }

    /// Whether the moments keep this reading's values as exact integers.
    pub(crate) fn is_exact(self) -> bool {
        match self {
            Self::Integer | Self::Time => true,
            Self::Decimal(p, _) => p <= EXACT_DECIMAL_DIGITS,
            _ => false,
        }
    }

    /// What an accumulator keeps for this reading.
    pub(crate) fn kept(self) -> Kept {
        match self {
            Self::Distinct => Kept::Sketch,
            Self::Set | Self::ValueSet | Self::NumberSet(_) => Kept::Set,
            Self::ValueList => Kept::List,
            Self::Text | Self::Pick(_) => Kept::Range,
            Self::Distribution { .. } => Kept::Quantiles,
            Self::Decimal(p, _) if p > EXACT_DECIMAL_DIGITS => Kept::WideDecimal,
            _ if self.is_exact() => Kept::Integers,
            _ => Kept::Doubles,
        }
    }
}

/// One batch's column of an aggregate, as its moments take it; `spread` when the aggregate
/// reads the mean and squared deviations.
pub(crate) enum Values {
    /// Doubles, into `sum`, `min` and `max`.
    Doubles { column: Float64Array, spread: bool },
    /// Integers, into the exact fields.
    Integers { column: Int64Array, spread: bool },
    /// Decimals of more than [`EXACT_DECIMAL_DIGITS`] digits: the moments count them, a
    /// [`super::accumulator::WideDecimal`] keeps their sum and range.
    Decimals { column: Decimal128Array },
}

impl Values {
    /// Row `i`'s value as a double, when it has one.
    #[inline]
    pub(crate) fn double(&self, i: usize) -> Option<f64> {
        match self {
            Self::Doubles { column, .. } => column.is_valid(i).then(|| column.value(i)),
            #[allow(clippy::cast_precision_loss)]
            Self::Integers { column, .. } => column.is_valid(i).then(|| column.value(i) as f64),
            Self::Decimals { .. } => None,
        }
    }

    /// Row `i`'s unscaled value, when it has one and is a wide decimal.
    #[inline]
    pub(crate) fn wide(&self, i: usize) -> Option<i128> {
        match self {
            Self::Decimals { column } => column.is_valid(i).then(|| column.value(i)),
            _ => None,
        }
    }

    /// Adds row `i`'s value, when it has one, to `m`.
    #[inline]
    pub(crate) fn add_to(&self, i: usize, m: &mut Moments) {
        match self {
            Self::Doubles { column, spread } => {
                if column.is_valid(i) {
                    if *spread {
                        m.add(column.value(i));
                    } else {
                        m.add_plain(column.value(i));
                    }
                }
            }
            Self::Integers { column, spread } => {
                if column.is_valid(i) {
                    if *spread {
                        m.add_int_spread(column.value(i));
                    } else {
                        m.add_int(column.value(i));
                    }
                }
            }
            Self::Decimals { column } => m.count += i64::from(column.is_valid(i)),
        }
    }

    /// Takes row `i`'s value, when it has one, back out of `m`.
    #[inline]
    pub(crate) fn remove_from(&self, i: usize, m: &mut Moments) {
        match self {
            Self::Doubles { column, .. } => {
                if column.is_valid(i) {
                    m.remove(column.value(i));
                }
            }
            Self::Integers { column, .. } => {
                if column.is_valid(i) {
                    m.remove_int(column.value(i));
                }
            }
            // Refused over a changelog: a range cannot take a value back out.
            Self::Decimals { .. } => {}
        }
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

/// Timestamps of any unit and dates: their values are integers.
fn is_time(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64
    )
}

fn is_text(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// Integer types whose every value an `i64` holds (not `UInt64`, read as doubles).
fn is_exact_integer(data_type: &DataType) -> bool {
    data_type.is_integer() && *data_type != DataType::UInt64
}

fn as_integers(column: &ArrayRef) -> Result<Int64Array> {
    let column = match column.data_type() {
        DataType::Date32 => cast(column, &DataType::Int32)?,
        _ => Arc::clone(column),
    };
    let cast = cast(&column, &DataType::Int64)?;
    Ok(cast
        .as_any()
        .downcast_ref::<Int64Array>()
        .expect("cast to i64")
        .clone())
}

/// A decimal column's unscaled values (at most [`EXACT_DECIMAL_DIGITS`] digits, checked
/// when the operator was built).
fn unscaled(column: &ArrayRef) -> Result<Int64Array> {
    let Some(decimals) = column.as_primitive_opt::<Decimal128Type>() else {
        return Err(EngineError::InvalidPlan(format!(
            "expected a decimal column, got {}",
            column.data_type()
        )));
    };
    let mut values = Vec::with_capacity(decimals.len());
    for (i, &v) in decimals.values().iter().enumerate() {
        values.push(match i64::try_from(v) {
            Ok(v) => v,
            // A null's slot may hold anything; a value does not reach here.
            Err(_) if decimals.is_null(i) => 0,
            Err(_) => {
                return Err(EngineError::InvalidPlan(format!(
                    "a decimal value {v} (unscaled) has more than {EXACT_DECIMAL_DIGITS} digits \
                     in a {} column",
                    column.data_type()
                )));
            }
        });
    }
    Ok(Int64Array::new(
        ScalarBuffer::from(values),
        decimals.nulls().cloned(),
    ))
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
    use arrow::datatypes::TimeUnit;

    use super::*;

    fn agg(function: AggregateFn) -> Aggregate {
        Aggregate {
            name: "a".into(),
            function,
            column: Some("c".into()),
            by: None,
        }
    }

    #[test]
    fn each_aggregate_reads_the_types_it_can() {
        let text = DataType::Utf8;
        let micros = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let nanos = DataType::Timestamp(TimeUnit::Nanosecond, None);
        assert_eq!(
            Reading::of(&agg(AggregateFn::Count), Some(&text), None).unwrap(),
            Reading::Presence
        );
        assert_eq!(
            Reading::of(&agg(AggregateFn::ApproxCountDistinct), Some(&text), None).unwrap(),
            Reading::Distinct
        );
        assert_eq!(
            Reading::of(&agg(AggregateFn::Max), Some(&micros), None).unwrap(),
            Reading::Time
        );
        assert_eq!(
            Reading::of(&agg(AggregateFn::Min), Some(&DataType::Date32), None).unwrap(),
            Reading::Time
        );
        assert_eq!(
            Reading::of(&agg(AggregateFn::Max), Some(&nanos), None).unwrap(),
            Reading::Time
        );
        for (function, data_type, reading) in [
            (AggregateFn::Sum, DataType::Int64, Reading::Integer),
            (AggregateFn::Avg, DataType::Int16, Reading::Integer),
            (AggregateFn::Max, DataType::UInt32, Reading::Integer),
            (AggregateFn::Sum, DataType::UInt64, Reading::Number),
            (AggregateFn::Sum, DataType::Float32, Reading::Number),
            (AggregateFn::Min, DataType::Utf8, Reading::Text),
            (AggregateFn::Max, DataType::Utf8View, Reading::Text),
        ] {
            assert_eq!(
                Reading::of(&agg(function), Some(&data_type), None).unwrap(),
                reading,
                "{function:?} of {data_type}"
            );
        }
        for (function, data_type) in [
            (AggregateFn::Sum, &text),
            (AggregateFn::Avg, &micros),
            (AggregateFn::Min, &DataType::Boolean),
            (AggregateFn::Max, &DataType::Binary),
            (AggregateFn::Stddev, &DataType::Boolean),
        ] {
            let err = Reading::of(&agg(function), Some(data_type), None)
                .unwrap_err()
                .to_string();
            assert!(err.contains("of `c`") && err.contains("it takes"), "{err}");
        }
        assert!(Reading::of(&agg(AggregateFn::Sum), None, None).is_err());
    }

    /// `max_by` reads a value with its ordering; a row kept whole names the column it
    /// cannot keep.
    #[test]
    fn a_pick_reads_values_text_gives_back_ordered_by_a_comparable_column() {
        let pick = |data_type: &DataType, by: &DataType| {
            let mut a = agg(AggregateFn::MaxBy);
            a.by = Some("o".into());
            Reading::of(&a, Some(data_type), Some(by)).map_err(|e| e.to_string())
        };
        let micros = DataType::Timestamp(TimeUnit::Microsecond, None);
        assert_eq!(
            pick(&DataType::Utf8, &micros),
            Ok(Reading::Pick(Ordering::Integer))
        );
        assert_eq!(
            pick(&DataType::Int64, &DataType::Float32),
            Ok(Reading::Pick(Ordering::Double))
        );
        let row = DataType::Struct(
            vec![
                Field::new("id", DataType::Int64, true),
                Field::new(
                    "tags",
                    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                    true,
                ),
            ]
            .into(),
        );
        let err = pick(&row, &micros).unwrap_err();
        assert!(err.contains("a row whose column `tags`"), "{err}");
        let err = pick(&DataType::Int64, &DataType::Boolean).unwrap_err();
        assert!(err.contains("rows are ordered by numbers"), "{err}");
    }

    #[test]
    fn a_count_of_a_column_counts_its_values_whatever_their_type() {
        let column: ArrayRef = Arc::new(StringArray::from(vec![Some("x"), None, Some("7")]));
        let Some(Values::Doubles { column: read, .. }) = Reading::Presence
            .values(AggregateFn::Count, &column)
            .unwrap()
        else {
            panic!("a count reads doubles")
        };
        assert_eq!(read.len(), 3);
        assert_eq!(read.null_count(), 1);
    }

    #[test]
    fn times_come_back_in_their_type() {
        for data_type in [
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            DataType::Timestamp(TimeUnit::Millisecond, None),
            DataType::Timestamp(TimeUnit::Nanosecond, None),
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
            let Some(Values::Integers { column: read, .. }) =
                Reading::Time.values(AggregateFn::Max, &column).unwrap()
            else {
                panic!("a time reads integers")
            };
            assert_eq!(read.value(0), 19_000);
            let ints: ArrayRef = Arc::new(read);
            let back = times_back(ints, &data_type).unwrap();
            assert_eq!(back.data_type(), &data_type);
            assert_eq!(&back, &column, "{data_type}");
        }
    }
}
