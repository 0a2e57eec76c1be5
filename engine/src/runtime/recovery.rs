//! Where a run starts (DESIGN section 3): the newest snapshot at or before the last
//! commit, its cursors (from its cursor record), and the state parts its commit marker
//! lists; the logged epochs after it are then replayed.

use bytes::Bytes;
use sluice_checkpoints::{CheckpointStore, CommitMarker, JobMetadata, StatePart, check_tiling};

use super::{Cursors, EpochSource, advance};
use crate::error::{EngineError, Result};

/// How a run starts.
pub(super) enum Start {
    /// The input was fully processed by an earlier run; the next epoch would be this one.
    Complete { next_epoch: u64 },
    /// Resume (or start) as described.
    Resume(Recovery),
}

/// What a run resumes from.
pub(super) struct Recovery {
    /// The newest committed epoch's marker.
    pub(super) latest: Option<CommitMarker>,
    /// The first epoch to run: the one after the restored snapshot.
    pub(super) first_epoch: u64,
    /// Where each partition stands after the snapshot (or the source's initial cursors).
    pub(super) starts: Cursors,
    /// The window operators' snapshot parts, with what each holds.
    pub(super) restore: Vec<(StatePart, Bytes)>,
}

/// Finds where a run of the job in `store` starts; `windows` name the operators whose
/// state is restored. A snapshot older than `meta`'s state reset (a replay that rebuilt
/// the state of a changed plan) gives its cursors and no state.
///
/// # Errors
/// When the checkpoint cannot be read, or a snapshot's parts do not cover every key group.
pub(super) fn recover(
    rt: &tokio::runtime::Handle,
    store: &CheckpointStore,
    source: &dyn EpochSource,
    windows: &[&str],
    meta: &JobMetadata,
) -> Result<Start> {
    let key_groups = meta.key_groups;
    let latest = rt.block_on(store.latest_commit())?;
    if let Some(last) = &latest {
        let entry = rt.block_on(store.offsets(last.epoch))?;
        if entry.is_some_and(|e| e.final_epoch) {
            tracing::info!(epoch = last.epoch, "input already fully processed");
            return Ok(Start::Complete {
                next_epoch: last.epoch + 1,
            });
        }
    }
    let snapshot = match &latest {
        Some(last) => rt.block_on(store.latest_snapshot_at_or_before(last.epoch))?,
        None => None,
    };
    let Some(snapshot) = snapshot else {
        let starts = source.initial_cursors()?;
        return Ok(Start::Resume(Recovery {
            latest,
            first_epoch: 0,
            starts,
            restore: Vec::new(),
        }));
    };
    // The snapshot's cursor record; checkpoints written before records existed have entries
    // that name every partition instead.
    let ranges = match rt.block_on(store.cursors(snapshot.epoch))? {
        Some(record) => record,
        None => {
            rt.block_on(store.offsets(snapshot.epoch))?
                .ok_or(EngineError::MissingOffsets {
                    epoch: snapshot.epoch,
                })?
                .ranges
        }
    };
    let mut starts = Cursors::new();
    advance(&mut starts, &ranges);
    let mut restore = Vec::new();
    if !meta.restores_state_of(snapshot.epoch) {
        tracing::info!(
            snapshot = snapshot.epoch,
            reset_at = meta.state_reset_at,
            "the state was reset after this snapshot: starting from empty state"
        );
        return Ok(Start::Resume(Recovery {
            latest,
            first_epoch: snapshot.epoch + 1,
            starts,
            restore,
        }));
    }
    for operator in windows {
        restore.extend(rt.block_on(snapshot_parts(store, &snapshot, operator, key_groups))?);
    }
    tracing::info!(
        snapshot = snapshot.epoch,
        parts = restore.len(),
        "restoring state"
    );
    Ok(Start::Resume(Recovery {
        latest,
        first_epoch: snapshot.epoch + 1,
        starts,
        restore,
    }))
}

/// The state parts of `operator` in the snapshot that `marker` certifies, with their bytes:
/// exactly the parts the marker lists, which must cover every key group once. A marker
/// written before parts were listed restores every part in the folder, as those versions
/// did.
async fn snapshot_parts(
    store: &CheckpointStore,
    marker: &CommitMarker,
    operator: &str,
    key_groups: u32,
) -> sluice_checkpoints::Result<Vec<(StatePart, Bytes)>> {
    let epoch = marker.epoch;
    if let Some(listed) = &marker.state {
        let mine: Vec<StatePart> = listed
            .iter()
            .filter(|p| p.operator == operator)
            .cloned()
            .collect();
        if mine.is_empty() {
            return Err(sluice_checkpoints::Error::IncompleteSnapshot {
                epoch,
                operator: operator.to_string(),
                detail: "the commit marker lists no part of it".into(),
            });
        }
        check_tiling(epoch, &mine, key_groups)?;
        return store
            .get_listed_state(epoch, &mine, operator, 0..key_groups)
            .await;
    }
    tracing::warn!(
        epoch,
        operator,
        "the snapshot's commit marker predates listed state parts: restoring every part \
         in its folder"
    );
    let mut parts = Vec::new();
    for name in store.state_parts(epoch, operator).await? {
        let bytes = store.get_state(epoch, operator, &name).await?;
        let part = StatePart {
            operator: operator.to_string(),
            part: name,
            first_key_group: 0,
            end_key_group: key_groups,
            bytes: bytes.len() as u64,
            keys: 0,
        };
        parts.push((part, bytes));
    }
    Ok(parts)
}
