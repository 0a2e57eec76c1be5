//! A Delta table as the versioned table side of a stream–table join.
//!
//! [`DeltaTableFeed::latest_version`] lists the log for commits newer than the last version
//! it saw. [`DeltaTableFeed::changes`] turns a version range into the rows its files add and
//! remove: from nothing, every file of the later snapshot is inserted; from a version, the
//! `add` and `remove` actions of the commits in between are netted per file (a file added
//! and removed in the range is neither). Every action counts, including `dataChange =
//! false` ones: a compaction removes files and adds one holding the same rows, and reading
//! both keeps the join's arrangement equal to the table (a later delete of the compacted
//! file then retracts rows that were inserted).
//!
//! Rows are the table's columns without the coordinate columns a sluice-written table
//! carries (`source`, `partition`, `offset`, and their `upstream_*` forms). Removed files
//! are read back, so the table must keep them (vacuum retention) for as long as the join
//! may still need a version range that removes them.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use deltalake::{DeltaTable, DeltaTableError};
use futures::{StreamExt as _, TryStreamExt as _};
use serde::Deserialize;
use sluice_engine::runtime::ConnectorFailure;
use sluice_engine::table_feed::{TableChanges, TableFeed};
use tokio::runtime::Handle;

use sluice_engine::table_feed::COORDINATES;

use super::error::DeltaError;
use super::maintenance::open_table;
use super::source::DeltaSourceConfig;
use super::table_file::{PartitionValues, TableColumns, TableFileError, percent_decode};

/// File listings kept for version ranges, so workers of one process read the log once.
const CACHED_LISTINGS: usize = 4;

/// Data files (or log commits) read at once.
const READ_CONCURRENCY: usize = 8;

/// A Delta table read as a sequence of versions; see the [module docs](self).
pub struct DeltaTableFeed {
    path: String,
    /// Opened at construction; cloned to load older snapshots.
    table: DeltaTable,
    runtime: Handle,
    columns: TableColumns,
    /// The newest version seen, where listing the log for newer commits starts.
    latest: AtomicI64,
    listings: Mutex<Listings>,
}

impl std::fmt::Debug for DeltaTableFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeltaTableFeed")
            .field("path", &self.path)
            .field("latest", &self.latest)
            .finish_non_exhaustive()
    }
}

/// A data file and its partition values.
#[derive(Clone, Debug, PartialEq, Eq)]
struct DataFileRef {
    /// Path relative to the table root, percent-decoded.
    path: String,
    partitions: PartitionValues,
}

/// The files a version range removes and adds, each sorted by path.
#[derive(Debug, Default)]
struct Listing {
    deleted: Vec<DataFileRef>,
    inserted: Vec<DataFileRef>,
}

/// A version range `(from, to)`: after `from` (`None`: from nothing) up to `to`.
type VersionRange = (Option<i64>, i64);

/// The last [`CACHED_LISTINGS`] listings by version range, oldest first.
#[derive(Debug, Default)]
struct Listings(VecDeque<(VersionRange, Arc<Listing>)>);

impl Listings {
    fn get(&self, key: VersionRange) -> Option<Arc<Listing>> {
        self.0
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, l)| Arc::clone(l))
    }

    fn insert(&mut self, key: VersionRange, listing: Arc<Listing>) {
        if self.0.len() >= CACHED_LISTINGS {
            self.0.pop_front();
        }
        self.0.push_back((key, listing));
    }
}

/// One line of a commit entry: file actions, and a schema change.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogLine {
    add: Option<FileAction>,
    remove: Option<FileAction>,
    meta_data: Option<MetaData>,
}

/// The field of a `metaData` action the feed reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetaData {
    schema_string: String,
}

/// The fields of an `add` or `remove` action the feed reads.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileAction {
    path: String,
    #[serde(default)]
    partition_values: Option<PartitionValues>,
    #[serde(default)]
    deletion_vector: Option<serde_json::Value>,
}

/// Where a file stands over a version range.
struct FileNet {
    /// Whether the file was in the table at the earlier version.
    before: bool,
    /// Whether it is at the later version.
    after: bool,
    partitions: Option<PartitionValues>,
}

fn user(message: impl Into<String>) -> ConnectorFailure {
    ConnectorFailure::new(message, false)
}

fn delta_failure(e: DeltaError) -> ConnectorFailure {
    let retryable = e.is_retryable();
    ConnectorFailure::new(e.to_string(), retryable)
}

