//! Keyed event-time windows: tumbling, sliding and session, with Structured Streaming's
//! watermark, lateness and emission rules (DESIGN section 2).
//!
//! - A record arriving in epoch `e` contributes to window `w` unless `end(w) <= W(e-1)`;
//!   a record with at least one late contribution goes once to the late output, with the
//!   watermark it was tested against and the number of windows it missed.
//! - At the end of epoch `e`, `append` emits the windows with `end <= W(e)` once and evicts
//!   them; `update` emits every window changed in `e` and evicts by the same rule.
//! - The final epoch of a bounded input flushes every window (a watermark of +infinity).

mod accumulator;
mod assign;
mod operator;
mod output;
mod snapshot;
mod state;

pub use accumulator::{Accumulator, Hll, Moments};
pub use assign::window_starts;
pub use operator::{PartNamer, WindowControl, WindowExt, WindowNote, WindowOutputs, WindowSetup};
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
    /// Per-key sessions that close after `gap` without events.
    Session {
        /// Inactivity gap.
        gap: Duration,
    },
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
    /// HyperLogLog estimate of distinct non-null values (5% relative error).
    ApproxCountDistinct,
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
}

/// A keyed event-time window aggregation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowSpec {
    /// Operator name, also the name of its state in checkpoints.
    pub name: String,
    /// The window shape.
    pub kind: WindowKind,
    /// The event-time column (a timestamp).
    pub time_column: String,
    /// Grouping key columns.
    pub keys: Vec<String>,
    /// Aggregates, in output order.
    pub aggregates: Vec<Aggregate>,
    /// Watermark delay.
    pub delay: Duration,
    /// Output mode.
    pub mode: OutputMode,
}

/// Microseconds of a duration, saturating.
pub(crate) fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}
