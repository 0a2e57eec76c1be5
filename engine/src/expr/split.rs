//! Spark's `split(text, regex[, limit])` by a regular expression, which the `spark` module
//! writes as `spark_split(text, regex, limit)` (a plain delimiter without a limit is
//! DataFusion's `string_to_array` instead).
//!
//! The parts are Java's `String.split(regex, limit)`'s, which Spark calls:
//! - every match ends a part, and empty parts are kept, trailing ones too (Spark takes a
//!   `limit` of 0 as -1, no limit);
//! - a match of no width at the start of the text makes no empty first part;
//! - after a match of no width the next search starts one character on, after a wider
//!   one where it ended (so `,*` in `a,b` also matches nothing before the `b`);
//! - with a `limit` above 0 there are at most `limit` parts, the last one the rest of the
//!   text;
//! - text with no match is one part, itself (`''` gives `['']`);
//! - an empty regex splits non-empty text into its characters, without Java's trailing
//!   empty part (Spark's own rule).
//!
//! The regex is a string literal, compiled when the expression is: Rust's `regex` syntax,
//! which is Java's for classes (`\s`, `\d`, `[,;]`), alternations and repetitions. What it
//! lacks (look-around, back-references) is refused at start with the regex crate's
//! message. A NULL text gives NULL.

use std::sync::Arc;

use arrow::array::{Array, AsArray, ListBuilder, StringBuilder};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Volatility,
};
use regex::Regex;

/// The name the `spark` module's rewriting calls.
pub(super) const NAME: &str = "spark_split";

/// Spark's `split` by a regex.
pub(super) fn spark_split() -> ScalarUDF {
    ScalarUDF::from(SparkSplit {
        signature: Signature::any(3, Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct SparkSplit {
    signature: Signature,
}

/// The regex and limit literals of a call, from its arguments' scalar values.
fn literals(args: &[Option<&ScalarValue>]) -> std::result::Result<(Regex, i64), String> {
    let pattern = match args.get(1) {
        Some(Some(ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)))) => s,
        _ => {
            return Err(
                "split(text, regex[, limit]) takes a regex that is a string literal".into(),
            );
        }
    };
    let limit = match args.get(2) {
        Some(Some(ScalarValue::Int64(Some(limit)))) => *limit,
        _ => {
            return Err(
                "split(text, regex, limit) takes a limit that is an integer literal".into(),
            );
        }
    };
    let regex = Regex::new(pattern).map_err(|e| format!("split: the regex `{pattern}`: {e}"))?;
    Ok((regex, limit))
}

impl ScalarUDFImpl for SparkSplit {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        plan_err!("split's type is set from its arguments")
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let text = args.arg_fields[0].data_type();
        if !matches!(
            text,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
        ) {
            return plan_err!("split takes text to split, not {text}");
        }
        if let Err(message) = literals(args.scalar_arguments) {
            return plan_err!("{message}");
        }
        let item = Field::new_list_field(DataType::Utf8, true);
        Ok(Arc::new(Field::new(
            self.name(),
            DataType::List(Arc::new(item)),
            true,
        )))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalars: Vec<Option<&ScalarValue>> = args
            .args
            .iter()
            .map(|a| match a {
                ColumnarValue::Scalar(s) => Some(s),
                ColumnarValue::Array(_) => None,
            })
            .collect();
        let (regex, limit) = match literals(&scalars) {
            Ok(literals) => literals,
            Err(message) => return exec_err!("{message}"),
        };
        let texts = args.args[0].to_array(args.number_rows)?;
        let texts = cast(&texts, &DataType::Utf8)?;
        let texts = texts.as_string::<i32>();
        let mut lists = ListBuilder::with_capacity(StringBuilder::new(), texts.len());
        for text in texts.iter() {
            match text {
                Some(text) => {
                    for part in parts(text, &regex, limit) {
                        lists.values().append_value(part);
                    }
                    lists.append(true);
                }
                None => lists.append(false),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(lists.finish())))
    }
}

/// The parts of `text` split by `regex` (see the module's docs), at most `limit` when it
/// is above 0.
fn parts<'a>(text: &'a str, regex: &Regex, limit: i64) -> Vec<&'a str> {
    let limit = usize::try_from(limit).ok().filter(|&l| l > 0);
    if regex.as_str().is_empty() && !text.is_empty() {
        return characters(text, limit);
    }
    let mut parts = Vec::new();
    // Where the last part ended, and where the next search starts.
    let (mut index, mut search) = (0, 0);
    while search <= text.len() {
        if limit.is_some_and(|l| parts.len() + 1 >= l) {
            break;
        }
        let Some(m) = regex.find_at(text, search) else {
            break;
        };
        search = if m.is_empty() {
            next_char(text, m.end())
        } else {
            m.end()
        };
        if m.end() == 0 {
            continue; // No empty first part before a match of no width at the start.
        }
        parts.push(&text[index..m.start()]);
        index = m.end();
    }
    parts.push(&text[index..]);
    parts
}

