//! What broadcast and keyed joins share: how a join's keys and added columns line up with
//! the input and the table, and how matched row pairs become output batches.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array, new_null_array};
use arrow::buffer::{BooleanBuffer, NullBuffer};
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::row::SortField;

use super::key_index::NO_MATCH;
use super::{JoinKind, JoinSpec};
use crate::error::{EngineError, Result};
use crate::expr::SqlExpr;

pub(super) fn invalid(spec: &JoinSpec, message: String) -> EngineError {
    EngineError::InvalidPlan(format!("join `{}`: {message}", spec.name))
}

/// A join's columns, resolved against its input and table schemas.
#[derive(Clone, Debug)]
pub(super) struct JoinLayout {
    /// Input key column indices.
    pub input_keys: Vec<usize>,
    /// Key types: the input's; table keys are cast to them.
    pub key_types: Vec<DataType>,
    /// Table columns added to the output, by name (none for a left-anti join).
    pub added: Vec<String>,
    /// The added columns' types.
    pub added_types: Vec<DataType>,
    /// The joined schema: the input columns, then the added ones.
    pub output: SchemaRef,
    /// The spec's `table_filter`, compiled against the table.
    pub table_filter: Option<Arc<SqlExpr>>,
}

impl JoinLayout {
    /// Resolves `spec` against `input` and `table`.
    ///
    /// # Errors
    /// A key missing on either side or whose table type does not cast to the input's, a
    /// requested column missing from the table, or an added column named like an input
    /// column.
    pub fn new(spec: &JoinSpec, input: &SchemaRef, table: &SchemaRef) -> Result<Self> {
        if spec.keys.is_empty() {
            return Err(invalid(spec, "needs at least one key".into()));
        }
        if spec.table_keys().len() != spec.keys.len() {
            return Err(invalid(
                spec,
                format!(
                    "{} input keys {:?} but {} table keys {:?}",
                    spec.keys.len(),
                    spec.keys,
                    spec.table_keys.len(),
                    spec.table_keys
                ),
            ));
        }
        let mut input_keys = Vec::new();
        let mut key_types = Vec::new();
        for (k, tk) in spec.keys.iter().zip(spec.table_keys()) {
            let i = input
                .index_of(k)
                .map_err(|_| invalid(spec, format!("key {k:?} is not an input column")))?;
            let t = table
                .index_of(tk)
                .map_err(|_| invalid(spec, format!("key {tk:?} is not a column of the table")))?;
            let data_type = input.field(i).data_type().clone();
            if !arrow::compute::can_cast_types(table.field(t).data_type(), &data_type) {
                return Err(invalid(
                    spec,
                    format!(
                        "key {k:?}: table type {} does not cast to {data_type}",
                        table.field(t).data_type()
                    ),
                ));
            }
            input_keys.push(i);
            key_types.push(data_type);
        }
        let wanted: Vec<String> = if spec.columns.is_empty() {
            table
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .filter(|n| !spec.table_keys().contains(n))
                .collect()
        } else {
            spec.columns.clone()
        };
        let mut out: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
        let mut added = Vec::new();
        let mut added_types = Vec::new();
        if spec.kind != JoinKind::LeftAnti {
            for name in &wanted {
                let t = table
                    .index_of(name)
                    .map_err(|_| invalid(spec, format!("column {name:?} is not in the table")))?;
                let output = spec.renamed.get(name).unwrap_or(name);
                if input.index_of(output).is_ok() || out.iter().any(|f| f.name() == output) {
                    return Err(invalid(
                        spec,
                        format!(
                            "column {output:?} is already an input column; leave it out of \
                             `columns`"
                        ),
                    ));
                }
                let field = table.field(t).clone().with_name(output);
                added_types.push(field.data_type().clone());
                out.push(
                    field
                        .with_nullable(spec.kind == JoinKind::Left || table.field(t).is_nullable()),
                );
                added.push(name.clone());
            }
        }
        let table_filter = match &spec.table_filter {
            Some(sql) => {
                let filter = SqlExpr::compile(sql, table)
                    .map_err(|e| invalid(spec, format!("the table's filter: {e}")))?;
                if filter.data_type() != &DataType::Boolean {
                    return Err(invalid(
                        spec,
                        format!(
                            "the table's filter `{sql}` is a {}, not a boolean",
                            filter.data_type()
                        ),
                    ));
                }
                Some(Arc::new(filter))
            }
            None => None,
        };
        Ok(Self {
            input_keys,
            key_types,
            added,
            added_types,
            output: Arc::new(Schema::new(out)),
            table_filter,
        })
    }

