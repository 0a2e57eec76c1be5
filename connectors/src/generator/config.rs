//! The generator's configuration: the knobs of the synthetic event stream.

use serde::{Deserialize, Serialize};

/// 2026-01-01T00:00:00Z in milliseconds since the Unix epoch.
pub const DEFAULT_START_TIME_MS: i64 = 1_767_225_600_000;

/// Configuration of the deterministic event generator.
///
/// Every event is a pure function of `(seed, partition, offset)` and this configuration, so a
/// replay of any offset range yields the same bytes. In job files the keys are kebab-case
/// (`start-time-ms`, `late-fraction`, ...); missing keys take their defaults.
///
/// Events fall in exactly one category, decided in this order from one uniform draw:
/// malformed (`malformed_fraction`), late (`late_fraction`), rule violation
/// (`violation_fraction`), normal (the rest).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct GeneratorConfig {
    /// Seed of the stream. Default 42.
    pub seed: u64,
    /// Number of partitions. Default 4.
    pub partitions: u32,
    /// Total number of events across all partitions. Default 1 000 000.
    pub events: u64,
    /// Nominal event time of the first event, in ms since the Unix epoch.
    /// Default 2026-01-01T00:00:00Z.
    pub start_time_ms: i64,
    /// Nominal event-time spacing between consecutive global ordinals, in ms. Default 10.
    pub interval_ms: i64,
    /// Number of distinct users, `user_0000` to `user_<users-1>`. Default 1000.
    pub users: u32,
    /// Out-of-order skew: every event time is moved back by a uniform `[0, skew_ms)`.
    /// Default 60 000.
    pub skew_ms: i64,
    /// Fraction of late events, additionally moved back by 11 to 40 minutes (later than a
    /// 10 minute watermark delay). Default 0.002.
    pub late_fraction: f64,
    /// Fraction of malformed payloads: a truncated object, text that is not JSON, a string
    /// `value`, or a missing `event_time`. Default 0.001.
    pub malformed_fraction: f64,
    /// Fraction of rule violations, split evenly among a null `user_id`, a negative `value`
    /// and the unknown event type `teleport`. Default 0.005.
    pub violation_fraction: f64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            partitions: 4,
            events: 1_000_000,
            start_time_ms: DEFAULT_START_TIME_MS,
            interval_ms: 10,
            users: 1000,
            skew_ms: 60_000,
            late_fraction: 0.002,
            malformed_fraction: 0.001,
            violation_fraction: 0.005,
        }
    }
}

/// A generator configuration that cannot produce a stream.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid generator config: {0}")]
pub struct InvalidGeneratorConfig(pub String);

impl GeneratorConfig {
    /// Checks that the configuration describes a stream.
    ///
    /// # Errors
    ///
    /// [`InvalidGeneratorConfig`] if `partitions` or `users` is 0, `interval_ms` or
    /// `skew_ms` is negative, a fraction is outside `[0, 1]`, or the fractions sum above 1.
    pub fn validate(&self) -> Result<(), InvalidGeneratorConfig> {
        let fail = |msg: String| Err(InvalidGeneratorConfig(msg));
        if self.partitions == 0 {
            return fail("partitions must be at least 1".into());
        }
        if self.users == 0 {
            return fail("users must be at least 1".into());
        }
        if self.interval_ms < 0 {
            return fail(format!(
                "interval-ms must be >= 0, got {}",
                self.interval_ms
            ));
        }
        if self.skew_ms < 0 {
            return fail(format!("skew-ms must be >= 0, got {}", self.skew_ms));
        }
        let fractions = [
            ("malformed-fraction", self.malformed_fraction),
            ("late-fraction", self.late_fraction),
            ("violation-fraction", self.violation_fraction),
        ];
        for (name, f) in fractions {
            if !(0.0..=1.0).contains(&f) {
                return fail(format!("{name} must be within [0, 1], got {f}"));
            }
        }
        let sum: f64 = fractions.iter().map(|(_, f)| f).sum();
        if sum > 1.0 {
            return fail(format!("the fractions sum to {sum}, more than 1"));
        }
        Ok(())
    }

    /// Number of events in `partition`: `events / partitions`, plus one for the first
    /// `events % partitions` partitions. Partitions at or past `partitions` hold none.
    ///
    /// # Panics
    ///
    /// If `partitions` is 0.
    pub fn partition_len(&self, partition: u32) -> u64 {
        super::spread::partition_len(self.events, self.partitions, partition)
    }

    /// The global ordinal of an event: `offset * partitions + partition`. Ordinals
    /// `0..events` are each produced exactly once.
    pub fn ordinal(&self, partition: u32, offset: u64) -> u64 {
        offset
            .wrapping_mul(u64::from(self.partitions))
            .wrapping_add(u64::from(partition))
    }

    /// Nominal event time of a global ordinal: `start_time_ms + ordinal * interval_ms`
    /// (saturating).
    pub fn nominal_time_ms(&self, ordinal: u64) -> i64 {
        let ordinal = i64::try_from(ordinal).unwrap_or(i64::MAX);
        self.start_time_ms
            .saturating_add(ordinal.saturating_mul(self.interval_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_round_trip() {
        let c = GeneratorConfig::default();
        c.validate().unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"start-time-ms\":1767225600000"));
        let back: GeneratorConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
        let partial: GeneratorConfig = serde_json::from_str(r#"{"seed":7}"#).unwrap();
        assert_eq!(partial.seed, 7);
        assert_eq!(partial.partitions, 4);
        assert!(serde_json::from_str::<GeneratorConfig>(r#"{"sede":7}"#).is_err());
    }

    #[test]
    fn invalid_configs_are_rejected() {
        let bad = [
            GeneratorConfig {
                partitions: 0,
                ..Default::default()
            },
            GeneratorConfig {
                users: 0,
                ..Default::default()
            },
            GeneratorConfig {
                skew_ms: -1,
                ..Default::default()
            },
            GeneratorConfig {
                late_fraction: f64::NAN,
                ..Default::default()
            },
            GeneratorConfig {
                late_fraction: 0.6,
                violation_fraction: 0.6,
                ..Default::default()
            },
        ];
        for c in bad {
            assert!(c.validate().is_err(), "{c:?}");
        }
    }

    #[test]
    fn partition_len_sums_to_events() {
        for (events, partitions) in [(0, 1), (1, 4), (10, 3), (1_000_001, 4), (7, 7), (5, 8)] {
            let c = GeneratorConfig {
                events,
                partitions,
                ..Default::default()
            };
            let lens: Vec<u64> = (0..partitions).map(|p| c.partition_len(p)).collect();
            assert_eq!(
                lens.iter().sum::<u64>(),
                events,
                "{events} over {partitions}"
            );
            assert!(lens.windows(2).all(|w| w[0] >= w[1] && w[0] - w[1] <= 1));
            assert_eq!(c.partition_len(partitions), 0);
            // Every ordinal below `events` is covered exactly once.
            let mut ordinals: Vec<u64> = (0..partitions)
                .flat_map(|p| (0..c.partition_len(p)).map(move |o| (p, o)))
                .map(|(p, o)| c.ordinal(p, o))
                .collect();
            ordinals.sort_unstable();
            assert_eq!(ordinals, (0..events).collect::<Vec<_>>());
        }
    }
}
