//! The Kinesis API calls the source makes, with retries, and the runtime that runs them.
//!
//! Every call goes through [`call`], which retries throttling
//! (`ProvisionedThroughputExceededException`, `LimitExceededException`, ...) and transient
//! server failures with exponential backoff (100 ms doubling to 5 s, 10 attempts, about
//! 25 s in all), retries an unreachable endpoint a few times quickly (4 attempts), and
//! turns everything else into a one-line [`KinesisError`]. The SDK's own retries are off
//! so that only this policy applies.

use std::future::Future;
use std::time::Duration;

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::config::retry::RetryConfig;
use aws_sdk_kinesis::config::timeout::TimeoutConfig;
use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::primitives::DateTime;
use aws_sdk_kinesis::types::ShardIteratorType;

use super::config::KinesisSourceConfig;
use super::error::{Class, KinesisError, Result, classify, message};
use super::position::{Resume, shard_partition};
use super::shards::ShardInfo;

/// Attempts for throttling and transient server failures.
const THROTTLED_ATTEMPTS: u32 = 10;
/// Attempts for an endpoint that does not answer.
const UNREACHABLE_ATTEMPTS: u32 = 4;
/// First backoff.
const BACKOFF_START: Duration = Duration::from_millis(100);
/// Longest backoff.
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Builds a Kinesis client from the connection settings of `config` (region, endpoint,
/// credentials), with connect and per-attempt timeouts and the SDK's retries off.
///
/// Static credentials are used when `access-key-id` and `secret-access-key` are set,
/// otherwise the default AWS chain.
///
/// # Cancel safety
/// Cancel safe: nothing is sent.
pub async fn connect(config: &KinesisSourceConfig) -> Client {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(config.region.clone()))
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(60))
                .build(),
        );
    if let Some(endpoint) = &config.endpoint {
        loader = loader.endpoint_url(endpoint.clone());
    }
    if let (Some(id), Some(secret)) = (&config.access_key_id, &config.secret_access_key) {
        loader = loader.credentials_provider(Credentials::new(
            id.clone(),
            secret.clone(),
            None,
            None,
            "sluice-static",
        ));
    }
    Client::new(&loader.load().await)
}

/// A failed call: either an error for the user, or an expired shard iterator.
pub(crate) enum CallError {
    /// The shard iterator expired; get a new one.
    ExpiredIterator,
    /// Give up.
    Failed(KinesisError),
}

impl From<CallError> for KinesisError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::ExpiredIterator => KinesisError::Internal("shard iterator expired".into()),
            CallError::Failed(e) => e,
        }
    }
}

/// Where calls go, for messages.
pub(crate) struct Target<'a> {
    /// The stream.
    pub stream: &'a str,
    /// The endpoint, for messages.
    pub endpoint: &'a str,
}

/// Sends a request built by `send`, retrying per the module's policy.
pub(crate) async fn call<T, E, F, Fut>(
    target: &Target<'_>,
    operation: &'static str,
    mut send: F,
) -> Result<T, CallError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, SdkError<E>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let err = match send().await {
            Ok(out) => return Ok(out),
            Err(err) => err,
        };
        let class = classify(&err);
        let text = message(&err);
        let limit = match class {
            Class::Throttled => THROTTLED_ATTEMPTS,
            Class::Unreachable => UNREACHABLE_ATTEMPTS,
            Class::ExpiredIterator => return Err(CallError::ExpiredIterator),
            Class::NotFound if matches!(operation, "ListShards" | "PutRecords") => {
                return Err(CallError::Failed(KinesisError::UnknownStream {
                    stream: target.stream.to_string(),
                    endpoint: target.endpoint.to_string(),
                }));
            }
            Class::Credentials => {
                return Err(CallError::Failed(KinesisError::Credentials {
                    endpoint: target.endpoint.to_string(),
                    message: text,
                }));
            }
            Class::NotFound | Class::Fatal => {
                return Err(CallError::Failed(KinesisError::Api {
                    stream: target.stream.to_string(),
                    operation,
                    message: text,
                }));
            }
        };
        if attempt >= limit {
            return Err(CallError::Failed(if class == Class::Unreachable {
                KinesisError::Unreachable {
                    endpoint: target.endpoint.to_string(),
                    message: text,
                }
            } else {
                KinesisError::Exhausted {
                    stream: target.stream.to_string(),
                    operation,
                    attempts: attempt,
                    message: text,
                }
            }));
        }
        let delay = backoff(attempt);
        tracing::debug!(stream = target.stream, operation, attempt, ?delay, error = %text, "retrying Kinesis call");
        tokio::time::sleep(delay).await;
    }
}

/// The wait after failed attempt `attempt` (1-based).
pub(crate) fn backoff(attempt: u32) -> Duration {
    let factor = 1u32 << attempt.saturating_sub(1).min(16);
    BACKOFF_START.saturating_mul(factor).min(BACKOFF_MAX)
}

/// A record as read from a shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShardRecord {
    /// Its sequence number.
    pub sequence: String,
    /// Its payload.
    pub data: Vec<u8>,
}

/// One `GetRecords` answer.
pub(crate) struct Page {
    /// The records, in shard order.
    pub records: Vec<ShardRecord>,
    /// The next iterator; `None` once a closed shard is read to its end.
    pub next: Option<String>,
    /// How far behind the tip the answer is (0 when caught up or not reported).
    pub behind_ms: i64,
}

