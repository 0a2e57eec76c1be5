//! Spark's `from_json(text, schema)`: JSON text parsed into a typed value, as the JSON
//! decoder reads a declared nested column ([`crate::nested`]).
//!
//! The schema is a string literal: `'ARRAY<STRING>'`, `'MAP<STRING, BIGINT>'`,
//! `'STRUCT<a: INT, b: STRING>'` or Spark's field list `'a INT, b STRING'` (a struct).
//! NULL text gives NULL. Text that is no JSON, or JSON that does not fit the schema, fails
//! its row, which then goes to the dead-letter table with the reason, where Spark's default
//! (`PERMISSIVE`) mode would give NULL and lose it silently.

use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use serde_json::Value;

use crate::field_type::FieldType;
use crate::nested;

/// Spark's `from_json`.
pub(super) fn from_json() -> ScalarUDF {
    // No coercion: a common string type would cast the schema literal when the text is
    // of another kind of string (`CAST(x AS STRING)` is a view), and the schema must stay
    // a literal to give the type; the text is cast when the call runs.
    ScalarUDF::from(FromJson {
        signature: Signature::any(2, Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct FromJson {
    signature: Signature,
}

/// The type a `from_json` schema literal names.
fn schema_type(schema: &str) -> std::result::Result<DataType, String> {
    let field_type = FieldType::try_from(schema.to_owned())
        // Spark's field list, `a INT, b STRING`: a struct of them.
        .or_else(|e| FieldType::try_from(format!("struct<{schema}>")).map_err(|_| e))?;
    let data_type = field_type.arrow_type();
    if !nested::is_nested(&data_type) {
        return Err(format!(
            "`{schema}`: from_json reads an ARRAY, a MAP or a STRUCT (of strings, numbers, \
             booleans, timestamps, dates, decimals and other arrays, maps and structs); \
             cast a JSON scalar with \
             get_json_object instead"
        ));
    }
    Ok(data_type)
}

impl ScalarUDFImpl for FromJson {
    fn name(&self) -> &str {
        "from_json"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        plan_err!("from_json's type comes from its schema argument")
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let schema = match args.scalar_arguments.get(1) {
            Some(Some(
                ScalarValue::Utf8(Some(s))
                | ScalarValue::LargeUtf8(Some(s))
                | ScalarValue::Utf8View(Some(s)),
            )) => s,
            _ => {
                return plan_err!(
                    "from_json(text, schema) takes a schema that is a string literal"
                );
            }
        };
        match schema_type(schema) {
            Ok(data_type) => Ok(Arc::new(Field::new(self.name(), data_type, true))),
            Err(message) => plan_err!("{message}"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let data_type = args.return_field.data_type().clone();
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let texts = cast(&arrays[0], &DataType::Utf8)?;
        let texts = texts.as_string::<i32>();
        let mut values = Vec::with_capacity(texts.len());
        for i in 0..texts.len() {
            if texts.is_null(i) {
                values.push(Value::Null);
                continue;
            }
            let text = texts.value(i);
            let mut value: Value = match serde_json::from_str(text) {
                Ok(v) => v,
                Err(e) => return exec_err!("from_json: not JSON ({e}): {}", excerpt(text)),
            };
            if let Err(why) = nested::conform(&mut value, &data_type) {
                return exec_err!("from_json: the JSON does not fit {data_type}{why}");
            }
            values.push(value);
        }
        Ok(ColumnarValue::Array(nested::build(&values, &data_type)?))
    }
}

/// Shortens a text for an error message.
fn excerpt(s: &str) -> &str {
    match s.char_indices().nth(60) {
        Some((end, _)) => &s[..end],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{ArrayRef, RecordBatch, StringArray};
    use arrow::datatypes::{Date32Type, Decimal128Type, Int64Type, TimestampMicrosecondType};

    use crate::expr::SqlExpr;

    use super::*;

    fn batch(texts: Vec<Option<&str>>) -> RecordBatch {
        RecordBatch::try_from_iter(vec![("s", Arc::new(StringArray::from(texts)) as ArrayRef)])
            .unwrap()
    }

    /// Text of another kind of string (`CAST(... AS STRING)` is a string view), or built
    /// by `concat`, is read as well: the schema stays a literal.
    #[test]
    fn any_kind_of_text_is_read() {
        let b = RecordBatch::try_from_iter(vec![
            (
                "s",
                Arc::new(StringArray::from(vec![Some("1"), None])) as ArrayRef,
            ),
            (
                "value",
                Arc::new(arrow::array::Float64Array::from(vec![Some(1.0), None])) as ArrayRef,
            ),
        ])
        .unwrap();
        for sql in [
            "from_json(concat('[', CAST(s AS STRING), ']'), 'ARRAY<BIGINT>')",
            "from_json(CAST(concat('[', s, ']') AS STRING), 'ARRAY<BIGINT>')",
            "from_json(concat('[', CAST(value AS STRING), ']'), 'ARRAY<DOUBLE>')",
            "from_json(concat('{\"v\":[', CAST(value AS STRING), ']}'), 'v ARRAY<DOUBLE>')['v']",
        ] {
            let e = SqlExpr::compile(sql, &b.schema()).unwrap_or_else(|e| panic!("{sql}: {e}"));
            let out = e.evaluate(&b).unwrap();
            let lists = out.as_list::<i32>();
            assert_eq!(
                cast(&lists.value(0), &DataType::Int64)
                    .unwrap()
                    .as_primitive::<Int64Type>()
                    .values()
                    .as_ref(),
                &[1],
                "{sql}"
            );
            assert!(lists.is_null(1), "{sql}");
        }
    }

    #[test]
    fn json_text_becomes_arrays_maps_and_structs() {
        let b = batch(vec![Some("[1, 2, null]"), None, Some("[]")]);
        let e = SqlExpr::compile("from_json(s, 'ARRAY<BIGINT>')", &b.schema()).unwrap();
        let out = e.evaluate(&b).unwrap();
        let lists = out.as_list::<i32>();
        assert!(lists.is_null(1));
        let first = lists.value(0);
        let first = first.as_primitive::<Int64Type>();
        assert_eq!((first.value(1), first.is_null(2)), (2, true));
        assert_eq!(lists.value_length(2), 0);

        let b = batch(vec![Some(r#"{"a": 1, "b": "x", "c": true}"#)]);
        for schema in ["a INT, b STRING", "STRUCT<a: INT, b: STRING>"] {
            let sql = format!("from_json(s, '{schema}')['b']");
            let e = SqlExpr::compile(&sql, &b.schema()).unwrap();
            let out = e.evaluate(&b).unwrap();
            assert_eq!(out.as_string::<i32>().value(0), "x", "{schema}");
        }
        let e = SqlExpr::compile("from_json(s, 'MAP<STRING, BIGINT>')['a']", &b.schema());
        // `b` is no integer: the row fails, naming where.
        let err = e.unwrap().evaluate(&b).unwrap_err().to_string();
        assert!(
            err.contains("[\"b\"]: expected an integer, got string"),
            "{err}"
        );
    }

    #[test]
    fn timestamps_dates_and_decimals_are_read_inside() {
        let b = batch(vec![Some(
            r#"{"at": "2026-01-01T00:00:01Z", "day": "2026-01-02", "price": "1.005"}"#,
        )]);
        let e = SqlExpr::compile(
            "from_json(s, 'at TIMESTAMP, day DATE, price DECIMAL(5, 2)')",
            &b.schema(),
        )
        .unwrap();
        let out = e.evaluate(&b).unwrap();
        let row = out.as_struct();
        let at = row.column(0).as_primitive::<TimestampMicrosecondType>();
        assert_eq!(at.value(0), 1_767_225_601_000_000);
        assert_eq!(row.column(1).as_primitive::<Date32Type>().value(0), 20_455);
        assert_eq!(row.column(2).as_primitive::<Decimal128Type>().value(0), 101);
        let b = batch(vec![Some(r#"{"at": "soon"}"#)]);
        let err = e.evaluate(&b).unwrap_err().to_string();
        assert!(err.contains(".at: invalid timestamp \"soon\""), "{err}");
    }

    #[test]
    fn bad_text_fails_its_row_and_bad_schemas_are_refused() {
        let b = batch(vec![Some("[1,")]);
        let e = SqlExpr::compile("from_json(s, 'ARRAY<BIGINT>')", &b.schema()).unwrap();
        let err = e.evaluate(&b).unwrap_err().to_string();
        assert!(err.contains("from_json: not JSON"), "{err}");
        for (sql, expected) in [
            (
                "from_json(s, 'BIGINT')",
                "from_json reads an ARRAY, a MAP or a STRUCT",
            ),
            ("from_json(s, s)", "a schema that is a string literal"),
        ] {
            let err = SqlExpr::compile(sql, &b.schema()).unwrap_err().to_string();
            assert!(err.contains(expected), "{sql}: {err}");
        }
    }
}
