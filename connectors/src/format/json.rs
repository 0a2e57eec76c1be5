//! Per-record JSON decoding into Arrow.
//!
//! Each payload is parsed on its own with `serde_json`, straight into typed slots (strings
//! borrowed from the payload where they have no escapes), then appended to Arrow builders.
//! A payload that fails becomes a dead letter and never fails the batch.
//!
//! Supported target types:
//!
//! | Arrow type | JSON |
//! |---|---|
//! | Utf8 | string |
//! | Int64, Int32 | integer (in range) |
//! | Float64 | number |
//! | Boolean | `true` / `false` |
//! | Timestamp(µs, any zone) | RFC 3339 string, or integer epoch milliseconds |
//! | Date32 | `"YYYY-MM-DD"` |
//!
//! `null` or a missing key gives a null, or a parse error if the field is not nullable.
//! Unknown keys are ignored; when a key repeats, the last one wins.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::column::{ColumnBuilder, Kind, Slot, decode_records};
use super::{COORDINATE_COLUMNS, FormatError, RawBatch, Result, coordinate_fields};
use crate::dead_letter::{self, EVENT_ID_COLUMN};

mod field;

use field::FieldVisitor;

/// Above this many target fields, keys are looked up in a hash map instead of a scan.
const SCAN_FIELDS: usize = 16;

/// Decodes raw JSON records into Arrow batches of a target schema.
///
/// ```
/// use std::sync::Arc;
/// use arrow::datatypes::{DataType, Field, Schema};
/// use sluice_connectors::format::{RawBatchBuilder, json::JsonDecoder};
///
/// let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
/// let mut raw = RawBatchBuilder::with_capacity("test", 0, 2, 32);
/// raw.push(0, br#"{"n": 1, "other": [true]}"#);
/// raw.push(1, br#"{"n": "one"}"#);
/// let (good, dead) = JsonDecoder::new(schema).decode(&raw.finish(), 0).unwrap();
/// assert_eq!(good.num_rows(), 1);
/// assert_eq!(good.num_columns(), 4); // n, source, partition, offset
/// assert_eq!(dead.num_rows(), 1);
/// ```
#[derive(Debug)]
pub struct JsonDecoder {
    schema: SchemaRef,
    output: SchemaRef,
    names: Vec<String>,
    kinds: Vec<Option<Kind>>,
    nullable: Vec<bool>,
    index: Option<HashMap<String, usize>>,
    event_id: Option<usize>,
}

impl JsonDecoder {
    /// A decoder into `schema`'s fields.
    ///
    /// A schema with an unsupported type or a coordinate column name is accepted here but
    /// makes every [`decode`](Self::decode) fail; use [`try_new`](Self::try_new) to find
    /// out up front.
    pub fn new(schema: SchemaRef) -> Self {
        let fields = schema.fields();
        let names: Vec<String> = fields.iter().map(|f| f.name().clone()).collect();
        let kinds = fields.iter().map(|f| Kind::of(f.data_type())).collect();
        let nullable = fields.iter().map(|f| f.is_nullable()).collect();
        let index = (names.len() > SCAN_FIELDS).then(|| {
            let mut index = HashMap::with_capacity(names.len());
            for (i, name) in names.iter().enumerate() {
                // The first field of a name wins, as in the scan.
                index.entry(name.clone()).or_insert(i);
            }
            index
        });
        let event_id = fields
            .iter()
            .position(|f| f.name() == EVENT_ID_COLUMN && f.data_type() == &DataType::Utf8);
        let mut out_fields: Vec<_> = fields.iter().cloned().collect();
        out_fields.extend(coordinate_fields());
        let output = Arc::new(Schema::new_with_metadata(
            out_fields,
            schema.metadata().clone(),
        ));
        Self {
            schema,
            output,
            names,
            kinds,
            nullable,
            index,
            event_id,
        }
    }

