//! Top-N per group, epoch by epoch: of each epoch's rows, the first `limit` ranks of each
//! group in an order of one or more columns, as `ROW_NUMBER()` (one row per rank, ties
//! broken by the rest of the row, so the choice never depends on arrival order), `RANK()`
//! (rows that tie share a rank, and the next rank skips as many) or `DENSE_RANK()` (rows
//! that tie share a rank, and the next rank follows it). The rank may be written to a
//! column of its own, as SQL's ranking subquery names it.
//!
//! It keeps no state across epochs, so it is exact only where each group's rows all
//! arrive in one epoch: a window's rows in append mode, which every worker emits in the
//! epoch whose watermark closes the window (Flink's window Top-N). The SQL front end only
//! plans it there.

mod windowed;

pub use windowed::{WindowTopNExt, WindowTopNSpec, WindowTopNState};

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, UInt32Array};
use arrow::compute::{
    SortColumn, SortOptions, concat_batches, lexsort_to_indices, take_record_batch,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use serde::{Deserialize, Serialize};
use timely::dataflow::Stream;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

use crate::batch::Batches;
use crate::epoch::complete_before;
use crate::error::{EngineError, Result};
use crate::key::{KeyColumns, column_index, key_pact};
use crate::runtime::failure::{Failure, fail_in};

/// The first rows of each group of an epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct TopNSpec {
    /// Its name, for messages.
    pub name: String,
    /// The group columns.
    pub partition_by: Vec<String>,
    /// The columns the rows are ranked by, the first first.
    pub order_by: Vec<SortKey>,
    /// How many ranks are kept.
    pub limit: u64,
    /// How rows that tie are ranked.
    pub ranking: Ranking,
    /// The column the rank is written to (`BIGINT`, after the input's), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank_column: Option<String>,
}

/// A column rows are ranked by, and its direction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SortKey {
    /// The column.
    pub column: String,
    /// Highest first (`DESC`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub descending: bool,
    /// Nulls before every value (`NULLS FIRST`); else after them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nulls_first: bool,
}

impl SortKey {
    /// `column`, lowest first, nulls last.
    pub fn ascending(column: &str) -> Self {
        Self {
            column: column.to_owned(),
            descending: false,
            nulls_first: false,
        }
    }

    /// `column`, highest first, nulls last.
    pub fn descending(column: &str) -> Self {
        Self {
            descending: true,
            ..Self::ascending(column)
        }
    }
}

impl std::fmt::Display for SortKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.column)?;
        if self.descending {
            write!(f, " desc")?;
        }
        if self.nulls_first {
            write!(f, " nulls first")?;
        }
        Ok(())
    }
}

/// How a Top-N ranks rows whose ordering columns tie.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ranking {
    /// `ROW_NUMBER()`: 1, 2, 3, ...; ties are broken by the rest of the row.
    RowNumber,
    /// `RANK()`: ties share a rank and the next skips as many (1, 1, 3).
    Rank,
    /// `DENSE_RANK()`: ties share a rank and the next follows it (1, 1, 2).
    DenseRank,
}

impl TopNSpec {
    /// Checks the columns against the input's `schema`.
    ///
    /// # Errors
    /// A missing column, no ordering column, a limit of 0, or a rank column that the
    /// input already has.
    pub fn validate(&self, schema: &SchemaRef) -> Result<()> {
        let invalid = |what: String| {
            Err(EngineError::InvalidPlan(format!(
                "top-n `{}` {what}",
                self.name
            )))
        };
        for c in self
            .partition_by
            .iter()
            .chain(self.order_by.iter().map(|k| &k.column))
        {
            column_index(schema, c)?;
        }
        if self.order_by.is_empty() {
            return invalid("ranks by no column".to_owned());
        }
        if self.limit == 0 {
            return invalid("keeps no row: its limit is 0".to_owned());
        }
        if let Some(rank) = &self.rank_column
            && schema.index_of(rank).is_ok()
        {
            return invalid(format!(
                "writes its rank to `{rank}`, a column of its input"
            ));
        }
        Ok(())
    }

