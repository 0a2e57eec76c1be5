//! Savepoints: named copies of a committed snapshot, kept outside retention.
//!
//! `savepoints/<name>/` holds `savepoint.json` (the snapshot epoch's commit marker, with
//! its table versions and state parts, its cursor record and offsets entry, and the job's
//! plan fingerprint and key groups) and a copy of every listed state part under
//! `state/<operator>/<part>`. `savepoint.json` is written last, so a savepoint is listed
//! only once it is whole. Retention never looks under `savepoints/`.
//!
//! [`CheckpointStore::restore_savepoint`] puts the epoch's objects back into the live
//! checkpoint and removes everything after it, offsets included: the job then restarts
//! from the savepoint's state and cursors and plans its epochs anew (with any worker or
//! process count: state is restored by key group). The tables must be restored to the
//! versions the marker names, which the caller does.

use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};
use object_store::PutPayload;
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use crate::commit::CommitMarker;
use crate::error::{Error, Result};
use crate::offsets::{OffsetsEntry, SourceRange};
use crate::store::{CheckpointStore, OFFSETS, check_name};

const SAVEPOINTS: &str = "savepoints";
const FILE: &str = "savepoint.json";

/// A savepoint: what restoring it needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Savepoint {
    /// Its name.
    pub name: String,
    /// When it was taken, Unix milliseconds.
    pub created_at_ms: i64,
    /// The plan fingerprint of the job that took it.
    pub plan_fingerprint: String,
    /// That plan's state layout, when its checkpoint recorded one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_layout: Option<crate::StateLayout>,
    /// The job's key groups.
    pub key_groups: u32,
    /// The snapshot epoch's commit marker (its table versions and state parts).
    pub marker: CommitMarker,
    /// The epoch's cursor record, if it has one.
    pub cursors: Option<Vec<SourceRange>>,
    /// The epoch's offsets entry.
    pub offsets: OffsetsEntry,
}

impl Savepoint {
    /// The savepoint's epoch.
    pub fn epoch(&self) -> u64 {
        self.marker.epoch
    }

    /// Its state's size in bytes.
    pub fn state_bytes(&self) -> u64 {
        self.marker.state.iter().flatten().map(|p| p.bytes).sum()
    }
}

impl CheckpointStore {
    fn savepoint_dir(&self, name: &str) -> Path {
        self.job_path(SAVEPOINTS).join(name)
    }

    /// Copies the newest committed snapshot as savepoint `name`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a bad or taken name, no snapshot yet, or a snapshot
    /// whose marker does not name every table's version (an epoch a restart replayed);
    /// [`Error::Store`] on I/O failure.
    pub async fn create_savepoint(&self, name: &str, now_ms: i64) -> Result<Savepoint> {
        check_name("savepoint name", name)?;
        if self.savepoint(name).await?.is_some() {
            return Err(Error::InvalidArgument(format!("savepoint {name:?} exists")));
        }
        let latest = self
            .latest_commit()
            .await?
            .ok_or_else(|| Error::InvalidArgument("nothing is committed yet".into()))?;
        let marker = self
            .latest_snapshot_at_or_before(latest.epoch)
            .await?
            .ok_or_else(|| Error::InvalidArgument("no snapshot is committed yet".into()))?;
        let missing: Vec<&String> = latest
            .tables
            .keys()
            .filter(|t| !marker.tables.contains_key(*t))
            .collect();
        if !missing.is_empty() || marker.state.is_none() {
            return Err(Error::InvalidArgument(format!(
                "the newest snapshot (epoch {}) does not name the table versions of {missing:?} \
                 or its state parts (a replayed epoch or an older marker): take the savepoint \
                 after the next snapshot",
                marker.epoch
            )));
        }
        let meta = self
            .metadata()
            .await?
            .ok_or_else(|| Error::InvalidArgument("the job has no metadata".into()))?;
        if !meta.restores_state_of(marker.epoch) {
            return Err(Error::InvalidArgument(format!(
                "the newest snapshot (epoch {}) holds the state of the plan before a replay \
                 that reset it: take the savepoint after the next snapshot",
                marker.epoch
            )));
        }
        let offsets = self.offsets(marker.epoch).await?.ok_or_else(|| {
            Error::InvalidArgument(format!("epoch {} has no offsets entry", marker.epoch))
        })?;
        let dir = self.savepoint_dir(name);
        for part in marker.state.iter().flatten() {
            let bytes = self
                .get_state(marker.epoch, &part.operator, &part.part)
                .await?;
            let path = dir
                .clone()
                .join("state")
                .join(part.operator.as_str())
                .join(part.part.as_str());
            self.store
                .put_opts(&path, PutPayload::from(bytes), Default::default())
                .await?;
        }
        let savepoint = Savepoint {
            name: name.to_owned(),
            created_at_ms: now_ms,
            plan_fingerprint: meta.plan_fingerprint,
            state_layout: meta.state_layout,
            key_groups: meta.key_groups,
            cursors: self.cursors(marker.epoch).await?,
            marker,
            offsets,
        };
        if !self
            .put_json_if_absent(&dir.clone().join(FILE), &savepoint)
            .await?
        {
            return Err(Error::InvalidArgument(format!("savepoint {name:?} exists")));
        }
        tracing::info!(job = %self.job_id, name, epoch = savepoint.epoch(), "savepoint created");
        Ok(savepoint)
    }

