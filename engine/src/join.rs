//! Broadcast (stream–static) joins: every batch of a stream joined with a small table held
//! whole on every worker, by key equality.
//!
//! Inner, left and left-anti joins, with SQL semantics: a null key never matches, and a
//! key that matches several table rows gives one output row per match. Output rows keep
//! the input order, then the table's order for several matches, so results do not depend
//! on hash order.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, RecordBatch};
use arrow::datatypes::SchemaRef;
use serde::{Deserialize, Serialize};

use crate::error::Result;

mod key_index;
mod keyed;
mod layout;

use key_index::KeyIndex;
pub use keyed::{KeyedJoin, KeyedJoinExt, TableUpdates};
use layout::{JoinLayout, invalid, slot_pairs};

/// Which rows a join keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JoinKind {
    /// Rows with a match, once per match.
    Inner,
    /// Every row; table columns are null without a match.
    #[default]
    Left,
    /// Rows without a match, with no table columns.
    LeftAnti,
}

/// How a join holds its table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JoinStrategy {
    /// The whole table on every worker: for small dimension tables.
    #[default]
    Broadcast,
    /// The table as a differential arrangement spread over the workers by key, and the
    /// rows exchanged by key to meet it (a shuffle hash join): for tables too large to
    /// copy to every worker, and for tables followed as they change.
    Keyed,
}

impl JoinStrategy {
    fn is_broadcast(&self) -> bool {
        *self == Self::Broadcast
    }
}

/// The logical join, part of a job's plan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinSpec {
    /// Name, for messages and the operator.
    pub name: String,
    /// Key columns of the input (and of the table, unless `table_keys` names them).
    pub keys: Vec<String>,
    /// The table's key columns, in the order of `keys`, where they are named otherwise
    /// (a SQL join `ON o.customer_id = c.id`); empty: named as `keys`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub table_keys: Vec<String>,
    /// Inner, left or left-anti.
    pub kind: JoinKind,
    /// Table columns to add (empty: every non-key column).
    pub columns: Vec<String>,
    /// Broadcast (default) or keyed.
    #[serde(default, skip_serializing_if = "JoinStrategy::is_broadcast")]
    pub strategy: JoinStrategy,
    /// Whether a keyed join follows its table's new versions (a stream–table join): each
    /// epoch's rows join the version current when the epoch was planned, recorded in the
    /// epoch's offsets entry.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub follow: bool,
    /// A SQL predicate over the table's columns: only the table rows it holds for join
    /// (a SQL lookup join's `ON ... AND c.active`); rows it is false or null for are as
    /// absent, so a `LEFT` join gives nulls and a `LEFT ANTI` join keeps the row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_filter: Option<String>,
    /// Added table columns named otherwise in the output, by their name in the table (a
    /// SQL lookup join's `c.name` where the stream has a `name` too).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub renamed: std::collections::BTreeMap<String, String>,
}

impl JoinSpec {
    /// The table's key columns, in the order of `keys`.
    pub fn table_keys(&self) -> &[String] {
        if self.table_keys.is_empty() {
            &self.keys
        } else {
            &self.table_keys
        }
    }
}

/// A join compiled against its input schema and loaded with its table.
#[derive(Clone, Debug)]
pub struct BroadcastJoin {
    spec: JoinSpec,
    layout: JoinLayout,
    /// Table row indices per key, in table order.
    index: Arc<KeyIndex>,
    /// The added table columns.
    added: Vec<ArrayRef>,
}

impl BroadcastJoin {
    /// Compiles `spec` for batches of `input`, holding `table`.
    ///
    /// # Errors
    /// A key missing on either side or of types that cannot be compared, a requested
    /// column missing from the table, or an added column named like an input column.
    pub fn new(spec: JoinSpec, input: &SchemaRef, table: &RecordBatch) -> Result<Self> {
        let layout = JoinLayout::new(&spec, input, &table.schema())?;
        let table = &layout.table_rows(table)?;
        let table_keys = layout.table_key_columns(&spec, table)?;
        let index = KeyIndex::build(&layout.key_types, &table_keys)
            .map_err(|e| invalid(&spec, e.to_string()))?;
        let added = layout.table_added_columns(&spec, table)?;
        Ok(Self {
            spec,
            layout,
            index: Arc::new(index),
            added,
        })
    }

    /// The schema of joined batches.
    pub fn schema(&self) -> &SchemaRef {
        &self.layout.output
    }

    /// The join's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Per row of `batch`: whether its key has a match in the table. A row with a null key
    /// counts as matched, as a null foreign key does in SQL (pair the rule with a not-null
    /// check to forbid nulls).
    ///
    /// # Errors
    /// When the batch does not have the input schema's key columns.
    pub fn matched_or_null(&self, batch: &RecordBatch) -> Result<BooleanArray> {
        let keys = self.layout.input_key_columns(batch);
        self.index
            .found_or_null(&keys)
            .map_err(|e| invalid(&self.spec, e.to_string()))
    }

