//! Spark's `initcap(text)`, which the `spark` module writes as `spark_initcap(text)`: the
//! text in lowercase, each word's first character in title case, words being delimited
//! by spaces only (`'add_to_cart x-y'` gives `'Add_to_cart X-y'`). DataFusion's own
//! `initcap` starts a word after any character that is not a letter or a digit
//! (`'Add_To_Cart X-Y'`), which would change a Spark job's values silently. A NULL text
//! gives NULL.

use std::sync::Arc;

use arrow::array::{Array, AsArray, StringBuilder};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// The name the `spark` module's rewriting calls.
pub(super) const NAME: &str = "spark_initcap";

/// Spark's `initcap`.
pub(super) fn spark_initcap() -> ScalarUDF {
    ScalarUDF::from(SparkInitcap {
        signature: Signature::string(1, Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct SparkInitcap {
    signature: Signature,
}

/// `text` as Spark's `initcap` gives it.
fn initcap(text: &str, out: &mut String) {
    out.clear();
    let mut after_space = true;
    for c in text.chars() {
        if after_space {
            // Title case is upper case but for a few ligatures (`ǆ` gives `ǅ`), which
            // Rust's standard library does not tell apart.
            out.extend(c.to_lowercase().flat_map(char::to_uppercase));
        } else {
            out.extend(c.to_lowercase());
        }
        after_space = c == ' ';
    }
}

impl ScalarUDFImpl for SparkInitcap {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let texts = args.args[0].to_array(args.number_rows)?;
        let texts = cast(&texts, &DataType::Utf8)?;
        let texts = texts.as_string::<i32>();
        let mut out = StringBuilder::with_capacity(texts.len(), texts.value_data().len());
        let mut word = String::new();
        for text in texts.iter() {
            match text {
                Some(text) => {
                    initcap(text, &mut word);
                    out.append_value(&word);
                }
                None => out.append_null(),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_delimited_by_spaces_only() {
        let mut out = String::new();
        for (text, want) in [
            ("add_to_cart x-y", "Add_to_cart X-y"),
            ("  tWo  WORDS\tTAB", "  Two  Words\ttab"),
            ("ábc éFG", "Ábc Éfg"),
            ("", ""),
        ] {
            initcap(text, &mut out);
            assert_eq!(out, want, "{text}");
        }
    }
}
