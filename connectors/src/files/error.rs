//! Errors of the file source, classified by cause and by whether a retry helps.

use std::io;
use std::path::{Path, PathBuf};

/// Result alias of the file source.
pub type Result<T, E = FileError> = std::result::Result<T, E>;

pub use crate::cause::Cause;

/// A file-source failure, worded for the user. Bad records are not errors: they become
/// dead letters.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// A setting is invalid.
    #[error("invalid file source setting `{key}`: {message}")]
    Setting {
        /// The key, e.g. `partition-filter`.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The configured path does not exist, or is neither a file nor a directory.
    #[error("file source path {path}: {message}")]
    Path {
        /// The path or pattern as given.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// I/O on a file or directory failed.
    #[error("reading {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A file is not valid in its format (truncated Parquet, a bad Avro header, ...).
    #[error("reading {}: {message}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What the decoder reported.
        message: String,
    },
    /// A file's columns cannot be read as the source's schema (a required column is
    /// missing, or a column's type cannot be converted at all).
    #[error("reading {}: {message}", path.display())]
    Schema {
        /// The file.
        path: PathBuf,
        /// What does not match.
        message: String,
    },
    /// The schema could not be inferred.
    #[error("inferring the schema of the file source: {0}")]
    Inference(String),
    /// A range names a file that is not in the listing (a checkpoint of another listing).
    #[error("file {0:?} is not under the source path any more (or was pruned); was it moved?")]
    UnknownFile(String),
    /// Building Arrow data failed.
    #[error("file source internal error: {0}")]
    Internal(String),
}

impl FileError {
    /// Who is to blame.
    pub fn cause(&self) -> Cause {
        match self {
            Self::Io { source, .. } if transient(source) => Cause::External,
            Self::Internal(_) => Cause::Internal,
            _ => Cause::User,
        }
    }

    /// Whether retrying could help: only for I/O that is not a missing file, a permission
    /// problem or bad data.
    pub fn retryable(&self) -> bool {
        self.cause() == Cause::External
    }

    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn corrupt(path: &Path, message: impl std::fmt::Display) -> Self {
        Self::Corrupt {
            path: path.to_path_buf(),
            message: message.to_string(),
        }
    }

    pub(crate) fn schema(path: &Path, message: impl Into<String>) -> Self {
        Self::Schema {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    pub(crate) fn setting(key: &str, message: impl Into<String>) -> Self {
        Self::Setting {
            key: key.to_string(),
            message: message.into(),
        }
    }
}

fn transient(e: &io::Error) -> bool {
    !matches!(
        e.kind(),
        io::ErrorKind::NotFound
            | io::ErrorKind::PermissionDenied
            | io::ErrorKind::InvalidData
            | io::ErrorKind::InvalidInput
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::IsADirectory
    )
}

impl From<arrow::error::ArrowError> for FileError {
    fn from(e: arrow::error::ArrowError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<FileError> for sluice_engine::runtime::ConnectorFailure {
    fn from(e: FileError) -> Self {
        let retryable = e.retryable();
        Self::new(e.to_string(), retryable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_and_retries() {
        let missing = FileError::io(Path::new("/x.csv"), io::ErrorKind::NotFound.into());
        assert_eq!(missing.cause(), Cause::User);
        assert!(!missing.retryable());
        let flaky = FileError::io(Path::new("/x.csv"), io::ErrorKind::Interrupted.into());
        assert!(flaky.retryable());
        let corrupt = FileError::corrupt(Path::new("/d/x.parquet"), "bad footer");
        assert_eq!(corrupt.to_string(), "reading /d/x.parquet: bad footer");
        let failure: sluice_engine::runtime::ConnectorFailure = corrupt.into();
        assert!(!failure.retryable);
        assert!(failure.message.contains("/d/x.parquet"));
    }
}
