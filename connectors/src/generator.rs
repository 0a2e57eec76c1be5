//! A deterministic synthetic event source.
//!
//! Every event is a pure function of `(seed, partition, offset)` and the
//! [`GeneratorConfig`], so reading any offset range twice, in any order, on any worker,
//! yields the same bytes. That makes replays and crash tests exact without a broker.
//!
//! Partition `p` holds offsets `0..partition_len(p)`. The event at `(p, o)` has the global
//! ordinal `o * partitions + p` and the nominal event time
//! `start_time_ms + ordinal * interval_ms`, moved back by a uniform skew in
//! `[0, skew_ms)`. A payload looks like
//!
//! ```json
//! {"event_id":"1-7","user_id":"user_0042","event_type":"click","event_time":"2026-01-01T00:00:00.290Z","value":12.34}
//! ```
//!
//! Small fractions of events are late, malformed or break a data-quality rule; see
//! [`EventKind`].
//!
//! ```
//! use sluice_connectors::format::json::JsonDecoder;
//! use sluice_connectors::generator::{self, GeneratorConfig};
//!
//! let config = GeneratorConfig { events: 1000, ..Default::default() };
//! let raw = config.read(0, 0, 100);
//! assert_eq!(raw.len(), 100);
//! assert_eq!(raw, config.read(0, 0, 100)); // replays are identical
//! let decoder = JsonDecoder::new(generator::event_schema());
//! let (good, dead) = decoder.decode(&raw, 0).unwrap();
//! assert_eq!(good.num_rows() + dead.num_rows(), 100);
//! ```

pub mod config;
pub mod event;
mod rng;
mod source;
pub(crate) mod spread;

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

pub use self::config::{GeneratorConfig, InvalidGeneratorConfig};
pub use self::event::{Event, EventKind, Malformed, Violation};
pub use self::rng::SeededRng;
pub use self::source::GeneratorSource;
use crate::format::{RawBatch, RawBatchBuilder};

/// The `source` name of generated records.
pub const SOURCE_NAME: &str = "generator";

/// Payload bytes per event, as a capacity hint.
const TYPICAL_EVENT_BYTES: usize = 128;

/// The schema generated events decode into: `event_id` Utf8 not null, `user_id` Utf8,
/// `event_type` Utf8, `event_time` Timestamp(µs, UTC) not null, `value` Float64.
pub fn event_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            Field::new("event_id", DataType::Utf8, false),
            Field::new("user_id", DataType::Utf8, true),
            Field::new("event_type", DataType::Utf8, true),
            Field::new(
                "event_time",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("value", DataType::Float64, true),
        ]))
    });
    SCHEMA.clone()
}

impl GeneratorConfig {
    /// The attributes of the event at `(partition, offset)`, without encoding it.
    pub fn describe(&self, partition: u32, offset: u64) -> Event {
        Event::generate(self, partition, offset)
    }

    /// The JSON payload of the event at `(partition, offset)`.
    ///
    /// Offsets past [`partition_len`](Self::partition_len) still produce an event, as if the
    /// stream went on.
    pub fn event(&self, partition: u32, offset: u64) -> Vec<u8> {
        self.describe(partition, offset).to_json()
    }

