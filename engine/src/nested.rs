//! JSON arrays and objects read into Arrow lists, structs and maps (of text keys), for the
//! sources' decoders and for `from_json`: each value is checked against
//! its column's type as its record is parsed (a value that does not fit makes the record a
//! dead letter naming where it fails), then a batch's values are built by `arrow-json`.
//!
//! Timestamps, dates and decimals inside them are read as in a top-level column: a
//! timestamp from RFC 3339 text (or Flink's and Spark's forms) or epoch milliseconds, a
//! date from `YYYY-MM-DD`, a decimal from a number or quoted number, rounded half up to
//! its places.
//!
//! Inside a nested value, as in a top-level column, a number or a boolean in a string field
//! is its JSON text (`5` is `"5"`); a string in a number field does not fit, nor does an
//! array or object in a string field. Objects' other keys are skipped and their missing
//! keys are null.

use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::error::ArrowError;
use serde_json::Value;

use crate::{decimal, timestamp};

/// Whether a column of `data_type` is one this module reads: a list, struct or map (of
/// text keys) of strings, 64- and 32-bit integers, doubles, booleans, timestamps, dates,
/// decimals, lists, structs and maps.
pub fn is_nested(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::List(_) | DataType::Struct(_) | DataType::Map(..)
    ) && nests(data_type)
}

fn nests(data_type: &DataType) -> bool {
    match data_type {
        DataType::Utf8 | DataType::Int64 | DataType::Int32 | DataType::Float64 => true,
        DataType::Boolean | DataType::Date32 => true,
        DataType::Timestamp(TimeUnit::Microsecond, _) => true,
        DataType::Decimal128(_, scale) => *scale >= 0,
        DataType::List(item) => nests(item.data_type()),
        DataType::Struct(fields) => fields.iter().all(|f| nests(f.data_type())),
        DataType::Map(entries, _) => map_value(entries.data_type()).is_some_and(nests),
        _ => false,
    }
}

/// The value type of a map's entries, when its keys are text.
fn map_value(entries: &DataType) -> Option<&DataType> {
    match entries {
        DataType::Struct(fields)
            if fields.len() == 2 && fields[0].data_type() == &DataType::Utf8 =>
        {
            Some(fields[1].data_type())
        }
        _ => None,
    }
}

/// Checks that `value` fits `data_type`, and writes its timestamps, dates and decimals as
/// [`build`] reads them: a timestamp as its microseconds, a date as its days and a decimal
/// as its text with the type's places.
///
/// # Errors
/// Where it does not fit and why: `[2].qty: expected a 32-bit integer, got string`.
pub fn conform(value: &mut Value, data_type: &DataType) -> Result<(), String> {
    match (value, data_type) {
        (Value::Array(items), DataType::List(item)) => {
            for (i, v) in items.iter_mut().enumerate() {
                conform(v, item.data_type()).map_err(|e| format!("[{i}]{e}"))?;
            }
        }
        (Value::Object(map), DataType::Map(entries, _)) => {
            let value = map_value(entries.data_type())
                .ok_or_else(|| ": a map whose keys are not text".to_owned())?;
            for (key, v) in map.iter_mut() {
                conform(v, value).map_err(|e| format!("[{key:?}]{e}"))?;
            }
        }
        (Value::Object(map), DataType::Struct(fields)) => {
            for field in fields {
                if let Some(v) = map.get_mut(field.name()) {
                    conform(v, field.data_type()).map_err(|e| format!(".{}{e}", field.name()))?;
                }
            }
        }
        (value, data_type) => {
            if let Some(written) = scalar(value, data_type)? {
                *value = written;
            }
        }
    }
    Ok(())
}