impl DeltaTableFeed {
    /// Opens the table at `config.path`; the feed's schema is that of the latest version.
    ///
    /// # Errors
    /// A missing table or unsupported column types, as user errors; `version-as-of` or
    /// `timestamp-as-of` set (a join follows the table's latest version); storage failures,
    /// retryable.
    pub fn new(config: DeltaSourceConfig, runtime: &Handle) -> Result<Self, ConnectorFailure> {
        let path = config.path;
        if config.version_as_of.is_some() || config.timestamp_as_of.is_some() {
            return Err(user(format!(
                "{path}: the table of a stream-table join follows its latest version; \
                 version-as-of and timestamp-as-of are not supported there"
            )));
        }
        let table = runtime.block_on(open_table(&path)).map_err(delta_failure)?;
        let state = table.snapshot().map_err(|e| user(format!("{path}: {e}")))?;
        let columns = TableColumns::new(state, |name| {
            (!COORDINATES.contains(&name)).then(|| name.to_owned())
        })
        .map_err(|e| user(format!("{path}: {e}")))?;
        let version = table.version().map_or(-1, |v| v as i64);
        tracing::info!(table = %path, version, "delta table feed ready");
        Ok(Self {
            path,
            table,
            runtime: runtime.clone(),
            columns,
            latest: AtomicI64::new(version),
            listings: Mutex::default(),
        })
    }

    /// The files `(from, to]` removes and adds, from the cache or the log.
    fn listing(&self, from: Option<i64>, to: i64) -> Result<Arc<Listing>, ConnectorFailure> {
        // Held while listing, so the other workers wait for this one and then share it.
        let mut listings = self.listings.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(listing) = listings.get((from, to)) {
            return Ok(listing);
        }
        let listing = match from {
            None => Listing {
                deleted: Vec::new(),
                inserted: self.snapshot_files(to)?,
            },
            Some(from) => self.net_changes(from, to)?,
        };
        tracing::debug!(
            table = %self.path,
            ?from,
            to,
            deleted = listing.deleted.len(),
            inserted = listing.inserted.len(),
            "listed delta table changes"
        );
        let listing = Arc::new(listing);
        listings.insert((from, to), Arc::clone(&listing));
        Ok(listing)
    }

    /// The files of version `version`, sorted by path.
    fn snapshot_files(&self, version: i64) -> Result<Vec<DataFileRef>, ConnectorFailure> {
        let mut table = self.table.clone();
        self.runtime
            .block_on(table.load_version(version as u64))
            .map_err(|e| delta_failure(DeltaError::delta(&self.path, "loading a version", e)))?;
        let state = table
            .snapshot()
            .map_err(|e| user(format!("{}: {e}", self.path)))?;
        let mut files = Vec::new();
        for file in state.log_data().iter() {
            let path = file.path().into_owned();
            if file.deletion_vector_descriptor().is_some() {
                return Err(self.deletion_vector(version, &path));
            }
            files.push(DataFileRef {
                path,
                partitions: file.partition_values_map().into_iter().collect(),
            });
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    fn deletion_vector(&self, version: i64, path: &str) -> ConnectorFailure {
        user(format!(
            "{}: version {version}: data file {path} has a deletion vector; deletion vectors \
             are not supported by the Delta table feed",
            self.path
        ))
    }

    /// The net file changes of the commits `from + 1 ..= to`.
    fn net_changes(&self, from: i64, to: i64) -> Result<Listing, ConnectorFailure> {
        let commits: Vec<_> = self.runtime.block_on(
            futures::stream::iter(from + 1..=to)
                .map(|version| self.file_actions(version))
                .buffered(READ_CONCURRENCY)
                .try_collect(),
        )?;
        let mut files: BTreeMap<String, FileNet> = BTreeMap::new();
        for (removes, adds) in commits {
            // Removes first: a commit that removes and re-adds a path keeps the file.
            for remove in removes {
                let net = files.entry(remove.path).or_insert(FileNet {
                    before: true,
                    after: true,
                    partitions: None,
                });
                net.after = false;
                if remove.partition_values.is_some() {
                    net.partitions = remove.partition_values;
                }
            }
            for add in adds {
                let net = files.entry(add.path).or_insert(FileNet {
                    before: false,
                    after: false,
                    partitions: None,
                });
                net.after = true;
                net.partitions = Some(add.partition_values.unwrap_or_default());
            }
        }
        let mut listing = Listing::default();
        let mut earlier: Option<BTreeMap<String, PartitionValues>> = None;
        for (path, net) in files {
            match (net.before, net.after) {
                (true, false) => {
                    let partitions = match net.partitions {
                        Some(p) => p,
                        None if self.columns.partition_columns().is_empty() => {
                            PartitionValues::new()
                        }
                        None => {
                            // A remove without partition values: take them from `from`.
                            if earlier.is_none() {
                                let snapshot = self.snapshot_files(from)?;
                                earlier = Some(
                                    snapshot
                                        .into_iter()
                                        .map(|f| (f.path, f.partitions))
                                        .collect(),
                                );
                            }
                            earlier
                                .as_ref()
                                .and_then(|e| e.get(&path).cloned())
                                .ok_or_else(|| {
                                    user(format!(
                                        "{}: data file {path}, removed after version {from}, has no \
                                         partition values and is not in version {from}",
                                        self.path
                                    ))
                                })?
                        }
                    };
                    listing.deleted.push(DataFileRef { path, partitions });
                }
                (false, true) => listing.inserted.push(DataFileRef {
                    path,
                    partitions: net.partitions.unwrap_or_default(),
                }),
                _ => {}
            }
        }
        Ok(listing)
    }

    /// The `remove` and `add` actions of commit `version`, paths percent-decoded.
    async fn file_actions(
        &self,
        version: i64,
    ) -> Result<(Vec<FileAction>, Vec<FileAction>), ConnectorFailure> {
        let bytes = self
            .table
            .log_store()
            .read_commit_entry(version as u64)
            .await
            .map_err(|e| delta_failure(DeltaError::delta(&self.path, "reading the log", e)))?;
        let Some(bytes) = bytes else {
            let latest = self.latest.load(Ordering::Relaxed);
            // Past the newest version a retry may find it; an older one was cleaned up.
            return Err(ConnectorFailure::new(
                format!(
                    "{}: version {version} is not in the log (the newest seen is {latest}; \
                     older commits are removed after delta.logRetentionDuration)",
                    self.path
                ),
                version > latest,
            ));
        };
        let (mut removes, mut adds) = (Vec::new(), Vec::new());
        for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let line: LogLine = serde_json::from_slice(line).map_err(|e| {
                user(format!(
                    "{}: version {version}: bad log line: {e}",
                    self.path
                ))
            })?;
            if let Some(meta) = &line.meta_data
                && let Some(change) = self
                    .columns
                    .changed_type(&meta.schema_string)
                    .map_err(|e| user(format!("{}: version {version}: {e}", self.path)))?
            {
                return Err(user(format!(
                    "{}: version {version} {change}; the table feed keeps the columns it \
                     started with: restart the job to read the table with its new schema",
                    self.path
                )));
            }
            for (mut action, added) in [(line.remove, false), (line.add, true)]
                .into_iter()
                .filter_map(|(a, added)| Some((a?, added)))
            {
                action.path = percent_decode(&action.path);
                if action.deletion_vector.is_some() {
                    return Err(self.deletion_vector(version, &action.path));
                }
                if added {
                    adds.push(action);
                } else {
                    removes.push(action);
                }
            }
        }
        Ok((removes, adds))
    }

    /// Reads `files`, skipping empty ones.
    fn read<'a>(
        &self,
        files: impl Iterator<Item = &'a DataFileRef>,
    ) -> Result<Vec<RecordBatch>, ConnectorFailure> {
        let store = self.table.object_store();
        let store = store.as_ref();
        let reads = futures::stream::iter(files.map(|file| async move {
            self.columns
                .read(store, &file.path, &file.partitions)
                .await
                .map_err(|e| self.read_failure(&file.path, e))
        }))
        .buffered(READ_CONCURRENCY)
        .try_filter(|rows| std::future::ready(rows.num_rows() > 0))
        .try_collect();
        self.runtime.block_on(reads)
    }

