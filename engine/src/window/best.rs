//! Spark's `max_by(value, ordering)` and `min_by(value, ordering)` per window: the value of
//! the row whose ordering is the greatest (or least).
//!
//! Each row becomes one text, its *pick*: the ordering encoded so that the texts' byte
//! order is the orderings' order, then the value as text. A window keeps the greatest
//! and least pick as it keeps the range of a text column ([`super::accumulator::TextRange`]),
//! so picks merge across panes, sessions and workers, and snapshot, as `min` and `max` of
//! text do. The value comes back from the kept pick in its column's type.
//!
//! Rows whose ordering is null are skipped, as in Spark. Rows tied on the ordering are
//! told apart by their value (a null value before any other, then the values' text in
//! byte order): `max_by` takes the greatest of them and `min_by` the least, the same row
//! in every run, where Spark takes whichever came first.
//!
//! The encodings (UTF-8, so that a pick is a text):
//! - an integer, a timestamp, a date or a decimal (its unscaled value): `v + 2^127` as 32
//!   hexadecimal digits;
//! - a double: 16 hexadecimal digits of its bits with the sign bit flipped, or of all its
//!   bits flipped when negative (IEEE 754's total order; `-0.0 < 0.0`);
//! - a text: its bytes with each NUL written NUL, 0x01, then NUL, NUL, so that a text
//!   sorts before every longer text it begins.
//!
//! The value: `0` for null, else `1` and its text (`CAST(v AS STRING)`, which reads back
//! as the same value for numbers, text, booleans, dates and timestamps; a struct of those
//! field by field, [`fields`], so that `max_by(named_struct(...), ts)` keeps a whole row,
//! its ties told apart by the whole row).

use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray, StringBuilder};
use arrow::compute::{CastOptions, cast, cast_with_options};
use arrow::datatypes::{DataType, Decimal128Type, Float64Type, Int64Type};

use crate::error::{EngineError, Result};

mod fields;

/// How an ordering column is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ordering {
    /// Integers, timestamps, dates and decimals, as 128-bit integers.
    Integer,
    /// Floating-point numbers, as doubles.
    Double,
    /// Text.
    Text,
}

impl Ordering {
    /// How a column of `data_type` orders rows; `None` when it cannot.
    pub(crate) fn of(data_type: &DataType) -> Option<Self> {
        match data_type {
            t if t.is_integer() => Some(Self::Integer),
            DataType::Timestamp(..)
            | DataType::Date32
            | DataType::Date64
            | DataType::Decimal128(..) => Some(Self::Integer),
            DataType::Float16 | DataType::Float32 | DataType::Float64 => Some(Self::Double),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some(Self::Text),
            _ => None,
        }
    }

    /// The width of an encoded ordering; `None` for text, which ends in NUL, NUL.
    fn width(self) -> Option<usize> {
        match self {
            Self::Integer => Some(32),
            Self::Double => Some(16),
            Self::Text => None,
        }
    }
}

/// Whether a value column of `data_type` comes back whole from its text: numbers, text,
/// booleans, dates, timestamps and structs of those ([`fields`]).
pub(crate) fn can_pick(data_type: &DataType) -> bool {
    match data_type {
        DataType::Struct(f) => fields::can_pick(f),
        t => super::collected::can_collect(t),
    }
}

/// The picks of a batch: one per row, null where the ordering is null.
///
/// # Errors
/// When a column cannot be cast to what its encoding reads (it was checked when the
/// operator was built).
pub(crate) fn picks(ordering: Ordering, by: &ArrayRef, values: &ArrayRef) -> Result<StringArray> {
    let texts = match values.as_struct_opt() {
        Some(rows) => fields::texts(rows)?,
        None => cast(values, &DataType::Utf8)?.as_string::<i32>().clone(),
    };
    let mut out = StringBuilder::with_capacity(by.len(), by.len() * 48);
    let mut pick = String::new();
    let order = Encoder::of(ordering, by)?;
    for i in 0..by.len() {
        if by.is_null(i) {
            out.append_null();
            continue;
        }
        pick.clear();
        order.write(i, &mut pick);
        if texts.is_null(i) {
            pick.push('0');
        } else {
            pick.push('1');
            pick.push_str(texts.value(i));
        }
        out.append_value(&pick);
    }
    Ok(out.finish())
}

