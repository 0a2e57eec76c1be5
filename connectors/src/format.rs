//! Raw records and their decoding into Arrow.
//!
//! Every source hands its records to the pipeline as a [`RawBatch`]: the payload bytes of a
//! contiguous run of one partition, with the offset of each record. A decoder (for now
//! [`decoder::Decoder`] for JSON, Avro, text or bytes) turns a raw batch into an Arrow [`RecordBatch`](arrow::record_batch::RecordBatch)
//! of good rows plus a batch of dead letters, one per record that did not parse. A bad record
//! never fails the batch: it is data, routed to the dead-letter table.
//!
//! Good rows carry three *coordinate columns* after the target fields, naming where each row
//! came from: [`SOURCE_COLUMN`] (Utf8), [`PARTITION_COLUMN`] (Int32) and [`OFFSET_COLUMN`]
//! (Int64). Downstream operators keep them so that any row can be traced back to its record
//! (for dead letters, replays and debugging).

pub mod avro;
mod column;
pub mod decimal;
pub mod decoder;
pub mod json;
pub mod value;

pub use decoder::{Decoder, RecordFormat, SourceDecoder};

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BinaryArray, Int32Array, Int64Array, StringArray};
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::DataType;
use arrow::error::ArrowError;

/// Name of the coordinate column holding the source name (Utf8, not null).
pub const SOURCE_COLUMN: &str = "source";
/// Name of the coordinate column holding the source partition (Int32, not null).
pub const PARTITION_COLUMN: &str = "partition";
/// Name of the coordinate column holding the record offset in its partition (Int64, not null).
pub const OFFSET_COLUMN: &str = "offset";
/// The coordinate column names, in the order decoders append them.
pub const COORDINATE_COLUMNS: [&str; 3] = [SOURCE_COLUMN, PARTITION_COLUMN, OFFSET_COLUMN];

/// Errors of the format layer.
///
/// All of them are the user's (a schema or a batch that the decoder cannot handle); retrying
/// does not help. A record that fails to parse is *not* an error: it becomes a dead letter.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// A target field has a data type the decoder does not support.
    #[error("field {field:?}: data type {data_type} is not supported by the {format} decoder")]
    UnsupportedType {
        /// The field name.
        field: String,
        /// Its data type.
        data_type: DataType,
        /// The decoder format, e.g. `json`.
        format: &'static str,
    },
    /// A target field has the name of a coordinate column, which decoders append themselves.
    #[error("field {0:?} clashes with a coordinate column (source, partition, offset)")]
    ReservedColumn(String),
    /// A raw batch whose offsets and payloads differ in length.
    #[error("raw batch has {offsets} offsets but {payloads} payloads")]
    LengthMismatch {
        /// Number of offsets.
        offsets: usize,
        /// Number of payloads.
        payloads: usize,
    },
    /// An Avro schema file that cannot be read, parsed or matched to the target fields.
    #[error("{0}")]
    Avro(String),
    /// Building an Arrow batch failed.
    #[error(transparent)]
    Arrow(#[from] ArrowError),
}

/// Result alias of the format layer.
pub type Result<T, E = FormatError> = std::result::Result<T, E>;

/// Records read from one partition of a source, not yet decoded.
///
/// Columnar: one [`BinaryArray`] holds every payload, so a batch costs two allocations
/// whatever its length.
#[derive(Clone, Debug, PartialEq)]
pub struct RawBatch {
    /// The source name, e.g. `generator`.
    pub source: String,
    /// The partition the records were read from.
    pub partition: u32,
    /// The offset of each record, parallel to `payloads`.
    pub offsets: Vec<u64>,
    /// The payload of each record, parallel to `offsets`.
    pub payloads: BinaryArray,
}

