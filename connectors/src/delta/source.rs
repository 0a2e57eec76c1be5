//! A Delta table as a source: a snapshot (latest, `version-as-of` or `timestamp-as-of`),
//! and, when not bounded, the files later versions add (tailing, as Spark's Delta source).
//!
//! Each data file is one range `(path, 0)` of an epoch, read whole (offset 0 = unread, 1 =
//! read); its partition values ride in the range's `start_position` (JSON), so replays
//! read exactly the logged files. Tailing keeps a pseudo range `(_delta_log, 0)` whose
//! offset is the next table version to scan; a version's `add` actions with
//! `dataChange = true` become new ranges, so `optimize` rewrites (`dataChange = false`) are
//! not read twice. The tail is append-only, as Spark's Delta source is: a version that
//! removes rows (`remove` with `dataChange = true`: a DELETE, UPDATE, MERGE or overwrite)
//! stops the job with an error naming it, unless `on-change` says to `skip` such versions
//! (Spark's `skipChangeCommits`) or to `reread` their added files (Spark's `ignoreChanges`:
//! rows a version rewrote come again).
//!
//! Rows carry the table's columns (partition columns typed from the table schema), then
//! the coordinate columns: `source` = file path, `partition` = 0, `offset` = row index.
//! A table that already has columns named `source`, `partition` or `offset` (any table
//! sluice wrote) keeps them as `upstream_source`, `upstream_partition`, `upstream_offset`.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Schema, SchemaRef};
use deltalake::DeltaTable;
use serde::{Deserialize, Serialize};
use sluice_checkpoints::SourceRange;
use sluice_engine::runtime::{ConnectorFailure, Cursor, Cursors, EpochSource, Planned};
use tokio::runtime::Handle;

use super::change_feed::{self, ChangeFile, ChangeKind, VersionChanges};
use super::maintenance::open_table;
use super::table_file::{PartitionValues, TableColumns};
use crate::dead_letter;
use crate::format::{COORDINATE_COLUMNS, coordinate_columns, coordinate_fields};

/// The cursor key of the next table version to scan when tailing.
const LOG_KEY: &str = "_delta_log";

/// Settings of `source.delta`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DeltaSourceConfig {
    /// Table location: a directory or an `s3://` URL.
    pub path: String,
    /// Read this version (time travel); the job is then bounded.
    #[serde(default)]
    pub version_as_of: Option<i64>,
    /// Read the version current at this RFC 3339 time; the job is then bounded.
    #[serde(default)]
    pub timestamp_as_of: Option<String>,
    /// At most this many files per epoch from the snapshot (default: all).
    #[serde(default)]
    pub max_files_per_epoch: Option<usize>,
    /// Stop after the snapshot instead of tailing new versions (`--batch` sets it).
    #[serde(default)]
    pub bounded: bool,
    /// What tailing does with a version that removes rows: `fail` (default), `skip` it
    /// whole, or `reread` its added files. Not used with `read-change-feed`.
    #[serde(default)]
    pub on_change: OnChange,
    /// Read the table's change data feed instead of its rows (see
    /// [`change_feed`](super::change_feed)): inserts, deletes and updates of every new
    /// version, with `_change_type`, `_commit_version` and `_commit_timestamp`. Tailing only.
    #[serde(default)]
    pub read_change_feed: bool,
    /// Start at this version's changes instead of the latest snapshot (as Spark's
    /// `startingVersion`): no snapshot is read. Tailing only.
    #[serde(default)]
    pub starting_version: Option<i64>,
}

/// What the tail does with a version that removes or rewrites rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnChange {
    /// Stop with an error naming the version (Spark's default).
    #[default]
    Fail,
    /// Skip the version: neither its removes nor its adds are read (`skipChangeCommits`).
    Skip,
    /// Read the files it adds; rows it rewrote come again (`ignoreChanges`).
    Reread,
}

impl DeltaSourceConfig {
    /// Reads the latest version of `path` and tails it.
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            version_as_of: None,
            timestamp_as_of: None,
            max_files_per_epoch: None,
            bounded: false,
            on_change: OnChange::Fail,
            read_change_feed: false,
            starting_version: None,
        }
    }

    fn tails(&self) -> bool {
        !self.bounded && self.version_as_of.is_none() && self.timestamp_as_of.is_none()
    }
}

/// Reads a Delta table; see the [module docs](self).
pub struct DeltaSource {
    config: DeltaSourceConfig,
    table: DeltaTable,
    runtime: Handle,
    /// The table's columns, coordinate-named ones renamed `upstream_*`.
    columns: TableColumns,
    /// The same with the `_change_type` of change data files, for the change feed.
    cdc_columns: TableColumns,
    output: SchemaRef,
    /// The snapshot's files (path -> partition values), read first.
    snapshot: BTreeMap<String, PartitionValues>,
    version: i64,
}

