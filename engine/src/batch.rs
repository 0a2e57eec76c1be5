//! Arrow record batches as a timely container.
//!
//! Data crosses timely streams as [`Batches`]: a small vector of Arrow [`RecordBatch`]es that
//! share one schema. Within a process they move by pointer; across processes they are
//! encoded as Arrow IPC bytes ([`ContainerBytes`]).

use std::io::Write;
use std::sync::Arc;

use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;
use timely::Accountable;
use timely::dataflow::channels::ContainerBytes;

/// A timely container of Arrow record batches.
#[derive(Clone, Debug, Default)]
pub struct Batches {
    /// The batches, all with the same schema. Empty batches are allowed but useless.
    pub batches: Vec<RecordBatch>,
}

impl Batches {
    /// A container holding one batch.
    pub fn one(batch: RecordBatch) -> Self {
        Self {
            batches: vec![batch],
        }
    }

    /// Total rows across the batches.
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// Encodes the batches as one Arrow IPC stream.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(first) = self.batches.first() {
            let mut writer =
                StreamWriter::try_new(&mut out, first.schema_ref()).expect("ipc writer on a Vec");
            for batch in &self.batches {
                writer.write(batch).expect("ipc write to a Vec");
            }
            writer.finish().expect("ipc finish to a Vec");
        }
        out
    }
}

impl Accountable for Batches {
    // Rows, not batches: a distributor splits one batch into per-worker batches and must
    // preserve the count that progress tracking sees.
    fn record_count(&self) -> i64 {
        i64::try_from(self.rows()).unwrap_or(i64::MAX)
    }
}

impl ContainerBytes for Batches {
    fn from_bytes(bytes: timely::bytes::arc::Bytes) -> Self {
        let len = u64::from_le_bytes(bytes[..8].try_into().expect("8-byte length prefix"));
        let len = usize::try_from(len).expect("length fits usize");
        if len == 0 {
            return Self::default();
        }
        let reader = StreamReader::try_new(&bytes[8..8 + len], None).expect("valid ipc stream");
        let batches = reader
            .collect::<Result<Vec<_>, _>>()
            .expect("valid ipc batches");
        Self { batches }
    }

    fn length_in_bytes(&self) -> usize {
        let len = 8 + self.encode().len();
        (len + 7) & !7
    }

    fn into_bytes<W: Write>(&self, writer: &mut W) {
        let encoded = self.encode();
        writer
            .write_all(&(encoded.len() as u64).to_le_bytes())
            .expect("write length");
        writer.write_all(&encoded).expect("write ipc");
        let written = 8 + encoded.len();
        let slop = ((written + 7) & !7) - written;
        writer.write_all(&[0u8; 8][..slop]).expect("write padding");
    }
}

/// An empty batch with `schema`.
pub fn empty(schema: &arrow::datatypes::SchemaRef) -> RecordBatch {
    RecordBatch::new_empty(Arc::clone(schema))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    #[test]
    fn ipc_round_trip_preserves_batches() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, false),
            Field::new("b", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                Arc::new(StringArray::from(vec![Some("x"), None, Some("z")])),
            ],
        )
        .unwrap();
        let batches = Batches {
            batches: vec![batch.clone(), batch.slice(1, 2)],
        };
        let mut bytes = Vec::new();
        batches.into_bytes(&mut bytes);
        assert_eq!(bytes.len(), batches.length_in_bytes());
        let back = Batches::from_bytes(timely::bytes::arc::BytesMut::from(bytes).freeze());
        assert_eq!(back.batches, batches.batches);
        assert_eq!(back.rows(), 5);
    }
}