/// Whether a value that is no array or object (or one where no list, map or struct is
/// declared) fits `data_type`: `None` when it does as it is, the value to write instead
/// for a timestamp, date or decimal.
fn scalar(value: &Value, data_type: &DataType) -> Result<Option<Value>, String> {
    let mismatch = || format!(": expected {}, got {}", expected(data_type), got(value));
    let fits = match (value, data_type) {
        (Value::Null, _) => true,
        (Value::String(_) | Value::Number(_) | Value::Bool(_), DataType::Utf8)
        | (Value::Bool(_), DataType::Boolean) => true,
        (Value::Number(n), DataType::Int64) => n.is_i64(),
        (Value::Number(n), DataType::Int32) => n.as_i64().is_some_and(|v| i32::try_from(v).is_ok()),
        (Value::Number(_), DataType::Float64) => true,
        // As a top-level column: RFC 3339 text (or Flink's and Spark's forms), or epoch
        // milliseconds.
        (Value::String(s), DataType::Timestamp(..)) => {
            let micros = timestamp::parse_timestamp_micros(s)
                .ok_or_else(|| format!(": invalid timestamp {:?}", decimal::excerpt(s)))?;
            return Ok(Some(micros.into()));
        }
        (Value::Number(n), DataType::Timestamp(..)) => {
            let micros = n.as_i64().and_then(|ms| ms.checked_mul(1000));
            return micros.map(|us| Some(us.into())).ok_or_else(mismatch);
        }
        (Value::String(s), DataType::Date32) => {
            let days = timestamp::parse_date_days(s)
                .ok_or_else(|| format!(": invalid date {:?}", decimal::excerpt(s)))?;
            return Ok(Some(days.into()));
        }
        (Value::String(_) | Value::Number(_), &DataType::Decimal128(precision, scale)) => {
            let scale = u8::try_from(scale).map_err(|_| mismatch())?;
            let unscaled = match value {
                Value::Number(n) => match n.as_i64() {
                    Some(v) => decimal::from_integer(i128::from(v), precision, scale),
                    None => decimal::parse(&n.to_string(), precision, scale),
                },
                Value::String(s) => decimal::parse(s, precision, scale),
                _ => unreachable!("a string or a number"),
            };
            let unscaled = unscaled.map_err(|e| format!(": {e}"))?;
            return Ok(Some(decimal::text(unscaled, scale).into()));
        }
        _ => false,
    };
    if fits { Ok(None) } else { Err(mismatch()) }
}

fn expected(data_type: &DataType) -> &'static str {
    match data_type {
        DataType::Utf8 => "a string",
        DataType::Int64 => "an integer",
        DataType::Int32 => "a 32-bit integer",
        DataType::Float64 => "a number",
        DataType::Boolean => "a boolean",
        DataType::Timestamp(..) => "a timestamp (RFC 3339 text or epoch milliseconds)",
        DataType::Date32 => "a date (YYYY-MM-DD)",
        DataType::Decimal128(..) => "a decimal number",
        DataType::List(_) => "an array",
        DataType::Map(..) => "an object (a map)",
        _ => "an object",
    }
}

fn got(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(_) => "boolean".into(),
        Value::Number(n) => format!("number {n}"),
        Value::String(_) => "string".into(),
        Value::Array(_) => "array".into(),
        Value::Object(_) => "object".into(),
    }
}

