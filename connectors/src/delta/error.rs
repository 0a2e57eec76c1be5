//! Errors of the Delta sink, classified by cause and by whether a retry helps.

use deltalake::DeltaTableError;
use deltalake::kernel::transaction::TransactionError;

/// Result alias of the Delta sink.
pub type Result<T, E = DeltaError> = std::result::Result<T, E>;

pub use crate::cause::Cause;

/// An error of the Delta sink.
#[derive(Debug, thiserror::Error)]
pub enum DeltaError {
    /// The table location is not a usable directory or URL. The user's fault.
    #[error("invalid Delta table location {location:?}: {reason}")]
    InvalidLocation {
        /// The location as given.
        location: String,
        /// Why it cannot be used.
        reason: String,
    },

    /// The sink's schema or partitioning does not match the table, or a batch does not match
    /// the sink's schema. The user's fault.
    #[error("schema mismatch on Delta table {table}: {details}")]
    SchemaMismatch {
        /// The table location.
        table: String,
        /// What differs.
        details: String,
    },

    /// Storage failed: I/O, the object store, or a commit lost against a concurrent writer.
    /// External; see [`DeltaError::is_retryable`].
    #[error("storage failure on Delta table {table} while {operation}: {source}")]
    Storage {
        /// The table location.
        table: String,
        /// What the sink was doing.
        operation: &'static str,
        /// The deltalake error.
        #[source]
        source: Box<DeltaTableError>,
    },

    /// The object store failed under another layer that reports it as its own error (the
    /// Parquet encoder's upload of a data file). External; retryable as the store error is.
    #[error("storage failure on Delta table {table} while {operation}: {message}")]
    ObjectStore {
        /// The table location.
        table: String,
        /// What the sink was doing.
        operation: &'static str,
        /// The object store's error.
        message: String,
        /// Whether the store error is transient.
        retryable: bool,
    },

    /// deltalake failed in a way that storage does not explain (corrupt log, unsupported
    /// table feature, encoder failure). Internal.
    #[error("Delta table {table} failed while {operation}: {source}")]
    Table {
        /// The table location.
        table: String,
        /// What the sink was doing.
        operation: &'static str,
        /// The deltalake error.
        #[source]
        source: Box<DeltaTableError>,
    },

    /// The sink was used inconsistently, for example with a data file of another table or an
    /// epoch that does not fit a Delta txn version. Internal.
    #[error("internal error on Delta table {table}: {details}")]
    Internal {
        /// The table location.
        table: String,
        /// What went wrong.
        details: String,
    },
}

impl DeltaError {
    /// Wraps a deltalake error, choosing the variant by what caused it.
    pub(crate) fn delta(table: &str, operation: &'static str, source: DeltaTableError) -> Self {
        let table = table.to_owned();
        let cause = cause_of(&source);
        if cause == Cause::Internal
            && let Some(store) = store_error_in(&source)
        {
            return Self::ObjectStore {
                table,
                operation,
                message: store.to_string(),
                retryable: store_retryable(store),
            };
        }
        match cause {
            Cause::User => match source {
                DeltaTableError::InvalidTableLocation(reason)
                | DeltaTableError::MissingFeature { url: reason, .. } => Self::InvalidLocation {
                    location: table,
                    reason,
                },
                other => Self::SchemaMismatch {
                    table,
                    details: other.to_string(),
                },
            },
            Cause::External => Self::Storage {
                table,
                operation,
                source: Box::new(source),
            },
            Cause::Internal => Self::Table {
                table,
                operation,
                source: Box::new(source),
            },
        }
    }

    /// An internal error with a message.
    pub(crate) fn internal(table: &str, details: impl Into<String>) -> Self {
        Self::Internal {
            table: table.to_owned(),
            details: details.into(),
        }
    }

    /// A schema mismatch with a message.
    pub(crate) fn schema(table: &str, details: impl Into<String>) -> Self {
        Self::SchemaMismatch {
            table: table.to_owned(),
            details: details.into(),
        }
    }

    /// Who is to blame.
    pub fn cause(&self) -> Cause {
        match self {
            Self::InvalidLocation { .. } | Self::SchemaMismatch { .. } => Cause::User,
            Self::Storage { .. } | Self::ObjectStore { .. } => Cause::External,
            Self::Table { .. } | Self::Internal { .. } => Cause::Internal,
        }
    }

