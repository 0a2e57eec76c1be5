//! State snapshots: `state/<epoch>/<operator>/<part>` holds opaque bytes (Arrow IPC in the
//! engine), one object per operator and key group.
//!
//! Parts may be overwritten: a re-run epoch rewrites identical state. A snapshot only counts
//! once its epoch's commit marker says `snapshot == true`.

use bytes::Bytes;
use object_store::path::Path;
use object_store::{GetOptions, PutPayload};

use crate::error::Result;
use crate::store::{CheckpointStore, STATE, check_name};

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

    /// Epochs that have a `state/<epoch>/` folder, ascending (complete or not).
    pub(crate) async fn state_epochs(&self) -> Result<Vec<u64>> {
        self.list_epochs(STATE).await
    }
}

#[cfg(test)]
mod tests {
    use crate::Error;
    use crate::store::tests::temp_store;
    use bytes::Bytes;

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
