//! Schema inference, for jobs that declare no schema; the rules are in the
//! [module documentation](super).

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor};
use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow_csv::reader::Format;

use super::avro::avro_schema;
use super::columnar::{orc_schema, parquet_schema};
use super::config::{FileFormat, FileSourceConfig};
use super::csv::{names, reader};
use super::error::{FileError, Result};
use super::listing::ListedFile;

/// An inferred schema and how it was found.
#[derive(Clone, Debug)]
pub(crate) struct Inferred {
    /// The data columns.
    pub schema: Schema,
    /// Where it came from, for the user.
    pub origin: String,
}

/// Infers the data schema of `files` (in read order).
///
/// # Errors
/// [`FileError::Inference`] with no files or no sample records, or a read error.
pub(crate) fn infer(config: &FileSourceConfig, files: &[ListedFile]) -> Result<Inferred> {
    let Some(first) = files.first() else {
        return Err(FileError::Inference(format!(
            "no {} files under {} to infer it from; declare the job's schema",
            config.format, config.path
        )));
    };
    let from_first = |schema: Schema| Inferred {
        schema: normalize(schema),
        origin: format!("the metadata of {}", first.rel),
    };
    Ok(match config.format {
        FileFormat::Parquet => from_first(parquet_schema(&first.path)?),
        FileFormat::Orc => from_first(orc_schema(&first.path)?),
        FileFormat::Avro => from_first(avro_schema(&first.path)?),
        FileFormat::Csv => infer_csv(config, files)?,
        FileFormat::Json => infer_json(config, files)?,
    })
}

fn open(path: &Path) -> Result<BufReader<File>> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|e| FileError::io(path, e))
}

/// Describes a sample for [`Inferred::origin`].
fn sample(records: usize, unit: &str, files: &[&str]) -> String {
    format!(
        "the first {records} {unit}{} of {} file{} ({})",
        if records == 1 { "" } else { "s" },
        files.len(),
        if files.len() == 1 { "" } else { "s" },
        files.join(", ")
    )
}

fn infer_csv(config: &FileSourceConfig, files: &[ListedFile]) -> Result<Inferred> {
    let options = &config.csv;
    let mut header: Option<Vec<String>> = None;
    let mut out = csv::WriterBuilder::new()
        .delimiter(options.delimiter as u8)
        .quote(options.quote as u8)
        .from_writer(Vec::new());
    let mut records = 0;
    let mut used = Vec::new();
    let mut record = csv::ByteRecord::new();
    for file in files {
        if records >= config.infer_records {
            break;
        }
        let mut csv = reader(options, open(&file.path)?);
        let mut read = |record: &mut csv::ByteRecord| {
            csv.read_byte_record(record)
                .map_err(|e| FileError::corrupt(&file.path, e))
        };
        if options.header {
            if !read(&mut record)? {
                continue;
            }
            // Later files are expected to have the same header; it is skipped.
            if header.is_none() {
                let names = names(Some(&record), record.len());
                out_header(&mut out, &names, &file.path)?;
                header = Some(names);
            }
        }
        used.push(file.rel.as_str());
        while records < config.infer_records && read(&mut record)? {
            let width = match &header {
                Some(names) => names.len(),
                None => {
                    // Without a header, the first record gives the number of columns.
                    let names = names(None, record.len());
                    out_header(&mut out, &names, &file.path)?;
                    header = Some(names);
                    record.len()
                }
            };
            write(&mut out, &record, &mut records, width, &file.path)?;
        }
    }
    if header.is_none() {
        return Err(FileError::Inference(format!(
            "the CSV files under {} are empty; declare the job's schema",
            config.path
        )));
    }
    let sampled = out
        .into_inner()
        .map_err(|e| FileError::Internal(e.to_string()))?;
    let (schema, _) = Format::default()
        .with_header(true)
        .with_delimiter(options.delimiter as u8)
        .with_quote(options.quote as u8)
        .infer_schema(Cursor::new(sampled), None)
        .map_err(|e| FileError::Inference(e.to_string()))?;
    Ok(Inferred {
        schema: normalize(schema),
        origin: sample(records, "record", &used),
    })
}

