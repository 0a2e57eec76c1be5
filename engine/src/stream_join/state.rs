//! The keyed state of a stream–stream join and its per-epoch logic (see the [module
//! docs](super)).

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, UInt32Array};
use arrow::compute::{concat_batches, filter_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt8Type, UInt32Type};
use arrow::record_batch::RecordBatch;
use arrow::row::RowConverter;
use tracing::warn;
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

use super::{StreamJoinKind, StreamJoinSpec};
use crate::error::{EngineError, Result};
use crate::event_time::{
    EventTimeState, as_micros, canonical_order, decode_snapshots, late_rows, whole_rows,
};
use crate::expr::SqlExpr;
use crate::key::column_index;
use crate::stateless::isolating;
use crate::watermark::Watermark;
use crate::window::micros;

use super::side::{At, Held, NULL_KEYS, Side};

const LEFT: usize = 0;
const RIGHT: usize = 1;
/// An epoch's matches: the pairs, and (for a semi join) the left rows that matched for
/// the first time, with their keys.
#[derive(Default)]
struct Matches {
    pairs: Vec<(At, At)>,
    first: Vec<(Box<[u8]>, At)>,
}

/// The watermarks of both sides, as snapshots keep them.
#[derive(serde::Serialize, serde::Deserialize)]
struct Watermarks {
    left: Watermark,
    right: Watermark,
}

/// The state of one stream–stream join instance.
pub struct StreamJoinState {
    spec: StreamJoinSpec,
    sides: [Side; 2],
    /// The schema of a pair's joined row: the left columns, then the right.
    pair_schema: SchemaRef,
    /// The schema of the emitted rows: a pair's, or the left columns of a semi join.
    output_schema: SchemaRef,
    /// The spec's `condition`, compiled against the pair schema.
    condition: Option<SqlExpr>,
}

impl StreamJoinState {
    /// Empty state for `spec` over left rows with `left` and right rows with `right`.
    ///
    /// # Errors
    /// A missing column, keys whose counts or types differ between the sides, a time
    /// column that is not a timestamp, or bounds in the wrong order.
    pub fn new(spec: StreamJoinSpec, left: &SchemaRef, right: &SchemaRef) -> Result<Self> {
        Self::holding(spec, left, right, [None, None])
    }

