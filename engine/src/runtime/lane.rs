//! A lane: an operator's blocking I/O (uploading an epoch's files, committing an epoch, putting
//! a state snapshot) run off its worker thread, on the I/O runtime's blocking pool, one job
//! at a time in the order submitted. Each result comes back to the operator, which the lane
//! wakes with a timely activator; the operator holds its capability for the job's epoch
//! until then, so timely's frontier tracks the I/O without the worker waiting on it.
//!
//! One job at a time keeps a lane's effects in order (a sink's files of epoch `e` are
//! finished before those of `e + 1`; epochs commit in epoch order), while the worker goes
//! on planning, reading and processing later epochs.

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, Sender, channel};

use timely::scheduling::SyncActivator;

type Job<R> = Box<dyn FnOnce() -> R + Send>;

/// Blocking jobs of one operator, run in order off the worker thread; see the
/// [module docs](self).
pub(super) struct Lane<R: Send + 'static> {
    name: String,
    runtime: tokio::runtime::Handle,
    activator: SyncActivator,
    waiting: VecDeque<Job<R>>,
    running: bool,
    sender: Sender<R>,
    results: Receiver<R>,
}

impl<R: Send + 'static> Lane<R> {
    /// A lane named `name` (for logs) that wakes the operator of `activator`.
    pub(super) fn new(
        name: impl Into<String>,
        runtime: tokio::runtime::Handle,
        activator: SyncActivator,
    ) -> Self {
        let (sender, results) = channel();
        Self {
            name: name.into(),
            runtime,
            activator,
            waiting: VecDeque::new(),
            running: false,
            sender,
            results,
        }
    }

    /// Queues `job`; it runs once the jobs submitted before it have finished.
    pub(super) fn submit(&mut self, job: impl FnOnce() -> R + Send + 'static) {
        self.waiting.push_back(Box::new(job));
        self.start_next();
    }

    /// The results of the jobs finished since the last call, in submission order.
    pub(super) fn finished(&mut self) -> Vec<R> {
        let done: Vec<R> = self.results.try_iter().collect();
        if !done.is_empty() {
            self.running = false;
            self.start_next();
        }
        done
    }

    /// Whether no job is queued or running.
    pub(super) fn is_idle(&self) -> bool {
        !self.running && self.waiting.is_empty()
    }

    fn start_next(&mut self) {
        if self.running {
            return;
        }
        let Some(job) = self.waiting.pop_front() else {
            return;
        };
        self.running = true;
        let sender = self.sender.clone();
        let activator = self.activator.clone();
        let span = tracing::debug_span!("lane", name = %self.name);
        self.runtime.spawn_blocking(move || {
            let result = span.in_scope(job);
            // The operator may be gone (its worker stopped): then nobody waits.
            if sender.send(result).is_ok() {
                let _ = activator.activate();
            }
        });
    }
}
