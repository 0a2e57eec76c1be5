//! A source table's `WATERMARK FOR ts AS ts - INTERVAL ...` clause: its event-time column
//! and delay.

use crate::sql::error::SqlError;
use std::time::Duration;

use super::super::window::interval;

/// Takes the `WATERMARK FOR ...` entry out of the column list.
pub(super) fn split(statement: &str) -> Result<(String, Option<String>), SqlError> {
    let (body, watermarks) = super::take_entries(statement, |e| {
        Ok(e.to_ascii_uppercase()
            .starts_with("WATERMARK ")
            .then(|| e.to_owned()))
    })?;
    if watermarks.len() > 1 {
        return Err("one WATERMARK clause".into());
    }
    Ok((body, watermarks.into_iter().next()))
}

/// `WATERMARK FOR col AS col [- INTERVAL ...]`: the column and its delay.
pub(super) fn of(
    clause: &str,
    columns: &[(String, String, bool)],
    computed: &[(String, String)],
) -> Result<(String, Duration), SqlError> {
    let expected = "WATERMARK FOR ts AS ts - INTERVAL '10' MINUTE";
    let words: Vec<&str> = clause.split_whitespace().collect();
    if words.len() < 4
        || !words[1].eq_ignore_ascii_case("for")
        || !words[3].eq_ignore_ascii_case("as")
    {
        return Err(SqlError::Invalid(format!("`{clause}`: {expected}")));
    }
    let column = words[2].trim_matches('"').to_owned();
    match columns.iter().find(|c| c.0 == column) {
        Some((_, ty, _)) if ty == "timestamp" => {}
        Some(_) => {
            return Err(SqlError::Invalid(format!(
                "`{clause}`: the column `{column}` is not a TIMESTAMP"
            )));
        }
        // A computed column's type is its expression's, checked when the plan compiles.
        None if columns.is_empty() || computed.iter().any(|c| c.0 == column) => {}
        None => {
            return Err(SqlError::Invalid(format!(
                "`{clause}`: no column `{column}`"
            )));
        }
    }
    let rest = words[4..].join(" ");
    let rest = rest.trim();
    let delay = if rest.trim_matches('"') == column {
        Duration::ZERO
    } else {
        let interval_sql = rest
            .strip_prefix(words[2])
            .map(str::trim)
            .and_then(|r| r.strip_prefix('-'))
            .ok_or_else(|| SqlError::Invalid(format!("`{clause}`: {expected}")))?;
        interval(interval_sql.trim())?
    };
    Ok((column, delay))
}
