//! Typed value slots and the Arrow column builders that decoders share.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder, Int32Builder,
    Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use arrow::error::ArrowError;

use sluice_engine::nested;

use super::{RawBatch, coordinate_columns};
use crate::dead_letter::ParseFailure;

/// Decodes each record of `raw` with `parse`, which fills one slot per builder (`empty`
/// before each record). Records that parse are appended to `builders`; the result is the
/// good rows in `output` (the builders' columns, then the coordinate columns) and one
/// failure per record that did not, with its `event_id` slot when `event_id` names one.
///
/// # Errors
/// When the built columns do not fit `output`.
pub(crate) fn decode_records<'de>(
    raw: &'de RawBatch,
    mut builders: Vec<ColumnBuilder>,
    empty: Slot<'de>,
    event_id: Option<usize>,
    output: &SchemaRef,
    mut parse: impl FnMut(&'de [u8], &mut [Slot<'de>]) -> Result<(), String>,
) -> Result<(RecordBatch, Vec<ParseFailure>), ArrowError> {
    let mut slots = vec![empty.clone(); builders.len()];
    let mut offsets = Vec::with_capacity(raw.len());
    let mut failures = Vec::new();
    for (i, &offset) in raw.offsets.iter().enumerate() {
        match parse(raw.payload(i), &mut slots) {
            Ok(()) => {
                for (builder, slot) in builders.iter_mut().zip(&mut slots) {
                    builder.append(std::mem::replace(slot, empty.clone()));
                }
                offsets.push(offset as i64);
            }
            Err(message) => failures.push(ParseFailure {
                index: i,
                message,
                event_id: event_id.and_then(|j| match &slots[j] {
                    Slot::Str(s) => Some(s.to_string()),
                    _ => None,
                }),
            }),
        }
    }
    let mut columns = builders
        .iter_mut()
        .map(ColumnBuilder::finish)
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    columns.extend(coordinate_columns(&raw.source, raw.partition, offsets));
    Ok((RecordBatch::try_new(Arc::clone(output), columns)?, failures))
}

/// The value shape a target field accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Utf8,
    Int64,
    Int32,
    Float64,
    Boolean,
    Timestamp,
    Date32,
    /// `decimal(precision, scale)`: its unscaled values.
    Decimal(u8, u8),
    /// A list or struct, read from JSON arrays and objects ([`super::json`]).
    Nested,
}

impl Kind {
    pub(crate) fn of(data_type: &DataType) -> Option<Self> {
        Some(match data_type {
            DataType::Utf8 => Kind::Utf8,
            DataType::Int64 => Kind::Int64,
            DataType::Int32 => Kind::Int32,
            DataType::Float64 => Kind::Float64,
            DataType::Boolean => Kind::Boolean,
            DataType::Timestamp(TimeUnit::Microsecond, _) => Kind::Timestamp,
            DataType::Date32 => Kind::Date32,
            &DataType::Decimal128(precision, scale) if scale >= 0 => {
                Kind::Decimal(precision, scale as u8)
            }
            t if nested::is_nested(t) => Kind::Nested,
            _ => return None,
        })
    }

    pub(crate) fn expected(self) -> &'static str {
        match self {
            Kind::Utf8 => "string",
            Kind::Int64 | Kind::Int32 => "integer",
            Kind::Float64 => "number",
            Kind::Boolean => "boolean",
            Kind::Timestamp => "RFC 3339 string or epoch milliseconds",
            Kind::Date32 => "date string",
            Kind::Decimal(..) => "decimal number",
            Kind::Nested => "array or object",
        }
    }
}

/// One parsed field value, typed for its column.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Slot<'de> {
    Missing,
    Null,
    Str(Cow<'de, str>),
    /// Int64, Int32, Timestamp (µs) and Date32 (days) values.
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A decimal's unscaled value.
    Dec(i128),
    /// A JSON array or object, checked against its column's type.
    Json(serde_json::Value),
}

