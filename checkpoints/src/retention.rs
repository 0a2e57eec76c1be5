//! Retention: drop checkpoints older than the snapshots worth keeping.
//!
//! The newest `keep_snapshots` snapshot epochs are kept, and with them everything (offsets,
//! commits, state) at or after the oldest kept snapshot, which is all recovery can need.
//! Older objects are deleted: commit markers first, so an old snapshot stops being visible
//! before its state goes, then offsets, then state. Nothing at or after the oldest kept
//! snapshot is ever deleted, so retention may run while the job writes new epochs.
//!
//! Within the kept range, state parts that no commit marker lists are deleted too: a run
//! that crashed after writing its parts of a snapshot epoch, and a later run that committed
//! the epoch with its own parts (another worker count), leave the first run's parts behind.
//! Only committed epochs are looked at; the epochs in flight are left alone.

use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;

use crate::error::{Error, Result};
use crate::store::{COMMITS, CURSORS, CheckpointStore, OFFSETS, STATE};

/// How many checkpoints to keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Number of newest snapshot epochs to keep; at least 1.
    pub keep_snapshots: usize,
}

/// What [`CheckpointStore::apply_retention`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetentionReport {
    /// Objects deleted.
    pub deleted_objects: usize,
    /// The oldest kept snapshot epoch; `None` if there is no snapshot (nothing deleted).
    pub oldest_kept_epoch: Option<u64>,
}

impl CheckpointStore {
    /// Applies `policy`, deleting offsets, commit markers and state older than the oldest
    /// kept snapshot. Without any snapshot nothing is deleted.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `keep_snapshots` is 0, [`Error::Store`] on I/O failure,
    /// [`Error::Corrupt`] if a commit marker is unreadable.
    ///
    /// # Cancel safety
    ///
    /// Not atomic, but safe to cancel: a dropped call leaves some old objects behind (never
    /// a visible snapshot without its state) and the next call finishes the job.
    pub async fn apply_retention(&self, policy: &Retention) -> Result<RetentionReport> {
        if policy.keep_snapshots == 0 {
            return Err(Error::InvalidArgument(
                "retention must keep at least one snapshot".into(),
            ));
        }
        let snapshots = self.snapshot_epochs().await?;
        let Some(&oldest) = snapshots.get(snapshots.len().saturating_sub(policy.keep_snapshots))
        else {
            tracing::debug!(job = %self.job_id, "no snapshot yet; retention keeps everything");
            return Ok(RetentionReport {
                deleted_objects: 0,
                oldest_kept_epoch: None,
            });
        };
        let mut deleted = 0;
        for dir in [COMMITS, OFFSETS, CURSORS] {
            let old: Vec<Path> = self
                .list_epochs(dir)
                .await?
                .into_iter()
                .take_while(|&e| e < oldest)
                .map(|e| self.epoch_path(dir, e))
                .collect();
            deleted += self
                .delete_all(stream::iter(old.into_iter().map(Ok)).boxed())
                .await?;
        }
        for epoch in self.state_epochs().await? {
            if epoch >= oldest {
                break;
            }
            deleted += self.delete_state(epoch).await?;
        }
        deleted += self.delete_unlisted_parts(oldest).await?;
        tracing::info!(job = %self.job_id, oldest_kept = oldest, deleted, "retention applied");
        Ok(RetentionReport {
            deleted_objects: deleted,
            oldest_kept_epoch: Some(oldest),
        })
    }

    /// Deletes the state parts of committed epochs at or after `oldest` that their marker
    /// does not list (all of them when the marker has no snapshot). Markers written before
    /// parts were listed keep their whole folder.
    async fn delete_unlisted_parts(&self, oldest: u64) -> Result<usize> {
        let Some(&last_committed) = self.committed_epochs().await?.last() else {
            return Ok(0);
        };
        let mut deleted = 0;
        for epoch in self.state_epochs().await? {
            if epoch < oldest || epoch > last_committed {
                continue;
            }
            let Some(marker) = self.commit(epoch).await? else {
                continue;
            };
            let listed: std::collections::BTreeSet<(String, String)> =
                match (&marker.state, marker.snapshot) {
                    (_, false) => Default::default(),
                    (Some(parts), true) => parts
                        .iter()
                        .map(|p| (p.operator.clone(), p.part.clone()))
                        .collect(),
                    (None, true) => continue,
                };
            let prefix = self.epoch_path(STATE, epoch);
            let unlisted: Vec<Path> = self
                .store
                .list(Some(&prefix))
                .map_ok(|m| m.location)
                .try_filter(|location| {
                    let mut names = location.parts().skip(prefix.parts().count());
                    let key = match (names.next(), names.next()) {
                        (Some(op), Some(part)) => {
                            (op.as_ref().to_string(), part.as_ref().to_string())
                        }
                        _ => (String::new(), String::new()),
                    };
                    std::future::ready(!listed.contains(&key))
                })
                .try_collect()
                .await?;
            if !unlisted.is_empty() {
                tracing::info!(
                    job = %self.job_id,
                    epoch,
                    parts = unlisted.len(),
                    "deleting state parts no commit marker lists (left by a crashed run)"
                );
                deleted += self
                    .delete_all(stream::iter(unlisted.into_iter().map(Ok)).boxed())
                    .await?;
            }
        }
        Ok(deleted)
    }

