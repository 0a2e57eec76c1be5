//! The types a declared field is decoded into, as a job file writes them: `string`,
//! `long`, `int`, `double`, `boolean`, `timestamp`, `date` and `decimal(p, s)`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Field types a decoder understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// What a field's type may be, for messages.
pub const FIELD_TYPES: &str =
    "string, long, int, double, boolean, timestamp, date or decimal(precision, scale)";

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
}

impl TryFrom<String> for FieldType {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let lower = text.trim().to_ascii_lowercase();
        Ok(match lower.as_str() {
            "string" => Self::String,
            "long" => Self::Long,
            "int" => Self::Int,
            "double" => Self::Double,
            "boolean" => Self::Boolean,
            "timestamp" => Self::Timestamp,
            "date" => Self::Date,
            // `decimal` alone is Spark's default, decimal(10, 0).
            "decimal" => Self::decimal(10, 0)?,
            _ => {
                let digits = lower
                    .strip_prefix("decimal")
                    .map(str::trim_start)
                    .and_then(|r| r.strip_prefix('('))
                    .and_then(|r| r.strip_suffix(')'))
                    .ok_or_else(|| format!("unknown type `{text}`: {FIELD_TYPES}"))?;
                let number = |part: &str| {
                    part.trim().parse::<u64>().map_err(|_| {
                        format!("`{text}`: decimal(precision, scale) takes two whole numbers")
                    })
                };
                match digits.split_once(',') {
                    Some((p, s)) => Self::decimal(number(p)?, number(s)?)?,
                    None => Self::decimal(number(digits)?, 0)?,
                }
            }
        })
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
