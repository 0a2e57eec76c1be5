//! Avro records, one datum per message, into Arrow.
//!
//! The writer schema comes from a schema file (`.avsc`). Each payload is one binary Avro
//! datum of that record schema, either bare ([`AvroWire::Plain`]) or behind the Confluent
//! framing ([`AvroWire::Confluent`]: a zero magic byte and a 4-byte schema id, which is
//! skipped; the file must hold the schema the producer wrote with).
//!
//! Target fields are looked up by name in the record. A field missing from the writer schema
//! must be nullable (it reads as null); a field whose Avro type cannot become the target type
//! is an error when the decoder is built, not a dead letter per record. Accepted types:
//!
//! | target | Avro |
//! |---|---|
//! | string | string, enum (its symbol), uuid |
//! | long | long, int |
//! | int | int |
//! | double | double, float, int, long |
//! | boolean | boolean |
//! | timestamp | timestamp-millis/-micros/-nanos, local-timestamp-*, long (epoch ms) |
//! | date | date |
//!
//! A union with `null` is a nullable value. A payload that does not decode (truncated,
//! bad framing, trailing bytes, a null for a required field) becomes a `parse_error` dead
//! letter whose payload is written as base64.

use std::borrow::Cow;
use std::path::Path;
use std::sync::{Arc, Once};

use apache_avro::Schema as AvroSchema;
use apache_avro::types::Value;
use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use sluice_engine::decimal;

use super::column::{ColumnBuilder, Kind, Slot, decode_records};
use super::decimal::from_be_bytes;
use super::{COORDINATE_COLUMNS, FormatError, RawBatch, Result, coordinate_fields};
use crate::dead_letter::{self, EVENT_ID_COLUMN, PayloadText};

mod nested;

/// Largest allocation a single datum may ask for while decoding (a corrupt length prefix
/// must not make the decoder allocate gigabytes).
const MAX_ALLOCATION: usize = 64 << 20;

/// How an Avro datum sits in a message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AvroWire {
    /// The message is the bare binary datum.
    #[default]
    Plain,
    /// Confluent Schema Registry framing: magic byte `0`, a 4-byte big-endian schema id,
    /// then the datum. The id is not looked up.
    Confluent,
}

/// Avro settings of a job's source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct AvroConfig {
    /// The writer schema (`.avsc`, JSON); a relative path is taken from the job file's
    /// directory.
    pub schema_file: std::path::PathBuf,
    /// How the datum sits in a message.
    #[serde(default)]
    pub wire: AvroWire,
}

/// Decodes Avro messages into a target schema's fields.
#[derive(Debug)]
pub struct AvroDecoder {
    writer: AvroSchema,
    wire: AvroWire,
    schema: SchemaRef,
    output: SchemaRef,
    /// Per target field: its position in the writer record, and its kind.
    columns: Vec<(Option<usize>, Kind)>,
    names: Vec<String>,
    nullable: Vec<bool>,
    event_id: Option<usize>,
}

impl AvroDecoder {
    /// Reads the writer schema from `config.schema_file` and checks `schema` against it.
    ///
    /// # Errors
    /// [`FormatError::Avro`] if the file cannot be read or parsed, is not a record schema, or
    /// a target field is missing (and not nullable) or has an incompatible type;
    /// [`FormatError::UnsupportedType`] / [`FormatError::ReservedColumn`] for bad targets.
    pub fn from_config(config: &AvroConfig, schema: SchemaRef) -> Result<Self> {
        let text = std::fs::read_to_string(&config.schema_file).map_err(|e| {
            FormatError::Avro(format!(
                "reading schema file {}: {e}",
                config.schema_file.display()
            ))
        })?;
        Self::try_new(&text, config.wire, schema, &config.schema_file)
    }

