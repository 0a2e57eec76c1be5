//! The file source as an engine [`EpochSource`].

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray, new_null_array};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use sluice_checkpoints::SourceRange;
use sluice_engine::runtime::{ConnectorFailure, Cursor, Cursors, EpochSource, Planned, RangePart};

use super::avro::read_avro;
use super::columnar::{read_orc, read_parquet};
use super::config::{FileFormat, FileSourceConfig};
use super::convert::Decoded;
use super::csv::read_csv;
use super::error::{FileError, Result};
use super::infer::{describe, infer};
use super::json::JsonLines;
use super::listing::{ListedFile, Listing};
use crate::dead_letter;
use crate::format::{COORDINATE_COLUMNS, Coordinates, coordinate_fields};

/// The name of the source, in logs.
pub const SOURCE_NAME: &str = "files";

/// A source over the files under a path, one file per range.
///
/// Files are listed when the source is built and, unless it is `bounded`, again whenever
/// an epoch is planned (new files are read in later epochs, as Spark's file stream source
/// does). They are read in the order of their path relative to the base directory; that
/// relative path is the cursor key `(path, 0)` and the `source` coordinate of the file's
/// rows and dead letters. A file's range is `[0, 1)`: offset 0 means unread and 1 read, so
/// the whole file is read in one epoch, by one worker.
///
/// Rows have the data columns, then the hive partition columns (Utf8), then `source`,
/// `partition` (0) and `offset` (the 0-based row index in Parquet, ORC and Avro files,
/// the 1-based line number in JSON and CSV files).
///
/// ```no_run
/// use sluice_connectors::files::{FileFormat, FileSource, FileSourceConfig};
///
/// let config = FileSourceConfig::new("/data/sales/**/*.parquet", FileFormat::Parquet);
/// let source = FileSource::new(config, None).unwrap();
/// if let Some(report) = source.inference_report() {
///     println!("{report}");
/// }
/// ```
pub struct FileSource {
    config: FileSourceConfig,
    listing: Listing,
    index: BTreeMap<String, usize>,
    data: SchemaRef,
    /// The data columns before the job narrowed them to those it reads: a CSV record's
    /// fields, by position without a header.
    full: SchemaRef,
    output: SchemaRef,
    /// Whether rows carry their coordinates: not when the job reads none of them (nothing
    /// can reject a row after it is read).
    located: bool,
    json: Option<JsonLines>,
    report: Option<String>,
}

impl std::fmt::Debug for FileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSource")
            .field("config", &self.config)
            .field("files", &self.listing.files.len())
            .finish_non_exhaustive()
    }
}

