//! Keys, key groups and the exchange that routes batches to the worker owning a key.
//!
//! Keys are encoded with Arrow's row format, hashed with xxh3 (stable across processes and
//! runs) and folded into a fixed number of key groups, set at a job's first start (Flink's
//! max parallelism). Workers own contiguous ranges of key groups, so a job can restart with
//! another worker count and still find its state.

use std::sync::Arc;

use arrow::array::{ArrayRef, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, Rows, SortField};
use timely::communication::Push;
use timely::dataflow::channels::Message;
use timely::dataflow::channels::pact::DistributorPact;
use timely::dataflow::channels::pushers::exchange::Distributor;
use timely::progress::Stamp;
use xxhash_rust::xxh3::xxh3_64;

use crate::batch::Batches;
use crate::error::{EngineError, Result};

/// The default number of key groups of a new job.
pub const DEFAULT_KEY_GROUPS: u32 = 128;

/// Which key columns a keyed operator uses, resolved against a schema.
#[derive(Clone, Debug)]
pub struct KeyColumns {
    names: Vec<String>,
    indices: Vec<usize>,
    fields: Vec<SortField>,
}

impl KeyColumns {
    /// Resolves `names` in `schema`.
    ///
    /// # Errors
    /// [`EngineError::UnknownColumn`] when a name is missing.
    pub fn resolve(schema: &SchemaRef, names: &[String]) -> Result<Self> {
        let mut indices = Vec::with_capacity(names.len());
        let mut fields = Vec::with_capacity(names.len());
        for name in names {
            let index = column_index(schema, name)?;
            fields.push(SortField::new(schema.field(index).data_type().clone()));
            indices.push(index);
        }
        Ok(Self {
            names: names.to_vec(),
            indices,
            fields,
        })
    }

    /// The key column names, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The key columns' positions in the schema, in order.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }

    /// A converter between key columns and their row encoding.
    ///
    /// # Errors
    /// When a key type has no row encoding.
    pub fn converter(&self) -> Result<RowConverter> {
        Ok(RowConverter::new(self.fields.clone())?)
    }

    /// The key columns of `batch`.
    pub fn columns(&self, batch: &RecordBatch) -> Vec<ArrayRef> {
        self.indices
            .iter()
            .map(|&i| Arc::clone(batch.column(i)))
            .collect()
    }

    /// Encodes the keys of `batch` as rows.
    ///
    /// # Errors
    /// When the row conversion fails.
    pub fn rows(&self, converter: &RowConverter, batch: &RecordBatch) -> Result<Rows> {
        if self.indices.is_empty() {
            // No key (a window over all rows): one empty key per row, which converting
            // no columns cannot count.
            let parser = converter.parser();
            let mut rows = converter.empty_rows(batch.num_rows(), 0);
            for _ in 0..batch.num_rows() {
                rows.push(parser.parse(&[]));
            }
            return Ok(rows);
        }
        Ok(converter.convert_columns(&self.columns(batch))?)
    }
}

/// The position of the column `name` in `schema`: the column of that name, or else the
/// one column of that name in another case (names resolve whatever their case, as in
/// Spark; see [`crate::expr`]).
///
/// # Errors
/// [`EngineError::UnknownColumn`] when there is neither.
pub fn column_index(schema: &SchemaRef, name: &str) -> Result<usize> {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    name_index(&names, name).ok_or_else(|| unknown_column(schema, name))
}

/// The position among `columns` of the column `name` means: the one of that name, or
/// else the one column of that name in another case. The one rule by which names resolve
/// whatever their case, here, in expressions and in the SQL front end.
pub fn name_index(columns: &[&str], name: &str) -> Option<usize> {
    if let Some(i) = columns.iter().position(|c| *c == name) {
        return Some(i);
    }
    let lower = name.to_lowercase();
    let mut same = columns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.to_lowercase() == lower);
    match (same.next(), same.next()) {
        (Some((i, _)), None) => Some(i),
        _ => None,
    }
}