impl std::fmt::Debug for DeltaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeltaSource")
            .field("config", &self.config)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// Whether a table column of type `table` is what a declaration of type `declared` reads
/// (a list's or map's inner field names are the writer's: `element`, `item`, ...).
fn same_type(table: &DataType, declared: &DataType) -> bool {
    let text =
        |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    let time = |t: &DataType| matches!(t, DataType::Timestamp(..));
    table.equals_datatype(declared)
        || (text(table) && text(declared))
        || (time(table) && time(declared))
}

fn user(message: impl Into<String>) -> ConnectorFailure {
    ConnectorFailure::new(message, false)
}

impl DeltaSource {
    /// Opens the table at the configured version.
    ///
    /// # Errors
    /// A missing table, a version or time the log does not hold, or unsupported column
    /// types, as user errors naming the table.
    pub fn new(config: DeltaSourceConfig, runtime: &Handle) -> Result<Self, ConnectorFailure> {
        let path = config.path.clone();
        if (config.read_change_feed || config.starting_version.is_some()) && !config.tails() {
            return Err(user(format!(
                "{path}: read-change-feed and starting-version follow new versions; they \
                 cannot be combined with bounded, --batch, version-as-of or timestamp-as-of"
            )));
        }
        let mut table = runtime
            .block_on(open_table(&path))
            .map_err(|e| user(e.to_string()))?;
        if let Some(v) = config.version_as_of {
            runtime
                .block_on(table.load_version(v as _))
                .map_err(|e| user(format!("{path}: version-as-of {v}: {e}")))?;
        } else if let Some(t) = &config.timestamp_as_of {
            let at = chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|e| user(format!("timestamp-as-of {t}: expected RFC 3339 ({e})")))?;
            runtime
                .block_on(table.load_with_datetime(at.to_utc()))
                .map_err(|e| user(format!("{path}: timestamp-as-of {t}: {e}")))?;
        }
        let state = table.snapshot().map_err(|e| user(format!("{path}: {e}")))?;
        // A sluice table already has coordinate columns: keep them as upstream_*.
        let columns = TableColumns::new(state, |name| {
            Some(if COORDINATE_COLUMNS.contains(&name) {
                format!("upstream_{name}")
            } else {
                name.to_owned()
            })
        })
        .map_err(|e| user(format!("{path}: {e}")))?;
        let latest = table.version().map_or(-1, |v| v as i64);
        let (version, snapshot) = match config.starting_version {
            Some(v) if v < 0 || v > latest + 1 => {
                return Err(user(format!(
                    "{path}: starting-version {v} is not between 0 and the next version, {}",
                    latest + 1
                )));
            }
            Some(v) => (v - 1, BTreeMap::new()),
            None => (
                latest,
                state
                    .log_data()
                    .iter()
                    .map(|f| {
                        (
                            f.path().to_string(),
                            f.partition_values_map().into_iter().collect(),
                        )
                    })
                    .collect(),
            ),
        };
        tracing::info!(table = %path, version, tails = config.tails(), "delta source ready");
        Ok(Self {
            output: output_schema(&columns, config.read_change_feed),
            config,
            runtime: runtime.clone(),
            cdc_columns: with_change_type(&columns),
            columns,
            snapshot,
            version,
            table,
        })
    }

    /// The snapshot version read first.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// The names of the table's own columns among its rows' (not the change feed's or the
    /// coordinates).
    pub fn table_columns(&self) -> Vec<String> {
        let schema = self.columns.schema();
        schema.fields().iter().map(|f| f.name().clone()).collect()
    }

    /// Checks the columns a job declares for the table (a SQL `CREATE TABLE`'s) against
    /// the table's own: each must be one of its columns, of the same type (any kind of
    /// string for a string, of timestamp for a timestamp). The job then reads the declared
    /// columns only (types stay the table's).
    ///
    /// # Errors
    /// Every declared column the table lacks, or has with another type, as a user error
    /// naming the table's columns.
    pub fn check_declared(&self, declared: &Schema) -> Result<(), ConnectorFailure> {
        let problems: Vec<String> = declared
            .fields()
            .iter()
            .filter_map(|d| match self.output.field_with_name(d.name()) {
                Err(_) => Some(format!("`{}` is not a column of the table", d.name())),
                Ok(t) if !same_type(t.data_type(), d.data_type()) => Some(format!(
                    "`{}` is a {} in the table, declared {}",
                    d.name(),
                    t.data_type(),
                    d.data_type()
                )),
                Ok(_) => None,
            })
            .collect();
        if problems.is_empty() {
            return Ok(());
        }
        let columns: Vec<String> = self
            .output
            .fields()
            .iter()
            .map(|f| format!("{} {}", f.name(), f.data_type()))
            .collect();
        Err(user(format!(
            "{}: the declared columns do not fit the table: {}; the table has: {}",
            self.config.path,
            problems.join("; "),
            columns.join(", ")
        )))
    }

    /// The range of a known file at its cursor: its position (partition values, or the
    /// change feed's [`ChangeFile`]) as logged with the cursor, else from the snapshot.
    fn carried(&self, path: &str, part: u32, cursor: &Cursor) -> SourceRange {
        let mut r = SourceRange::offsets(path.to_string(), part, 0, 1);
        r.start_position = cursor.position.clone().or_else(|| {
            serde_json::to_string(&self.snapshot.get(path).cloned().unwrap_or_default()).ok()
        });
        r
    }

    /// The change feed's position of a snapshot file: its rows are inserts at the
    /// snapshot's version.
    fn snapshot_change(&self, partitions: &PartitionValues, timestamp_ms: i64) -> ChangeFile {
        ChangeFile {
            partitions: partitions.clone(),
            kind: ChangeKind::Insert,
            version: self.version,
            timestamp_ms,
        }
    }

    /// The commit time of `version` in milliseconds (0 when its log entry is gone).
    fn commit_time(&self, version: i64) -> i64 {
        self.runtime
            .block_on(self.version_changes(version))
            .map_or(0, |c| c.timestamp_ms)
    }

    /// The range partition of version `version`'s change files: the version.
    ///
    /// # Errors
    /// A version past `u32::MAX`.
    fn feed_partition(&self, version: i64) -> Result<u32, ConnectorFailure> {
        u32::try_from(version).map_err(|_| {
            user(format!(
                "{}: version {version} is past the change feed's range",
                self.config.path
            ))
        })
    }

    fn range(path: &str, partitions: &PartitionValues) -> SourceRange {
        let mut r = SourceRange::offsets(path.to_string(), 0, 0, 1);
        r.start_position = Some(serde_json::to_string(partitions).unwrap_or_default());
        r
    }

    /// The files `version` adds with `dataChange = true`, or none when it removes rows and
    /// `on-change` is `skip`.
    ///
    /// # Errors
    /// A version that removes rows when `on-change` is `fail`, or that changes the type of
    /// a column read.
    async fn added(&self, version: i64) -> Result<Vec<SourceRange>, ConnectorFailure> {
        if self.config.read_change_feed {
            return self.changed(version).await;
        }
        let changes = self.version_changes(version).await?;
        let removes = changes
            .data
            .iter()
            .filter(|(_, f)| f.kind == ChangeKind::Delete)
            .count();
        let ranges: Vec<SourceRange> = changes
            .data
            .iter()
            .filter(|(_, f)| f.kind == ChangeKind::Insert)
            .map(|(path, f)| Self::range(path, &f.partitions))
            .collect();
        let operation = changes.operation;
        if removes > 0 {
            let operation = operation.as_deref().unwrap_or("an unnamed operation");
            match self.config.on_change {
                OnChange::Fail => {
                    return Err(user(format!(
                        "{}: version {version} ({operation}) removes or rewrites rows \
                         ({removes} files); the Delta source follows appends only. Set \
                         `on-change: skip` to skip such versions, or `on-change: reread` to \
                         read the files they add (rows they rewrote come again)",
                        self.config.path
                    )));
                }
                OnChange::Skip => {
                    tracing::warn!(table = %self.config.path, version, operation,
                        "skipping a version that removes rows (on-change: skip)");
                    return Ok(Vec::new());
                }
                OnChange::Reread => {
                    tracing::warn!(table = %self.config.path, version, operation,
                        files = ranges.len(),
                        "reading the files of a version that rewrote rows (on-change: reread)");
                }
            }
        }
        Ok(ranges)
    }

    /// What commit `version` changes, after checking that it changes no read column's type.
    ///
    /// # Errors
    /// A storage failure, or a version missing from the log (retryable: it may not be
    /// visible yet); a log entry that does not parse, or a type change (user errors).
    async fn version_changes(&self, version: i64) -> Result<VersionChanges, ConnectorFailure> {
        let bytes = self
            .table
            .log_store()
            .read_commit_entry(version as _)
            .await
            .map_err(|e| ConnectorFailure::new(format!("reading version {version}: {e}"), true))?
            .ok_or_else(|| ConnectorFailure::new(format!("version {version} is missing"), true))?;
        let path = &self.config.path;
        let changes = change_feed::version_changes(&bytes, version)
            .map_err(|e| user(format!("{path}: {e}")))?;
        if let Some(schema) = &changes.schema {
            self.check_schema(version, schema)?;
        }
        Ok(changes)
    }

    /// Stops at a version whose schema (`schema_string`) changes the type of a column read.
    ///
    /// # Errors
    /// Such a change, or a schema that does not parse, as user errors.
    fn check_schema(&self, version: i64, schema_string: &str) -> Result<(), ConnectorFailure> {
        let path = &self.config.path;
        match self
            .columns
            .changed_type(schema_string)
            .map_err(|e| user(format!("{path}: version {version}: {e}")))?
        {
            Some(change) => Err(user(format!(
                "{path}: version {version} {change}; the source reads the columns of the \
                 version it started at: restart the job to read the table with its new schema \
                 (it resumes at this version)"
            ))),
            None => Ok(()),
        }
    }

    /// The change files of `version` (see [`change_feed`]), one range each, keyed by path
    /// and version.
    ///
    /// # Errors
    /// As [`Self::version_changes`].
    async fn changed(&self, version: i64) -> Result<Vec<SourceRange>, ConnectorFailure> {
        let path = &self.config.path;
        let part = self.feed_partition(version)?;
        self.version_changes(version)
            .await?
            .feed()
            .into_iter()
            .map(|(file, change)| {
                let mut r = SourceRange::offsets(file, part, 0, 1);
                r.start_position = Some(
                    serde_json::to_string(&change)
                        .map_err(|e| user(format!("{path}: version {version}: {e}")))?,
                );
                Ok(r)
            })
            .collect()
    }

    /// Reads a range's file: the table's columns; with the change feed, the change columns
    /// (a `cdc` file's own `_change_type`); then the coordinates, whose `partition` is the
    /// range's (0, or the version in the change feed).
    async fn read_file(&self, range: &SourceRange) -> Result<RecordBatch, ConnectorFailure> {
        let path = &range.source;
        let position = range.start_position.as_deref();
        let (partitions, change) = if self.config.read_change_feed {
            let change: ChangeFile = position
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| user(format!("reading {path}: change position: {e}")))?
                .ok_or_else(|| {
                    user(format!("reading {path}: a change range without a position"))
                })?;
            (change.partitions.clone(), Some(change))
        } else {
            let partitions: Option<PartitionValues> = position
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| user(format!("reading {path}: partition values: {e}")))?;
            (partitions.unwrap_or_default(), None)
        };
        let cdc = change.as_ref().is_some_and(|c| c.kind == ChangeKind::Cdc);
        let columns = if cdc {
            &self.cdc_columns
        } else {
            &self.columns
        };
        let store = self.table.object_store();
        let data = columns.read(store.as_ref(), path, &partitions).await?;
        let mut out = data.columns().to_vec();
        if let Some(change) = &change {
            let change_types = if cdc { out.pop() } else { None };
            if let Some(types) = &change_types
                && types.null_count() > 0
            {
                return Err(user(format!(
                    "reading {path}: a change data file with rows without a {}",
                    change_feed::CHANGE_TYPE
                )));
            }
            out.extend(change_feed::columns(change, data.num_rows(), change_types));
        }
        out.extend(coordinate_columns(
            path,
            range.partition,
            (0..data.num_rows() as i64).collect(),
        ));
        RecordBatch::try_new(Arc::clone(&self.output), out)
            .map_err(|e| user(format!("reading {path}: {e}")))
    }
}

