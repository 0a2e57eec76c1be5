//! The types a declared field is decoded into, as a job file writes them: `string`,
//! `long`, `int`, `double`, `boolean`, `timestamp`, `date`, `decimal(p, s)`, and JSON's
//! nested values as `array<T>` and `struct<name: T, ...>` (of strings, numbers, booleans
//! and other arrays and structs). SQL's names read too (`BIGINT`, `VARCHAR`,
//! `ARRAY<STRING>`, `STRUCT<a BIGINT, b STRING>`), so a DDL column type is one of these.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Fields, TimeUnit};
use serde::{Deserialize, Serialize};

/// Field types a decoder understands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum FieldType {
    /// UTF-8 text.
    String,
    /// 64-bit integer.
    Long,
    /// 32-bit integer.
    Int,
    /// 64-bit float.
    Double,
    /// Boolean.
    Boolean,
    /// UTC timestamp (RFC 3339 text or epoch milliseconds).
    Timestamp,
    /// Calendar date (`YYYY-MM-DD`).
    Date,
    /// An exact decimal of `precision` digits, `scale` of them after the point
    /// (`decimal(10, 2)` holds -99999999.99 to 99999999.99), as Spark's and Flink's
    /// `DECIMAL(p, s)`: 1 ≤ precision ≤ 38, 0 ≤ scale ≤ precision.
    Decimal {
        /// Digits in all.
        precision: u8,
        /// Digits after the point.
        scale: u8,
    },
    /// A JSON array of one type (Spark's `ARRAY<T>`).
    Array(Box<FieldType>),
    /// A JSON object of named fields (Spark's `STRUCT<a: T, ...>`); other keys are skipped,
    /// missing ones are null.
    Struct(Vec<(String, FieldType)>),
    /// A JSON object as a map from its keys (text) to values of one type
    /// (`MAP<STRING, T>`).
    Map(Box<FieldType>),
}

/// What a field's type may be, for messages.
pub const FIELD_TYPES: &str = "string, long, int, double, boolean, timestamp, date, \
                               decimal(precision, scale), array<type>, \
                               struct<name: type, ...> or map<string, type>";

impl FieldType {
    /// A decimal type, checked: 1 ≤ `precision` ≤ 38 and `scale` ≤ `precision`.
    ///
    /// # Errors
    /// What is out of range, as a sentence.
    pub fn decimal(precision: u64, scale: u64) -> Result<Self, String> {
        if !(1..=38).contains(&precision) {
            return Err(format!(
                "decimal({precision}, {scale}): the precision is 1 to 38 digits"
            ));
        }
        if scale > precision {
            return Err(format!(
                "decimal({precision}, {scale}): the scale is at most the precision"
            ));
        }
        Ok(Self::Decimal {
            precision: precision as u8,
            scale: scale as u8,
        })
    }

    /// The Arrow type its values are decoded into (an array's items and a struct's fields
    /// nullable).
    pub fn arrow_type(&self) -> DataType {
        match self {
            Self::String => DataType::Utf8,
            Self::Long => DataType::Int64,
            Self::Int => DataType::Int32,
            Self::Double => DataType::Float64,
            Self::Boolean => DataType::Boolean,
            Self::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Self::Date => DataType::Date32,
            Self::Decimal { precision, scale } => DataType::Decimal128(*precision, *scale as i8),
            Self::Array(item) => {
                DataType::List(Arc::new(Field::new("item", item.arrow_type(), true)))
            }
            Self::Struct(fields) => DataType::Struct(Fields::from(
                fields
                    .iter()
                    .map(|(name, t)| Field::new(name, t.arrow_type(), true))
                    .collect::<Vec<_>>(),
            )),
            Self::Map(value) => {
                let entries = DataType::Struct(Fields::from(vec![
                    Field::new("key", DataType::Utf8, false),
                    Field::new("value", value.arrow_type(), true),
                ]));
                DataType::Map(Arc::new(Field::new("entries", entries, false)), false)
            }
        }
    }