/// The values, each made to conform by [`conform`] (`Null` for a missing one), as a column of
/// `data_type`, built by `arrow-json`.
///
/// # Errors
/// When `arrow-json` cannot build it (the values were checked, so it can).
pub fn build(values: &[Value], data_type: &DataType) -> Result<ArrayRef, ArrowError> {
    let schema = Arc::new(Schema::new(vec![Field::new("v", data_type.clone(), true)]));
    let mut decoder = arrow_json::ReaderBuilder::new(schema)
        .with_batch_size(values.len().max(1))
        .with_coerce_primitive(true)
        .build_decoder()?;
    let rows: Vec<serde_json::Map<String, Value>> = values
        .iter()
        .map(|v| serde_json::Map::from_iter([("v".to_owned(), v.clone())]))
        .collect();
    decoder.serialize(&rows)?;
    let batch = decoder.flush()?;
    match batch {
        Some(batch) => Ok(Arc::clone(batch.column(0))),
        None => Ok(arrow::array::new_empty_array(data_type)),
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{
        Date32Type, Decimal128Type, Fields, Int32Type, TimestampMicrosecondType,
    };
    use serde_json::json;

    use super::*;

    fn items() -> DataType {
        DataType::List(Arc::new(Field::new(
            "item",
            DataType::Struct(Fields::from(vec![
                Field::new("sku", DataType::Utf8, true),
                Field::new("qty", DataType::Int32, true),
            ])),
            true,
        )))
    }

    fn check(value: &Value, data_type: &DataType) -> Result<(), String> {
        conform(&mut value.clone(), data_type)
    }

    #[test]
    fn timestamps_dates_and_decimals_are_read_as_top_level_columns() {
        let t = DataType::Struct(Fields::from(vec![
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("day", DataType::Date32, true),
            Field::new("price", DataType::Decimal128(5, 2), true),
        ]));
        let list = DataType::List(Arc::new(Field::new("item", t.clone(), true)));
        assert!(is_nested(&list));
        let mut values = vec![
            json!([
                {"at": "2026-01-01T00:00:01.5Z", "day": "2026-01-02", "price": 1.005},
                {"at": 1_767_225_600_000_i64, "price": "-12.344"},
                {"at": "2026-01-01 01:00:00+01:00", "price": 7},
            ]),
            Value::Null,
        ];
        for v in &mut values {
            conform(v, &list).unwrap();
        }
        let column = build(&values, &list).unwrap();
        let lists = column.as_list::<i32>();
        assert!(lists.is_null(1));
        let rows = lists.value(0);
        let rows = rows.as_struct();
        let at = rows.column(0).as_primitive::<TimestampMicrosecondType>();
        assert_eq!(
            at.values(),
            &[
                1_767_225_601_500_000,
                1_767_225_600_000_000,
                1_767_225_600_000_000
            ]
        );
        assert_eq!(
            rows.column(0).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        let day = rows.column(1).as_primitive::<Date32Type>();
        assert_eq!((day.value(0), day.is_null(1)), (20_455, true));
        // Rounded half up to the places, as a top-level DECIMAL column.
        let price = rows.column(2).as_primitive::<Decimal128Type>();
        assert_eq!(price.values(), &[101, -1234, 700]);

        for (value, why) in [
            (
                json!({"at": "yesterday"}),
                ".at: invalid timestamp \"yesterday\"",
            ),
            (
                json!({"at": 1.5}),
                ".at: expected a timestamp (RFC 3339 text or epoch milliseconds), got number 1.5",
            ),
            (
                json!({"day": "2026-02-30"}),
                ".day: invalid date \"2026-02-30\"",
            ),
            (
                json!({"price": "1000"}),
                ".price: \"1000\" does not fit decimal(5, 2)",
            ),
            (
                json!({"price": true}),
                ".price: expected a decimal number, got boolean",
            ),
        ] {
            let err = check(&value, &t).unwrap_err();
            assert!(err.starts_with(why), "{value}: {err}");
        }
    }

    #[test]
    fn values_are_checked_where_they_fail() {
        let t = items();
        assert!(is_nested(&t));
        assert!(!is_nested(&DataType::Utf8));
        let ts = DataType::List(Arc::new(Field::new(
            "item",
            DataType::Timestamp(TimeUnit::Nanosecond, None),
            true,
        )));
        assert!(!is_nested(&ts));
        assert_eq!(
            check(
                &json!([{"sku": "a", "qty": 2, "other": [1]}, {"sku": null}, null]),
                &t
            ),
            Ok(())
        );
        assert_eq!(
            check(&json!([{"sku": 7}, {"qty": "2"}]), &t),
            Err("[1].qty: expected a 32-bit integer, got string".into())
        );
        assert_eq!(
            check(&json!([{"qty": 3_000_000_000_i64}]), &t),
            Err("[0].qty: expected a 32-bit integer, got number 3000000000".into())
        );
        assert_eq!(
            check(&json!({"sku": "a"}), &t),
            Err(": expected an array, got object".into())
        );
    }

    #[test]
    fn objects_fill_maps_of_text_keys() {
        let entries = DataType::Struct(Fields::from(vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("value", DataType::Int64, true),
        ]));
        let t = DataType::Map(Arc::new(Field::new("entries", entries, false)), false);
        assert!(is_nested(&t));
        assert_eq!(check(&json!({"a": 1, "b": null}), &t), Ok(()));
        assert_eq!(
            check(&json!({"a": 1, "b": "x"}), &t),
            Err("[\"b\"]: expected an integer, got string".into())
        );
        let column = build(&[json!({"a": 1, "b": 2}), Value::Null, json!({})], &t).unwrap();
        let maps = column.as_map();
        assert_eq!(
            (maps.value_length(0), maps.is_null(1), maps.value_length(2)),
            (2, true, 0)
        );
        let keys = maps.keys().as_string::<i32>();
        assert_eq!((keys.value(0), keys.value(1)), ("a", "b"));
    }

    #[test]
    fn checked_values_build_their_column() {
        let values = [
            json!([{"sku": "a", "qty": 2}, {"sku": true}]),
            Value::Null,
            json!([]),
        ];
        let column = build(&values, &items()).unwrap();
        let lists = column.as_list::<i32>();
        assert_eq!(lists.len(), 3);
        assert!(lists.is_null(1));
        assert_eq!((lists.value_length(0), lists.value_length(2)), (2, 0));
        let first = lists.value(0);
        let first = first.as_struct();
        let qty = first.column(1).as_primitive::<Int32Type>();
        assert_eq!((qty.value(0), qty.is_null(1)), (2, true));
        // A boolean in a string field is its JSON text.
        assert_eq!(first.column(0).as_string::<i32>().value(1), "true");
    }
}
