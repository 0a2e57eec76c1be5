//! Spark's names for DataFusion's functions, and Spark's calls that DataFusion's function
//! of the same name answers otherwise (silently, so they must be written as Spark means
//! them):
//!
//! | Spark | runs as |
//! |---|---|
//! | `log(x)` | `ln(x)`: the natural logarithm (DataFusion's is base 10) |
//! | `ln`, `log10`, `log2`, `log(b, x)` of `x <= 0` | NULL, as Spark gives (DataFusion gives NaN or -inf) |
//! | `date_part('dow', ts)`, `EXTRACT(DOW FROM ts)` | Sunday 1 to Saturday 7, as Spark's `dayofweek` (DataFusion counts from 0) |
//! | `isnan(x)` | false of NULL, as Spark's (DataFusion gives NULL) |
//! | `struct(a, b + 1)` | `named_struct('a', a, 'col2', b + 1)`: fields named as Spark names them (DataFusion's are `c0`, `c1`) |
//! | `sign`, `lcase`, `ucase`, `startswith`, `endswith` | `signum`, `lower`, `upper`, `starts_with`, `ends_with` |
//! | `add_months(d, 1)` | the months cast to INT, which `datafusion-spark`'s takes |
//! | `isnull(x)`, `isnotnull(x)` | `x IS NULL`, `x IS NOT NULL` |
//! | `sort_array(a)`, `sort_array(a, false)` | `array_sort`, nulls first ascending and last descending, as Spark's |
//! | `to_unix_timestamp(...)` | `unix_timestamp(...)` |
//! | `sequence(a, b[, step])` | `generate_series`, the step -1 by default from a start above the stop |
//! | `trunc(d, 'MM')` (`YEAR`, `QUARTER`, `WEEK`, ...) | the DATE of `date_trunc`, NULL for another unit, as Spark's (DataFusion's `trunc` truncates numbers; a numeric precision stays DataFusion's) |
//! | `timestamp_seconds(x)`, `timestamp_millis(n)`, `timestamp_micros(n)` | the UTC timestamp that many units after the epoch (seconds may have a fraction) |

use datafusion::sql::sqlparser::ast::{DateTimeField, Expr};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::{Rewritten, UTC_MICROS, epoch_call, quote, string_literal};

/// Spark's day of the week (Sunday 1) of the timestamp or date `value`.
fn day_of_week(value: &str) -> String {
    format!("CAST(date_part('dow', {value}) AS INT) + 1")
}

/// `EXTRACT(DOW FROM ts)` and `struct(a, b)` (expressions of their own, not calls) as
/// Spark means them; `None` for other expressions.
pub(super) fn expression(e: &Expr) -> Option<String> {
    match e {
        Expr::Extract {
            field: DateTimeField::Dow | DateTimeField::DayOfWeek,
            expr,
            ..
        } => Some(format!("({})", day_of_week(&expr.to_string()))),
        Expr::Struct { values, fields } if fields.is_empty() && !values.is_empty() => {
            let args: Vec<String> = values.iter().map(ToString::to_string).collect();
            Some(named_struct(&args))
        }
        _ => None,
    }
}

/// `struct(args)` with its fields named as Spark names them.
fn named_struct(args: &[String]) -> String {
    let fields: Vec<String> = args
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{}, {a}", quote(&field_name(i, a))))
        .collect();
    format!("named_struct({})", fields.join(", "))
}

/// DataFusion's `date_trunc` unit of Spark's `trunc(date, unit)`; `None` for a unit Spark's
/// `trunc` takes as none (its value is then NULL, as in Spark).
fn date_unit(spark: &str) -> Option<&'static str> {
    Some(match spark {
        "YEAR" | "YYYY" | "YY" => "year",
        "QUARTER" => "quarter",
        "MONTH" | "MM" | "MON" => "month",
        "WEEK" => "week",
        _ => return None,
    })
}

/// A logarithm that is NULL where its argument is not above 0.
fn logarithm(call: &str, value: &str) -> String {
    format!("CASE WHEN {value} > 0 THEN {call} END")
}

