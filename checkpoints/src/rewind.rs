//! Rewinding a checkpoint for an in-place replay (`sluice replay --in-place`).
//!
//! A replay from epoch `E` must restart from operator state at the end of some epoch
//! before `E`: the newest snapshot `S < E`, so it restarts at `R = S + 1` (or at 0 without
//! one). [`CheckpointStore::rewind_plan`] finds `R` and what it needs; [`rewind`] then
//! deletes the commit markers, cursor records and state of every epoch from `R` on, newest
//! first, so that recovery finds snapshot `S` as the newest commit. The offsets entries
//! are kept: the replay reads exactly the ranges the first run read.
//!
//! [`rewind`]: CheckpointStore::rewind

use futures::stream::{self, StreamExt};
use object_store::path::Path;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::commit::CommitMarker;
use crate::error::{Error, Result};
use crate::store::{COMMITS, CURSORS, CheckpointStore};

/// Where a replay from a requested epoch restarts, and what it needs.
#[derive(Clone, Debug, PartialEq)]
pub struct RewindPlan {
    /// The epoch asked for.
    pub requested: u64,
    /// The epoch the replay restarts at: one after the newest snapshot before
    /// `requested`, or 0.
    pub restart: u64,
    /// That snapshot's marker, if any.
    pub snapshot: Option<CommitMarker>,
    /// The newest committed epoch (the replay reprocesses `restart..=last`).
    pub last_committed: u64,
    /// The commit markers of `restart..=last_committed` that exist, in epoch order: they
    /// name each table's version per epoch.
    pub markers: Vec<CommitMarker>,
}

/// An in-place replay under way, written before the checkpoint is rewound so that an
/// interrupted replay can be finished: where it restarts, and the version each table is
/// restored to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayIntent {
    /// The epoch the replay restarts at.
    pub restart: u64,
    /// Each table (by name) and the version it is restored to: the one before the table's
    /// first commit at or after `restart`.
    pub tables: BTreeMap<String, i64>,
    /// Restoring this savepoint (whose epoch is `restart - 1`) instead of rewinding: the
    /// later offsets go too, and the epochs are planned anew.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub savepoint: Option<String>,
    /// The replay rebuilds operator state (`--reset-state`): it restarts at `restart`
    /// with empty state, for a plan whose state does not fit the checkpoint's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reset_state: bool,
}

const REPLAY: &str = "replay.json";

impl CheckpointStore {
    /// Records `intent`, unless one is already recorded; the recorded one.
    ///
    /// # Errors
    /// [`Error::Store`] on I/O failure.
    pub async fn put_replay_intent(&self, intent: &ReplayIntent) -> Result<ReplayIntent> {
        let path = self.job_path(REPLAY);
        if self.put_json_if_absent(&path, intent).await? {
            return Ok(intent.clone());
        }
        Ok(self
            .get_json(&path)
            .await?
            .unwrap_or_else(|| intent.clone()))
    }

    /// The replay under way, if any.
    ///
    /// # Errors
    /// [`Error::Store`] on I/O failure; [`Error::Corrupt`] for an unreadable record.
    pub async fn replay_intent(&self) -> Result<Option<ReplayIntent>> {
        self.get_json(&self.job_path(REPLAY)).await
    }

    /// Forgets the replay under way, once it is done.
    ///
    /// # Errors
    /// [`Error::Store`] on I/O failure.
    pub async fn clear_replay_intent(&self) -> Result<()> {
        let path = self.job_path(REPLAY);
        self.delete_all(stream::iter([Ok(path)]).boxed()).await?;
        Ok(())
    }

    /// Plans a replay from `epoch`; see the [module docs](self).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when nothing is committed, `epoch` is beyond the last
    /// committed epoch, or an epoch to reprocess lacks its offsets entry (removed by
    /// retention: its ranges are unknown); [`Error::Store`] on I/O failure.
    pub async fn rewind_plan(&self, epoch: u64) -> Result<RewindPlan> {
        let committed = self.committed_epochs().await?;
        let Some(&last) = committed.last() else {
            return Err(Error::InvalidArgument(
                "nothing is committed: there is nothing to replay".into(),
            ));
        };
        if epoch > last {
            return Err(Error::InvalidArgument(format!(
                "epoch {epoch} is not committed (the last committed epoch is {last})"
            )));
        }
        let snapshot = match epoch.checked_sub(1) {
            Some(before) => self.latest_snapshot_at_or_before(before).await?,
            None => None,
        };
        let restart = snapshot.as_ref().map_or(0, |s| s.epoch + 1);
        let logged = self.offsets_epochs().await?;
        if let Some(missing) = (restart..=last).find(|e| logged.binary_search(e).is_err()) {
            return Err(Error::InvalidArgument(format!(
                "epoch {missing} must be reprocessed (the replay restarts at {restart}, after the \
                 newest snapshot before {epoch}), but its offsets entry is gone (retention): \
                 replay from a later epoch"
            )));
        }
        let mut markers = Vec::new();
        for e in committed.into_iter().filter(|&e| e >= restart) {
            if let Some(marker) = self.commit(e).await? {
                markers.push(marker);
            }
        }
        Ok(RewindPlan {
            requested: epoch,
            restart,
            snapshot,
            last_committed: last,
            markers,
        })
    }