/// `columns` and the change type of change data files, for the change feed.
fn with_change_type(columns: &TableColumns) -> TableColumns {
    columns.with_file_column(arrow::datatypes::Field::new(
        change_feed::CHANGE_TYPE,
        arrow::datatypes::DataType::Utf8,
        true,
    ))
}

/// The source's rows: `columns`, the change feed's columns when it reads the feed, and
/// the coordinates.
fn output_schema(columns: &TableColumns, change_feed: bool) -> SchemaRef {
    let mut out: Vec<_> = columns.schema().fields().iter().cloned().collect();
    if change_feed {
        out.extend(change_feed::fields());
    }
    out.extend(coordinate_fields());
    Arc::new(Schema::new(out))
}

impl EpochSource for DeltaSource {
    fn name(&self) -> &str {
        "delta"
    }

    /// Decodes only the table's columns named; the change feed's columns stay, for the
    /// caller to project.
    fn with_columns(&self, columns: &[String]) -> Option<Arc<dyn EpochSource>> {
        let narrowed = self.columns.retain(columns);
        Some(Arc::new(Self {
            config: self.config.clone(),
            table: self.table.clone(),
            runtime: self.runtime.clone(),
            cdc_columns: with_change_type(&narrowed),
            output: output_schema(&narrowed, self.config.read_change_feed),
            columns: narrowed,
            snapshot: self.snapshot.clone(),
            version: self.version,
        }))
    }

