//! Keyed event-time windows: tumbling, sliding and session, with Structured Streaming's
//! watermark, lateness and emission rules (DESIGN section 2).
//!
//! - A record arriving in epoch `e` contributes to window `w` unless `end(w) <= W(e-1)`;
//!   a record with at least one late contribution goes once to the late output, with the
//!   watermark it was tested against and the number of windows it missed.
//! - At the end of epoch `e`, `append` emits the windows with `end <= W(e)` once and evicts
//!   them; `update` emits every window changed in `e` and evicts by the same rule.
//! - The final epoch of a bounded input flushes every window (a watermark of +infinity).
//! - With an allowed lateness `L` (update mode only), both thresholds move back by `L`:
//!   a contribution is late only when `end(w) <= W(e-1) - L`, and windows are evicted
//!   once `end(w) <= W(e) - L`; until then a late row updates its window, which is
//!   emitted again. Late records carry `W(e-1) - L` as the watermark they missed.
//!
//! Tumbling and sliding windows keep their state in panes (`pane.rs`): a row updates the
//! one pane holding its time, and a window is the merge of its panes when emitted.

mod accumulator;
mod assign;
mod assignment;
mod best;
mod collected;
mod distinct_values;
mod input;
mod listed;
mod operator;
mod output;
mod pane;
mod quantiles;
mod snapshot;
mod state;

pub use accumulator::{Accumulator, Extra, Hll, Kept, Moments, TextRange};
pub use assign::window_starts;
pub use assignment::{AssignSpec, Assignment, WINDOW_COLUMNS};
pub use distinct_values::DistinctValues;
pub use operator::{
    Observed, PartNamer, WindowControl, WindowExt, WindowNote, WindowOutputs, WindowSetup,
};
pub use quantiles::{Quantiles, RELATIVE_ACCURACY};
pub use state::{EpochOutput, WindowState};

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The shape of the windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WindowKind {
    /// Fixed, non-overlapping windows of `size`.
    Tumbling {
        /// Window length.
        size: Duration,
    },
    /// Windows of `size` starting every `slide`.
    Sliding {
        /// Window length.
        size: Duration,
        /// Distance between window starts.
        slide: Duration,
    },
    /// Windows that grow by `step` from the start of each period of `size` (Flink's
    /// `CUMULATE`): `[s, s + step)`, `[s, s + 2 step)`, ..., `[s, s + size)` for every
    /// `s` a multiple of `size`, so a row is in every window of its period that ends after
    /// it (a day's running total, every hour). `size` is a multiple of `step`.
    Cumulating {
        /// The period: the longest window.
        size: Duration,
        /// How much each window grows.
        step: Duration,
    },
    /// Per-key sessions that close after `gap` without events.
    Session {
        /// Inactivity gap.
        gap: Duration,
    },
    /// No window: one group per key for the life of the job (Beam's global window), a
    /// SQL `GROUP BY` without a window. Its groups never close, so it runs in `update`
    /// mode only, and needs no event time; a bounded input's final epoch flushes it.
    Global,
}

/// When window results are emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputMode {
    /// Once, when the watermark passes the window's end.
    #[default]
    Append,
    /// Every epoch in which the window changed.
    Update,
}

