//! Avro object container files: the writer schema in each file's header gives the columns,
//! records are appended to Arrow builders, then converted to the source's schema. The
//! `offset` of a row is its 0-based index in the file.
//!
//! Avro types become these Arrow types (a union with `null` is a nullable value):
//!
//! | Avro | Arrow |
//! |---|---|
//! | boolean, int, long, float, double | Boolean, Int32, Int64, Float32, Float64 |
//! | string, enum, uuid | Utf8 |
//! | bytes, fixed | Binary |
//! | date | Date32 |
//! | time-millis, time-micros | Time32(ms), Time64(µs) |
//! | timestamp-millis/-micros (local-*) | Timestamp(µs, UTC) (no zone) |
//! | timestamp-nanos (local-*) | Timestamp(ns, UTC) (no zone) |
//! | decimal of precision ≤ 38 | Decimal128 |
//! | array, map, record, other unions, duration, named references | Utf8 holding JSON |

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use apache_avro::Schema as AvroSchema;
use apache_avro::types::Value;
use arrow::array::{
    ArrayBuilder, ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder,
    Float32Builder, Float64Builder, Int32Builder, Int64Builder, StringBuilder,
    Time32MillisecondBuilder, Time64MicrosecondBuilder, TimestampMicrosecondBuilder,
    TimestampNanosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;

use crate::format::decimal;

use super::convert::{Conformed, Decoded, conform, row_dead_letters};
use super::error::{FileError, Result};

fn open(path: &Path) -> Result<apache_avro::Reader<'static, BufReader<File>>> {
    let file = File::open(path).map_err(|e| FileError::io(path, e))?;
    apache_avro::Reader::new(BufReader::new(file))
        .map_err(|e| FileError::corrupt(path, format!("not an Avro object container file: {e}")))
}

/// The Arrow schema of the Avro container file at `path`.
///
/// # Errors
/// When the file cannot be opened, has no valid header, or its schema is not a record.
pub(crate) fn avro_schema(path: &Path) -> Result<Schema> {
    arrow_schema(open(path)?.writer_schema()).map_err(|m| FileError::corrupt(path, m))
}

/// The Arrow schema of a record schema.
fn arrow_schema(schema: &AvroSchema) -> std::result::Result<Schema, String> {
    let AvroSchema::Record(record) = schema else {
        return Err("the file's schema is not a record".into());
    };
    Ok(Schema::new(
        record
            .fields
            .iter()
            .map(|f| {
                let (data_type, nullable) = arrow_type(&f.schema);
                Field::new(&f.name, data_type, nullable)
            })
            .collect::<Vec<_>>(),
    ))
}

/// The Arrow type of an Avro field, and whether it is nullable.
fn arrow_type(schema: &AvroSchema) -> (DataType, bool) {
    let utc = || Some(Arc::from("UTC"));
    let data_type = match schema {
        AvroSchema::Null | AvroSchema::String | AvroSchema::Enum(_) | AvroSchema::Uuid => {
            DataType::Utf8
        }
        AvroSchema::Boolean => DataType::Boolean,
        AvroSchema::Int => DataType::Int32,
        AvroSchema::Long => DataType::Int64,
        AvroSchema::Float => DataType::Float32,
        AvroSchema::Double => DataType::Float64,
        AvroSchema::Bytes | AvroSchema::Fixed(_) => DataType::Binary,
        AvroSchema::Date => DataType::Date32,
        AvroSchema::TimeMillis => DataType::Time32(TimeUnit::Millisecond),
        AvroSchema::TimeMicros => DataType::Time64(TimeUnit::Microsecond),
        AvroSchema::TimestampMillis | AvroSchema::TimestampMicros => {
            DataType::Timestamp(TimeUnit::Microsecond, utc())
        }
        AvroSchema::TimestampNanos => DataType::Timestamp(TimeUnit::Nanosecond, utc()),
        AvroSchema::LocalTimestampMillis | AvroSchema::LocalTimestampMicros => {
            DataType::Timestamp(TimeUnit::Microsecond, None)
        }
        AvroSchema::LocalTimestampNanos => DataType::Timestamp(TimeUnit::Nanosecond, None),
        AvroSchema::Decimal(d) if (1..=38).contains(&d.precision) && d.scale <= d.precision => {
            DataType::Decimal128(d.precision as u8, d.scale as i8)
        }
        AvroSchema::Union(union) => {
            let others: Vec<&AvroSchema> = union
                .variants()
                .iter()
                .filter(|s| !matches!(s, AvroSchema::Null))
                .collect();
            return match others.as_slice() {
                [one] => (arrow_type(one).0, true),
                _ => (DataType::Utf8, true),
            };
        }
        _ => DataType::Utf8,
    };
    (data_type, matches!(schema, AvroSchema::Null))
}

