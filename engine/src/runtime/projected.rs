//! A source reading only the columns a plan reads ([`CompiledPlan::source_reads`]):
//! projection pushdown.
//!
//! A source that can skip the other columns as it decodes (a Parquet file's other column
//! chunks are never read) answers [`EpochSource::with_columns`]; any other is wrapped in a
//! [`ProjectedSource`], which decodes whole records and keeps the columns read, so that
//! the others are at least not carried through the exchanges between workers. Dead
//! letters of decoding keep their raw payloads either way.
//!
//! [`CompiledPlan::source_reads`]: crate::plan::CompiledPlan::source_reads

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use sluice_checkpoints::SourceRange;

use super::{ConnectorFailure, Cursors, EpochSource, PartitionLag, Planned, RangePart};

/// `source` reading only `columns` of its rows (named in its schema's order, the
/// coordinate columns among them): the source's own narrowed copy where it has one, its
/// rows projected after decoding where that copy (or the source) has more.
///
/// # Errors
/// When `source`'s rows have no column of one of those names.
pub fn read_only(
    source: Arc<dyn EpochSource>,
    columns: &[String],
) -> Result<Arc<dyn EpochSource>, ConnectorFailure> {
    let source = match source.with_columns(columns) {
        Some(narrowed) => narrowed,
        None => {
            source.decode_only(columns);
            source
        }
    };
    let schema = source.schema();
    let names = schema.fields().iter().map(|f| f.name());
    if names.eq(columns.iter()) {
        return Ok(source);
    }
    Ok(Arc::new(ProjectedSource::new(source, columns)?))
}

/// A source's rows with only some of their columns, projected after decoding.
pub struct ProjectedSource {
    inner: Arc<dyn EpochSource>,
    indices: Vec<usize>,
    schema: SchemaRef,
}

impl ProjectedSource {
    /// `inner`'s rows with only `columns`.
    ///
    /// # Errors
    /// When `inner`'s rows have no column of one of those names.
    pub fn new(inner: Arc<dyn EpochSource>, columns: &[String]) -> Result<Self, ConnectorFailure> {
        let whole = inner.schema();
        let indices = columns
            .iter()
            .map(|c| {
                whole.index_of(c).map_err(|_| {
                    ConnectorFailure::new(
                        format!("the source `{}` has no column `{c}` to read", inner.name()),
                        false,
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let schema = Arc::new(whole.project(&indices).map_err(|e| {
            ConnectorFailure::new(format!("projecting `{}`: {e}", inner.name()), false)
        })?);
        Ok(Self {
            inner,
            indices,
            schema,
        })
    }

    fn project(&self, rows: &RecordBatch) -> Result<RecordBatch, ConnectorFailure> {
        rows.project(&self.indices).map_err(|e| {
            ConnectorFailure::new(format!("projecting `{}`: {e}", self.inner.name()), false)
        })
    }
}

impl EpochSource for ProjectedSource {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn initial_cursors(&self) -> Result<Cursors, ConnectorFailure> {
        self.inner.initial_cursors()
    }

    fn next_ranges(&self, epoch: u64, cursors: &Cursors) -> Result<Planned, ConnectorFailure> {
        self.inner.next_ranges(epoch, cursors)
    }

    fn exhausted(&self, cursors: &Cursors) -> bool {
        self.inner.exhausted(cursors)
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn read(
        &self,
        range: &SourceRange,
        epoch: u64,
    ) -> Result<(RecordBatch, RecordBatch), ConnectorFailure> {
        let (rows, dead) = self.inner.read(range, epoch)?;
        Ok((self.project(&rows)?, dead))
    }

    fn read_each(
        &self,
        range: &SourceRange,
        epoch: u64,
        each: &mut dyn FnMut(RangePart) -> Result<(), ConnectorFailure>,
    ) -> Result<(), ConnectorFailure> {
        self.inner.read_each(range, epoch, &mut |part| match part {
            RangePart::Rows(rows) => each(RangePart::Rows(self.project(&rows)?)),
            dead => each(dead),
        })
    }

    /// The inner source's narrowed copy, when it has one ([`read_only`] then puts its
    /// columns in the order asked).
    fn with_columns(&self, columns: &[String]) -> Option<Arc<dyn EpochSource>> {
        self.inner.with_columns(columns)
    }

    fn metric_label<'a>(&'a self, range: &'a SourceRange) -> &'a str {
        self.inner.metric_label(range)
    }

    fn lag(&self) -> Vec<PartitionLag> {
        self.inner.lag()
    }

    fn committed(&self, epoch: u64, ranges: &[SourceRange]) {
        self.inner.committed(epoch, ranges);
    }
}
