//! Spark's `element_at(array, index)` and `element_at(map, key)`, and `try_element_at`.
//!
//! - Of an array: the element at `index`, numbered from 1; a negative index counts from
//!   the end (`-1` is the last). An index of 0 fails the row, as in Spark ("SQL array
//!   indices start at 1"). An index beyond the array fails the row under
//!   `element_at`, as Spark 4 (ANSI) does, and gives NULL under `try_element_at`.
//! - Of a map: the value of `key`, NULL when the map has no such key (Spark 4 gives NULL
//!   too).
//! - A NULL array, map, index or key gives NULL.
//!
//! DataFusion's `element_at` is its `map_extract`, which gives a *list* of the values of
//! the key (`[v]`), and takes no array: a Spark job's `element_at(m, 'k')` would hold a
//! list where Spark's holds the value, silently. Registered under Spark's names, these
//! replace it.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, UInt64Array};
use arrow::compute::kernels::cmp::not_distinct;
use arrow::compute::{cast, take};
use arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// Spark's `element_at`: an index beyond the array fails the row.
pub(super) fn element_at() -> ScalarUDF {
    ScalarUDF::from(ElementAt {
        name: "element_at",
        beyond: Beyond::Fail,
        signature: Signature::any(2, Volatility::Immutable),
    })
}

/// Spark's `try_element_at`: an index beyond the array gives NULL.
pub(super) fn try_element_at() -> ScalarUDF {
    ScalarUDF::from(ElementAt {
        name: "try_element_at",
        beyond: Beyond::Null,
        signature: Signature::any(2, Volatility::Immutable),
    })
}

/// What an index beyond an array gives.
#[derive(Debug, PartialEq, Eq, Hash, Clone, Copy)]
enum Beyond {
    Fail,
    Null,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ElementAt {
    name: &'static str,
    beyond: Beyond,
    signature: Signature,
}

impl ScalarUDFImpl for ElementAt {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args.first() {
            Some(DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _)) => {
                Ok(f.data_type().clone())
            }
            Some(DataType::Map(entries, _)) => match entries.data_type() {
                DataType::Struct(fields) if fields.len() == 2 => Ok(fields[1].data_type().clone()),
                other => plan_err!("{}: a map's entries of type {other}", self.name),
            },
            Some(DataType::Null) => Ok(DataType::Null),
            Some(other) => plan_err!(
                "{}(x, i) takes an array and an index, or a map and a key; x is {other}",
                self.name
            ),
            None => plan_err!("{} takes two arguments", self.name),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let container = args.args[0].to_array(rows)?;
        let at = args.args[1].to_array(rows)?;
        let out = match container.data_type() {
            DataType::Null => return Ok(ColumnarValue::Array(container)),
            DataType::Map(..) => value_of_key(&container, &at)?,
            DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
                let list = cast(&container, &DataType::List(Arc::clone(f)))?;
                self.element(&list, &at)?
            }
            other => return exec_err!("{}: not an array or a map: {other}", self.name),
        };
        Ok(ColumnarValue::Array(out))
    }
}

impl ElementAt {
    /// The element of each row's array at its index (see the [module docs](self)).
    fn element(&self, list: &ArrayRef, at: &ArrayRef) -> Result<ArrayRef> {
        let list = list.as_list::<i32>();
        let at = cast(at, &DataType::Int64)?;
        let at: &Int64Array = at.as_primitive();
        let offsets = list.value_offsets();
        let mut picks: Vec<Option<u64>> = Vec::with_capacity(list.len());
        for row in 0..list.len() {
            if list.is_null(row) || at.is_null(row) {
                picks.push(None);
                continue;
            }
            let (start, end) = (offsets[row] as i64, offsets[row + 1] as i64);
            let len = end - start;
            let index = at.value(row);
            let zero_based = match index {
                0 => {
                    return exec_err!(
                        "{}: SQL array indices start at 1 (the index is 0)",
                        self.name
                    );
                }
                i if i > 0 => i - 1,
                i => len + i,
            };
            if (0..len).contains(&zero_based) {
                picks.push(Some((start + zero_based) as u64));
            } else if self.beyond == Beyond::Fail {
                return exec_err!(
                    "{}: the index {index} is out of bounds: the array has {len} elements \
                     (try_element_at gives NULL instead)",
                    self.name
                );
            } else {
                picks.push(None);
            }
        }
        Ok(take(list.values(), &UInt64Array::from(picks), None)?)
    }
}

