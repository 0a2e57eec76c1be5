//! Where a shard stands, written into the logged ranges' opaque positions.
//!
//! A position is a short string:
//!
//! ```text
//! position := resume [";finished"] [";until:" seq]
//! resume   := seq                  after the record with this sequence number
//!           | "trim-horizon"       from the shard's oldest retained record
//!           | "at-timestamp:" ms   from the first record that arrived at or after ms
//! ```
//!
//! A plain sequence number is the common case (`end_position` of a range that read
//! records). `finished` marks a shard that is closed and fully read (or, for a bounded
//! job, read up to its bound): it is never read again and its children may start.
//! `until` is the bound of a bounded job (`ending: latest`): the last sequence number to
//! read. A missing position (`None`) means `trim-horizon`.

use std::cmp::Ordering;
use std::fmt;

use super::error::{KinesisError, Result};

/// Where the next read of a shard starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resume {
    /// The shard's oldest retained record (`TRIM_HORIZON`).
    TrimHorizon,
    /// The first record that arrived at or after this time, in epoch ms (`AT_TIMESTAMP`).
    AtTimestamp(i64),
    /// Just after the record with this sequence number (`AFTER_SEQUENCE_NUMBER`).
    After(String),
}

/// The state of one shard, as carried in a logged range's `start_position` and
/// `end_position`.
///
/// ```
/// use sluice_connectors::kinesis::{Resume, ShardPosition};
///
/// let p = ShardPosition::parse(Some("4959;finished")).unwrap();
/// assert_eq!(p.resume, Resume::After("4959".into()));
/// assert!(p.finished);
/// assert_eq!(p.encode().as_deref(), Some("4959;finished"));
/// assert_eq!(ShardPosition::parse(None).unwrap(), ShardPosition::default());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardPosition {
    /// Where reading resumes.
    pub resume: Resume,
    /// Closed and fully read (or read up to `until`): never read again.
    pub finished: bool,
    /// For bounded jobs: the last sequence number to read.
    pub until: Option<String>,
}

impl Default for ShardPosition {
    fn default() -> Self {
        Self::at(Resume::TrimHorizon)
    }
}

impl ShardPosition {
    /// An unfinished, unbounded position.
    pub fn at(resume: Resume) -> Self {
        Self {
            resume,
            finished: false,
            until: None,
        }
    }

    /// Parses a logged position; `None` is `trim-horizon`.
    ///
    /// # Errors
    /// [`KinesisError::Position`] when the string does not follow the grammar above.
    pub fn parse(position: Option<&str>) -> Result<Self> {
        let Some(text) = position else {
            return Ok(Self::default());
        };
        let bad = |message: &str| KinesisError::Position {
            position: text.to_string(),
            message: message.to_string(),
        };
        let mut parts = text.split(';');
        let head = parts.next().unwrap_or_default();
        let resume = if head == "trim-horizon" {
            Resume::TrimHorizon
        } else if let Some(ms) = head.strip_prefix("at-timestamp:") {
            Resume::AtTimestamp(ms.parse().map_err(|_| bad("bad timestamp"))?)
        } else if is_sequence(head) {
            Resume::After(head.to_string())
        } else {
            return Err(bad(
                "expected a sequence number, trim-horizon or at-timestamp:<ms>",
            ));
        };
        let mut position = Self::at(resume);
        for part in parts {
            if part == "finished" && !position.finished {
                position.finished = true;
            } else if let Some(seq) = part.strip_prefix("until:")
                && is_sequence(seq)
                && position.until.is_none()
            {
                position.until = Some(seq.to_string());
            } else {
                return Err(bad(&format!("unexpected part {part:?}")));
            }
        }
        Ok(position)
    }

    /// The logged form; `None` for a plain `trim-horizon`.
    pub fn encode(&self) -> Option<String> {
        (*self != Self::default()).then(|| self.to_string())
    }

    /// The sequence number of the last record read, if any.
    pub fn last_sequence(&self) -> Option<&str> {
        match &self.resume {
            Resume::After(seq) => Some(seq),
            _ => None,
        }
    }

