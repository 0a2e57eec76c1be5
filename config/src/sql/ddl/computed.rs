//! Computed columns, as Flink declares them: `ts AS TO_TIMESTAMP_LTZ(ts_ms, 3)` in a
//! source table's column list. A computed column is no field of the records: it is a SQL
//! expression of the declared columns (and of the computed columns before it), computed
//! by a projection (`<table>/computed`) right after the source and before its `CHECK`
//! rules, so that queries, rules and the `WATERMARK` read it as any column. Its type is
//! the expression's.

use crate::sql::error::SqlError;

/// Takes the computed columns `(name, SQL)` out of `statement`'s column list: an entry of
/// the form `name AS expression`, in order. A name declared twice is refused.
///
/// # Errors
/// An entry `name AS` without an expression.
pub(super) fn split(statement: &str) -> Result<(String, Vec<(String, String)>), SqlError> {
    let (body, computed) = super::take_entries(statement, computed_column)?;
    for (i, (name, _)) in computed.iter().enumerate() {
        if computed[..i].iter().any(|(n, _)| n == name) {
            return Err(SqlError::Invalid(format!(
                "computed column `{name}` is declared twice"
            )));
        }
    }
    Ok((body, computed))
}

/// `name AS expression` as `(name, expression)`; `None` for any other entry.
fn computed_column(entry: &str) -> Result<Option<(String, String)>, SqlError> {
    let mut words = entry.splitn(3, char::is_whitespace);
    let (Some(name), Some(r#as)) = (words.next(), words.next()) else {
        return Ok(None);
    };
    if !r#as.eq_ignore_ascii_case("as") || name.eq_ignore_ascii_case("watermark") {
        return Ok(None);
    }
    let expression = words.next().unwrap_or_default().trim();
    if expression.is_empty() {
        return Err(SqlError::Invalid(format!(
            "`{entry}`: a computed column is `name AS expression` (`ts AS \
             TO_TIMESTAMP_LTZ(ts_ms, 3)`)"
        )));
    }
    Ok(Some((
        name.trim_matches(|c| c == '"' || c == '`').to_owned(),
        expression.to_owned(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computed_columns_leave_the_declared_ones() {
        let (body, computed) = split(
            "CREATE TABLE t (id BIGINT, ts_ms BIGINT, ts AS TO_TIMESTAMP_LTZ(ts_ms, 3), \
             day AS date_format(ts, 'yyyy-MM-dd'), CHECK (id > 0))",
        )
        .unwrap();
        assert_eq!(
            body,
            "CREATE TABLE t (id BIGINT, ts_ms BIGINT, CHECK (id > 0))"
        );
        assert_eq!(
            computed,
            [
                ("ts".to_owned(), "TO_TIMESTAMP_LTZ(ts_ms, 3)".to_owned()),
                ("day".to_owned(), "date_format(ts, 'yyyy-MM-dd')".to_owned()),
            ]
        );
        let (same, none) = split("CREATE TABLE t (a INT)").unwrap();
        assert_eq!((same.as_str(), none.len()), ("CREATE TABLE t (a INT)", 0));
        assert!(
            split("CREATE TABLE t (a AS 1, a AS 2)")
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
        assert!(
            split("CREATE TABLE t (a AS)")
                .unwrap_err()
                .to_string()
                .contains("name AS expression")
        );
    }
}
