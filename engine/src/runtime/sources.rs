//! Several sources read as one: the job's epochs take ranges from each, and each
//! source's rows reach the plan's stream named after it (a stream–stream join reads two).
//!
//! A range of the source named `s` is logged with the source name `s|<its own source>`,
//! so that cursors, offsets and replays keep the sources apart; its batches carry `s` in
//! their schema's metadata until the dataflow routes them to `s`'s stream.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use sluice_checkpoints::SourceRange;

use super::{ConnectorFailure, Cursors, EpochSource, PartitionLag, Planned, RangePart};
use crate::error::{EngineError, Result};

/// The schema metadata key naming a batch's stream.
const STREAM_KEY: &str = "sluice.stream";
/// Separates a stream's name from its source's in logged ranges.
const SEPARATOR: char = '|';

/// Named sources read as one [`EpochSource`]; see the [module docs](self).
pub struct NamedSources {
    sources: Vec<(String, Arc<dyn EpochSource>)>,
    name: String,
}

impl NamedSources {
    /// Reads each `(stream, source)`; the first is the job's main source.
    ///
    /// # Errors
    /// No source, a stream named twice, or a name holding `|`.
    pub fn new(sources: Vec<(String, Arc<dyn EpochSource>)>) -> Result<Self> {
        let mut seen = std::collections::BTreeSet::new();
        for (stream, _) in &sources {
            if stream.contains(SEPARATOR) || !seen.insert(stream.as_str()) {
                return Err(EngineError::InvalidPlan(format!(
                    "source `{stream}`: source names must differ and hold no `{SEPARATOR}`"
                )));
            }
        }
        if sources.is_empty() {
            return Err(EngineError::InvalidPlan("a job needs a source".into()));
        }
        let name = sources
            .iter()
            .map(|(stream, _)| stream.as_str())
            .collect::<Vec<_>>()
            .join("+");
        Ok(Self { sources, name })
    }

    /// Each stream's row schema.
    pub fn schemas(&self) -> BTreeMap<String, SchemaRef> {
        self.sources
            .iter()
            .map(|(stream, source)| (stream.clone(), source.schema()))
            .collect()
    }

    /// The source of a logged range and the range as that source logged it.
    fn split(&self, range: &SourceRange) -> Result<(usize, SourceRange), ConnectorFailure> {
        let unknown = || {
            ConnectorFailure::new(
                format!(
                    "range of `{}` belongs to none of the sources {}",
                    range.source, self.name
                ),
                false,
            )
        };
        let (stream, inner) = range.source.split_once(SEPARATOR).ok_or_else(unknown)?;
        let index = self
            .sources
            .iter()
            .position(|(s, _)| s == stream)
            .ok_or_else(unknown)?;
        let mut inner_range = range.clone();
        inner_range.source = inner.to_owned();
        Ok((index, inner_range))
    }

    /// The cursors of source `index`, as it keys them.
    fn cursors_of(&self, index: usize, cursors: &Cursors) -> Cursors {
        let prefix = format!("{}{SEPARATOR}", self.sources[index].0);
        cursors
            .iter()
            .filter_map(|((source, partition), cursor)| {
                source
                    .strip_prefix(&prefix)
                    .map(|inner| ((inner.to_owned(), *partition), cursor.clone()))
            })
            .collect()
    }

    fn prefixed(&self, index: usize, mut range: SourceRange) -> SourceRange {
        range.source = format!("{}{SEPARATOR}{}", self.sources[index].0, range.source);
        range
    }
}

/// `batch` tagged with the stream it belongs to.
fn tag(batch: RecordBatch, stream: &str) -> Result<RecordBatch, ConnectorFailure> {
    let schema = batch.schema();
    let mut metadata: HashMap<String, String> = schema.metadata().clone();
    metadata.insert(STREAM_KEY.to_owned(), stream.to_owned());
    let tagged = Schema::new_with_metadata(schema.fields().clone(), metadata);
    batch
        .with_schema(Arc::new(tagged))
        .map_err(|e| ConnectorFailure::new(e.to_string(), false))
}

