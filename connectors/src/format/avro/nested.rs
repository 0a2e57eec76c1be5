//! Avro arrays, maps and records read into list, map and struct columns: as the JSON value
//! each reads as, which [`Slot::nested`] checks against the column's type as JSON's are.
//!
//! Timestamps, dates and decimals inside them are read as top-level columns read them
//! (`timestamp-millis`, `-micros` and `-nanos`, `long` epoch milliseconds, `date`, and
//! decimals of the column's scale or integers): each is written as the text the nested
//! reader takes (RFC 3339, `YYYY-MM-DD`, the decimal's digits), so that an Avro
//! timestamp's microseconds are never taken for a JSON number's milliseconds. Where the
//! Avro type cannot fill such a field (a `string` for a timestamp, a decimal of another
//! scale), the decoder is refused when it is built. Other values inside are checked as
//! each datum is read.

use apache_avro::Schema as AvroSchema;
use apache_avro::types::Value;
use arrow::datatypes::DataType;
use chrono::{DateTime, NaiveDate, SecondsFormat};
use serde_json::Value as Json;
use sluice_engine::decimal;

use super::{accepts, slot};
use crate::format::column::{Kind, Slot};

/// Whether an Avro array, map or record (or a union with one) has the shape of a list,
/// map or struct column, and its timestamps, dates and decimals can fill the fields
/// declared so.
pub(super) fn fits(avro: &AvroSchema, data_type: &DataType) -> bool {
    match (avro, data_type) {
        (AvroSchema::Union(u), _) => u.variants().iter().any(|v| fits(v, data_type)),
        (AvroSchema::Array(_), DataType::List(_))
        | (AvroSchema::Map(_), DataType::Map(..))
        | (AvroSchema::Record(_), DataType::Struct(_)) => inner_fits(avro, data_type),
        _ => false,
    }
}

/// Whether the timestamps, dates and decimals inside `avro` can fill the fields of
/// `data_type` declared so (other values are checked as they are read).
fn inner_fits(avro: &AvroSchema, data_type: &DataType) -> bool {
    match (avro, data_type) {
        (AvroSchema::Union(u), _) => u
            .variants()
            .iter()
            .any(|v| !matches!(v, AvroSchema::Null) && inner_fits(v, data_type)),
        (AvroSchema::Array(a), DataType::List(item)) => inner_fits(&a.items, item.data_type()),
        (AvroSchema::Map(m), DataType::Map(entries, _)) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => inner_fits(&m.types, kv[1].data_type()),
            _ => false,
        },
        (AvroSchema::Record(r), DataType::Struct(fields)) => fields.iter().all(|f| {
            r.lookup
                .get(f.name())
                .is_none_or(|&p| inner_fits(&r.fields[p].schema, f.data_type()))
        }),
        (avro, t) => match Kind::of(t) {
            Some(kind @ (Kind::Timestamp | Kind::Date32 | Kind::Decimal(..))) => {
                accepts(kind, avro)
            }
            _ => true,
        },
    }
}

/// `value` as the JSON value a column of `data_type` reads.
///
/// # Errors
/// Where a timestamp, date or decimal inside is out of range, as `[1].at: ...`.
pub(super) fn json(value: Value, data_type: &DataType) -> Result<Json, String> {
    Ok(match (value, data_type) {
        (Value::Union(_, inner), _) => json(*inner, data_type)?,
        (Value::Null, _) => Json::Null,
        (Value::Array(items), DataType::List(item)) => Json::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| json(v, item.data_type()).map_err(|e| format!("[{i}]{e}")))
                .collect::<Result<_, _>>()?,
        ),
        (Value::Map(map), DataType::Map(entries, _)) => {
            let value_type = match entries.data_type() {
                DataType::Struct(kv) if kv.len() == 2 => kv[1].data_type().clone(),
                other => other.clone(),
            };
            let mut object = serde_json::Map::new();
            for (key, v) in map {
                let v = json(v, &value_type).map_err(|e| format!("[{key:?}]{e}"))?;
                object.insert(key, v);
            }
            Json::Object(object)
        }
        (Value::Record(fields), DataType::Struct(declared)) => {
            let mut object = serde_json::Map::new();
            for (name, v) in fields {
                if let Some((_, f)) = declared.find(&name) {
                    let v = json(v, f.data_type()).map_err(|e| format!(".{name}{e}"))?;
                    object.insert(name, v);
                }
            }
            Json::Object(object)
        }
        (value, t) => match Kind::of(t) {
            Some(kind @ (Kind::Timestamp | Kind::Date32 | Kind::Decimal(..))) => {
                let got = super::value_name(&value);
                let slot = slot(kind, value).map_err(|e| format!(": {e}"))?;
                text(kind, slot).ok_or_else(|| format!(": a {got} out of range"))?
            }
            _ => Json::try_from(value).map_err(|e| format!(": {e}"))?,
        },
    })
}

/// A timestamp's, date's or decimal's slot as the text the nested reader takes.
fn text(kind: Kind, slot: Slot<'_>) -> Option<Json> {
    Some(Json::String(match (kind, slot) {
        (_, Slot::Null) => return Some(Json::Null),
        (Kind::Timestamp, Slot::Int(us)) => {
            DateTime::from_timestamp_micros(us)?.to_rfc3339_opts(SecondsFormat::Micros, true)
        }
        (Kind::Date32, Slot::Int(days)) => {
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
            let date = epoch.checked_add_signed(chrono::TimeDelta::try_days(days)?)?;
            date.format("%Y-%m-%d").to_string()
        }
        (Kind::Decimal(_, scale), Slot::Dec(v)) => decimal::text(v, scale),
        _ => return None,
    }))
}