/// An ordering column read as its encoding reads it.
enum Encoder {
    Integer(Vec<i128>),
    Double(arrow::array::Float64Array),
    Text(StringArray),
}

impl Encoder {
    fn of(ordering: Ordering, by: &ArrayRef) -> Result<Self> {
        Ok(match ordering {
            Ordering::Integer => Self::Integer(integers(by)?),
            Ordering::Double => Self::Double(
                cast(by, &DataType::Float64)?
                    .as_primitive::<Float64Type>()
                    .clone(),
            ),
            Ordering::Text => Self::Text(cast(by, &DataType::Utf8)?.as_string::<i32>().clone()),
        })
    }

    /// Appends row `i`'s encoded ordering to `s`.
    fn write(&self, i: usize, s: &mut String) {
        match self {
            Self::Integer(wide) => {
                // `v + 2^127`: the sign bit flipped.
                let biased = (wide[i] as u128) ^ (1u128 << 127);
                let _ = write!(s, "{biased:032x}");
            }
            Self::Double(doubles) => {
                let bits = doubles.value(i).to_bits();
                let key = if bits >> 63 == 1 {
                    !bits
                } else {
                    bits | (1 << 63)
                };
                let _ = write!(s, "{key:016x}");
            }
            Self::Text(text) => push_terminated(s, text.value(i)),
        }
    }
}

/// Appends `text` to `s` with each NUL written NUL, 0x01, then NUL, NUL: a text sorts
/// before every longer text it begins, and the end is found again ([`split_terminated`]).
pub(super) fn push_terminated(s: &mut String, text: &str) {
    for c in text.chars() {
        s.push(c);
        if c == '\0' {
            s.push('\u{1}');
        }
    }
    s.push_str("\0\0");
}

/// The text [`push_terminated`] wrote at the start of `s` (its NULs as written there,
/// NUL, 0x01) and what follows its end; `None` when `s` holds no end.
pub(super) fn split_terminated(s: &str) -> Option<(&str, &str)> {
    let bytes = s.as_bytes();
    let mut at = 0;
    loop {
        // The first NUL not followed by 0x01 begins the end.
        let nul = at + bytes.get(at..)?.iter().position(|&b| b == 0)?;
        match bytes.get(nul + 1) {
            Some(1) => at = nul + 2,
            Some(0) => return Some((&s[..nul], s.get(nul + 2..)?)),
            _ => return None,
        }
    }
}

/// An ordering column of integers, timestamps, dates or decimals as 128-bit integers
/// (zero where null).
fn integers(by: &ArrayRef) -> Result<Vec<i128>> {
    if let Some(decimals) = by.as_primitive_opt::<Decimal128Type>() {
        return Ok(decimals.values().to_vec());
    }
    let by = match by.data_type() {
        DataType::Date32 => cast(by, &DataType::Int32)?,
        _ => Arc::clone(by),
    };
    let ints = cast(&by, &DataType::Int64)?;
    Ok(ints
        .as_primitive::<Int64Type>()
        .values()
        .iter()
        .map(|&v| i128::from(v))
        .collect())
}

/// The value part of a pick made with `ordering`; `None` for a null value, or when the
/// text is not a pick.
fn value_of(ordering: Ordering, pick: &str) -> Option<Option<&str>> {
    let rest = match ordering.width() {
        Some(width) => pick.get(width..)?,
        None => split_terminated(pick)?.1,
    };
    match rest.as_bytes().first() {
        Some(b'0') if rest.len() == 1 => Some(None),
        Some(b'1') => Some(Some(&rest[1..])),
        _ => None,
    }
}