    /// Whether the same call may succeed if repeated (transient storage failures and lost
    /// commit races; [`DeltaSink::commit_epoch`](super::DeltaSink::commit_epoch) is
    /// idempotent, so retrying it is always safe).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Storage { source, .. } => storage_retryable(source),
            Self::ObjectStore { retryable, .. } => *retryable,
            _ => false,
        }
    }
}

/// Classifies a deltalake error.
fn cause_of(err: &DeltaTableError) -> Cause {
    use DeltaTableError as E;
    match err {
        E::InvalidTableLocation(_)
        | E::MissingFeature { .. }
        | E::SchemaMismatch { .. }
        | E::InvalidData { .. } => Cause::User,
        E::ObjectStore { .. }
        | E::Io { .. }
        | E::VersionAlreadyExists(_)
        | E::Transaction {
            source:
                TransactionError::VersionAlreadyExists(_)
                | TransactionError::ObjectStore { .. }
                | TransactionError::CommitConflict(_)
                | TransactionError::MaxCommitAttempts(_)
                | TransactionError::LogStoreError { .. },
        } => Cause::External,
        _ => Cause::Internal,
    }
}

/// The object-store error somewhere in `err`'s chain of sources (a Parquet upload wraps it
/// as an external encoder error).
fn store_error_in(err: &DeltaTableError) -> Option<&object_store::Error> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        if let Some(store) = e.downcast_ref::<object_store::Error>() {
            return Some(store);
        }
        // An `io::Error` wrapping an error is transparent, and its `source` skips it.
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .and_then(|inner| inner.downcast_ref::<object_store::Error>())
        {
            return Some(inner);
        }
        next = e.source();
    }
    None
}

/// Whether an external deltalake error is transient.
fn storage_retryable(err: &DeltaTableError) -> bool {
    match err {
        DeltaTableError::ObjectStore { source }
        | DeltaTableError::Transaction {
            source: TransactionError::ObjectStore { source },
        } => store_retryable(source),
        _ => true,
    }
}

/// Whether an object-store error is transient.
fn store_retryable(err: &object_store::Error) -> bool {
    use object_store::Error as O;
    !matches!(
        err,
        O::NotFound { .. }
            | O::PermissionDenied { .. }
            | O::Unauthenticated { .. }
            | O::NotSupported { .. }
            | O::NotImplemented { .. }
            | O::InvalidPath { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_causes() {
        let loc = DeltaError::delta(
            "t",
            "opening",
            DeltaTableError::InvalidTableLocation("x".into()),
        );
        assert!(matches!(loc, DeltaError::InvalidLocation { .. }));
        assert_eq!(loc.cause(), Cause::User);
        assert!(!loc.is_retryable());

        let io = std::io::Error::other("disk on fire");
        let io = DeltaError::delta("t", "writing", DeltaTableError::Io { source: io });
        assert_eq!(io.cause(), Cause::External);
        assert!(io.is_retryable());

        let race = DeltaError::delta("t", "committing", DeltaTableError::VersionAlreadyExists(3));
        assert!(race.is_retryable());

        // A store failure under the Parquet encoder is the store's, not the encoder's.
        let store = object_store::Error::Generic {
            store: "S3",
            source: "error sending request".into(),
        };
        // As the Parquet writer reports it: the store error inside an `io::Error`.
        let upload = DeltaError::delta(
            "t",
            "writing data files",
            DeltaTableError::Parquet {
                source: deltalake::parquet::errors::ParquetError::External(Box::new(
                    std::io::Error::other(store),
                )),
            },
        );
        assert_eq!(upload.cause(), Cause::External);
        assert!(upload.is_retryable());
        let text = upload.to_string();
        assert!(
            text.starts_with("storage failure on Delta table t while writing data files")
                && text.contains("error sending request")
                && !text.contains("parquet"),
            "{text}"
        );

        let bug = DeltaError::delta("t", "committing", DeltaTableError::Generic("?".into()));
        assert_eq!(bug.cause(), Cause::Internal);
        assert!(!bug.is_retryable());
    }
}
