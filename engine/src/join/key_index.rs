//! A broadcast join's table index: for each distinct key of the table, the table rows that
//! carry it.
//!
//! Each distinct key gets a slot, numbered in table order, and the rows of every slot sit
//! together in one array (`rows[starts[s]..starts[s + 1]]`, in table order). A probe turns
//! every input row into its slot, or [`NO_MATCH`], in one pass; joins then read the rows.
//!
//! How a key finds its slot:
//! - one integer key over a dense range (ids `1..=100_000`): a direct array indexed by
//!   `key - min`, no hashing;
//! - one integer key otherwise: a hash map of `i64`;
//! - any other key: a hash map of its Arrow row encoding.
//!
//! Lookups never iterate a map, so map order cannot reach output.

use std::collections::HashMap;

use ahash::RandomState;
use arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use arrow::buffer::{BooleanBuffer, NullBuffer};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use arrow::row::{RowConverter, SortField};

/// The slot of a row whose key is null or matches nothing.
pub(super) const NO_MATCH: u32 = u32::MAX;

/// A dense key range takes at most this many slots per indexed row (and at least
/// [`DENSE_FLOOR`] are always allowed), so the direct array stays small.
const DENSE_SPREAD: usize = 4;
const DENSE_FLOOR: usize = 1 << 16;

/// Table row numbers per distinct key, in table order; rows with a null key are left out.
#[derive(Debug)]
pub(super) struct KeyIndex {
    lookup: Lookup,
    /// Where each slot's rows start in `rows`; one more entry than there are slots.
    starts: Vec<u32>,
    /// Table rows, grouped by slot.
    rows: Vec<u32>,
}

/// How a key finds its slot.
#[derive(Debug)]
enum Lookup {
    /// One integer key: `slots[key - min]`, [`NO_MATCH`] for keys not in the table.
    Dense { min: i64, slots: Vec<u32> },
    /// One integer key, widened to `i64`.
    Int(HashMap<i64, u32, RandomState>),
    /// Any other key: the row encoding of the key columns.
    Rows {
        converter: RowConverter,
        map: HashMap<Vec<u8>, u32, RandomState>,
    },
}

/// Whether a key column of this type is indexed as `i64` (every value fits).
fn integer(data_type: &DataType) -> bool {
    data_type.is_integer() && *data_type != DataType::UInt64
}

fn as_i64(column: &ArrayRef) -> Result<ArrayRef, arrow::error::ArrowError> {
    cast(column, &DataType::Int64)
}

/// The rows with a null in any key column, as a validity mask (`None`: no nulls).
fn key_nulls(keys: &[ArrayRef]) -> Option<NullBuffer> {
    keys.iter().fold(None, |acc, c| {
        NullBuffer::union(acc.as_ref(), c.logical_nulls().as_ref())
    })
}

/// Numbers the distinct values in order of first appearance.
struct Numbering {
    next: u32,
}

impl Numbering {
    fn slot(&mut self, entry: &mut u32) -> u32 {
        if *entry == NO_MATCH {
            *entry = self.next;
            self.next += 1;
        }
        *entry
    }
}

