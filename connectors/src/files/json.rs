//! JSON-lines files: one JSON object per line, blank lines skipped, decoded in chunks of
//! [`CHUNK_LINES`] lines. The `offset` of a row is its 1-based line number.
//!
//! When the schema was declared and every field has a type the house [`JsonDecoder`] supports (Utf8,
//! Int64, Int32, Float64, Boolean, Timestamp(µs), Date32), lines are decoded exactly as
//! JSON messages from Kafka are: timestamps are RFC 3339 strings or epoch milliseconds.
//! Other schemas (nested lists and structs, other widths) are decoded by `arrow-json`
//! (which also reads numbers and booleans into string fields); a chunk that fails is
//! decoded again line by line so that only the bad lines become dead letters.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::concat_batches;
use arrow::datatypes::{Int64Type, SchemaRef};
use arrow_json::ReaderBuilder;

use super::convert::Decoded;
use super::error::{FileError, Result};
use crate::dead_letter::{self, ParseFailure};
use crate::format::json::JsonDecoder;
use crate::format::{FormatError, RawBatch, RawBatchBuilder};

/// Lines decoded at a time.
const CHUNK_LINES: usize = 64 * 1024;

/// How lines are decoded.
#[derive(Debug)]
pub(crate) enum JsonLines {
    /// With the house decoder.
    House(JsonDecoder),
    /// With `arrow-json`, into this schema.
    Arrow(SchemaRef),
}

impl JsonLines {
    /// The decoder for `target`. An inferred schema (`declared == false`) is always read
    /// with `arrow-json`, whose inference chose it: a column it made Utf8 because it saw
    /// both numbers and strings then keeps the numbers (as text).
    ///
    /// # Errors
    /// A field named like a coordinate column.
    pub fn new(target: &SchemaRef, declared: bool) -> std::result::Result<Self, FormatError> {
        if !declared {
            return Ok(Self::Arrow(target.clone()));
        }
        match JsonDecoder::try_new(target.clone()) {
            Ok(decoder) => Ok(Self::House(decoder)),
            Err(FormatError::UnsupportedType { .. }) => Ok(Self::Arrow(target.clone())),
            Err(e) => Err(e),
        }
    }

    /// Reads the file at `path` (rows named `source`).
    ///
    /// # Errors
    /// When the file cannot be read.
    pub fn read(
        &self,
        path: &Path,
        source: &str,
        target: &SchemaRef,
        epoch: u64,
    ) -> Result<Decoded> {
        let file = File::open(path).map_err(|e| FileError::io(path, e))?;
        let mut input = BufReader::new(file);
        let mut line = Vec::new();
        let mut number = 0u64;
        let mut chunk = RawBatchBuilder::with_capacity(source, 0, 1024, 64 * 1024);
        let mut parts = Vec::new();
        loop {
            line.clear();
            let read = input
                .read_until(b'\n', &mut line)
                .map_err(|e| FileError::io(path, e))?;
            if read > 0 {
                number += 1;
                let text = line.strip_suffix(b"\n").unwrap_or(&line);
                let text = text.strip_suffix(b"\r").unwrap_or(text);
                if !text.iter().all(u8::is_ascii_whitespace) {
                    chunk.push(number, text);
                }
            }
            if chunk.len() >= CHUNK_LINES || (read == 0 && !chunk.is_empty()) {
                let raw = std::mem::replace(
                    &mut chunk,
                    RawBatchBuilder::with_capacity(source, 0, 1024, 64 * 1024),
                )
                .finish();
                parts.push(self.decode(&raw, target, epoch)?);
            }
            if read == 0 {
                break;
            }
        }
        Decoded::concat(parts)
    }

    fn decode(&self, raw: &RawBatch, target: &SchemaRef, epoch: u64) -> Result<Decoded> {
        match self {
            Self::House(decoder) => {
                let (rows, dead) = decoder
                    .decode(raw, epoch)
                    .map_err(|e| FileError::Internal(e.to_string()))?;
                let width = target.fields().len();
                let offsets = rows
                    .column(width + 2)
                    .as_primitive::<Int64Type>()
                    .values()
                    .to_vec();
                let data = rows.project(&(0..width).collect::<Vec<_>>())?;
                let data = RecordBatch::try_new(target.clone(), data.columns().to_vec())?;
                Ok(Decoded {
                    data: vec![data],
                    offsets,
                    dead,
                })
            }
            Self::Arrow(schema) => decode_arrow(schema, raw, epoch),
        }
    }
}

/// Decodes `raw` with `arrow-json`: all at once, or line by line if that fails.
fn decode_arrow(schema: &SchemaRef, raw: &RawBatch, epoch: u64) -> Result<Decoded> {
    let n = raw.len();
    let mut joined = Vec::with_capacity(raw.payload_bytes() + n);
    for i in 0..n {
        joined.extend_from_slice(raw.payload(i));
        joined.push(b'\n');
    }
    if let Ok(batch) = decode_exactly(schema, &joined, n) {
        return Ok(Decoded {
            data: vec![batch],
            offsets: raw.offsets.iter().map(|&o| o as i64).collect(),
            dead: RecordBatch::new_empty(dead_letter::schema()),
        });
    }
    let mut good = Vec::new();
    let mut offsets = Vec::new();
    let mut failures = Vec::new();
    for i in 0..n {
        match decode_exactly(schema, raw.payload(i), 1) {
            Ok(batch) => {
                good.push(batch);
                offsets.push(raw.offsets[i] as i64);
            }
            Err(message) => failures.push(ParseFailure {
                index: i,
                message,
                event_id: None,
            }),
        }
    }
    Ok(Decoded {
        data: vec![concat_batches(schema, &good)?],
        offsets,
        dead: dead_letter::parse_errors(raw, &failures, epoch),
    })
}

/// Decodes `bytes` into exactly `rows` rows of `schema`, or says what is wrong.
fn decode_exactly(
    schema: &SchemaRef,
    bytes: &[u8],
    rows: usize,
) -> std::result::Result<RecordBatch, String> {
    let mut decoder = ReaderBuilder::new(schema.clone())
        .with_batch_size(rows + 1)
        .with_coerce_primitive(true)
        .build_decoder()
        .map_err(|e| e.to_string())?;
    let consumed = decoder.decode(bytes).map_err(|e| e.to_string())?;
    let batch = decoder
        .flush()
        .map_err(|e| e.to_string())?
        .unwrap_or_else(|| RecordBatch::new_empty(schema.clone()));
    if consumed != bytes.len() || batch.num_rows() != rows {
        return Err(format!(
            "expected one JSON object per line, got {} values",
            batch.num_rows()
        ));
    }
    if let Some((field, _)) = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .find(|(f, c)| !f.is_nullable() && c.null_count() > 0)
    {
        return Err(format!("field {:?}: missing or null", field.name()));
    }
    Ok(batch)
}
