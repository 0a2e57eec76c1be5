//! Errors of the checkpoint store.
//!
//! Every error says whose it is ([`ErrorKind`]: the user's, an external system's, or ours)
//! and whether retrying the same call can help ([`Error::is_retryable`]).

/// Errors returned by [`CheckpointStore`](crate::CheckpointStore).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object store failed (I/O, network, permissions, missing object).
    #[error("checkpoint store I/O failed: {0}")]
    Store(#[from] object_store::Error),

    /// An object in the store could not be parsed; the checkpoint is damaged.
    #[error("corrupt checkpoint object {path}: {source}")]
    Corrupt {
        /// Path of the object inside the store.
        path: String,
        /// Why it could not be parsed.
        source: serde_json::Error,
    },

    /// A put-if-absent found a different object already in place.
    #[error("conflicting checkpoint object {path}: {detail}")]
    Conflict {
        /// Path of the object inside the store.
        path: String,
        /// What differs.
        detail: String,
    },

    /// The checkpoint location could not be understood or created.
    #[error("invalid checkpoint location {location:?}: {reason}")]
    InvalidLocation {
        /// The location as given.
        location: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The location's scheme is not supported by this build.
    #[error("unsupported checkpoint location scheme {scheme:?}: {hint}")]
    Unsupported {
        /// The URL scheme, e.g. `s3`.
        scheme: String,
        /// How to get support for it.
        hint: &'static str,
    },

    /// The state parts of a snapshot do not cover every key group exactly once.
    #[error("incomplete state snapshot of operator {operator:?} at epoch {epoch}: {detail}")]
    IncompleteSnapshot {
        /// The snapshot's epoch.
        epoch: u64,
        /// The operator whose parts do not tile its key groups.
        operator: String,
        /// The first key group missing or covered twice.
        detail: String,
    },

    /// An argument (job id, operator or part name, retention policy) is invalid.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// Whose fault an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad configuration or arguments; fix the input.
    User,
    /// The object store or the network failed.
    External,
    /// The checkpoint contents contradict themselves or the protocol.
    Internal,
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whose fault the error is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Store(_) => ErrorKind::External,
            Error::Corrupt { .. } | Error::Conflict { .. } | Error::IncompleteSnapshot { .. } => {
                ErrorKind::Internal
            }
            Error::InvalidLocation { .. }
            | Error::Unsupported { .. }
            | Error::InvalidArgument(_) => ErrorKind::User,
        }
    }

    /// Whether retrying the same call may succeed: only transient store failures.
    pub fn is_retryable(&self) -> bool {
        use object_store::Error as E;
        match self {
            Error::Store(e) => !matches!(
                e,
                E::NotFound { .. }
                    | E::InvalidPath { .. }
                    | E::NotSupported { .. }
                    | E::AlreadyExists { .. }
                    | E::Precondition { .. }
                    | E::NotModified { .. }
                    | E::NotImplemented { .. }
                    | E::PermissionDenied { .. }
                    | E::Unauthenticated { .. }
                    | E::UnknownConfigurationKey { .. }
            ),
            _ => false,
        }
    }

    pub(crate) fn corrupt(path: &object_store::path::Path, source: serde_json::Error) -> Self {
        Error::Corrupt {
            path: path.to_string(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let not_found = Error::Store(object_store::Error::NotFound {
            path: "x".into(),
            source: "gone".into(),
        });
        assert!(!not_found.is_retryable());
        assert_eq!(not_found.kind(), ErrorKind::External);
        let generic = Error::Store(object_store::Error::Generic {
            store: "S3",
            source: "connection reset".into(),
        });
        assert!(generic.is_retryable());
        let bad = Error::InvalidArgument("x".into());
        assert!(!bad.is_retryable());
        assert_eq!(bad.kind(), ErrorKind::User);
    }
}
