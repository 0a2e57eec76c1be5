//! [`DeltaSink`]: opens (or creates) a table, writes files on any worker, commits per epoch.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use deltalake::kernel::{StructField, StructType};
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableBuilder, ensure_table_uri};
use sluice_checkpoints::StoreRetry;
use tracing::{info, warn};
use url::Url;

use super::committer::{Committer, ReplaceWhere};
use super::error::{DeltaError, Result};
use super::schema;
use super::widening;
use super::writer::{FileWriter, OpenFiles};
use super::{CommitOutcome, DataFile};

/// An append sink into one Delta table with exactly-once epochs.
///
/// Every worker may call [`write_files`](Self::write_files); the resulting [`DataFile`]s go to
/// one committer, which calls [`commit_epoch`](Self::commit_epoch) once per epoch. Cloning is
/// cheap and clones share the loaded table state.
#[derive(Clone)]
pub struct DeltaSink {
    inner: Arc<Inner>,
}

struct Inner {
    location: String,
    app_id: String,
    url: Url,
    schema: SchemaRef,
    partition_columns: Vec<String>,
    writer: FileWriter,
    committer: Committer,
}

impl std::fmt::Debug for DeltaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeltaSink")
            .field("location", &self.inner.location)
            .field("app_id", &self.inner.app_id)
            .field("partition_columns", &self.inner.partition_columns)
            .finish_non_exhaustive()
    }
}

impl DeltaSink {
    /// Opens the Delta table at `location`, creating it with `schema` and `partition_columns`
    /// if it does not exist.
    ///
    /// `location` is a local directory (created as needed) or a URL (`file://`, and other
    /// schemes whose deltalake object store handlers are registered). `app_id` names the
    /// writer in the table's txn actions (`<job-id>/<sink-id>`).
    ///
    /// # Errors
    ///
    /// [`DeltaError::InvalidLocation`] if the location is unusable;
    /// [`DeltaError::SchemaMismatch`] if a partition column is not in `schema`, `schema` has a
    /// type Delta cannot store, or an existing table has other column names or types or other
    /// partition columns; [`DeltaError::Storage`] if the table cannot be read or created.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the table is created by one atomic log write, and opening again finds it.
    pub async fn open(
        location: &str,
        app_id: &str,
        schema: SchemaRef,
        partition_columns: Vec<String>,
    ) -> Result<Self> {
        Self::open_with(
            location,
            app_id,
            schema,
            partition_columns,
            &SinkOptions::default(),
        )
        .await
    }