    /// A decoder into `schema`'s fields, checked.
    ///
    /// # Errors
    ///
    /// [`FormatError::UnsupportedType`] for a field of a type the decoder does not support,
    /// [`FormatError::ReservedColumn`] for a field named like a coordinate column.
    pub fn try_new(schema: SchemaRef) -> Result<Self> {
        let decoder = Self::new(schema);
        decoder.check()?;
        Ok(decoder)
    }

    /// A decoder into only the fields of this one's that `columns` names: a record's other
    /// fields are skipped as it is parsed (still checked as JSON), so a value in one of
    /// them that its field's type could not take no longer makes the record a dead letter.
    pub fn narrowed(&self, columns: &[String]) -> Self {
        let kept: Vec<_> = self
            .schema
            .fields()
            .iter()
            .filter(|f| columns.contains(f.name()))
            .cloned()
            .collect();
        Self::new(Arc::new(Schema::new_with_metadata(
            kept,
            self.schema.metadata().clone(),
        )))
    }

    /// The target schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The schema of good rows: the target fields, then `source` (Utf8), `partition`
    /// (Int32) and `offset` (Int64).
    pub fn output_schema(&self) -> &SchemaRef {
        &self.output
    }

    fn check(&self) -> Result<()> {
        for (field, kind) in self.schema.fields().iter().zip(&self.kinds) {
            if kind.is_none() {
                return Err(FormatError::UnsupportedType {
                    field: field.name().clone(),
                    data_type: field.data_type().clone(),
                    format: "json",
                });
            }
            if COORDINATE_COLUMNS.contains(&field.name().as_str()) {
                return Err(FormatError::ReservedColumn(field.name().clone()));
            }
        }
        Ok(())
    }

    /// Decodes `raw`, record by record.
    ///
    /// Returns the good rows in [`output_schema`](Self::output_schema), in input order, and
    /// one dead letter (in [`dead_letter::schema`], reason `parse_error`, stamped with
    /// `epoch`) per record that is not valid JSON, not an object, has a value of the wrong
    /// type, or lacks a non-nullable field.
    ///
    /// # Errors
    ///
    /// As [`try_new`](Self::try_new) for a bad target schema;
    /// [`FormatError::LengthMismatch`] if `raw`'s offsets and payloads differ in length.
    pub fn decode(&self, raw: &RawBatch, epoch: u64) -> Result<(RecordBatch, RecordBatch)> {
        self.check()?;
        if raw.offsets.len() != raw.payloads.len() {
            return Err(FormatError::LengthMismatch {
                offsets: raw.offsets.len(),
                payloads: raw.payloads.len(),
            });
        }
        let n = raw.len();
        let avg_bytes = raw.payload_bytes() / n.max(1);
        let builders = self
            .schema
            .fields()
            .iter()
            .zip(&self.kinds)
            .filter_map(|(f, k)| k.map(|k| ColumnBuilder::new(k, f.data_type(), n, avg_bytes)))
            .collect();
        let (rows, failures) = decode_records(
            raw,
            builders,
            Slot::Missing,
            self.event_id,
            &self.output,
            |p, s| self.parse(p, s),
        )?;
        Ok((rows, dead_letter::parse_errors(raw, &failures, epoch)))
    }

    /// Parses one payload into `slots`, or says what is wrong with it.
    fn parse<'de>(&self, payload: &'de [u8], slots: &mut [Slot<'de>]) -> Result<(), String> {
        slots.fill(Slot::Missing);
        let mut error = None;
        let mut de = serde_json::Deserializer::from_slice(payload);
        let parsed = RecordSeed {
            decoder: self,
            slots: &mut *slots,
            error: &mut error,
        }
        .deserialize(&mut de)
        .and_then(|()| de.end());
        if let Err(e) = parsed {
            return Err(error.unwrap_or_else(|| format!("invalid JSON: {e}")));
        }
        for (j, slot) in slots.iter().enumerate() {
            if !self.nullable[j] {
                match slot {
                    Slot::Missing => return Err(format!("field {:?}: missing", self.names[j])),
                    Slot::Null => return Err(format!("field {:?}: null", self.names[j])),
                    _ => {}
                }
            }
        }
        Ok(())
    }

