//! The Kinesis source's settings, as they appear in job files (kebab-case keys).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::error::KinesisError;

/// The most records one `GetRecords` call may return (a Kinesis limit).
pub const MAX_FETCH_LIMIT: u32 = 10_000;

/// Where a job without a checkpoint starts reading the shards that exist when it starts.
///
/// Shards created later (children of a split or merge) are always read from their first
/// record, as the Kinesis Client Library does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StartingPosition {
    /// The oldest record still retained (`TRIM_HORIZON`).
    #[default]
    TrimHorizon,
    /// After the last record present when the job starts. Resolved once, at the first
    /// start, into a concrete sequence number per shard (see
    /// [`KinesisSource`](super::KinesisSource)), so that replays are exact.
    Latest,
    /// The first record that arrived at or after `starting-timestamp` (`AT_TIMESTAMP`).
    AtTimestamp,
}

/// Where a bounded read stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ending {
    /// At the records present in the stream when the job first starts: for each open
    /// shard, its last record at that moment; closed shards are read to their end; shards
    /// created afterwards are not read. The bound is resolved once and travels in the
    /// logged positions, so a restarted job stops at the same records.
    Latest,
}

/// A point in time, given as an RFC 3339 string or as epoch milliseconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Timestamp {
    /// Milliseconds since the Unix epoch.
    Millis(i64),
    /// An RFC 3339 date-time, e.g. `2026-01-01T00:00:00Z`.
    Rfc3339(String),
}

impl Timestamp {
    /// Milliseconds since the Unix epoch.
    ///
    /// # Errors
    /// [`KinesisError::Setting`] when the string is not RFC 3339.
    pub fn millis(&self) -> Result<i64, KinesisError> {
        match self {
            Self::Millis(ms) => Ok(*ms),
            Self::Rfc3339(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.timestamp_millis())
                .map_err(|e| KinesisError::Setting {
                    key: "starting-timestamp".into(),
                    message: format!(
                        "{s:?} is not an RFC 3339 date-time or epoch milliseconds: {e}"
                    ),
                }),
        }
    }
}

/// Settings of a [`KinesisSource`](super::KinesisSource).
///
/// ```
/// use sluice_connectors::kinesis::{KinesisSourceConfig, StartingPosition};
///
/// let config: KinesisSourceConfig = serde_json::from_str(
///     r#"{"stream": "clicks", "endpoint": "http://127.0.0.1:4567",
///         "access-key-id": "AKIAEXAMPLE", "secret-access-key": "hush",
///         "starting-position": "latest"}"#,
/// ).unwrap();
/// config.validate().unwrap();
/// assert_eq!(config.region, "us-east-1");
/// assert_eq!(config.starting_position, StartingPosition::Latest);
/// assert_eq!(config.max_records_per_epoch, 100_000);
/// // Secrets never reach logs.
/// assert!(!format!("{config:?}").contains("hush"));
/// ```
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct KinesisSourceConfig {
    /// Stream name.
    pub stream: String,
    /// AWS region. Default `us-east-1`.
    #[serde(default = "default_region")]
    pub region: String,
    /// Endpoint override, e.g. `http://127.0.0.1:4567` for kinesalite or LocalStack.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Static access key id; with `secret-access-key`. Without both, the default AWS
    /// credential chain (environment, profile, web identity, container, instance) is used.
    #[serde(default)]
    pub access_key_id: Option<String>,
    /// Static secret access key; never logged.
    #[serde(default)]
    pub secret_access_key: Option<String>,
    /// Where a job without a checkpoint starts. Default `trim-horizon`.
    #[serde(default)]
    pub starting_position: StartingPosition,
    /// The time for `starting-position: at-timestamp`.
    #[serde(default)]
    pub starting_timestamp: Option<Timestamp>,
    /// Records per epoch, in total across shards. Default 100 000.
    #[serde(default = "default_max_records_per_epoch")]
    pub max_records_per_epoch: u64,
    /// Makes the source bounded; unset, it runs forever.
    #[serde(default)]
    pub ending: Option<Ending>,
    /// Records asked for per `GetRecords` call, 1 to 10 000. Default 10 000.
    #[serde(default = "default_fetch_limit")]
    pub fetch_limit: u32,
}

fn default_region() -> String {
    "us-east-1".into()
}

fn default_max_records_per_epoch() -> u64 {
    100_000
}

fn default_fetch_limit() -> u32 {
    MAX_FETCH_LIMIT
}

