//! Unnesting an array column, Spark's `explode` and Flink's `CROSS JOIN UNNEST`: one row per
//! element of each row's array, the row's columns repeated and the element after them.
//!
//! A row whose array is null or empty gives no row, as Spark's `explode` and Flink's
//! `CROSS JOIN UNNEST` drop it; with `outer` (Spark's `explode_outer`, Flink's
//! `LEFT JOIN UNNEST(...) ON TRUE`) it gives one row with a null element. With a
//! [`Position`], each element's position in its array comes before it: Spark's `posexplode`
//! counts from 0, Flink's `WITH ORDINALITY` from 1 (null on an outer row). The rows keep
//! their coordinates, so a later operator that rejects one names where it came from. An
//! unnest keeps no state and fails on no row.
//!
//! Elements that are structs may instead give their fields as columns (Spark's `inline`,
//! Flink's `UNNEST` of an array of rows, `AS t (sku, qty)`): a null element, or an outer
//! row's, gives nulls in every field.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Int32Array, RecordBatch, RecordBatchOptions, StructArray,
    UInt32Array, make_array,
};
use arrow::buffer::NullBuffer;
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};

/// What an unnest reads and adds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct UnnestSpec {
    /// The array column (a list, large list or fixed-size list).
    pub column: String,
    /// The name of the element column, added after the input's columns.
    pub element: String,
    /// Keep a row whose array is null or empty, once, with a null element.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub outer: bool,
    /// A column of each element's position, before the element.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    /// The elements are structs, whose fields become columns of these names (one per
    /// field, in the struct's order) in place of the element's column: Spark's `inline`,
    /// Flink's `UNNEST` of an array of rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
}

/// The column of an element's position in its array (an `INT`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Position {
    /// Its name.
    pub name: String,
    /// The first element's position: 0 (Spark's `posexplode`) or 1 (`WITH ORDINALITY`).
    pub first: i32,
}

/// A compiled unnest.
#[derive(Clone, Debug)]
pub struct Unnest {
    column: usize,
    outer: bool,
    /// The first position, when positions are added.
    first: Option<i32>,
    /// The array column's type as a list (of 32-bit offsets).
    list_type: DataType,
    /// Whether the elements' fields are columns of their own.
    expand: bool,
    schema: SchemaRef,
}

impl Unnest {
    /// Resolves `spec` against its input's schema.
    ///
    /// # Errors
    /// [`EngineError::InvalidPlan`] when the column is missing or no array, or the element's
    /// name is already a column.
    pub fn new(spec: &UnnestSpec, input: &SchemaRef) -> Result<Self> {
        let column = input.index_of(&spec.column).map_err(|_| {
            EngineError::InvalidPlan(format!(
                "unnest of `{}`: no such column (the columns are {})",
                spec.column,
                names(input)
            ))
        })?;
        let element = match input.field(column).data_type() {
            DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => f,
            other => {
                return Err(EngineError::InvalidPlan(format!(
                    "explode of `{}`, a {other} column: it takes an array (split(text, ',') \
                     makes one of text)",
                    spec.column
                )));
            }
        };
        let added = match &spec.fields {
            Some(names) => expanded(spec, names, element.data_type())?,
            None => vec![Field::new(&spec.element, element.data_type().clone(), true)],
        };
        let position = spec.position.as_ref().map(|p| &p.name);
        let mut seen = std::collections::BTreeSet::new();
        for name in position.into_iter().chain(added.iter().map(Field::name)) {
            if input.index_of(name).is_ok() || !seen.insert(name) {
                return Err(EngineError::InvalidPlan(format!(
                    "explode of `{}`: `{name}` is already a column; name its element and \
                     position otherwise (AS ...)",
                    spec.column
                )));
            }
        }
        let mut fields: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
        if let Some(position) = &spec.position {
            fields.push(Field::new(&position.name, DataType::Int32, spec.outer));
        }
        fields.extend(added);
        Ok(Self {
            column,
            outer: spec.outer,
            first: spec.position.as_ref().map(|p| p.first),
            list_type: DataType::List(Arc::clone(element)),
            expand: spec.fields.is_some(),
            schema: Arc::new(Schema::new(fields)),
        })
    }

