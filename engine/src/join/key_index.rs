//! A broadcast join's table index: table row numbers per key value.
//!
//! One integer key (the common case: ids) is hashed as an `i64`; any other key is hashed as
//! its Arrow row encoding. Lookups never iterate the map, so its order cannot reach output.

use std::collections::HashMap;

use ahash::RandomState;
use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use arrow::row::{RowConverter, SortField};

use super::layout::null_key;

/// Table row numbers per key, in table order; rows with a null key are left out.
#[derive(Debug)]
pub(super) enum KeyIndex {
    /// A single integer key column, widened to `i64`.
    Int(HashMap<i64, Vec<u32>, RandomState>),
    /// Any other key: the row encoding of the key columns.
    Rows {
        converter: RowConverter,
        map: HashMap<Vec<u8>, Vec<u32>, RandomState>,
    },
}

/// Whether a key column of this type is indexed as `i64` (every value fits).
fn integer(data_type: &DataType) -> bool {
    data_type.is_integer() && *data_type != DataType::UInt64
}

fn as_i64(column: &ArrayRef) -> Result<ArrayRef, arrow::error::ArrowError> {
    cast(column, &DataType::Int64)
}

impl KeyIndex {
    /// Indexes `table_keys`, which already have `key_types`.
    pub fn build(
        key_types: &[DataType],
        table_keys: &[ArrayRef],
    ) -> Result<Self, arrow::error::ArrowError> {
        let rows = table_keys.first().map_or(0, |c| c.len());
        if let [data_type] = key_types
            && integer(data_type)
        {
            let column = as_i64(&table_keys[0])?;
            let values = column.as_primitive::<Int64Type>();
            let mut map: HashMap<i64, Vec<u32>, RandomState> = HashMap::default();
            for r in 0..rows {
                if values.is_valid(r) {
                    map.entry(values.value(r)).or_default().push(r as u32);
                }
            }
            return Ok(Self::Int(map));
        }
        let converter = RowConverter::new(key_types.iter().cloned().map(SortField::new).collect())?;
        let encoded = converter.convert_columns(table_keys)?;
        let mut map: HashMap<Vec<u8>, Vec<u32>, RandomState> = HashMap::default();
        for (r, row) in encoded.iter().enumerate() {
            if !null_key(table_keys, r) {
                map.entry(row.as_ref().to_vec()).or_default().push(r as u32);
            }
        }
        Ok(Self::Rows { converter, map })
    }

    /// Per row of `keys` (the input's key columns, of the index's key types): the table rows
    /// it matches, `None` for a null key or no match.
    pub fn probe(
        &self,
        keys: &[ArrayRef],
    ) -> Result<Vec<Option<&[u32]>>, arrow::error::ArrowError> {
        let rows = keys.first().map_or(0, |c| c.len());
        match self {
            Self::Int(map) => {
                let column = as_i64(&keys[0])?;
                let values = column.as_primitive::<Int64Type>();
                Ok((0..rows)
                    .map(|i| {
                        if values.is_valid(i) {
                            map.get(&values.value(i)).map(Vec::as_slice)
                        } else {
                            None
                        }
                    })
                    .collect())
            }
            Self::Rows { converter, map } => {
                let encoded = converter.convert_columns(keys)?;
                Ok((0..rows)
                    .map(|i| {
                        if null_key(keys, i) {
                            None
                        } else {
                            map.get(encoded.row(i).as_ref()).map(Vec::as_slice)
                        }
                    })
                    .collect())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int32Array, Int64Array, StringArray};

    use super::*;

    fn owned(found: Vec<Option<&[u32]>>) -> Vec<Option<Vec<u32>>> {
        found.into_iter().map(|m| m.map(<[u32]>::to_vec)).collect()
    }

    #[test]
    fn integer_keys_match_across_widths_and_skip_nulls() {
        let table: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None, Some(2), Some(1)]));
        let index = KeyIndex::build(&[DataType::Int64], &[table]).unwrap();
        assert!(matches!(index, KeyIndex::Int(_)));
        let input: ArrayRef = Arc::new(Int32Array::from(vec![Some(1), Some(3), None, Some(2)]));
        let found = owned(index.probe(&[input]).unwrap());
        assert_eq!(found, vec![Some(vec![0, 3]), None, None, Some(vec![2])]);
    }

    #[test]
    fn other_keys_use_the_row_encoding() {
        let table: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![Some("a"), Some("a"), None])),
            Arc::new(Int64Array::from(vec![1, 2, 1])),
        ];
        let types = [DataType::Utf8, DataType::Int64];
        let index = KeyIndex::build(&types, &table).unwrap();
        assert!(matches!(index, KeyIndex::Rows { .. }));
        let input: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![Some("a"), None, Some("b")])),
            Arc::new(Int64Array::from(vec![2, 1, 1])),
        ];
        let found = owned(index.probe(&input).unwrap());
        assert_eq!(found, vec![Some(vec![1]), None, None]);
    }
}