    /// Empty state for `spec` that holds, of each side's rows, only the columns the join
    /// reads (its keys, event time, `until` and the columns of its condition) and those of
    /// its output that `read` names (in lowercase, as the plan's readers of the join's
    /// output need them): the others would only be copied into every snapshot and kept in
    /// memory for as long as the row. The join's output then has only those columns.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn narrowed(
        spec: StreamJoinSpec,
        left: &SchemaRef,
        right: &SchemaRef,
        read: &BTreeSet<String>,
    ) -> Result<Self> {
        let [l, r] = Self::new(spec.clone(), left, right)?.held_columns(read);
        Self::holding(spec, left, right, [Some(&l), Some(&r)])
    }

    /// The columns each side's rows hold, left then right.
    pub fn held(&self) -> [Vec<String>; 2] {
        [LEFT, RIGHT].map(|s| self.sides[s].held_names())
    }

    /// Of each side, the columns (in its input's order) that the join reads and those of
    /// its output that `read` names (in lowercase); see [`narrowed`](Self::narrowed).
    pub fn held_columns(&self, read: &BTreeSet<String>) -> [Vec<String>; 2] {
        let lower = |n: &str| n.to_lowercase();
        let mut wanted: [BTreeSet<String>; 2] = Default::default();
        wanted[LEFT].extend(self.spec.left_keys.iter().map(|k| lower(k)));
        wanted[LEFT].insert(lower(&self.spec.left_time));
        wanted[LEFT].extend(self.spec.left_until.iter().map(|u| lower(u)));
        wanted[RIGHT].extend(self.spec.right_keys.iter().map(|k| lower(k)));
        wanted[RIGHT].insert(lower(&self.spec.right_time));
        let condition: BTreeSet<String> = self
            .condition
            .iter()
            .flat_map(SqlExpr::columns)
            .map(|c| lower(&c))
            .collect();
        // The pair's columns are the left side's, then the right's, each with its prefix;
        // the output's are the pair's (or its left ones, in a semi join).
        let left_width = self.sides[LEFT].schema.fields().len();
        for (i, field) in self.pair_schema.fields().iter().enumerate() {
            let name = lower(field.name());
            let output = i < self.output_schema.fields().len() && read.contains(&name);
            if !output && !condition.contains(&name) {
                continue;
            }
            let (side, at) = if i < left_width {
                (LEFT, i)
            } else {
                (RIGHT, i - left_width)
            };
            wanted[side].insert(lower(self.sides[side].schema.field(at).name()));
        }
        [LEFT, RIGHT].map(|s| {
            self.sides[s]
                .schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .filter(|n| wanted[s].contains(&lower(n)))
                .collect()
        })
    }

    /// Empty state for `spec` holding the columns `held` of each side (all when `None`).
    fn holding(
        spec: StreamJoinSpec,
        left: &SchemaRef,
        right: &SchemaRef,
        held: [Option<&[String]>; 2],
    ) -> Result<Self> {
        let invalid = |m: String| EngineError::InvalidPlan(format!("join `{}`: {m}", spec.name));
        if spec.left_keys.is_empty() || spec.left_keys.len() != spec.right_keys.len() {
            return Err(invalid(format!(
                "the sides need as many keys, at least one: {:?} and {:?}",
                spec.left_keys, spec.right_keys
            )));
        }
        for (l, r) in spec.left_keys.iter().zip(&spec.right_keys) {
            let lt = left.field(column_index(left, l)?);
            let rt = right.field(column_index(right, r)?);
            if lt.data_type() != rt.data_type() {
                return Err(invalid(format!(
                    "keys `{l}` ({}) and `{r}` ({}) must have one type; CAST one of them",
                    lt.data_type(),
                    rt.data_type()
                )));
            }
        }
        if spec.min_offset_us > spec.max_offset_us {
            return Err(invalid(
                "the time bounds are in the wrong order (the lower one is above the upper)".into(),
            ));
        }
        let [held_left, held_right] = held;
        let sides = [
            Side::new(
                left,
                held_left,
                &spec.left_keys,
                &spec.left_time,
                spec.left_until.as_deref(),
                micros(spec.left_delay),
            )?,
            Side::new(
                right,
                held_right,
                &spec.right_keys,
                &spec.right_time,
                None,
                micros(spec.right_delay),
            )?,
        ];
        let prefixed = |schema: &SchemaRef, prefix: &str, nullable: bool| {
            schema
                .fields()
                .iter()
                .map(|f| {
                    Field::new(
                        format!("{prefix}{}", f.name()),
                        f.data_type().clone(),
                        f.is_nullable() || nullable,
                    )
                })
                .collect::<Vec<_>>()
        };
        let [left, right] = [&sides[LEFT].schema, &sides[RIGHT].schema];
        let mut fields = prefixed(left, &spec.left_prefix, spec.kind.keeps_unmatched_right());
        fields.extend(prefixed(
            right,
            &spec.right_prefix,
            spec.kind.keeps_unmatched_left(),
        ));
        let pair_schema = Arc::new(Schema::new(fields));
        let output_schema = if spec.kind == StreamJoinKind::LeftSemi {
            Arc::new(pair_schema.project(&(0..left.fields().len()).collect::<Vec<_>>())?)
        } else {
            Arc::clone(&pair_schema)
        };
        let mut names = std::collections::BTreeSet::new();
        if let Some(f) = pair_schema
            .fields()
            .iter()
            .find(|f| !names.insert(f.name().as_str()))
        {
            return Err(invalid(format!(
                "two output columns are named `{}`; give the sides other prefixes",
                f.name()
            )));
        }
        let condition = spec
            .condition
            .as_deref()
            .map(|sql| SqlExpr::compile(sql, &pair_schema))
            .transpose()?;
        Ok(Self {
            spec,
            sides,
            pair_schema,
            output_schema,
            condition,
        })
    }

    /// The schema of joined rows: the left columns, then the right, each with its prefix
    /// (only the left columns for a semi join).
    pub fn output_schema(&self) -> &SchemaRef {
        &self.output_schema
    }

    /// The schema of input `side`'s late rows.
    pub fn late_schema(&self, side: usize) -> &SchemaRef {
        &self.sides[side].late_schema
    }

    /// `W(e-1)` of the join: the lower of the sides'; `None` (-infinity) when either has
    /// none.
    fn late_threshold(&self) -> Option<i64> {
        lowest(
            self.sides[LEFT].watermark.late_threshold(),
            self.sides[RIGHT].watermark.late_threshold(),
        )
    }

    /// The matching pairs of the epoch. Without a condition, the candidates (keys equal,
    /// times within the bounds) all match; with one, the candidates' joined rows are
    /// built and the condition evaluated over them, then the candidates are visited again,
    /// in the same order, to keep (and mark matched) those that passed. For a semi join,
    /// also returns the left rows that matched for the first time, in the order they did.
    fn pairs(&mut self) -> Result<Matches> {
        let Some(condition) = self.condition.clone() else {
            let mut pairs = Vec::new();
            let first = self.visit_candidates(|l, r| {
                pairs.push((l, r));
                true
            });
            return Ok(Matches { pairs, first });
        };
        let mut candidates = Vec::new();
        self.visit_candidates(|l, r| {
            candidates.push((l, r));
            false
        });
        let Some(joined) = self.output(&candidates, &[], &[])? else {
            return Ok(Matches::default());
        };
        let verdicts = self.verdicts(&condition, joined)?;
        let mut verdicts = verdicts.into_iter();
        let mut pairs = Vec::new();
        let first = self.visit_candidates(|l, r| {
            let pass = verdicts.next().expect("one verdict per candidate");
            if pass {
                pairs.push((l, r));
            }
            pass
        });
        Ok(Matches { pairs, first })
    }

    /// Whether each candidate pair (a row of `joined`) meets `condition`. A pair the
    /// condition fails to evaluate on (an integer divided by zero, say) does not meet it:
    /// such pairs are told apart from the others as a projection's failing rows are
    /// ([`isolating`]), and counted in a warning, so that one bad pair neither stops the
    /// job nor decides the others.
    fn verdicts(&self, condition: &SqlExpr, joined: RecordBatch) -> Result<Vec<bool>> {
        let n = joined.num_rows();
        let mut fields = joined.schema().fields().to_vec();
        fields.push(Arc::new(Field::new(CANDIDATE, DataType::UInt32, false)));
        let mut columns = joined.columns().to_vec();
        columns.push(Arc::new(UInt32Array::from_iter_values(0..n as u32)));
        let numbered = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
        let mut verdict = |part: &RecordBatch| -> Result<RecordBatch> {
            let passed = condition.predicate(part)?;
            Ok(filter_record_batch(part, &passed)?)
        };
        let (passed, failed) = match isolating(&self.spec.name, &mut verdict, &numbered) {
            Ok((passed, rejected)) => (passed, rejected.map(|r| failures(&r))),
            // A single pair that fails: it does not meet the condition.
            Err(err) => (
                RecordBatch::new_empty(numbered.schema()),
                Some(format!("1 pair: {err}")),
            ),
        };
        let mut verdicts = vec![false; n];
        let index = passed
            .column_by_name(CANDIDATE)
            .expect("the candidates are numbered")
            .as_primitive::<UInt32Type>();
        for i in index.values() {
            verdicts[*i as usize] = true;
        }
        if let Some(failed) = failed {
            warn!(
                join = self.spec.name,
                condition = condition.sql(),
                error = failed,
                "the join's condition failed on some pairs; they do not match"
            );
        }
        Ok(verdicts)
    }

    /// Visits the epoch's candidate pairs in a fixed order, fresh left rows with the right
    /// rows in state and the fresh right rows, then fresh right rows with the left rows in
    /// state; both rows of a pair `accept` accepts are marked matched. Returns, for a semi
    /// join, the left rows marked for the first time, in that order, with their keys.
    fn visit_candidates(&mut self, mut accept: impl FnMut(At, At) -> bool) -> Vec<(Box<[u8]>, At)> {
        let (min, max) = (self.spec.min_offset_us, self.spec.max_offset_us);
        let within = move |l: &Held, r: &Held| {
            r.time >= l.time.saturating_add(min) && r.time <= l.until.saturating_add(max)
        };
        // Only a semi join emits its left rows at their first match.
        let semi = self.spec.kind == StreamJoinKind::LeftSemi;
        let mut first = Vec::new();
        let mut pair = |key: &[u8], l: &mut Held, r: &mut Held| {
            if within(l, r) && accept(l.at(), r.at()) {
                if semi && !l.matched {
                    first.push((key.into(), l.at()));
                }
                l.matched = true;
                r.matched = true;
            }
        };
        let [left, right] = &mut self.sides;
        let mut fresh_right: HashMap<&[u8], Vec<usize>, Xxh3DefaultBuilder> = HashMap::default();
        for (i, f) in right.fresh.iter().enumerate() {
            let key = Side::fresh_key(&right.fresh_keys, f);
            fresh_right.entry(key).or_default().push(i);
        }
        for l in &mut left.fresh {
            let key = Side::fresh_key(&left.fresh_keys, l);
            right
                .held
                .each_mut(l.hash, key, |r| pair(key, &mut l.held, r));
            for &i in fresh_right.get(key).map_or(&[][..], Vec::as_slice) {
                pair(key, &mut l.held, &mut right.fresh[i].held);
            }
        }
        for r in &mut right.fresh {
            let key = Side::fresh_key(&right.fresh_keys, r);
            left.held
                .each_mut(r.hash, key, |l| pair(key, l, &mut r.held));
        }
        first
    }

    /// A semi join's output: the left rows at `first`, with their own columns.
    fn left_rows(&self, first: &[(Box<[u8]>, At)]) -> Result<Option<RecordBatch>> {
        if first.is_empty() {
            return Ok(None);
        }
        let at: Vec<At> = first.iter().map(|(_, at)| *at).collect();
        let columns = self.sides[LEFT].take(&at)?;
        Ok(Some(RecordBatch::try_new(
            Arc::clone(&self.output_schema),
            columns,
        )?))
    }

    /// The output rows: the pairs, then unmatched left rows with nulls, then unmatched
    /// right rows with nulls.
    fn output(
        &self,
        pairs: &[(At, At)],
        left_only: &[At],
        right_only: &[At],
    ) -> Result<Option<RecordBatch>> {
        let [left, right] = &self.sides;
        let mut parts = Vec::new();
        if !pairs.is_empty() {
            let l: Vec<At> = pairs.iter().map(|p| p.0).collect();
            let r: Vec<At> = pairs.iter().map(|p| p.1).collect();
            let mut columns = left.take(&l)?;
            columns.extend(right.take(&r)?);
            parts.push(RecordBatch::try_new(
                Arc::clone(&self.pair_schema),
                columns,
            )?);
        }
        if !left_only.is_empty() {
            let mut columns = left.take(left_only)?;
            columns.extend(right.nulls(left_only.len()));
            parts.push(RecordBatch::try_new(
                Arc::clone(&self.pair_schema),
                columns,
            )?);
        }
        if !right_only.is_empty() {
            let mut columns = left.nulls(right_only.len());
            columns.extend(right.take(right_only)?);
            parts.push(RecordBatch::try_new(
                Arc::clone(&self.pair_schema),
                columns,
            )?);
        }
        if parts.is_empty() {
            return Ok(None);
        }
        Ok(Some(concat_batches(&self.pair_schema, &parts)?))
    }
}