fn out_header(out: &mut csv::Writer<Vec<u8>>, names: &[String], path: &Path) -> Result<()> {
    out.write_record(names)
        .map_err(|e| FileError::corrupt(path, e))
}

/// Adds `record` to the sample if it has `width` fields.
fn write(
    out: &mut csv::Writer<Vec<u8>>,
    record: &csv::ByteRecord,
    records: &mut usize,
    width: usize,
    path: &Path,
) -> Result<()> {
    if record.len() == width {
        out.write_byte_record(record)
            .map_err(|e| FileError::corrupt(path, e))?;
        *records += 1;
    }
    Ok(())
}

fn infer_json(config: &FileSourceConfig, files: &[ListedFile]) -> Result<Inferred> {
    let mut values = Vec::new();
    let mut order: Vec<String> = Vec::new();
    let mut used = Vec::new();
    for file in files {
        if values.len() >= config.infer_records {
            break;
        }
        used.push(file.rel.as_str());
        for line in open(&file.path)?.split(b'\n') {
            let line = line.map_err(|e| FileError::io(&file.path, e))?;
            if let Ok(value @ serde_json::Value::Object(_)) =
                serde_json::from_slice::<serde_json::Value>(&line)
            {
                if let Ok(Keys(keys)) = serde_json::from_slice::<Keys>(&line) {
                    for key in keys {
                        if !order.contains(&key) {
                            order.push(key);
                        }
                    }
                }
                values.push(value);
                if values.len() >= config.infer_records {
                    break;
                }
            }
        }
    }
    if values.is_empty() {
        return Err(FileError::Inference(format!(
            "no JSON object in the files under {}; declare the job's schema",
            config.path
        )));
    }
    let records = values.len();
    let schema = arrow_json::reader::infer_json_schema_from_iterator(values.into_iter().map(Ok))
        .map_err(|e| FileError::Inference(e.to_string()))?;
    // Arrow sorts the keys; put the columns in the order the keys first appear.
    let mut fields: Vec<_> = schema.fields().iter().cloned().collect();
    fields.sort_by_key(|f| {
        order
            .iter()
            .position(|k| k == f.name())
            .unwrap_or(usize::MAX)
    });
    Ok(Inferred {
        schema: normalize(Schema::new(fields)),
        origin: sample(records, "object", &used),
    })
}

/// The top-level keys of a JSON object, in the order they appear.
struct Keys(Vec<String>);

impl<'de> serde::Deserialize<'de> for Keys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Keys;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    map.next_value::<serde::de::IgnoredAny>()?;
                    keys.push(key);
                }
                Ok(Keys(keys))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// Makes every field nullable, null columns Utf8, and timestamps microseconds.
fn normalize(schema: Schema) -> Schema {
    Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| {
                let data_type = match f.data_type() {
                    DataType::Null => DataType::Utf8,
                    DataType::Timestamp(_, tz) => {
                        DataType::Timestamp(TimeUnit::Microsecond, tz.clone())
                    }
                    other => other.clone(),
                };
                Arc::new(Field::new(f.name(), data_type, true))
            })
            .collect::<Vec<_>>(),
    )
}

/// A line per field, `name: type`, for logs and the CLI.
pub(crate) fn describe(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| format!("  {}: {}", f.name(), f.data_type()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_widens_nulls_and_timestamps() {
        let schema = normalize(Schema::new(vec![
            Field::new("a", DataType::Null, true),
            Field::new("t", DataType::Timestamp(TimeUnit::Second, None), false),
            Field::new("n", DataType::Int64, false),
        ]));
        assert_eq!(schema.field(0).data_type(), &DataType::Utf8);
        assert_eq!(
            schema.field(1).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, None)
        );
        assert!(schema.fields().iter().all(|f| f.is_nullable()));
    }
}
