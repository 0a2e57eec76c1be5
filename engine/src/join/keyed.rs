//! Keyed joins: the table is a differential arrangement spread over the workers by key,
//! and each batch's rows travel to the worker owning their key (a shuffle hash join).
//!
//! The table arrives as updates `((key, row), epoch, ±1)`: a [`TableFeed`]'s rows, added
//! at the epoch whose offsets entry first names their version and retracted at the epoch
//! that names the version removing them. The rows of epoch `e` join the table as it stands
//! at `e` (every update at an epoch `≤ e`), once the table's updates for `e` are complete;
//! later versions never change rows already joined, as in Spark's stream–static join. A
//! replay feeds the versions logged for its epochs, so it joins the same rows.
//!
//! Keys and table rows are Arrow row-format bytes; a key's matches come out in row-byte
//! order, so nothing depends on hash order. A null key never matches.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use ahash::RandomState;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use differential_dataflow::operators::arrange::TraceAgent;
use differential_dataflow::operators::arrange::arrangement::arrange_core;
use differential_dataflow::trace::TraceReader;
use differential_dataflow::trace::cursor::{Cursor, cursor_list};
use differential_dataflow::trace::implementations::{ValBatcher, ValSpine};
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::progress::Antichain;

use super::JoinSpec;
use super::key_index::NO_MATCH;
use super::layout::{JoinLayout, invalid, null_key, slot_pairs};
use crate::batch::Batches;
use crate::error::Result;
use crate::key::{KeyColumns, key_group, key_pact, owner};
use crate::runtime::failure::{Failure, fail_in};
use crate::table_feed::TableFeed;

type TableSpine = ValSpine<Vec<u8>, Vec<u8>, u64, isize>;
type TableTrace = TraceAgent<TableSpine>;

/// Updates to a keyed join's table: `((key, row), epoch, diff)`, in row-format bytes.
pub type TableUpdates = Vec<((Vec<u8>, Vec<u8>), u64, isize)>;

/// A keyed join compiled against its input schema and its table's schema.
#[derive(Clone)]
pub struct KeyedJoin {
    spec: JoinSpec,
    input: SchemaRef,
    layout: JoinLayout,
    keys: Arc<RowConverter>,
    /// Encodes the added table columns; `None` when there are none (left-anti).
    values: Option<Arc<RowConverter>>,
    feed: Arc<dyn TableFeed>,
}

impl std::fmt::Debug for KeyedJoin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedJoin")
            .field("spec", &self.spec)
            .field("table", &self.feed.name())
            .finish_non_exhaustive()
    }
}

