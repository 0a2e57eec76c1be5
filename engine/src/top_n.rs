//! Top-N per group, epoch by epoch: of each epoch's rows, the first `limit` of each group
//! in an order, as `RANK()` (ties share a rank, so all of them stay) or `ROW_NUMBER()`
//! (ties broken by the rest of the row, so the choice never depends on arrival order).
//!
//! It keeps no state across epochs, so it is exact only where each group's rows all
//! arrive in one epoch: a window's rows in append mode, which every worker emits in the
//! epoch whose watermark closes the window (Flink's window Top-N). The SQL front end only
//! plans it there.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::UInt32Array;
use arrow::compute::{
    SortColumn, SortOptions, concat_batches, lexsort_to_indices, take_record_batch,
};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};
use timely::dataflow::Stream;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

use crate::batch::Batches;
use crate::epoch::complete_before;
use crate::error::{EngineError, Result};
use crate::key::{KeyColumns, key_pact, unknown_column};
use crate::runtime::failure::{Failure, fail};

/// The first rows of each group of an epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct TopNSpec {
    /// Its name, for messages.
    pub name: String,
    /// The group columns.
    pub partition_by: Vec<String>,
    /// The column the rows are ranked by.
    pub order_by: String,
    /// Highest first (`DESC`); nulls rank last either way.
    pub descending: bool,
    /// How many ranks are kept.
    pub limit: u64,
    /// `RANK()`: rows that tie share a rank and are all kept; else `ROW_NUMBER()`.
    pub ties: bool,
}

impl TopNSpec {
    /// Checks the columns against the input's `schema`.
    ///
    /// # Errors
    /// A missing column, or a limit of 0.
    pub fn validate(&self, schema: &SchemaRef) -> Result<()> {
        for c in self.partition_by.iter().chain([&self.order_by]) {
            schema.index_of(c).map_err(|_| unknown_column(schema, c))?;
        }
        if self.limit == 0 {
            return Err(EngineError::InvalidPlan(format!(
                "top-n `{}` keeps no row: its limit is 0",
                self.name
            )));
        }
        Ok(())
    }

    /// The kept rows of one group-complete set of rows.
    ///
    /// # Errors
    /// When the columns cannot be sorted.
    pub fn apply(&self, rows: &RecordBatch) -> Result<RecordBatch> {
        let schema = rows.schema();
        let column = |name: &str| -> Result<usize> {
            schema
                .index_of(name)
                .map_err(|_| unknown_column(&schema, name))
        };
        let groups: Vec<usize> = self
            .partition_by
            .iter()
            .map(|c| column(c))
            .collect::<Result<_>>()?;
        let order = column(&self.order_by)?;
        let mut keys: Vec<SortColumn> = groups
            .iter()
            .map(|&i| SortColumn {
                values: Arc::clone(rows.column(i)),
                options: None,
            })
            .collect();
        keys.push(SortColumn {
            values: Arc::clone(rows.column(order)),
            options: Some(SortOptions {
                descending: self.descending,
                nulls_first: false,
            }),
        });
        // Under ROW_NUMBER the rest of the row breaks ties, in column order; under RANK
        // rows that tie are all kept, whatever their order.
        if !self.ties {
            for (i, c) in rows.columns().iter().enumerate() {
                if i != order && !groups.contains(&i) {
                    keys.push(SortColumn {
                        values: Arc::clone(c),
                        options: None,
                    });
                }
            }
        }
        let sorted = lexsort_to_indices(&keys, None)?;
        let group_rows = KeyColumns::resolve(&schema, &self.partition_by)?;
        let converter = group_rows.converter()?;
        let group_of = group_rows.rows(&converter, rows)?;
        let order_rows = arrow::row::RowConverter::new(vec![arrow::row::SortField::new(
            rows.column(order).data_type().clone(),
        )])?
        .convert_columns(&[Arc::clone(rows.column(order))])?;
        let mut kept = Vec::new();
        let (mut position, mut rank) = (0u64, 0u64);
        let mut previous: Option<u32> = None;
        for &i in sorted.values() {
            let same_group =
                previous.is_some_and(|p| group_of.row(p as usize) == group_of.row(i as usize));
            if same_group {
                position += 1;
                let tie = previous
                    .is_some_and(|p| order_rows.row(p as usize) == order_rows.row(i as usize));
                if !(self.ties && tie) {
                    rank = position;
                }
            } else {
                position = 1;
                rank = 1;
            }
            if rank <= self.limit {
                kept.push(i);
            }
            previous = Some(i);
        }
        Ok(take_record_batch(rows, &UInt32Array::from(kept))?)
    }
}

