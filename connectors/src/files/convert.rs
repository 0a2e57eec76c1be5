//! Converting a file's columns into the source's schema, row by row where it must: a value
//! that cannot be converted makes its row a dead letter instead of failing the file.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, RecordBatch, StringArray, UInt32Array,
    new_null_array,
};
use arrow::compute::{
    CastOptions, can_cast_types, cast, cast_with_options, concat_batches, filter,
};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::util::display::{ArrayFormatter, FormatOptions};

use super::error::{FileError, Result};
use crate::dead_letter::{self, ParseFailure};
use crate::format::{COORDINATE_COLUMNS, RawBatchBuilder, coordinate_columns, coordinate_fields};
use sluice_engine::decimal;

/// What reading one file produced.
#[derive(Debug)]
pub(crate) struct Decoded {
    /// Good rows, in the source's data schema (no partition or coordinate columns), in the
    /// parts the file was decoded in (never copied into one batch).
    pub data: Vec<RecordBatch>,
    /// The `offset` coordinate of each good row.
    pub offsets: Vec<i64>,
    /// Dead letters, in [`dead_letter::schema`].
    pub dead: RecordBatch,
}

impl Decoded {
    /// Joins the parts a file was read in: their rows stay in their batches (empty ones
    /// left out), their dead letters are concatenated.
    pub fn concat(parts: Vec<Decoded>) -> Result<Self> {
        let mut data = Vec::with_capacity(parts.len());
        let mut dead = Vec::with_capacity(parts.len());
        let mut offsets = Vec::new();
        for part in parts {
            data.extend(part.data.into_iter().filter(|b| b.num_rows() > 0));
            dead.push(part.dead);
            offsets.extend(part.offsets);
        }
        Ok(Self {
            data,
            offsets,
            dead: concat_batches(&dead_letter::schema(), &dead)?,
        })
    }
}

/// `input` converted to `target`: the good rows, the input row index of each, and one
/// failure message per bad row, in row order.
#[derive(Debug)]
pub(crate) struct Conformed {
    /// Good rows in `target`.
    pub rows: RecordBatch,
    /// Input row index of each good row.
    pub kept: Vec<usize>,
    /// `(input row, message)` of each bad row.
    pub failures: Vec<(usize, String)>,
}

/// Converts `input` (a batch read from the file at `path`) into `target`.
///
/// Columns are cast with Arrow's `cast` kernel: a value that does not convert (a string that
/// is not a number, an integer out of range) fails its row, and so does a null in a
/// non-nullable field. Fields are matched by name; a target field the file lacks reads
/// as null when nullable.
///
/// # Errors
/// [`FileError::Schema`] when a non-nullable target field has no column in the file, or
/// a column's type cannot be cast to its field's type at all.
pub(crate) fn conform(path: &Path, input: &RecordBatch, target: &SchemaRef) -> Result<Conformed> {
    let n = input.num_rows();
    let options = CastOptions {
        safe: true,
        format_options: FormatOptions::default(),
    };
    let mut columns = Vec::with_capacity(target.fields().len());
    let mut errors: Vec<Option<String>> = Vec::new();
    for field in target.fields() {
        let source = input.column_by_name(field.name());
        let Some(source) = source else {
            if field.is_nullable() {
                columns.push(new_null_array(field.data_type(), n));
                continue;
            }
            return Err(FileError::schema(
                path,
                format!(
                    "the schema requires column {:?} but the file has none (make the field \
                     nullable to read nulls)",
                    field.name()
                ),
            ));
        };
        let converted = if source.data_type() == field.data_type() {
            Arc::clone(source)
        } else {
            let cannot = |why: String| {
                FileError::schema(
                    path,
                    format!(
                        "column {:?} of type {} cannot be read as {}{why}",
                        field.name(),
                        source.data_type(),
                        field.data_type()
                    ),
                )
            };
            match (text_values(source), field.data_type()) {
                // Text into a decimal is rounded half up, as Spark and Flink read it; Arrow's
                // cast would drop the extra digits.
                (Some(texts), &DataType::Decimal128(p, s)) if s >= 0 => {
                    Arc::new(decimals_from_text(&texts, p, s as u8)?)
                }
                _ => {
                    if !can_cast_types(source.data_type(), field.data_type()) {
                        return Err(cannot(String::new()));
                    }
                    cast_with_options(source, field.data_type(), &options)
                        .map_err(|e| cannot(format!(": {e}")))?
                }
            }
        };
        let lost = converted.null_count() > source.null_count();
        if lost || (!field.is_nullable() && converted.null_count() > 0) {
            let formatter = ArrayFormatter::try_new(source.as_ref(), &FormatOptions::default())?;
            let failed =
                |r: usize| converted.is_null(r) && (source.is_valid(r) || !field.is_nullable());
            for row in (0..n).filter(|&r| failed(r)) {
                if errors.is_empty() {
                    errors = vec![None; n];
                }
                if errors[row].is_some() {
                    continue;
                }
                errors[row] = Some(if source.is_valid(row) {
                    format!(
                        "field {:?}: cannot read {:?} as {}",
                        field.name(),
                        excerpt(&formatter.value(row).to_string()),
                        field.data_type()
                    )
                } else {
                    format!("field {:?}: null", field.name())
                });
            }
        }
        columns.push(converted);
    }
    let failures: Vec<(usize, String)> = errors
        .into_iter()
        .enumerate()
        .filter_map(|(row, e)| e.map(|e| (row, e)))
        .collect();
    if failures.is_empty() {
        let rows = RecordBatch::try_new_with_options(
            Arc::clone(target),
            columns,
            &arrow::array::RecordBatchOptions::new().with_row_count(Some(n)),
        )?;
        return Ok(Conformed {
            rows,
            kept: (0..n).collect(),
            failures,
        });
    }
    let mut keep = vec![true; n];
    for (row, _) in &failures {
        keep[*row] = false;
    }
    let kept: Vec<usize> = (0..n).filter(|&r| keep[r]).collect();
    let mask = BooleanArray::from(keep);
    let columns = columns
        .iter()
        .map(|c| filter(c.as_ref(), &mask))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let rows = RecordBatch::try_new_with_options(
        Arc::clone(target),
        columns,
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(kept.len())),
    )?;
    Ok(Conformed {
        rows,
        kept,
        failures,
    })
}

