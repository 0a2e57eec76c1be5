//! One field value of a JSON record, parsed into a slot of its column's kind, as Flink's
//! JSON format reads it: a nested value, a number or a boolean in a string column is its
//! JSON text; a quoted number or boolean is read in a column of its type.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::reject;
use crate::format::column::{Kind, Slot};
use sluice_engine::decimal::{self, excerpt};
use sluice_engine::timestamp::{parse_date_days, parse_timestamp_micros};

/// Parses one field value into a slot of its column's kind.
pub(super) struct FieldVisitor<'a> {
    pub(super) kind: Kind,
    pub(super) name: &'a str,
    pub(super) error: &'a mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for FieldVisitor<'_> {
    type Value = Slot<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Slot<'de>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> FieldVisitor<'_> {
    fn fail<E: de::Error>(self, detail: String) -> Result<Slot<'de>, E> {
        reject(self.error, format!("field {:?}: {detail}", self.name))
    }

    fn mismatch<E: de::Error>(self, got: &str) -> Result<Slot<'de>, E> {
        let expected = self.kind.expected();
        self.fail(format!("expected {expected}, got {got}"))
    }

    fn integer<E: de::Error>(self, v: i64) -> Result<Slot<'de>, E> {
        match self.kind {
            Kind::Int64 => Ok(Slot::Int(v)),
            Kind::Int32 if i32::try_from(v).is_ok() => Ok(Slot::Int(v)),
            Kind::Int32 => self.fail(format!("{v} is out of range for a 32-bit integer")),
            Kind::Float64 => Ok(Slot::Float(v as f64)),
            Kind::Timestamp => match v.checked_mul(1000) {
                Some(us) => Ok(Slot::Int(us)),
                None => self.fail(format!("{v} ms is out of range for a timestamp")),
            },
            Kind::Utf8 => Ok(Slot::Str(Cow::Owned(v.to_string()))),
            Kind::Decimal(p, s) => self.decimal(decimal::from_integer(i128::from(v), p, s)),
            _ => self.mismatch("number"),
        }
    }

    fn decimal<E: de::Error>(self, unscaled: Result<i128, String>) -> Result<Slot<'de>, E> {
        match unscaled {
            Ok(v) => Ok(Slot::Dec(v)),
            Err(e) => self.fail(e),
        }
    }

    /// A JSON object or array read into a string column: its JSON text (keys sorted), as
    /// Flink's and Spark's JSON readers give a nested value in a STRING column.
    fn nested<D: Deserializer<'de>>(self, value: D, got: &str) -> Result<Slot<'de>, D::Error> {
        if self.kind != Kind::Utf8 {
            return self.mismatch(got);
        }
        let value = <serde_json::Value as serde::Deserialize>::deserialize(value)?;
        Ok(Slot::Str(Cow::Owned(value.to_string())))
    }

    fn string<E: de::Error>(
        self,
        s: &str,
        owned: impl FnOnce() -> Cow<'de, str>,
    ) -> Result<Slot<'de>, E> {
        match self.kind {
            Kind::Utf8 => Ok(Slot::Str(owned())),
            // A number or a boolean in quotes, as Flink's JSON reader takes it.
            Kind::Int64 | Kind::Int32 => match s.trim().parse::<i64>() {
                Ok(v) => self.integer(v),
                Err(_) => self.mismatch(&format!("string {:?}", excerpt(s))),
            },
            Kind::Float64 => match s.trim().parse::<f64>() {
                Ok(v) => Ok(Slot::Float(v)),
                Err(_) => self.mismatch(&format!("string {:?}", excerpt(s))),
            },
            Kind::Decimal(p, scale) => self.decimal(decimal::parse(s, p, scale)),
            Kind::Boolean if s.trim().eq_ignore_ascii_case("true") => Ok(Slot::Bool(true)),
            Kind::Boolean if s.trim().eq_ignore_ascii_case("false") => Ok(Slot::Bool(false)),
            Kind::Timestamp => match parse_timestamp_micros(s) {
                Some(us) => Ok(Slot::Int(us)),
                None => self.fail(format!("invalid timestamp {:?}", excerpt(s))),
            },
            Kind::Date32 => match parse_date_days(s) {
                Some(days) => Ok(Slot::Int(i64::from(days))),
                None => self.fail(format!("invalid date {:?}", excerpt(s))),
            },
            _ => self.mismatch(&format!("string {:?}", excerpt(s))),
        }
    }
}

impl<'de> Visitor<'de> for FieldVisitor<'_> {
    type Value = Slot<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.expected())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Slot<'de>, E> {
        Ok(Slot::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Slot<'de>, E> {
        match self.kind {
            Kind::Boolean => Ok(Slot::Bool(v)),
            Kind::Utf8 => Ok(Slot::Str(Cow::Borrowed(if v { "true" } else { "false" }))),
            _ => self.mismatch("boolean"),
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Slot<'de>, E> {
        self.integer(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Slot<'de>, E> {
        match i64::try_from(v) {
            Ok(v) => self.integer(v),
            Err(_) if self.kind == Kind::Float64 => Ok(Slot::Float(v as f64)),
            Err(_) => match self.kind {
                Kind::Decimal(p, s) => self.decimal(decimal::from_integer(i128::from(v), p, s)),
                _ => self.fail(format!("{v} is out of range")),
            },
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Slot<'de>, E> {
        match self.kind {
            Kind::Float64 => Ok(Slot::Float(v)),
            Kind::Int64 | Kind::Int32 | Kind::Timestamp => {
                self.fail(format!("expected integer, got {v}"))
            }
            Kind::Utf8 => Ok(Slot::Str(Cow::Owned(
                serde_json::Value::from(v).to_string(),
            ))),
            // JSON's numbers are doubles: the shortest text that reads back as the same
            // double is the number as written when it has at most 15 significant digits.
            // A quoted number keeps every digit.
            Kind::Decimal(p, s) => self.decimal(decimal::parse(&v.to_string(), p, s)),
            _ => self.mismatch("number"),
        }
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Slot<'de>, E> {
        self.string(v, || Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Slot<'de>, E> {
        self.string(v, || Cow::Owned(v.to_owned()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Slot<'de>, A::Error> {
        self.nested(de::value::SeqAccessDeserializer::new(seq), "array")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Slot<'de>, A::Error> {
        self.nested(de::value::MapAccessDeserializer::new(map), "object")
    }
}
