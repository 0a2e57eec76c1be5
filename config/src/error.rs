//! Configuration errors.

/// A job configuration that cannot be used; always the user's to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The YAML does not match the expected shape; the message names the key.
    #[error("{file}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// What the parser said, with line and column.
        message: String,
    },
    /// A SQL job's statement that cannot run.
    #[error("{file}: `{statement}`: {error}")]
    Sql {
        /// The file.
        file: String,
        /// The statement (or what part of the file).
        statement: String,
        /// Why.
        #[source]
        error: crate::sql::SqlError,
    },
    /// A value is out of range or inconsistent.
    #[error("{file}: `{key}`: {expected}")]
    Invalid {
        /// The file.
        file: String,
        /// The key path.
        key: String,
        /// What was expected.
        expected: String,
    },
}

/// The crate's result alias.
pub type Result<T, E = ConfigError> = std::result::Result<T, E>;