/// An aggregate function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggregateFn {
    /// Rows (`column` absent) or non-null values of `column`.
    Count,
    /// Sum of non-null values, as double.
    Sum,
    /// Mean of non-null values.
    Avg,
    /// Minimum, as double.
    Min,
    /// Maximum, as double.
    Max,
    /// Sample standard deviation (Spark's `stddev`).
    Stddev,
    /// Population standard deviation (`stddev_pop`).
    StddevPop,
    /// Sample variance (`variance`, `var_samp`).
    Variance,
    /// Population variance (`var_pop`).
    VariancePop,
    /// HyperLogLog estimate of distinct non-null values (5% relative error).
    ApproxCountDistinct,
    /// The exact number of distinct non-null values (`count(DISTINCT c)`), from the set of
    /// a window's values as text ([`DistinctValues`]).
    CountDistinct,
    /// The sum of the distinct non-null values (`sum(DISTINCT c)`), from their set, typed
    /// as [`AggregateFn::Sum`] is.
    SumDistinct,
    /// The mean of the distinct non-null values (`avg(DISTINCT c)`), from their set, typed
    /// as [`AggregateFn::Avg`] is.
    AvgDistinct,
    /// The distinct non-null values as an array of the column's type, in ascending order
    /// (Spark's `collect_set(c)`, `array_agg(DISTINCT c)`), from their set.
    CollectSet,
    /// Every non-null value as an array of the column's type, in the order of the rows'
    /// event times, values of one time by their text (Spark's `collect_list(c)`,
    /// `array_agg(c)`; windows only).
    CollectList,
    /// The `per_million / 10^6` quantile of the non-null values, estimated by a sketch
    /// within 1 % of the value ([`Quantiles`]; Spark's `percentile_approx`).
    ApproxPercentile {
        /// The quantile, in millionths (`990_000` for the 99th percentile).
        per_million: u32,
    },
    /// The value of `column` on the row whose [`Aggregate::by`] is the greatest (Spark's
    /// `max_by(column, by)`); among rows tied on `by`, the greatest value's text (a null
    /// value first).
    MaxBy,
    /// The value of `column` on the row whose [`Aggregate::by`] is the least
    /// (`min_by(column, by)`); among rows tied on `by`, the least value's text.
    MinBy,
}

impl AggregateFn {
    /// The function over every value that this one applies to the distinct values: `Sum`
    /// for `SumDistinct`, `Avg` for `AvgDistinct`; itself for the others.
    pub fn plain(self) -> Self {
        match self {
            Self::SumDistinct => Self::Sum,
            Self::AvgDistinct => Self::Avg,
            other => other,
        }
    }

    /// Whether it reads the set of the distinct values ([`DistinctValues`]).
    pub fn reads_set(self) -> bool {
        matches!(
            self,
            Self::CountDistinct | Self::SumDistinct | Self::AvgDistinct | Self::CollectSet
        )
    }

    /// Whether it takes the value of the row that an ordering column picks
    /// ([`Aggregate::by`]).
    pub fn picks(self) -> bool {
        matches!(self, Self::MaxBy | Self::MinBy)
    }

    /// Whether a retracted row's value can be taken back out of its state (a changelog's
    /// aggregate): sums and moments can, the least and greatest, sets and sketches cannot.
    pub fn retracts(self) -> bool {
        matches!(
            self,
            Self::Count
                | Self::Sum
                | Self::Avg
                | Self::Stddev
                | Self::StddevPop
                | Self::Variance
                | Self::VariancePop
        )
    }

    /// Whether it reads the values' spread (their mean and squared deviations).
    pub fn reads_spread(self) -> bool {
        matches!(
            self,
            Self::Stddev | Self::StddevPop | Self::Variance | Self::VariancePop
        )
    }
}

/// One output column of a window aggregation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aggregate {
    /// Output column name.
    pub name: String,
    /// The function.
    pub function: AggregateFn,
    /// Input column; `None` only for `count`, meaning `count(*)`.
    pub column: Option<String>,
    /// The column whose greatest (or least) value picks the row of [`AggregateFn::MaxBy`]
    /// (or [`AggregateFn::MinBy`]); `None` for every other function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// A keyed event-time window aggregation.