impl Slot<'_> {
    /// A JSON value for a nested column of `data_type` (from JSON, or converted from Avro),
    /// checked against it.
    ///
    /// # Errors
    /// Where the value does not fit, as [`nested::conform`] says.
    pub(crate) fn nested(
        mut value: serde_json::Value,
        data_type: &DataType,
    ) -> Result<Self, String> {
        if value.is_null() {
            return Ok(Slot::Null);
        }
        nested::conform(&mut value, data_type)?;
        Ok(Slot::Json(value))
    }
}

/// A column being built.
pub(crate) enum ColumnBuilder {
    Utf8(StringBuilder),
    Int64(Int64Builder),
    Int32(Int32Builder),
    Float64(Float64Builder),
    Boolean(BooleanBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    Date32(Date32Builder),
    Decimal(Decimal128Builder),
    /// JSON values, built into the column's type when it is finished.
    Nested(DataType, Vec<serde_json::Value>),
}

impl ColumnBuilder {
    pub(crate) fn new(kind: Kind, data_type: &DataType, rows: usize, avg_bytes: usize) -> Self {
        match kind {
            Kind::Utf8 => Self::Utf8(StringBuilder::with_capacity(rows, rows * avg_bytes / 8)),
            Kind::Int64 => Self::Int64(Int64Builder::with_capacity(rows)),
            Kind::Int32 => Self::Int32(Int32Builder::with_capacity(rows)),
            Kind::Float64 => Self::Float64(Float64Builder::with_capacity(rows)),
            Kind::Boolean => Self::Boolean(BooleanBuilder::with_capacity(rows)),
            Kind::Timestamp => Self::Timestamp(
                TimestampMicrosecondBuilder::with_capacity(rows).with_data_type(data_type.clone()),
            ),
            Kind::Date32 => Self::Date32(Date32Builder::with_capacity(rows)),
            Kind::Decimal(..) => Self::Decimal(
                Decimal128Builder::with_capacity(rows).with_data_type(data_type.clone()),
            ),
            Kind::Nested => Self::Nested(data_type.clone(), Vec::with_capacity(rows)),
        }
    }

    /// Appends a slot; the field visitor only makes slots of the column's kind.
    pub(crate) fn append(&mut self, slot: Slot<'_>) {
        match (self, slot) {
            (Self::Utf8(b), Slot::Str(s)) => b.append_value(s),
            (Self::Int64(b), Slot::Int(v)) => b.append_value(v),
            (Self::Int32(b), Slot::Int(v)) => b.append_value(v as i32),
            (Self::Float64(b), Slot::Float(v)) => b.append_value(v),
            (Self::Boolean(b), Slot::Bool(v)) => b.append_value(v),
            (Self::Timestamp(b), Slot::Int(v)) => b.append_value(v),
            (Self::Date32(b), Slot::Int(v)) => b.append_value(v as i32),
            (Self::Decimal(b), Slot::Dec(v)) => b.append_value(v),
            (Self::Nested(_, values), Slot::Json(v)) => values.push(v),
            (this, _) => this.append_null(),
        }
    }

    pub(crate) fn append_null(&mut self) {
        match self {
            Self::Utf8(b) => b.append_null(),
            Self::Int64(b) => b.append_null(),
            Self::Int32(b) => b.append_null(),
            Self::Float64(b) => b.append_null(),
            Self::Boolean(b) => b.append_null(),
            Self::Timestamp(b) => b.append_null(),
            Self::Date32(b) => b.append_null(),
            Self::Decimal(b) => b.append_null(),
            Self::Nested(_, values) => values.push(serde_json::Value::Null),
        }
    }

    pub(crate) fn finish(&mut self) -> Result<ArrayRef, ArrowError> {
        Ok(match self {
            Self::Utf8(b) => Arc::new(b.finish()),
            Self::Int64(b) => Arc::new(b.finish()),
            Self::Int32(b) => Arc::new(b.finish()),
            Self::Float64(b) => Arc::new(b.finish()),
            Self::Boolean(b) => Arc::new(b.finish()),
            Self::Timestamp(b) => Arc::new(b.finish()),
            Self::Date32(b) => Arc::new(b.finish()),
            Self::Decimal(b) => Arc::new(b.finish()),
            Self::Nested(data_type, values) => nested::build(&std::mem::take(values), data_type)?,
        })
    }
}