impl KeyIndex {
    /// Indexes `table_keys`, which already have `key_types`.
    pub fn build(
        key_types: &[DataType],
        table_keys: &[ArrayRef],
    ) -> Result<Self, arrow::error::ArrowError> {
        let n = table_keys.first().map_or(0, |c| c.len());
        let nulls = key_nulls(table_keys);
        let valid = |r: usize| nulls.as_ref().is_none_or(|b| b.is_valid(r));
        let mut numbering = Numbering { next: 0 };
        let mut row_slots = vec![NO_MATCH; n];
        let lookup = if let [data_type] = key_types
            && integer(data_type)
        {
            let column = as_i64(&table_keys[0])?;
            let values = column.as_primitive::<Int64Type>().values();
            let present = (0..n).filter(|&r| valid(r)).map(|r| values[r]);
            let span = present
                .clone()
                .min()
                .zip(present.max())
                .map(|(lo, hi)| (lo, (hi as i128 - lo as i128 + 1) as u128));
            let dense_limit = (n * DENSE_SPREAD).max(DENSE_FLOOR) as u128;
            match span {
                Some((min, span)) if span <= dense_limit => {
                    let mut slots = vec![NO_MATCH; span as usize];
                    for r in (0..n).filter(|&r| valid(r)) {
                        let at = (values[r] - min) as usize;
                        row_slots[r] = numbering.slot(&mut slots[at]);
                    }
                    Lookup::Dense { min, slots }
                }
                _ => {
                    let mut map: HashMap<i64, u32, RandomState> = HashMap::default();
                    for r in (0..n).filter(|&r| valid(r)) {
                        row_slots[r] = numbering.slot(map.entry(values[r]).or_insert(NO_MATCH));
                    }
                    Lookup::Int(map)
                }
            }
        } else {
            let converter =
                RowConverter::new(key_types.iter().cloned().map(SortField::new).collect())?;
            let encoded = converter.convert_columns(table_keys)?;
            let mut map: HashMap<Vec<u8>, u32, RandomState> = HashMap::default();
            for (r, row) in encoded.iter().enumerate().filter(|(r, _)| valid(*r)) {
                let entry = map.entry(row.as_ref().to_vec()).or_insert(NO_MATCH);
                row_slots[r] = numbering.slot(entry);
            }
            Lookup::Rows { converter, map }
        };
        // Group the rows by slot, keeping table order within each (a counting sort).
        let slots = numbering.next as usize;
        let mut starts = vec![0u32; slots + 1];
        for &s in row_slots.iter().filter(|&&s| s != NO_MATCH) {
            starts[s as usize + 1] += 1;
        }
        for s in 0..slots {
            starts[s + 1] += starts[s];
        }
        let mut fill = starts.clone();
        let mut rows = vec![0u32; starts[slots] as usize];
        for (r, &s) in row_slots
            .iter()
            .enumerate()
            .filter(|(_, s)| **s != NO_MATCH)
        {
            rows[fill[s as usize] as usize] = r as u32;
            fill[s as usize] += 1;
        }
        Ok(Self {
            lookup,
            starts,
            rows,
        })
    }

    /// Whether every key is on one table row only: then slot `s` is table row `rows()[s]`.
    pub fn unique(&self) -> bool {
        self.rows.len() + 1 == self.starts.len()
    }

    /// The table rows, grouped by slot (for a [`unique`](Self::unique) index, one per slot).
    pub fn rows(&self) -> &[u32] {
        &self.rows
    }

    /// The table rows of `slot`, in table order; empty for [`NO_MATCH`].
    pub fn matches(&self, slot: u32) -> &[u32] {
        if slot == NO_MATCH {
            return &[];
        }
        let s = slot as usize;
        &self.rows[self.starts[s] as usize..self.starts[s + 1] as usize]
    }

    /// Per row of `keys` (the input's key columns, of the index's key types): its slot,
    /// [`NO_MATCH`] for a null key or a key not in the table.
    pub fn probe(&self, keys: &[ArrayRef]) -> Result<Vec<u32>, arrow::error::ArrowError> {
        let n = keys.first().map_or(0, |c| c.len());
        let mut found: Vec<u32> = match &self.lookup {
            Lookup::Dense { min, slots } => {
                let column = as_i64(&keys[0])?;
                let min = *min;
                column
                    .as_primitive::<Int64Type>()
                    .values()
                    .iter()
                    .map(|&k| {
                        let at = k.wrapping_sub(min) as u64;
                        if at < slots.len() as u64 {
                            slots[at as usize]
                        } else {
                            NO_MATCH
                        }
                    })
                    .collect()
            }
            Lookup::Int(map) => {
                let column = as_i64(&keys[0])?;
                column
                    .as_primitive::<Int64Type>()
                    .values()
                    .iter()
                    .map(|k| map.get(k).copied().unwrap_or(NO_MATCH))
                    .collect()
            }
            Lookup::Rows { converter, map } => {
                let encoded = converter.convert_columns(keys)?;
                (0..n)
                    .map(|i| {
                        map.get(encoded.row(i).as_ref())
                            .copied()
                            .unwrap_or(NO_MATCH)
                    })
                    .collect()
            }
        };
        if let Some(nulls) = key_nulls(keys) {
            for (slot, valid) in found.iter_mut().zip(nulls.iter()) {
                if !valid {
                    *slot = NO_MATCH;
                }
            }
        }
        Ok(found)
    }