    /// Savepoint `name`, if it exists (whole).
    ///
    /// # Errors
    /// [`Error::Store`] on I/O failure; [`Error::Corrupt`] for an unreadable record.
    pub async fn savepoint(&self, name: &str) -> Result<Option<Savepoint>> {
        check_name("savepoint name", name)?;
        self.get_json(&self.savepoint_dir(name).join(FILE)).await
    }

    /// Every whole savepoint, by name.
    ///
    /// # Errors
    /// As [`savepoint`](Self::savepoint).
    pub async fn savepoints(&self) -> Result<Vec<Savepoint>> {
        let listing = self
            .store
            .list_with_delimiter(Some(&self.job_path(SAVEPOINTS)))
            .await?;
        let mut names: Vec<String> = listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_owned))
            .collect();
        names.sort();
        let mut out = Vec::new();
        for name in names {
            if let Some(s) = self.savepoint(&name).await? {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// Deletes savepoint `name` (its record first); how many objects went.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when there is no such savepoint; [`Error::Store`] on I/O
    /// failure.
    pub async fn delete_savepoint(&self, name: &str) -> Result<usize> {
        if self.savepoint(name).await?.is_none() {
            return Err(Error::InvalidArgument(format!("no savepoint {name:?}")));
        }
        let dir = self.savepoint_dir(name);
        let mut deleted = self
            .delete_all(stream::iter([Ok(dir.clone().join(FILE))]).boxed())
            .await?;
        let rest = self.store.list(Some(&dir)).map_ok(|m| m.location).boxed();
        deleted += self.delete_all(rest).await?;
        Ok(deleted)
    }

    /// Puts `savepoint`'s epoch back into the live checkpoint and removes every later epoch,
    /// offsets included; see the [module docs](self).
    ///
    /// # Errors
    /// [`Error::Store`] on I/O failure.
    pub async fn restore_savepoint(&self, savepoint: &Savepoint) -> Result<()> {
        let epoch = savepoint.epoch();
        let dir = self.savepoint_dir(&savepoint.name);
        for part in savepoint.marker.state.iter().flatten() {
            let from = dir
                .clone()
                .join("state")
                .join(part.operator.as_str())
                .join(part.part.as_str());
            let bytes: Bytes = self
                .get_bytes(&from)
                .await?
                .ok_or_else(|| crate::store::vanished(&from))?;
            self.put_state(epoch, &part.operator, &part.part, bytes)
                .await?;
        }
        if let Some(cursors) = &savepoint.cursors {
            self.put_cursors(epoch, cursors).await?;
        }
        let offsets_path = self.epoch_path(OFFSETS, epoch);
        let bytes = serde_json::to_vec_pretty(&savepoint.offsets)
            .map_err(|e| Error::corrupt(&offsets_path, e))?;
        self.store
            .put_opts(&offsets_path, PutPayload::from(bytes), Default::default())
            .await?;
        self.put_commit(&savepoint.marker).await?;
        let deleted = self.rewind(epoch + 1).await?;
        let offsets = self.delete_epochs_from(OFFSETS, epoch + 1).await?;
        tracing::info!(job = %self.job_id, name = %savepoint.name, epoch, deleted = deleted + offsets,
            "savepoint restored into the checkpoint");
        Ok(())
    }
}
