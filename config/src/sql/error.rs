//! Why a SQL job cannot run: a construct refused, or a statement that is wrong.

/// An error of a SQL job's statements, reported with the statement it is in
/// ([`crate::ConfigError::Sql`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SqlError {
    /// A construct that cannot run incrementally, or does not run yet, as Spark's
    /// `UnsupportedOperationChecker` refuses one: what it is, why, and what to write
    /// instead.
    #[error("{construct}: {why}")]
    Unsupported {
        /// The construct (`ORDER BY / LIMIT`, a query's text).
        construct: String,
        /// Why, and what to write instead.
        why: String,
    },
    /// A statement that is wrong whatever runs it: an unknown table or column, a value
    /// out of range, a type that does not fit.
    #[error("{0}")]
    Invalid(String),
}

impl From<String> for SqlError {
    /// A message of what is wrong ([`SqlError::Invalid`]).
    fn from(message: String) -> Self {
        Self::Invalid(message)
    }
}

impl From<&str> for SqlError {
    /// A message of what is wrong ([`SqlError::Invalid`]).
    fn from(message: &str) -> Self {
        Self::Invalid(message.to_owned())
    }
}

/// A parse error of a statement, as [`SqlError`]: Spark's `a DIV b`, which the parser
/// does not take, is refused naming it and what to write instead.
pub(super) fn parse_error(e: &datafusion::sql::sqlparser::parser::ParserError) -> SqlError {
    let message = e.to_string();
    if message.contains("keyword: DIV") {
        return SqlError::Unsupported {
            construct: "`a DIV b` (Spark's integer division)".to_owned(),
            why: "not supported yet; write `CAST(a / b AS BIGINT)`: a `/` of integers \
                  divides as doubles here, as in Spark, and the cast truncates toward zero, \
                  as DIV does"
                .to_owned(),
        };
    }
    SqlError::Invalid(message)
}