    /// A decoder for the writer schema `avsc` (JSON text); `origin` names it in errors.
    ///
    /// # Errors
    /// As [`from_config`](Self::from_config).
    pub fn try_new(avsc: &str, wire: AvroWire, schema: SchemaRef, origin: &Path) -> Result<Self> {
        static LIMIT: Once = Once::new();
        LIMIT.call_once(|| {
            apache_avro::util::max_allocation_bytes(MAX_ALLOCATION);
        });
        let origin = origin.display();
        let writer = AvroSchema::parse_str(avsc)
            .map_err(|e| FormatError::Avro(format!("schema file {origin}: {e}")))?;
        let AvroSchema::Record(record) = &writer else {
            return Err(FormatError::Avro(format!(
                "schema file {origin}: the top-level schema must be a record"
            )));
        };
        let mut columns = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            let Some(kind) = Kind::of(field.data_type()) else {
                return Err(FormatError::UnsupportedType {
                    field: field.name().clone(),
                    data_type: field.data_type().clone(),
                    format: "avro",
                });
            };
            if COORDINATE_COLUMNS.contains(&field.name().as_str()) {
                return Err(FormatError::ReservedColumn(field.name().clone()));
            }
            let position = record.lookup.get(field.name()).copied();
            match position {
                None if !field.is_nullable() => {
                    return Err(FormatError::Avro(format!(
                        "field {:?} is not in the record {} of {origin} (make it nullable to read nulls)",
                        field.name(),
                        record.name
                    )));
                }
                None => {}
                Some(p) => {
                    let avro = &record.fields[p].schema;
                    let fits = match kind {
                        Kind::Nested => nested::fits(avro, field.data_type()),
                        kind => accepts(kind, avro),
                    };
                    if !fits {
                        return Err(FormatError::Avro(format!(
                            "field {:?}: Avro type {} cannot be read as {} ({origin})",
                            field.name(),
                            type_name(avro),
                            field.data_type()
                        )));
                    }
                }
            }
            columns.push((position, kind));
        }
        let mut out: Vec<_> = schema.fields().iter().cloned().collect();
        out.extend(coordinate_fields());
        let event_id = schema.fields().iter().position(|f| {
            f.name() == EVENT_ID_COLUMN && f.data_type() == &arrow::datatypes::DataType::Utf8
        });
        Ok(Self {
            writer,
            wire,
            names: schema.fields().iter().map(|f| f.name().clone()).collect(),
            nullable: schema.fields().iter().map(|f| f.is_nullable()).collect(),
            output: Arc::new(Schema::new(out)),
            schema,
            columns,
            event_id,
        })
    }

    /// The schema of good rows: the target fields, then the coordinate columns.
    pub fn output_schema(&self) -> &SchemaRef {
        &self.output
    }

    /// Decodes `raw`, message by message; bad messages become `parse_error` dead letters.
    ///
    /// # Errors
    /// Only if building the Arrow batch fails.
    pub fn decode(&self, raw: &RawBatch, epoch: u64) -> Result<(RecordBatch, RecordBatch)> {
        let builders = self
            .schema
            .fields()
            .iter()
            .zip(&self.columns)
            .map(|(f, (_, kind))| ColumnBuilder::new(*kind, f.data_type(), raw.len(), 16))
            .collect();
        let (rows, failures) = decode_records(
            raw,
            builders,
            Slot::Null,
            self.event_id,
            &self.output,
            |p, s| self.parse(p, s),
        )?;
        let dead = dead_letter::parse_errors_as(raw, &failures, epoch, PayloadText::Base64);
        Ok((rows, dead))
    }

    fn parse(&self, payload: &[u8], slots: &mut [Slot<'_>]) -> Result<(), String> {
        slots.fill(Slot::Null);
        let mut datum = match self.wire {
            AvroWire::Plain => payload,
            AvroWire::Confluent => match payload {
                [0, _, _, _, _, rest @ ..] => rest,
                [0, ..] => return Err("Confluent framing: message shorter than 5 bytes".into()),
                _ => return Err("Confluent framing: the first byte is not the magic 0".into()),
            },
        };
        let total = datum.len();
        let value = apache_avro::from_avro_datum(&self.writer, &mut datum, None)
            .map_err(|e| format!("invalid Avro datum: {e}"))?;
        if !datum.is_empty() {
            return Err(format!(
                "invalid Avro datum: {} trailing bytes after {} decoded",
                datum.len(),
                total - datum.len()
            ));
        }
        let Value::Record(mut fields) = value else {
            return Err("invalid Avro datum: not a record".into());
        };
        for (j, (position, kind)) in self.columns.iter().enumerate() {
            let value = match position {
                Some(p) => std::mem::replace(&mut fields[*p].1, Value::Null),
                None => Value::Null,
            };
            slots[j] = if *kind == Kind::Nested {
                // An Avro array, map or record as the JSON value it reads as.
                let name = &self.names[j];
                let data_type = self.schema.field(j).data_type();
                let json =
                    nested::json(value, data_type).map_err(|e| format!("field {name:?}{e}"))?;
                Slot::nested(json, data_type).map_err(|why| format!("field {name:?}{why}"))?
            } else {
                slot(*kind, value).map_err(|got| {
                    format!(
                        "field {:?}: expected {}, got {got}",
                        self.names[j],
                        kind_name(*kind)
                    )
                })?
            };
            if matches!(slots[j], Slot::Null) && !self.nullable[j] {
                return Err(format!("field {:?}: null", self.names[j]));
            }
        }
        Ok(())
    }
}