    /// The type of one word, a job file's name or SQL's (`long`, `BIGINT`, `VARCHAR`), for
    /// the types without parameters; Flink's and Spark's narrower integers are `int`: the
    /// same values, in a wider column.
    pub fn scalar(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "string" | "varchar" | "text" | "char" | "character" => Self::String,
            "long" | "bigint" | "int8" => Self::Long,
            "int" | "integer" | "int4" | "smallint" | "int2" | "tinyint" | "short" | "byte" => {
                Self::Int
            }
            "double" | "float" | "real" | "float8" => Self::Double,
            "boolean" | "bool" => Self::Boolean,
            "timestamp" | "timestamptz" | "timestamp_ltz" => Self::Timestamp,
            "date" => Self::Date,
            _ => return None,
        })
    }

    /// Parses one type at the start of `text`, returning it and the rest.
    fn parse_prefix(text: &str) -> Result<(Self, &str), String> {
        let text = text.trim_start();
        let word_end = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(text.len());
        let (word, rest) = text.split_at(word_end);
        if let Some(scalar) = Self::scalar(word) {
            // A length or precision of text and timestamps (`VARCHAR(20)`, `TIMESTAMP(3)`).
            let rest = match rest.trim_start().strip_prefix('(') {
                Some(r) if !matches!(scalar, Self::Long | Self::Int | Self::Double) => {
                    let close = r
                        .find(')')
                        .ok_or_else(|| format!("`{text}`: a `(` unclosed"))?;
                    &r[close + 1..]
                }
                _ => rest,
            };
            return Ok((scalar, rest));
        }
        match word.to_ascii_lowercase().as_str() {
            "decimal" | "numeric" | "dec" => {
                let Some(r) = rest.trim_start().strip_prefix('(') else {
                    // `decimal` alone is Spark's default, decimal(10, 0).
                    return Ok((Self::decimal(10, 0)?, rest));
                };
                let close = r
                    .find(')')
                    .ok_or_else(|| format!("`{text}`: a `(` unclosed"))?;
                let digits = &r[..close];
                let number = |part: &str| {
                    part.trim().parse::<u64>().map_err(|_| {
                        format!("`{text}`: decimal(precision, scale) takes two whole numbers")
                    })
                };
                let t = match digits.split_once(',') {
                    Some((p, s)) => Self::decimal(number(p)?, number(s)?)?,
                    None => Self::decimal(number(digits)?, 0)?,
                };
                Ok((t, &r[close + 1..]))
            }
            "array" => {
                let r = open_angle(rest, text)?;
                let (item, r) = Self::parse_prefix(r)?;
                let r = close_angle(r, text)?;
                Ok((Self::Array(Box::new(item)), r))
            }
            "map" => {
                // `MAP<K, V>`, or `MAP(K, V)` as the SQL parser prints it.
                let r = rest.trim_start();
                let (r, close) = match r.strip_prefix('(') {
                    Some(r) => (r, ')'),
                    None => (open_angle(r, text)?, '>'),
                };
                let (key, r) = Self::parse_prefix(r)?;
                if key != Self::String {
                    return Err(format!(
                        "`{text}`: a map's keys are a JSON object's keys, text: \
                         map<string, type>"
                    ));
                }
                let r = r
                    .trim_start()
                    .strip_prefix(',')
                    .ok_or_else(|| format!("`{text}`: map<string, type> takes two types"))?;
                let (value, r) = Self::parse_prefix(r)?;
                let r = r
                    .trim_start()
                    .strip_prefix(close)
                    .ok_or_else(|| format!("`{text}`: a `<` unclosed"))?;
                Ok((Self::Map(Box::new(value)), r))
            }
            "struct" => {
                let mut r = open_angle(rest, text)?;
                let mut fields = Vec::new();
                loop {
                    let t = r.trim_start();
                    let end = t
                        .find(|c: char| c == ':' || c.is_whitespace())
                        .ok_or_else(|| format!("`{text}`: a struct field needs a type"))?;
                    let name = t[..end].trim_matches('`').trim_matches('"').to_owned();
                    if name.is_empty() || fields.iter().any(|(n, _)| *n == name) {
                        return Err(format!(
                            "`{text}`: each struct field needs a name of its own"
                        ));
                    }
                    let after = t[end..].trim_start();
                    let after = after.strip_prefix(':').unwrap_or(after);
                    let (field, next) = Self::parse_prefix(after)?;
                    fields.push((name, field));
                    let next = next.trim_start();
                    if let Some(more) = next.strip_prefix(',') {
                        r = more;
                    } else {
                        r = next;
                        break;
                    }
                }
                let r = close_angle(r, text)?;
                Ok((Self::Struct(fields), r))
            }
            _ => Err(format!("unknown type `{}`: {FIELD_TYPES}", text.trim())),
        }
    }
}

fn open_angle<'a>(rest: &'a str, text: &str) -> Result<&'a str, String> {
    rest.trim_start()
        .strip_prefix('<')
        .ok_or_else(|| format!("`{text}`: array<type> and struct<name: type, ...> take `<`"))
}

fn close_angle<'a>(rest: &'a str, text: &str) -> Result<&'a str, String> {
    rest.trim_start()
        .strip_prefix('>')
        .ok_or_else(|| format!("`{text}`: a `<` unclosed"))
}

