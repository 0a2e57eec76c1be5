//! The [`CheckpointStore`] handle: location parsing, layout, metadata and shared helpers.
//!
//! Layout under the store root, one folder per job:
//!
//! ```text
//! <job_id>/metadata.json
//! <job_id>/offsets/<epoch>
//! <job_id>/state/<epoch>/<operator>/<part>
//! <job_id>/commits/<epoch>
//! ```
//!
//! Epochs are zero-padded to 20 digits so that a listing sorts by number.

use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{GetOptions, ObjectStore, PutMode, PutPayload};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, Result};
use crate::layout::StateLayout;
use crate::retry::StoreRetry;

/// Identity of a job, written once at its first start.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct JobMetadata {
    /// Job id; also the job's folder name.
    pub job_id: String,
    /// Fingerprint of the compiled plan.
    pub plan_fingerprint: String,
    /// Number of key groups, fixed for the life of the job.
    pub key_groups: u32,
    /// Creation time, Unix milliseconds.
    pub created_at_ms: i64,
    /// What shapes each stateful operator's state under the plan (see [`StateLayout`]);
    /// absent in checkpoints written before layouts were recorded, until their next run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_layout: Option<StateLayout>,
    /// The epoch a replay with `--reset-state` restarted at with empty state: snapshots of
    /// earlier epochs hold another plan's state and are never restored (their cursors
    /// still say where the input resumes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_reset_at: Option<u64>,
}

impl JobMetadata {
    /// Whether the state of snapshot epoch `epoch` may be restored (it was not written
    /// before a reset of the state).
    pub fn restores_state_of(&self, epoch: u64) -> bool {
        self.state_reset_at.is_none_or(|reset| epoch >= reset)
    }
}

/// Handle on one job's checkpoints. Cheap to clone; `Send + Sync`.
#[derive(Clone, Debug)]
pub struct CheckpointStore {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) job: Path,
    pub(crate) job_id: Arc<str>,
    pub(crate) location: Arc<str>,
}

/// Folder of the offsets log.
pub(crate) const OFFSETS: &str = "offsets";
/// Folder of the commit markers.
pub(crate) const COMMITS: &str = "commits";
/// Folder of the state snapshots.
pub(crate) const STATE: &str = "state";
/// Folder of the cursor records of snapshot epochs.
pub(crate) const CURSORS: &str = "cursors";

/// Resolves a location URL to an object store and the root path inside it.
///
/// `file://` URLs name a local directory, created if missing. `s3://bucket/prefix` uses
/// `AmazonS3Builder::from_env()` (`AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, credentials), with
/// requests retried as `retry` says.
///
/// # Errors
///
/// [`Error::InvalidLocation`] if the directory cannot be created, [`Error::Unsupported`] for
/// other schemes, [`Error::Store`] if the store cannot be built.
pub fn object_store_for(url: &Url, retry: &StoreRetry) -> Result<(Arc<dyn ObjectStore>, Path)> {
    let invalid = |reason: String| Error::InvalidLocation {
        location: url.to_string(),
        reason,
    };
    match url.scheme() {
        "file" => {
            let dir = url
                .to_file_path()
                .map_err(|()| invalid("not a local file path".into()))?;
            std::fs::create_dir_all(&dir)
                .map_err(|e| invalid(format!("cannot create {}: {e}", dir.display())))?;
            let fs = LocalFileSystem::new_with_prefix(&dir)?.with_automatic_cleanup(true);
            Ok((Arc::new(fs), Path::default()))
        }
        "s3" | "s3a" => s3_store(url, retry),
        other => Err(Error::Unsupported {
            scheme: other.to_string(),
            hint: "use a local directory, a file:// URL or s3://bucket/prefix",
        }),
    }
}

fn s3_store(url: &Url, retry: &StoreRetry) -> Result<(Arc<dyn ObjectStore>, Path)> {
    let store = object_store::aws::AmazonS3Builder::from_env()
        .with_url(url.as_str())
        .with_retry(retry.retry_config())
        .build()?;
    let root = Path::from_url_path(url.path()).map_err(object_store::Error::from)?;
    Ok((Arc::new(store), root))
}

/// Parses a location: a URL if it contains `://`, else a local directory path.
fn location_url(location: &str) -> Result<Url> {
    let invalid = |reason: String| Error::InvalidLocation {
        location: location.to_string(),
        reason,
    };
    if location.trim().is_empty() {
        return Err(invalid("empty".into()));
    }
    if location.contains("://") {
        return Url::parse(location).map_err(|e| invalid(e.to_string()));
    }
    let abs = std::path::absolute(location).map_err(|e| invalid(e.to_string()))?;
    Url::from_directory_path(&abs).map_err(|()| invalid("not an absolute path".into()))
}

/// Checks that `name` is a safe single path segment: `[A-Za-z0-9._=-]+`, not starting with `.`
/// (job ids, operator state names, savepoint names).
///
/// # Errors
/// [`Error::InvalidArgument`] naming `what` otherwise.
pub fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'=' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "{what} {name:?} must be non-empty, use only [A-Za-z0-9._=-] and not start with '.'"
        )))
    }
}