    fn read_failure(&self, path: &str, e: TableFileError) -> ConnectorFailure {
        match e {
            TableFileError::Missing { .. } => user(format!(
                "{}: data file {path} is gone ({e}); the join needs the files of every table \
                 version it has not caught up with yet, so the table's history must keep files \
                 at least that long (raise the vacuum retention, \
                 delta.deletedFileRetentionDuration, or vacuum less often)",
                self.path
            )),
            e => {
                let retryable = e.is_retryable();
                ConnectorFailure::new(format!("{}: {e}", self.path), retryable)
            }
        }
    }
}

/// Share `part` of `parts` of `files`: every `parts`-th file from index `part`.
fn share(files: &[DataFileRef], part: usize, parts: usize) -> impl Iterator<Item = &DataFileRef> {
    let parts = parts.max(1);
    files
        .iter()
        .enumerate()
        .filter(move |(i, _)| i % parts == part)
        .map(|(_, f)| f)
}

impl TableFeed for DeltaTableFeed {
    fn name(&self) -> &str {
        &self.path
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(self.columns.schema())
    }

    fn latest_version(&self) -> Result<i64, ConnectorFailure> {
        let known = self.latest.load(Ordering::Relaxed);
        let store = self.table.log_store();
        let latest = match self
            .runtime
            .block_on(store.get_latest_version(known.max(0) as u64))
        {
            Ok(v) => v as i64,
            // The commit at `known` was cleaned up: reopen the table instead.
            Err(DeltaTableError::InvalidVersion(_)) => {
                let table = self
                    .runtime
                    .block_on(open_table(&self.path))
                    .map_err(delta_failure)?;
                table.version().map_or(-1, |v| v as i64)
            }
            Err(e) => {
                return Err(delta_failure(DeltaError::delta(
                    &self.path,
                    "listing the log",
                    e,
                )));
            }
        };
        Ok(self.latest.fetch_max(latest, Ordering::Relaxed).max(latest))
    }

    fn changes(
        &self,
        from: Option<i64>,
        to: i64,
        part: usize,
        parts: usize,
    ) -> Result<TableChanges, ConnectorFailure> {
        if let Some(from) = from
            && from >= to
        {
            if from > to {
                return Err(user(format!(
                    "{}: changes from version {from} back to {to} were asked for",
                    self.path
                )));
            }
            return Ok(TableChanges::default());
        }
        let listing = self.listing(from, to)?;
        Ok(TableChanges {
            deleted: self.read(share(&listing.deleted, part, parts))?,
            inserted: self.read(share(&listing.inserted, part, parts))?,
            dead_letters: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests;