    /// The rows of a table batch that join: those the table's filter holds for (true, not
    /// false or null), or all of them.
    ///
    /// # Errors
    /// When the filter fails to evaluate.
    pub fn table_rows(&self, table: &RecordBatch) -> Result<RecordBatch> {
        match &self.table_filter {
            Some(filter) => {
                let keep = filter.predicate(table)?;
                Ok(arrow::compute::filter_record_batch(table, &keep)?)
            }
            None => Ok(table.clone()),
        }
    }

    /// The row-format fields of the keys.
    pub fn key_fields(&self) -> Vec<SortField> {
        self.key_types.iter().cloned().map(SortField::new).collect()
    }

    /// The input's key columns of `batch`.
    pub fn input_key_columns(&self, batch: &RecordBatch) -> Vec<ArrayRef> {
        self.input_keys
            .iter()
            .map(|&i| Arc::clone(batch.column(i)))
            .collect()
    }

    /// The key columns of a table batch, cast to the input's key types.
    pub fn table_key_columns(&self, spec: &JoinSpec, table: &RecordBatch) -> Result<Vec<ArrayRef>> {
        spec.table_keys()
            .iter()
            .zip(&self.key_types)
            .map(|(k, data_type)| {
                let column = table.column_by_name(k).ok_or_else(|| {
                    invalid(spec, format!("key {k:?} is not a column of the table"))
                })?;
                cast(column, data_type).map_err(|e| {
                    invalid(
                        spec,
                        format!("key {k:?}: table type does not cast to {data_type}: {e}"),
                    )
                })
            })
            .collect()
    }

    /// The added columns of a table batch, cast to the types the join was planned with.
    pub fn table_added_columns(
        &self,
        spec: &JoinSpec,
        table: &RecordBatch,
    ) -> Result<Vec<ArrayRef>> {
        self.added
            .iter()
            .zip(&self.added_types)
            .map(|(name, data_type)| match table.column_by_name(name) {
                Some(c) if c.data_type() == data_type => Ok(Arc::clone(c)),
                Some(c) => cast(c, data_type).map_err(|e| {
                    invalid(
                        spec,
                        format!("column {name:?} no longer casts to {data_type}: {e}"),
                    )
                }),
                None => Err(invalid(
                    spec,
                    format!("column {name:?} is not in the table"),
                )),
            })
            .collect()
    }

    /// Assembles the output from an input batch, the row pairs, and the table columns the
    /// right indices point into (null indices give nulls).
    pub fn assemble(
        &self,
        batch: &RecordBatch,
        Pairs { left, right }: Pairs,
        table: &[ArrayRef],
    ) -> Result<RecordBatch> {
        let mut columns = Vec::with_capacity(self.output.fields().len());
        // A left join whose keys each match at most once keeps every input row in place:
        // its columns are reused instead of copied.
        for c in batch.columns() {
            columns.push(match &left {
                None => Arc::clone(c),
                Some(left) => take(c.as_ref(), left, None)?,
            });
        }
        for (c, data_type) in table.iter().zip(&self.added_types) {
            if c.is_empty() {
                columns.push(new_null_array(data_type, right.len()));
            } else {
                columns.push(take(c.as_ref(), &right, None)?);
            }
        }
        Ok(RecordBatch::try_new(Arc::clone(&self.output), columns)?)
    }
}