impl TryFrom<String> for FieldType {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let (t, rest) = Self::parse_prefix(&text)?;
        if !rest.trim().is_empty() {
            return Err(format!("`{text}`: `{}` after the type", rest.trim()));
        }
        Ok(t)
    }
}

impl From<FieldType> for String {
    fn from(t: FieldType) -> String {
        t.to_string()
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::String => f.write_str("string"),
            Self::Long => f.write_str("long"),
            Self::Int => f.write_str("int"),
            Self::Double => f.write_str("double"),
            Self::Boolean => f.write_str("boolean"),
            Self::Timestamp => f.write_str("timestamp"),
            Self::Date => f.write_str("date"),
            Self::Decimal { precision, scale } => write!(f, "decimal({precision}, {scale})"),
            Self::Array(item) => write!(f, "array<{item}>"),
            Self::Map(value) => write!(f, "map<string, {value}>"),
            Self::Struct(fields) => {
                f.write_str("struct<")?;
                for (i, (name, t)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{name}: {t}")?;
                }
                f.write_str(">")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FieldType, String> {
        FieldType::try_from(text.to_owned())
    }

    #[test]
    fn every_type_reads_back_what_it_writes() {
        for t in [
            FieldType::String,
            FieldType::Long,
            FieldType::Int,
            FieldType::Double,
            FieldType::Boolean,
            FieldType::Timestamp,
            FieldType::Date,
            FieldType::Decimal {
                precision: 10,
                scale: 2,
            },
            FieldType::Decimal {
                precision: 38,
                scale: 38,
            },
        ] {
            assert_eq!(parse(&t.to_string()), Ok(t));
        }
    }

    #[test]
    fn arrays_and_structs_nest_as_spark_and_sql_write_them() {
        let item = FieldType::Struct(vec![
            ("sku".into(), FieldType::String),
            ("qty".into(), FieldType::Int),
        ]);
        let items = FieldType::Array(Box::new(item));
        assert_eq!(
            parse("array<struct<sku: string, qty: int>>"),
            Ok(items.clone())
        );
        assert_eq!(
            parse("ARRAY<STRUCT<sku VARCHAR(8), qty INT>>"),
            Ok(items.clone())
        );
        assert_eq!(parse(&items.to_string()), Ok(items.clone()));
        assert_eq!(
            parse("array<array<bigint>>"),
            Ok(FieldType::Array(Box::new(FieldType::Array(Box::new(
                FieldType::Long
            )))))
        );
        let DataType::List(field) = items.arrow_type() else {
            panic!("not a list");
        };
        assert_eq!(
            field.data_type(),
            &DataType::Struct(Fields::from(vec![
                Field::new("sku", DataType::Utf8, true),
                Field::new("qty", DataType::Int32, true),
            ]))
        );
        let err = |text: &str| parse(text).unwrap_err();
        assert_eq!(
            parse("array<timestamp>"),
            Ok(FieldType::Array(Box::new(FieldType::Timestamp)))
        );
        assert!(err("array<string").contains("a `<` unclosed"));
        assert!(err("array<string> x").contains("`x` after the type"));
        assert!(err("struct<a: int, a: int>").contains("a name of its own"));
        let counts = FieldType::Map(Box::new(FieldType::Long));
        assert_eq!(parse("MAP<STRING, BIGINT>"), Ok(counts.clone()));
        assert_eq!(parse("MAP(STRING, BIGINT)"), Ok(counts.clone()));
        assert_eq!(parse(&counts.to_string()), Ok(counts.clone()));
        assert!(matches!(counts.arrow_type(), DataType::Map(..)));
        assert!(err("map<int, int>").contains("a map's keys are a JSON object's keys"));
        assert!(err("money<int>").contains("unknown type `money<int>`"));
    }

    #[test]
    fn decimals_are_read_as_spark_writes_them() {
        let d = |precision, scale| FieldType::Decimal { precision, scale };
        assert_eq!(parse("DECIMAL(12,3)"), Ok(d(12, 3)));
        assert_eq!(parse(" decimal ( 7 , 0 ) "), Ok(d(7, 0)));
        assert_eq!(parse("decimal(5)"), Ok(d(5, 0)));
        assert_eq!(parse("decimal"), Ok(d(10, 0)));
        let err = |text: &str| parse(text).unwrap_err();
        assert!(
            err("decimal(39, 2)").contains("1 to 38"),
            "{}",
            err("decimal(39, 2)")
        );
        assert!(err("decimal(0)").contains("1 to 38"));
        assert!(err("decimal(4, 5)").contains("at most the precision"));
        assert!(err("decimal(a, 2)").contains("two whole numbers"));
        assert!(err("decimal(-3, 2)").contains("two whole numbers"));
        assert!(err("money").contains("unknown type `money`"));
    }
}