impl StreamJoinState {
    /// How to read each side's rows of a snapshot that `recorded` the columns they hold
    /// (`None`: one written before joins held fewer, whose rows hold every input column);
    /// `None` for a side that holds those columns now.
    ///
    /// # Errors
    /// When the record does not parse, or a side's rows do not fit ([`Reshape::new`]).
    fn reshapes(&self, recorded: Option<&str>) -> Result<[Option<Reshape>; 2]> {
        let stored: Option<[Vec<String>; 2]> = recorded
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| EngineError::Snapshot(format!("{HELD_COLUMNS}: {e}")))?;
        let mut shapes = [None, None];
        for (s, shape) in shapes.iter_mut().enumerate() {
            let side = &self.sides[s];
            let stored = match &stored {
                Some(held) => held[s].clone(),
                None => side
                    .input
                    .fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect(),
            };
            if stored != side.held_names() {
                *shape = Some(Reshape::new(&self.spec.name, side, &stored)?);
            }
        }
        Ok(shapes)
    }
}

/// The snapshot metadata entry naming the columns each side's rows hold, as JSON.
const HELD_COLUMNS: &str = "held_columns";

/// How to read a snapshot's rows whose side held other columns than it now does: their
/// schema and converter, and where the side's columns are among theirs.
struct Reshape {
    schema: SchemaRef,
    whole: RowConverter,
    projection: Vec<usize>,
}