/// `batch` without its tag if it belongs to the stream `stream`, else no rows.
///
/// # Errors
/// When the batch cannot be rebuilt without its tag.
pub(super) fn routed(batch: &RecordBatch, stream: &str) -> Result<RecordBatch> {
    let schema = batch.schema();
    if schema.metadata().get(STREAM_KEY).map(String::as_str) != Some(stream) {
        return Ok(RecordBatch::new_empty(schema));
    }
    let mut metadata = schema.metadata().clone();
    metadata.remove(STREAM_KEY);
    let plain = Schema::new_with_metadata(schema.fields().clone(), metadata);
    // Not `with_schema`: it only accepts a schema holding the batch's metadata.
    Ok(RecordBatch::try_new(
        Arc::new(plain),
        batch.columns().to_vec(),
    )?)
}

impl EpochSource for NamedSources {
    fn name(&self) -> &str {
        &self.name
    }

    fn initial_cursors(&self) -> Result<Cursors, ConnectorFailure> {
        let mut all = Cursors::new();
        for (stream, source) in &self.sources {
            for ((inner, partition), cursor) in source.initial_cursors()? {
                all.insert((format!("{stream}{SEPARATOR}{inner}"), partition), cursor);
            }
        }
        Ok(all)
    }

    fn next_ranges(&self, epoch: u64, cursors: &Cursors) -> Result<Planned, ConnectorFailure> {
        let mut ranges = Vec::new();
        let mut any_ranges = false;
        let mut all_exhausted = true;
        for (index, (_, source)) in self.sources.iter().enumerate() {
            match source.next_ranges(epoch, &self.cursors_of(index, cursors))? {
                Planned::Ranges(found) => {
                    any_ranges = true;
                    all_exhausted = false;
                    ranges.extend(found.into_iter().map(|r| self.prefixed(index, r)));
                }
                Planned::Idle => all_exhausted = false,
                Planned::Exhausted => {}
            }
        }
        Ok(if any_ranges {
            Planned::Ranges(ranges)
        } else if all_exhausted {
            Planned::Exhausted
        } else {
            Planned::Idle
        })
    }

    fn exhausted(&self, cursors: &Cursors) -> bool {
        self.sources
            .iter()
            .enumerate()
            .all(|(index, (_, source))| source.exhausted(&self.cursors_of(index, cursors)))
    }

    fn schema(&self) -> SchemaRef {
        self.sources[0].1.schema()
    }

    fn read(
        &self,
        range: &SourceRange,
        epoch: u64,
    ) -> Result<(RecordBatch, RecordBatch), ConnectorFailure> {
        let (index, inner) = self.split(range)?;
        let (stream, source) = &self.sources[index];
        let (rows, dead) = source.read(&inner, epoch)?;
        Ok((tag(rows, stream)?, dead))
    }

    fn read_each(
        &self,
        range: &SourceRange,
        epoch: u64,
        each: &mut dyn FnMut(RangePart) -> Result<(), ConnectorFailure>,
    ) -> Result<(), ConnectorFailure> {
        let (index, inner) = self.split(range)?;
        let (stream, source) = &self.sources[index];
        source.read_each(&inner, epoch, &mut |part| match part {
            RangePart::Rows(rows) => each(RangePart::Rows(tag(rows, stream)?)),
            dead => each(dead),
        })
    }

    fn metric_label<'a>(&'a self, range: &'a SourceRange) -> &'a str {
        match self.split(range) {
            Ok((index, _)) => &self.sources[index].0,
            Err(_) => &range.source,
        }
    }

    fn lag(&self) -> Vec<PartitionLag> {
        self.sources
            .iter()
            .flat_map(|(stream, source)| {
                source.lag().into_iter().map(move |mut lag| {
                    lag.partition = format!("{stream}{SEPARATOR}{}", lag.partition);
                    lag
                })
            })
            .collect()
    }

    fn committed(&self, epoch: u64, ranges: &[SourceRange]) {
        let mut per_source: BTreeMap<usize, Vec<SourceRange>> = BTreeMap::new();
        for range in ranges {
            if let Ok((index, inner)) = self.split(range) {
                per_source.entry(index).or_default().push(inner);
            }
        }
        for (index, inner) in per_source {
            self.sources[index].1.committed(epoch, &inner);
        }
    }
}