    /// Per row of `keys`: whether its key is in the table, or null (a null foreign key
    /// breaks no reference, as in SQL).
    pub fn found_or_null(
        &self,
        keys: &[ArrayRef],
    ) -> Result<BooleanArray, arrow::error::ArrowError> {
        let found = self.probe(keys)?;
        let nulls = key_nulls(keys);
        let bits = BooleanBuffer::collect_bool(found.len(), |i| {
            found[i] != NO_MATCH || nulls.as_ref().is_some_and(|b| b.is_null(i))
        });
        Ok(BooleanArray::new(bits, None))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int32Array, Int64Array, StringArray};

    use super::*;

    fn matches(index: &KeyIndex, input: &[ArrayRef]) -> Vec<Vec<u32>> {
        let found = index.probe(input).unwrap();
        found.iter().map(|&s| index.matches(s).to_vec()).collect()
    }

    #[test]
    fn dense_integer_keys_match_across_widths_and_skip_nulls() {
        let table: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None, Some(2), Some(1)]));
        let index = KeyIndex::build(&[DataType::Int64], &[table]).unwrap();
        assert!(matches!(index.lookup, Lookup::Dense { .. }));
        assert!(!index.unique());
        // 0 is below the range, 3 above it; the null's value slot must not match either.
        let input: ArrayRef = Arc::new(Int32Array::from(vec![
            Some(1),
            Some(3),
            None,
            Some(2),
            Some(0),
        ]));
        assert_eq!(
            matches(&index, &[input]),
            vec![vec![0, 3], vec![], vec![], vec![2], vec![]]
        );
    }

    #[test]
    fn sparse_integer_keys_are_hashed_and_unique_keys_are_one_row_per_slot() {
        let table: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(i64::MAX),
            Some(-5),
            None,
            Some(i64::MIN),
        ]));
        let index = KeyIndex::build(&[DataType::Int64], &[table]).unwrap();
        assert!(matches!(index.lookup, Lookup::Int(_)));
        assert!(index.unique());
        assert_eq!(index.rows(), &[0, 1, 3]);
        let input: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(i64::MIN),
            None,
            Some(7),
            Some(i64::MAX),
        ]));
        assert_eq!(
            matches(&index, &[input]),
            vec![vec![3], vec![], vec![], vec![0]]
        );
    }

    #[test]
    fn other_keys_use_the_row_encoding() {
        let table: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![
                Some("a"),
                Some("a"),
                None,
                Some("a"),
            ])),
            Arc::new(Int64Array::from(vec![1, 2, 1, 2])),
        ];
        let types = [DataType::Utf8, DataType::Int64];
        let index = KeyIndex::build(&types, &table).unwrap();
        assert!(matches!(index.lookup, Lookup::Rows { .. }));
        let input: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![
                Some("a"),
                None,
                Some("b"),
                Some("a"),
            ])),
            Arc::new(Int64Array::from(vec![2, 1, 1, 1])),
        ];
        assert_eq!(
            matches(&index, &input),
            vec![vec![1, 3], vec![], vec![], vec![0]]
        );
        let found: Vec<_> = index.found_or_null(&input).unwrap().iter().collect();
        assert_eq!(found, vec![Some(true), Some(true), Some(false), Some(true)]);
    }
}