/// The slot for `value` in a column of `kind`, or the name of what it was.
fn slot(kind: Kind, value: Value) -> Result<Slot<'static>, &'static str> {
    Ok(match (kind, value) {
        (_, Value::Union(_, inner)) => return slot(kind, *inner),
        (_, Value::Null) => Slot::Null,
        (Kind::Utf8, Value::String(s) | Value::Enum(_, s)) => Slot::Str(Cow::Owned(s)),
        (Kind::Utf8, Value::Uuid(u)) => Slot::Str(Cow::Owned(u.to_string())),
        (Kind::Int64 | Kind::Int32, Value::Int(v)) => Slot::Int(i64::from(v)),
        (Kind::Int64, Value::Long(v)) => Slot::Int(v),
        (Kind::Float64, Value::Double(v)) => Slot::Float(v),
        (Kind::Float64, Value::Float(v)) => Slot::Float(f64::from(v)),
        (Kind::Float64, Value::Int(v)) => Slot::Float(f64::from(v)),
        (Kind::Float64, Value::Long(v)) => Slot::Float(v as f64),
        (Kind::Boolean, Value::Boolean(v)) => Slot::Bool(v),
        (Kind::Timestamp, Value::TimestampMicros(v) | Value::LocalTimestampMicros(v)) => {
            Slot::Int(v)
        }
        (
            Kind::Timestamp,
            Value::TimestampMillis(v) | Value::LocalTimestampMillis(v) | Value::Long(v),
        ) => Slot::Int(v.checked_mul(1000).ok_or("a timestamp out of range")?),
        (Kind::Timestamp, Value::TimestampNanos(v) | Value::LocalTimestampNanos(v)) => {
            Slot::Int(v.div_euclid(1000))
        }
        (Kind::Date32, Value::Date(d)) => Slot::Int(i64::from(d)),
        // The writer's scale is the column's (checked when the decoder is built).
        (Kind::Decimal(p, _), Value::Decimal(d)) => match <Vec<u8>>::try_from(&d) {
            Ok(bytes) if bytes.len() <= 16 => {
                let v = from_be_bytes(&bytes);
                if !decimal::fits(v, p) {
                    return Err("a decimal with more digits than the column's precision");
                }
                Slot::Dec(v)
            }
            _ => return Err("a decimal of more than 38 digits"),
        },
        (Kind::Decimal(p, s), Value::Int(v)) => Slot::Dec(
            decimal::from_integer(i128::from(v), p, s)
                .map_err(|_| "an int with more digits than the column's precision")?,
        ),
        (Kind::Decimal(p, s), Value::Long(v)) => Slot::Dec(
            decimal::from_integer(i128::from(v), p, s)
                .map_err(|_| "a long with more digits than the column's precision")?,
        ),
        (_, other) => return Err(value_name(&other)),
    })
}