    /// As [`DeltaSink::open`], with [`SinkOptions`]:
    /// - `merge_schema`: an existing table evolves instead of refusing a different schema,
    ///   as Delta's `mergeSchema` does: columns of `schema` the table lacks are added to it
    ///   (nullable, in one metadata commit), and nullable table columns that `schema` lacks
    ///   stay, read as null in the new files. A table column whose type the sink widens as
    ///   Delta allows (`int` to `long`, `float` to `double`, a wider decimal, `date` to
    ///   `timestamp_ntz`, ...) takes the wider type: the table is rewritten once, in one
    ///   commit (see [`super::widening`]). Other type changes and partitioning must match.
    /// - `replace_where`: epoch 0's commit also removes the files whose partition values
    ///   match the predicate (see [`SinkOptions::replace_where`]).
    ///
    /// # Errors
    /// As [`DeltaSink::open`]; a non-nullable table column missing from `schema`; a
    /// `replace_where` that is not a predicate over the partition columns.
    pub async fn open_with(
        location: &str,
        app_id: &str,
        schema: SchemaRef,
        partition_columns: Vec<String>,
        options: &SinkOptions,
    ) -> Result<Self> {
        register_object_stores();
        let schema = schema::in_delta_units(&schema);
        schema::check_partition_columns(location, &schema, &partition_columns)?;
        let delta_schema = schema::to_delta(location, &schema)?;
        let url = resolve_location(location)?;

        let mut table =
            DeltaTable::try_from_url_with_storage_options(url.clone(), storage_options())
                .await
                .map_err(|e| DeltaError::delta(location, "opening the table", e))?;
        if table.version().is_none() {
            let created = table
                .create()
                .with_columns(delta_schema.fields().cloned())
                .with_partition_columns(partition_columns.clone())
                // A log checkpoint every 10 commits, as Spark does (deltalake's default is
                // 100), so readers of long-running streaming tables replay a short log.
                .with_configuration_property(
                    deltalake::TableProperty::CheckpointInterval,
                    Some(CHECKPOINT_INTERVAL.to_string()),
                )
                .with_configuration(
                    options
                        .table_properties
                        .iter()
                        .map(|(k, v)| (k.clone(), Some(v.clone()))),
                )
                .with_save_mode(SaveMode::Ignore)
                .await;
            table = match created {
                Ok(table) => {
                    info!(table = %location, partition_columns = ?partition_columns,
                        "created Delta table");
                    table
                }
                // Another process may have created it first: use theirs if it loads.
                Err(err) => match load(&url).await {
                    Ok(table) => table,
                    Err(_) => return Err(DeltaError::delta(location, "creating the table", err)),
                },
            };
        }

        let merge_schema = options.merge_schema;
        if merge_schema {
            table = evolve(location, table, &delta_schema).await?;
            table = match widening::widen(location, table.clone(), &delta_schema).await {
                Ok(table) => table,
                // Another writer committed meanwhile (perhaps the same widening): look again.
                Err(e) if e.is_retryable() => {
                    warn!(table = %location, error = %e,
                        "merge-schema: widening column types failed; reloading the table and retrying once");
                    let table = load(&url)
                        .await
                        .map_err(|e| DeltaError::delta(location, "opening the table", e))?;
                    widening::widen(location, table, &delta_schema).await?
                }
                Err(e) => return Err(e),
            };
        }
        let replace = match &options.replace_where {
            Some(sql) => Some(ReplaceWhere::compile(location, sql, &partition_columns)?),
            None => None,
        };
        let state = table
            .snapshot()
            .map_err(|e| DeltaError::delta(location, "opening the table", e))?;
        for (key, value) in &options.table_properties {
            let have = state.metadata().configuration().get(key);
            if have != Some(value) {
                warn!(table = %location, property = %key, wanted = %value, table_has = ?have,
                    "table-properties apply to tables the job creates; this table exists and keeps its own");
            }
        }
        // Columns the table holds in a wider type (an `int` column written to a `long`
        // one) are written in the table's type.
        let schema = schema::widened_to_table(location, &schema, &state.schema())?;
        let delta_schema = schema::to_delta(location, &schema)?;
        let delta_schema = if merge_schema {
            schema::with_table_only_columns(location, &delta_schema, &state.schema())?
        } else {
            delta_schema
        };
        schema::check_compatible(
            location,
            &delta_schema,
            &partition_columns,
            &state.schema(),
            state.metadata().partition_columns(),
        )?;
        let writer = FileWriter::new(
            location.to_owned(),
            table.object_store(),
            schema.clone(),
            partition_columns.clone(),
            state.metadata().configuration(),
        );
        let committer = Committer::new(
            location.to_owned(),
            app_id.to_owned(),
            partition_columns.clone(),
            table,
            replace,
        );
        Ok(Self {
            inner: Arc::new(Inner {
                location: location.to_owned(),
                app_id: app_id.to_owned(),
                url,
                schema,
                partition_columns,
                writer,
                committer,
            }),
        })
    }

    /// The last epoch committed under this sink's app id (the table's txn version), or
    /// `None` if none was.
    ///
    /// # Errors
    ///
    /// [`DeltaError::Storage`] if the table log cannot be read.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only reads.
    pub async fn committed_epoch(&self) -> Result<Option<u64>> {
        self.inner.committer.committed_epoch().await
    }

    /// Writes `batches` as Parquet data files under the table directory and describes them,
    /// without committing anything.
    ///
    /// Batches must have the sink's schema (field metadata and nullability may differ); empty
    /// batches are skipped. Files go to hive-style `col=value/` directories without the
    /// partition columns, get unique UUID names, and roll over at about 128 MiB, so one call
    /// normally yields one file per partition value.
    ///
    /// # Errors
    ///
    /// [`DeltaError::SchemaMismatch`] if a batch does not have the sink's schema (or has nulls
    /// in a non-nullable column); [`DeltaError::Storage`] if a file cannot be written.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropping the future abandons partly written files. They are never
    /// part of the table and a later `VACUUM` removes them.
    pub async fn write_files(&self, batches: &[RecordBatch]) -> Result<Vec<DataFile>> {
        self.inner.writer.write(batches).await
    }

    /// Opens data files to write batches into one at a time, as
    /// [`write_files`](Self::write_files) does for a slice of them; the rows are encoded as
    /// they come and only the open files' buffers are held.
    pub(crate) fn open_files(&self) -> OpenFiles {
        self.inner.writer.open()
    }

    /// Commits all `files` of `epoch` in one Delta transaction carrying
    /// `txn(app_id, version = epoch)`.
    ///
    /// If the table's txn version for the app id is already `>= epoch`, nothing is written
    /// and [`CommitOutcome::AlreadyCommitted`] is returned (the caller is replaying). An
    /// epoch without files still commits its txn, so a replay skips it too.
    ///
    /// # Errors
    ///
    /// [`DeltaError::Internal`] if a file has another partitioning or is listed twice, or
    /// `epoch` exceeds `i64::MAX`; [`DeltaError::Storage`] if the commit fails (see
    /// [`DeltaError::is_retryable`]; retrying is safe).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the commit is one atomic log write, so a dropped call has committed the
    /// epoch entirely or not at all, and calling again decides by the txn version.
    pub async fn commit_epoch(&self, epoch: u64, files: Vec<DataFile>) -> Result<CommitOutcome> {
        self.inner.committer.commit(epoch, files).await
    }

