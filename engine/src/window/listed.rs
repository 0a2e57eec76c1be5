//! Spark's `collect_list(c)` (and `array_agg(c)`) per window: every non-null value, as an
//! array of the column's type in the order of the rows' event times (values of one
//! event time in the order of their text).
//!
//! Spark leaves the order unspecified (it is the order the rows arrived in, which a
//! shuffle changes), so this order is one Spark may give; it is the same in every run,
//! a replay's and a batch's too. A window keeps each value with its event time as one
//! text whose byte order is theirs (the encoding of `max_by`'s picks, [`super::best`]),
//! so lists merge across panes, sessions and workers by concatenation, and are sorted
//! once, when the window is emitted. The state grows with the window's rows, as Flink's
//! `ARRAY_AGG` does.

use arrow::array::{Array, ArrayRef, StringArray};
use arrow::datatypes::DataType;

use super::best::{self, Ordering};
use crate::error::Result;

/// A window's values with their event times, as [`texts`] encodes them, unsorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ValueList {
    values: Vec<Box<str>>,
}

impl ValueList {
    /// Adds `v`.
    #[inline]
    pub fn add(&mut self, v: &str) {
        self.values.push(v.into());
    }

    /// Folds `other` into `self`.
    pub fn merge(&mut self, other: &ValueList) {
        self.values.extend(other.values.iter().cloned());
    }

    /// How many values there are.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Its bytes, for snapshots ([`super::distinct_values::text_bytes`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        super::distinct_values::text_bytes(self.values.iter().map(AsRef::as_ref))
    }

    /// The value of [`to_bytes`](Self::to_bytes)' bytes; `None` when they are not one.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        Some(Self {
            values: super::distinct_values::texts_of_bytes(bytes)?.collect::<Option<_>>()?,
        })
    }
}

/// Each row's value with its event time (a timestamp column) as one text; null where
/// the value is null, which the list skips, as Spark's does.
///
/// # Errors
/// When a column cannot be read (checked when the operator was built).
pub(crate) fn texts(times: &ArrayRef, values: &ArrayRef) -> Result<StringArray> {
    let picks = best::picks(Ordering::Integer, times, values)?;
    Ok((0..picks.len())
        .map(|i| (values.is_valid(i) && picks.is_valid(i)).then(|| picks.value(i)))
        .collect())
}

/// Each window's list as an array of `out`'s item type, in event-time order; empty
/// where a window saw only nulls.
///
/// # Errors
/// When a kept value does not read back as the type (a damaged snapshot).
pub(super) fn arrays<'a>(
    name: &str,
    lists: impl Iterator<Item = Option<&'a ValueList>>,
    out: &DataType,
) -> Result<ArrayRef> {
    super::collected::lists(name, out, lists, |list, item| {
        let mut sorted: Vec<&str> = list
            .map(|l| l.values.iter().map(AsRef::as_ref).collect())
            .unwrap_or_default();
        sorted.sort_unstable();
        best::values(
            name,
            Ordering::Integer,
            sorted.iter().map(|v| Some(*v)),
            item,
        )
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{AsArray, Int64Array, TimestampMicrosecondArray};
    use arrow::datatypes::{Field, Int64Type};

    use super::*;

    #[test]
    fn a_list_holds_every_value_in_event_time_order_and_survives_its_bytes() {
        let times: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![
            30, -5, 30, 10, 20, 10,
        ]));
        let values: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(7),
            Some(1),
            Some(12),
            None,
            Some(3),
            Some(3),
        ]));
        let texts = texts(&times, &values).unwrap();
        assert!(texts.is_null(3), "a null value is skipped");
        let (mut a, mut b) = (ValueList::default(), ValueList::default());
        for i in [0, 2, 4] {
            a.add(texts.value(i));
        }
        for i in [1, 5] {
            b.add(texts.value(i));
        }
        a.merge(&b);
        assert_eq!(a.len(), 5);
        assert_eq!(ValueList::from_bytes(&a.to_bytes()), Some(a.clone()));
        assert_eq!(ValueList::from_bytes(&[1, 0, 0]), None);
        let out = DataType::List(Arc::new(Field::new("item", DataType::Int64, true)));
        let arrays = arrays("l", [Some(&a), None].into_iter(), &out).unwrap();
        let lists = arrays.as_list::<i32>();
        let first: Vec<i64> = lists.value(0).as_primitive::<Int64Type>().values().to_vec();
        // By event time: -5, 10, 20, then 30's two values by their text ("12" < "7").
        assert_eq!(first, [1, 3, 3, 12, 7]);
        assert!(lists.value(1).is_empty());
    }
}
