//! CSV files, parsed record by record with the `csv` crate and converted to the source's
//! schema in chunks of [`CHUNK_RECORDS`] records.
//!
//! An empty field is null. A record with the wrong number of fields, a field that is not
//! UTF-8, or a value that does not convert to its column's type becomes a `parse_error`
//! dead letter whose offset is the record's 1-based line number and whose payload is the
//! record's raw text; the other records are kept. A job that reads only some columns
//! (`source-columns: used`) has only those fields checked and converted.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use csv::ByteRecord;

use super::config::CsvOptions;
use super::convert::{Conformed, Decoded, conform};
use super::error::{FileError, Result};
use crate::dead_letter::{self, ParseFailure};
use crate::format::RawBatchBuilder;

/// Records converted at a time.
const CHUNK_RECORDS: usize = 64 * 1024;

/// Where a record is in its file.
#[derive(Clone, Copy, Debug)]
struct Span {
    line: u64,
    start: u64,
    end: u64,
}

/// A `csv` reader for `options` that leaves the header to the caller and accepts records of
/// any length.
pub(crate) fn reader<R: Read>(options: &CsvOptions, input: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(options.delimiter as u8)
        .quote(options.quote as u8)
        .from_reader(input)
}

/// The column names of a file: its header, or `column_1`, `column_2`, ... for `width`
/// columns.
pub(crate) fn names(header: Option<&ByteRecord>, width: usize) -> Vec<String> {
    match header {
        Some(h) => h
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect(),
        None => (1..=width).map(|i| format!("column_{i}")).collect(),
    }
}

/// Reads the CSV file at `path` (rows named `source`) into `target`, the columns the job
/// reads of `full`, the file's (without a header, its fields by position).
///
/// # Errors
/// When the file cannot be read, or (with a header) a required column is missing.
pub(crate) fn read_csv(
    path: &Path,
    source: &str,
    options: &CsvOptions,
    (target, full): (&SchemaRef, &SchemaRef),
    epoch: u64,
) -> Result<Decoded> {
    let file = File::open(path).map_err(|e| FileError::io(path, e))?;
    let mut csv = reader(options, BufReader::new(file));
    let csv_error = |e: csv::Error| match e.into_kind() {
        csv::ErrorKind::Io(io) => FileError::io(path, io),
        other => FileError::corrupt(path, format!("{other:?}")),
    };
    let mut record = ByteRecord::new();
    // Without a header, the fields are the schema's columns in order.
    let names = if options.header {
        if !csv.read_byte_record(&mut record).map_err(csv_error)? {
            return Decoded::concat(Vec::new());
        }
        names(Some(&record), record.len())
    } else {
        full.fields().iter().map(|f| f.name().clone()).collect()
    };
    let mut chunk = Chunk::new(names, target);
    let mut parts = Vec::new();
    let mut bad: Vec<(Span, String)> = Vec::new();
    loop {
        let more = csv.read_byte_record(&mut record).map_err(csv_error)?;
        if more {
            let position = record.position().expect("read records have a position");
            let span = Span {
                line: position.line(),
                start: position.byte(),
                end: csv.position().byte(),
            };
            if let Err(message) = chunk.push(&record, span) {
                bad.push((span, message));
            }
        }
        if chunk.spans.len() >= CHUNK_RECORDS || (!more && !chunk.spans.is_empty()) {
            let (data, offsets, failed) = chunk.convert(path, target)?;
            bad.extend(failed);
            parts.push(Decoded {
                data: vec![data],
                offsets,
                dead: RecordBatch::new_empty(dead_letter::schema()),
            });
        }
        if !more {
            break;
        }
    }
    let mut decoded = Decoded::concat(parts)?;
    decoded.dead = dead_letters(path, source, bad, epoch)?;
    Ok(decoded)
}

/// Records of one chunk, as text columns: those of the fields `target` reads.
struct Chunk {
    /// Every field's name, in the record's order.
    names: Vec<String>,
    /// The fields read, by position, each with its column.
    columns: Vec<(usize, StringBuilder)>,
    spans: Vec<Span>,
}

impl Chunk {
    fn new(names: Vec<String>, target: &SchemaRef) -> Self {
        let columns = names
            .iter()
            .enumerate()
            .filter(|(_, name)| target.field_with_name(name).is_ok())
            .map(|(i, _)| (i, StringBuilder::new()))
            .collect();
        Self {
            names,
            columns,
            spans: Vec::new(),
        }
    }

    /// Adds a record, or says why it is bad.
    fn push(&mut self, record: &ByteRecord, span: Span) -> std::result::Result<(), String> {
        if record.len() != self.names.len() {
            return Err(format!(
                "expected {} fields, got {}",
                self.names.len(),
                record.len()
            ));
        }
        let mut fields = Vec::with_capacity(self.columns.len());
        for &(i, _) in &self.columns {
            let text = std::str::from_utf8(&record[i])
                .map_err(|e| format!("field {:?}: invalid UTF-8: {e}", self.names[i]))?;
            fields.push(text);
        }
        for ((_, column), text) in self.columns.iter_mut().zip(fields) {
            if text.is_empty() {
                column.append_null();
            } else {
                column.append_value(text);
            }
        }
        self.spans.push(span);
        Ok(())
    }

    /// Converts the chunk's records into `target` and empties it: good rows, their line
    /// numbers, and the bad records.
    #[allow(clippy::type_complexity)]
    fn convert(
        &mut self,
        path: &Path,
        target: &SchemaRef,
    ) -> Result<(RecordBatch, Vec<i64>, Vec<(Span, String)>)> {
        let n = self.spans.len();
        let schema = Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|(i, _)| Field::new(&self.names[*i], DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        let columns: Vec<ArrayRef> = self
            .columns
            .iter_mut()
            .map(|(_, c)| Arc::new(c.finish()) as ArrayRef)
            .collect();
        let text = RecordBatch::try_new_with_options(
            schema,
            columns,
            &RecordBatchOptions::new().with_row_count(Some(n)),
        )?;
        let spans = std::mem::take(&mut self.spans);
        let Conformed {
            rows,
            kept,
            failures,
        } = conform(path, &text, target)?;
        let offsets = kept.iter().map(|&i| spans[i].line as i64).collect();
        let bad = failures.into_iter().map(|(i, m)| (spans[i], m)).collect();
        Ok((rows, offsets, bad))
    }
}

/// Dead letters for the bad records, with their raw text re-read from the file.
fn dead_letters(
    path: &Path,
    source: &str,
    mut bad: Vec<(Span, String)>,
    epoch: u64,
) -> Result<RecordBatch> {
    if bad.is_empty() {
        return Ok(RecordBatch::new_empty(dead_letter::schema()));
    }
    bad.sort_by_key(|(span, _)| span.start);
    let mut file = File::open(path).map_err(|e| FileError::io(path, e))?;
    let bytes: u64 = bad.iter().map(|(s, _)| s.end - s.start).sum();
    let mut raw = RawBatchBuilder::with_capacity(source, 0, bad.len(), bytes as usize);
    let mut failures = Vec::with_capacity(bad.len());
    let mut buf = Vec::new();
    for (index, (span, message)) in bad.into_iter().enumerate() {
        buf.resize((span.end - span.start) as usize, 0);
        file.seek(SeekFrom::Start(span.start))
            .and_then(|_| file.read_exact(&mut buf))
            .map_err(|e| FileError::io(path, e))?;
        let text = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        raw.push(span.line, text);
        failures.push(ParseFailure {
            index,
            message,
            event_id: None,
        });
    }
    Ok(dead_letter::parse_errors(&raw.finish(), &failures, epoch))
}