    /// The output schema: the input's columns, then the element.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// One row per element of each row's array.
    ///
    /// # Errors
    /// Only when Arrow fails to take the rows.
    pub fn apply(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let array = batch.column(self.column);
        // Large and fixed-size lists as lists: one way to find each row's elements.
        let array = match array.data_type() {
            DataType::List(_) => Arc::clone(array),
            _ => cast(array, &self.list_type)?,
        };
        let lists = array.as_list::<i32>();
        let (values, offsets) = (lists.values(), lists.value_offsets());
        let mut rows = Vec::with_capacity(batch.num_rows());
        let mut elements = Vec::with_capacity(batch.num_rows());
        let mut positions = Vec::new();
        for i in 0..batch.num_rows() {
            let (start, end) = if lists.is_null(i) {
                (0, 0)
            } else {
                (offsets[i] as usize, offsets[i + 1] as usize)
            };
            if start == end {
                if self.outer {
                    rows.push(i as u32);
                    elements.push(None);
                    positions.push(None);
                }
                continue;
            }
            for j in start..end {
                rows.push(i as u32);
                elements.push(Some(j as u32));
                if let Some(first) = self.first {
                    positions.push(Some((j - start) as i32 + first));
                }
            }
        }
        let (rows, elements) = (UInt32Array::from(rows), UInt32Array::from(elements));
        let mut columns = batch
            .columns()
            .iter()
            .map(|c| take(c.as_ref(), &rows, None))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        if self.first.is_some() {
            columns.push(Arc::new(Int32Array::from(positions)));
        }
        let elements = take(values.as_ref(), &elements, None)?;
        if self.expand {
            columns.extend(fields_of(elements.as_struct())?);
        } else {
            columns.push(elements);
        }
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(&self.schema),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(rows.len())),
        )?)
    }
}

/// The columns a struct element's fields become, named `names`.
fn expanded(spec: &UnnestSpec, names: &[String], element: &DataType) -> Result<Vec<Field>> {
    let DataType::Struct(fields) = element else {
        return Err(EngineError::InvalidPlan(format!(
            "unnest of `{}` into columns {}: its elements are {element}, not structs (name \
             one column for them)",
            spec.column,
            names.join(", ")
        )));
    };
    if fields.len() != names.len() {
        let theirs: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
        return Err(EngineError::InvalidPlan(format!(
            "unnest of `{}` into {} columns ({}): its elements are structs of {} fields ({})",
            spec.column,
            names.len(),
            names.join(", "),
            fields.len(),
            theirs.join(", ")
        )));
    }
    Ok(fields
        .iter()
        .zip(names)
        .map(|(f, name)| Field::new(name, f.data_type().clone(), true))
        .collect())
}

/// A struct array's fields, each null where the struct is.
fn fields_of(structs: &StructArray) -> Result<Vec<ArrayRef>> {
    let mut columns = Vec::with_capacity(structs.num_columns());
    for column in structs.columns() {
        columns.push(match structs.nulls() {
            None => Arc::clone(column),
            Some(nulls) => {
                let nulls = NullBuffer::union(Some(nulls), column.nulls());
                make_array(column.to_data().into_builder().nulls(nulls).build()?)
            }
        });
    }
    Ok(columns)
}

