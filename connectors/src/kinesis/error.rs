//! Errors of the Kinesis connector, and how an SDK failure is classified.

use aws_sdk_kinesis::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// Result alias of the Kinesis connector.
pub type Result<T, E = KinesisError> = std::result::Result<T, E>;

/// A Kinesis failure, worded for the user in one line.
#[derive(Debug, thiserror::Error)]
pub enum KinesisError {
    /// The stream does not exist. The user's; a retry does not help.
    #[error("Kinesis stream `{stream}` does not exist at {endpoint}")]
    UnknownStream {
        /// The stream name.
        stream: String,
        /// The endpoint asked.
        endpoint: String,
    },
    /// The endpoint cannot be reached (connection refused, DNS, TLS, timeouts), after a
    /// few quick retries. External; reported as not retryable since it usually needs a
    /// fixed endpoint or network.
    #[error("cannot reach Kinesis at {endpoint}: {message}")]
    Unreachable {
        /// The endpoint.
        endpoint: String,
        /// The underlying failure.
        message: String,
    },
    /// The credentials are missing, invalid or lack permissions. The user's.
    #[error("Kinesis at {endpoint} rejected the credentials: {message}")]
    Credentials {
        /// The endpoint.
        endpoint: String,
        /// What Kinesis said.
        message: String,
    },
    /// Kinesis kept throttling or failing transiently after bounded retries. External;
    /// retrying later can help.
    #[error(
        "Kinesis {operation} on stream `{stream}` still failing after {attempts} attempts: {message}"
    )]
    Exhausted {
        /// The stream.
        stream: String,
        /// The API call.
        operation: &'static str,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        message: String,
    },
    /// Kinesis refused a call for another reason. External.
    #[error("Kinesis {operation} on stream `{stream}` failed: {message}")]
    Api {
        /// The stream.
        stream: String,
        /// The API call.
        operation: &'static str,
        /// What failed.
        message: String,
    },
    /// A setting is invalid. The user's.
    #[error("invalid Kinesis setting `{key}`: {message}")]
    Setting {
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A logged position could not be parsed: the checkpoint is not from this source or
    /// is corrupt. Internal.
    #[error("invalid Kinesis shard position {position:?}: {message}")]
    Position {
        /// The position as logged.
        position: String,
        /// What is wrong.
        message: String,
    },
    /// A logged range cannot be re-read exactly (records trimmed by retention, or the
    /// shard is gone). External; a retry does not help.
    #[error("replaying {shard} of stream `{stream}`: {message}")]
    Replay {
        /// The stream.
        stream: String,
        /// The shard id.
        shard: String,
        /// What differs from the log.
        message: String,
    },
    /// Producing records failed.
    #[error("putting records to Kinesis stream `{stream}`: {message}")]
    Produce {
        /// The stream.
        stream: String,
        /// What failed.
        message: String,
    },
    /// Decoding or a runtime failure inside the connector. Internal.
    #[error("Kinesis source internal error: {0}")]
    Internal(String),
}

impl KinesisError {
    /// Whether retrying (later, e.g. by restarting the job) could help.
    pub fn retryable(&self) -> bool {
        matches!(self, Self::Exhausted { .. } | Self::Api { .. })
    }
}

impl From<KinesisError> for sluice_engine::runtime::ConnectorFailure {
    fn from(e: KinesisError) -> Self {
        let retryable = e.retryable();
        Self::new(e.to_string(), retryable)
    }
}

/// What to do about a failed call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// Throttling or a transient server failure: back off and retry (a long budget).
    Throttled,
    /// The endpoint did not answer: retry a few times quickly, then give up.
    Unreachable,
    /// The shard iterator expired: get a new one from the last record read.
    ExpiredIterator,
    /// The stream (or shard) does not exist.
    NotFound,
    /// The credentials were refused.
    Credentials,
    /// Anything else: fail now.
    Fatal,
}

/// Error codes Kinesis uses for throttling and transient failures.
const THROTTLED: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "LimitExceededException",
    "KMSThrottlingException",
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    "InternalFailure",
    "InternalFailureException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    // The stream is CREATING or UPDATING (e.g. during a reshard): wait for it.
    "ResourceInUseException",
];