    /// Reads offsets `[start, end)` of one partition into a [`RawBatch`] with source
    /// [`SOURCE_NAME`]. `end` is clamped to [`partition_len`](Self::partition_len); an empty
    /// range gives an empty batch.
    ///
    /// # Panics
    ///
    /// If `partitions` is 0, or the range's payloads exceed 2 GiB.
    pub fn read(&self, partition: u32, start: u64, end: u64) -> RawBatch {
        let end = end.min(self.partition_len(partition));
        let n = usize::try_from(end.saturating_sub(start)).unwrap_or(usize::MAX);
        let mut builder =
            RawBatchBuilder::with_capacity(SOURCE_NAME, partition, n, n * TYPICAL_EVENT_BYTES);
        for offset in start..end {
            builder.push_with(offset, |buf| {
                self.describe(partition, offset).write_json(buf);
            });
        }
        builder.finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn replays_yield_the_same_bytes() {
        let config = GeneratorConfig::default();
        for partition in 0..config.partitions {
            let a = config.read(partition, 1000, 3000);
            let b = config.read(partition, 1000, 3000);
            assert_eq!(a, b);
            assert_eq!(a.source, SOURCE_NAME);
            assert_eq!(a.partition, partition);
            assert_eq!(a.offsets, (1000..3000).collect::<Vec<_>>());
            // Split reads agree with one read, and with single events.
            let c = config.read(partition, 1000, 2000);
            let d = config.read(partition, 2000, 3000);
            for i in 0..1000 {
                assert_eq!(a.payload(i), c.payload(i));
                assert_eq!(a.payload(1000 + i), d.payload(i));
            }
            assert_eq!(a.payload(17), config.event(partition, 1017).as_slice());
        }
    }

    #[test]
    fn seeds_and_partitions_differ() {
        let a = GeneratorConfig::default();
        let b = GeneratorConfig {
            seed: 43,
            ..Default::default()
        };
        let same_seed = (0..1000)
            .filter(|&o| a.event(0, o) == b.event(0, o))
            .count();
        assert_eq!(same_seed, 0);
        let ra = a.read(0, 0, 1000);
        assert_ne!(ra.payloads, b.read(0, 0, 1000).payloads);
        // Users differ between partitions too (not just the event ids).
        let users = |p| (0..200).map(|o| a.describe(p, o).user).collect::<Vec<_>>();
        assert_ne!(users(0), users(1));
    }

    #[test]
    fn read_clamps_to_the_partition() {
        let config = GeneratorConfig {
            events: 10,
            partitions: 4,
            ..Default::default()
        };
        assert_eq!(config.read(0, 0, 100).len(), 3);
        assert_eq!(config.read(3, 0, 100).len(), 2);
        assert!(config.read(3, 5, 100).is_empty());
        assert!(config.read(0, 2, 1).is_empty());
        assert!(config.read(9, 0, 10).is_empty());
    }

    fn kind_counts(config: &GeneratorConfig) -> BTreeMap<EventKind, u64> {
        let mut counts = BTreeMap::new();
        for p in 0..config.partitions {
            for o in 0..config.partition_len(p) {
                *counts.entry(config.describe(p, o).kind).or_default() += 1;
            }
        }
        counts
    }

    #[test]
    fn fractions_are_respected() {
        let config = GeneratorConfig {
            events: 100_000,
            late_fraction: 0.02,
            malformed_fraction: 0.01,
            violation_fraction: 0.03,
            ..Default::default()
        };
        let counts = kind_counts(&config);
        let n = config.events as f64;
        let total = |pred: fn(&EventKind) -> bool| {
            counts
                .iter()
                .filter(|(k, _)| pred(k))
                .map(|(_, c)| *c)
                .sum::<u64>() as f64
        };
        // Within about 4 standard deviations of the binomial mean.
        let near = |count: f64, p: f64| (count - n * p).abs() <= 4.0 * (n * p * (1.0 - p)).sqrt();
        assert!(near(total(|k| *k == EventKind::Late), 0.02));
        assert!(near(total(|k| matches!(k, EventKind::Malformed(_))), 0.01));
        assert!(near(total(|k| matches!(k, EventKind::Violation(_))), 0.03));
        for m in Malformed::ALL {
            assert!(near(counts[&EventKind::Malformed(m)] as f64, 0.01 / 4.0));
        }
        for v in Violation::ALL {
            assert!(near(counts[&EventKind::Violation(v)] as f64, 0.01));
        }
        assert_eq!(counts.values().sum::<u64>(), config.events);
    }

    #[test]
    fn zero_fractions_give_none() {
        let config = GeneratorConfig {
            events: 100_000,
            late_fraction: 0.0,
            malformed_fraction: 0.0,
            violation_fraction: 0.0,
            ..Default::default()
        };
        let counts = kind_counts(&config);
        assert_eq!(counts.len(), 1);
        assert_eq!(counts[&EventKind::Normal], config.events);
        let only_late = GeneratorConfig {
            late_fraction: 1.0,
            ..config.clone()
        };
        assert_eq!(kind_counts(&only_late)[&EventKind::Late], config.events);
    }

    #[test]
    fn every_valid_event_decodes_and_every_malformed_one_is_rejected() {
        use arrow::array::{Array, AsArray};
        use arrow::datatypes::{Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};

        use crate::format::json::JsonDecoder;

        let config = GeneratorConfig {
            events: 40_000,
            malformed_fraction: 0.02,
            late_fraction: 0.02,
            violation_fraction: 0.03,
            ..Default::default()
        };
        let decoder = JsonDecoder::try_new(event_schema()).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for p in 0..config.partitions {
            let raw = config.read(p, 0, u64::MAX);
            let (good, dead) = decoder.decode(&raw, 3).unwrap();
            let events: Vec<Event> = raw.offsets.iter().map(|&o| config.describe(p, o)).collect();
            let (bad, ok): (Vec<&Event>, Vec<&Event>) = events
                .iter()
                .partition(|e| matches!(e.kind, EventKind::Malformed(_)));
            assert_eq!(good.num_rows(), ok.len());
            assert_eq!(dead.num_rows(), bad.len());

            let col =
                |b: &arrow::array::RecordBatch, name: &str| b.column_by_name(name).unwrap().clone();
            let ids = col(&good, "event_id");
            let users = col(&good, "user_id");
            let types = col(&good, "event_type");
            let times = col(&good, "event_time");
            let values = col(&good, "value");
            let offsets = col(&good, "offset");
            for (row, e) in ok.iter().enumerate() {
                assert_eq!(ids.as_string::<i32>().value(row), e.event_id());
                let user = users.as_string::<i32>();
                match e.user {
                    Some(u) => assert_eq!(user.value(row), format!("user_{u:04}")),
                    None => assert!(user.is_null(row)),
                }
                assert_eq!(types.as_string::<i32>().value(row), e.event_type);
                let t = times.as_primitive::<TimestampMicrosecondType>().value(row);
                assert_eq!(t, e.event_time_ms * 1000);
                assert_eq!(values.as_primitive::<Float64Type>().value(row), e.value());
                assert_eq!(
                    offsets.as_primitive::<Int64Type>().value(row),
                    e.offset as i64
                );
                seen.insert(e.kind);
            }
            assert!(
                col(&good, "source")
                    .as_string::<i32>()
                    .iter()
                    .all(|s| s == Some(SOURCE_NAME))
            );
            assert!(
                col(&good, "partition")
                    .as_primitive::<Int32Type>()
                    .values()
                    .iter()
                    .all(|&x| x == p as i32)
            );

            let reasons = col(&dead, "reason");
            let errors = col(&dead, "error");
            let dead_ids = col(&dead, "event_id");
            for (row, e) in bad.iter().enumerate() {
                assert_eq!(reasons.as_string::<i32>().value(row), "parse_error");
                assert_eq!(
                    col(&dead, "source").as_string::<i32>().value(row),
                    SOURCE_NAME
                );
                assert_eq!(
                    col(&dead, "partition")
                        .as_primitive::<Int32Type>()
                        .value(row),
                    p as i32
                );
                assert_eq!(
                    col(&dead, "offset").as_primitive::<Int64Type>().value(row),
                    e.offset as i64
                );
                assert_eq!(
                    col(&dead, "epoch").as_primitive::<Int64Type>().value(row),
                    3
                );
                let payload = col(&dead, "payload");
                assert_eq!(
                    payload.as_string::<i32>().value(row).as_bytes(),
                    e.to_json()
                );
                let error = errors.as_string::<i32>().value(row);
                let EventKind::Malformed(kind) = e.kind else {
                    unreachable!()
                };
                match kind {
                    Malformed::Truncated => assert!(error.starts_with("invalid JSON: "), "{error}"),
                    Malformed::NotJson => {
                        assert!(error.starts_with("invalid JSON: expected value"), "{error}")
                    }
                    Malformed::WrongType => {
                        assert_eq!(error, r#"field "value": expected number, got string "abc""#);
                        assert_eq!(dead_ids.as_string::<i32>().value(row), e.event_id());
                    }
                    Malformed::MissingEventTime => {
                        assert_eq!(error, r#"field "event_time": missing"#);
                        assert_eq!(dead_ids.as_string::<i32>().value(row), e.event_id());
                    }
                }
                seen.insert(e.kind);
            }
        }
        // Every category showed up.
        assert_eq!(seen.len(), 2 + Malformed::ALL.len() + Violation::ALL.len());
    }

    #[test]
    fn event_times_follow_the_config() {
        let config = GeneratorConfig {
            events: 20_000,
            ..Default::default()
        };
        for p in 0..config.partitions {
            for o in 0..config.partition_len(p) {
                let e = config.describe(p, o);
                let nominal = config.nominal_time_ms(config.ordinal(p, o));
                let behind = nominal - e.event_time_ms;
                let (lo, hi) = match e.kind {
                    EventKind::Late => (event::LATE_MIN_MS, event::LATE_MAX_MS + config.skew_ms),
                    _ => (0, config.skew_ms),
                };
                assert!((lo..hi).contains(&behind), "{e:?} is {behind} ms behind");
                assert!(e.user.is_some_and(|u| u < config.users) || e.user.is_none());
                match e.kind {
                    EventKind::Violation(Violation::NullUser) => assert!(e.user.is_none()),
                    EventKind::Violation(Violation::NegativeValue) => assert!(e.value_cents < 0),
                    EventKind::Violation(Violation::UnknownEventType) => {
                        assert_eq!(e.event_type, event::UNKNOWN_EVENT_TYPE);
                    }
                    _ => {
                        assert!(e.user.is_some());
                        assert!((0..50_000).contains(&e.value_cents));
                        assert!(event::EVENT_TYPES.contains(&e.event_type));
                    }
                }
            }
        }
    }
}