impl FileSource {
    /// Lists the files, prunes them with the `partition-filter`, and settles the schema:
    /// `fields` (the job's declared data columns) or, if `None`, the one inferred from the
    /// first files.
    ///
    /// # Errors
    /// A bad setting, a path that does not exist, a filter that does not compile, a schema
    /// that clashes with a partition or coordinate column, or one that cannot be inferred.
    pub fn new(config: FileSourceConfig, fields: Option<SchemaRef>) -> Result<Self> {
        check(&config)?;
        let mut listing = Listing::new(&config)?;
        let listed = listing.files.len();
        let pruned = match &config.partition_filter {
            Some(filter) => listing.prune(filter)?,
            None => 0,
        };
        if listed == 0 {
            tracing::warn!(path = %config.path, "file source: no file to read");
        }
        let (data, report) = match fields {
            Some(fields) => (fields, None),
            None => {
                let inferred = infer(&config, &listing.files)?;
                let report = format!(
                    "inferred the schema of the {} files from {}:\n{}",
                    config.format,
                    inferred.origin,
                    describe(&inferred.schema)
                );
                tracing::info!(path = %config.path, "{report}");
                (Arc::new(inferred.schema), Some(report))
            }
        };
        for field in data.fields() {
            let name = field.name();
            if COORDINATE_COLUMNS.contains(&name.as_str()) {
                return Err(FileError::setting(
                    "schema",
                    format!(
                        "column {name:?} clashes with a coordinate column (source, partition, offset)"
                    ),
                ));
            }
            if listing.keys.contains(name) {
                return Err(FileError::setting(
                    "schema",
                    format!(
                        "column {name:?} is also a hive partition directory key; partition \
                         columns are added as Utf8 after the data columns, so leave it out of \
                         the schema (or set `hive-partitioning: false`)"
                    ),
                ));
            }
        }
        if let Some(key) = listing
            .keys
            .iter()
            .find(|k| COORDINATE_COLUMNS.contains(&k.as_str()))
        {
            return Err(FileError::setting(
                "hive-partitioning",
                format!(
                    "partition key {key:?} clashes with a coordinate column; set `hive-partitioning: false`"
                ),
            ));
        }
        let json = match config.format {
            FileFormat::Json => Some(
                JsonLines::new(&data, report.is_none())
                    .map_err(|e| FileError::setting("schema", e.to_string()))?,
            ),
            _ => None,
        };
        let output = output_schema(&data, &listing, true);
        let index = listing
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| (f.rel.clone(), i))
            .collect();
        tracing::info!(
            path = %config.path,
            base = %listing.base.display(),
            format = %config.format,
            files = listing.files.len(),
            pruned,
            partition_columns = listing.keys.join(","),
            "file source ready"
        );
        Ok(Self {
            config,
            listing,
            index,
            full: Arc::clone(&data),
            data,
            output,
            located: true,
            json,
            report,
        })
    }

    /// The inferred schema and the sample it came from, when the job declared none; for the
    /// CLI to print.
    pub fn inference_report(&self) -> Option<String> {
        self.report.clone()
    }

    /// The files to read, relative to [`base`](Self::base), in read order.
    pub fn files(&self) -> Vec<&str> {
        self.listing.files.iter().map(|f| f.rel.as_str()).collect()
    }

    /// The directory that file paths are relative to.
    pub fn base(&self) -> &Path {
        &self.listing.base
    }

    /// The data columns (without partition and coordinate columns).
    pub fn data_schema(&self) -> &SchemaRef {
        &self.data
    }

    /// The hive partition columns' names, in column order.
    pub fn partition_columns(&self) -> &[String] {
        &self.listing.keys
    }

    fn unread<'a>(&'a self, cursors: &'a Cursors) -> impl Iterator<Item = &'a ListedFile> + 'a {
        self.listing
            .files
            .iter()
            .filter(move |f| is_unread(cursors, &f.rel))
    }

    /// The relative paths of the files to consider now, in read order: the listing of a
    /// bounded source, a fresh one of a source that follows its path.
    fn current(&self) -> Result<Vec<String>> {
        if self.config.bounded {
            return Ok(self.listing.files.iter().map(|f| f.rel.clone()).collect());
        }
        let mut listing = Listing::new(&self.config)?;
        if let Some(filter) = &self.config.partition_filter
            && !listing.files.is_empty()
        {
            listing.prune(filter)?;
        }
        Ok(listing.files.into_iter().map(|f| f.rel).collect())
    }

    /// The file a range names: listed at start, or appeared since (resolved from the path
    /// alone, so that any worker of any process can read it).
    fn file(&self, rel: &str) -> ListedFile {
        match self.index.get(rel) {
            Some(&i) => self.listing.files[i].clone(),
            None => self.listing.file(rel),
        }
    }

    /// Decodes `file`, handing `each` its parts: a columnar file's as each record batch is
    /// decoded, a row-oriented file's as one part.
    fn decode(
        &self,
        file: &ListedFile,
        epoch: u64,
        each: &mut dyn FnMut(Decoded) -> std::result::Result<(), ConnectorFailure>,
    ) -> std::result::Result<(), ConnectorFailure> {
        let (path, rel, data) = (&file.path, file.rel.as_str(), &self.data);
        match self.config.format {
            FileFormat::Parquet => read_parquet(path, (rel, data), epoch, each),
            FileFormat::Orc => read_orc(path, (rel, data), epoch, each),
            FileFormat::Avro => each(read_avro(path, rel, (data, &self.full), epoch)?),
            FileFormat::Csv => each(read_csv(
                path,
                rel,
                &self.config.csv,
                (data, &self.full),
                epoch,
            )?),
            FileFormat::Json => each(
                self.json
                    .as_ref()
                    .expect("json decoder for json files")
                    .read(path, rel, data, epoch)?,
            ),
        }
    }

    /// Reads one file, handing `each` its rows in the output schema, in the batches they
    /// were decoded in, and its dead letters, part by part.
    fn read_file(
        &self,
        file: &ListedFile,
        epoch: u64,
        each: &mut dyn FnMut(RangePart) -> std::result::Result<(), ConnectorFailure>,
    ) -> std::result::Result<(), ConnectorFailure> {
        let (mut rows, mut dead_letters) = (0, 0);
        let mut coordinates = Coordinates::new(&file.rel, 0);
        self.decode(file, epoch, &mut |decoded| {
            dead_letters += decoded.dead.num_rows();
            if decoded.dead.num_rows() > 0 {
                each(RangePart::DeadLetters(decoded.dead))?;
            }
            let mut first = 0;
            for data in decoded.data {
                let n = data.num_rows();
                let mut columns: Vec<ArrayRef> = data.columns().to_vec();
                for value in &file.partitions {
                    columns.push(match value {
                        Some(v) => Arc::new(StringArray::new_repeated(v, n)),
                        None => new_null_array(&DataType::Utf8, n),
                    });
                }
                if self.located {
                    let offsets = decoded.offsets[first..first + n].to_vec();
                    columns.extend(coordinates.columns(offsets));
                }
                let batch = RecordBatch::try_new(Arc::clone(&self.output), columns)
                    .map_err(FileError::from)?;
                each(RangePart::Rows(batch))?;
                first += n;
            }
            rows += first;
            Ok(())
        })?;
        tracing::debug!(file = %file.rel, rows, dead_letters, epoch, "read file");
        Ok(())
    }
}

