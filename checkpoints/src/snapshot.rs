//! State snapshots: `state/<epoch>/<operator>/<part>` holds opaque bytes (Arrow IPC in the
//! engine); each part holds a range of the operator's key groups.
//!
//! A snapshot only counts once its epoch's commit marker says `snapshot == true`, and then
//! only the parts the marker lists ([`StatePart`]): they cover every key group exactly once
//! ([`check_tiling`]). A crashed run with another worker count can leave other parts of the
//! same epoch behind; they are never read, and retention deletes them.

use std::collections::BTreeMap;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{GetOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::{CheckpointStore, STATE, check_name};

/// One written object of an operator's state snapshot: key groups
/// `first_key_group..end_key_group` of `operator`, at `state/<epoch>/<operator>/<part>`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StatePart {
    /// The operator's (stable) name.
    pub operator: String,
    /// The object's name in the operator's folder.
    pub part: String,
    /// The first key group the part holds.
    pub first_key_group: u32,
    /// One past the last key group the part holds.
    pub end_key_group: u32,
    /// The object's size.
    pub bytes: u64,
    /// State entries in the part (a window's open `(window, key)` pairs); 0 when unknown
    /// (parts listed by older markers).
    #[serde(default)]
    pub keys: u64,
}

impl StatePart {
    /// Whether the part holds any of the key groups `groups`.
    pub fn overlaps(&self, groups: &std::ops::Range<u32>) -> bool {
        self.first_key_group < groups.end && groups.start < self.end_key_group
    }
}

/// State size of one operator in a snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateSize {
    /// Parts listed.
    pub parts: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Their state entries.
    pub keys: u64,
}

/// The parts and bytes of each operator in `parts`.
pub fn state_sizes(parts: &[StatePart]) -> BTreeMap<String, StateSize> {
    let mut sizes: BTreeMap<String, StateSize> = BTreeMap::new();
    for part in parts {
        let size = sizes.entry(part.operator.clone()).or_default();
        size.parts += 1;
        size.bytes += part.bytes;
        size.keys += part.keys;
    }
    sizes
}

/// Checks that, for every operator named in `parts`, its parts cover the key groups
/// `0..key_groups` exactly once.
///
/// # Errors
///
/// [`Error::IncompleteSnapshot`] naming the first key group that is missing or held twice.
pub fn check_tiling(epoch: u64, parts: &[StatePart], key_groups: u32) -> Result<()> {
    let mut by_operator: BTreeMap<&str, Vec<&StatePart>> = BTreeMap::new();
    for part in parts {
        by_operator.entry(&part.operator).or_default().push(part);
    }
    for (operator, mut parts) in by_operator {
        parts.sort_by_key(|p| (p.first_key_group, p.end_key_group));
        let incomplete = |detail: String| Error::IncompleteSnapshot {
            epoch,
            operator: operator.to_string(),
            detail,
        };
        let mut next = 0u32;
        for part in parts {
            if part.first_key_group > next {
                return Err(incomplete(format!(
                    "no part holds key groups {next}..{}",
                    part.first_key_group
                )));
            }
            if part.first_key_group < next {
                return Err(incomplete(format!(
                    "key group {} is in two parts (the second is {})",
                    part.first_key_group, part.part
                )));
            }
            next = part.end_key_group;
        }
        if next != key_groups {
            return Err(incomplete(format!(
                "the parts end at key group {next}, the job has {key_groups}"
            )));
        }
    }
    Ok(())
}

impl CheckpointStore {
    fn state_dir(&self, epoch: u64, operator: &str) -> Result<Path> {
        check_name("operator", operator)?;
        Ok(self.epoch_path(STATE, epoch).join(operator))
    }

    /// Writes one state part, replacing any previous object atomically.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for an operator or part name
    /// outside `[A-Za-z0-9._=-]`, [`Error::Store`](crate::Error::Store) on I/O failure.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the put is atomic; after a drop the part holds the old or new bytes.
    pub async fn put_state(
        &self,
        epoch: u64,
        operator: &str,
        part: &str,
        bytes: Bytes,
    ) -> Result<()> {
        check_name("state part", part)?;
        let path = self.state_dir(epoch, operator)?.join(part);
        let len = bytes.len();
        self.store
            .put_opts(&path, PutPayload::from(bytes), Default::default())
            .await?;
        tracing::trace!(job = %self.job_id, epoch, operator, part, len, "state part written");
        Ok(())
    }

    /// The part names of one operator's state at `epoch`, sorted; empty if there are none.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a bad operator name,
    /// [`Error::Store`](crate::Error::Store) on I/O failure.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: read only.
    pub async fn state_parts(&self, epoch: u64, operator: &str) -> Result<Vec<String>> {
        let dir = self.state_dir(epoch, operator)?;
        let listing = self.store.list_with_delimiter(Some(&dir)).await?;
        let mut parts: Vec<String> = listing
            .objects
            .iter()
            .filter_map(|o| o.location.filename().map(str::to_string))
            .collect();
        parts.sort_unstable();
        Ok(parts)
    }

