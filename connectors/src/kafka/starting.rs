//! `starting-offsets` and `ending-offsets`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where a job without a checkpoint starts reading.
///
/// In YAML: `earliest`, `latest`, `{ timestamp: <ms since the epoch> }` or
/// `{ offsets: { topic: { "0": 42, "1": -2 } } }` (per partition; `-2` is earliest and
/// `-1` latest, as in Spark; partitions not listed start at earliest).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Repr", into = "Repr")]
pub enum StartingOffsets {
    /// The earliest offset the broker still has.
    #[default]
    Earliest,
    /// The end of each partition when the job first starts.
    Latest,
    /// The first offset whose timestamp is at or after this many ms since the epoch.
    Timestamp(i64),
    /// Per topic and partition.
    Offsets(BTreeMap<String, BTreeMap<String, i64>>),
}

/// Where a bounded job stops.
///
/// `latest` is resolved once, when the job starts: the job reads up to what the topic
/// held then, and finishes. `{ offsets: { topic: { "0": 1000 } } }` gives the end (one
/// past the last offset) per partition; partitions not listed are not read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Repr", into = "Repr")]
pub enum EndingOffsets {
    /// The end of each partition when the job starts.
    Latest,
    /// Per topic and partition.
    Offsets(BTreeMap<String, BTreeMap<String, i64>>),
}

type PerPartition = BTreeMap<String, BTreeMap<String, i64>>;

/// The YAML shapes: a name, `{ timestamp: ms }` or `{ offsets: {...} }`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Repr {
    Named(Named),
    Timestamp { timestamp: i64 },
    Offsets { offsets: PerPartition },
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Named {
    Earliest,
    Latest,
}

impl From<Repr> for StartingOffsets {
    fn from(r: Repr) -> Self {
        match r {
            Repr::Named(Named::Earliest) => Self::Earliest,
            Repr::Named(Named::Latest) => Self::Latest,
            Repr::Timestamp { timestamp } => Self::Timestamp(timestamp),
            Repr::Offsets { offsets } => Self::Offsets(offsets),
        }
    }
}

impl From<StartingOffsets> for Repr {
    fn from(s: StartingOffsets) -> Self {
        match s {
            StartingOffsets::Earliest => Self::Named(Named::Earliest),
            StartingOffsets::Latest => Self::Named(Named::Latest),
            StartingOffsets::Timestamp(timestamp) => Self::Timestamp { timestamp },
            StartingOffsets::Offsets(offsets) => Self::Offsets { offsets },
        }
    }
}

impl TryFrom<Repr> for EndingOffsets {
    type Error = String;

    fn try_from(r: Repr) -> Result<Self, String> {
        match r {
            Repr::Named(Named::Latest) => Ok(Self::Latest),
            Repr::Offsets { offsets } => Ok(Self::Offsets(offsets)),
            _ => Err("expected `latest` or `{ offsets: { topic: { \"0\": end } } }`".into()),
        }
    }
}

impl From<EndingOffsets> for Repr {
    fn from(e: EndingOffsets) -> Self {
        match e {
            EndingOffsets::Latest => Self::Named(Named::Latest),
            EndingOffsets::Offsets(offsets) => Self::Offsets { offsets },
        }
    }
}

/// Looks up `topic`/`partition` in a per-partition offsets map.
pub(crate) fn lookup(
    map: &BTreeMap<String, BTreeMap<String, i64>>,
    topic: &str,
    partition: i32,
) -> Option<i64> {
    map.get(topic)?.get(&partition.to_string()).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_forms_parse() {
        let s: StartingOffsets = serde_norway::from_str("earliest").unwrap();
        assert_eq!(s, StartingOffsets::Earliest);
        let s: StartingOffsets = serde_norway::from_str("{ timestamp: 1700000000000 }").unwrap();
        assert_eq!(s, StartingOffsets::Timestamp(1_700_000_000_000));
        let s: StartingOffsets =
            serde_norway::from_str("{ offsets: { events: { \"0\": 5, \"1\": -2 } } }").unwrap();
        let StartingOffsets::Offsets(map) = s else {
            panic!("not offsets")
        };
        assert_eq!(lookup(&map, "events", 0), Some(5));
        assert_eq!(lookup(&map, "events", 1), Some(-2));
        assert_eq!(lookup(&map, "events", 2), None);
        let e: EndingOffsets = serde_norway::from_str("latest").unwrap();
        assert_eq!(e, EndingOffsets::Latest);
        assert!(serde_norway::from_str::<StartingOffsets>("newest").is_err());
        assert!(serde_norway::from_str::<EndingOffsets>("earliest").is_err());
        // Through a Value, as job files with overrides are read.
        let v: serde_norway::Value =
            serde_norway::from_str("{ offsets: { t: { \"3\": 7 } } }").unwrap();
        let e: EndingOffsets = serde_norway::from_value(v).unwrap();
        let EndingOffsets::Offsets(map) = e else {
            panic!("not offsets")
        };
        assert_eq!(lookup(&map, "t", 3), Some(7));
    }
}