/// Whether values of Avro type `avro` can fill a column of `kind`.
fn accepts(kind: Kind, avro: &AvroSchema) -> bool {
    match avro {
        AvroSchema::Union(u) => u
            .variants()
            .iter()
            .any(|v| !matches!(v, AvroSchema::Null) && accepts(kind, v)),
        AvroSchema::String | AvroSchema::Enum(_) | AvroSchema::Uuid => kind == Kind::Utf8,
        AvroSchema::Int => matches!(
            kind,
            Kind::Int64 | Kind::Int32 | Kind::Float64 | Kind::Decimal(..)
        ),
        AvroSchema::Long => matches!(
            kind,
            Kind::Int64 | Kind::Float64 | Kind::Timestamp | Kind::Decimal(..)
        ),
        AvroSchema::Float | AvroSchema::Double => kind == Kind::Float64,
        AvroSchema::Boolean => kind == Kind::Boolean,
        AvroSchema::TimestampMillis
        | AvroSchema::TimestampMicros
        | AvroSchema::TimestampNanos
        | AvroSchema::LocalTimestampMillis
        | AvroSchema::LocalTimestampMicros
        | AvroSchema::LocalTimestampNanos => kind == Kind::Timestamp,
        AvroSchema::Date => kind == Kind::Date32,
        AvroSchema::Decimal(d) => {
            matches!(kind, Kind::Decimal(_, scale) if usize::from(scale) == d.scale)
        }
        _ => false,
    }
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Utf8 => "string",
        Kind::Int64 => "long",
        Kind::Int32 => "int",
        Kind::Float64 => "double",
        Kind::Boolean => "boolean",
        Kind::Timestamp => "timestamp",
        Kind::Date32 => "date",
        Kind::Decimal(..) => "decimal",
        Kind::Nested => "array or record",
    }
}

fn type_name(schema: &AvroSchema) -> String {
    match schema {
        AvroSchema::Union(u) => {
            let names: Vec<String> = u.variants().iter().map(type_name).collect();
            format!("[{}]", names.join(", "))
        }
        other => {
            let json = serde_json::to_value(other).unwrap_or_default();
            match json {
                serde_json::Value::String(s) => s,
                serde_json::Value::Object(o) => o
                    .get("logicalType")
                    .or_else(|| o.get("type"))
                    .map_or_else(|| "complex".into(), |t| t.to_string().replace('"', "")),
                _ => "complex".into(),
            }
        }
    }
}

fn value_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Boolean(_) => "boolean",
        Value::Int(_) => "int",
        Value::Long(_) => "long",
        Value::Float(_) => "float",
        Value::Double(_) => "double",
        Value::Bytes(_) => "bytes",
        Value::String(_) => "string",
        Value::Fixed(..) => "fixed",
        Value::Enum(..) => "enum",
        Value::Union(..) => "union",
        Value::Array(_) => "array",
        Value::Map(_) => "map",
        Value::Record(_) => "record",
        Value::Date(_) => "date",
        Value::TimestampMillis(_) | Value::TimestampMicros(_) | Value::TimestampNanos(_) => {
            "timestamp"
        }
        _ => "another logical type",
    }
}

#[cfg(test)]
mod tests {
    use apache_avro::types::Record;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{
        DataType, Decimal128Type, Field, Float64Type, Int64Type, TimeUnit, TimestampMicrosecondType,
    };

    use super::*;
    use crate::format::RawBatchBuilder;