/// The byte index of the character after the one at `at` (past the end at the end).
fn next_char(text: &str, at: usize) -> usize {
    text[at..]
        .chars()
        .next()
        .map_or(at + 1, |c| at + c.len_utf8())
}

/// Spark's split of non-empty text by an empty regex: each character a part, the last of
/// at most `limit` parts the rest.
fn characters(text: &str, limit: Option<usize>) -> Vec<&str> {
    let count = text.chars().count();
    let parts = limit.filter(|&l| l < count).unwrap_or(count);
    let mut out = Vec::with_capacity(parts);
    let mut rest = text;
    for _ in 1..parts {
        let width = rest.chars().next().map_or(0, char::len_utf8);
        out.push(&rest[..width]);
        rest = &rest[width..];
    }
    out.push(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str, regex: &str, limit: i64) -> Vec<String> {
        let regex = Regex::new(regex).unwrap();
        parts(text, &regex, limit)
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    /// The parts Spark 4.3's `split` gave for these texts, regexes and limits (run with
    /// pyspark; a limit of -1 is one not given).
    #[test]
    fn parts_are_spark_s() {
        let spark: [(&str, &str, i64, &[&str]); 18] = [
            ("oneAtwoBthreeC", "[ABC]", -1, &["one", "two", "three", ""]),
            ("oneAtwoBthreeC", "[ABC]", 2, &["one", "twoBthreeC"]),
            ("oneAtwoBthreeC", "[ABC]", 0, &["one", "two", "three", ""]),
            ("a  b\tc ", r"\s+", -1, &["a", "b", "c", ""]),
            ("", r"\s+", -1, &[""]),
            ("abc", "", -1, &["a", "b", "c"]),
            ("abc", "", 2, &["a", "bc"]),
            ("", "", -1, &[""]),
            (",a,,b,", ",", -1, &["", "a", "", "b", ""]),
            (",a,,b,", ",", 3, &["", "a", ",b,"]),
            ("a1b22c333", "[0-9]+", 1, &["a1b22c333"]),
            ("aXbXc", "x", -1, &["aXbXc"]),
            ("a.b|c", "[.|]", -1, &["a", "b", "c"]),
            (
                "h\u{e9}llo w\u{f6}rld",
                "\u{f6}|\u{e9}",
                -1,
                &["h", "llo w", "rld"],
            ),
            ("a,b", ",*", -1, &["a", "", "b", ""]),
            ("xxa", "x", -1, &["", "", "a"]),
            ("a", "a", -1, &["", ""]),
            ("aaa", "a", 2, &["", "aa"]),
        ];
        for (text, regex, limit, expected) in spark {
            assert_eq!(
                split(text, regex, limit),
                expected,
                "{text:?} by {regex:?}, {limit}"
            );
        }
    }

    #[test]
    fn parts_follow_java_s_split() {
        assert_eq!(split("a,b", ",", -1), ["a", "b"]);
        assert_eq!(split("abc", "(?:)", 2), ["a", "bc"]);
        assert_eq!(split("héllo", "", 3), ["h", "é", "llo"]);
        assert_eq!(split("", "", -1), [""]);
        assert_eq!(split("", ",", 2), [""]);
    }
}
