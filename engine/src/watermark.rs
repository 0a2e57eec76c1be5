//! Event-time watermarks, epoch by epoch, as Structured Streaming computes them.
//!
//! `W(e) = max(W(e-1), G(e) - delay)` where `G(e)` is the global max event time of the
//! epochs before `e`, all-reduced across workers, and `W(0) = -infinity`. Records of epoch
//! `e` are tested for lateness against `W(e-1)`; windows are final when `end <= W(e)`.
//!
//! An operator reading several sources' rows (a union, or a window over a join) has one
//! such clock per source `i`, and `W(e) = max(W(e-1), min_i (G_i(e) - delay_i))`, which
//! stays at -infinity until every source has had a row: the minimum, as Spark's default
//! policy and Flink take it, and as a stream–stream join takes its two sides'. A source
//! that never sends a row holds it back, as in Flink without idleness; Spark would ignore
//! such a source, at the risk of dropping its first rows as late.

use serde::{Deserialize, Serialize};

/// A further stream whose event times hold an operator's watermark back: a union's other
/// source (observed before its query's `WHERE`), or the other side of a join under a
/// window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatermarkInput {
    /// The stream observed.
    pub stream: String,
    /// Its event-time column (a timestamp).
    pub time_column: String,
    /// Its watermark delay.
    pub delay: std::time::Duration,
}

/// The delays (microseconds) of further streams' clocks, in order.
pub(crate) fn delays(inputs: &[WatermarkInput]) -> Vec<i64> {
    inputs
        .iter()
        .map(|w| i64::try_from(w.delay.as_micros()).unwrap_or(i64::MAX))
        .collect()
}

/// Watermark bookkeeping of one operator instance. Times are microseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    delay: i64,
    /// `W(e-1)` during epoch `e`: the lateness threshold.
    previous: Option<i64>,
    /// `W(e)` during epoch `e`: the eviction threshold.
    current: Option<i64>,
    /// Global max event time of the epochs folded in so far.
    max_event_time: Option<i64>,
    /// The clocks of further inputs (a union's other sources), which hold `W` back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    others: Vec<Clock>,
}

/// The clock of one further input: its delay and the global max event time of its rows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    delay: i64,
    max_event_time: Option<i64>,
}

impl Watermark {
    /// A watermark at -infinity with `delay` microseconds.
    pub fn new(delay: i64) -> Self {
        Self {
            delay,
            ..Self::default()
        }
    }

    /// A watermark at -infinity over one input with `delay` and further inputs with
    /// `others` (each a delay): the least of their clocks.
    pub fn with_others(delay: i64, others: &[i64]) -> Self {
        Self {
            delay,
            others: others
                .iter()
                .map(|&delay| Clock {
                    delay,
                    max_event_time: None,
                })
                .collect(),
            ..Self::default()
        }
    }

    /// `restored`, a snapshot's bookkeeping, for an operator whose further inputs have
    /// the delays `others`: their clocks as the snapshot kept them, or not yet started when
    /// it kept none (a snapshot written before the operator had them).
    pub fn restored_with_others(mut restored: Self, others: &[i64]) -> Self {
        if restored.others.len() != others.len() {
            restored.others = Self::with_others(0, others).others;
        }
        for (clock, &delay) in restored.others.iter_mut().zip(others) {
            clock.delay = delay;
        }
        restored
    }

    /// Restores the bookkeeping as it was after some epoch.
    pub fn restored(delay: i64, current: Option<i64>, max_event_time: Option<i64>) -> Self {
        Self {
            delay,
            previous: current,
            current,
            max_event_time,
            others: Vec::new(),
        }
    }

    /// Moves to the next epoch: `W(e-1)` becomes the lateness threshold and `W(e)` is
    /// computed from the maxima folded in so far.
    pub fn advance(&mut self) {
        self.previous = self.current;
        self.current = self.next();
    }

    /// What `W(e)` will be when the next epoch starts.
    pub fn next(&self) -> Option<i64> {
        // `None` until every clock has a max: an input without rows yet holds it back.
        let candidate = std::iter::once((self.max_event_time, self.delay))
            .chain(self.others.iter().map(|c| (c.max_event_time, c.delay)))
            .map(|(max, delay)| max.map(|m| m.saturating_sub(delay)))
            .try_fold(i64::MAX, |least, w| w.map(|w| least.min(w)));
        match (self.current, candidate) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// Folds one epoch's global max event time in.
    pub fn observe(&mut self, epoch_max: Option<i64>) {
        self.max_event_time = match (self.max_event_time, epoch_max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    /// Folds one epoch's global max event time of each further input in, in order.
    pub fn observe_others(&mut self, epoch_max: &[Option<i64>]) {
        for (clock, max) in self.others.iter_mut().zip(epoch_max) {
            clock.max_event_time = match (clock.max_event_time, *max) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
    }

    /// `W(e-1)`: contributions to windows ending at or before it are late. `None` is
    /// -infinity.
    pub fn late_threshold(&self) -> Option<i64> {
        self.previous
    }

    /// `W(e)`: windows ending at or before it are final.
    pub fn current(&self) -> Option<i64> {
        self.current
    }

    /// The global max event time folded in so far, of every input.
    pub fn max_event_time(&self) -> Option<i64> {
        self.others
            .iter()
            .map(|c| c.max_event_time)
            .fold(self.max_event_time, |a, b| a.max(b))
    }

    /// The delay in microseconds.
    pub fn delay(&self) -> i64 {
        self.delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_previous_epochs_max_and_never_moves_back() {
        let mut w = Watermark::new(10);
        w.advance(); // epoch 0
        assert_eq!((w.late_threshold(), w.current()), (None, None));
        w.observe(Some(100));
        w.advance(); // epoch 1
        assert_eq!((w.late_threshold(), w.current()), (None, Some(90)));
        w.observe(Some(50));
        w.advance(); // epoch 2
        assert_eq!((w.late_threshold(), w.current()), (Some(90), Some(90)));
        w.observe(None);
        w.advance();
        assert_eq!(w.current(), Some(90));
    }

    #[test]
    fn several_inputs_hold_it_at_their_least_clock_once_each_has_rows() {
        let mut w = Watermark::with_others(10, &[30]);
        w.observe(Some(100));
        w.advance();
        // The other input has had no row: it holds the watermark at -infinity.
        assert_eq!(w.current(), None);
        w.observe(Some(200));
        w.observe_others(&[Some(150)]);
        w.advance();
        assert_eq!(w.current(), Some(120), "min(200 - 10, 150 - 30)");
        w.observe_others(&[Some(100)]);
        w.advance();
        assert_eq!(
            w.current(),
            Some(120),
            "each clock keeps its max; W never moves back"
        );
        w.observe_others(&[Some(400)]);
        w.advance();
        assert_eq!(w.current(), Some(190));
        assert_eq!(w.max_event_time(), Some(400));
        // A snapshot's clocks come back; one without them starts them afresh.
        let json = serde_json::to_string(&w).unwrap();
        let back: Watermark = serde_json::from_str(&json).unwrap();
        assert_eq!(Watermark::restored_with_others(back.clone(), &[30]), w);
        let mut old = back;
        old.others.clear();
        let restored = Watermark::restored_with_others(old, &[30]);
        assert_eq!(restored.next(), Some(190));
        assert_eq!(
            restored.others,
            vec![Clock {
                delay: 30,
                max_event_time: None
            }]
        );
    }
}