/// The rows' schema: the data columns, the hive partition columns, the coordinates (if
/// `located`).
fn output_schema(data: &SchemaRef, listing: &Listing, located: bool) -> SchemaRef {
    let mut fields: Vec<_> = data.fields().iter().cloned().collect();
    fields.extend(listing.partition_schema().fields().iter().cloned());
    if located {
        fields.extend(coordinate_fields());
    }
    Arc::new(Schema::new(fields))
}

/// Whether the file at `rel` is still to be read.
fn is_unread(cursors: &Cursors, rel: &str) -> bool {
    cursors
        .get(&(rel.to_string(), 0))
        .is_none_or(|c| c.offset == 0)
}

/// Checks the settings that need no listing.
fn check(config: &FileSourceConfig) -> Result<()> {
    if config.max_files_per_epoch == Some(0) {
        return Err(FileError::setting(
            "max-files-per-epoch",
            "a positive number",
        ));
    }
    if config.infer_records == 0 {
        return Err(FileError::setting("infer-records", "a positive number"));
    }
    for (key, c) in [
        ("csv.delimiter", config.csv.delimiter),
        ("csv.quote", config.csv.quote),
    ] {
        if !c.is_ascii() || c == '\n' || c == '\r' {
            return Err(FileError::setting(
                key,
                format!("{c:?} is not one ASCII character other than a line break"),
            ));
        }
    }
    if config.csv.delimiter == config.csv.quote {
        return Err(FileError::setting(
            "csv.quote",
            "must differ from the delimiter",
        ));
    }
    if config.partition_filter.is_some() && !config.hive_partitioning {
        return Err(FileError::setting(
            "partition-filter",
            "needs `hive-partitioning: true` (the filter is over partition directories)",
        ));
    }
    Ok(())
}

impl EpochSource for FileSource {
    fn name(&self) -> &str {
        SOURCE_NAME
    }

