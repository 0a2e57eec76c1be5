//! The offsets log: `offsets/<epoch>` records exactly what each epoch read.
//!
//! An entry is written with put-if-absent **before** any sink commits its epoch. Once
//! written it never changes, so recovery re-runs an epoch with exactly its logged ranges.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::{CheckpointStore, OFFSETS, vanished};

/// The `[start, end)` offsets read from one source partition in one epoch.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SourceRange {
    /// Source name in the job.
    pub source: String,
    /// Partition, shard or file index.
    pub partition: u32,
    /// First offset read.
    pub start: u64,
    /// One past the last offset read.
    pub end: u64,
    /// Opaque source position the range starts after (a Kinesis sequence number); `None`
    /// for sources whose offsets are positions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_position: Option<String>,
    /// Opaque source position of the last record in the range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_position: Option<String>,
}

impl SourceRange {
    /// A range of plain offsets, without opaque positions.
    pub fn offsets(source: impl Into<String>, partition: u32, start: u64, end: u64) -> Self {
        Self {
            source: source.into(),
            partition,
            start,
            end,
            start_position: None,
            end_position: None,
        }
    }

    /// Records in the range (offsets may be sparse, so this is an upper bound for Kafka).
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Whether the range reads nothing.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// The log entry of one epoch.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct OffsetsEntry {
    /// The epoch.
    pub epoch: u64,
    /// Ranges read, one per source partition.
    pub ranges: Vec<SourceRange>,
    /// Watermark `W(e)` in effect for the epoch; `None` is minus infinity.
    pub watermark_ms: Option<i64>,
    /// Global maximum event time over epochs before this one.
    pub max_event_time_ms: Option<i64>,
    /// Fingerprint of the plan that logged the epoch.
    pub plan_fingerprint: String,
    /// Whether this is the last epoch of a bounded job.
    pub final_epoch: bool,
    /// The run that logged the epoch; a second live instance of the job finds another
    /// run's id on an epoch it did not know about when it started, and stops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The version of each keyed join's table that the epoch's rows join against, in the
    /// plan's join order; a replay feeds the same versions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub table_versions: Vec<i64>,
    /// When the epoch was planned (ms since the Unix epoch): the processing time its rows
    /// are judged by (`watermark.max-future`), logged so that a replay judges them alike.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_at_ms: Option<i64>,
    /// For an epoch planned because the source stayed idle (`watermark.idle-timeout`): the
    /// event time (ms) the epoch counts as having seen, the newest one so far plus the
    /// wall-clock time since the previous epoch was planned. It moves the watermark as a
    /// record with that time would; `None` for every other epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_max_event_time_ms: Option<i64>,
}

/// Outcome of [`CheckpointStore::put_offsets`].
#[derive(Clone, Debug, PartialEq)]
pub enum Logged {
    /// The entry was written now.
    Written,
    /// An entry for the epoch was already logged (by an earlier run); it is returned and
    /// must be re-run exactly, whatever the caller proposed.
    Existing(OffsetsEntry),
}

impl CheckpointStore {
    /// Logs the ranges of `entry.epoch` with put-if-absent.
    ///
    /// If the epoch is already logged the stored entry wins and comes back as
    /// [`Logged::Existing`], even if it differs from `entry`.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] on I/O failure, [`Error::Corrupt`] if the stored entry is unreadable
    /// or names another epoch.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the put is atomic. If the future is dropped the entry may or may not be
    /// written; calling again returns [`Logged::Existing`] in the latter case.
    pub async fn put_offsets(&self, entry: &OffsetsEntry) -> Result<Logged> {
        let path = self.epoch_path(OFFSETS, entry.epoch);
        if self.put_json_if_absent(&path, entry).await? {
            tracing::debug!(job = %self.job_id, epoch = entry.epoch, ranges = entry.ranges.len(), "offsets logged");
            return Ok(Logged::Written);
        }
        let stored = self
            .offsets(entry.epoch)
            .await?
            .ok_or_else(|| vanished(&path))?;
        if stored != *entry {
            tracing::info!(job = %self.job_id, epoch = entry.epoch, "epoch already logged with other ranges; re-running the logged ones");
        }
        Ok(Logged::Existing(stored))
    }

    /// Reads the log entry of `epoch`.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] on I/O failure, [`Error::Corrupt`] if the entry is unreadable or
    /// names another epoch.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: read only.
    pub async fn offsets(&self, epoch: u64) -> Result<Option<OffsetsEntry>> {
        let path = self.epoch_path(OFFSETS, epoch);
        let entry: Option<OffsetsEntry> = self.get_json(&path).await?;
        match entry {
            Some(e) if e.epoch != epoch => Err(Error::corrupt(
                &path,
                serde::de::Error::custom(format!("entry names epoch {}", e.epoch)),
            )),
            other => Ok(other),
        }
    }

    /// The newest logged epoch.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] on I/O failure.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: read only.
    pub async fn latest_offsets(&self) -> Result<Option<u64>> {
        Ok(self.list_epochs(OFFSETS).await?.last().copied())
    }

    /// All logged epochs, ascending.
    pub(crate) async fn offsets_epochs(&self) -> Result<Vec<u64>> {
        self.list_epochs(OFFSETS).await
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::tests::temp_store;

    pub(crate) fn entry(epoch: u64, end: u64) -> OffsetsEntry {
        OffsetsEntry {
            run_id: None,
            epoch,
            ranges: vec![SourceRange::offsets(
                "orders",
                0,
                end.saturating_sub(10),
                end,
            )],
            watermark_ms: (epoch > 0).then_some(epoch as i64 * 1000),
            max_event_time_ms: None,
            plan_fingerprint: "fp".into(),
            final_epoch: false,
            table_versions: Vec::new(),
            planned_at_ms: None,
            idle_max_event_time_ms: None,
        }
    }

    #[tokio::test]
    async fn put_offsets_is_put_if_absent() {
        let (_dir, store) = temp_store();
        assert_eq!(store.offsets(3).await.unwrap(), None);
        assert_eq!(
            store.put_offsets(&entry(3, 30)).await.unwrap(),
            Logged::Written
        );
        // A re-run proposing other ranges gets the logged ones back.
        assert_eq!(
            store.put_offsets(&entry(3, 99)).await.unwrap(),
            Logged::Existing(entry(3, 30))
        );
        assert_eq!(
            store.put_offsets(&entry(3, 30)).await.unwrap(),
            Logged::Existing(entry(3, 30))
        );
        assert_eq!(store.offsets(3).await.unwrap(), Some(entry(3, 30)));
    }

    #[tokio::test]
    async fn latest_offsets_orders_numerically() {
        let (dir, store) = temp_store();
        assert_eq!(store.latest_offsets().await.unwrap(), None);
        for epoch in [2, 9, 10, 11, 100, 7] {
            store.put_offsets(&entry(epoch, epoch * 10)).await.unwrap();
        }
        // Stray files are ignored, not parsed as epochs.
        std::fs::write(dir.path().join("job-1/offsets/notes.txt"), b"x").unwrap();
        assert_eq!(store.latest_offsets().await.unwrap(), Some(100));
        assert_eq!(
            store.offsets_epochs().await.unwrap(),
            vec![2, 7, 9, 10, 11, 100]
        );
    }

    #[tokio::test]
    async fn futures_are_send() {
        let (_dir, store) = temp_store();
        let task = tokio::spawn(async move { store.put_offsets(&entry(1, 10)).await });
        assert_eq!(task.await.unwrap().unwrap(), Logged::Written);
    }
}
