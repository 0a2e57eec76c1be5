//! Deduplication within the watermark, Spark's `dropDuplicatesWithinWatermark`: the first
//! row of each key passes, later rows of the key are dropped while the key is remembered,
//! and a key is forgotten once the watermark passes its first row's event time plus the
//! watermark delay, so state stays bounded.
//!
//! Epoch by epoch, with `W(e)` as for windows (DESIGN section 2):
//! - a row of epoch `e` with event time `t <= W(e-1)` (or none) is late: it goes to the
//!   late output (the dead-letter table, reason `late`), as Spark would drop it;
//! - otherwise, if its key is remembered, it is a duplicate and is dropped (counted);
//! - otherwise, of the epoch's rows of a new key, the one with the lowest event time
//!   passes (ties broken by the whole row's encoding, so the choice never depends on
//!   arrival order), and the key is remembered until `t + delay <= W(e)`, checked at the
//!   end of each epoch.
//!
//! Rows pass at the end of their epoch, ordered by event time, then key.

mod state;

pub use state::DedupState;

use std::time::Duration;

use arrow::datatypes::SchemaRef;
use serde::{Deserialize, Serialize};
use timely::dataflow::Stream;

use crate::batch::Batches;
use crate::error::Result;
use crate::event_time::{EventTimeInput, event_time_operator};
use crate::window::{Observed, WindowOutputs, WindowSetup};

/// Deduplication of a stream by key columns within the watermark.
///
/// Build one with [`DedupSpec::new`] (a later field takes its default there).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DedupSpec {
    /// The name of its state in checkpoints.
    pub name: String,
    /// The columns that identify a row.
    pub keys: Vec<String>,
    /// The event-time column (a timestamp).
    pub time_column: String,
    /// The watermark delay; a key is remembered until the watermark passes its first
    /// row's event time plus this.
    pub delay: Duration,
    /// The stream whose event times set the watermark (a SQL query's source rows, before
    /// its `WHERE`); the input itself when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark_from: Option<String>,
    /// Further streams whose event times hold the watermark back (a union's other
    /// sources), as a window's ([`crate::window::WindowSpec::watermark_also`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watermark_also: Vec<crate::watermark::WatermarkInput>,
}

impl DedupSpec {
    /// A deduplication named `name` (its state's name) by the columns `keys` within the
    /// watermark of `time_column` less `delay`, observed on its own input.
    pub fn new<K: Into<String>>(
        name: impl Into<String>,
        keys: impl IntoIterator<Item = K>,
        time_column: impl Into<String>,
        delay: Duration,
    ) -> Self {
        Self {
            name: name.into(),
            keys: keys.into_iter().map(Into::into).collect(),
            time_column: time_column.into(),
            delay,
            watermark_from: None,
            watermark_also: Vec::new(),
        }
    }
}

/// Deduplication of a stream of Arrow batches.
pub trait DedupExt<'scope> {
    /// Deduplicates `self` (batches with `schema`) per `spec`. The results have the input's
    /// schema; late rows carry `windows_missed` (0) and `late_watermark`.
    ///
    /// # Errors
    /// When the spec does not fit the schema.
    fn dedup(
        self,
        spec: &DedupSpec,
        schema: &SchemaRef,
        setup: WindowSetup,
    ) -> Result<WindowOutputs<'scope>>
    where
        Self: Sized,
    {
        self.dedup_observing(spec, schema, setup, Observed::default())
    }

    /// As [`dedup`](Self::dedup), with the watermark set by the event times of the
    /// `observed` streams.
    ///
    /// # Errors
    /// When the spec does not fit the schemas, or `observed` does not hold a stream for
    /// each of the spec's `watermark_also`.
    fn dedup_observing(
        self,
        spec: &DedupSpec,
        schema: &SchemaRef,
        setup: WindowSetup,
        observed: Observed<'scope>,
    ) -> Result<WindowOutputs<'scope>>;
}

impl<'scope> DedupExt<'scope> for Stream<'scope, u64, Batches> {
    fn dedup_observing(
        self,
        spec: &DedupSpec,
        schema: &SchemaRef,
        setup: WindowSetup,
        observed: Observed<'scope>,
    ) -> Result<WindowOutputs<'scope>> {
        let input = EventTimeInput::new(self, schema, &spec.keys, Some(&spec.time_column))?
            .observing(&spec.name, observed, &spec.watermark_also)?;
        let state = DedupState::new(spec.clone(), schema)?;
        event_time_operator(vec![input], state, setup, format!("Dedup({})", spec.name))
    }
}
