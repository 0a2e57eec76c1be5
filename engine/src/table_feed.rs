//! The table side of a keyed join, read as a sequence of versions.
//!
//! A keyed join keeps its table as a differential arrangement, fed with the rows each new
//! table version adds (+1) and removes (−1). Every epoch's offsets entry records the table
//! version its rows join against, so a replay feeds the same versions and joins the same
//! rows. A static table (files, or a Delta table read bounded) has one version, 0.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use sluice_checkpoints::SourceRange;

use crate::runtime::{ConnectorFailure, EpochSource, Planned, advance};

/// What a table version range changes: rows added, rows removed, and rows that did not
/// decode (they become dead letters).
#[derive(Clone, Debug, Default)]
pub struct TableChanges {
    /// Rows that are in the table at the later version and were not at the earlier one.
    pub inserted: Vec<RecordBatch>,
    /// Rows that were in the table at the earlier version and are not at the later one.
    pub deleted: Vec<RecordBatch>,
    /// Dead letters for rows that did not decode.
    pub dead_letters: Vec<RecordBatch>,
}

/// A versioned table a keyed join looks rows up in.
pub trait TableFeed: Send + Sync + 'static {
    /// The table's name or path, for messages.
    fn name(&self) -> &str;
    /// The schema of the table's rows (without coordinate columns).
    fn schema(&self) -> SchemaRef;
    /// The newest committed version now. A static table always answers 0.
    ///
    /// # Errors
    /// When the table cannot be reached.
    fn latest_version(&self) -> Result<i64, ConnectorFailure>;
    /// The changes from version `from` (exclusive; `None` is the empty table) to version
    /// `to` (inclusive), restricted to share `part` of `parts`: every worker reads its own
    /// share of the files, and the shares together are the whole change.
    ///
    /// # Errors
    /// When a version or a file cannot be read.
    fn changes(
        &self,
        from: Option<i64>,
        to: i64,
        part: usize,
        parts: usize,
    ) -> Result<TableChanges, ConnectorFailure>;
}

/// Coordinate columns, a source's own and those a sluice-written table carries from its
/// upstream: dropped from table rows.
pub const COORDINATES: [&str; 6] = [
    "source",
    "partition",
    "offset",
    "upstream_source",
    "upstream_partition",
    "upstream_offset",
];

/// A static table read through a bounded [`EpochSource`] (files, or a Delta table read
/// bounded): one version, 0, whose ranges are shared out among the workers.
pub struct StaticTable {
    name: String,
    source: Arc<dyn EpochSource>,
    keep: Vec<usize>,
    schema: SchemaRef,
}

impl StaticTable {
    /// Wraps a bounded `source`.
    ///
    /// # Errors
    /// When the schema cannot be projected (it cannot fail for a source's own schema).
    pub fn new(name: impl Into<String>, source: Arc<dyn EpochSource>) -> crate::Result<Self> {
        let full = source.schema();
        let keep: Vec<usize> = full
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| !COORDINATES.contains(&f.name().as_str()))
            .map(|(i, _)| i)
            .collect();
        let schema = Arc::new(full.project(&keep)?);
        Ok(Self {
            name: name.into(),
            source,
            keep,
            schema,
        })
    }

    /// Every range of the bounded source, in planning order.
    fn ranges(&self) -> Result<Vec<SourceRange>, ConnectorFailure> {
        let mut cursors = self.source.initial_cursors()?;
        let mut all = Vec::new();
        for epoch in 0.. {
            let ranges = match self.source.next_ranges(epoch, &cursors)? {
                Planned::Ranges(r) => r,
                Planned::Idle | Planned::Exhausted => break,
            };
            advance(&mut cursors, &ranges);
            let done = self.source.exhausted(&cursors);
            all.extend(ranges.into_iter().filter(|r| !r.is_empty()));
            if done {
                break;
            }
        }
        Ok(all)
    }
}

impl std::fmt::Debug for StaticTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticTable")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl TableFeed for StaticTable {
    fn name(&self) -> &str {
        &self.name
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn latest_version(&self) -> Result<i64, ConnectorFailure> {
        Ok(0)
    }

    fn changes(
        &self,
        from: Option<i64>,
        _to: i64,
        part: usize,
        parts: usize,
    ) -> Result<TableChanges, ConnectorFailure> {
        let mut changes = TableChanges::default();
        if from.is_some() {
            return Ok(changes);
        }
        for (i, range) in self.ranges()?.iter().enumerate() {
            if i % parts.max(1) != part {
                continue;
            }
            let (rows, dead) = self.source.read(range, 0)?;
            let rows = rows
                .project(&self.keep)
                .map_err(|e| ConnectorFailure::new(format!("{}: {e}", self.name), false))?;
            if rows.num_rows() > 0 {
                changes.inserted.push(rows);
            }
            if dead.num_rows() > 0 {
                changes.dead_letters.push(dead);
            }
        }
        Ok(changes)
    }
}
