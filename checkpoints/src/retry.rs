//! How object-store requests are retried: transient failures (a refused or dropped
//! connection, a timeout, a 5xx answer) are retried with exponential backoff and jitter
//! until `max_retries` retries or `retry_timeout` have passed, whichever comes first.
//!
//! The retrying itself is `object_store`'s (its backoff draws each wait at random between
//! `initial_backoff` and the previous wait times two, capped at `max_backoff`): this type
//! only carries the settings, to the checkpoint store and, as storage options, to the Delta
//! tables.

use std::collections::HashMap;
use std::time::Duration;

/// Retry settings for object-store requests; see the [module docs](self).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreRetry {
    /// Retries of one request at most.
    pub max_retries: usize,
    /// Time after the first attempt past which a request is not retried any more.
    pub retry_timeout: Duration,
    /// The first wait.
    pub initial_backoff: Duration,
    /// The longest wait.
    pub max_backoff: Duration,
}

impl Default for StoreRetry {
    /// Rides out an outage of about two minutes: waits grow from 100 ms to 10 s, and the
    /// time, not the count, ends the retries (a refused connection fails at once, so
    /// 30 retries took only 21 s here).
    fn default() -> Self {
        Self {
            max_retries: 1000,
            retry_timeout: Duration::from_secs(120),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl StoreRetry {
    /// The settings as `deltalake` storage options (`max_retries`, `retry_timeout`,
    /// `backoff_config.*`), which it hands to `object_store`.
    pub fn storage_options(&self) -> HashMap<String, String> {
        let millis = |d: Duration| format!("{}ms", d.as_millis());
        HashMap::from([
            ("max_retries".to_string(), self.max_retries.to_string()),
            ("retry_timeout".to_string(), millis(self.retry_timeout)),
            (
                "backoff_config.init_backoff".to_string(),
                millis(self.initial_backoff),
            ),
            (
                "backoff_config.max_backoff".to_string(),
                millis(self.max_backoff),
            ),
        ])
    }

    /// The settings as `object_store`'s retry configuration.
    pub fn retry_config(&self) -> object_store::RetryConfig {
        object_store::RetryConfig {
            backoff: object_store::BackoffConfig {
                init_backoff: self.initial_backoff,
                max_backoff: self.max_backoff,
                base: 2.0,
            },
            max_retries: self.max_retries,
            retry_timeout: self.retry_timeout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_options_use_deltalakes_keys_and_duration_syntax() {
        let retry = StoreRetry {
            max_retries: 7,
            retry_timeout: Duration::from_secs(90),
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(5),
        };
        let options = retry.storage_options();
        assert_eq!(options["max_retries"], "7");
        assert_eq!(options["retry_timeout"], "90000ms");
        assert_eq!(options["backoff_config.init_backoff"], "250ms");
        assert_eq!(options["backoff_config.max_backoff"], "5000ms");
        // The same strings parse back with humantime, as deltalake parses them.
        assert_eq!(
            humantime::parse_duration(&options["retry_timeout"]).unwrap(),
            Duration::from_secs(90)
        );
    }
}
