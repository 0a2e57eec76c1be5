//! Reading a value out of JSON text: Spark's `get_json_object(json, path)` and Flink's
//! `JSON_VALUE(json, path)`, for the nested JSON a string column holds (the JSON
//! decoder gives a nested object or array as its text).
//!
//! A path is `$`, then `.name`, `['name']` or `[index]` steps (`$.user.tags[0]`).
//! `get_json_object` gives a string's text, a number's or a boolean's, and an object's or
//! array's JSON text, as Spark does; `json_value` gives scalars only, and NULL for an object
//! or array, as Flink's does by default. Both give NULL for JSON that does not parse, a
//! path that does not, or a value the path does not reach.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringArray, StringBuilder};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use serde_json::Value;

/// Spark's `get_json_object`.
pub(super) fn get_json_object() -> ScalarUDF {
    ScalarUDF::from(JsonPath::new("get_json_object", true))
}

/// Flink's `JSON_VALUE`.
pub(super) fn json_value() -> ScalarUDF {
    ScalarUDF::from(JsonPath::new("json_value", false))
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonPath {
    name: &'static str,
    /// Whether an object or array is given as its JSON text (else NULL).
    nested: bool,
    signature: Signature,
}

impl JsonPath {
    fn new(name: &'static str, nested: bool) -> Self {
        Self {
            name,
            nested,
            signature: Signature::string(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for JsonPath {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let text = |a: &ArrayRef| -> Result<StringArray> {
            Ok(cast(a, &DataType::Utf8)?
                .as_any()
                .downcast_ref::<StringArray>()
                .expect("cast to Utf8")
                .clone())
        };
        let (json, paths) = (text(&arrays[0])?, text(&arrays[1])?);
        let mut parsed: Option<(String, Option<Vec<Step>>)> = None;
        let mut out = StringBuilder::with_capacity(json.len(), json.len() * 8);
        for i in 0..json.len() {
            if json.is_null(i) || paths.is_null(i) {
                out.append_null();
                continue;
            }
            let path = paths.value(i);
            if parsed.as_ref().is_none_or(|(p, _)| p != path) {
                parsed = Some((path.to_owned(), steps(path)));
            }
            let Some((_, Some(steps))) = &parsed else {
                out.append_null();
                continue;
            };
            let value = serde_json::from_str::<Value>(json.value(i))
                .ok()
                .and_then(|v| walk(v, steps));
            match value {
                Some(Value::Null) | None => out.append_null(),
                Some(Value::String(s)) => out.append_value(s),
                Some(v @ (Value::Object(_) | Value::Array(_))) if self.nested => {
                    out.append_value(v.to_string());
                }
                Some(Value::Object(_) | Value::Array(_)) => out.append_null(),
                Some(v) => out.append_value(v.to_string()),
            }
        }
        let result: ArrayRef = Arc::new(out.finish());
        Ok(ColumnarValue::Array(result))
    }
}

/// A step of a path.
#[derive(Clone, Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// The steps of `path`, `None` when it is not one.
fn steps(path: &str) -> Option<Vec<Step>> {
    let rest = path.trim().strip_prefix('$')?;
    let chars: Vec<char> = rest.chars().collect();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                let start = i + 1;
                let mut end = start;
                while end < chars.len() && chars[end] != '.' && chars[end] != '[' {
                    end += 1;
                }
                if end == start {
                    return None;
                }
                steps.push(Step::Key(chars[start..end].iter().collect()));
                i = end;
            }
            '[' => {
                let close = chars[i..].iter().position(|c| *c == ']')? + i;
                let inner: String = chars[i + 1..close].iter().collect();
                let inner = inner.trim();
                if let Some(key) = inner
                    .strip_prefix('\'')
                    .and_then(|k| k.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|k| k.strip_suffix('"')))
                {
                    steps.push(Step::Key(key.to_owned()));
                } else {
                    steps.push(Step::Index(inner.parse().ok()?));
                }
                i = close + 1;
            }
            _ => return None,
        }
    }
    Some(steps)
}

/// The value `steps` reach in `value`.
fn walk(mut value: Value, steps: &[Step]) -> Option<Value> {
    for step in steps {
        value = match (step, value) {
            (Step::Key(k), Value::Object(mut map)) => map.remove(k)?,
            (Step::Index(n), Value::Array(mut items)) if *n < items.len() => items.swap_remove(*n),
            _ => return None,
        };
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_reach_values_as_spark_and_flink_read_them() {
        use arrow::record_batch::RecordBatch;

        use crate::expr::SqlExpr;

        let j = StringArray::from(vec![
            Some(r#"{"user":{"name":"ann","tags":["a","b"],"age":31,"ok":true},"n":null}"#),
            Some("not json"),
            None,
        ]);
        let batch = RecordBatch::try_from_iter(vec![("j", Arc::new(j) as ArrayRef)]).unwrap();
        let cases: [(&str, [Option<&str>; 3]); 9] = [
            (
                "get_json_object(j, '$.user.name')",
                [Some("ann"), None, None],
            ),
            (
                "get_json_object(j, '$.user.tags[1]')",
                [Some("b"), None, None],
            ),
            ("get_json_object(j, '$.user.age')", [Some("31"), None, None]),
            (
                "get_json_object(j, '$.user.ok')",
                [Some("true"), None, None],
            ),
            (
                "get_json_object(j, '$[''user''].tags')",
                [Some(r#"["a","b"]"#), None, None],
            ),
            ("get_json_object(j, '$.n')", [None, None, None]),
            ("get_json_object(j, '$.nope.deeper')", [None, None, None]),
            ("JSON_VALUE(j, '$.user.name')", [Some("ann"), None, None]),
            ("json_value(j, '$.user')", [None, None, None]),
        ];
        for (sql, want) in cases {
            let e = SqlExpr::compile(sql, &batch.schema()).unwrap_or_else(|e| panic!("{sql}: {e}"));
            let got = e.evaluate(&batch).unwrap();
            let got = got.as_any().downcast_ref::<StringArray>().unwrap();
            let got: Vec<Option<&str>> = (0..3)
                .map(|i| got.is_valid(i).then(|| got.value(i)))
                .collect();
            assert_eq!(got, want, "{sql}");
        }
        assert_eq!(steps("user.name"), None, "a path starts at $");
        assert_eq!(steps("$.a[x]"), None);
    }
}