/// Reads the Avro container file at `path` (rows named `source`) into `target`, the
/// columns the job reads of `full`, the source's: when it reads fewer, only their fields
/// become columns (each datum is still decoded whole), and a dead letter's payload holds
/// those; else every field of the file, for whole records in the dead letters.
///
/// # Errors
/// When the file cannot be read (bad header, corrupt block), or its columns cannot be
/// converted to `target`.
pub(crate) fn read_avro(
    path: &Path,
    source: &str,
    (target, full): (&SchemaRef, &SchemaRef),
    epoch: u64,
) -> Result<Decoded> {
    let reader = open(path)?;
    let written = arrow_schema(reader.writer_schema()).map_err(|m| FileError::corrupt(path, m))?;
    let narrowed = target.fields().len() < full.fields().len();
    let read: Vec<bool> = written
        .fields()
        .iter()
        .map(|f| !narrowed || target.field_with_name(f.name()).is_ok())
        .collect();
    let natural = Arc::new(Schema::new(
        written
            .fields()
            .iter()
            .zip(&read)
            .filter(|(_, read)| **read)
            .map(|(f, _)| Arc::clone(f))
            .collect::<Vec<_>>(),
    ));
    let mut columns: Vec<Column> = natural
        .fields()
        .iter()
        .map(|f| Column::new(f.data_type()))
        .collect();
    let mut rows = 0usize;
    for value in reader {
        let value = value.map_err(|e| FileError::corrupt(path, format!("record {rows}: {e}")))?;
        let Value::Record(fields) = value else {
            return Err(FileError::corrupt(
                path,
                format!("record {rows} is not a record"),
            ));
        };
        let values = fields.into_iter().zip(&read).filter(|(_, read)| **read);
        for (column, ((_, value), _)) in columns.iter_mut().zip(values) {
            column.append(value);
        }
        rows += 1;
    }
    let arrays: Vec<ArrayRef> = columns.iter_mut().map(Column::finish).collect();
    let batch = RecordBatch::try_new_with_options(
        natural,
        arrays,
        &arrow::array::RecordBatchOptions::new().with_row_count(Some(rows)),
    )?;
    let offsets: Vec<i64> = (0..rows as i64).collect();
    let Conformed {
        rows: data,
        kept,
        failures,
    } = conform(path, &batch, target)?;
    Ok(Decoded {
        data: vec![data],
        offsets: kept.iter().map(|&i| offsets[i]).collect(),
        dead: row_dead_letters(&batch, source, &offsets, &failures, epoch)?,
    })
}

/// A column being built from Avro values.
enum Column {
    Bool(BooleanBuilder),
    I32(Int32Builder),
    I64(Int64Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Bin(BinaryBuilder),
    Str(StringBuilder),
    Date(Date32Builder),
    TimeMs(Time32MillisecondBuilder),
    TimeUs(Time64MicrosecondBuilder),
    TsUs(TimestampMicrosecondBuilder),
    TsNs(TimestampNanosecondBuilder),
    Dec(Decimal128Builder),
}

impl Column {
    fn new(data_type: &DataType) -> Self {
        match data_type {
            DataType::Boolean => Self::Bool(BooleanBuilder::new()),
            DataType::Int32 => Self::I32(Int32Builder::new()),
            DataType::Int64 => Self::I64(Int64Builder::new()),
            DataType::Float32 => Self::F32(Float32Builder::new()),
            DataType::Float64 => Self::F64(Float64Builder::new()),
            DataType::Binary => Self::Bin(BinaryBuilder::new()),
            DataType::Date32 => Self::Date(Date32Builder::new()),
            DataType::Time32(_) => Self::TimeMs(Time32MillisecondBuilder::new()),
            DataType::Time64(_) => Self::TimeUs(Time64MicrosecondBuilder::new()),
            DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                Self::TsNs(TimestampNanosecondBuilder::new().with_data_type(data_type.clone()))
            }
            DataType::Timestamp(_, _) => {
                Self::TsUs(TimestampMicrosecondBuilder::new().with_data_type(data_type.clone()))
            }
            DataType::Decimal128(_, _) => {
                Self::Dec(Decimal128Builder::new().with_data_type(data_type.clone()))
            }
            // Utf8 holds strings, enums and uuids; anything else is written as JSON.
            _ => Self::Str(StringBuilder::new()),
        }
    }