/// The name Spark gives the field of `struct(...)` made of the `i`-th (0-based) argument
/// `arg`: a column's own name, else `col<i + 1>`.
fn field_name(i: usize, arg: &str) -> String {
    let parsed = Parser::new(&GenericDialect {})
        .try_with_sql(arg)
        .and_then(|mut p| p.parse_expr());
    match parsed {
        Ok(Expr::Identifier(id)) => id.value,
        Ok(Expr::CompoundIdentifier(parts)) if !parts.is_empty() => {
            parts[parts.len() - 1].value.clone()
        }
        _ => format!("col{}", i + 1),
    }
}

/// Spark's aliases and the calls above.
pub(super) fn call(name: &str, args: &[String], wrong: &dyn Fn(&str) -> String) -> Rewritten {
    Ok(Some(match (name, args) {
        ("log", [value]) | ("ln", [value]) => logarithm(&format!("ln({value})"), value),
        ("log10" | "log2", [value]) => logarithm(&format!("{name}({value})"), value),
        ("log", [base, value]) => {
            format!("CASE WHEN {base} > 0 AND {value} > 0 THEN log({base}, {value}) END")
        }
        ("date_part" | "datepart", [field, value])
            if string_literal(field)
                .is_some_and(|f| ["dow", "dayofweek"].contains(&f.to_lowercase().as_str())) =>
        {
            day_of_week(value)
        }
        ("isnan", [value]) => format!("coalesce(isnan({value}), false)"),
        ("struct", args) if !args.is_empty() => named_struct(args),
        ("trunc", [date, unit]) if string_literal(unit).is_some() => {
            let unit = string_literal(unit).unwrap_or_default().to_uppercase();
            match date_unit(&unit) {
                Some(unit) => format!("CAST(date_trunc('{unit}', CAST({date} AS DATE)) AS DATE)"),
                None => "CAST(NULL AS DATE)".to_owned(),
            }
        }
        // Spark's steps by -1 from a start above the stop; DataFusion's by 1 (no values).
        ("sequence", [start, stop]) => format!(
            "generate_series({start}, {stop}, CASE WHEN {start} <= {stop} THEN 1 ELSE -1 END)"
        ),
        ("sequence", [start, stop, step]) => format!("generate_series({start}, {stop}, {step})"),
        ("sign", [value]) => format!("signum({value})"),
        // `datafusion-spark`'s takes an INT only; Spark casts an integer literal.
        ("add_months", [date, months]) => format!("add_months({date}, CAST({months} AS INT))"),
        ("lcase", [value]) => format!("lower({value})"),
        ("ucase", [value]) => format!("upper({value})"),
        ("startswith", [value, prefix]) => format!("starts_with({value}, {prefix})"),
        ("endswith", [value, suffix]) => format!("ends_with({value}, {suffix})"),
        ("isnull", [value]) => format!("({value} IS NULL)"),
        ("isnotnull", [value]) => format!("({value} IS NOT NULL)"),
        ("sort_array", [array]) => format!("array_sort({array}, 'ASC', 'NULLS FIRST')"),
        ("sort_array", [array, ascending]) => match ascending.to_lowercase().as_str() {
            "true" => format!("array_sort({array}, 'ASC', 'NULLS FIRST')"),
            "false" => format!("array_sort({array}, 'DESC', 'NULLS LAST')"),
            _ => return Err(wrong("an array and `true` or `false`")),
        },
        ("to_unix_timestamp", _) => return epoch_call("unix_timestamp", args, wrong),
        ("timestamp_seconds", [value]) => format!(
            "arrow_cast(to_timestamp_micros(CAST(CAST({value} AS DOUBLE) * 1000000 AS BIGINT)), \
             '{UTC_MICROS}')"
        ),
        ("timestamp_millis", [value]) => format!(
            "arrow_cast(to_timestamp_micros(CAST({value} AS BIGINT) * 1000), '{UTC_MICROS}')"
        ),
        ("timestamp_micros", [value]) => {
            format!("arrow_cast(to_timestamp_micros(CAST({value} AS BIGINT)), '{UTC_MICROS}')")
        }
        _ => return Ok(None),
    }))
}
