//! Aggregates of Spark's or DataFusion's that are not computed here (`corr`, `skewness`,
//! `bit_and`, `product`, exact percentiles, `any_value`, ...): a query calling one is
//! refused at start, naming it, why, and the aggregates that are computed. Without this,
//! such a call read as an expression over a column that is no GROUP BY key, and its
//! refusal spoke of keys the user never wrote.

use datafusion::sql::sqlparser::ast::Expr;

use crate::sql::error::SqlError;
use crate::sql::query::unsupported;

/// Aggregates of Spark or DataFusion that are not computed here, with what to say.
const FOREIGN_AGGREGATES: [(&str, &str); 31] = [
    ("corr", "it is not computed here"),
    ("covar_samp", "it is not computed here"),
    ("covar_pop", "it is not computed here"),
    ("covar", "it is not computed here"),
    ("regr_slope", "it is not computed here"),
    ("regr_intercept", "it is not computed here"),
    ("regr_count", "it is not computed here"),
    ("regr_r2", "it is not computed here"),
    ("regr_avgx", "it is not computed here"),
    ("regr_avgy", "it is not computed here"),
    ("regr_sxx", "it is not computed here"),
    ("regr_syy", "it is not computed here"),
    ("regr_sxy", "it is not computed here"),
    ("skewness", "it is not computed here"),
    ("kurtosis", "it is not computed here"),
    ("bit_and", "it is not computed here"),
    ("bit_or", "it is not computed here"),
    ("bit_xor", "it is not computed here"),
    ("product", "it is not computed here"),
    (
        "try_sum",
        "it is not computed here; sum gives NULL where a sum overflows",
    ),
    (
        "try_avg",
        "it is not computed here; avg gives NULL where a sum overflows",
    ),
    (
        "mode",
        "it keeps a count of every value; approx_count_distinct or collect_set may do",
    ),
    (
        "percentile",
        "an exact percentile keeps every value; percentile_approx(column, p) estimates it",
    ),
    (
        "percentile_cont",
        "an exact percentile keeps every value; percentile_approx(column, p) estimates it",
    ),
    (
        "percentile_disc",
        "an exact percentile keeps every value; percentile_approx(column, p) estimates it",
    ),
    ("histogram_numeric", "it is not computed here"),
    ("count_min_sketch", "it is not computed here"),
    ("bloom_filter_agg", "it is not computed here"),
    (
        "listagg",
        "it is not computed here; string_agg(column, delimiter) is",
    ),
    ("approx_top_k", "it is not computed here"),
    (
        "any_value",
        "an arbitrary value, which differs from run to run; write min(column) or max(column)",
    ),
];

/// The refusal of a call of an aggregate that is not computed here, naming the ones that
/// are; `None` for any other expression.
pub(super) fn refusal(e: &Expr) -> Option<SqlError> {
    let Expr::Function(f) = e else {
        return None;
    };
    let name = f.name.to_string().to_ascii_lowercase();
    let (_, why) = FOREIGN_AGGREGATES.iter().find(|(n, _)| *n == name)?;
    Some(unsupported(
        &format!("`{e}`"),
        &format!(
            "{why}. The aggregates that merge incrementally are count (also DISTINCT), sum, \
             avg, min, max, stddev, variance (and their _pop forms), approx_count_distinct, \
             percentile_approx, collect_set, collect_list, string_agg, max_by, min_by, \
             count_if, bool_and and bool_or"
        ),
    ))
}
