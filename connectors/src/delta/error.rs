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
        match cause_of(&source) {
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
            Self::Storage { .. } => Cause::External,
            Self::Table { .. } | Self::Internal { .. } => Cause::Internal,
        }
    }

    /// Whether the same call may succeed if repeated (transient storage failures and lost
    /// commit races; [`DeltaSink::commit_epoch`](super::DeltaSink::commit_epoch) is
    /// idempotent, so retrying it is always safe).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Storage { source, .. } => storage_retryable(source),
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

/// Whether an external deltalake error is transient.
fn storage_retryable(err: &DeltaTableError) -> bool {
    use object_store::Error as O;
    let object_store = match err {
        DeltaTableError::ObjectStore { source } => Some(source),
        DeltaTableError::Transaction {
            source: TransactionError::ObjectStore { source },
        } => Some(source),
        _ => None,
    };
    !matches!(
        object_store,
        Some(
            O::NotFound { .. }
                | O::PermissionDenied { .. }
                | O::Unauthenticated { .. }
                | O::NotSupported { .. }
                | O::NotImplemented { .. }
                | O::InvalidPath { .. }
        )
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

        let bug = DeltaError::delta("t", "committing", DeltaTableError::Generic("?".into()));
        assert_eq!(bug.cause(), Cause::Internal);
        assert!(!bug.is_retryable());
    }
}