    fn lookup(&self, key: &str, hint: usize) -> Option<usize> {
        if self.names.get(hint).is_some_and(|n| n == key) {
            return Some(hint);
        }
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.names.iter().position(|n| n == key),
        }
    }
}

/// Records a message for the current record and aborts its parse.
fn reject<T, E: de::Error>(error: &mut Option<String>, message: String) -> Result<T, E> {
    *error = Some(message);
    Err(E::custom("rejected"))
}

/// Parses a whole record: a JSON object into the decoder's slots.
struct RecordSeed<'a, 'de> {
    decoder: &'a JsonDecoder,
    slots: &'a mut [Slot<'de>],
    error: &'a mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl RecordSeed<'_, '_> {
    fn not_object<E: de::Error>(self, got: &str) -> Result<(), E> {
        reject(self.error, format!("expected JSON object, got {got}"))
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let decoder = self.decoder;
        let mut hint = 0;
        while let Some(field) = map.next_key_seed(KeySeed { decoder, hint })? {
            let Some(j) = field else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            hint = j + 1;
            let Some(kind) = decoder.kinds[j] else {
                unreachable!("decode checks every field has a kind")
            };
            if kind == Kind::Nested {
                let value: serde_json::Value = map.next_value()?;
                let data_type = decoder.schema.field(j).data_type();
                self.slots[j] = match Slot::nested(value, data_type) {
                    Ok(slot) => slot,
                    Err(why) => {
                        return reject(self.error, format!("field {:?}{why}", decoder.names[j]));
                    }
                };
                continue;
            }
            self.slots[j] = map.next_value_seed(FieldVisitor {
                kind,
                name: &decoder.names[j],
                error: &mut *self.error,
            })?;
        }
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.not_object("null")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.not_object("boolean")
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.not_object("number")
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.not_object("number")
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.not_object("number")
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.not_object("string")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        self.not_object("array")
    }
}