impl RawBatch {
    /// Creates a batch, checking that `offsets` and `payloads` have the same length.
    ///
    /// # Errors
    ///
    /// [`FormatError::LengthMismatch`] if the lengths differ.
    pub fn try_new(
        source: impl Into<String>,
        partition: u32,
        offsets: Vec<u64>,
        payloads: BinaryArray,
    ) -> Result<Self> {
        if offsets.len() != payloads.len() {
            return Err(FormatError::LengthMismatch {
                offsets: offsets.len(),
                payloads: payloads.len(),
            });
        }
        Ok(Self {
            source: source.into(),
            partition,
            offsets,
            payloads,
        })
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    /// Whether the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// The payload of record `i` (a null payload reads as empty).
    ///
    /// # Panics
    ///
    /// If `i >= self.len()`.
    pub fn payload(&self, i: usize) -> &[u8] {
        self.payloads.value(i)
    }

    /// Total payload bytes.
    pub fn payload_bytes(&self) -> usize {
        self.payloads.value_data().len()
    }
}

/// Builds a [`RawBatch`] record by record, writing payloads straight into one buffer.
#[derive(Debug)]
pub struct RawBatchBuilder {
    source: String,
    partition: u32,
    offsets: Vec<u64>,
    ends: Vec<i32>,
    values: Vec<u8>,
}

impl RawBatchBuilder {
    /// A builder for `records` records of about `bytes` payload bytes in total (capacity hints).
    pub fn with_capacity(
        source: impl Into<String>,
        partition: u32,
        records: usize,
        bytes: usize,
    ) -> Self {
        let mut ends = Vec::with_capacity(records + 1);
        ends.push(0);
        Self {
            source: source.into(),
            partition,
            offsets: Vec::with_capacity(records),
            ends,
            values: Vec::with_capacity(bytes),
        }
    }

    /// Appends a record with a copy of `payload`.
    ///
    /// # Panics
    ///
    /// If the batch's payloads exceed `i32::MAX` bytes in total.
    pub fn push(&mut self, offset: u64, payload: &[u8]) {
        self.push_with(offset, |buf| buf.extend_from_slice(payload));
    }

    /// Appends a record whose payload `write` appends to the buffer it is given.
    ///
    /// `write` must only append to the buffer.
    ///
    /// # Panics
    ///
    /// If the batch's payloads exceed `i32::MAX` bytes in total, or `write` shrank the buffer.
    pub fn push_with(&mut self, offset: u64, write: impl FnOnce(&mut Vec<u8>)) {
        let before = self.values.len();
        write(&mut self.values);
        assert!(
            self.values.len() >= before,
            "payload writer shrank the buffer"
        );
        let end = i32::try_from(self.values.len()).expect("raw batch payloads exceed 2 GiB");
        self.offsets.push(offset);
        self.ends.push(end);
    }

    /// Number of records pushed so far.
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    /// Whether no record was pushed yet.
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// Finishes the batch.
    pub fn finish(self) -> RawBatch {
        let ends = OffsetBuffer::new(ScalarBuffer::from(self.ends));
        let payloads = BinaryArray::new(ends, Buffer::from_vec(self.values), None);
        RawBatch {
            source: self.source,
            partition: self.partition,
            offsets: self.offsets,
            payloads,
        }
    }
}

/// The coordinate columns of `offsets.len()` rows from `source`'s `partition`, in the
/// order and types of [`coordinate_fields`].
pub fn coordinate_columns(source: &str, partition: u32, offsets: Vec<i64>) -> [ArrayRef; 3] {
    Coordinates::new(source, partition).columns(offsets)
}

/// The coordinate columns of one file, partition or shard, batch after batch: its
/// `source` and `partition` columns, the same value on every row, are built once for the
/// longest batch and sliced for the others (no copy), not built again for each.
pub struct Coordinates<'a> {
    source: &'a str,
    partition: u32,
    repeated: Option<[ArrayRef; 2]>,
}

impl<'a> Coordinates<'a> {
    /// The coordinates of rows from `source`'s `partition`.
    pub fn new(source: &'a str, partition: u32) -> Self {
        Self {
            source,
            partition,
            repeated: None,
        }
    }

