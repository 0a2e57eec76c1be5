//! Splitting a SQL file into statements, and the `SET 'key' = 'value'` statement.

use crate::sql::error::SqlError;

/// The statements of `text`, split at `;` outside quotes and comments; comments are left
/// out, and empty statements dropped.
pub(super) fn split(text: &str) -> Result<Vec<String>, SqlError> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                current.push(c);
                loop {
                    let Some(next) = chars.next() else {
                        return Err(SqlError::Invalid(format!(
                            "an unterminated {c} quote in `{}`",
                            current.trim()
                        )));
                    };
                    current.push(next);
                    if next == c {
                        // A doubled quote is an escaped one.
                        if chars.peek() == Some(&c) {
                            current.push(chars.next().expect("peeked"));
                        } else {
                            break;
                        }
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                for next in chars.by_ref() {
                    if next == '\n' {
                        current.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                loop {
                    let Some(next) = chars.next() else {
                        return Err("an unterminated /* comment".into());
                    };
                    if last == '*' && next == '/' {
                        break;
                    }
                    last = next;
                }
                current.push(' ');
            }
            ';' => {
                let s = current.trim();
                if !s.is_empty() {
                    statements.push(s.to_owned());
                }
                current.clear();
            }
            c => current.push(c),
        }
    }
    let s = current.trim();
    if !s.is_empty() {
        statements.push(s.to_owned());
    }
    Ok(statements)
}

/// `SET 'key' = 'value'` (quotes optional): `Some(Ok((key, value as YAML)))`; `None`
/// when the statement is not a `SET`.
pub(super) fn set_statement(statement: &str) -> Option<Result<(String, String), SqlError>> {
    let head = statement.get(..4)?;
    if !head.eq_ignore_ascii_case("set ") {
        return None;
    }
    let body = statement[4..].trim();
    let Some((key, value)) = body.split_once('=') else {
        return Some(Err("SET 'key' = 'value'".into()));
    };
    let key = unquote(key.trim());
    let value = value.trim();
    if key.is_empty() {
        return Some(Err("SET 'key' = 'value', with a key".into()));
    }
    // A quoted value is text for YAML to read (a number stays a number).
    Some(Ok((key, unquote(value))))
}

/// `'text'` without its quotes (and `''` as `'`); anything else as it is.
pub(super) fn unquote(text: &str) -> String {
    match text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        Some(inner) => inner.replace("''", "'"),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_outside_quotes_and_comments() {
        let text = "SET 'a' = 'x;y'; -- a comment; with a semicolon\n\
                    SELECT 'it''s; fine' /* ; */ FROM t;;\n  ";
        assert_eq!(
            split(text).unwrap(),
            vec!["SET 'a' = 'x;y'", "SELECT 'it''s; fine'   FROM t"]
        );
        assert!(
            split("SELECT 'open")
                .unwrap_err()
                .to_string()
                .contains("unterminated")
        );
    }

    #[test]
    fn set_statements() {
        assert_eq!(
            set_statement("SET 'trigger.records-per-epoch' = '1000'"),
            Some(Ok(("trigger.records-per-epoch".into(), "1000".into())))
        );
        assert_eq!(
            set_statement("set job-id = j"),
            Some(Ok(("job-id".into(), "j".into())))
        );
        assert_eq!(set_statement("SELECT 1"), None);
        assert!(matches!(set_statement("SET nothing"), Some(Err(_))));
    }
}
