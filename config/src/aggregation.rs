//! The job's aggregations: the gold window and the epoch aggregates.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sluice_connectors::delta::MergeConfig;

use crate::job::ColumnConfig;

/// A group-by over each epoch's silver rows, written to the table `name`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct EpochAggregateConfig {
    /// Operator and table name.
    pub name: String,
    /// Grouping columns; a null key is a group of its own.
    pub keys: Vec<String>,
    /// A SQL predicate choosing the rows to aggregate.
    #[serde(default, rename = "where")]
    pub filter: Option<String>,
    /// Output columns: SQL aggregates over the silver columns (`sum(revenue)`,
    /// `count(*)`, `count(DISTINCT customer_id)`, `max(sale_time)`).
    pub columns: Vec<ColumnConfig>,
    /// MERGE each epoch's groups into the table on `keys` (e.g. with update expressions
    /// `total: "t.total + s.total"` to accumulate); absent appends them.
    #[serde(default)]
    pub merge: Option<MergeConfig>,
    /// Partition columns of the table.
    #[serde(default)]
    pub partition_by: Vec<String>,
}

/// The gold window aggregation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct GoldConfig {
    /// Operator name (names its state in checkpoints).
    pub name: String,
    /// The windows.
    pub window: WindowConfig,
    /// Event-time column.
    pub event_time: String,
    /// Watermark delay.
    #[serde(with = "humantime_serde")]
    pub watermark_delay: Duration,
    /// Grouping keys.
    pub keys: Vec<String>,
    /// Aggregates.
    pub aggregates: Vec<AggregateConfig>,
    /// `append` or `update`. In update mode the table is merged each epoch by
    /// `window_start`, `window_end` and the keys, so it holds each window's current row.
    #[serde(default = "append")]
    pub output_mode: String,
    /// Update mode only: how long past the watermark a window stays open, so that late
    /// rows correct its row in the table; later rows are dead letters (`late`).
    #[serde(default, with = "humantime_serde")]
    pub allowed_lateness: Duration,
}

fn append() -> String {
    "append".into()
}

/// Window shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", deny_unknown_fields)]
pub enum WindowConfig {
    /// Tumbling windows.
    Tumbling {
        /// Length.
        #[serde(with = "humantime_serde")]
        size: Duration,
        /// How far past the Unix epoch the windows start (less than `size`): `1h` windows
        /// with `offset: 15m` run from a quarter past each hour.
        #[serde(
            default,
            with = "humantime_serde",
            skip_serializing_if = "Duration::is_zero"
        )]
        offset: Duration,
    },
    /// Sliding windows.
    Sliding {
        /// Length.
        #[serde(with = "humantime_serde")]
        size: Duration,
        /// Slide.
        #[serde(with = "humantime_serde")]
        slide: Duration,
        /// How far past the Unix epoch the windows start (less than `slide`).
        #[serde(
            default,
            with = "humantime_serde",
            skip_serializing_if = "Duration::is_zero"
        )]
        offset: Duration,
    },
    /// Cumulating windows (Flink's `CUMULATE`): from each period of `size`, windows
    /// growing by `step`.
    Cumulating {
        /// The period: the longest window.
        #[serde(with = "humantime_serde")]
        size: Duration,
        /// How much each window grows; `size` is a multiple of it.
        #[serde(with = "humantime_serde")]
        step: Duration,
    },
    /// Session windows.
    Session {
        /// Inactivity gap.
        #[serde(with = "humantime_serde")]
        gap: Duration,
    },
}

/// One aggregate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct AggregateConfig {
    /// Output column.
    pub name: String,
    /// `count`, `sum`, `avg`, `min`, `max`, `stddev`, `stddev_pop`, `variance`
    /// (`var_samp`), `var_pop`, `approx_count_distinct`, `count_distinct` (exact),
    /// `sum_distinct`, `avg_distinct`, `collect_set`, `collect_list`, `percentile_approx(0.95)`,
    /// `max_by` or `min_by`.
    #[serde(rename = "fn")]
    pub function: String,
    /// Input column (absent for `count(*)`).
    pub column: Option<String>,
    /// For `max_by` and `min_by`: the column whose greatest (least) value picks the row
    /// whose `column` is taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

impl AggregateConfig {
    /// The quantile of `percentile_approx(q)` (or `approx_percentile(q)`), in millionths,
    /// when the function is one and `q` is a number from 0 to 1.
    pub fn percentile(&self) -> Option<u32> {
        let text = self.function.trim();
        let argument = ["percentile_approx(", "approx_percentile("]
            .iter()
            .find_map(|f| text.strip_prefix(f))?
            .strip_suffix(')')?;
        let q: f64 = argument.trim().parse().ok()?;
        (0.0..=1.0).contains(&q).then(|| (q * 1e6).round() as u32)
    }
}
