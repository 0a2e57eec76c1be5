//! What a window over a join's rows needs of the join: a watermark clock per side, each
//! with the join's bound added to its delay.

use crate::sql::error::SqlError;
use std::time::Duration;

use sluice_engine::plan::{OperatorKind, PlanBuilder};
use sluice_engine::stream_join::StreamJoinSpec;
use sluice_engine::watermark::WatermarkInput;

use crate::sql::query::{quoted, unsupported};

/// What a window over a join's rows needs of the join: its kind and bounds, and each
/// side's alias, stream, event-time column and delay.
#[derive(Clone, Debug)]
pub(in crate::sql) struct JoinClocks {
    pub(super) spec: StreamJoinSpec,
    /// `(alias, stream, event time, delay)` of the left and right sides; `None` for a
    /// windowed subquery.
    pub(super) sides: [Option<(String, String, String, Duration)>; 2],
}

impl JoinClocks {
    /// The watermark of a window over `time_column` of the joined rows (`alias.ts` of
    /// either side): the stream and delay of its clock over that side (a projection
    /// `name` of the side's rows naming their event time as the joined rows do), and
    /// the other side's clock.
    ///
    /// A pair comes out of the join in the epoch of its later row, which was not late:
    /// its time is above the join's `W(e-1)`. With `r.t <= l.t + max` (and `r.t >= l.t +
    /// min`), the left row's time is then above `W(e-1) - max` (the right row's above
    /// `W(e-1) + min`). An outer join's unmatched left row comes out in the first epoch
    /// whose `W(e)` reaches `l.t + max`, so its time too is above `W(e-1) - max` (a right
    /// row's above `W(e-1) + min`). So a window over the left time takes the join's
    /// watermark less `max(0, max)` (over the right time, less `max(0, -min)`): each
    /// side's clock with that much more delay, and no joined row is ever late for the
    /// window.
    ///
    /// # Errors
    /// A window over the time of the side whose unmatched rows an outer join pads with
    /// nulls, a join bounded by a column (`left_until`), a windowed subquery's side, or a
    /// column that is neither side's event time.
    pub(in crate::sql) fn window_clock(
        &self,
        plan: PlanBuilder,
        name: &str,
        time_column: &str,
    ) -> Result<(PlanBuilder, String, Duration, WatermarkInput), SqlError> {
        let not_yet = |what: &str, why: &str| Err(unsupported(what, why));
        if self.spec.left_until.is_some() {
            return not_yet(
                "an event-time window over a join bounded by a column",
                "not yet; bound the join by the left's event time plus an INTERVAL",
            );
        }
        let [Some(left), Some(right)] = &self.sides else {
            return not_yet(
                "an event-time window over a join of windowed subqueries",
                "window the join's source tables, or join the windows",
            );
        };
        let us = |v: i64| Duration::from_micros(u64::try_from(v.max(0)).unwrap_or(0));
        let (own, other, slack, nulls) = if time_column == format!("{}.{}", left.0, left.2) {
            let nulls = self.spec.kind.keeps_unmatched_right();
            (left, right, us(self.spec.max_offset_us), nulls)
        } else if time_column == format!("{}.{}", right.0, right.2) {
            let nulls = self.spec.kind.keeps_unmatched_left();
            (right, left, us(-self.spec.min_offset_us), nulls)
        } else {
            return Err(SqlError::Invalid(format!(
                "a window over a join's rows is over one side's event time, `{}.{}` or \
                 `{}.{}`, not `{time_column}`",
                left.0, left.2, right.0, right.2
            )));
        };
        if nulls {
            return not_yet(
                &format!("an event-time window over `{time_column}` of an outer join"),
                "the join's unmatched rows of the other side have no time there; window \
                 over the time of the side the join keeps (a LEFT join's left, a RIGHT \
                 join's right), or use an inner join",
            );
        }
        let plan = plan.operator(
            name,
            &own.1,
            OperatorKind::Project {
                columns: vec![(time_column.to_owned(), quoted(&own.2))],
                keep_input: false,
                drop: Vec::new(),
                keep_coordinates: false,
            },
        );
        let other = WatermarkInput {
            stream: other.1.clone(),
            time_column: other.2.clone(),
            delay: other.3 + slack,
        };
        Ok((plan, name.to_owned(), own.3 + slack, other))
    }
}
