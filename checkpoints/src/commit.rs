//! Commit markers: `commits/<epoch>` marks an epoch done in every sink.
//!
//! A marker with `snapshot == true` also certifies that the state of every operator at that
//! epoch is complete under `state/<epoch>/`, so recovery may restore from it: the parts it
//! lists in `state` are the snapshot, and nothing else in the folder is.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::snapshot::StatePart;
use crate::store::{COMMITS, CheckpointStore, vanished};

/// Marks an epoch committed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CommitMarker {
    /// The committed epoch.
    pub epoch: u64,
    /// Whether a complete state snapshot was written for the epoch.
    pub snapshot: bool,
    /// Commit time, Unix milliseconds.
    pub committed_at_ms: i64,
    /// The state parts of the snapshot, covering each operator's key groups exactly once;
    /// `None` in markers written before parts were listed, whose snapshot is every part in
    /// the epoch's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Vec<StatePart>>,
    /// The table version each table's commit of the epoch created, by table name; tables
    /// that already held the epoch (a replay) are absent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tables: BTreeMap<String, u64>,
}

impl CommitMarker {
    /// The parts of `operator`'s snapshot, or `None` for an unlisted (old) marker.
    pub fn parts_of<'a>(
        &'a self,
        operator: &'a str,
    ) -> Option<impl Iterator<Item = &'a StatePart>> {
        self.state
            .as_ref()
            .map(move |parts| parts.iter().filter(move |p| p.operator == operator))
    }
}

impl CheckpointStore {
    /// Writes the commit marker of `marker.epoch` with put-if-absent.
    ///
    /// An existing marker with the same epoch and `snapshot` flag is accepted (a retry or a
    /// replay); its `committed_at_ms` is kept and the new one ignored.
    ///
    /// # Errors
    ///
    /// [`Error::Conflict`] if a marker with a different `snapshot` flag exists,
    /// [`Error::Store`] on I/O failure, [`Error::Corrupt`] if the stored marker is unreadable.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the put is atomic and calling again after a drop is accepted.
    pub async fn put_commit(&self, marker: &CommitMarker) -> Result<()> {
        let path = self.epoch_path(COMMITS, marker.epoch);
        if self.put_json_if_absent(&path, marker).await? {
            tracing::debug!(job = %self.job_id, epoch = marker.epoch, snapshot = marker.snapshot, "epoch committed");
            return Ok(());
        }
        let stored = self
            .commit(marker.epoch)
            .await?
            .ok_or_else(|| vanished(&path))?;
        if stored.snapshot != marker.snapshot {
            return Err(Error::Conflict {
                path: path.to_string(),
                detail: format!(
                    "stored marker has snapshot={}, new one snapshot={}",
                    stored.snapshot, marker.snapshot
                ),
            });
        }
        Ok(())
    }

    /// Reads the commit marker of `epoch`.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] on I/O failure, [`Error::Corrupt`] if the marker is unreadable or
    /// names another epoch.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: read only.
    pub async fn commit(&self, epoch: u64) -> Result<Option<CommitMarker>> {
        let path = self.epoch_path(COMMITS, epoch);
        let marker: Option<CommitMarker> = self.get_json(&path).await?;
        match marker {
            Some(m) if m.epoch != epoch => Err(Error::corrupt(
                &path,
                serde::de::Error::custom(format!("marker names epoch {}", m.epoch)),
            )),
            other => Ok(other),
        }
    }

    /// All committed epochs, ascending.
    pub(crate) async fn committed_epochs(&self) -> Result<Vec<u64>> {
        self.list_epochs(COMMITS).await
    }

    /// The marker of the newest committed epoch.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] on I/O failure, [`Error::Corrupt`] if the marker is unreadable.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: read only.
    pub async fn latest_commit(&self) -> Result<Option<CommitMarker>> {
        match self.committed_epochs().await?.last() {
            Some(&epoch) => self.commit(epoch).await,
            None => Ok(None),
        }
    }

    /// The newest marker with `snapshot == true` whose epoch is at or before `epoch`.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] on I/O failure, [`Error::Corrupt`] if a marker is unreadable.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: read only.
    pub async fn latest_snapshot_at_or_before(&self, epoch: u64) -> Result<Option<CommitMarker>> {
        let epochs = self.committed_epochs().await?;
        for &e in epochs.iter().rev().filter(|&&e| e <= epoch) {
            if let Some(marker) = self.commit(e).await?
                && marker.snapshot
            {
                return Ok(Some(marker));
            }
        }
        Ok(None)
    }

    /// The committed epochs with a snapshot, ascending.
    pub(crate) async fn snapshot_epochs(&self) -> Result<Vec<u64>> {
        let mut snapshots = Vec::new();
        for epoch in self.committed_epochs().await? {
            if self.commit(epoch).await?.is_some_and(|m| m.snapshot) {
                snapshots.push(epoch);
            }
        }
        Ok(snapshots)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::tests::temp_store;

    pub(crate) fn marker(epoch: u64, snapshot: bool) -> CommitMarker {
        CommitMarker {
            epoch,
            snapshot,
            committed_at_ms: 1_700_000_000_000 + epoch as i64,
            state: None,
            tables: BTreeMap::new(),
        }
    }

    #[tokio::test]
    async fn put_commit_is_idempotent_and_detects_conflicts() {
        let (_dir, store) = temp_store();
        assert_eq!(store.latest_commit().await.unwrap(), None);
        store.put_commit(&marker(4, true)).await.unwrap();
        // A replay with a later timestamp is fine; the first marker is kept.
        let replay = CommitMarker {
            committed_at_ms: 1,
            ..marker(4, true)
        };
        store.put_commit(&replay).await.unwrap();
        assert_eq!(store.commit(4).await.unwrap(), Some(marker(4, true)));
        let err = store.put_commit(&marker(4, false)).await.unwrap_err();
        assert!(matches!(err, Error::Conflict { .. }), "{err}");
    }

    #[tokio::test]
    async fn latest_commit_and_snapshot_lookup() {
        let (_dir, store) = temp_store();
        for epoch in 1..=12 {
            store
                .put_commit(&marker(epoch, epoch % 5 == 0))
                .await
                .unwrap();
        }
        assert_eq!(
            store.latest_commit().await.unwrap(),
            Some(marker(12, false))
        );
        assert_eq!(store.snapshot_epochs().await.unwrap(), vec![5, 10]);
        let at = |e| {
            let store = store.clone();
            async move {
                store
                    .latest_snapshot_at_or_before(e)
                    .await
                    .unwrap()
                    .map(|m| m.epoch)
            }
        };
        assert_eq!(at(12).await, Some(10));
        assert_eq!(at(10).await, Some(10));
        assert_eq!(at(9).await, Some(5));
        assert_eq!(at(4).await, None);
        assert_eq!(at(u64::MAX).await, Some(10));
    }
}
