//! Event-time watermarks, epoch by epoch, as Structured Streaming computes them.
//!
//! `W(e) = max(W(e-1), G(e) - delay)` where `G(e)` is the global max event time of the
//! epochs before `e`, all-reduced across workers, and `W(0) = -infinity`. Records of epoch
//! `e` are tested for lateness against `W(e-1)`; windows are final when `end <= W(e)`.

use serde::{Deserialize, Serialize};

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
}

impl Watermark {
    /// A watermark at -infinity with `delay` microseconds.
    pub fn new(delay: i64) -> Self {
        Self {
            delay,
            ..Self::default()
        }
    }

    /// Restores the bookkeeping as it was after some epoch.
    pub fn restored(delay: i64, current: Option<i64>, max_event_time: Option<i64>) -> Self {
        Self {
            delay,
            previous: current,
            current,
            max_event_time,
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
        let candidate = self.max_event_time.map(|m| m.saturating_sub(self.delay));
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

    /// `W(e-1)`: contributions to windows ending at or before it are late. `None` is
    /// -infinity.
    pub fn late_threshold(&self) -> Option<i64> {
        self.previous
    }

    /// `W(e)`: windows ending at or before it are final.
    pub fn current(&self) -> Option<i64> {
        self.current
    }

    /// The global max event time folded in so far.
    pub fn max_event_time(&self) -> Option<i64> {
        self.max_event_time
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
}