    /// Appends `value`; a value that does not fit the column's type is written as JSON in
    /// a text column, and is null otherwise (the writer schema rules that out).
    fn append(&mut self, value: Value) {
        let value = match value {
            Value::Union(_, inner) => *inner,
            v => v,
        };
        match (self, value) {
            (this, Value::Null) => this.append_null(),
            (Self::Bool(b), Value::Boolean(v)) => b.append_value(v),
            (Self::I32(b), Value::Int(v)) => b.append_value(v),
            (Self::I64(b), Value::Long(v)) => b.append_value(v),
            (Self::I64(b), Value::Int(v)) => b.append_value(v.into()),
            (Self::F32(b), Value::Float(v)) => b.append_value(v),
            (Self::F64(b), Value::Double(v)) => b.append_value(v),
            (Self::F64(b), Value::Float(v)) => b.append_value(v.into()),
            (Self::Bin(b), Value::Bytes(v) | Value::Fixed(_, v)) => b.append_value(v),
            (Self::Str(b), Value::String(v) | Value::Enum(_, v)) => b.append_value(v),
            (Self::Str(b), Value::Uuid(v)) => b.append_value(v.to_string()),
            (Self::Date(b), Value::Date(v)) => b.append_value(v),
            (Self::TimeMs(b), Value::TimeMillis(v)) => b.append_value(v),
            (Self::TimeUs(b), Value::TimeMicros(v)) => b.append_value(v),
            (Self::TsUs(b), Value::TimestampMillis(v) | Value::LocalTimestampMillis(v)) => {
                b.append_value(v.saturating_mul(1000))
            }
            (Self::TsUs(b), Value::TimestampMicros(v) | Value::LocalTimestampMicros(v)) => {
                b.append_value(v)
            }
            (Self::TsNs(b), Value::TimestampNanos(v) | Value::LocalTimestampNanos(v)) => {
                b.append_value(v)
            }
            (Self::Dec(b), Value::Decimal(d)) => match <Vec<u8>>::try_from(&d) {
                Ok(bytes) if bytes.len() <= 16 => b.append_value(decimal::from_be_bytes(&bytes)),
                _ => b.append_null(),
            },
            (Self::Str(b), v) => match serde_json::Value::try_from(v) {
                Ok(json) => b.append_value(json.to_string()),
                Err(_) => b.append_null(),
            },
            (this, _) => this.append_null(),
        }
    }

    fn append_null(&mut self) {
        match self {
            Self::Bool(b) => b.append_null(),
            Self::I32(b) => b.append_null(),
            Self::I64(b) => b.append_null(),
            Self::F32(b) => b.append_null(),
            Self::F64(b) => b.append_null(),
            Self::Bin(b) => b.append_null(),
            Self::Str(b) => b.append_null(),
            Self::Date(b) => b.append_null(),
            Self::TimeMs(b) => b.append_null(),
            Self::TimeUs(b) => b.append_null(),
            Self::TsUs(b) => b.append_null(),
            Self::TsNs(b) => b.append_null(),
            Self::Dec(b) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Self::Bool(b) => ArrayBuilder::finish(b),
            Self::I32(b) => ArrayBuilder::finish(b),
            Self::I64(b) => ArrayBuilder::finish(b),
            Self::F32(b) => ArrayBuilder::finish(b),
            Self::F64(b) => ArrayBuilder::finish(b),
            Self::Bin(b) => ArrayBuilder::finish(b),
            Self::Str(b) => ArrayBuilder::finish(b),
            Self::Date(b) => ArrayBuilder::finish(b),
            Self::TimeMs(b) => ArrayBuilder::finish(b),
            Self::TimeUs(b) => ArrayBuilder::finish(b),
            Self::TsUs(b) => ArrayBuilder::finish(b),
            Self::TsNs(b) => ArrayBuilder::finish(b),
            Self::Dec(b) => ArrayBuilder::finish(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_types_become_json_text() {
        let schema = AvroSchema::parse_str(
            r#"{"type": "record", "name": "r", "fields": [
                {"name": "tags", "type": {"type": "array", "items": "string"}},
                {"name": "n", "type": ["null", "long"]},
                {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}}
            ]}"#,
        )
        .unwrap();
        let arrow = arrow_schema(&schema).unwrap();
        assert_eq!(arrow.field(0).data_type(), &DataType::Utf8);
        assert!(!arrow.field(0).is_nullable());
        assert_eq!(arrow.field(1).data_type(), &DataType::Int64);
        assert!(arrow.field(1).is_nullable());
        assert_eq!(
            arrow.field(2).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        let mut tags = Column::new(&DataType::Utf8);
        tags.append(Value::Array(vec![
            Value::String("a".into()),
            Value::String("b".into()),
        ]));
        let tags = tags.finish();
        let tags = tags
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .unwrap();
        assert_eq!(tags.value(0), r#"["a","b"]"#);
    }
}