    const AVSC: &str = r#"{
        "type": "record", "name": "Reading", "fields": [
            {"name": "device", "type": "string"},
            {"name": "seq", "type": "long"},
            {"name": "temp", "type": ["null", "double"], "default": null},
            {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}}
        ]}"#;

    fn target() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("device", DataType::Utf8, false),
            Field::new("seq", DataType::Int64, false),
            Field::new("temp", DataType::Float64, true),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("kind", DataType::Utf8, true),
            Field::new("absent", DataType::Utf8, true),
        ]))
    }

    fn datum(device: &str, seq: i64, temp: Option<f64>) -> Vec<u8> {
        let schema = AvroSchema::parse_str(AVSC).unwrap();
        let mut r = Record::new(&schema).unwrap();
        r.put("device", device);
        r.put("seq", seq);
        r.put(
            "temp",
            match temp {
                Some(t) => Value::Union(1, Box::new(Value::Double(t))),
                None => Value::Union(0, Box::new(Value::Null)),
            },
        );
        r.put("at", Value::TimestampMillis(1_700_000_000_000 + seq));
        r.put("kind", Value::Enum(1, "B".into()));
        apache_avro::to_avro_datum(&schema, r).unwrap()
    }

    #[test]
    fn decodes_fields_and_routes_bad_messages() {
        let d = AvroDecoder::try_new(AVSC, AvroWire::Plain, target(), Path::new("t.avsc")).unwrap();
        let good = datum("d1", 7, Some(21.5));
        let mut raw = RawBatchBuilder::with_capacity("topic", 3, 4, 64);
        raw.push(10, &good);
        raw.push(11, &datum("d2", 8, None));
        raw.push(12, &good[..good.len() - 3]); // truncated
        let mut trailing = good.clone();
        trailing.push(0);
        raw.push(13, &trailing);
        let (rows, dead) = d.decode(&raw.finish(), 5).unwrap();
        assert_eq!(rows.num_rows(), 2);
        assert_eq!(rows.column(0).as_string::<i32>().value(1), "d2");
        assert_eq!(rows.column(1).as_primitive::<Int64Type>().value(0), 7);
        let temp = rows.column(2).as_primitive::<Float64Type>();
        assert_eq!((temp.value(0), temp.is_null(1)), (21.5, true));
        assert_eq!(
            rows.column(3)
                .as_primitive::<TimestampMicrosecondType>()
                .value(0),
            (1_700_000_000_000 + 7) * 1000
        );
        assert_eq!(rows.column(4).as_string::<i32>().value(0), "B");
        assert!(rows.column(5).is_null(0));
        let offsets = rows.column_by_name("offset").unwrap();
        assert_eq!(offsets.as_primitive::<Int64Type>().values(), &[10, 11]);
        assert_eq!(dead.num_rows(), 2);
        let dead_offsets = dead.column_by_name("offset").unwrap();
        assert_eq!(dead_offsets.as_primitive::<Int64Type>().values(), &[12, 13]);
        let errors = dead.column_by_name("error").unwrap().as_string::<i32>();
        assert!(
            errors.value(0).starts_with("invalid Avro datum"),
            "{}",
            errors.value(0)
        );
        assert!(
            errors.value(1).contains("1 trailing bytes"),
            "{}",
            errors.value(1)
        );
        let payload = dead.column_by_name("payload").unwrap().as_string::<i32>();
        use base64::Engine as _;
        let back = base64::engine::general_purpose::STANDARD
            .decode(payload.value(1).strip_prefix("base64:").unwrap())
            .unwrap();
        assert_eq!(back, trailing);
    }

    #[test]
    fn confluent_framing_is_checked_and_stripped() {
        let d =
            AvroDecoder::try_new(AVSC, AvroWire::Confluent, target(), Path::new("t.avsc")).unwrap();
        let mut framed = vec![0, 0, 0, 0, 42];
        framed.extend(datum("d1", 1, Some(1.0)));
        let mut raw = RawBatchBuilder::with_capacity("t", 0, 3, 64);
        raw.push(0, &framed);
        raw.push(1, &framed[5..]); // the bare datum: no magic byte
        raw.push(2, &[0, 1]);
        let (rows, dead) = d.decode(&raw.finish(), 0).unwrap();
        assert_eq!(rows.num_rows(), 1);
        let errors = dead.column_by_name("error").unwrap().as_string::<i32>();
        assert!(errors.value(0).contains("magic"), "{}", errors.value(0));
        assert!(errors.value(1).contains("shorter"), "{}", errors.value(1));
    }

    #[test]
    fn schema_mismatches_are_errors_up_front() {
        let wrong_type = Arc::new(Schema::new(vec![Field::new(
            "device",
            DataType::Int64,
            true,
        )]));
        let e = AvroDecoder::try_new(AVSC, AvroWire::Plain, wrong_type, Path::new("t.avsc"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"device\"") && e.contains("string"), "{e}");
        let missing = Arc::new(Schema::new(vec![Field::new("nope", DataType::Utf8, false)]));
        let e = AvroDecoder::try_new(AVSC, AvroWire::Plain, missing, Path::new("t.avsc"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"nope\" is not in the record"), "{e}");
        let e = AvroDecoder::try_new("{nope", AvroWire::Plain, target(), Path::new("bad.avsc"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad.avsc"), "{e}");
    }

    #[test]
    fn arrays_maps_and_records_fill_nested_columns() {
        use arrow::datatypes::Fields;

        let avsc = r#"{"type": "record", "name": "Order", "fields": [
            {"name": "lines", "type": {"type": "array", "items": {"type": "record",
                "name": "Line", "fields": [{"name": "sku", "type": "string"},
                                           {"name": "qty", "type": "long"}]}}},
            {"name": "attrs", "type": ["null", {"type": "map", "values": "long"}]},
            {"name": "tags", "type": {"type": "array", "items": "string"}}
        ]}"#;
        let schema = AvroSchema::parse_str(avsc).unwrap();
        let line = |sku: &str, qty: i64| {
            Value::Record(vec![
                ("sku".into(), Value::String(sku.into())),
                ("qty".into(), Value::Long(qty)),
            ])
        };
        let order = |attrs: Option<Vec<(&str, i64)>>, tags: &[&str]| {
            let mut r = Record::new(&schema).unwrap();
            r.put("lines", Value::Array(vec![line("a", 2), line("b", 1)]));
            r.put(
                "attrs",
                match attrs {
                    Some(kv) => Value::Union(
                        1,
                        Box::new(Value::Map(
                            kv.into_iter()
                                .map(|(k, v)| (k.to_owned(), Value::Long(v)))
                                .collect(),
                        )),
                    ),
                    None => Value::Union(0, Box::new(Value::Null)),
                },
            );
            r.put(
                "tags",
                Value::Array(tags.iter().map(|t| Value::String((*t).into())).collect()),
            );
            apache_avro::to_avro_datum(&schema, r).unwrap()
        };
        let item = Fields::from(vec![
            Field::new("sku", DataType::Utf8, true),
            Field::new("qty", DataType::Int64, true),
        ]);
        let entries = DataType::Struct(Fields::from(vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("value", DataType::Int64, true),
        ]));
        let target = |tags: DataType| {
            Arc::new(Schema::new(vec![
                Field::new(
                    "lines",
                    DataType::new_list(DataType::Struct(item.clone()), true),
                    true,
                ),
                Field::new(
                    "attrs",
                    DataType::Map(
                        Arc::new(Field::new("entries", entries.clone(), false)),
                        false,
                    ),
                    true,
                ),
                Field::new("tags", DataType::new_list(tags, true), true),
            ]))
        };
        let d = AvroDecoder::try_new(
            avsc,
            AvroWire::Plain,
            target(DataType::Utf8),
            Path::new("o.avsc"),
        )
        .unwrap();
        let mut raw = RawBatchBuilder::with_capacity("topic", 0, 2, 64);
        raw.push(0, &order(Some(vec![("x", 1)]), &["t1", "t2"]));
        raw.push(1, &order(None, &[]));
        let (rows, dead) = d.decode(&raw.finish(), 0).unwrap();
        assert_eq!((rows.num_rows(), dead.num_rows()), (2, 0));
        let lines = rows.column(0).as_list::<i32>();
        let first = lines.value(0);
        let skus = first.as_struct().column(0).as_string::<i32>();
        assert_eq!((skus.value(0), skus.value(1)), ("a", "b"));
        let attrs = rows.column(1).as_map();
        assert_eq!((attrs.value_length(0), attrs.is_null(1)), (1, true));
        assert_eq!(rows.column(2).as_list::<i32>().value_length(0), 2);

        // Strings where the column holds integers: each such datum is a dead letter.
        let d = AvroDecoder::try_new(
            avsc,
            AvroWire::Plain,
            target(DataType::Int64),
            Path::new("o.avsc"),
        )
        .unwrap();
        let mut raw = RawBatchBuilder::with_capacity("topic", 0, 2, 64);
        raw.push(0, &order(None, &["t1"]));
        raw.push(1, &order(None, &[]));
        let (rows, dead) = d.decode(&raw.finish(), 0).unwrap();
        assert_eq!(rows.num_rows(), 1);
        let errors = dead.column_by_name("error").unwrap().as_string::<i32>();
        assert_eq!(
            errors.value(0),
            "field \"tags\"[0]: expected an integer, got string"
        );
        // An array where the column is a struct: refused when the decoder is built.
        let wrong = Arc::new(Schema::new(vec![Field::new(
            "tags",
            DataType::Struct(item.clone()),
            true,
        )]));
        let e = AvroDecoder::try_new(avsc, AvroWire::Plain, wrong, Path::new("o.avsc"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"tags\""), "{e}");
    }

    /// Timestamps, dates and decimals inside records keep their values: an Avro
    /// timestamp's microseconds are not read as a JSON number's milliseconds.
    #[test]
    fn timestamps_dates_and_decimals_inside_records_keep_their_values() {
        use arrow::datatypes::{Date32Type, Fields, TimeUnit, TimestampMicrosecondType};

        let avsc = r#"{"type": "record", "name": "Batch", "fields": [
            {"name": "events", "type": {"type": "array", "items": {"type": "record",
                "name": "Event", "fields": [
                    {"name": "at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
                    {"name": "day", "type": {"type": "int", "logicalType": "date"}},
                    {"name": "price", "type": ["null", {"type": "bytes",
                        "logicalType": "decimal", "precision": 6, "scale": 2}]}]}}}
        ]}"#;
        let schema = AvroSchema::parse_str(avsc).unwrap();
        let event = |us: i64, day: i32, cents: Option<i64>| {
            Value::Record(vec![
                ("at".into(), Value::TimestampMicros(us)),
                ("day".into(), Value::Date(day)),
                (
                    "price".into(),
                    match cents {
                        Some(c) => Value::Union(
                            1,
                            Box::new(Value::Decimal(apache_avro::Decimal::from(
                                c.to_be_bytes().to_vec(),
                            ))),
                        ),
                        None => Value::Union(0, Box::new(Value::Null)),
                    },
                ),
            ])
        };
        let mut r = Record::new(&schema).unwrap();
        r.put(
            "events",
            Value::Array(vec![
                event(1_767_225_601_123_456, 20_455, Some(-1_250)),
                event(-1, -1, None),
            ]),
        );
        let datum = apache_avro::to_avro_datum(&schema, r).unwrap();
        let target = |price: DataType| {
            let event = Fields::from(vec![
                Field::new(
                    "at",
                    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                    true,
                ),
                Field::new("day", DataType::Date32, true),
                Field::new("price", price, true),
            ]);
            Arc::new(Schema::new(vec![Field::new(
                "events",
                DataType::new_list(DataType::Struct(event), true),
                true,
            )]))
        };
        let d = AvroDecoder::try_new(
            avsc,
            AvroWire::Plain,
            target(DataType::Decimal128(6, 2)),
            Path::new("b.avsc"),
        )
        .unwrap();
        let mut raw = RawBatchBuilder::with_capacity("topic", 0, 1, 64);
        raw.push(0, &datum);
        let (rows, dead) = d.decode(&raw.finish(), 0).unwrap();
        assert_eq!((rows.num_rows(), dead.num_rows()), (1, 0));
        let events = rows.column(0).as_list::<i32>().value(0);
        let events = events.as_struct();
        let at = events.column(0).as_primitive::<TimestampMicrosecondType>();
        assert_eq!(at.values(), &[1_767_225_601_123_456, -1]);
        let day = events.column(1).as_primitive::<Date32Type>();
        assert_eq!(day.values(), &[20_455, -1]);
        let price = events.column(2).as_primitive::<Decimal128Type>();
        assert_eq!((price.value(0), price.is_null(1)), (-1_250, true));
        // A decimal of another scale inside would need rescaling: refused when built.
        let e = AvroDecoder::try_new(
            avsc,
            AvroWire::Plain,
            target(DataType::Decimal128(12, 3)),
            Path::new("b.avsc"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("\"events\""), "{e}");
    }

    #[test]
    fn decimals_of_the_column_s_scale_and_integers_fill_a_decimal_column() {
        let avsc = r#"{"type": "record", "name": "Sale", "fields": [
            {"name": "price", "type": {"type": "bytes", "logicalType": "decimal",
                                       "precision": 12, "scale": 2}},
            {"name": "qty", "type": "long"}
        ]}"#;
        let schema = AvroSchema::parse_str(avsc).unwrap();
        let sale = |cents: i64, qty: i64| {
            let mut r = Record::new(&schema).unwrap();
            r.put(
                "price",
                Value::Decimal(apache_avro::Decimal::from(cents.to_be_bytes().to_vec())),
            );
            r.put("qty", qty);
            apache_avro::to_avro_datum(&schema, r).unwrap()
        };
        let target = Arc::new(Schema::new(vec![
            Field::new("price", DataType::Decimal128(6, 2), false),
            Field::new("qty", DataType::Decimal128(6, 2), false),
        ]));
        let d = AvroDecoder::try_new(avsc, AvroWire::Plain, target, Path::new("t.avsc")).unwrap();
        let mut raw = RawBatchBuilder::with_capacity("topic", 0, 3, 64);
        raw.push(0, &sale(-1_250, 3));
        raw.push(1, &sale(100_000_000, 3)); // 1000000.00: more than 6 digits
        raw.push(2, &sale(5, 10_000)); // a quantity of 10000.00: more than 6 digits
        let (rows, dead) = d.decode(&raw.finish(), 0).unwrap();
        let price = rows.column(0).as_primitive::<Decimal128Type>();
        let qty = rows.column(1).as_primitive::<Decimal128Type>();
        assert_eq!((price.value(0), qty.value(0)), (-1_250, 300));
        assert_eq!(price.data_type(), &DataType::Decimal128(6, 2));
        let errors = dead.column_by_name("error").unwrap().as_string::<i32>();
        let errors: Vec<&str> = errors.iter().map(Option::unwrap).collect();
        assert_eq!(
            errors,
            [
                "field \"price\": expected decimal, got a decimal with more digits than the \
                 column's precision",
                "field \"qty\": expected decimal, got a long with more digits than the \
                 column's precision",
            ]
        );
        // Another scale would need rescaling: refused when the decoder is built.
        let other_scale = Arc::new(Schema::new(vec![Field::new(
            "price",
            DataType::Decimal128(12, 3),
            false,
        )]));
        let e = AvroDecoder::try_new(avsc, AvroWire::Plain, other_scale, Path::new("t.avsc"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"price\""), "{e}");
    }
}