    /// Deletes every state part of `epoch`, counting deletions.
    pub(crate) async fn delete_state(&self, epoch: u64) -> Result<usize> {
        let prefix = self.epoch_path(STATE, epoch);
        let parts = self
            .store
            .list(Some(&prefix))
            .map_ok(|m| m.location)
            .boxed();
        self.delete_all(parts).await
    }

    /// Deletes `paths`, counting deletions; objects already gone are not an error.
    pub(crate) async fn delete_all(
        &self,
        paths: BoxStream<'static, object_store::Result<Path>>,
    ) -> Result<usize> {
        let mut results = self.store.delete_stream(paths);
        let mut deleted = 0;
        while let Some(result) = results.next().await {
            match result {
                Ok(_) => deleted += 1,
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commit::tests::marker;
    use crate::offsets::tests::entry;
    use crate::store::tests::temp_store;
    use bytes::Bytes;

    #[tokio::test]
    async fn retention_deletes_only_old_items() {
        let (dir, store) = temp_store();
        let none = store
            .apply_retention(&Retention { keep_snapshots: 1 })
            .await
            .unwrap();
        assert_eq!(none.oldest_kept_epoch, None);
        for epoch in 1..=12 {
            store.put_offsets(&entry(epoch, epoch * 10)).await.unwrap();
            if epoch % 3 == 0 {
                store
                    .put_state(epoch, "agg", "kg-0", Bytes::from_static(b"s"))
                    .await
                    .unwrap();
                store
                    .put_state(epoch, "agg", "kg-1", Bytes::from_static(b"s"))
                    .await
                    .unwrap();
            }
            // Epoch 12 is logged and has state, but is not committed yet. Epoch 9's marker
            // lists only kg-0 (a crashed run left kg-1 behind); epoch 6's marker predates
            // listed parts, so its whole folder is its snapshot.
            if epoch < 12 {
                let mut m = marker(epoch, epoch % 3 == 0);
                if epoch == 9 {
                    m.state = Some(vec![crate::StatePart {
                        operator: "agg".into(),
                        part: "kg-0".into(),
                        first_key_group: 0,
                        end_key_group: 2,
                        bytes: 1,
                        keys: 1,
                    }]);
                }
                store.put_commit(&m).await.unwrap();
            }
        }
        assert!(matches!(
            store
                .apply_retention(&Retention { keep_snapshots: 0 })
                .await,
            Err(Error::InvalidArgument(_))
        ));

        // Snapshots at 3, 6, 9; keep two, so everything from 6 on stays.
        let report = store
            .apply_retention(&Retention { keep_snapshots: 2 })
            .await
            .unwrap();
        // commits 1..=5, offsets 1..=5, state of 3 (two parts), epoch 9's unlisted part.
        assert_eq!(
            report,
            RetentionReport {
                deleted_objects: 13,
                oldest_kept_epoch: Some(6)
            }
        );
        assert_eq!(
            store.offsets_epochs().await.unwrap(),
            (6..=12).collect::<Vec<_>>()
        );
        assert_eq!(
            store.committed_epochs().await.unwrap(),
            (6..=11).collect::<Vec<_>>()
        );
        assert_eq!(store.state_epochs().await.unwrap(), vec![6, 9, 12]);
        assert_eq!(store.state_parts(6, "agg").await.unwrap(), ["kg-0", "kg-1"]);
        assert_eq!(store.state_parts(9, "agg").await.unwrap(), ["kg-0"]);
        assert_eq!(
            store.state_parts(12, "agg").await.unwrap(),
            ["kg-0", "kg-1"]
        );
        assert!(!dir.path().join("job-1/state/00000000000000000003").exists());
        assert_eq!(store.latest_snapshot_at_or_before(5).await.unwrap(), None);

        // Running again is a no-op.
        let again = store
            .apply_retention(&Retention { keep_snapshots: 2 })
            .await
            .unwrap();
        assert_eq!(again.deleted_objects, 0);
        // Keeping more snapshots than exist keeps everything.
        let all = store
            .apply_retention(&Retention { keep_snapshots: 10 })
            .await
            .unwrap();
        assert_eq!(
            all,
            RetentionReport {
                deleted_objects: 0,
                oldest_kept_epoch: Some(6)
            }
        );
    }
}