///
/// Build one with [`WindowSpec::new`] and the `with_` methods (or set the public fields
/// of the value it returns): a field added in a later version then takes its default
/// instead of breaking the build, which is why the struct is `#[non_exhaustive]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WindowSpec {
    /// Operator name, also the name of its state in checkpoints.
    pub name: String,
    /// The window shape.
    pub kind: WindowKind,
    /// The event-time column (a timestamp); empty for a [`WindowKind::Global`] window,
    /// which reads none.
    pub time_column: String,
    /// Grouping key columns.
    pub keys: Vec<String>,
    /// Aggregates, in output order.
    pub aggregates: Vec<Aggregate>,
    /// Watermark delay.
    pub delay: Duration,
    /// Output mode.
    pub mode: OutputMode,
    /// How long past the watermark a window stays open to late rows (`update` mode only):
    /// a row is late for window `w` only when `end(w) <= W(e-1) - allowed_lateness`, and
    /// windows are evicted once `end(w) <= W(e) - allowed_lateness`. Zero is Spark's rule.
    #[serde(default, skip_serializing_if = "Duration::is_zero")]
    pub allowed_lateness: Duration,
    /// The stream whose event times set the watermark (a SQL query's source rows, before
    /// its `WHERE`, as Spark and Flink observe them); the input itself when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark_from: Option<String>,
    /// Further streams whose event times hold the watermark back (a union's other
    /// sources): the watermark is the least of each observed stream's max event time
    /// less its delay, -infinity until each has had a row ([`crate::watermark`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watermark_also: Vec<crate::watermark::WatermarkInput>,
    /// Whether each epoch's rows form a [changelog](crate::changelog) (a global window
    /// only): a changed group's previous row comes first as a retraction, then its new
    /// row, so that an aggregate reading them can take the old value back out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub changelog: bool,
    /// Whether each epoch's rows also name the sessions to delete (sessions in `update`
    /// mode only): a row may extend a session back in time or join two, and the sessions
    /// merged into one that starts earlier come out as rows with `_change = -1` (their
    /// keys and start, no aggregates) beside the merged session's row (`+1`), so that a
    /// table merged by keys and session start deletes them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deletes: bool,
    /// How far past the Unix epoch tumbling and sliding windows start (Spark's
    /// `startTime`, Flink's `offset`): windows `[offset + k slide, offset + k slide +
    /// size)`, hourly windows from a quarter past, daily ones from a time zone's midnight.
    /// Less than the slide (the size, for tumbling windows).
    #[serde(default, skip_serializing_if = "Duration::is_zero")]
    pub offset: Duration,
    /// For sessions whose gap each row sets (Spark's `session_window(ts, <expression>)`):
    /// the column of each row's gap in microseconds (a positive `BIGINT`), instead of the
    /// kind's fixed gap, which is then zero. A row's own session is `[t, t + gap)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap_column: Option<String>,
}