    /// Joins one batch.
    ///
    /// # Errors
    /// When the batch does not have the input schema's key columns.
    pub fn apply(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let keys = self.layout.input_key_columns(batch);
        let slots = self
            .index
            .probe(&keys)
            .map_err(|e| invalid(&self.spec, e.to_string()))?;
        let single = self.index.unique().then(|| self.index.rows());
        let pairs = slot_pairs(self.spec.kind, slots, single, |s| self.index.matches(s));
        self.layout.assemble(batch, pairs, &self.added)
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{AsArray, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Int64Type};

    use super::*;

    fn sales() -> RecordBatch {
        RecordBatch::try_from_iter(vec![
            (
                "customer_id",
                Arc::new(Int64Array::from(vec![
                    Some(1),
                    Some(2),
                    None,
                    Some(3),
                    Some(1),
                ])) as ArrayRef,
            ),
            (
                "amount",
                Arc::new(Int64Array::from(vec![10, 20, 30, 40, 50])) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    fn customers() -> RecordBatch {
        // Key 3 appears twice; key 4 has no sale. Keys arrive as Int32 and are cast.
        RecordBatch::try_from_iter(vec![
            (
                "customer_id",
                Arc::new(arrow::array::Int32Array::from(vec![1, 3, 3, 4])) as ArrayRef,
            ),
            (
                "tier",
                Arc::new(StringArray::from(vec!["gold", "silver", "bronze", "gold"])) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    /// A `kind` join named `c` by `customer_id`, adding every other table column.
    fn by_customer(kind: JoinKind) -> JoinSpec {
        JoinSpec {
            name: "c".into(),
            keys: vec!["customer_id".into()],
            kind,
            ..JoinSpec::default()
        }
    }

    fn run(kind: JoinKind) -> RecordBatch {
        let spec = by_customer(kind);
        let join = BroadcastJoin::new(spec, &sales().schema(), &customers()).unwrap();
        join.apply(&sales()).unwrap()
    }

    fn amounts(b: &RecordBatch) -> Vec<i64> {
        b.column(1).as_primitive::<Int64Type>().values().to_vec()
    }

    #[test]
    fn inner_left_and_anti_follow_sql() {
        let inner = run(JoinKind::Inner);
        assert_eq!(amounts(&inner), vec![10, 40, 40, 50]);
        let tiers: Vec<_> = inner.column(2).as_string::<i32>().iter().collect();
        assert_eq!(
            tiers,
            vec![Some("gold"), Some("silver"), Some("bronze"), Some("gold")]
        );
        let left = run(JoinKind::Left);
        assert_eq!(amounts(&left), vec![10, 20, 30, 40, 40, 50]);
        assert_eq!(left.column(2).null_count(), 2);
        assert!(left.schema().field(2).is_nullable());
        let anti = run(JoinKind::LeftAnti);
        assert_eq!(amounts(&anti), vec![20, 30]);
        assert_eq!(anti.num_columns(), 2);
    }

    /// A table filter joins as the table without the rows it does not hold for (filtered
    /// here by hand), in every kind of join; a filter that is not boolean is refused.
    #[test]
    fn a_table_filter_joins_only_its_rows() {
        let all = customers();
        let tiers = all.column(1).as_string::<i32>();
        let keep: arrow::array::BooleanArray =
            tiers.iter().map(|t| Some(t != Some("gold"))).collect();
        let kept = arrow::compute::filter_record_batch(&all, &keep).unwrap();
        for kind in [JoinKind::Inner, JoinKind::Left, JoinKind::LeftAnti] {
            let spec = by_customer(kind);
            let filtered = JoinSpec {
                table_filter: Some("tier <> 'gold'".into()),
                ..spec.clone()
            };
            let by_hand = BroadcastJoin::new(spec, &sales().schema(), &kept).unwrap();
            let by_filter = BroadcastJoin::new(filtered, &sales().schema(), &all).unwrap();
            let expected = by_hand.apply(&sales()).unwrap();
            assert_eq!(by_filter.apply(&sales()).unwrap(), expected, "{kind:?}");
            assert_ne!(run(kind), expected, "{kind:?}: the filter must matter");
        }
        let spec = JoinSpec {
            table_filter: Some("tier".into()),
            ..by_customer(JoinKind::Left)
        };
        let e = BroadcastJoin::new(spec, &sales().schema(), &all).unwrap_err();
        assert!(e.to_string().contains("not a boolean"), "{e}");
    }

    /// A table whose key is named otherwise (`ON s.customer_id = c.id`) joins the same
    /// rows, and its key column is not added.
    #[test]
    fn a_table_key_may_be_named_otherwise() {
        let renamed = RecordBatch::try_from_iter(vec![
            ("id", Arc::clone(customers().column(0))),
            ("tier", Arc::clone(customers().column(1))),
        ])
        .unwrap();
        let spec = JoinSpec {
            table_keys: vec!["id".into()],
            ..by_customer(JoinKind::Left)
        };
        let join = BroadcastJoin::new(spec.clone(), &sales().schema(), &renamed).unwrap();
        assert_eq!(join.apply(&sales()).unwrap(), run(JoinKind::Left));
        let wrong = JoinSpec {
            table_keys: vec!["customer_id".into()],
            ..spec
        };
        let err = BroadcastJoin::new(wrong, &sales().schema(), &renamed).unwrap_err();
        assert!(
            err.to_string().contains("not a column of the table"),
            "{err}"
        );
    }

    /// A naive nested-loop join of `(key, amount)` rows with `(key, tier)` rows, in input
    /// order then table order: the oracle for the indexed joins.
    fn nested_loop(
        kind: JoinKind,
        input: &[(Option<i64>, i64)],
        table: &[(Option<i64>, String)],
    ) -> Vec<(i64, Option<String>)> {
        let mut out = Vec::new();
        for &(key, amount) in input {
            let found: Vec<&String> = table
                .iter()
                .filter(|(k, _)| key.is_some() && *k == key)
                .map(|(_, t)| t)
                .collect();
            match kind {
                JoinKind::LeftAnti if found.is_empty() => out.push((amount, None)),
                JoinKind::Left if found.is_empty() => out.push((amount, None)),
                JoinKind::Inner | JoinKind::Left => {
                    out.extend(found.into_iter().map(|t| (amount, Some(t.clone()))))
                }
                _ => {}
            }
        }
        out
    }

    #[test]
    fn indexed_joins_equal_a_nested_loop_for_dense_sparse_and_repeated_keys() {
        let mut seed = 42u64;
        let mut next = |bound: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % bound
        };
        // (spread of the table keys, whether keys repeat): dense unique ids, sparse unique
        // ids (hashed), and repeated keys.
        for (spread, repeat) in [(1i64, false), (1_000_003, false), (1, true)] {
            let table: Vec<(Option<i64>, String)> = (0..300i64)
                .map(|i| {
                    let id = if repeat { i / 3 } else { i };
                    let key = (next(20) != 0).then_some(id * spread + 7);
                    (key, format!("t{i}"))
                })
                .collect();
            let input: Vec<(Option<i64>, i64)> = (0..2000i64)
                .map(|i| {
                    let id = next(400) as i64 - 50;
                    ((next(10) != 0).then_some(id * spread + 7), i)
                })
                .collect();
            let table_batch = RecordBatch::try_from_iter(vec![
                (
                    "customer_id",
                    Arc::new(Int64Array::from_iter(table.iter().map(|r| r.0))) as ArrayRef,
                ),
                (
                    "tier",
                    Arc::new(StringArray::from_iter_values(table.iter().map(|r| &r.1))) as ArrayRef,
                ),
            ])
            .unwrap();
            let input_batch = RecordBatch::try_from_iter(vec![
                (
                    "customer_id",
                    Arc::new(Int64Array::from_iter(input.iter().map(|r| r.0))) as ArrayRef,
                ),
                (
                    "amount",
                    Arc::new(Int64Array::from_iter_values(input.iter().map(|r| r.1))) as ArrayRef,
                ),
            ])
            .unwrap();
            for kind in [JoinKind::Inner, JoinKind::Left, JoinKind::LeftAnti] {
                let join =
                    BroadcastJoin::new(by_customer(kind), &input_batch.schema(), &table_batch)
                        .unwrap();
                let joined = join.apply(&input_batch).unwrap();
                let tiers: Vec<Option<String>> = if kind == JoinKind::LeftAnti {
                    vec![None; joined.num_rows()]
                } else {
                    joined
                        .column(2)
                        .as_string::<i32>()
                        .iter()
                        .map(|t| t.map(str::to_string))
                        .collect()
                };
                let got: Vec<(i64, Option<String>)> =
                    amounts(&joined).into_iter().zip(tiers).collect();
                assert_eq!(
                    got,
                    nested_loop(kind, &input, &table),
                    "spread {spread}, repeat {repeat}, {kind:?}"
                );
                // Matched or null: what the referential-integrity rule counts.
                let found: Vec<bool> = join
                    .matched_or_null(&input_batch)
                    .unwrap()
                    .values()
                    .iter()
                    .collect();
                let expected: Vec<bool> = input
                    .iter()
                    .map(|(k, _)| k.is_none() || table.iter().any(|(t, _)| t == k))
                    .collect();
                assert_eq!(found, expected);
            }
        }
    }

    #[test]
    fn bad_specs_are_plan_errors() {
        let spec = |keys: &[&str], columns: &[&str]| JoinSpec {
            name: "c".into(),
            keys: keys.iter().map(|s| s.to_string()).collect(),
            kind: JoinKind::Left,
            columns: columns.iter().map(|s| s.to_string()).collect(),
            ..JoinSpec::default()
        };
        let e =
            BroadcastJoin::new(spec(&["nope"], &[]), &sales().schema(), &customers()).unwrap_err();
        assert!(
            e.to_string().contains("\"nope\" is not an input column"),
            "{e}"
        );
        let e = BroadcastJoin::new(
            spec(&["customer_id"], &["amount"]),
            &sales().schema(),
            &customers(),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("\"amount\" is not in the table"),
            "{e}"
        );
        let ok = BroadcastJoin::new(
            spec(&["customer_id"], &["tier"]),
            &sales().schema(),
            &customers(),
        )
        .unwrap();
        assert_eq!(ok.schema().field(2).data_type(), &DataType::Utf8);
    }
}
