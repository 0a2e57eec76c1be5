//! A struct value of a pick (`max_by(named_struct(...), ts)`, the whole last row of a
//! key) as one text, field by field: a null field is `0`; a field with a value is `1`,
//! its text with each NUL written NUL, 0x01, then NUL, NUL. The encoding of each field
//! begins no other's, so the texts' byte order is the fields' order, one after another,
//! and the text splits back into its fields.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray, StructArray};
use arrow::buffer::NullBuffer;
use arrow::compute::{CastOptions, cast, cast_with_options};
use arrow::datatypes::{DataType, Fields};

use crate::error::{EngineError, Result};

/// Whether every field of a struct of `fields` comes back whole from its text.
pub(super) fn can_pick(fields: &Fields) -> bool {
    !fields.is_empty()
        && fields
            .iter()
            .all(|f| super::super::collected::can_collect(f.data_type()))
}

/// Each row of `column` (a struct) as one text; null where the struct is null.
///
/// # Errors
/// When a field cannot be cast to text (checked when the operator was built).
pub(super) fn texts(column: &StructArray) -> Result<StringArray> {
    let fields = column
        .columns()
        .iter()
        .map(|c| Ok(cast(c, &DataType::Utf8)?.as_string::<i32>().clone()))
        .collect::<Result<Vec<StringArray>>>()?;
    let mut text = String::new();
    Ok((0..column.len())
        .map(|i| {
            if column.is_null(i) {
                return None;
            }
            text.clear();
            for field in &fields {
                if field.is_null(i) {
                    text.push('0');
                    continue;
                }
                text.push('1');
                super::push_terminated(&mut text, field.value(i));
            }
            Some(text.clone())
        })
        .collect())
}

/// The fields of one text of [`texts`]; `None` when it is not one of `n` fields.
fn split(mut text: &str, n: usize) -> Option<Vec<Option<String>>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let (flag, rest) = text.split_at_checked(1)?;
        match flag {
            "0" => {
                out.push(None);
                text = rest;
            }
            "1" => {
                let (value, after) = super::split_terminated(rest)?;
                out.push(Some(value.replace("\0\u{1}", "\0")));
                text = after;
            }
            _ => return None,
        }
    }
    text.is_empty().then_some(out)
}

/// The structs of `fields` whose texts are `texts` (`None` for a null struct).
///
/// # Errors
/// When a text is not one of these fields, or a field's text does not read back as its
/// type (a damaged snapshot).
pub(super) fn structs(name: &str, texts: &[Option<&str>], fields: &Fields) -> Result<ArrayRef> {
    let damaged = || {
        EngineError::Snapshot(format!(
            "aggregate `{name}`: a kept row is not one of {} fields",
            fields.len()
        ))
    };
    let mut columns: Vec<Vec<Option<String>>> = vec![Vec::with_capacity(texts.len()); fields.len()];
    for text in texts {
        let values = match text {
            Some(t) => split(t, fields.len()).ok_or_else(damaged)?,
            None => vec![None; fields.len()],
        };
        for (column, v) in columns.iter_mut().zip(values) {
            column.push(v);
        }
    }
    let strict = CastOptions {
        safe: false,
        ..CastOptions::default()
    };
    let arrays = columns
        .into_iter()
        .zip(fields.iter())
        .map(|(values, field)| {
            let texts: ArrayRef = Arc::new(StringArray::from(values));
            cast_with_options(&texts, field.data_type(), &strict).map_err(|e| {
                EngineError::Snapshot(format!(
                    "aggregate `{name}`: a kept `{}` does not read back as {}: {e}",
                    field.name(),
                    field.data_type()
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let nulls = NullBuffer::from(texts.iter().map(Option::is_some).collect::<Vec<_>>());
    Ok(Arc::new(StructArray::try_new(
        fields.clone(),
        arrays,
        Some(nulls),
    )?))
}

#[cfg(test)]
mod tests {
    use arrow::array::{Float64Array, Int64Array};
    use arrow::datatypes::Field;

    use super::*;

    fn rows() -> StructArray {
        let fields = Fields::from(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("price", DataType::Float64, true),
        ]);
        StructArray::try_new(
            fields,
            vec![
                Arc::new(Int64Array::from(vec![Some(1), None, Some(3), Some(1)])),
                Arc::new(StringArray::from(vec![
                    Some("a\0b"),
                    Some(""),
                    None,
                    Some("a"),
                ])),
                Arc::new(Float64Array::from(vec![
                    Some(0.5),
                    Some(-1.0),
                    None,
                    Some(2.0),
                ])),
            ],
            Some(NullBuffer::from(vec![true, true, false, true])),
        )
        .unwrap()
    }

    #[test]
    fn a_struct_s_text_gives_its_fields_back_and_orders_field_by_field() {
        let rows = rows();
        let texts = texts(&rows).unwrap();
        let kept: Vec<Option<&str>> = texts.iter().collect();
        let back = structs("a", &kept, rows.fields()).unwrap();
        assert_eq!(back.as_struct(), &rows);
        // (1, "a") sorts before (1, "a\0b"): the shorter text first, field by field.
        assert!(texts.value(3) < texts.value(0));
        // A null id sorts before every id.
        assert!(texts.value(1) < texts.value(3));
        for bad in ["1a", "2", "1a\0\0", "001\0\0", "000x"] {
            assert!(
                structs("a", &[Some(bad)], rows.fields()).is_err(),
                "{bad:?}"
            );
        }
    }
}