    /// The position after reading records up to `last` (if any), finished or not.
    pub fn advanced(&self, last: Option<&str>, finished: bool) -> Self {
        Self {
            resume: last.map_or_else(|| self.resume.clone(), |s| Resume::After(s.to_string())),
            finished: self.finished || finished,
            until: if finished { None } else { self.until.clone() },
        }
    }
}

impl fmt::Display for ShardPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.resume {
            Resume::TrimHorizon => f.write_str("trim-horizon")?,
            Resume::AtTimestamp(ms) => write!(f, "at-timestamp:{ms}")?,
            Resume::After(seq) => f.write_str(seq)?,
        }
        if self.finished {
            f.write_str(";finished")?;
        }
        if let Some(until) = &self.until {
            write!(f, ";until:{until}")?;
        }
        Ok(())
    }
}

/// Whether `s` looks like a Kinesis sequence number (decimal digits).
fn is_sequence(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Compares two sequence numbers numerically (they are decimal strings of up to 128
/// bits or more, longer than any integer type).
pub(crate) fn compare_sequences(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// The partition number of a shard id: the numeric suffix (`shardId-000000000007` is 7).
///
/// # Errors
/// [`KinesisError::Internal`] when the id has no numeric suffix that fits a `u32`.
pub fn shard_partition(shard_id: &str) -> Result<u32> {
    shard_id
        .rsplit('-')
        .next()
        .and_then(|n| n.parse::<u32>().ok())
        .ok_or_else(|| KinesisError::Internal(format!("unexpected shard id {shard_id:?}")))
}

/// The shard id of a partition number (`7` is `shardId-000000000007`).
pub fn shard_id(partition: u32) -> String {
    format!("shardId-{partition:012}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip() {
        let cases = [
            ShardPosition::default(),
            ShardPosition::at(Resume::AtTimestamp(-5)),
            ShardPosition::at(Resume::After("495903382714902566085596925383".into())),
            ShardPosition {
                resume: Resume::TrimHorizon,
                finished: true,
                until: None,
            },
            ShardPosition {
                resume: Resume::After("12".into()),
                finished: false,
                until: Some("99".into()),
            },
        ];
        for p in cases {
            let text = p.encode();
            assert_eq!(
                ShardPosition::parse(text.as_deref()).unwrap(),
                p,
                "{text:?}"
            );
        }
        assert_eq!(ShardPosition::default().encode(), None);
        assert_eq!(
            ShardPosition::parse(Some("trim-horizon")).unwrap(),
            ShardPosition::default()
        );
    }

    #[test]
    fn bad_positions_are_errors() {
        for bad in [
            "",
            "abc",
            "12;done",
            "12;finished;finished",
            "12;until:x",
            "at-timestamp:x",
            "-1",
        ] {
            assert!(ShardPosition::parse(Some(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn advancing_keeps_the_bound_until_finished() {
        let p = ShardPosition {
            resume: Resume::TrimHorizon,
            finished: false,
            until: Some("9".into()),
        };
        let q = p.advanced(Some("5"), false);
        assert_eq!(q.to_string(), "5;until:9");
        assert_eq!(q.advanced(None, true).to_string(), "5;finished");
        assert_eq!(p.advanced(None, false), p);
    }

    #[test]
    fn sequences_compare_numerically() {
        assert_eq!(compare_sequences("9", "10"), Ordering::Less);
        assert_eq!(compare_sequences("010", "10"), Ordering::Equal);
        assert_eq!(
            compare_sequences(
                "49590338271490256608559692538361571095921575989136588898",
                "49590338271490256608559692538361571095921575989136588899"
            ),
            Ordering::Less
        );
    }

    #[test]
    fn shard_ids_map_to_partitions() {
        assert_eq!(shard_partition("shardId-000000000007").unwrap(), 7);
        assert_eq!(shard_id(7), "shardId-000000000007");
        assert_eq!(shard_partition(&shard_id(123_456)).unwrap(), 123_456);
        assert!(shard_partition("shardId-x").is_err());
    }
}