impl KinesisSourceConfig {
    /// Settings for `stream` with every other key at its default.
    pub fn new(stream: impl Into<String>) -> Self {
        Self {
            stream: stream.into(),
            region: default_region(),
            endpoint: None,
            access_key_id: None,
            secret_access_key: None,
            starting_position: StartingPosition::default(),
            starting_timestamp: None,
            max_records_per_epoch: default_max_records_per_epoch(),
            ending: None,
            fetch_limit: default_fetch_limit(),
        }
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`KinesisError::Setting`] naming the first bad key.
    pub fn validate(&self) -> Result<(), KinesisError> {
        let bad = |key: &str, message: &str| {
            Err(KinesisError::Setting {
                key: key.into(),
                message: message.into(),
            })
        };
        if self.stream.is_empty() {
            return bad("stream", "must not be empty");
        }
        if self.region.is_empty() {
            return bad("region", "must not be empty");
        }
        if let Some(endpoint) = &self.endpoint
            && url::Url::parse(endpoint).is_err()
        {
            return bad("endpoint", &format!("{endpoint:?} is not a URL"));
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return bad(
                "access-key-id",
                "access-key-id and secret-access-key go together",
            );
        }
        if self.max_records_per_epoch == 0 {
            return bad("max-records-per-epoch", "must be at least 1");
        }
        if !(1..=MAX_FETCH_LIMIT).contains(&self.fetch_limit) {
            return bad("fetch-limit", "must be within 1..=10000");
        }
        match (self.starting_position, &self.starting_timestamp) {
            (StartingPosition::AtTimestamp, None) => {
                return bad(
                    "starting-timestamp",
                    "starting-position at-timestamp needs a starting-timestamp",
                );
            }
            (StartingPosition::AtTimestamp, Some(t)) => {
                t.millis()?;
            }
            (_, Some(_)) => {
                return bad(
                    "starting-timestamp",
                    "only used with starting-position at-timestamp",
                );
            }
            (_, None) => {}
        }
        Ok(())
    }

    /// The endpoint requests go to, for messages.
    pub fn endpoint_name(&self) -> String {
        match &self.endpoint {
            Some(e) => e.clone(),
            None => format!("https://kinesis.{}.amazonaws.com", self.region),
        }
    }
}

impl fmt::Debug for KinesisSourceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("KinesisSourceConfig")
            .field("stream", &self.stream)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &redacted(&self.access_key_id))
            .field("secret_access_key", &redacted(&self.secret_access_key))
            .field("starting_position", &self.starting_position)
            .field("starting_timestamp", &self.starting_timestamp)
            .field("max_records_per_epoch", &self.max_records_per_epoch)
            .field("ending", &self.ending)
            .field("fetch_limit", &self.fetch_limit)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<KinesisSourceConfig, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn defaults_and_kebab_keys() {
        let c = parse(r#"{"stream":"s"}"#).unwrap();
        assert_eq!(c, KinesisSourceConfig::new("s"));
        c.validate().unwrap();
        assert_eq!(c.endpoint_name(), "https://kinesis.us-east-1.amazonaws.com");
        let c = parse(
            r#"{"stream":"s","region":"eu-west-1","starting-position":"at-timestamp",
                "starting-timestamp":"2026-01-01T00:00:01Z","max-records-per-epoch":7,
                "ending":"latest","fetch-limit":5}"#,
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(
            c.starting_timestamp.unwrap().millis().unwrap(),
            1_767_225_601_000
        );
        assert_eq!(c.ending, Some(Ending::Latest));
        let ms =
            parse(r#"{"stream":"s","starting-position":"at-timestamp","starting-timestamp":12}"#)
                .unwrap();
        assert_eq!(ms.starting_timestamp, Some(Timestamp::Millis(12)));
        assert!(parse(r#"{"stream":"s","fetch_limit":5}"#).is_err());
        assert!(parse(r#"{"stream":"s","starting-position":"earliest"}"#).is_err());
    }

    #[test]
    fn invalid_settings_name_their_key() {
        let cases = [
            (r#"{"stream":""}"#, "stream"),
            (r#"{"stream":"s","fetch-limit":0}"#, "fetch-limit"),
            (r#"{"stream":"s","fetch-limit":10001}"#, "fetch-limit"),
            (
                r#"{"stream":"s","max-records-per-epoch":0}"#,
                "max-records-per-epoch",
            ),
            (r#"{"stream":"s","access-key-id":"a"}"#, "access-key-id"),
            (r#"{"stream":"s","endpoint":"not a url"}"#, "endpoint"),
            (
                r#"{"stream":"s","starting-position":"at-timestamp"}"#,
                "starting-timestamp",
            ),
            (
                r#"{"stream":"s","starting-timestamp":5}"#,
                "starting-timestamp",
            ),
            (
                r#"{"stream":"s","starting-position":"at-timestamp","starting-timestamp":"yesterday"}"#,
                "starting-timestamp",
            ),
        ];
        for (json, key) in cases {
            let err = parse(json).unwrap().validate().unwrap_err();
            assert!(
                matches!(&err, KinesisError::Setting { key: k, .. } if k == key),
                "{json}: {err}"
            );
        }
    }

    #[test]
    fn debug_redacts_secrets() {
        let mut c = KinesisSourceConfig::new("s");
        c.access_key_id = Some("AKIDSECRETISH".into());
        c.secret_access_key = Some("wJalrXUtnFEMI".into());
        let shown = format!("{c:?}");
        assert!(!shown.contains("AKIDSECRETISH"), "{shown}");
        assert!(!shown.contains("wJalrXUtnFEMI"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }
}
