//! Cursor records: `cursors/<e>` holds, at each snapshot epoch `e`, where every source
//! partition stands after `e`, as empty ranges at the cursor (`start == end`, with the
//! position in `end_position`). It is written before the epoch's commit marker.
//!
//! With it, an offsets entry need only hold the partitions an epoch reads: a restart takes
//! the cursors of the restored snapshot from its record, not from one entry that names
//! every partition (and every file) the source knows. A file source that has read 20,000
//! files then logs each epoch's few files, and writes the whole set once per snapshot, as
//! Spark's file stream source compacts its log.

use object_store::PutPayload;

use crate::error::{Error, Result};
use crate::offsets::SourceRange;
use crate::store::{CURSORS, CheckpointStore};

impl CheckpointStore {
    /// Writes the cursor record of snapshot epoch `epoch` (overwriting a record a crashed
    /// run left: it is only read through a marker written after it).
    ///
    /// # Errors
    ///
    /// [`Error::Store`] on I/O failure.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: a cancelled put may or may not have written the record.
    pub async fn put_cursors(&self, epoch: u64, cursors: &[SourceRange]) -> Result<()> {
        let path = self.epoch_path(CURSORS, epoch);
        let bytes = serde_json::to_vec(cursors).map_err(|e| Error::corrupt(&path, e))?;
        self.store
            .put_opts(&path, PutPayload::from(bytes), Default::default())
            .await?;
        Ok(())
    }

    /// Reads the cursor record of `epoch`, if one was written.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] on I/O failure, [`Error::Corrupt`] if it is unreadable.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: read only.
    pub async fn cursors(&self, epoch: u64) -> Result<Option<Vec<SourceRange>>> {
        self.get_json(&self.epoch_path(CURSORS, epoch)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_record_round_trips_and_a_missing_one_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path().to_str().unwrap(), "job").unwrap();
        assert_eq!(store.cursors(5).await.unwrap(), None);
        let mut kafka = SourceRange::offsets("topic", 3, 42, 42);
        kafka.end_position = Some("p".into());
        let record = vec![kafka, SourceRange::offsets("a/b.json", 0, 1, 1)];
        store.put_cursors(5, &record).await.unwrap();
        assert_eq!(store.cursors(5).await.unwrap(), Some(record.clone()));
        // A crashed run's record is replaced.
        store.put_cursors(5, &record[..1]).await.unwrap();
        assert_eq!(store.cursors(5).await.unwrap(), Some(record[..1].to_vec()));
    }
}
