//! Parquet and ORC files: read in record batches of [`BATCH_ROWS`] rows, each converted to
//! the source's schema and handed on as soon as it is decoded (never copied into one batch
//! per file, nor held until the file ends). The `offset` of a row is its 0-based index in
//! the file.

use std::fs::File;
use std::path::Path;

use arrow::datatypes::{Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::convert::{Conformed, Decoded, conform, row_dead_letters};
use super::error::{FileError, Result};

/// Rows per record batch read from a columnar file.
pub(crate) const BATCH_ROWS: usize = 64 * 1024;

fn open(path: &Path) -> Result<File> {
    File::open(path).map_err(|e| FileError::io(path, e))
}

/// The Arrow schema of a Parquet file, from its footer.
///
/// # Errors
/// When the file cannot be opened or is not Parquet.
pub(crate) fn parquet_schema(path: &Path) -> Result<Schema> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(open(path)?)
        .map_err(|e| FileError::corrupt(path, e))?;
    Ok(Schema::new(builder.schema().fields().clone()))
}

/// The Arrow schema of an ORC file, timestamps in microseconds.
///
/// # Errors
/// When the file cannot be opened or is not ORC.
pub(crate) fn orc_schema(path: &Path) -> Result<Schema> {
    let builder = orc_rust::ArrowReaderBuilder::try_new(open(path)?)
        .map_err(|e| FileError::corrupt(path, e))?;
    let schema = builder
        .with_timestamp_precision(orc_rust::TimestampPrecision::Microsecond)
        .schema();
    Ok(Schema::new(schema.fields().clone()))
}

/// Reads the Parquet file at `path` (rows named `source`) into `target`, only the columns
/// `target` names, handing `each` every batch as it is decoded.
///
/// # Errors
/// When the file cannot be read, or its columns cannot be converted to `target`; or what
/// `each` fails with.
pub(crate) fn read_parquet<E: From<FileError>>(
    path: &Path,
    (source, target): (&str, &SchemaRef),
    epoch: u64,
    each: &mut dyn FnMut(Decoded) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(open(path)?)
        .map_err(|e| FileError::corrupt(path, e))?;
    let roots: Vec<usize> = builder
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| target.field_with_name(f.name()).is_ok())
        .map(|(i, _)| i)
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| FileError::corrupt(path, e))?;
    each_batch(path, (source, target), epoch, reader, each)
}

/// Reads the ORC file at `path` into `target`, as [`read_parquet`].
///
/// # Errors
/// As [`read_parquet`].
pub(crate) fn read_orc<E: From<FileError>>(
    path: &Path,
    (source, target): (&str, &SchemaRef),
    epoch: u64,
    each: &mut dyn FnMut(Decoded) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let reader = orc_rust::ArrowReaderBuilder::try_new(open(path)?)
        .map_err(|e| FileError::corrupt(path, e))?
        .with_timestamp_precision(orc_rust::TimestampPrecision::Microsecond)
        .with_batch_size(BATCH_ROWS)
        .build();
    each_batch(path, (source, target), epoch, reader, each)
}

/// Converts each batch of `batches` and hands it to `each`.
fn each_batch<E: From<FileError>>(
    path: &Path,
    (source, target): (&str, &SchemaRef),
    epoch: u64,
    batches: impl Iterator<Item = std::result::Result<RecordBatch, ArrowError>>,
    each: &mut dyn FnMut(Decoded) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let mut first_row = 0i64;
    for batch in batches {
        let batch = batch.map_err(|e| FileError::corrupt(path, e))?;
        let n = batch.num_rows() as i64;
        let offsets: Vec<i64> = (first_row..first_row + n).collect();
        let Conformed {
            rows,
            kept,
            failures,
        } = conform(path, &batch, target)?;
        let dead = row_dead_letters(&batch, source, &offsets, &failures, epoch)?;
        first_row += n;
        each(Decoded {
            data: vec![rows],
            offsets: kept.iter().map(|&i| offsets[i]).collect(),
            dead,
        })?;
    }
    Ok(())
}
