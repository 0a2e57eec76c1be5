//! The event-time operators' (windows' and deduplications') controls of a worker, seen
//! by its loop as one: the job's watermark is the minimum of theirs (DESIGN section 2),
//! and whatever the loop tells them (the final epoch, idle epochs' event time) it tells
//! each.

use std::rc::Rc;

use super::WorkerError;
use crate::watermark::Watermark;
use crate::window::WindowControl;

/// One control per window operator of the plan, in plan order.
#[derive(Clone, Debug, Default)]
pub(super) struct WindowControls(pub(super) Vec<Rc<WindowControl>>);

impl WindowControls {
    /// `n` fresh controls.
    pub(super) fn new(n: usize) -> Self {
        Self((0..n).map(|_| Rc::new(WindowControl::default())).collect())
    }

    /// The failure a window reported, if any.
    pub(super) fn failure(&self) -> Option<WorkerError> {
        self.0.iter().find_map(|c| c.failure.borrow().clone())
    }

    /// The job's watermark bookkeeping: the window's whose next watermark is lowest (no
    /// watermark yet is lowest of all), among those that read an event time; the default
    /// without any.
    pub(super) fn watermark(&self) -> Watermark {
        self.0
            .iter()
            .filter(|c| !c.untimed.get())
            .map(|c| c.watermark.borrow().clone())
            .min_by_key(Watermark::next)
            .unwrap_or_default()
    }

    /// Tells every window that `epoch` is the last.
    pub(super) fn set_final(&self, epoch: u64) {
        for c in &self.0 {
            c.final_epoch.set(Some(epoch));
        }
    }

    /// Tells every window the event time (µs) idle epoch `epoch` counts as seen.
    pub(super) fn idle(&self, epoch: u64, micros: i64) {
        for c in &self.0 {
            c.idle_max.borrow_mut().insert(epoch, micros);
        }
    }

    /// Late records the windows routed on this worker.
    pub(super) fn late_records(&self) -> u64 {
        self.0.iter().map(|c| c.late_records.get()).sum()
    }
}
