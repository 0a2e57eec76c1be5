//! The window function of a `GROUP BY` (`TUMBLE`, `HOP`, `CUMULATE`, `SESSION`, Spark's
//! `window` and `session_window`) and the lengths of time it takes.

use crate::sql::error::SqlError;
use std::time::Duration;

use datafusion::sql::sqlparser::ast::{Expr, FunctionArgExpr};
use sluice_engine::window::WindowKind;

use super::super::query::function_args;

/// A window function of GROUP BY.
#[derive(Debug)]
pub(in crate::sql) struct WindowCall {
    pub(in crate::sql) kind: WindowKind,
    pub(in crate::sql) time_column: String,
    /// How far past the Unix epoch its windows start.
    pub(in crate::sql) offset: Duration,
    /// For a session whose gap is an expression of the row (Spark's `session_window(ts,
    /// CASE ... END)`): its SQL; the kind's gap is then zero.
    pub(in crate::sql) gap: Option<String>,
}

/// A window function of GROUP BY (`TUMBLE(ts, size[, offset])`, `HOP(ts, slide, size[,
/// offset])`, Spark's `window(ts, size[, slide[, startTime]])`, `session_window(ts, gap)`
/// whose gap may be an expression, ...): its kind, time column and offset (how far past
/// the Unix epoch its windows start, taken modulo their period, so Spark's negative
/// `startTime` works too); `None` for anything else.
pub(in crate::sql) fn window_call(e: &Expr) -> Result<Option<WindowCall>, SqlError> {
    let Expr::Function(f) = e else {
        return Ok(None);
    };
    let name = f.name.to_string().to_ascii_lowercase();
    if !matches!(
        name.as_str(),
        "tumble" | "hop" | "cumulate" | "session" | "window" | "session_window"
    ) {
        return Ok(None);
    }
    let args: Vec<String> = function_args(&f.args)
        .iter()
        .map(|a| a.to_string())
        .collect();
    let usage = match name.as_str() {
        "tumble" => "TUMBLE(ts, INTERVAL '5' MINUTE[, offset])",
        "hop" => "HOP(ts, INTERVAL '1' MINUTE, INTERVAL '5' MINUTE[, offset]), slide then size",
        "cumulate" => "CUMULATE(ts, INTERVAL '1' HOUR, INTERVAL '1' DAY), step then size",
        "session" => "SESSION(ts, INTERVAL '30' MINUTE)",
        "window" => "window(ts, '5 minutes'[, '1 minute'[, '15 seconds']])",
        _ => "session_window(ts, '30 minutes')",
    };
    let wrong = || SqlError::Invalid(format!("`{e}`: {usage}"));
    let Some((column, rest)) = args.split_first() else {
        return Err(wrong());
    };
    // The offset, last: Flink's TUMBLE and HOP, Spark's window() with its start time.
    let (rest, offset) = match (name.as_str(), rest) {
        ("tumble", [size, offset]) => (vec![size.clone()], Some(offset)),
        ("hop" | "window", [a, b, offset]) => (vec![a.clone(), b.clone()], Some(offset)),
        _ => (rest.to_vec(), None),
    };
    // A session's gap that is no literal is the row's own, computed per row.
    if matches!(name.as_str(), "session" | "session_window")
        && let [gap] = function_args(&f.args).get(1..).unwrap_or_default()
        && !matches!(
            gap,
            FunctionArgExpr::Expr(Expr::Value(_) | Expr::Interval(_))
        )
    {
        return Ok(Some(WindowCall {
            kind: WindowKind::Session {
                gap: Duration::ZERO,
            },
            time_column: column.trim_matches('"').to_owned(),
            offset: Duration::ZERO,
            gap: Some(gap.to_string()),
        }));
    }
    let durations = rest
        .iter()
        .map(|a| interval(a))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| format!("{}: {m}", wrong()))?;
    let kind = match (name.as_str(), durations.as_slice()) {
        ("tumble" | "window", [size]) => WindowKind::Tumbling { size: *size },
        ("hop", [slide, size]) | ("window", [size, slide]) => WindowKind::Sliding {
            size: *size,
            slide: *slide,
        },
        ("cumulate", [step, size]) if size.as_nanos() % step.as_nanos() != 0 => {
            return Err(SqlError::Invalid(format!(
                "{}: the size ({size:?}) must be a multiple of the step ({step:?})",
                wrong()
            )));
        }
        ("cumulate", [step, size]) => WindowKind::Cumulating {
            size: *size,
            step: *step,
        },
        ("session" | "session_window", [gap]) => WindowKind::Session { gap: *gap },
        _ => return Err(wrong()),
    };
    let offset = match (offset, kind) {
        (None, _) => Duration::ZERO,
        (Some(text), WindowKind::Tumbling { size: period })
        | (Some(text), WindowKind::Sliding { slide: period, .. }) => {
            let (negative, offset) =
                signed_interval(text).map_err(|m| format!("{}: {m}", wrong()))?;
            let (offset, period) = (offset.as_nanos(), period.as_nanos());
            let offset = if negative {
                (period - offset % period) % period
            } else {
                offset % period
            };
            Duration::from_nanos(u64::try_from(offset).unwrap_or(u64::MAX))
        }
        (Some(_), _) => return Err(wrong()),
    };
    Ok(Some(WindowCall {
        kind,
        time_column: column.trim_matches('"').to_owned(),
        offset,
        gap: None,
    }))
}