    /// The location as given to [`open`](Self::open).
    pub fn location(&self) -> &str {
        &self.inner.location
    }

    /// The app id of the txn actions this sink commits.
    pub fn app_id(&self) -> &str {
        &self.inner.app_id
    }

    /// The table root as a URL.
    pub fn table_url(&self) -> &Url {
        &self.inner.url
    }

    /// The sink's Arrow schema, partition columns included.
    pub fn schema(&self) -> &SchemaRef {
        &self.inner.schema
    }

    /// The partition columns, in table order.
    pub fn partition_columns(&self) -> &[String] {
        &self.inner.partition_columns
    }
}

/// Commits between Delta log checkpoints of the tables sluice creates.
pub const CHECKPOINT_INTERVAL: u64 = 10;

/// The table URL of `location`, creating local directories (plain paths and `file://` URLs).
fn resolve_location(location: &str) -> Result<Url> {
    let invalid = |reason: String| DeltaError::InvalidLocation {
        location: location.to_owned(),
        reason,
    };
    if location.trim().is_empty() {
        return Err(invalid("the location is empty".to_owned()));
    }
    if let Ok(url) = Url::parse(location)
        && url.scheme() == "file"
    {
        let path = url
            .to_file_path()
            .map_err(|()| invalid("not a local file path".to_owned()))?;
        std::fs::create_dir_all(&path)
            .map_err(|e| invalid(format!("cannot create {}: {e}", path.display())))?;
    }
    ensure_table_uri(location).map_err(|e| DeltaError::delta(location, "resolving the location", e))
}

/// How a sink treats an existing table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SinkOptions {
    /// Add new columns to the table (Delta's `mergeSchema`).
    pub merge_schema: bool,
    /// A SQL predicate over the partition columns (their values as text, as in Hive
    /// paths), e.g. `process_date = '2024-01-02'`: the job's first epoch replaces the
    /// table's files in matching partitions, in the same commit as its own files (Delta's
    /// `replaceWhere`); later epochs append.
    pub replace_where: Option<String>,
    /// Table properties (`delta.enableChangeDataFeed`, `delta.checkpointInterval`, ...)
    /// of a table the sink creates; an existing table keeps its own.
    pub table_properties: std::collections::BTreeMap<String, String>,
    /// Compact small files in the background as they accumulate (append sinks only; see
    /// [`AutoCompact`](super::AutoCompact)).
    pub auto_compact: Option<super::AutoCompact>,
}

/// Adds the columns of `wanted` that `table` lacks (nullable) in one commit.
async fn evolve(location: &str, table: DeltaTable, wanted: &StructType) -> Result<DeltaTable> {
    let state = table
        .snapshot()
        .map_err(|e| DeltaError::delta(location, "opening the table", e))?;
    let have = state.schema();
    let new: Vec<StructField> = wanted
        .fields()
        .filter(|f| have.field(f.name()).is_none())
        .map(|f| StructField::new(f.name().clone(), f.data_type().clone(), true))
        .collect();
    if new.is_empty() {
        return Ok(table);
    }
    let names: Vec<String> = new.iter().map(|f| f.name().clone()).collect();
    let table = table
        .add_columns()
        .with_fields(new)
        .await
        .map_err(|e| DeltaError::delta(location, "adding columns (merge-schema)", e))?;
    info!(table = %location, columns = ?names, "merge-schema: added columns");
    Ok(table)
}

/// Makes `s3://` locations known to deltalake (once per process). S3 settings come from
/// the `AWS_*` environment (`AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, credentials); commits use
/// S3 conditional put, so no lock service is needed.
pub fn register_object_stores() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| deltalake::aws::register_handlers(None));
}

/// How the Delta tables of this process retry object-store requests.
static RETRY: std::sync::RwLock<Option<StoreRetry>> = std::sync::RwLock::new(None);

/// Sets how requests to the object store of every Delta table opened from now on in this
/// process are retried (a job sets it once, at start, from its `object-store` settings);
/// [`StoreRetry::default`] until then.
pub fn set_store_retry(retry: &StoreRetry) {
    *RETRY.write().unwrap_or_else(|e| e.into_inner()) = Some(retry.clone());
}

/// The storage options every table is opened with: the retry settings.
pub(crate) fn storage_options() -> HashMap<String, String> {
    RETRY
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_default()
        .storage_options()
}

/// Loads an existing table.
async fn load(url: &Url) -> deltalake::DeltaResult<DeltaTable> {
    DeltaTableBuilder::from_url(url.clone())?
        .with_storage_options(storage_options())
        .load()
        .await
}