    /// Reads one state part.
    ///
    /// # Errors
    ///
    /// [`Error::Store`](crate::Error::Store) with `object_store::Error::NotFound` if the part
    /// does not exist (not retryable), or on I/O failure;
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for bad names.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: read only.
    pub async fn get_state(&self, epoch: u64, operator: &str, part: &str) -> Result<Bytes> {
        check_name("state part", part)?;
        let path = self.state_dir(epoch, operator)?.join(part);
        let got = self.store.get_opts(&path, GetOptions::default()).await?;
        Ok(got.bytes().await?)
    }

    /// Reads the parts that `marker_parts` lists for `operator` and that hold any of the key
    /// groups `groups`, in key-group order, each with its description.
    ///
    /// # Errors
    ///
    /// [`Error::Store`](crate::Error::Store) on I/O failure, including a listed part that is
    /// missing (the checkpoint was damaged).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: read only.
    pub async fn get_listed_state(
        &self,
        epoch: u64,
        marker_parts: &[StatePart],
        operator: &str,
        groups: std::ops::Range<u32>,
    ) -> Result<Vec<(StatePart, Bytes)>> {
        let mut wanted: Vec<&StatePart> = marker_parts
            .iter()
            .filter(|p| p.operator == operator && p.overlaps(&groups))
            .collect();
        wanted.sort_by_key(|p| p.first_key_group);
        let mut out = Vec::with_capacity(wanted.len());
        for part in wanted {
            let bytes = self.get_state(epoch, operator, &part.part).await?;
            out.push((part.clone(), bytes));
        }
        Ok(out)
    }

    /// Epochs that have a `state/<epoch>/` folder, ascending (complete or not).
    pub(crate) async fn state_epochs(&self) -> Result<Vec<u64>> {
        self.list_epochs(STATE).await
    }
}

#[cfg(test)]
mod tests {
    use super::{StatePart, check_tiling};
    use crate::Error;
    use crate::store::tests::temp_store;
    use bytes::Bytes;

    fn part(operator: &str, first: u32, end: u32) -> StatePart {
        StatePart {
            operator: operator.into(),
            part: format!("kg-{first}-{end}"),
            first_key_group: first,
            end_key_group: end,
            bytes: 0,
            keys: 0,
        }
    }

    #[test]
    fn parts_must_hold_every_key_group_once() {
        let two = [part("w", 64, 128), part("w", 0, 64)];
        check_tiling(3, &two, 128).unwrap();
        // Two runs' parts mixed: 2 workers' and 3 workers' ranges.
        let mixed = [two.to_vec(), vec![part("w", 0, 43), part("w", 43, 86)]].concat();
        let err = check_tiling(3, &mixed, 128).unwrap_err().to_string();
        assert!(err.contains("key group 0 is in two parts"), "{err}");
        let gap = [part("w", 0, 43), part("w", 86, 128)];
        let err = check_tiling(3, &gap, 128).unwrap_err().to_string();
        assert!(err.contains("no part holds key groups 43..86"), "{err}");
        let short = [part("w", 0, 43)];
        let err = check_tiling(3, &short, 128).unwrap_err().to_string();
        assert!(
            err.contains("operator \"w\" at epoch 3: the parts end at key group 43"),
            "{err}"
        );
        // Each operator is checked on its own.
        let two_ops = [part("w", 0, 128), part("j", 0, 100), part("j", 100, 128)];
        check_tiling(3, &two_ops, 128).unwrap();
        assert!(part("w", 10, 20).overlaps(&(19..30)));
        assert!(!part("w", 10, 20).overlaps(&(20..30)));
    }

    #[tokio::test]
    async fn state_round_trip() {
        let (_dir, store) = temp_store();
        assert!(store.state_parts(7, "window").await.unwrap().is_empty());
        for kg in [10, 2, 1] {
            let part = format!("kg-{kg:05}");
            let bytes = Bytes::from(format!("state of {kg}"));
            store.put_state(7, "window", &part, bytes).await.unwrap();
        }
        store
            .put_state(7, "dedup", "kg-00001", Bytes::from_static(b"d"))
            .await
            .unwrap();
        assert_eq!(
            store.state_parts(7, "window").await.unwrap(),
            ["kg-00001", "kg-00002", "kg-00010"]
        );
        assert_eq!(
            &store.get_state(7, "window", "kg-00010").await.unwrap()[..],
            b"state of 10"
        );
        // Overwrite is allowed (a re-run epoch).
        store
            .put_state(7, "window", "kg-00010", Bytes::from_static(b"again"))
            .await
            .unwrap();
        assert_eq!(
            &store.get_state(7, "window", "kg-00010").await.unwrap()[..],
            b"again"
        );
        assert_eq!(store.state_epochs().await.unwrap(), vec![7]);

        let missing = store.get_state(8, "window", "kg-00001").await.unwrap_err();
        assert!(matches!(
            missing,
            Error::Store(object_store::Error::NotFound { .. })
        ));
        assert!(!missing.is_retryable());
        let bad = store
            .put_state(7, "a/b", "p", Bytes::new())
            .await
            .unwrap_err();
        assert!(matches!(bad, Error::InvalidArgument(_)));
    }
}