    /// The earliest epoch a replay that rebuilds state (`--reset-state`) can restart at,
    /// with empty state: 0 while the offsets log still holds every epoch from the first,
    /// else the epoch after the oldest retained snapshot (retention removed the offsets
    /// before it, so the rows of earlier epochs cannot be read again as epochs).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when nothing is committed or neither start is retained;
    /// [`Error::Store`] on I/O failure.
    pub async fn state_rebuild_start(&self) -> Result<u64> {
        let committed = self.committed_epochs().await?;
        let Some(&last) = committed.last() else {
            return Err(Error::InvalidArgument(
                "nothing is committed: there is nothing to replay".into(),
            ));
        };
        let logged = self.offsets_epochs().await?;
        if logged.first() == Some(&0) {
            return Ok(0);
        }
        for &epoch in &committed {
            let Some(marker) = self.commit(epoch).await? else {
                continue;
            };
            if marker.snapshot {
                if epoch == last {
                    break;
                }
                return Ok(epoch + 1);
            }
        }
        Err(Error::InvalidArgument(format!(
            "the offsets log no longer starts at epoch 0 (it holds {}..), and no retained \
             snapshot before the last committed epoch {last} says where the input resumes",
            logged.first().map_or("nothing".to_string(), u64::to_string)
        )))
    }

    /// Deletes the objects of `dir` (`commits`, `cursors`, `offsets`) of every epoch at or
    /// after `from`, newest first; how many went.
    pub(crate) async fn delete_epochs_from(&self, dir: &str, from: u64) -> Result<usize> {
        let mut epochs: Vec<u64> = self
            .list_epochs(dir)
            .await?
            .into_iter()
            .filter(|&e| e >= from)
            .collect();
        epochs.reverse();
        let paths: Vec<Path> = epochs.iter().map(|&e| self.epoch_path(dir, e)).collect();
        self.delete_all(stream::iter(paths.into_iter().map(Ok)).boxed())
            .await
    }

    /// Deletes the commit markers, cursor records and state of every epoch at or after
    /// `restart`, newest first; returns how many objects went. Offsets entries stay.
    ///
    /// # Errors
    /// [`Error::Store`] on I/O failure.
    ///
    /// # Cancel safety
    /// Safe to cancel and to call again: markers go newest first, so a partial rewind
    /// leaves a consistent (shorter) committed history, and the next call finishes it.
    pub async fn rewind(&self, restart: u64) -> Result<usize> {
        let mut deleted = 0;
        for dir in [COMMITS, CURSORS] {
            deleted += self.delete_epochs_from(dir, restart).await?;
        }
        for epoch in self.state_epochs().await? {
            if epoch >= restart {
                deleted += self.delete_state(epoch).await?;
            }
        }
        tracing::info!(job = %self.job_id, restart, deleted, "checkpoint rewound");
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use crate::commit::tests::marker;
    use crate::offsets::tests::entry;
    use crate::retention::Retention;
    use crate::store::tests::temp_store;

    #[tokio::test]
    async fn state_is_rebuilt_from_the_first_epoch_while_it_is_logged() {
        let (_dir, store) = temp_store();
        assert!(store.state_rebuild_start().await.is_err());
        for epoch in 0..=7 {
            store.put_offsets(&entry(epoch, epoch * 10)).await.unwrap();
            store
                .put_commit(&marker(epoch, epoch % 3 == 2))
                .await
                .unwrap();
        }
        assert_eq!(store.state_rebuild_start().await.unwrap(), 0);
        // Snapshots at 2 and 5; keeping one removes epochs 0..=4, offsets included: the
        // rebuild starts after the oldest snapshot left, whose cursors say where.
        store
            .apply_retention(&Retention { keep_snapshots: 1 })
            .await
            .unwrap();
        assert_eq!(store.state_rebuild_start().await.unwrap(), 6);
    }
}