fn names(schema: &Schema) -> String {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use arrow::array::{ArrayRef, FixedSizeListArray, Int32Array, ListArray, StringArray};
    use arrow::datatypes::Int32Type;

    use super::*;

    fn spec(outer: bool) -> UnnestSpec {
        UnnestSpec {
            column: "tags".into(),
            element: "tag".into(),
            outer,
            position: None,
            fields: None,
        }
    }

    fn input(tags: ArrayRef) -> RecordBatch {
        let ids: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "c", "d"]));
        RecordBatch::try_from_iter([("id", ids), ("tags", tags)]).unwrap()
    }

    fn pairs(out: &RecordBatch) -> Vec<(String, Option<i32>)> {
        let ids = out.column(0).as_string::<i32>();
        let tags = out.column(2).as_primitive::<Int32Type>();
        (0..out.num_rows())
            .map(|i| {
                (
                    ids.value(i).to_owned(),
                    tags.is_valid(i).then(|| tags.value(i)),
                )
            })
            .collect()
    }

    #[test]
    fn each_element_is_a_row_and_outer_keeps_rows_without_any() {
        // a: [1, null, 2], b: null, c: [], d: [3]; sliced from a longer list so that the
        // offsets do not start at 0.
        let lists = ListArray::from_iter_primitive::<Int32Type, _, _>([
            Some(vec![Some(9)]),
            Some(vec![Some(1), None, Some(2)]),
            None,
            Some(vec![]),
            Some(vec![Some(3)]),
        ])
        .slice(1, 4);
        let batch = input(Arc::new(lists));
        let inner = Unnest::new(&spec(false), &batch.schema()).unwrap();
        let out = inner.apply(&batch).unwrap();
        assert_eq!(out.schema().field(2).name(), "tag");
        let s = |id: &str, v: Option<i32>| (id.to_owned(), v);
        assert_eq!(
            pairs(&out),
            [
                s("a", Some(1)),
                s("a", None),
                s("a", Some(2)),
                s("d", Some(3))
            ]
        );
        let outer = Unnest::new(&spec(true), &batch.schema()).unwrap();
        assert_eq!(
            pairs(&outer.apply(&batch).unwrap()),
            [
                s("a", Some(1)),
                s("a", None),
                s("a", Some(2)),
                s("b", None),
                s("c", None),
                s("d", Some(3))
            ]
        );
    }

    #[test]
    fn positions_count_from_their_first_and_are_null_on_an_outer_row() {
        let lists = ListArray::from_iter_primitive::<Int32Type, _, _>([
            Some(vec![Some(7), Some(8)]),
            None,
            Some(vec![Some(9)]),
            Some(vec![]),
        ]);
        let batch = input(Arc::new(lists));
        let posexplode = UnnestSpec {
            position: Some(Position {
                name: "pos".into(),
                first: 0,
            }),
            ..spec(true)
        };
        let out = Unnest::new(&posexplode, &batch.schema())
            .unwrap()
            .apply(&batch)
            .unwrap();
        assert_eq!(out.schema().field(2).name(), "pos");
        let positions: Vec<Option<i32>> =
            out.column(2).as_primitive::<Int32Type>().iter().collect();
        assert_eq!(positions, [Some(0), Some(1), None, Some(0), None]);
        let ordinality = UnnestSpec {
            position: Some(Position {
                name: "n".into(),
                first: 1,
            }),
            ..posexplode
        };
        let out = Unnest::new(&ordinality, &batch.schema())
            .unwrap()
            .apply(&batch)
            .unwrap();
        let positions: Vec<Option<i32>> =
            out.column(2).as_primitive::<Int32Type>().iter().collect();
        assert_eq!(positions, [Some(1), Some(2), None, Some(1), None]);
        let same = UnnestSpec {
            position: Some(Position {
                name: "tag".into(),
                first: 1,
            }),
            ..spec(false)
        };
        let err = Unnest::new(&same, &batch.schema()).unwrap_err();
        assert!(
            err.to_string().contains("`tag` is already a column"),
            "{err}"
        );
    }

    /// Struct elements give their fields as columns; a null struct, and an outer row,
    /// nulls in each (even where the struct's child holds a value under its null).
    #[test]
    fn struct_elements_become_columns() {
        use arrow::array::{BooleanBufferBuilder, Int64Array};
        use arrow::datatypes::{Fields, Int64Type};

        let fields = Fields::from(vec![
            Field::new("sku", DataType::Utf8, true),
            Field::new("qty", DataType::Int64, true),
        ]);
        let mut valid = BooleanBufferBuilder::new(3);
        valid.append_slice(&[true, false, true]);
        let structs = StructArray::new(
            fields.clone(),
            vec![
                Arc::new(StringArray::from(vec!["a", "hidden", "c"])) as ArrayRef,
                Arc::new(Int64Array::from(vec![Some(1), Some(9), None])),
            ],
            Some(NullBuffer::new(valid.finish())),
        );
        let item = Arc::new(Field::new("item", DataType::Struct(fields), true));
        let offsets = arrow::buffer::OffsetBuffer::from_lengths([2, 0, 1, 0]);
        let mut lists_valid = BooleanBufferBuilder::new(4);
        lists_valid.append_slice(&[true, true, true, false]);
        let lists = ListArray::new(
            item,
            offsets,
            Arc::new(structs),
            Some(NullBuffer::new(lists_valid.finish())),
        );
        let batch = input(Arc::new(lists));
        let inline = UnnestSpec {
            fields: Some(vec!["s".into(), "q".into()]),
            ..spec(true)
        };
        let out = Unnest::new(&inline, &batch.schema())
            .unwrap()
            .apply(&batch)
            .unwrap();
        let schema = out.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["id", "tags", "s", "q"]);
        let ids: Vec<&str> = out.column(0).as_string::<i32>().iter().flatten().collect();
        assert_eq!(ids, ["a", "a", "b", "c", "d"]);
        let skus: Vec<Option<&str>> = out.column(2).as_string::<i32>().iter().collect();
        assert_eq!(skus, [Some("a"), None, None, Some("c"), None]);
        let qtys: Vec<Option<i64>> = out.column(3).as_primitive::<Int64Type>().iter().collect();
        assert_eq!(qtys, [Some(1), None, None, None, None]);

        for (names, expected) in [
            (
                vec!["s"],
                "into 1 columns (s): its elements are structs of 2 fields (sku, qty)",
            ),
            (vec!["id", "q"], "`id` is already a column"),
            (vec!["s", "s"], "`s` is already a column"),
        ] {
            let spec = UnnestSpec {
                fields: Some(names.into_iter().map(String::from).collect()),
                ..spec(false)
            };
            let err = Unnest::new(&spec, &batch.schema()).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
        let ints = ListArray::from_iter_primitive::<Int32Type, _, _>([
            Some(vec![Some(1)]),
            None,
            None,
            None,
        ]);
        let batch = input(Arc::new(ints));
        let spec = UnnestSpec {
            fields: Some(vec!["a".into()]),
            ..spec(false)
        };
        let err = Unnest::new(&spec, &batch.schema()).unwrap_err().to_string();
        assert!(err.contains("not structs"), "{err}");
    }

    #[test]
    fn fixed_size_lists_unnest_too() {
        let values = Int32Array::from(vec![1, 2, 3, 4, 5, 6, 7, 8]);
        let field = Arc::new(Field::new("item", DataType::Int32, true));
        let lists = FixedSizeListArray::new(field, 2, Arc::new(values), None);
        let batch = input(Arc::new(lists));
        let out = Unnest::new(&spec(false), &batch.schema())
            .unwrap()
            .apply(&batch)
            .unwrap();
        let got: Vec<Option<i32>> = pairs(&out).into_iter().map(|(_, v)| v).collect();
        assert_eq!(got, (1..=8).map(Some).collect::<Vec<_>>());
    }

    #[test]
    fn what_is_no_array_or_a_taken_name_is_refused() {
        let batch = input(Arc::new(StringArray::from(vec!["x"; 4])));
        let err = Unnest::new(&spec(false), &batch.schema()).unwrap_err();
        assert!(
            err.to_string().contains("a Utf8 column: it takes an array"),
            "{err}"
        );
        let lists = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![Some(vec![Some(1)]); 4]);
        let batch = input(Arc::new(lists));
        let taken = UnnestSpec {
            element: "id".into(),
            ..spec(false)
        };
        let err = Unnest::new(&taken, &batch.schema()).unwrap_err();
        assert!(
            err.to_string().contains("`id` is already a column"),
            "{err}"
        );
    }
}