/// The error for a column missing in `schema`.
pub fn unknown_column(schema: &SchemaRef, name: &str) -> EngineError {
    EngineError::UnknownColumn {
        column: name.to_string(),
        available: schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The key group of an encoded key.
pub fn key_group(row: &[u8], key_groups: u32) -> u32 {
    (xxh3_64(row) % u64::from(key_groups)) as u32
}

/// The worker that owns `group` when `key_groups` are spread over `peers` workers.
pub fn owner(group: u32, key_groups: u32, peers: usize) -> usize {
    (group as usize * peers) / key_groups as usize
}

/// The contiguous range of key groups that worker `index` of `peers` owns.
pub fn owned_groups(index: usize, key_groups: u32, peers: usize) -> std::ops::Range<u32> {
    let groups = key_groups as usize;
    let start = (index * groups).div_ceil(peers);
    let end = ((index + 1) * groups).div_ceil(peers);
    start as u32..end as u32
}

/// Splits batches by the owner of each row's key group, with Arrow `take`.
pub struct KeyDistributor {
    keys: KeyColumns,
    converter: RowConverter,
    key_groups: u32,
    peers: usize,
}

impl KeyDistributor {
    fn route(&mut self, batch: &RecordBatch) -> Vec<Vec<u32>> {
        let mut targets = vec![Vec::new(); self.peers];
        let rows = self
            .keys
            .rows(&self.converter, batch)
            .expect("key columns were resolved against this schema");
        for (i, row) in rows.iter().enumerate() {
            let group = key_group(row.as_ref(), self.key_groups);
            targets[owner(group, self.key_groups, self.peers)].push(i as u32);
        }
        targets
    }
}

impl Distributor<Batches> for KeyDistributor {
    fn partition<T: Clone, P: Push<Message<T, Batches>>>(
        &mut self,
        container: &mut Batches,
        stamp: &Stamp<T>,
        pushers: &mut [P],
    ) {
        for batch in std::mem::take(&mut container.batches) {
            let targets = self.route(&batch);
            for (worker, indices) in targets.into_iter().enumerate() {
                if indices.is_empty() {
                    continue;
                }
                let part = if indices.len() == batch.num_rows() {
                    batch.clone()
                } else {
                    take_record_batch(&batch, &UInt32Array::from(indices))
                        .expect("indices are in bounds")
                };
                Message::push_at(&mut Batches::one(part), stamp.clone(), &mut pushers[worker]);
            }
        }
    }

    fn flush<T: Clone, P: Push<Message<T, Batches>>>(
        &mut self,
        _stamp: &Stamp<T>,
        _pushers: &mut [P],
    ) {
    }
}

/// The pact that routes each row of a batch to the worker owning its key group.
pub type KeyPact = DistributorPact<Box<dyn FnOnce(usize) -> KeyDistributor>>;

/// Builds a [`KeyPact`] for `keys` over `key_groups` groups.
///
/// # Errors
/// When the key types have no row encoding.
pub fn key_pact(keys: &KeyColumns, key_groups: u32) -> Result<KeyPact> {
    let keys = keys.clone();
    let converter = keys.converter()?;
    Ok(DistributorPact(Box::new(move |peers| KeyDistributor {
        keys,
        converter,
        key_groups,
        peers,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_is_found_by_its_name_or_its_one_match_in_another_case() {
        use arrow::datatypes::{DataType, Field, Schema};
        let schema = Arc::new(Schema::new(
            ["userId", "v", "V", "amount"]
                .map(|n| Field::new(n, DataType::Int64, true))
                .to_vec(),
        ));
        assert_eq!(column_index(&schema, "userId").unwrap(), 0);
        assert_eq!(column_index(&schema, "USERID").unwrap(), 0);
        assert_eq!(column_index(&schema, "V").unwrap(), 2, "its own name first");
        assert_eq!(column_index(&schema, "Amount").unwrap(), 3);
        assert!(matches!(
            column_index(&schema, "nope"),
            Err(EngineError::UnknownColumn { .. })
        ));
        // Two matches in other cases are neither.
        let two = Arc::new(Schema::new(vec![
            Field::new("ab", DataType::Int64, true),
            Field::new("AB", DataType::Int64, true),
        ]));
        assert!(column_index(&two, "Ab").is_err());
    }

    #[test]
    fn owned_ranges_cover_all_groups_once() {
        for peers in 1..=7 {
            let mut next = 0;
            for index in 0..peers {
                let range = owned_groups(index, 128, peers);
                assert_eq!(range.start, next);
                for g in range.clone() {
                    assert_eq!(owner(g, 128, peers), index, "group {g} peers {peers}");
                }
                next = range.end;
            }
            assert_eq!(next, 128);
        }
    }

    #[test]
    fn no_key_columns_give_every_row_the_same_empty_key() {
        use arrow::array::Int64Array;
        use arrow::datatypes::{DataType, Field, Schema};
        let schema: SchemaRef =
            Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(Int64Array::from(vec![1, 2, 3]))],
        )
        .unwrap();
        let keys = KeyColumns::resolve(&schema, &[]).unwrap();
        let converter = keys.converter().unwrap();
        let rows = keys.rows(&converter, &batch).unwrap();
        assert_eq!(rows.num_rows(), 3);
        assert!((0..3).all(|i| rows.row(i).as_ref() == rows.row(0).as_ref()));
        // The empty key decodes to no columns.
        let parser = converter.parser();
        let bytes: Vec<Vec<u8>> = (0..3).map(|i| rows.row(i).as_ref().to_vec()).collect();
        let decoded = converter
            .convert_rows(bytes.iter().map(|b| parser.parse(b)))
            .unwrap();
        assert!(decoded.is_empty());
    }
}
