//! Messages taken whole, as one `value` column of text or bytes.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::{RawBatch, Result, coordinate_columns, coordinate_fields};
use crate::dead_letter::{self, ParseFailure, PayloadText};

/// The column raw formats decode into.
pub const VALUE_COLUMN: &str = "value";

/// Decodes each message into a `value` column: UTF-8 text (`string`) or bytes (`bytes`).
///
/// With `string`, a message that is not valid UTF-8 is a `parse_error` dead letter (its
/// payload written as base64); with `bytes` every message decodes.
#[derive(Debug)]
pub struct ValueDecoder {
    text: bool,
    output: SchemaRef,
}

impl ValueDecoder {
    /// A decoder into text (`text == true`) or bytes.
    pub fn new(text: bool) -> Self {
        let data_type = if text {
            DataType::Utf8
        } else {
            DataType::Binary
        };
        let mut fields = vec![Arc::new(Field::new(VALUE_COLUMN, data_type, false))];
        fields.extend(coordinate_fields());
        Self {
            text,
            output: Arc::new(Schema::new(fields)),
        }
    }

    /// The schema of good rows: `value`, then the coordinate columns.
    pub fn output_schema(&self) -> &SchemaRef {
        &self.output
    }

    /// Decodes `raw`.
    ///
    /// # Errors
    /// Only if building the Arrow batch fails.
    pub fn decode(&self, raw: &RawBatch, epoch: u64) -> Result<(RecordBatch, RecordBatch)> {
        if !self.text {
            let kept: Vec<usize> = (0..raw.len()).collect();
            return self.finish(raw, &kept, Arc::new(raw.payloads.clone()), &[], epoch);
        }
        let mut failures = Vec::new();
        let mut good = Vec::with_capacity(raw.len());
        for i in 0..raw.len() {
            match std::str::from_utf8(raw.payload(i)) {
                Ok(s) => good.push((i, s)),
                Err(e) => failures.push(ParseFailure {
                    index: i,
                    message: format!("not UTF-8 text: {e}"),
                    event_id: None,
                }),
            }
        }
        let kept: Vec<usize> = good.iter().map(|(i, _)| *i).collect();
        let strings = StringArray::from_iter_values(good.into_iter().map(|(_, s)| s));
        self.finish(raw, &kept, Arc::new(strings), &failures, epoch)
    }

    fn finish(
        &self,
        raw: &RawBatch,
        kept: &[usize],
        value: ArrayRef,
        failures: &[ParseFailure],
        epoch: u64,
    ) -> Result<(RecordBatch, RecordBatch)> {
        let offsets = kept.iter().map(|&i| raw.offsets[i] as i64).collect();
        let mut columns = vec![value];
        columns.extend(coordinate_columns(&raw.source, raw.partition, offsets));
        let rows = RecordBatch::try_new(self.output.clone(), columns)?;
        let dead = dead_letter::parse_errors_as(raw, failures, epoch, PayloadText::Base64);
        Ok((rows, dead))
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::AsArray;
    use arrow::datatypes::Int64Type;

    use super::*;
    use crate::format::RawBatchBuilder;

    fn raw() -> RawBatch {
        let mut b = RawBatchBuilder::with_capacity("t", 1, 3, 16);
        b.push(5, b"hello");
        b.push(6, &[0xff, 0xfe]);
        b.push(7, b"");
        b.finish()
    }

    #[test]
    fn text_keeps_valid_utf8_and_routes_the_rest() {
        let (rows, dead) = ValueDecoder::new(true).decode(&raw(), 2).unwrap();
        let values = rows.column(0).as_string::<i32>();
        assert_eq!((values.value(0), values.value(1)), ("hello", ""));
        let offsets = rows.column_by_name("offset").unwrap();
        assert_eq!(offsets.as_primitive::<Int64Type>().values(), &[5, 7]);
        assert_eq!(dead.num_rows(), 1);
        let payload = dead.column_by_name("payload").unwrap().as_string::<i32>();
        assert_eq!(payload.value(0), "base64://4=");
        let offsets = dead.column_by_name("offset").unwrap();
        assert_eq!(offsets.as_primitive::<Int64Type>().values(), &[6]);
    }

    #[test]
    fn bytes_keep_everything() {
        let (rows, dead) = ValueDecoder::new(false).decode(&raw(), 2).unwrap();
        assert_eq!(rows.num_rows(), 3);
        assert_eq!(rows.column(0).as_binary::<i32>().value(1), &[0xff, 0xfe]);
        assert_eq!(dead.num_rows(), 0);
    }
}
