//! JSON arrays and objects read into Arrow lists, structs and maps (of text keys), for the
//! sources' decoders and for `from_json`: each value is checked against
//! its column's type as its record is parsed (a value that does not fit makes the record a
//! dead letter naming where it fails), then a batch's values are built by `arrow-json`.
//!
//! Inside a nested value, as in a top-level column, a number or a boolean in a string field
//! is its JSON text (`5` is `"5"`); a string in a number field does not fit, nor does an
//! array or object in a string field. Objects' other keys are skipped and their missing
//! keys are null.

use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::error::ArrowError;
use serde_json::Value;

/// Whether a column of `data_type` is one this module reads: a list or struct of strings,
/// 64- and 32-bit integers, doubles, booleans, lists and structs.
pub fn is_nested(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::List(_) | DataType::Struct(_) | DataType::Map(..)
    ) && nests(data_type)
}

fn nests(data_type: &DataType) -> bool {
    match data_type {
        DataType::Utf8 | DataType::Int64 | DataType::Int32 | DataType::Float64 => true,
        DataType::Boolean => true,
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

/// Checks that `value` fits `data_type`.
///
/// # Errors
/// Where it does not fit and why: `[2].qty: expected a 32-bit integer, got string`.
pub fn check(value: &Value, data_type: &DataType) -> Result<(), String> {
    let fits = match (value, data_type) {
        (Value::Null, _) => true,
        (Value::String(_) | Value::Number(_) | Value::Bool(_), DataType::Utf8)
        | (Value::Bool(_), DataType::Boolean) => true,
        (Value::Number(n), DataType::Int64) => n.is_i64(),
        (Value::Number(n), DataType::Int32) => n.as_i64().is_some_and(|v| i32::try_from(v).is_ok()),
        (Value::Number(_), DataType::Float64) => true,
        (Value::Array(items), DataType::List(item)) => {
            for (i, v) in items.iter().enumerate() {
                check(v, item.data_type()).map_err(|e| format!("[{i}]{e}"))?;
            }
            true
        }
        (Value::Object(map), DataType::Map(entries, _)) => {
            let value = map_value(entries.data_type())
                .ok_or_else(|| ": a map whose keys are not text".to_owned())?;
            for (key, v) in map {
                check(v, value).map_err(|e| format!("[{key:?}]{e}"))?;
            }
            true
        }
        (Value::Object(map), DataType::Struct(fields)) => {
            for field in fields {
                if let Some(v) = map.get(field.name()) {
                    check(v, field.data_type()).map_err(|e| format!(".{}{e}", field.name()))?;
                }
            }
            true
        }
        _ => false,
    };
    if fits {
        Ok(())
    } else {
        Err(format!(
            ": expected {}, got {}",
            expected(data_type),
            got(value)
        ))
    }
}

fn expected(data_type: &DataType) -> &'static str {
    match data_type {
        DataType::Utf8 => "a string",
        DataType::Int64 => "an integer",
        DataType::Int32 => "a 32-bit integer",
        DataType::Float64 => "a number",
        DataType::Boolean => "a boolean",
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

/// The values, each checked by [`check`] (`Null` for a missing one), as a column of
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
    use arrow::datatypes::{Fields, Int32Type};
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

    #[test]
    fn values_are_checked_where_they_fail() {
        let t = items();
        assert!(is_nested(&t));
        assert!(!is_nested(&DataType::Utf8));
        let ts = DataType::List(Arc::new(Field::new(
            "item",
            DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None),
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