/// A duration in SQL that may be negative (`INTERVAL '-8' HOUR`, `'-8 hours'`), or zero:
/// whether it is negative, and its length.
fn signed_interval(sql: &str) -> Result<(bool, Duration), SqlError> {
    let negative = sql.contains("'-") || sql.trim_start().starts_with('-');
    let unsigned = sql.replacen("'-", "'", 1);
    let unsigned = unsigned.trim_start().trim_start_matches('-');
    let zero = unsigned
        .chars()
        .filter(char::is_ascii_digit)
        .all(|c| c == '0');
    if zero {
        return Ok((false, Duration::ZERO));
    }
    Ok((negative, interval(unsigned)?))
}

/// A duration in SQL: `INTERVAL '10' MINUTE`, `INTERVAL '10 minutes'` or `'10 minutes'`.
pub(in crate::sql) fn interval(sql: &str) -> Result<Duration, SqlError> {
    let text = sql.trim();
    let body = match text.get(..8) {
        Some(head) if head.eq_ignore_ascii_case("interval") => text[8..].trim(),
        _ => text,
    };
    let expected = || SqlError::Invalid(format!("`{sql}`: an interval like INTERVAL '10' MINUTE"));
    // Spark SQL's `INTERVAL 10 MINUTES` is `INTERVAL '10' MINUTES`.
    let (value, unit) = match body.strip_prefix('\'') {
        Some(rest) => rest.split_once('\'').ok_or_else(expected)?,
        None if body.starts_with(|c: char| c.is_ascii_digit()) => body
            .split_once(char::is_whitespace)
            .filter(|(_, unit)| unit.chars().all(|c| c.is_ascii_alphabetic() || c == ' '))
            .ok_or_else(expected)?,
        None => return Err(expected()),
    };
    let unit = unit.trim().to_ascii_lowercase();
    let text = if unit.is_empty() {
        value.trim().to_owned()
    } else {
        format!("{} {}", value.trim(), unit.trim_end_matches('s'))
    };
    // A month or a year is no fixed length of time: humantime would take 30.44 and
    // 365.25 days, cutting windows that match no calendar (Spark refuses them too).
    let calendar = text.split(|c: char| !c.is_ascii_alphabetic()).any(|unit| {
        unit == "M"
            || matches!(
                unit.to_ascii_lowercase().as_str(),
                "month" | "months" | "mon" | "mons" | "year" | "years" | "y" | "yr" | "yrs"
            )
    });
    if calendar {
        return Err(SqlError::Invalid(format!(
            "`{sql}`: months and years have no fixed length; write days (INTERVAL '30' DAY)"
        )));
    }
    let duration = humantime::parse_duration(&text)
        .map_err(|e| SqlError::Invalid(format!("{}: {e}", expected())))?;
    if duration.is_zero() {
        return Err(SqlError::Invalid(format!("`{sql}`: a duration above 0")));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(
            interval("INTERVAL '10' MINUTE"),
            Ok(Duration::from_secs(600))
        );
        assert_eq!(
            interval("interval '2 hours'"),
            Ok(Duration::from_secs(7200))
        );
        assert_eq!(interval("'5 minutes'"), Ok(Duration::from_secs(300)));
        assert_eq!(
            interval("INTERVAL '1' DAY"),
            Ok(Duration::from_secs(86_400))
        );
        assert!(interval("10").is_err());
        for calendar in [
            "INTERVAL '1' MONTH",
            "INTERVAL '2' YEAR",
            "'1 month'",
            "INTERVAL '3 months'",
            "'1y'",
            "'1M'",
        ] {
            let err = interval(calendar).unwrap_err();
            assert!(
                err.to_string().contains("no fixed length"),
                "{calendar}: {err}"
            );
        }
        assert_eq!(interval("'1m'"), Ok(Duration::from_secs(60)));
        assert_eq!(interval("INTERVAL 90 SECONDS"), Ok(Duration::from_secs(90)));
        assert_eq!(interval("INTERVAL 2 HOUR"), Ok(Duration::from_secs(7200)));
        assert!(interval("INTERVAL 2").is_err());
        assert!(interval("INTERVAL 2 + 3 MINUTE").is_err());
        assert!(interval("INTERVAL '0' SECOND").is_err());
    }
}
