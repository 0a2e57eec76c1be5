//! Spark's functions that DataFusion lacks, from `datafusion-spark` (the Apache DataFusion
//! project's Spark-compatible functions): `pmod`, `sha1`, `crc32`, `xxhash64`,
//! `next_day`, `last_day`, `add_months`, `parse_url`, `soundex`, ... ([`NAMES`] lists
//! them all).
//!
//! A function is taken only when
//! - DataFusion has no function of its name (DataFusion's own keeps its meaning: `trunc`
//!   truncates a number, `hex` is not Spark's, ...),
//! - no rewrite of the `spark` module handles the name ([`REWRITTEN`]), and
//! - it is not volatile (`shuffle` is not taken: a replayed epoch must give the same rows).

use std::sync::{Arc, LazyLock};

use datafusion::logical_expr::ScalarUDF;
#[cfg(test)]
use datafusion::logical_expr::Volatility;
#[cfg(test)]
use datafusion::prelude::SessionContext;

/// The names the `spark` module rewrites into DataFusion's functions itself, and two of
/// `datafusion-spark` left out: `spark_cast`, which is no function of Spark's, and
/// `json_tuple`, which gives one struct where Spark's, a generator, gives columns.
#[cfg(test)]
const REWRITTEN: [&str; 34] = [
    "spark_cast",
    "json_tuple",
    "regexp_replace",
    "initcap",
    "date_format",
    "to_date",
    "to_timestamp",
    "unix_timestamp",
    "from_unixtime",
    "to_timestamp_ltz",
    "proctime",
    "if",
    "year",
    "quarter",
    "month",
    "day",
    "dayofmonth",
    "dayofyear",
    "hour",
    "minute",
    "second",
    "weekofyear",
    "dayofweek",
    "datediff",
    "date_add",
    "date_sub",
    "regexp_extract",
    "split",
    "array",
    "map",
    "sha2",
    "size",
    "substring",
    "substr",
];

/// The functions taken, by name (a test checks that the rules above take exactly these).
const NAMES: [&str; 60] = [
    "add_months",
    "base64",
    "bin",
    "bit_count",
    "bit_get",
    "bitmap_bit_position",
    "bitmap_bucket_number",
    "bitmap_count",
    "bitwise_not",
    "char",
    "crc32",
    "csc",
    "elt",
    "expm1",
    "format_string",
    "from_utc_timestamp",
    "hex",
    "hypot",
    "ilike",
    "is_valid_utf8",
    "last_day",
    "like",
    "luhn_check",
    "make_dt_interval",
    "make_interval",
    "make_valid_utf8",
    "map_from_arrays",
    "map_from_entries",
    "mod",
    "monthname",
    "negative",
    "next_day",
    "parse_url",
    "pmod",
    "quote",
    "rint",
    "sec",
    "sha1",
    "shiftleft",
    "shiftright",
    "shiftrightunsigned",
    "slice",
    "soundex",
    "space",
    "str_to_map",
    "time_trunc",
    "to_utc_timestamp",
    "try_parse_url",
    "try_url_decode",
    "unbase64",
    "unhex",
    "unix_date",
    "unix_micros",
    "unix_millis",
    "unix_seconds",
    "url_decode",
    "url_encode",
    "weekday",
    "width_bucket",
    "xxhash64",
];

/// The functions taken: those of [`NAMES`].
static TAKEN: LazyLock<Vec<Arc<ScalarUDF>>> = LazyLock::new(|| {
    datafusion_spark::all_default_scalar_functions()
        .into_iter()
        .filter(|f| NAMES.contains(&f.name()))
        .collect()
});

/// The functions of `datafusion-spark` that the rules of the module docs take, by name.
#[cfg(test)]
fn by_the_rules() -> Vec<String> {
    let plain = SessionContext::new();
    let state = plain.state();
    let known = state.scalar_functions();
    let mut taken: Vec<String> = datafusion_spark::all_default_scalar_functions()
        .into_iter()
        .filter(|f| {
            let mut names = std::iter::once(f.name()).chain(f.aliases().iter().map(String::as_str));
            f.signature().volatility != Volatility::Volatile
                && names.all(|n| !known.contains_key(n) && !REWRITTEN.contains(&n))
        })
        .map(|f| f.name().to_owned())
        .collect();
    taken.sort();
    taken
}

/// Spark's functions taken from `datafusion-spark`, to register in a session.
pub(crate) fn functions() -> impl Iterator<Item = ScalarUDF> {
    TAKEN.iter().map(|f| f.as_ref().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_functions_named_are_the_ones_the_rules_take() {
        assert_eq!(
            by_the_rules(),
            NAMES,
            "update NAMES (and the README) to what the rules take"
        );
        let mut taken: Vec<&str> = TAKEN.iter().map(|f| f.name()).collect();
        taken.sort_unstable();
        assert_eq!(taken, NAMES);
    }
}
