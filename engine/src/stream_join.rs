//! Stream–stream interval joins with event-time bounds, following Structured Streaming's
//! semantics: rows of either side are kept in state, keyed by the join keys, for as long
//! as a row of the other side could still match them, and outer rows are emitted once
//! the watermark shows that nothing can match them any more.
//!
//! A left row `l` and a right row `r` match when their keys are equal (null keys never
//! match) and `l.t + min_offset <= r.t <= l.t + max_offset`, that is
//! `r.t BETWEEN l.t - INTERVAL .. AND l.t + INTERVAL ..` in SQL. The upper bound may be
//! another timestamp column `u` of the left row instead of its event time (`left_until`):
//! `l.t + min_offset <= r.t <= l.u + max_offset`, as Nexmark q4 bounds a bid by its
//! auction's start and expiry (`b.t BETWEEN a.t AND a.expires`); a null `u` matches
//! nothing, and below, `l.u` stands for `l.t` in joins without it.
//!
//! Epoch by epoch, with `W(e)` the minimum of the two sides' watermarks (each side's as
//! DESIGN section 2 defines it, from its own event-time column and delay):
//! - a row with event time `t <= W(e-1)` (or none) is late: it goes to the late output
//!   (the dead-letter table, reason `late`), as Spark drops it;
//! - every other row is joined with the other side's rows in state and this epoch's, and
//!   each matching pair is emitted once, at the end of the epoch (with a `condition`, only
//!   the pairs that meet it match: the condition is evaluated over the candidate pairs'
//!   joined rows, and only the pairs that pass mark their rows matched);
//! - then rows that no future row can match are evicted: a left row once
//!   `l.u + max_offset <= W(e)` (a future right row has `r.t > W(e)`), a right row once
//!   `r.t - min_offset <= W(e)`. In a left (right) outer join, an evicted left (right)
//!   row that never matched is emitted with nulls for the other side;
//! - the final epoch of a bounded input evicts every row.
//!
//! A batch run therefore gives the join of all rows that were not late, and a streaming
//! run over the same input the same rows whenever no row was late.

mod chains;
mod side;
mod state;

pub use state::StreamJoinState;

use std::collections::BTreeSet;
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use serde::{Deserialize, Serialize};
use timely::dataflow::Stream;

use crate::batch::Batches;
use crate::error::Result;
use crate::event_time::{EventTimeInput, event_time_operator};
use crate::window::{WindowOutputs, WindowSetup};

/// Which rows without a match are emitted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StreamJoinKind {
    /// Matching pairs only.
    #[default]
    Inner,
    /// Also left rows that never matched, with nulls for the right side.
    LeftOuter,
    /// Also right rows that never matched, with nulls for the left side.
    RightOuter,
    /// Also the rows of either side that never matched, with nulls for the other.
    FullOuter,
    /// Each left row once, with its own columns only, in the epoch of its first match
    /// (Spark's `LEFT SEMI` join).
    LeftSemi,
}

impl StreamJoinKind {
    /// Whether left rows that never matched are emitted (with nulls for the right side).
    pub fn keeps_unmatched_left(self) -> bool {
        matches!(self, Self::LeftOuter | Self::FullOuter)
    }

    /// Whether right rows that never matched are emitted (with nulls for the left side).
    pub fn keeps_unmatched_right(self) -> bool {
        matches!(self, Self::RightOuter | Self::FullOuter)
    }
}

/// An interval join of the operator's input (the left side) with another stream.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct StreamJoinSpec {
    /// The name of its state in checkpoints.
    pub name: String,
    /// The stream of the right side.
    pub right: String,
    /// Inner, left outer or right outer.
    pub kind: StreamJoinKind,
    /// Key columns of the left side.
    pub left_keys: Vec<String>,
    /// Key columns of the right side, in the same order and of the same types.
    pub right_keys: Vec<String>,
    /// The left side's event-time column.
    pub left_time: String,
    /// The right side's event-time column.
    pub right_time: String,
    /// Microseconds: a pair matches when `right.t >= left.t + min_offset_us`.
    pub min_offset_us: i64,
    /// Microseconds: a pair matches when `right.t <= left.t + max_offset_us`.
    pub max_offset_us: i64,
    /// The left side's watermark delay.
    pub left_delay: Duration,
    /// The right side's watermark delay.
    pub right_delay: Duration,
    /// Prepended to the left columns' names in the output (e.g. `a.`).
    pub left_prefix: String,
    /// Prepended to the right columns' names in the output (e.g. `b.`).
    pub right_prefix: String,
    /// A timestamp column of the left side that takes the place of `left_time` in the
    /// upper bound: a pair matches when `right.t <= left.until + max_offset_us`, and a
    /// left row is kept until the watermark passes that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_until: Option<String>,
    /// The stream whose rows set the left side's watermark, when not the left input: its
    /// source's rows before a filter of `ON` (as Spark and Flink observe event time at
    /// the source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_watermark_from: Option<String>,
    /// The same for the right side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub right_watermark_from: Option<String>,
    /// A condition on the joined row's columns (with their prefixes) that a pair must
    /// also meet to match, as an outer join's `ON` over both sides' columns: a pair that
    /// fails it is not emitted, and does not count as a match of either row, which an
    /// outer join then emits unmatched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

/// Stream–stream interval joins of Arrow batch streams.
pub trait StreamJoinExt<'scope> {
    /// Joins `self` (the left side) with `right` per `spec`, `schemas` being the sides'
    /// schemas; `watermarks` holds, for each side, the stream that sets its watermark when
    /// not its input. With `read`, the columns of its output read after it (in lowercase),
    /// its state holds only those and those it reads itself
    /// ([`StreamJoinState::narrowed`]). Late rows of either side carry `windows_missed`
    /// (0) and `late_watermark`.
    ///
    /// # Errors
    /// When the spec does not fit the schemas.
    fn stream_join(
        self,
        right: Stream<'scope, u64, Batches>,
        spec: &StreamJoinSpec,
        schemas: [&SchemaRef; 2],
        read: Option<&BTreeSet<String>>,
        setup: WindowSetup,
        watermarks: [Option<(Stream<'scope, u64, Batches>, SchemaRef)>; 2],
    ) -> Result<WindowOutputs<'scope>>;
}

impl<'scope> StreamJoinExt<'scope> for Stream<'scope, u64, Batches> {
    fn stream_join(
        self,
        right: Stream<'scope, u64, Batches>,
        spec: &StreamJoinSpec,
        [left, right_schema]: [&SchemaRef; 2],
        read: Option<&BTreeSet<String>>,
        setup: WindowSetup,
        watermarks: [Option<(Stream<'scope, u64, Batches>, SchemaRef)>; 2],
    ) -> Result<WindowOutputs<'scope>> {
        let state = match read {
            Some(read) => StreamJoinState::narrowed(spec.clone(), left, right_schema, read)?,
            None => StreamJoinState::new(spec.clone(), left, right_schema)?,
        };
        let [left_watermark, right_watermark] = watermarks;
        let inputs = vec![
            EventTimeInput {
                watermark: left_watermark,
                ..EventTimeInput::new(self, left, &spec.left_keys, Some(&spec.left_time))?
            },
            EventTimeInput {
                watermark: right_watermark,
                ..EventTimeInput::new(
                    right,
                    right_schema,
                    &spec.right_keys,
                    Some(&spec.right_time),
                )?
            },
        ];
        event_time_operator(inputs, state, setup, format!("StreamJoin({})", spec.name))
    }
}