    /// Parquet and ORC files decode only the data columns named (Parquet reads no other
    /// column chunk), JSON lines only those fields (the others are skipped as each line is
    /// parsed), CSV only those fields of each record (the others are split off, never
    /// converted), Avro only those fields into columns (each datum is decoded whole); the
    /// hive partition columns stay, for the caller to project.
    fn with_columns(&self, columns: &[String]) -> Option<Arc<dyn EpochSource>> {
        if !matches!(
            self.config.format,
            FileFormat::Parquet
                | FileFormat::Orc
                | FileFormat::Json
                | FileFormat::Csv
                | FileFormat::Avro
        ) {
            return None;
        }
        let kept: Vec<_> = self
            .data
            .fields()
            .iter()
            .filter(|f| columns.contains(f.name()))
            .cloned()
            .collect();
        let data = Arc::new(Schema::new(kept));
        let located = COORDINATE_COLUMNS
            .iter()
            .any(|c| columns.iter().any(|n| n == c));
        let json = match self.config.format {
            FileFormat::Json => Some(JsonLines::new(&data, self.report.is_none()).ok()?),
            _ => None,
        };
        Some(Arc::new(Self {
            config: self.config.clone(),
            listing: self.listing.clone(),
            index: self.index.clone(),
            output: output_schema(&data, &self.listing, located),
            located,
            full: Arc::clone(&self.full),
            data,
            json,
            report: self.report.clone(),
        }))
    }

    fn initial_cursors(&self) -> std::result::Result<Cursors, ConnectorFailure> {
        Ok(self
            .listing
            .files
            .iter()
            .map(|f| ((f.rel.clone(), 0), Cursor::default()))
            .collect())
    }

    fn next_ranges(
        &self,
        _epoch: u64,
        cursors: &Cursors,
    ) -> std::result::Result<Planned, ConnectorFailure> {
        let limit = self
            .config
            .max_files_per_epoch
            .map_or(usize::MAX, |m| m as usize);
        let current = self.current()?;
        let chosen: Vec<&str> = current
            .iter()
            .filter(|rel| is_unread(cursors, rel))
            .take(limit)
            .map(String::as_str)
            .collect();
        if chosen.is_empty() {
            return Ok(if self.config.bounded {
                Planned::Exhausted
            } else {
                Planned::Idle
            });
        }
        // Only the files read now: the others' cursors stand in the snapshot's cursor
        // record, so an entry stays O(files per epoch), not O(files ever listed).
        let ranges = chosen
            .into_iter()
            .map(|rel| SourceRange::offsets(rel.to_string(), 0, 0, 1))
            .collect();
        Ok(Planned::Ranges(ranges))
    }

    fn exhausted(&self, cursors: &Cursors) -> bool {
        self.config.bounded && self.unread(cursors).next().is_none()
    }

    fn metric_label<'a>(&'a self, _range: &'a SourceRange) -> &'a str {
        SOURCE_NAME
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.output)
    }

    fn read(
        &self,
        range: &SourceRange,
        epoch: u64,
    ) -> std::result::Result<(RecordBatch, RecordBatch), ConnectorFailure> {
        let (mut rows, mut dead) = (Vec::new(), Vec::new());
        self.read_each(range, epoch, &mut |part| {
            match part {
                RangePart::Rows(batch) => rows.push(batch),
                RangePart::DeadLetters(batch) => dead.push(batch),
            }
            Ok(())
        })?;
        let rows = concat_batches(&self.output, &rows).map_err(FileError::from)?;
        let dead = concat_batches(&dead_letter::schema(), &dead).map_err(FileError::from)?;
        Ok((rows, dead))
    }

    fn read_each(
        &self,
        range: &SourceRange,
        epoch: u64,
        each: &mut dyn FnMut(RangePart) -> std::result::Result<(), ConnectorFailure>,
    ) -> std::result::Result<(), ConnectorFailure> {
        if range.is_empty() {
            return Ok(());
        }
        let file = self.file(&range.source);
        if !self.index.contains_key(&range.source) && !file.path.is_file() {
            return Err(FileError::UnknownFile(range.source.clone()).into());
        }
        self.read_file(&file, epoch, each)
    }
}