impl Reshape {
    /// For `side`'s rows in a snapshot of the join `join` that held the columns `stored`.
    ///
    /// # Errors
    /// When a stored column is not one of the side's input, or the side now holds a
    /// column the snapshot's rows lack.
    fn new(join: &str, side: &Side, stored: &[String]) -> Result<Self> {
        let unfit = |m: String| EngineError::Snapshot(format!("join `{join}`: {m}"));
        let at = stored
            .iter()
            .map(|c| {
                column_index(&side.input, c).map_err(|_| {
                    unfit(format!(
                        "its snapshot holds a column `{c}` its input no longer has"
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let schema = Arc::new(side.input.project(&at)?);
        let projection = side
            .schema
            .fields()
            .iter()
            .map(|f| {
                schema.index_of(f.name()).map_err(|_| {
                    unfit(format!(
                        "the job now reads its column `{}`, which its snapshot's rows do not \
                         hold: run the job file the checkpoint was written with, or rebuild \
                         the state (`sluice replay --reset-state`)",
                        f.name()
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            whole: whole_rows(&schema)?,
            schema,
            projection,
        })
    }
}

/// The column that numbers a join's candidate pairs while its condition is evaluated.
const CANDIDATE: &str = "__candidate";

/// How many pairs of `rejected` (with an `error` column) failed, and the first error.
fn failures(rejected: &RecordBatch) -> String {
    let first = rejected
        .column_by_name("error")
        .and_then(|r| r.as_string_opt::<i32>().map(|r| r.value(0).to_owned()))
        .unwrap_or_default();
    format!("{} pairs, the first: {first}", rejected.num_rows())
}

/// The lower of two watermarks, `None` being -infinity.
fn lowest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        _ => None,
    }
}

impl EventTimeState for StreamJoinState {
    fn name(&self) -> &str {
        &self.spec.name
    }

    fn begin_epoch(&mut self) {
        for side in &mut self.sides {
            side.watermark.advance();
        }
    }

    fn canonical_order(&self, input: usize, batches: &mut [RecordBatch]) {
        canonical_order(batches, self.sides[input].time_index);
    }

    fn absorb(&mut self, input: usize, batch: &RecordBatch) -> Result<Option<RecordBatch>> {
        let bound = self.late_threshold();
        let side = &mut self.sides[input];
        // Late rows go out whole; the others are held with the columns the side holds.
        let held = side.narrow(batch)?;
        let times = as_micros(held.column(side.time_index))?;
        let untils = side.untils(&held)?;
        let keys = side.keys.rows(&side.converter, &held)?;
        let key_columns = side.keys.columns(&held);
        let at = side.keep(held.clone());
        let mut late = Vec::new();
        for i in 0..batch.num_rows() {
            if times.is_null(i) || bound.is_some_and(|w| times.value(i) <= w) {
                late.push(i as u32);
                continue;
            }
            // A null key never matches: such rows are held under a key of their side's
            // own (row encodings of keys never start with 0xff), so that an outer join
            // still emits them.
            let row = keys.row(i);
            let key = if key_columns.iter().any(|c| c.is_null(i)) {
                NULL_KEYS[input]
            } else {
                row.as_ref()
            };
            let held = Held {
                time: times.value(i),
                until: untils.as_ref().map_or(times.value(i), |u| u[i]),
                batch: at,
                row: i as u32,
                matched: false,
            };
            side.push_fresh(key, held);
        }
        let missed = vec![0; late.len()];
        late_rows(batch, late, missed, bound, &side.late_schema)
    }

    fn finish_epoch(
        &mut self,
        epoch_max: &[Option<i64>],
        flush: bool,
    ) -> Result<Option<RecordBatch>> {
        let Matches { pairs, first } = self.pairs()?;
        for side in &mut self.sides {
            side.settle();
        }
        let bound = if flush {
            Some(i64::MAX)
        } else {
            lowest(
                self.sides[LEFT].watermark.current(),
                self.sides[RIGHT].watermark.current(),
            )
        };
        let (min, max) = (self.spec.min_offset_us, self.spec.max_offset_us);
        let (left_gone, right_gone) = match bound {
            None => (Vec::new(), Vec::new()),
            // A left row goes once the watermark passes its `until` plus the upper bound,
            // a right row once it passes its event time less the lower bound: no row goes
            // while the watermark is behind the least of those.
            Some(w) => (
                self.sides[LEFT].evict(w, |_, until| until.saturating_add(max)),
                self.sides[RIGHT].evict(w, |time, _| time.saturating_sub(min)),
            ),
        };
        let left_only: &[At] = if self.spec.kind.keeps_unmatched_left() {
            &left_gone
        } else {
            &[]
        };
        let right_only: &[At] = if self.spec.kind.keeps_unmatched_right() {
            &right_gone
        } else {
            &[]
        };
        let output = if self.spec.kind == StreamJoinKind::LeftSemi {
            let output = self.left_rows(&first)?;
            // A semi join emits a left row once: once it has, no later row needs it, and
            // it leaves the state (as in Spark) rather than wait for the watermark.
            self.sides[LEFT].forget(&first);
            output
        } else {
            self.output(&pairs, left_only, right_only)?
        };
        for (side, max) in self.sides.iter_mut().zip(epoch_max) {
            side.release();
            side.watermark.observe(*max);
        }
        Ok(output)
    }

    fn snapshot(&self, key_groups: u32) -> Result<Vec<u8>> {
        snapshot::write(self, key_groups)
    }

    fn restore(&mut self, parts: &[&bytes::Bytes], owned: Range<u32>) -> Result<()> {
        let (watermarks, batches) = decode_snapshots::<Watermarks>(&self.spec.name, parts)?;
        // How to read each side's rows, by the columns a batch records (one entry for a
        // whole snapshot, written by one version).
        let mut shapes: Vec<(Option<String>, [Option<Reshape>; 2])> = Vec::new();
        for batch in &batches {
            let col = |name: &str| -> Result<&ArrayRef> {
                batch
                    .column_by_name(name)
                    .ok_or_else(|| EngineError::Snapshot(format!("missing column {name}")))
            };
            let groups = col("key_group")?.as_primitive::<UInt32Type>();
            let sides = col("side")?.as_primitive::<UInt8Type>();
            let matched = col("matched")?.as_boolean();
            let rows = col("row")?.as_binary::<i32>();
            let recorded = batch.schema().metadata().get(HELD_COLUMNS).cloned();
            let shape = match shapes.iter().position(|(r, _)| *r == recorded) {
                Some(at) => at,
                None => {
                    let shape = self.reshapes(recorded.as_deref())?;
                    shapes.push((recorded, shape));
                    shapes.len() - 1
                }
            };
            for s in [LEFT, RIGHT] {
                let side = &mut self.sides[s];
                let reshaped = &shapes[shape].1[s];
                let whole = reshaped.as_ref().map_or(&side.whole, |r| &r.whole);
                let parser = whole.parser();
                let mut picked = Vec::new();
                let mut flags = Vec::new();
                for i in 0..batch.num_rows() {
                    if usize::from(sides.value(i)) == s && owned.contains(&groups.value(i)) {
                        picked.push(parser.parse(rows.value(i)));
                        flags.push(matched.value(i));
                    }
                }
                if picked.is_empty() {
                    continue;
                }
                let columns = whole.convert_rows(picked)?;
                let restored = match reshaped {
                    None => RecordBatch::try_new(Arc::clone(&side.schema), columns)?,
                    Some(r) => RecordBatch::try_new(Arc::clone(&r.schema), columns)?
                        .project(&r.projection)?,
                };
                side.hold(restored, &flags)?;
            }
        }
        if let Some(w) = watermarks {
            self.sides[LEFT].watermark = w.left;
            self.sides[RIGHT].watermark = w.right;
        }
        Ok(())
    }

    fn open_entries(&self) -> usize {
        self.sides.iter().map(Side::rows_held).sum()
    }

    fn watermark(&self) -> &Watermark {
        let [left, right] = &self.sides;
        if left.watermark.next() <= right.watermark.next() {
            &left.watermark
        } else {
            &right.watermark
        }
    }

    fn results_schema(&self) -> SchemaRef {
        Arc::clone(&self.output_schema)
    }

    fn late_rows_schema(&self) -> SchemaRef {
        Arc::clone(&self.sides[LEFT].late_schema)
    }
}

mod snapshot;

#[cfg(test)]
mod tests;