    fn initial_cursors(&self) -> Result<Cursors, ConnectorFailure> {
        let feed = self.config.read_change_feed;
        // Snapshot files are inserts at the snapshot's version in the change feed.
        let (part, timestamp_ms) = if feed && !self.snapshot.is_empty() {
            (
                self.feed_partition(self.version)?,
                self.commit_time(self.version),
            )
        } else {
            (0, 0)
        };
        let mut cursors: Cursors = self
            .snapshot
            .iter()
            .map(|(p, partitions)| {
                let position = if feed {
                    serde_json::to_string(&self.snapshot_change(partitions, timestamp_ms))
                } else {
                    serde_json::to_string(partitions)
                };
                (
                    (p.clone(), part),
                    Cursor {
                        offset: 0,
                        position: position.ok(),
                    },
                )
            })
            .collect();
        if self.config.tails() {
            cursors.insert(
                (LOG_KEY.to_string(), 0),
                Cursor {
                    offset: (self.version + 1) as u64,
                    position: None,
                },
            );
        }
        Ok(cursors)
    }

    fn next_ranges(&self, _epoch: u64, cursors: &Cursors) -> Result<Planned, ConnectorFailure> {
        let limit = self.config.max_files_per_epoch.unwrap_or(usize::MAX).max(1);
        let next = cursors
            .get(&(LOG_KEY.to_string(), 0))
            .map_or(self.version + 1, |c| c.offset as i64);
        // Only the files read now (and, below, those the log adds): the others' cursors,
        // with their partition values, stand in the snapshot's cursor record, so an entry
        // stays O(files per epoch), not O(files ever known).
        let mut chosen = 0;
        let mut ranges: Vec<SourceRange> = Vec::new();
        for ((path, part), c) in cursors.iter().filter(|((p, _), _)| p != LOG_KEY) {
            if c.offset == 0 && chosen < limit {
                chosen += 1;
                ranges.push(self.carried(path, *part, c));
            }
        }
        let log_range =
            |to: i64| SourceRange::offsets(LOG_KEY.to_string(), 0, next as u64, to as u64);
        if chosen > 0 {
            if self.config.tails() {
                ranges.push(log_range(next));
            }
            return Ok(Planned::Ranges(ranges));
        }
        if !self.config.tails() {
            return Ok(Planned::Exhausted);
        }
        let store = self.table.log_store();
        let external = |e: deltalake::DeltaTableError| {
            ConnectorFailure::new(format!("{}: {e}", self.config.path), true)
        };
        if self
            .runtime
            .block_on(store.read_commit_entry(next as _))
            .map_err(external)?
            .is_none()
        {
            return Ok(Planned::Idle);
        }
        let latest = self
            .runtime
            .block_on(store.get_latest_version(next as _))
            .map_err(external)? as i64;
        for v in next..=latest {
            for added in self.runtime.block_on(self.added(v))? {
                // A path added again (rare) replaces its empty carry-over range.
                ranges.retain(|r| (&r.source, r.partition) != (&added.source, added.partition));
                ranges.push(added);
            }
        }
        ranges.push(log_range(latest + 1));
        Ok(Planned::Ranges(ranges))
    }

    fn metric_label<'a>(&'a self, _range: &'a SourceRange) -> &'a str {
        self.name()
    }

    fn exhausted(&self, cursors: &Cursors) -> bool {
        !self.config.tails()
            && cursors
                .iter()
                .all(|((path, _), c)| path == LOG_KEY || c.offset >= 1)
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.output)
    }

    fn read(
        &self,
        range: &SourceRange,
        _epoch: u64,
    ) -> Result<(RecordBatch, RecordBatch), ConnectorFailure> {
        let dead = RecordBatch::new_empty(dead_letter::schema());
        if range.source == LOG_KEY || range.end <= range.start {
            return Ok((RecordBatch::new_empty(Arc::clone(&self.output)), dead));
        }
        let rows = self.runtime.block_on(self.read_file(range))?;
        Ok((rows, dead))
    }
}

#[cfg(test)]
mod tests;