/// Object name of an epoch: 20 digits, so lexical order is numeric order.
fn epoch_name(epoch: u64) -> String {
    format!("{epoch:020}")
}

impl CheckpointStore {
    /// Opens the checkpoints of `job_id` at `location`: a local directory (created if
    /// missing), a `file://` URL, or `s3://bucket/prefix` (with the `s3` feature).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a bad job id; see [`object_store_for`] for the rest.
    pub fn open(location: &str, job_id: &str) -> Result<Self> {
        Self::open_with(location, job_id, &StoreRetry::default())
    }

    /// As [`CheckpointStore::open`], with requests to an object store retried as `retry`
    /// says.
    ///
    /// # Errors
    ///
    /// As [`CheckpointStore::open`].
    pub fn open_with(location: &str, job_id: &str, retry: &StoreRetry) -> Result<Self> {
        let url = location_url(location)?;
        let (store, root) = object_store_for(&url, retry)?;
        let mut this = Self::with_store(store, root, job_id)?;
        this.location = location.into();
        Ok(this)
    }

    /// Wraps an existing object store; the job's folder is `root/<job_id>`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a bad job id.
    pub fn with_store(store: Arc<dyn ObjectStore>, root: Path, job_id: &str) -> Result<Self> {
        check_name("job id", job_id)?;
        let location = format!("{store}/{root}").into();
        Ok(Self {
            job: root.join(job_id),
            store,
            job_id: job_id.into(),
            location,
        })
    }

    /// The job id.
    pub fn job_id(&self) -> &str {
        &self.job_id
    }

    /// Writes the job metadata if absent and returns what is stored; the caller compares the
    /// plan fingerprint and key groups against its own.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `meta.job_id` differs from this store's job,
    /// [`Error::Store`] on I/O failure, [`Error::Corrupt`] if the stored file is unreadable.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the write is atomic, so the file is either complete or absent.
    pub async fn init_metadata(&self, meta: &JobMetadata) -> Result<JobMetadata> {
        if meta.job_id != *self.job_id {
            return Err(Error::InvalidArgument(format!(
                "metadata for job {:?} given to the store of job {:?}",
                meta.job_id, self.job_id
            )));
        }
        let path = self.job_path("metadata.json");
        if self.put_json_if_absent(&path, meta).await? {
            tracing::info!(job = %self.job_id, fingerprint = %meta.plan_fingerprint, "job metadata written");
            return Ok(meta.clone());
        }
        self.get_json(&path).await?.ok_or_else(|| vanished(&path))
    }

    /// Replaces the job metadata: after a replay that changed the plan (its fingerprint
    /// and state layout), or to record the layout of a checkpoint written without one.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `meta.job_id` differs from this store's job,
    /// [`Error::Store`] on I/O failure.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the write is atomic, so the old or the new file is there.
    pub async fn replace_metadata(&self, meta: &JobMetadata) -> Result<()> {
        if meta.job_id != *self.job_id {
            return Err(Error::InvalidArgument(format!(
                "metadata for job {:?} given to the store of job {:?}",
                meta.job_id, self.job_id
            )));
        }
        let path = self.job_path("metadata.json");
        let bytes = serde_json::to_vec_pretty(meta).map_err(|e| Error::corrupt(&path, e))?;
        self.store
            .put_opts(&path, PutPayload::from(bytes), Default::default())
            .await?;
        tracing::info!(job = %self.job_id, fingerprint = %meta.plan_fingerprint, "job metadata replaced");
        Ok(())
    }

    /// Reads the job metadata, if the job has started before.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] on I/O failure, [`Error::Corrupt`] if the file is unreadable.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: read only.
    pub async fn metadata(&self) -> Result<Option<JobMetadata>> {
        self.get_json(&self.job_path("metadata.json")).await
    }

    /// `<job>/<name>`.
    pub(crate) fn job_path(&self, name: &str) -> Path {
        self.job.clone().join(name)
    }

    /// `<job>/<dir>/<epoch>`.
    pub(crate) fn epoch_path(&self, dir: &str, epoch: u64) -> Path {
        self.job_path(dir).join(epoch_name(epoch))
    }

