//! The record formats a source can decode, chosen by a job's `source.format`.

use std::sync::OnceLock;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use super::avro::{AvroConfig, AvroDecoder};
use super::json::JsonDecoder;
use super::value::ValueDecoder;
use super::{FormatError, RawBatch, Result};

/// How a source's messages are encoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordFormat {
    /// One JSON object per message, decoded into the job's `schema`.
    #[default]
    Json,
    /// One Avro datum per message (writer schema from `source.avro.schema-file`), decoded
    /// into the job's `schema`.
    Avro,
    /// The whole message as UTF-8 text, in a `value` column.
    String,
    /// The whole message as bytes, in a `value` column.
    Bytes,
}

impl RecordFormat {
    /// The name used in job files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Avro => "avro",
            Self::String => "string",
            Self::Bytes => "bytes",
        }
    }

    /// Whether the format decodes into the job's `schema` fields (rather than `value`).
    pub fn has_fields(self) -> bool {
        matches!(self, Self::Json | Self::Avro)
    }
}

/// A decoder of any [`RecordFormat`].
#[derive(Debug)]
pub enum Decoder {
    /// JSON objects.
    Json(JsonDecoder),
    /// Avro datums.
    Avro(AvroDecoder),
    /// Whole messages as text or bytes.
    Value(ValueDecoder),
}

impl Decoder {
    /// The decoder for `format` into `fields` (ignored by `string` and `bytes`).
    ///
    /// # Errors
    /// A bad target schema, a missing `avro` section for Avro, or an unreadable or
    /// incompatible Avro schema file.
    pub fn build(
        format: RecordFormat,
        avro: Option<&AvroConfig>,
        fields: SchemaRef,
    ) -> Result<Self> {
        Ok(match format {
            RecordFormat::Json => Self::Json(JsonDecoder::try_new(fields)?),
            RecordFormat::Avro => {
                let avro = avro.ok_or_else(|| {
                    FormatError::Avro("format `avro` needs `avro.schema-file`".into())
                })?;
                Self::Avro(AvroDecoder::from_config(avro, fields)?)
            }
            RecordFormat::String => Self::Value(ValueDecoder::new(true)),
            RecordFormat::Bytes => Self::Value(ValueDecoder::new(false)),
        })
    }

    /// The schema of good rows.
    pub fn output_schema(&self) -> &SchemaRef {
        match self {
            Self::Json(d) => d.output_schema(),
            Self::Avro(d) => d.output_schema(),
            Self::Value(d) => d.output_schema(),
        }
    }

    /// Decodes `raw` into good rows and `parse_error` dead letters stamped with `epoch`.
    ///
    /// # Errors
    /// Only for a broken batch or target schema, never for a bad record.
    pub fn decode(&self, raw: &RawBatch, epoch: u64) -> Result<(RecordBatch, RecordBatch)> {
        match self {
            Self::Json(d) => d.decode(raw, epoch),
            Self::Avro(d) => d.decode(raw, epoch),
            Self::Value(d) => d.decode(raw, epoch),
        }
    }
}

impl Decoder {
    /// This decoder for only the fields `columns` names, the others skipped as records
    /// are parsed; `None` for a format that decodes every field anyway (Avro datums are
    /// read field by field in the writer's order; `string` and `bytes` have one column).
    pub fn narrowed(&self, columns: &[String]) -> Option<Self> {
        match self {
            Self::Json(d) => Some(Self::Json(d.narrowed(columns))),
            Self::Avro(_) | Self::Value(_) => None,
        }
    }
}

/// A streaming source's decoder, which a job that reads only some columns narrows once,
/// before the first read (a source holding connections is narrowed in place rather
/// than copied).
#[derive(Debug)]
pub struct SourceDecoder {
    full: Decoder,
    narrowed: OnceLock<Decoder>,
}

impl SourceDecoder {
    /// `full`, not narrowed yet.
    pub fn new(full: Decoder) -> Self {
        Self {
            full,
            narrowed: OnceLock::new(),
        }
    }

    /// The decoder in use.
    pub fn get(&self) -> &Decoder {
        self.narrowed.get().unwrap_or(&self.full)
    }

    /// Decodes only `columns` from now on; whether it could (once, and for a format that
    /// can skip fields).
    pub fn narrow(&self, columns: &[String]) -> bool {
        self.full
            .narrowed(columns)
            .is_some_and(|d| self.narrowed.set(d).is_ok())
    }
}

impl From<JsonDecoder> for Decoder {
    fn from(d: JsonDecoder) -> Self {
        Self::Json(d)
    }
}

impl std::fmt::Display for RecordFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