impl WindowSpec {
    /// A window named `name` (also its state's name) of `kind` over the timestamp
    /// column `time_column` (empty for [`WindowKind::Global`]): no keys or aggregates
    /// yet, no watermark delay, append mode, no allowed lateness, its watermark from its
    /// own input.
    pub fn new(name: impl Into<String>, kind: WindowKind, time_column: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind,
            time_column: time_column.into(),
            keys: Vec::new(),
            aggregates: Vec::new(),
            delay: Duration::ZERO,
            mode: OutputMode::Append,
            allowed_lateness: Duration::ZERO,
            watermark_from: None,
            watermark_also: Vec::new(),
            changelog: false,
            deletes: false,
            offset: Duration::ZERO,
            gap_column: None,
        }
    }

    /// With windows starting `offset` past the Unix epoch (tumbling and sliding windows).
    #[must_use]
    pub fn with_offset(mut self, offset: Duration) -> Self {
        self.offset = offset;
        self
    }

    /// With the grouping key columns `keys`.
    #[must_use]
    pub fn with_keys<K: Into<String>>(mut self, keys: impl IntoIterator<Item = K>) -> Self {
        self.keys = keys.into_iter().map(Into::into).collect();
        self
    }

    /// With one more aggregate, the output column `name`: `function` of `column` (`None`
    /// only for `count(*)`).
    #[must_use]
    pub fn with_aggregate(
        mut self,
        name: impl Into<String>,
        function: AggregateFn,
        column: Option<&str>,
    ) -> Self {
        self.aggregates.push(Aggregate {
            name: name.into(),
            function,
            column: column.map(str::to_owned),
            by: None,
        });
        self
    }

    /// With one more aggregate, the output column `name`: the value of `column` on the row
    /// whose `by` is the greatest ([`AggregateFn::MaxBy`]) or least
    /// ([`AggregateFn::MinBy`]).
    #[must_use]
    pub fn with_pick(
        mut self,
        name: impl Into<String>,
        function: AggregateFn,
        column: &str,
        by: &str,
    ) -> Self {
        self.aggregates.push(Aggregate {
            name: name.into(),
            function,
            column: Some(column.to_owned()),
            by: Some(by.to_owned()),
        });
        self
    }

    /// With the watermark delay `delay`.
    #[must_use]
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// In output mode `mode`.
    #[must_use]
    pub fn with_mode(mut self, mode: OutputMode) -> Self {
        self.mode = mode;
        self
    }

    /// With the allowed lateness `lateness` (`update` mode).
    #[must_use]
    pub fn with_allowed_lateness(mut self, lateness: Duration) -> Self {
        self.allowed_lateness = lateness;
        self
    }

    /// Checks what the spec's fields cannot say alone.
    ///
    /// # Errors
    /// An allowed lateness outside `update` mode (append emits a window once, so a later
    /// row could never correct it), or in `update` mode over sessions (a session's start
    /// and end move as it merges, so its row cannot be corrected in place); an offset of
    /// windows other than tumbling and sliding ones, or not below their period.
    pub fn validate(&self) -> crate::error::Result<()> {
        let invalid = |why: &str| {
            Err(crate::error::EngineError::InvalidPlan(format!(
                "window `{}`: {why}",
                self.name
            )))
        };
        if self.kind == WindowKind::Global {
            if self.mode != OutputMode::Update {
                return invalid(
                    "an aggregate without a window needs `update` mode: its groups never \
                     close, so append mode could never emit them",
                );
            }
            if !self.allowed_lateness.is_zero() {
                return invalid("an aggregate without a window has no lateness to allow");
            }
        } else if self.changelog {
            return invalid(
                "a changelog of retractions is only built for aggregates without a window",
            );
        }
        if !self.offset.is_zero() {
            let period = match self.kind {
                WindowKind::Tumbling { size } => size,
                WindowKind::Sliding { slide, .. } => slide,
                _ => return invalid("only tumbling and sliding windows start at an offset"),
            };
            if self.offset >= period {
                return invalid(&format!(
                    "an offset of {:?} is not less than the windows' period, {period:?}",
                    self.offset
                ));
            }
        }
        match (&self.gap_column, self.kind) {
            (Some(_), WindowKind::Session { gap }) if gap.is_zero() => {}
            (Some(column), _) => {
                return invalid(&format!(
                    "a gap per row (`{column}`) is for sessions whose own gap is zero"
                ));
            }
            (None, WindowKind::Session { gap }) if gap.is_zero() => {
                return invalid("a session's gap is zero: a row's session would be empty");
            }
            (None, _) => {}
        }
        if let WindowKind::Cumulating { size, step } = self.kind
            && (step.is_zero() || size < step || micros(size) % micros(step) != 0)
        {
            return invalid(&format!(
                "cumulating windows of {size:?} by {step:?}: the size must be a multiple of \
                 the step"
            ));
        }
        if self.deletes
            && !(self.mode == OutputMode::Update && matches!(self.kind, WindowKind::Session { .. }))
        {
            return invalid(
                "deleted rows are only emitted by session windows in `update` mode, the \
                 windows whose rows move",
            );
        }
        if self.allowed_lateness.is_zero() {
            return Ok(());
        }
        let why = match (self.mode, self.kind) {
            (OutputMode::Append, _) => {
                "needs `update` mode: append emits each window once, so a late row could \
                 never correct it"
            }
            (OutputMode::Update, WindowKind::Session { .. }) => {
                "is not supported for session windows: a session's start and end move as it \
                 merges, so its row cannot be corrected in place"
            }
            (OutputMode::Update, _) => return Ok(()),
        };
        invalid(&format!("an allowed lateness {why}"))
    }
}

/// Microseconds of a duration, saturating.
pub(crate) fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}