/// The rows a join pairs: input rows, and for each the table row (null for a left join's
/// row without a match).
pub(super) struct Pairs {
    /// Input row indices; `None` when they are every input row, once each, in order.
    pub left: Option<UInt32Array>,
    /// Table row indices, one per output row.
    pub right: UInt32Array,
}

/// The row pairs of a join over `rows` input rows. `matches(i)` gives the table rows
/// matching input row `i`, `None` when it has none or a null key.
fn pairs<'a>(
    kind: JoinKind,
    rows: usize,
    mut matches: impl FnMut(usize) -> Option<&'a [u32]>,
) -> Pairs {
    let mut left: Vec<u32> = Vec::with_capacity(rows);
    let mut right: Vec<Option<u32>> = Vec::with_capacity(rows);
    for i in 0..rows {
        match (kind, matches(i).filter(|m| !m.is_empty())) {
            (JoinKind::LeftAnti, None) => left.push(i as u32),
            (JoinKind::LeftAnti, Some(_)) | (JoinKind::Inner, None) => {}
            (JoinKind::Left, None) => {
                left.push(i as u32);
                right.push(None);
            }
            (JoinKind::Inner | JoinKind::Left, Some(found)) => {
                for &r in found {
                    left.push(i as u32);
                    right.push(Some(r));
                }
            }
        }
    }
    let identity = left.len() == rows && left.iter().enumerate().all(|(i, &l)| l as usize == i);
    Pairs {
        left: (!identity).then(|| UInt32Array::from(left)),
        right: UInt32Array::from(right),
    }
}

/// The row pairs of a join whose input rows found the key slots `slots` ([`NO_MATCH`] for
/// a null or missing key). With `single` (each slot's one table row, [`NO_MATCH`] for a
/// slot without rows) the slots resolve to rows and pair in one pass; otherwise
/// `matches(slot)` gives a slot's table rows.
pub(super) fn slot_pairs<'a>(
    kind: JoinKind,
    mut slots: Vec<u32>,
    single: Option<&[u32]>,
    matches: impl Fn(u32) -> &'a [u32],
) -> Pairs {
    match single {
        Some(row_of) => {
            for s in &mut slots {
                if *s != NO_MATCH {
                    *s = row_of[*s as usize];
                }
            }
            unique_pairs(kind, &slots)
        }
        None => pairs(kind, slots.len(), |i| {
            (slots[i] != NO_MATCH).then(|| matches(slots[i]))
        }),
    }
}

/// The row pairs of a join against a table whose keys are each on one row: `found` gives
/// each input row's table row, or [`NO_MATCH`]. One pass, and a left join keeps the input
/// rows in place.
fn unique_pairs(kind: JoinKind, found: &[u32]) -> Pairs {
    let matched = |i: usize| found[i] != NO_MATCH;
    let kept = |keep: &dyn Fn(usize) -> bool| -> Option<UInt32Array> {
        let rows: Vec<u32> = (0..found.len() as u32)
            .filter(|&i| keep(i as usize))
            .collect();
        (rows.len() != found.len()).then(|| rows.into())
    };
    match kind {
        JoinKind::Left => {
            let values: Vec<u32> = found
                .iter()
                .map(|&r| if r == NO_MATCH { 0 } else { r })
                .collect();
            let valid = BooleanBuffer::collect_bool(found.len(), matched);
            Pairs {
                left: None,
                right: UInt32Array::new(values.into(), Some(NullBuffer::new(valid))),
            }
        }
        JoinKind::Inner => {
            let right: Vec<u32> = found.iter().copied().filter(|&r| r != NO_MATCH).collect();
            Pairs {
                left: kept(&matched),
                right: right.into(),
            }
        }
        JoinKind::LeftAnti => Pairs {
            left: kept(&|i| !matched(i)),
            right: UInt32Array::from(Vec::<u32>::new()),
        },
    }
}

/// Whether row `i` has a null in any key column.
pub(super) fn null_key(keys: &[ArrayRef], i: usize) -> bool {
    keys.iter().any(|c| c.is_null(i))
}