    /// The coordinate columns of `offsets.len()` rows at `offsets`.
    pub fn columns(&mut self, offsets: Vec<i64>) -> [ArrayRef; 3] {
        let n = offsets.len();
        let built = self.repeated.as_ref().filter(|r| r[0].len() >= n);
        let [source, partition] = match built {
            Some(built) => built,
            None => self.repeated.insert([
                // The bytes repeated by doubling copies and an arithmetic series of
                // offsets, not `n` appends. Utf8 still holds `n` copies: a 60-byte path is
                // 3.9 MB per 64Ki rows, hence the reuse.
                Arc::new(StringArray::new_repeated(self.source, n)),
                Arc::new(Int32Array::from(vec![self.partition as i32; n])),
            ]),
        };
        [
            source.slice(0, n),
            partition.slice(0, n),
            Arc::new(Int64Array::from(offsets)),
        ]
    }
}

/// The coordinate columns' fields, as decoders append them to the target fields.
pub fn coordinate_fields() -> [arrow::datatypes::FieldRef; 3] {
    [
        Arc::new(arrow::datatypes::Field::new(
            SOURCE_COLUMN,
            DataType::Utf8,
            false,
        )),
        Arc::new(arrow::datatypes::Field::new(
            PARTITION_COLUMN,
            DataType::Int32,
            false,
        )),
        Arc::new(arrow::datatypes::Field::new(
            OFFSET_COLUMN,
            DataType::Int64,
            false,
        )),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_repeat_their_source_without_building_it_again() {
        use arrow::array::AsArray;
        let mut coordinates = Coordinates::new("dir/a.parquet", 3);
        let text = |c: &ArrayRef| -> Vec<String> {
            let c = c.as_string::<i32>();
            c.iter().map(|v| v.unwrap().to_owned()).collect()
        };
        let first = coordinates.columns(vec![0, 1, 2, 3]);
        let second = coordinates.columns(vec![4, 5]);
        assert_eq!(text(&second[0]), ["dir/a.parquet"; 2]);
        assert_eq!(
            second[1]
                .as_primitive::<arrow::datatypes::Int32Type>()
                .values(),
            &[3, 3]
        );
        assert_eq!(
            second[2]
                .as_primitive::<arrow::datatypes::Int64Type>()
                .values(),
            &[4, 5]
        );
        let bytes = |c: &ArrayRef| c.as_string::<i32>().values().as_ptr();
        assert_eq!(
            bytes(&first[0]),
            bytes(&second[0]),
            "the first batch's bytes"
        );
        // A longer batch builds them again.
        let third = coordinates.columns((6..12).collect());
        assert_eq!(text(&third[0]), ["dir/a.parquet"; 6]);
        assert_eq!(third[1].len(), 6);
        assert_eq!(text(&first[0]), ["dir/a.parquet"; 4]);
    }

    #[test]
    fn builder_round_trip() {
        let mut b = RawBatchBuilder::with_capacity("s", 3, 2, 8);
        assert!(b.is_empty());
        b.push(10, b"abc");
        b.push_with(11, |buf| buf.extend_from_slice(b""));
        b.push(12, b"{}");
        assert_eq!(b.len(), 3);
        let raw = b.finish();
        assert_eq!(raw.len(), 3);
        assert_eq!(raw.offsets, vec![10, 11, 12]);
        assert_eq!(raw.payload(0), b"abc");
        assert_eq!(raw.payload(1), b"");
        assert_eq!(raw.payload(2), b"{}");
        assert_eq!(raw.payload_bytes(), 5);
        let again = RawBatch::try_new("s", 3, raw.offsets.clone(), raw.payloads.clone()).unwrap();
        assert_eq!(again, raw);
    }

    #[test]
    fn length_mismatch_is_an_error() {
        let payloads = BinaryArray::from_iter_values([b"a".as_slice()]);
        let err = RawBatch::try_new("s", 0, vec![1, 2], payloads).unwrap_err();
        assert!(matches!(
            err,
            FormatError::LengthMismatch {
                offsets: 2,
                payloads: 1
            }
        ));
    }
}