/// The calls of one stream.
#[derive(Clone, Debug)]
pub(crate) struct Kinesis {
    client: Client,
    stream: String,
    endpoint: String,
}

impl Kinesis {
    /// Calls to `stream` through `client`; `endpoint` names it in messages.
    pub fn new(client: Client, stream: String, endpoint: String) -> Self {
        Self {
            client,
            stream,
            endpoint,
        }
    }

    /// The stream name.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    fn target(&self) -> Target<'_> {
        Target {
            stream: &self.stream,
            endpoint: &self.endpoint,
        }
    }

    /// Every shard of the stream (`ListShards`, all pages).
    pub async fn list_shards(&self) -> Result<Vec<ShardInfo>> {
        let mut shards = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = call(&self.target(), "ListShards", || {
                let request = self.client.list_shards();
                match &token {
                    Some(t) => request.next_token(t.clone()),
                    None => request.stream_name(self.stream.clone()),
                }
                .send()
            })
            .await?;
            for s in out.shards() {
                let parents = [s.parent_shard_id(), s.adjacent_parent_shard_id()]
                    .into_iter()
                    .flatten()
                    .map(shard_partition)
                    .collect::<Result<Vec<_>>>()?;
                shards.push(ShardInfo {
                    id: s.shard_id().to_string(),
                    partition: shard_partition(s.shard_id())?,
                    parents,
                    closed: s
                        .sequence_number_range()
                        .and_then(|r| r.ending_sequence_number())
                        .is_some(),
                });
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(shards)
    }

    /// A shard iterator at `resume` (`GetShardIterator`).
    pub async fn iterator(&self, shard: &str, resume: &Resume) -> Result<Option<String>> {
        let out = call(&self.target(), "GetShardIterator", || {
            let request = self
                .client
                .get_shard_iterator()
                .stream_name(self.stream.clone())
                .shard_id(shard);
            match resume {
                Resume::TrimHorizon => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
                Resume::AtTimestamp(ms) => request
                    .shard_iterator_type(ShardIteratorType::AtTimestamp)
                    .timestamp(DateTime::from_millis(*ms)),
                Resume::After(seq) => request
                    .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                    .starting_sequence_number(seq.clone()),
            }
            .send()
        })
        .await?;
        Ok(out.shard_iterator().map(str::to_string))
    }

    /// Up to `limit` records from `iterator` (`GetRecords`); `None` if the iterator
    /// expired.
    pub async fn records(&self, iterator: &str, limit: u32) -> Result<Option<Page>> {
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        let result = call(&self.target(), "GetRecords", || {
            self.client
                .get_records()
                .shard_iterator(iterator)
                .limit(limit)
                .send()
        })
        .await;
        let out = match result {
            Ok(out) => out,
            Err(CallError::ExpiredIterator) => return Ok(None),
            Err(CallError::Failed(e)) => return Err(e),
        };
        let records = out
            .records
            .into_iter()
            .map(|r| ShardRecord {
                sequence: r.sequence_number,
                data: r.data.into_inner(),
            })
            .collect();
        Ok(Some(Page {
            records,
            next: out.next_shard_iterator,
            behind_ms: out.millis_behind_latest.unwrap_or(0),
        }))
    }
}

/// A tokio runtime owned by a source, for calling async code from the synchronous
/// [`EpochSource`](sluice_engine::runtime::EpochSource) methods.
///
/// It has one worker thread (named `sluice-kinesis`) that drives connections and timers;
/// calls run on the calling thread through [`Blocking::block_on`].
pub(crate) struct Blocking {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Blocking {
    /// A new runtime.
    pub fn new() -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("sluice-kinesis")
            .enable_all()
            .build()
            .map_err(|e| KinesisError::Internal(format!("cannot start a tokio runtime: {e}")))?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    /// Runs `future` to completion.
    ///
    /// Called from a thread that is already inside a tokio runtime (where blocking on
    /// another runtime would panic), it runs on a scoped helper thread instead.
    pub fn block_on<F>(&self, future: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        let runtime = self.runtime.as_ref().expect("runtime lives until drop");
        if tokio::runtime::Handle::try_current().is_err() {
            return runtime.block_on(future);
        }
        std::thread::scope(|scope| {
            let handle = std::thread::Builder::new()
                .name("sluice-kinesis-call".into())
                .spawn_scoped(scope, || runtime.block_on(future))
                .expect("spawning a thread");
            match handle.join() {
                Ok(out) => out,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }
}

impl Drop for Blocking {
    fn drop(&mut self) {
        // Dropping a runtime inside another runtime's context panics; this never does.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert_eq!(backoff(2), Duration::from_millis(200));
        assert_eq!(backoff(4), Duration::from_millis(800));
        assert_eq!(backoff(7), BACKOFF_MAX);
        assert_eq!(backoff(99), BACKOFF_MAX);
    }

    #[test]
    fn blocking_works_inside_and_outside_a_runtime() {
        let blocking = Blocking::new().unwrap();
        assert_eq!(blocking.block_on(async { 1 + 1 }), 2);
        let outer = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let inside = outer.block_on(async { blocking.block_on(async { 3 }) });
        assert_eq!(inside, 3);
        // Dropping inside an async context does not panic either.
        outer.block_on(async move { drop(blocking) });
    }
}