/// Maps an object key to a target field index, without allocating.
struct KeySeed<'a> {
    decoder: &'a JsonDecoder,
    hint: usize,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.decoder.lookup(key, self.hint))
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{
        Decimal128Type, Field, Float64Type, Int32Type, Int64Type, TimeUnit,
        TimestampMicrosecondType,
    };

    use super::*;
    use crate::format::RawBatchBuilder;

    fn decoder(fields: Vec<Field>) -> JsonDecoder {
        JsonDecoder::try_new(Arc::new(Schema::new(fields))).unwrap()
    }

    fn raw(payloads: &[&str]) -> RawBatch {
        let mut b = RawBatchBuilder::with_capacity("test", 2, payloads.len(), 64);
        for (i, p) in payloads.iter().enumerate() {
            b.push(100 + i as u64, p.as_bytes());
        }
        b.finish()
    }

    /// The dead letters' `error` column.
    fn errors(dead: &RecordBatch) -> Vec<String> {
        let errors = dead.column_by_name("error").unwrap().as_string::<i32>();
        errors.iter().map(|e| e.unwrap().to_owned()).collect()
    }

    #[test]
    fn types_decode() {
        let d = decoder(vec![
            Field::new("s", DataType::Utf8, true),
            Field::new("i", DataType::Int64, true),
            Field::new("i32", DataType::Int32, true),
            Field::new("f", DataType::Float64, true),
            Field::new("b", DataType::Boolean, true),
            Field::new(
                "t",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("d", DataType::Date32, true),
        ]);
        let (good, dead) = d
            .decode(
                &raw(&[
                    r#"{"s":"a\"b","i":-5,"i32":7,"f":3,"b":true,"t":"1970-01-01T00:00:01.5+01:00","d":"1970-01-02","x":{"y":[1]}}"#,
                    r#"{"s":null,"t":1500}"#,
                    r#" {} "#,
                ]),
                9,
            )
            .unwrap();
        assert_eq!(dead.num_rows(), 0, "{:?}", errors(&dead));
        assert_eq!(good.num_rows(), 3);
        assert_eq!(good.schema(), *d.output_schema());
        let s = good.column(0).as_string::<i32>();
        assert_eq!(s.value(0), "a\"b");
        assert!(s.is_null(1) && s.is_null(2));
        assert_eq!(good.column(1).as_primitive::<Int64Type>().value(0), -5);
        assert_eq!(good.column(2).as_primitive::<Int32Type>().value(0), 7);
        assert_eq!(good.column(3).as_primitive::<Float64Type>().value(0), 3.0);
        assert!(good.column(4).as_boolean().value(0));
        let t = good.column(5).as_primitive::<TimestampMicrosecondType>();
        assert_eq!(t.value(0), 1_500_000 - 3_600_000_000);
        assert_eq!(t.value(1), 1_500_000);
        assert!(t.is_null(2));
        assert_eq!(
            good.column(6)
                .as_primitive::<arrow::datatypes::Date32Type>()
                .value(0),
            1
        );
        let coords = |name: &str| good.column_by_name(name).unwrap().clone();
        assert_eq!(coords("source").as_string::<i32>().value(2), "test");
        assert_eq!(coords("partition").as_primitive::<Int32Type>().value(2), 2);
        assert_eq!(
            coords("offset")
                .as_primitive::<Int64Type>()
                .values()
                .as_ref(),
            &[100, 101, 102]
        );
    }

    /// As Flink's JSON reader: a nested value, a number or a boolean in a string column is
    /// its JSON text; a quoted number or boolean in a column of that type is its value.
    #[test]
    fn values_of_other_json_types_read_as_flink_reads_them() {
        let d = decoder(vec![
            Field::new("s", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
            Field::new("x", DataType::Float64, true),
            Field::new("b", DataType::Boolean, true),
        ]);
        let payloads = [
            r#"{"s":{"k":[1,"two",null],"a":true},"n":" 42 ","x":"2.5","b":"TRUE"}"#,
            r#"{"s":[1,2],"n":7,"x":1,"b":"false"}"#,
            r#"{"s":12.5,"n":"-3"}"#,
            r#"{"s":false}"#,
            r#"{"s":7}"#,
            r#"{"n":"4.5"}"#,
            r#"{"b":"yes"}"#,
        ];
        let (good, dead) = d.decode(&raw(&payloads), 0).unwrap();
        let s = good.column(0).as_string::<i32>();
        let texts: Vec<&str> = (0..5).map(|i| s.value(i)).collect();
        assert_eq!(
            texts,
            [
                r#"{"a":true,"k":[1,"two",null]}"#,
                "[1,2]",
                "12.5",
                "false",
                "7"
            ]
        );
        let n = good.column(1).as_primitive::<Int64Type>();
        assert_eq!((n.value(0), n.value(1), n.value(2)), (42, 7, -3));
        assert_eq!(good.column(2).as_primitive::<Float64Type>().value(0), 2.5);
        let b = good.column(3).as_boolean();
        assert!(b.value(0) && !b.value(1));
        assert_eq!(
            errors(&dead),
            [
                r#"field "n": expected integer, got string "4.5""#,
                r#"field "b": expected boolean, got string "yes""#
            ]
        );
    }

    #[test]
    fn decimals_read_numbers_and_quoted_numbers_rounded_half_up() {
        let d = decoder(vec![Field::new("p", DataType::Decimal128(6, 2), true)]);
        let payloads = [
            r#"{"p":12.345}"#,
            r#"{"p":"-12.345"}"#,
            r#"{"p":7}"#,
            r#"{"p":1.5e3}"#,
            r#"{"p":" 0.004 "}"#,
            r#"{"p":null}"#,
            r#"{"p":10000}"#,
            r#"{"p":"9999.995"}"#,
            r#"{"p":"abc"}"#,
            r#"{"p":true}"#,
            r#"{"p":18446744073709551615}"#,
        ];
        let (good, dead) = d.decode(&raw(&payloads), 0).unwrap();
        let p = good.column(0).as_primitive::<Decimal128Type>();
        assert_eq!(p.data_type(), &DataType::Decimal128(6, 2));
        let values: Vec<Option<i128>> = p.iter().collect();
        assert_eq!(
            values,
            [
                Some(1235),
                Some(-1235),
                Some(700),
                Some(150_000),
                Some(0),
                None
            ]
        );
        assert_eq!(
            errors(&dead),
            [
                r#"field "p": 10000 does not fit decimal(6, 2): at most 4 digits before the point"#,
                r#"field "p": "9999.995" does not fit decimal(6, 2): at most 4 digits before the point"#,
                r#"field "p": "abc" is not a decimal number"#,
                r#"field "p": expected decimal number, got boolean"#,
                r#"field "p": 18446744073709551615 does not fit decimal(6, 2): at most 4 digits before the point"#,
            ]
        );
    }

    #[test]
    fn bad_records_become_dead_letters() {
        let d = decoder(vec![
            Field::new("event_id", DataType::Utf8, false),
            Field::new("value", DataType::Float64, true),
            Field::new("n", DataType::Int32, true),
            Field::new("t", DataType::Timestamp(TimeUnit::Microsecond, None), true),
            Field::new("d", DataType::Date32, true),
        ]);
        let cases = [
            (
                r#"{"event_id":"a","value":"abc"}"#,
                r#"field "value": expected number, got string "abc""#,
            ),
            (r#"{"value":1}"#, r#"field "event_id": missing"#),
            (r#"{"event_id":null}"#, r#"field "event_id": null"#),
            (
                r#"{"event_id":"a","n":3000000000}"#,
                r#"field "n": 3000000000 is out of range for a 32-bit integer"#,
            ),
            (
                r#"{"event_id":"a","n":1.5}"#,
                r#"field "n": expected integer, got 1.5"#,
            ),
            (
                r#"{"event_id":"a","t":"2026-02-30T00:00:00Z"}"#,
                r#"field "t": invalid timestamp "2026-02-30T00:00:00Z""#,
            ),
            (
                r#"{"event_id":"a","d":"2026-1-1"}"#,
                r#"field "d": invalid date "2026-1-1""#,
            ),
            (
                r#"{"event_id":"a","value":[1]}"#,
                r#"field "value": expected number, got array"#,
            ),
            (
                r#"{"event_id":"a","value":{}}"#,
                r#"field "value": expected number, got object"#,
            ),
            (
                r#"{"event_id":"a","value":true}"#,
                r#"field "value": expected number, got boolean"#,
            ),
            (r#"[1,2]"#, "expected JSON object, got array"),
            (r#""x""#, "expected JSON object, got string"),
            (r#"null"#, "expected JSON object, got null"),
            (
                r#"{"event_id":"a"} x"#,
                "invalid JSON: trailing characters at line 1 column 18",
            ),
            (
                r#"{"event_id":"a""#,
                "invalid JSON: EOF while parsing an object at line 1 column 15",
            ),
            (
                "",
                "invalid JSON: EOF while parsing a value at line 1 column 0",
            ),
        ];
        let payloads: Vec<&str> = cases.iter().map(|(p, _)| *p).collect();
        let mut all = payloads.clone();
        all.insert(3, r#"{"event_id":"ok"}"#);
        let (good, dead) = d.decode(&raw(&all), 5).unwrap();
        assert_eq!(good.num_rows(), 1);
        assert_eq!(
            good.column_by_name("offset")
                .unwrap()
                .as_primitive::<Int64Type>()
                .value(0),
            103
        );
        let expected: Vec<&str> = cases.iter().map(|(_, e)| *e).collect();
        assert_eq!(errors(&dead), expected);
        assert_eq!(dead.schema(), dead_letter::schema());
        let payload = dead.column_by_name("payload").unwrap().as_string::<i32>();
        assert_eq!(
            payload.iter().map(Option::unwrap).collect::<Vec<_>>(),
            payloads
        );
        let offsets = dead
            .column_by_name("offset")
            .unwrap()
            .as_primitive::<Int64Type>();
        let mut expected_offsets: Vec<i64> = (100..117).collect();
        expected_offsets.remove(3);
        assert_eq!(offsets.values().as_ref(), expected_offsets.as_slice());
        let event_id = dead.column_by_name("event_id").unwrap().as_string::<i32>();
        assert_eq!(event_id.value(0), "a");
        assert!(event_id.is_null(1));
    }

    #[test]
    fn a_narrowed_decoder_skips_the_fields_it_does_not_read() {
        let d = decoder(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("s", DataType::Utf8, false),
            Field::new("t", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        ]);
        let payloads = [
            r#"{"n":1,"s":"a","t":"2026-01-01T00:00:00Z"}"#,
            r#"{"n":2,"s":7,"t":"not a time"}"#,
            r#"{"n":3}"#,
            r#"{"n":"four","s":"d"}"#,
            r#"{"n":5,"s":[1,{"x":[]}]"#,
        ];
        let (good, dead) = d.decode(&raw(&payloads), 0).unwrap();
        assert_eq!((good.num_rows(), dead.num_rows()), (1, 4));

        let narrow = d.narrowed(&["n".to_owned()]);
        let names: Vec<&str> = narrow
            .output_schema()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(names, ["n", "source", "partition", "offset"]);
        let (good, dead) = narrow.decode(&raw(&payloads), 0).unwrap();
        let n = good.column(0).as_primitive::<Int64Type>();
        // `s` and `t` are skipped whatever they hold; a bad `n` and broken JSON still go.
        assert_eq!(n.values().to_vec(), [1, 2, 3]);
        assert_eq!(
            errors(&dead),
            [
                r#"field "n": expected integer, got string "four""#,
                "invalid JSON: EOF while parsing an object at line 1 column 23"
            ]
        );
    }

    #[test]
    fn a_source_decoder_is_narrowed_once() {
        let full = crate::format::Decoder::Json(decoder(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let d = crate::format::SourceDecoder::new(full);
        assert_eq!(d.get().output_schema().fields().len(), 5);
        assert!(d.narrow(&["s".to_owned()]));
        assert!(
            !d.narrow(&["n".to_owned()]),
            "a second narrowing is refused"
        );
        let first = d.get().output_schema().field(0).name().clone();
        assert_eq!(
            (first.as_str(), d.get().output_schema().fields().len()),
            ("s", 4)
        );
        let text = crate::format::SourceDecoder::new(crate::format::Decoder::Value(
            crate::format::value::ValueDecoder::new(true),
        ));
        assert!(
            !text.narrow(&["value".to_owned()]),
            "`string` has one column"
        );
    }

    #[test]
    fn bad_schemas_are_errors() {
        let schema = |f: Field| Arc::new(Schema::new(vec![f]));
        // Lists of bytes are not read (lists of numbers, text, dates and structs are).
        let list = DataType::new_list(DataType::Binary, true);
        let err = JsonDecoder::try_new(schema(Field::new("l", list.clone(), true))).unwrap_err();
        assert!(matches!(err, FormatError::UnsupportedType { .. }), "{err}");
        let unchecked = JsonDecoder::new(schema(Field::new("l", list, true)));
        assert!(unchecked.decode(&raw(&["{}"]), 0).is_err());
        let err = JsonDecoder::try_new(schema(Field::new("offset", DataType::Int64, true)));
        assert!(matches!(err, Err(FormatError::ReservedColumn(_))));
    }

    #[test]
    fn wide_schemas_use_the_index() {
        let fields: Vec<Field> = (0..40)
            .map(|i| Field::new(format!("f{i}"), DataType::Int64, true))
            .collect();
        let d = decoder(fields);
        let (good, dead) = d
            .decode(&raw(&[r#"{"f39":39,"f0":0,"zz":1,"f20":20}"#]), 0)
            .unwrap();
        assert_eq!(dead.num_rows(), 0);
        assert_eq!(good.column(39).as_primitive::<Int64Type>().value(0), 39);
        assert_eq!(good.column(20).as_primitive::<Int64Type>().value(0), 20);
        assert!(good.column(1).is_null(0));
    }
}