    /// Atomically writes `value` as JSON unless `path` exists; `true` if written.
    pub(crate) async fn put_json_if_absent<T: Serialize>(
        &self,
        path: &Path,
        value: &T,
    ) -> Result<bool> {
        let bytes = serde_json::to_vec_pretty(value).map_err(|e| Error::corrupt(path, e))?;
        let payload = PutPayload::from(bytes);
        // object_store does not retry a conditional put whose connection was cut mid-request
        // (it is not idempotent). Retrying here is safe: if the cut attempt did write, the
        // retry finds the object and the caller compares it with its own.
        let retry = StoreRetry::default();
        let began = std::time::Instant::now();
        let mut wait = retry.initial_backoff;
        loop {
            match self
                .store
                .put_opts(path, payload.clone(), PutMode::Create.into())
                .await
            {
                Ok(_) => return Ok(true),
                Err(object_store::Error::AlreadyExists { .. }) => return Ok(false),
                Err(e @ object_store::Error::Generic { .. })
                    if began.elapsed() + wait < retry.retry_timeout =>
                {
                    tracing::info!(%path, error = %e, ?wait, "conditional put failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(retry.max_backoff);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Reads the object at `path`, `None` if absent.
    pub(crate) async fn get_bytes(&self, path: &Path) -> Result<Option<bytes::Bytes>> {
        match self.store.get_opts(path, GetOptions::default()).await {
            Ok(got) => Ok(Some(got.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads and parses the JSON object at `path`, `None` if absent.
    pub(crate) async fn get_json<T: DeserializeOwned>(&self, path: &Path) -> Result<Option<T>> {
        match self.get_bytes(path).await? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::corrupt(path, e)),
            None => Ok(None),
        }
    }

    /// Epochs present directly under `<job>/<dir>/`, as objects or folders, ascending.
    /// Names that are not 20-digit epochs are skipped with a warning.
    pub(crate) async fn list_epochs(&self, dir: &str) -> Result<Vec<u64>> {
        let prefix = self.job_path(dir);
        let listing = self.store.list_with_delimiter(Some(&prefix)).await?;
        let paths = listing.objects.iter().map(|o| &o.location);
        let mut epochs = Vec::new();
        for path in paths.chain(&listing.common_prefixes) {
            let name = path.filename().unwrap_or_default();
            match name.parse::<u64>() {
                Ok(epoch) if name.len() == 20 => epochs.push(epoch),
                _ => tracing::warn!(%path, "ignoring unexpected object in checkpoint folder"),
            }
        }
        epochs.sort_unstable();
        epochs.dedup();
        Ok(epochs)
    }
}

/// A put-if-absent reported the object present, but it could not be read back.
pub(crate) fn vanished(path: &Path) -> Error {
    Error::Conflict {
        path: path.to_string(),
        detail: "object existed on put-if-absent but vanished before it could be read".into(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A store on a fresh temporary directory; keep the guard alive.
    pub(crate) fn temp_store() -> (tempfile::TempDir, CheckpointStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::open(dir.path().to_str().unwrap(), "job-1").unwrap();
        (dir, store)
    }

    pub(crate) fn meta(fingerprint: &str) -> JobMetadata {
        JobMetadata {
            job_id: "job-1".into(),
            plan_fingerprint: fingerprint.into(),
            key_groups: 128,
            created_at_ms: 1_700_000_000_000,
            state_layout: None,
            state_reset_at: None,
        }
    }

    #[tokio::test]
    async fn metadata_is_put_if_absent() {
        let (_dir, store) = temp_store();
        assert_eq!(store.metadata().await.unwrap(), None);
        assert_eq!(store.init_metadata(&meta("a")).await.unwrap(), meta("a"));
        // A second start with another plan gets the stored metadata back.
        assert_eq!(store.init_metadata(&meta("b")).await.unwrap(), meta("a"));
        assert_eq!(store.metadata().await.unwrap(), Some(meta("a")));
        // A replay with a changed plan replaces it, layout included.
        let replaced = JobMetadata {
            state_layout: Some(StateLayout::default().with("w", "keys", "k Int64")),
            state_reset_at: Some(3),
            ..meta("c")
        };
        store.replace_metadata(&replaced).await.unwrap();
        assert_eq!(store.metadata().await.unwrap(), Some(replaced.clone()));
        assert!(!replaced.restores_state_of(2));
        assert!(replaced.restores_state_of(3));
        assert!(meta("a").restores_state_of(0));
        let mut other = meta("a");
        other.job_id = "job-2".into();
        assert!(matches!(
            store.init_metadata(&other).await,
            Err(Error::InvalidArgument(_))
        ));
    }

    #[tokio::test]
    async fn locations() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        let url = Url::from_directory_path(&nested).unwrap();
        let store = CheckpointStore::open(url.as_str(), "j").unwrap();
        store
            .init_metadata(&JobMetadata {
                job_id: "j".into(),
                ..meta("x")
            })
            .await
            .unwrap();
        assert!(nested.join("j/metadata.json").is_file());

        let err = CheckpointStore::open("gs://bucket/x", "j").unwrap_err();
        assert!(matches!(err, Error::Unsupported { .. }), "{err}");
        assert!(matches!(
            CheckpointStore::open(dir.path().to_str().unwrap(), "../evil"),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            CheckpointStore::open(" ", "j"),
            Err(Error::InvalidLocation { .. })
        ));
    }

    #[tokio::test]
    async fn corrupt_json_names_the_path() {
        let (dir, store) = temp_store();
        std::fs::create_dir_all(dir.path().join("job-1")).unwrap();
        std::fs::write(dir.path().join("job-1/metadata.json"), b"{not json").unwrap();
        let err = store.metadata().await.unwrap_err();
        assert!(err.to_string().contains("job-1/metadata.json"), "{err}");
        assert!(!err.is_retryable());
    }

    #[test]
    fn handle_is_send_sync_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<CheckpointStore>();
    }
}