/// The values of the kept picks (one per window; `None` where a window had no row with an
/// ordering), in the value column's type `out`.
///
/// # Errors
/// When a pick is damaged or its value does not read back as `out` (a damaged snapshot).
pub(crate) fn values<'a>(
    name: &str,
    ordering: Ordering,
    picks: impl Iterator<Item = Option<&'a str>>,
    out: &DataType,
) -> Result<ArrayRef> {
    let damaged = |pick: &str| {
        EngineError::Snapshot(format!(
            "aggregate `{name}`: a kept row `{}` is not one max_by or min_by made",
            pick.escape_debug()
        ))
    };
    let texts = picks
        .map(|p| match p {
            None => Ok(None),
            Some(p) => value_of(ordering, p).ok_or_else(|| damaged(p)),
        })
        .collect::<Result<Vec<Option<&str>>>>()?;
    if let DataType::Struct(f) = out {
        return fields::structs(name, &texts, f);
    }
    let texts = StringArray::from(texts);
    let strict = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    cast_with_options(&texts, out, &strict).map_err(|e| {
        EngineError::Snapshot(format!(
            "aggregate `{name}`: a kept value does not read back as {out}: {e}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use arrow::array::{
        BooleanArray, Date32Array, Decimal128Array, Float64Array, Int64Array,
        TimestampMicrosecondArray,
    };

    use super::*;

    /// The row a naive reading of the definition picks: the greatest (or least) ordering,
    /// ties by a null value first, then by the value's text.
    fn naive<T: PartialOrd + Copy>(rows: &[(Option<T>, Option<&str>)], max: bool) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (i, (o, v)) in rows.iter().enumerate() {
            let Some(o) = o else { continue };
            let better = match best {
                None => true,
                Some(b) => {
                    let (bo, bv) = (rows[b].0.unwrap(), rows[b].1);
                    if *o == bo {
                        if max { *v > bv } else { *v < bv }
                    } else if max {
                        *o > bo
                    } else {
                        *o < bo
                    }
                }
            };
            if better {
                best = Some(i);
            }
        }
        best
    }

    fn kept(picks: &StringArray, max: bool) -> Option<usize> {
        let mut best: Option<usize> = None;
        for i in 0..picks.len() {
            if picks.is_null(i) {
                continue;
            }
            let better = best.is_none_or(|b| {
                let (p, q) = (picks.value(i), picks.value(b));
                if max { p > q } else { p < q }
            });
            if better {
                best = Some(i);
            }
        }
        best
    }

    #[test]
    fn the_picks_order_as_their_orderings_then_values() {
        let values: Vec<Option<&str>> = vec![
            Some("a"),
            Some("b"),
            None,
            Some("z"),
            Some("c"),
            Some("y"),
            Some("b"),
            None,
            Some("q"),
        ];
        let value_column: ArrayRef = Arc::new(StringArray::from(values.clone()));
        let ints: Vec<Option<i64>> = vec![
            Some(5),
            Some(-7),
            Some(5),
            None,
            Some(i64::MIN),
            Some(i64::MAX),
            Some(-7),
            Some(i64::MAX),
            Some(0),
        ];
        let doubles: Vec<Option<f64>> = vec![
            Some(-0.0),
            Some(1.5),
            Some(0.0),
            Some(-1e300),
            Some(f64::NEG_INFINITY),
            Some(1.5),
            None,
            Some(-2.25),
            Some(1e-300),
        ];
        let texts: Vec<Option<&str>> = vec![
            Some("ab"),
            Some("a"),
            Some("a\0"),
            Some(""),
            Some("ab"),
            None,
            Some("a\0b"),
            Some("b"),
            Some("ab"),
        ];
        for max in [true, false] {
            let by: ArrayRef = Arc::new(Int64Array::from(ints.clone()));
            let picks = picks(Ordering::Integer, &by, &value_column).unwrap();
            let rows: Vec<_> = ints.iter().copied().zip(values.iter().copied()).collect();
            assert_eq!(kept(&picks, max), naive(&rows, max), "integers, max {max}");

            let by: ArrayRef = Arc::new(Float64Array::from(doubles.clone()));
            let picks = picks_of(Ordering::Double, &by, &value_column);
            // -0.0 < 0.0 in the total order; PartialOrd calls them equal, so compare bits.
            let total: Vec<Option<i64>> = doubles
                .iter()
                .map(|d| {
                    d.map(|d| {
                        let b = d.to_bits() as i64;
                        if b < 0 { b ^ i64::MAX } else { b }
                    })
                })
                .collect();
            let rows: Vec<_> = total.iter().copied().zip(values.iter().copied()).collect();
            assert_eq!(kept(&picks, max), naive(&rows, max), "doubles, max {max}");

            let by: ArrayRef = Arc::new(StringArray::from(texts.clone()));
            let picks = picks_of(Ordering::Text, &by, &value_column);
            let rows: Vec<_> = texts.iter().copied().zip(values.iter().copied()).collect();
            assert_eq!(kept(&picks, max), naive(&rows, max), "texts, max {max}");
        }
    }

    fn picks_of(ordering: Ordering, by: &ArrayRef, values: &ArrayRef) -> StringArray {
        picks(ordering, by, values).unwrap()
    }

    #[test]
    fn a_kept_pick_gives_its_value_back_in_its_type() {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![Some(-3), None, Some(i64::MAX)])),
            Arc::new(Float64Array::from(vec![Some(0.1), Some(-2.5e-7), None])),
            Arc::new(StringArray::from(vec![Some("x\0y"), Some(""), None])),
            Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
            Arc::new(Date32Array::from(vec![Some(19_000), Some(-5), None])),
            Arc::new(
                TimestampMicrosecondArray::from(vec![Some(1_700_000_000_123_456), None, Some(-1)])
                    .with_timezone("UTC"),
            ),
            Arc::new(
                Decimal128Array::from(vec![Some(12_345), Some(-1), None])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
        ];
        let orderings: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![1, 2, 3])),
            Arc::new(StringArray::from(vec!["a\0", "a", "b"])),
            Arc::new(
                Decimal128Array::from(vec![i128::MAX / 3, -5, 0])
                    .with_precision_and_scale(38, 0)
                    .unwrap(),
            ),
        ];
        for by in &orderings {
            let ordering = Ordering::of(by.data_type()).unwrap();
            for column in &columns {
                assert!(can_pick(column.data_type()));
                let picks = picks(ordering, by, column).unwrap();
                let back = values(
                    "a",
                    ordering,
                    (0..picks.len()).map(|i| Some(picks.value(i))),
                    column.data_type(),
                )
                .unwrap();
                assert_eq!(
                    &back,
                    column,
                    "{} by {}",
                    column.data_type(),
                    by.data_type()
                );
            }
        }
    }

    #[test]
    fn rows_without_an_ordering_are_skipped_and_damaged_picks_refused() {
        let by: ArrayRef = Arc::new(Int64Array::from(vec![None, Some(1)]));
        let v: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), Some(2)]));
        let picks = picks(Ordering::Integer, &by, &v).unwrap();
        assert!(picks.is_null(0) && picks.is_valid(1));
        let none = values("a", Ordering::Integer, [None].into_iter(), &DataType::Int64).unwrap();
        assert!(none.is_null(0));
        for bad in ["12", "abc\0", "0000000000000000000000000000000x2"] {
            for ordering in [Ordering::Integer, Ordering::Text] {
                let err = values("a", ordering, [Some(bad)].into_iter(), &DataType::Int64);
                assert!(err.is_err(), "{bad:?} as {ordering:?}");
            }
        }
        assert!(Ordering::of(&DataType::Boolean).is_none());
    }
}