impl KeyedJoin {
    /// Compiles `spec` for batches of `input`, against the table `feed` reads.
    ///
    /// # Errors
    /// As [`super::BroadcastJoin::new`], and key or column types without a row encoding.
    pub fn new(spec: JoinSpec, input: &SchemaRef, feed: Arc<dyn TableFeed>) -> Result<Self> {
        let layout = JoinLayout::new(&spec, input, &feed.schema())?;
        let keys =
            RowConverter::new(layout.key_fields()).map_err(|e| invalid(&spec, e.to_string()))?;
        let values = if layout.added_types.is_empty() {
            None
        } else {
            let fields = layout
                .added_types
                .iter()
                .cloned()
                .map(SortField::new)
                .collect();
            Some(Arc::new(
                RowConverter::new(fields).map_err(|e| invalid(&spec, e.to_string()))?,
            ))
        };
        Ok(Self {
            spec,
            input: Arc::clone(input),
            layout,
            keys: Arc::new(keys),
            values,
            feed,
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

    /// Whether the join follows its table's new versions.
    pub fn follows(&self) -> bool {
        self.spec.follow
    }

    /// The table's versions.
    pub fn feed(&self) -> &Arc<dyn TableFeed> {
        &self.feed
    }

    /// Appends to `out` the updates that give (`diff` 1) or take back (−1) the rows of a
    /// table batch at `epoch`; rows with a null key are left out, as they never match.
    ///
    /// # Errors
    /// When the batch lacks a key or an added column, or a column no longer casts to the
    /// type the join was planned with.
    pub fn table_updates(
        &self,
        batch: &RecordBatch,
        epoch: u64,
        diff: isize,
        out: &mut TableUpdates,
    ) -> Result<()> {
        let batch = &self.layout.table_rows(batch)?;
        let key_columns = self.layout.table_key_columns(&self.spec, batch)?;
        let keys = self.keys.convert_columns(&key_columns)?;
        let values = match &self.values {
            Some(converter) => {
                let added = self.layout.table_added_columns(&self.spec, batch)?;
                Some(converter.convert_columns(&added)?)
            }
            None => None,
        };
        out.reserve(batch.num_rows());
        for (i, key) in keys.iter().enumerate() {
            if null_key(&key_columns, i) {
                continue;
            }
            let value = values
                .as_ref()
                .map_or_else(Vec::new, |v| v.row(i).as_ref().to_vec());
            out.push(((key.as_ref().to_vec(), value), epoch, diff));
        }
        Ok(())
    }

    /// Joins an epoch's batches against the table as it stands at `epoch`.
    fn join_epoch(
        &self,
        epoch: u64,
        batches: &[RecordBatch],
        trace: &mut TableTrace,
    ) -> Result<Vec<RecordBatch>> {
        let mut encoded = Vec::with_capacity(batches.len());
        for batch in batches {
            let keys = self.layout.input_key_columns(batch);
            let rows = self.keys.convert_columns(&keys)?;
            encoded.push((keys, rows));
        }
        // Each distinct wanted key gets a slot; each row, its key's slot (or NO_MATCH).
        let mut slot_of: HashMap<&[u8], u32, RandomState> = HashMap::default();
        let mut row_slots: Vec<Vec<u32>> = Vec::with_capacity(encoded.len());
        for (keys, rows) in &encoded {
            let slots = (0..rows.num_rows())
                .map(|i| {
                    if null_key(keys, i) {
                        return NO_MATCH;
                    }
                    let next = slot_of.len() as u32;
                    *slot_of.entry(rows.row(i).data()).or_insert(next)
                })
                .collect();
            row_slots.push(slots);
        }
        // Look every wanted key up once, in key order (cursors seek forward).
        let mut wanted: Vec<(&[u8], u32)> = slot_of.into_iter().collect();
        wanted.sort_unstable();
        let mut matches: Vec<Vec<u32>> = vec![Vec::new(); wanted.len()];
        let mut values: Vec<Vec<u8>> = Vec::new();
        let mut upper = Antichain::new();
        trace.read_upper(&mut upper);
        let spans = trace
            .spans_through(upper.borrow())
            .ok_or_else(|| invalid(&self.spec, "the table's arrangement is closed".into()))?;
        let (mut cursor, storage) =
            cursor_list(spans.into_iter().filter_map(|s| s.inner).collect());
        let mut key = Vec::new();
        for &(bytes, slot) in &wanted {
            key.clear();
            key.extend_from_slice(bytes);
            cursor.seek_key(&storage, &key);
            if cursor.get_key(&storage) != Some(&key) {
                continue;
            }
            while let Some(value) = cursor.get_val(&storage) {
                let mut count: isize = 0;
                cursor.map_times(&storage, |time, diff| {
                    if *time <= epoch {
                        count += *diff;
                    }
                });
                if count > 0 {
                    let index = values.len() as u32;
                    values.push(value.clone());
                    matches[slot as usize].extend(std::iter::repeat_n(index, count as usize));
                }
                cursor.step_val(&storage);
            }
        }
        let table: Vec<ArrayRef> = match &self.values {
            Some(converter) if !values.is_empty() => {
                let parser = converter.parser();
                converter.convert_rows(values.iter().map(|v| parser.parse(v)))?
            }
            _ => self
                .layout
                .added_types
                .iter()
                .map(|t| arrow::array::new_empty_array(t))
                .collect(),
        };
        // With at most one table row per key, each slot is one value: pair in one pass.
        let unique: Option<Vec<u32>> = matches
            .iter()
            .map(|m| match m.as_slice() {
                [] => Some(NO_MATCH),
                [one] => Some(*one),
                _ => None,
            })
            .collect();
        let mut out = Vec::with_capacity(batches.len());
        for (batch, slots) in batches.iter().zip(row_slots) {
            let pairs = slot_pairs(self.spec.kind, slots, unique.as_deref(), |s| {
                &matches[s as usize]
            });
            let joined = self.layout.assemble(batch, pairs, &table)?;
            if joined.num_rows() > 0 {
                out.push(joined);
            }
        }
        Ok(out)
    }
}

/// Keyed joins on a stream of batches.
pub trait KeyedJoinExt<'scope> {
    /// Joins each epoch's rows with the table that `table` updates, at that epoch.
    ///
    /// # Errors
    /// When the key types have no row encoding.
    fn keyed_join(
        self,
        join: &KeyedJoin,
        table: Stream<'scope, u64, TableUpdates>,
        key_groups: u32,
        failure: Failure,
    ) -> Result<Stream<'scope, u64, Batches>>;
}

impl<'scope> KeyedJoinExt<'scope> for Stream<'scope, u64, Batches> {
    fn keyed_join(
        self,
        join: &KeyedJoin,
        table: Stream<'scope, u64, TableUpdates>,
        key_groups: u32,
        failure: Failure,
    ) -> Result<Stream<'scope, u64, Batches>> {
        let name = join.spec.name.clone();
        let scope = self.scope();
        let peers = scope.peers();
        // The table's rows go to the worker that owns their key, as the stream's rows do.
        let exchange = Exchange::new(move |update: &((Vec<u8>, Vec<u8>), u64, isize)| {
            owner(key_group(&(update.0).0, key_groups), key_groups, peers) as u64
        });
        let arranged = arrange_core::<_, _, ValBatcher<Vec<u8>, Vec<u8>, u64, isize>, TableSpine>(
            table,
            exchange,
            &format!("ArrangeTable({name})"),
            ValBatcher::new,
        );
        let mut trace = arranged.trace;
        let keys = KeyColumns::resolve(&join.input, &join.spec.keys)?;
        let mut builder = OperatorBuilder::new(format!("KeyedJoin({name})"), scope);
        let mut rows = builder.new_input(self, key_pact(&keys, key_groups)?);
        let mut table_batches = builder.new_input(arranged.stream, Pipeline);
        let (out, stream) = builder.new_output::<Batches>();
        let mut out = OutputBuilder::from(out);
        let join = join.clone();
        builder.build(move |_capabilities| {
            let mut stash: BTreeMap<u64, (Capability<u64>, Vec<RecordBatch>)> = BTreeMap::new();
            move |frontiers| {
                rows.for_each(|cap, container| {
                    let Some(&epoch) = cap.least() else { return };
                    let Some(retained) = cap.retain_least(0) else {
                        return;
                    };
                    stash
                        .entry(epoch)
                        .or_insert_with(|| (retained, Vec::new()))
                        .1
                        .extend(std::mem::take(&mut container.batches));
                });
                table_batches.for_each(|_, _| {});
                let table_frontier = frontiers[1].frontier();
                let ready: Vec<u64> = stash
                    .keys()
                    .copied()
                    .filter(|e| !table_frontier.less_equal(e))
                    .collect();
                let mut handle = out.activate();
                for epoch in ready {
                    let (cap, batches) = stash.remove(&epoch).expect("a ready epoch");
                    match join.join_epoch(epoch, &batches, &mut trace) {
                        Ok(joined) => {
                            let mut session = handle.session(&cap);
                            for batch in joined {
                                session.give_container(&mut Batches::one(batch));
                            }
                        }
                        Err(e) => fail_in(&failure, format!("join {name}"), epoch, &e),
                    }
                }
                // The table may forget history before every epoch still to be joined.
                let mut lower = Antichain::new();
                for &epoch in stash.keys() {
                    lower.insert(epoch);
                }
                for &epoch in frontiers[0].frontier().iter() {
                    lower.insert(epoch);
                }
                let mut upper = Antichain::new();
                trace.read_upper(&mut upper);
                for &epoch in upper.iter() {
                    lower.insert(epoch);
                }
                trace.set_logical_compaction(lower.borrow());
                trace.set_physical_compaction(lower.borrow());
            }
        });
        Ok(stream)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use arrow::array::{Array, AsArray, Int32Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};
    use timely::dataflow::operators::Input;
    use timely::dataflow::operators::generic::operator::Operator;

    use super::*;
    use crate::join::{JoinKind, JoinStrategy};
    use crate::runtime::ConnectorFailure;
    use crate::table_feed::TableChanges;

    #[derive(Debug)]
    struct Schemas(SchemaRef);

    impl TableFeed for Schemas {
        fn name(&self) -> &str {
            "customers"
        }
        fn schema(&self) -> SchemaRef {
            Arc::clone(&self.0)
        }
        fn latest_version(&self) -> Result<i64, ConnectorFailure> {
            Ok(0)
        }
        fn changes(
            &self,
            _: Option<i64>,
            _: i64,
            _: usize,
            _: usize,
        ) -> Result<TableChanges, ConnectorFailure> {
            Ok(TableChanges::default())
        }
    }

    fn table_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Int32, true),
            Field::new("tier", DataType::Utf8, true),
        ]))
    }

    fn sales_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Int64, true),
            Field::new("amount", DataType::Int64, false),
        ]))
    }

    /// `(epoch, diff, customer, tier)`: the table's history.
    const TABLE: &[(u64, isize, Option<i32>, &str)] = &[
        (0, 1, Some(1), "gold"),
        (0, 1, Some(2), "silver"),
        (0, 1, Some(3), "bronze"),
        (0, 1, Some(3), "bronze"),
        (0, 1, None, "ghost"),
        (2, -1, Some(2), "silver"),
        (2, 1, Some(2), "platinum"),
        (2, 1, Some(4), "gold"),
        (3, -1, Some(3), "bronze"),
    ];

    /// `(epoch, customer, amount)`: the stream.
    fn sales() -> Vec<(u64, Option<i64>, i64)> {
        let mut rows = Vec::new();
        for epoch in 0..5u64 {
            for (i, customer) in [Some(1), Some(2), Some(3), Some(4), Some(5), None]
                .into_iter()
                .enumerate()
            {
                rows.push((epoch, customer, (epoch * 100) as i64 + i as i64));
            }
        }
        rows
    }

    /// The naive answer: each sale against the table's rows with epoch ≤ its own (those
    /// whose tier `keep` holds for).
    fn oracle(kind: JoinKind, keep: fn(&str) -> bool) -> Vec<String> {
        let mut out = Vec::new();
        for (epoch, customer, amount) in sales() {
            let mut counts: BTreeMap<&str, isize> = BTreeMap::new();
            for &(e, diff, c, tier) in TABLE {
                if e <= epoch && c.is_some() && c.map(i64::from) == customer && keep(tier) {
                    *counts.entry(tier).or_default() += diff;
                }
            }
            let matches: Vec<&str> = counts
                .iter()
                .flat_map(|(t, n)| std::iter::repeat_n(*t, (*n).max(0) as usize))
                .collect();
            match kind {
                JoinKind::LeftAnti if matches.is_empty() => out.push(format!("{epoch} {amount}")),
                JoinKind::LeftAnti => {}
                JoinKind::Left if matches.is_empty() => {
                    out.push(format!("{epoch} {amount} null"));
                }
                _ => {
                    for t in matches {
                        out.push(format!("{epoch} {amount} {t}"));
                    }
                }
            }
        }
        out.sort();
        out
    }

    fn run(kind: JoinKind, table_filter: Option<&str>) -> Vec<String> {
        let spec = JoinSpec {
            name: "customers".into(),
            keys: vec!["customer_id".into()],
            kind,
            strategy: JoinStrategy::Keyed,
            table_filter: table_filter.map(str::to_owned),
            ..JoinSpec::default()
        };
        let feed: Arc<dyn TableFeed> = Arc::new(Schemas(table_schema()));
        let join = KeyedJoin::new(spec, &sales_schema(), feed).unwrap();
        let collected = Arc::new(Mutex::new(Vec::new()));
        let out = Arc::clone(&collected);
        timely::execute(timely::Config::process(2), move |worker| {
            let index = worker.index();
            let failure = Failure::default();
            let sink = Arc::clone(&out);
            let (mut rows_in, mut table_in) = worker.dataflow::<u64, _, _>(|scope| {
                let (rows_in, rows) = scope.new_input::<Batches>();
                let (table_in, table) = scope.new_input::<TableUpdates>();
                let joined = rows.keyed_join(&join, table, 16, failure.clone()).unwrap();
                joined.sink(Pipeline, "Collect", move |(input, _)| {
                    input.for_each(|cap, container| {
                        let epoch = *cap.least().expect("a time");
                        for b in &container.batches {
                            let amounts = b.column(1).as_primitive::<Int64Type>();
                            for i in 0..b.num_rows() {
                                let mut line = format!("{epoch} {}", amounts.value(i));
                                if b.num_columns() > 2 {
                                    let tiers = b.column(2).as_string::<i32>();
                                    if tiers.is_null(i) {
                                        line.push_str(" null");
                                    } else {
                                        line.push_str(&format!(" {}", tiers.value(i)));
                                    }
                                }
                                sink.lock().unwrap().push(line);
                            }
                        }
                    });
                });
                (rows_in, table_in)
            });
            for epoch in 0..5u64 {
                // Each worker feeds every other table row, so the exchange matters.
                let mut updates = TableUpdates::new();
                for (n, &(e, diff, c, tier)) in TABLE.iter().enumerate() {
                    if e != epoch || n % 2 != index {
                        continue;
                    }
                    let batch = RecordBatch::try_new(
                        table_schema(),
                        vec![
                            Arc::new(Int32Array::from(vec![c])),
                            Arc::new(StringArray::from(vec![tier])),
                        ],
                    )
                    .unwrap();
                    join.table_updates(&batch, epoch, diff, &mut updates)
                        .unwrap();
                }
                if !updates.is_empty() {
                    table_in.send_batch(&mut updates);
                }
                if index == 0 {
                    let (customers, amounts): (Vec<_>, Vec<_>) = sales()
                        .into_iter()
                        .filter(|(e, _, _)| *e == epoch)
                        .map(|(_, c, a)| (c, a))
                        .unzip();
                    let batch = RecordBatch::try_new(
                        sales_schema(),
                        vec![
                            Arc::new(Int64Array::from(customers)),
                            Arc::new(Int64Array::from(amounts)),
                        ],
                    )
                    .unwrap();
                    rows_in.send_batch(&mut Batches::one(batch));
                }
                rows_in.advance_to(epoch + 1);
                table_in.advance_to(epoch + 1);
                worker.step();
            }
            drop((rows_in, table_in));
            while worker.step_or_park(None) {}
            assert!(failure.first().is_none(), "{:?}", failure.first());
        })
        .unwrap();
        let mut lines = collected.lock().unwrap().clone();
        lines.sort();
        lines
    }

    #[test]
    fn each_epoch_joins_the_table_as_of_that_epoch() {
        for kind in [JoinKind::Left, JoinKind::Inner, JoinKind::LeftAnti] {
            let expected = oracle(kind, |_| true);
            assert!(expected.len() >= 12, "{kind:?}: {expected:?}");
            assert_eq!(run(kind, None), expected, "{kind:?}");
        }
    }

    /// A table filter leaves the table rows it does not hold for out, their retractions
    /// too: customer 3 (bronze) and the platinum version of 2 never match.
    #[test]
    fn a_table_filter_keeps_only_its_rows_through_the_versions() {
        for kind in [JoinKind::Left, JoinKind::Inner, JoinKind::LeftAnti] {
            let expected = oracle(kind, |tier| !matches!(tier, "bronze" | "platinum"));
            assert_ne!(expected, oracle(kind, |_| true), "{kind:?}");
            let got = run(kind, Some("tier NOT IN ('bronze', 'platinum')"));
            assert_eq!(got, expected, "{kind:?}");
        }
    }

    #[test]
    fn table_keys_must_cast_to_the_input_keys() {
        let spec = JoinSpec {
            name: "c".into(),
            keys: vec!["tier".into()],
            strategy: JoinStrategy::Keyed,
            ..JoinSpec::default()
        };
        let input = Arc::new(Schema::new(vec![Field::new(
            "tier",
            DataType::Struct(vec![Field::new("x", DataType::Int32, true)].into()),
            true,
        )]));
        let feed: Arc<dyn TableFeed> = Arc::new(Schemas(table_schema()));
        let e = KeyedJoin::new(spec, &input, feed).unwrap_err();
        assert!(e.to_string().contains("does not cast"), "{e}");
    }
}