/// A column of text as a `StringArray`, when it is text.
fn text_values(column: &ArrayRef) -> Option<StringArray> {
    match column.data_type() {
        DataType::Utf8 => Some(column.as_string::<i32>().clone()),
        DataType::LargeUtf8 | DataType::Utf8View => cast(column, &DataType::Utf8)
            .ok()
            .map(|c| c.as_string::<i32>().clone()),
        _ => None,
    }
}

/// Text read as `decimal(precision, scale)`: null where a value is no such decimal (its
/// row then fails with the value quoted).
fn decimals_from_text(
    texts: &StringArray,
    precision: u8,
    scale: u8,
) -> std::result::Result<Decimal128Array, ArrowError> {
    texts
        .iter()
        .map(|t| t.and_then(|t| decimal::parse(t, precision, scale).ok()))
        .collect::<Decimal128Array>()
        .with_precision_and_scale(precision, scale as i8)
}

/// Shortens a value for an error message.
pub(crate) fn excerpt(s: &str) -> &str {
    match s.char_indices().nth(60) {
        Some((end, _)) => &s[..end],
        None => s,
    }
}

/// Dead letters (reason `parse_error`) for `failures` of `input`, rows of the file `source`
/// whose offsets are `offsets` (parallel to `input`). The payload is the row as a JSON
/// object of the file's columns.
pub(crate) fn row_dead_letters(
    input: &RecordBatch,
    source: &str,
    offsets: &[i64],
    failures: &[(usize, String)],
    epoch: u64,
) -> Result<RecordBatch> {
    if failures.is_empty() {
        return Ok(RecordBatch::new_empty(dead_letter::schema()));
    }
    let indices = UInt32Array::from_iter_values(failures.iter().map(|(r, _)| *r as u32));
    let messages = StringArray::from_iter_values(failures.iter().map(|(_, m)| m.as_str()));
    let as_json = with_coordinates(input, source, offsets).and_then(|rows| {
        let reasons = StringArray::from_iter_values(std::iter::repeat_n(
            dead_letter::REASON_PARSE_ERROR,
            failures.len(),
        ));
        dead_letter::from_rows(&rows, &indices, &reasons, epoch)
    });
    match as_json {
        Ok(dead) => Ok(dead_letter::with_errors(&dead, Arc::new(messages))?),
        // A column the JSON writer cannot encode: fall back to Arrow's display of the row.
        Err(_) => {
            let mut raw = RawBatchBuilder::with_capacity(source, 0, failures.len(), 0);
            let formatters = input
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &FormatOptions::default()))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let mut parse = Vec::with_capacity(failures.len());
            for (index, (row, message)) in failures.iter().enumerate() {
                let text: Vec<String> = input
                    .schema()
                    .fields()
                    .iter()
                    .zip(&formatters)
                    .map(|(f, v)| format!("{}={}", f.name(), v.value(*row)))
                    .collect();
                raw.push(offsets[*row] as u64, text.join(", ").as_bytes());
                parse.push(ParseFailure {
                    index,
                    message: message.clone(),
                    event_id: None,
                });
            }
            Ok(dead_letter::parse_errors(&raw.finish(), &parse, epoch))
        }
    }
}

/// `input` without columns named like coordinates, then the coordinate columns.
fn with_coordinates(
    input: &RecordBatch,
    source: &str,
    offsets: &[i64],
) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
    let schema = input.schema();
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (f, c) in schema.fields().iter().zip(input.columns()) {
        if !COORDINATE_COLUMNS.contains(&f.name().as_str()) {
            fields.push(Arc::clone(f));
            columns.push(Arc::clone(c));
        }
    }
    fields.extend(coordinate_fields());
    columns.extend(coordinate_columns(source, 0, offsets.to_vec()));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

#[cfg(test)]
mod tests {
    use arrow::array::AsArray;
    use arrow::datatypes::{Decimal128Type, Field};

    use super::*;

    #[test]
    fn text_into_a_decimal_rounds_half_up_and_fails_only_its_row() {
        let input = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("p", DataType::Utf8, true)])),
            vec![Arc::new(StringArray::from(vec![
                Some("1.005"),
                Some("-2.5e-2"),
                None,
                Some("12,5"),
                Some("100"),
            ]))],
        )
        .unwrap();
        let target = Arc::new(Schema::new(vec![Field::new(
            "p",
            DataType::Decimal128(4, 2),
            true,
        )]));
        let out = conform(Path::new("/in.csv"), &input, &target).unwrap();
        let values: Vec<Option<i128>> = out
            .rows
            .column(0)
            .as_primitive::<Decimal128Type>()
            .iter()
            .collect();
        assert_eq!(values, [Some(101), Some(-3), None]);
        assert_eq!(out.kept, [0, 1, 2]);
        assert_eq!(
            out.failures,
            [
                (
                    3,
                    r#"field "p": cannot read "12,5" as Decimal128(4, 2)"#.to_owned()
                ),
                (
                    4,
                    r#"field "p": cannot read "100" as Decimal128(4, 2)"#.to_owned()
                ),
            ]
        );
    }
}