    /// The schema of its output: the input's, then the rank column if any.
    pub fn output_schema(&self, input: &SchemaRef) -> SchemaRef {
        match &self.rank_column {
            None => Arc::clone(input),
            Some(rank) => {
                let mut fields: Vec<Field> =
                    input.fields().iter().map(|f| f.as_ref().clone()).collect();
                fields.push(Field::new(rank, DataType::Int64, false));
                Arc::new(Schema::new_with_metadata(fields, input.metadata().clone()))
            }
        }
    }

    /// The kept rows of one group-complete set of rows, with their ranks if asked.
    ///
    /// # Errors
    /// When the columns cannot be sorted.
    pub fn apply(&self, rows: &RecordBatch) -> Result<RecordBatch> {
        let schema = rows.schema();
        let column = |name: &str| -> Result<usize> { column_index(&schema, name) };
        let groups: Vec<usize> = self
            .partition_by
            .iter()
            .map(|c| column(c))
            .collect::<Result<_>>()?;
        let order: Vec<usize> = self
            .order_by
            .iter()
            .map(|k| column(&k.column))
            .collect::<Result<_>>()?;
        let mut keys: Vec<SortColumn> = groups
            .iter()
            .map(|&i| SortColumn {
                values: Arc::clone(rows.column(i)),
                options: None,
            })
            .collect();
        for (key, &i) in self.order_by.iter().zip(&order) {
            keys.push(SortColumn {
                values: Arc::clone(rows.column(i)),
                options: Some(SortOptions {
                    descending: key.descending,
                    nulls_first: key.nulls_first,
                }),
            });
        }
        // Under ROW_NUMBER the rest of the row breaks ties, in column order; under RANK
        // and DENSE_RANK rows that tie share their rank, whatever their order.
        if self.ranking == Ranking::RowNumber {
            for (i, c) in rows.columns().iter().enumerate() {
                if !order.contains(&i) && !groups.contains(&i) {
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
        let order_columns: Vec<ArrayRef> =
            order.iter().map(|&i| Arc::clone(rows.column(i))).collect();
        let order_rows = RowConverter::new(
            order_columns
                .iter()
                .map(|c| SortField::new(c.data_type().clone()))
                .collect(),
        )?
        .convert_columns(&order_columns)?;
        let (mut kept, mut ranks) = (Vec::new(), Vec::new());
        let (mut position, mut rank) = (0u64, 0u64);
        let mut previous: Option<u32> = None;
        for &i in sorted.values() {
            let same_group =
                previous.is_some_and(|p| group_of.row(p as usize) == group_of.row(i as usize));
            if same_group {
                position += 1;
                let tie = previous
                    .is_some_and(|p| order_rows.row(p as usize) == order_rows.row(i as usize));
                rank = match self.ranking {
                    Ranking::RowNumber => position,
                    Ranking::Rank if tie => rank,
                    Ranking::Rank => position,
                    Ranking::DenseRank if tie => rank,
                    Ranking::DenseRank => rank + 1,
                };
            } else {
                position = 1;
                rank = 1;
            }
            if rank <= self.limit {
                kept.push(i);
                ranks.push(i64::try_from(rank).unwrap_or(i64::MAX));
            }
            previous = Some(i);
        }
        let kept = take_record_batch(rows, &UInt32Array::from(kept))?;
        if self.rank_column.is_none() {
            return Ok(kept);
        }
        let mut columns = kept.columns().to_vec();
        columns.push(Arc::new(Int64Array::from(ranks)));
        Ok(RecordBatch::try_new(self.output_schema(&schema), columns)?)
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
                            Err(e) => fail_in(&failure, name.clone(), epoch, &e),
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

    fn spec(ranking: Ranking, limit: u64) -> TopNSpec {
        TopNSpec {
            name: "t".into(),
            partition_by: vec!["w".into()],
            order_by: vec![SortKey::descending("num")],
            limit,
            ranking,
            rank_column: None,
        }
    }

    fn kept(ties: bool, limit: u64) -> Vec<(String, i64)> {
        let ranking = if ties {
            Ranking::Rank
        } else {
            Ranking::RowNumber
        };
        ranked(&spec(ranking, limit))
            .into_iter()
            .map(|(w, item, _)| (w, item))
            .collect()
    }

    /// `(w, item, rank)` of the kept rows, sorted; the rank 0 when it is not a column.
    fn ranked(spec: &TopNSpec) -> Vec<(String, i64, i64)> {
        let out = spec.apply(&rows()).unwrap();
        let w = out.column(0).as_string::<i32>();
        let item = out.column(1).as_primitive::<Int64Type>();
        let mut got: Vec<(String, i64, i64)> = (0..out.num_rows())
            .map(|i| {
                let rank = match &spec.rank_column {
                    Some(name) => out
                        .column_by_name(name)
                        .unwrap()
                        .as_primitive::<Int64Type>()
                        .value(i),
                    None => 0,
                };
                (w.value(i).to_owned(), item.value(i), rank)
            })
            .collect();
        got.sort();
        got
    }

    fn own(v: &[(&str, i64, i64)]) -> Vec<(String, i64, i64)> {
        v.iter()
            .map(|(w, i, r)| ((*w).to_owned(), *i, *r))
            .collect()
    }

    #[test]
    fn dense_rank_follows_a_tie_with_the_next_rank_and_writes_it() {
        // a: 9, 9, 5, 1; b: 2, 2, null (last).
        let mut dense = spec(Ranking::DenseRank, 2);
        dense.rank_column = Some("rk".into());
        assert_eq!(
            ranked(&dense),
            own(&[
                ("a", 1, 2),
                ("a", 2, 1),
                ("a", 3, 1),
                ("b", 4, 1),
                ("b", 5, 2),
                ("b", 7, 1)
            ]),
            "ranks 1, 1, 2 in a; 1, 1, 2 (the null) in b"
        );
        let mut rank = spec(Ranking::Rank, 3);
        rank.rank_column = Some("rk".into());
        assert_eq!(
            ranked(&rank),
            own(&[
                ("a", 1, 3),
                ("a", 2, 1),
                ("a", 3, 1),
                ("b", 4, 1),
                ("b", 5, 3),
                ("b", 7, 1)
            ]),
            "RANK skips rank 2 after a tie"
        );
        let out = rank.apply(&rows()).unwrap();
        assert_eq!(out.schema().field(3).name(), "rk");
        assert_eq!(out.schema().field(3).data_type(), &DataType::Int64);
    }

    #[test]
    fn later_sort_keys_break_ties_in_their_own_direction_and_nulls_may_come_first() {
        let mut s = spec(Ranking::Rank, 2);
        s.order_by = vec![SortKey::descending("num"), SortKey::ascending("item")];
        s.rank_column = Some("rk".into());
        // The ties of `num` are broken by `item`: no two rows share a rank now.
        assert_eq!(
            ranked(&s),
            own(&[("a", 2, 1), ("a", 3, 2), ("b", 4, 1), ("b", 7, 2)])
        );
        s.order_by[1].descending = true;
        assert_eq!(
            ranked(&s),
            own(&[("a", 2, 2), ("a", 3, 1), ("b", 4, 2), ("b", 7, 1)])
        );
        let mut nulls = spec(Ranking::RowNumber, 1);
        nulls.order_by[0].nulls_first = true;
        assert_eq!(
            ranked(&nulls),
            own(&[("a", 2, 0), ("b", 5, 0)]),
            "b's null first; a has none"
        );
    }

    #[test]
    fn a_rank_column_the_input_has_or_no_order_is_refused() {
        let schema = rows().schema();
        let mut s = spec(Ranking::Rank, 1);
        s.rank_column = Some("num".into());
        assert!(s.validate(&schema).is_err());
        let mut s = spec(Ranking::Rank, 1);
        s.order_by.clear();
        assert!(s.validate(&schema).is_err());
        assert!(spec(Ranking::Rank, 1).validate(&schema).is_ok());
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