/// The value of each row's map at its key, NULL where the map has no such key.
fn value_of_key(map: &ArrayRef, key: &ArrayRef) -> Result<ArrayRef> {
    let map = map.as_map();
    let key = cast(key, map.key_type())?;
    let offsets = map.value_offsets();
    // The first entry of this (perhaps sliced) map array among all its entries.
    let base = offsets[0] as usize;
    // The row's key beside each of its map's entries, then compared with the entry's key.
    let mut entry_rows = Vec::with_capacity(map.keys().len());
    for row in 0..map.len() {
        let n = (offsets[row + 1] - offsets[row]) as usize;
        entry_rows.extend(std::iter::repeat_n(row as u64, n));
    }
    let wanted = take(&key, &UInt64Array::from(entry_rows), None)?;
    let keys = map.keys().slice(base, wanted.len());
    let equal: BooleanArray = not_distinct(&keys, &wanted)?;
    let mut picks: Vec<Option<u64>> = Vec::with_capacity(map.len());
    for row in 0..map.len() {
        if map.is_null(row) || key.is_null(row) {
            picks.push(None);
            continue;
        }
        let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
        let found = (start..end).find(|&e| equal.value(e - base));
        picks.push(found.map(|e| e as u64));
    }
    let values: &ArrayRef = map.values();
    Ok(take(values, &UInt64Array::from(picks), None)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Builder, ListBuilder, MapBuilder, StringBuilder};
    use arrow::datatypes::Field;
    use datafusion::config::ConfigOptions;

    fn field(data_type: DataType) -> Arc<Field> {
        Arc::new(Field::new("x", data_type, true))
    }

    fn call(udf: &ScalarUDF, container: ArrayRef, at: ArrayRef) -> Result<ArrayRef> {
        let arg_fields = vec![
            field(container.data_type().clone()),
            field(at.data_type().clone()),
        ];
        let types: Vec<DataType> = arg_fields.iter().map(|f| f.data_type().clone()).collect();
        let rows = container.len();
        let out = udf.invoke_with_args(ScalarFunctionArgs {
            args: vec![ColumnarValue::Array(container), ColumnarValue::Array(at)],
            arg_fields,
            number_rows: rows,
            return_field: field(udf.return_type(&types)?),
            config_options: Arc::new(ConfigOptions::default()),
        })?;
        out.to_array(rows)
    }

    fn lists() -> ArrayRef {
        let mut b = ListBuilder::new(Int64Builder::new());
        for row in [Some(vec![10, 20, 30]), None, Some(vec![]), Some(vec![7])] {
            match row {
                Some(v) => {
                    for x in v {
                        b.values().append_value(x);
                    }
                    b.append(true);
                }
                None => b.append(false),
            }
        }
        Arc::new(b.finish())
    }

    #[test]
    fn an_arrays_element_from_one_and_from_the_end() {
        let at: ArrayRef = Arc::new(Int64Array::from(vec![Some(2), Some(1), None, Some(-1)]));
        let out = call(&element_at(), lists(), at).unwrap();
        let out: &Int64Array = out.as_primitive();
        let got: Vec<Option<i64>> = out.iter().collect();
        assert_eq!(got, vec![Some(20), None, None, Some(7)]);
        let at: ArrayRef = Arc::new(Int64Array::from(vec![-3, 1, 1, 1]));
        let out = call(&element_at(), lists(), at);
        assert!(out.is_err(), "the empty array has no element 1");
    }

    #[test]
    fn beyond_the_array_fails_or_is_null_and_zero_fails() {
        let at: ArrayRef = Arc::new(Int64Array::from(vec![Some(4), None, Some(1), Some(-2)]));
        let err = call(&element_at(), lists(), Arc::clone(&at)).unwrap_err();
        assert!(err.to_string().contains("out of bounds"), "{err}");
        let out = call(&try_element_at(), lists(), at).unwrap();
        assert_eq!(out.null_count(), 4);
        let at: ArrayRef = Arc::new(Int64Array::from(vec![0, 1, 1, 1]));
        let err = call(&try_element_at(), lists(), at).unwrap_err();
        assert!(err.to_string().contains("start at 1"), "{err}");
    }

    // Compiled as a job's expression: Spark's `element_at`, not DataFusion's `map_extract`
    // (which gives `[1]`).
    #[test]
    fn a_jobs_element_at_is_sparks() {
        let strings = arrow::array::StringArray::from(vec![Some("a,b,c"), None]);
        let batch =
            arrow::record_batch::RecordBatch::try_from_iter([("s", Arc::new(strings) as ArrayRef)])
                .unwrap();
        let texts = |sql: &str| crate::expr::texts_of(sql, &batch);
        assert_eq!(
            texts("element_at(map('a', 1), 'a')"),
            [Some("1".into()), Some("1".into())]
        );
        assert_eq!(
            texts("element_at(split(s, ','), -1)"),
            [Some("c".into()), None]
        );
        assert_eq!(texts("try_element_at(split(s, ','), 4)"), [None, None]);
        assert_eq!(texts("hash(s)")[1].as_deref(), Some("42"));
    }

    #[test]
    fn a_maps_value_of_a_key() {
        let mut b = MapBuilder::new(None, StringBuilder::new(), Int64Builder::new());
        for row in [
            Some(vec![("a", Some(1)), ("b", None), ("c", Some(3))]),
            Some(vec![("c", Some(30))]),
            None,
            Some(vec![]),
            Some(vec![("x", Some(5))]),
        ] {
            match row {
                Some(entries) => {
                    for (k, v) in entries {
                        b.keys().append_value(k);
                        b.values().append_option(v);
                    }
                    b.append(true).unwrap();
                }
                None => b.append(false).unwrap(),
            }
        }
        let maps: ArrayRef = Arc::new(b.finish());
        let keys: ArrayRef = Arc::new(arrow::array::StringArray::from(vec![
            Some("c"),
            Some("c"),
            Some("c"),
            Some("c"),
            None,
        ]));
        let out = call(&element_at(), Arc::clone(&maps), keys).unwrap();
        let out: &Int64Array = out.as_primitive();
        let got: Vec<Option<i64>> = out.iter().collect();
        assert_eq!(got, vec![Some(3), Some(30), None, None, None]);
        // A sliced map array (a batch's later rows) reads its own entries.
        let keys: ArrayRef = Arc::new(arrow::array::StringArray::from(vec!["b", "c"]));
        let out = call(&element_at(), maps.slice(0, 2), keys).unwrap();
        let out: &Int64Array = out.as_primitive();
        let got: Vec<Option<i64>> = out.iter().collect();
        assert_eq!(got, vec![None, Some(30)]);
    }
}