/// Top-N per group of a stream of Arrow batches, epoch by epoch.
pub trait TopNExt<'scope> {
    /// Keeps each epoch's first rows per group of `self` (batches with `schema`),
    /// exchanged by the group columns into `key_groups`; failures go to `failure`.
    ///
    /// # Errors
    /// When the spec does not fit the schema.
    fn top_n_per_epoch(
        self,
        spec: &TopNSpec,
        schema: &SchemaRef,
        key_groups: u32,
        first_epoch: u64,
        failure: Failure,
    ) -> Result<Stream<'scope, u64, Batches>>;
}

impl<'scope> TopNExt<'scope> for Stream<'scope, u64, Batches> {
    fn top_n_per_epoch(
        self,
        spec: &TopNSpec,
        schema: &SchemaRef,
        key_groups: u32,
        first_epoch: u64,
        failure: Failure,
    ) -> Result<Stream<'scope, u64, Batches>> {
        spec.validate(schema)?;
        let keys = KeyColumns::resolve(schema, &spec.partition_by)?;
        let name = format!("TopN({})", spec.name);
        let mut builder = OperatorBuilder::new(name.clone(), self.scope());
        let mut input = builder.new_input(self, key_pact(&keys, key_groups)?);
        let (out, stream) = builder.new_output::<Batches>();
        let mut out = OutputBuilder::from(out);
        let spec = spec.clone();
        let schema = Arc::clone(schema);
        builder.build(move |capabilities| {
            let mut caps = capabilities;
            for cap in caps.iter_mut() {
                cap.downgrade(&first_epoch);
            }
            let mut next = first_epoch;
            let mut stash: BTreeMap<u64, Vec<RecordBatch>> = BTreeMap::new();
            move |frontiers| {
                input.for_each(|cap, container| {
                    if let Some(&t) = cap.least() {
                        stash
                            .entry(t)
                            .or_default()
                            .extend(std::mem::take(&mut container.batches));
                    }
                });
                if caps.is_empty() {
                    return;
                }
                let frontier = frontiers[0].frontier().first().copied();
                let limit = complete_before(frontier, None, stash.keys().last().copied(), next);
                let mut handle = out.activate();
                while next < limit {
                    let epoch = next;
                    if let Some(batches) = stash.remove(&epoch) {
                        let kept = concat_batches(&schema, &batches)
                            .map_err(EngineError::from)
                            .and_then(|rows| spec.apply(&rows));
                        match kept {
                            Ok(rows) if rows.num_rows() == 0 => {}
                            Ok(rows) => {
                                let cap = caps[0].delayed(&epoch);
                                handle.session(&cap).give_container(&mut Batches::one(rows));
                            }
                            Err(e) => fail(&failure, format!("{name}, epoch {epoch}: {e}")),
                        }
                    }
                    next = epoch + 1;
                    for cap in caps.iter_mut() {
                        cap.downgrade(&next);
                    }
                }
                if frontier.is_none() && stash.is_empty() {
                    caps.clear();
                }
            }
        });
        Ok(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};

    fn rows() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("w", DataType::Utf8, false),
            Field::new("item", DataType::Int64, false),
            Field::new("num", DataType::Int64, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec!["a", "a", "a", "b", "b", "a", "b"])),
                Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5, 6, 7])),
                Arc::new(Int64Array::from(vec![
                    Some(5),
                    Some(9),
                    Some(9),
                    Some(2),
                    None,
                    Some(1),
                    Some(2),
                ])),
            ],
        )
        .unwrap()
    }

    fn kept(ties: bool, limit: u64) -> Vec<(String, i64)> {
        let spec = TopNSpec {
            name: "t".into(),
            partition_by: vec!["w".into()],
            order_by: "num".into(),
            descending: true,
            limit,
            ties,
        };
        let out = spec.apply(&rows()).unwrap();
        let w = out.column(0).as_string::<i32>();
        let item = out.column(1).as_primitive::<Int64Type>();
        let mut got: Vec<(String, i64)> = (0..out.num_rows())
            .map(|i| (w.value(i).to_owned(), item.value(i)))
            .collect();
        got.sort();
        got
    }

    #[test]
    fn rank_keeps_every_tie_and_row_number_one_row_per_rank() {
        let own = |v: &[(&str, i64)]| -> Vec<(String, i64)> {
            v.iter().map(|(w, i)| ((*w).to_owned(), *i)).collect()
        };
        // a: 9, 9, 5, 1; b: 2, 2, null (last).
        assert_eq!(
            kept(true, 1),
            own(&[("a", 2), ("a", 3), ("b", 4), ("b", 7)])
        );
        assert_eq!(kept(false, 1), own(&[("a", 2), ("b", 4)]));
        assert_eq!(
            kept(true, 2),
            own(&[("a", 2), ("a", 3), ("b", 4), ("b", 7)]),
            "ranks 1, 1, 3: rank 2 does not exist"
        );
        assert_eq!(
            kept(false, 3),
            own(&[("a", 1), ("a", 2), ("a", 3), ("b", 4), ("b", 5), ("b", 7)])
        );
        let all = rows();
        assert!(all.column(2).is_null(4));
    }
}