/// Error codes of refused credentials.
const CREDENTIALS: &[&str] = &[
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "IncompleteSignature",
    "InvalidClientTokenId",
    "MissingAuthenticationToken",
    "ExpiredTokenException",
    "AccessDeniedException",
    "SignatureDoesNotMatch",
];

/// Classifies a service error by its code and HTTP status.
pub(crate) fn classify_code(code: Option<&str>, status: Option<u16>) -> Class {
    match code {
        Some("ExpiredIteratorException") => Class::ExpiredIterator,
        Some("ResourceNotFoundException") => Class::NotFound,
        Some(c) if THROTTLED.contains(&c) => Class::Throttled,
        Some(c) if CREDENTIALS.contains(&c) => Class::Credentials,
        _ if status == Some(403) => Class::Credentials,
        _ if status.is_some_and(|s| s >= 500 || s == 429) => Class::Throttled,
        _ => Class::Fatal,
    }
}

/// Classifies a failed SDK call.
pub(crate) fn classify<E, R>(err: &SdkError<E, R>) -> Class
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: HasStatus + std::fmt::Debug,
{
    match err {
        SdkError::ServiceError(e) => classify_code(e.err().code(), Some(e.raw().status_code())),
        SdkError::TimeoutError(_) => Class::Unreachable,
        SdkError::DispatchFailure(d) if d.is_io() || d.is_timeout() => Class::Unreachable,
        SdkError::DispatchFailure(_) => {
            // Credential resolution fails here too ("no credentials in the chain").
            if message(err).to_ascii_lowercase().contains("credential") {
                Class::Credentials
            } else {
                Class::Unreachable
            }
        }
        SdkError::ResponseError(r) => match r.raw().status_code() {
            s if s >= 500 => Class::Throttled,
            _ => Class::Fatal,
        },
        SdkError::ConstructionFailure(_) => {
            if message(err).to_ascii_lowercase().contains("credential") {
                Class::Credentials
            } else {
                Class::Fatal
            }
        }
        _ => Class::Fatal,
    }
}

/// The HTTP status of a raw response.
pub(crate) trait HasStatus {
    /// The status code.
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_sdk_kinesis::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// One line describing an SDK failure, with its causes.
pub(crate) fn message<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if let SdkError::ServiceError(e) = err {
        let inner = e.err();
        return match (inner.code(), inner.message()) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c.to_string(),
            (None, Some(m)) => m.to_string(),
            (None, None) => "unknown service error".to_string(),
        };
    }
    format!("{}", DisplayErrorContext(err)).replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified() {
        use Class::*;
        let cases = [
            (
                Some("ProvisionedThroughputExceededException"),
                400,
                Throttled,
            ),
            (Some("LimitExceededException"), 400, Throttled),
            (Some("KMSThrottlingException"), 400, Throttled),
            (Some("ResourceInUseException"), 400, Throttled),
            (Some("InternalFailure"), 500, Throttled),
            (None, 503, Throttled),
            (Some("ExpiredIteratorException"), 400, ExpiredIterator),
            (Some("ResourceNotFoundException"), 400, NotFound),
            (Some("UnrecognizedClientException"), 400, Credentials),
            (Some("InvalidSignatureException"), 400, Credentials),
            (Some("AccessDeniedException"), 400, Credentials),
            (None, 403, Credentials),
            (Some("InvalidArgumentException"), 400, Fatal),
            (None, 404, Fatal),
        ];
        for (code, status, want) in cases {
            assert_eq!(classify_code(code, Some(status)), want, "{code:?} {status}");
        }
    }

    #[test]
    fn only_transient_failures_are_retryable() {
        let unknown = KinesisError::UnknownStream {
            stream: "s".into(),
            endpoint: "http://x".into(),
        };
        assert!(!unknown.retryable());
        assert_eq!(
            unknown.to_string(),
            "Kinesis stream `s` does not exist at http://x"
        );
        let throttled = KinesisError::Exhausted {
            stream: "s".into(),
            operation: "GetRecords",
            attempts: 3,
            message: "ProvisionedThroughputExceededException".into(),
        };
        assert!(throttled.retryable());
        let failure: sluice_engine::runtime::ConnectorFailure = throttled.into();
        assert!(failure.retryable);
    }
}
