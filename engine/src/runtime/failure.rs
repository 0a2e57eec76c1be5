//! Failures in a run. An operator that fails records the failure on its worker (so the
//! worker stops) and raises its process's abort flag at once (so the committer of that
//! process never commits the epoch, whatever the timing). The operators that can lose an
//! epoch's data (sink writers, window snapshots, reads) also send an [`EpochFailure`] to the
//! committer as data, at the epoch's time: timely's progress tracking then completes the
//! epoch at the committer only with the failure in, in any process of a cluster.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

use super::WorkerError;
use super::writer::EpochNote;

/// A worker's failure slot, and its process's abort flag, given to the operators that can
/// fail. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Failure {
    first: Rc<RefCell<Option<WorkerError>>>,
    process: Arc<AtomicBool>,
}

impl Failure {
    /// A slot that raises `abort`, the process's abort flag, on failure.
    pub(crate) fn new(abort: Arc<AtomicBool>) -> Self {
        Self {
            first: Rc::default(),
            process: abort,
        }
    }

    /// The first failure recorded on this worker.
    pub(crate) fn first(&self) -> Option<WorkerError> {
        self.first.borrow().clone()
    }
}

/// Records a failure: the worker's first, and the process's abort flag.
pub(crate) fn fail(failure: &Failure, error: WorkerError) {
    tracing::error!(%error, "operator failed");
    failure.first.borrow_mut().get_or_insert(error);
    failure.process.store(true, Ordering::SeqCst);
}

/// Records that `operator` failed on an epoch's rows or state with `error`.
pub(crate) fn fail_in(
    failure: &Failure,
    operator: impl Into<String>,
    epoch: u64,
    error: &dyn std::fmt::Display,
) {
    fail(
        failure,
        WorkerError::Operator {
            operator: operator.into(),
            epoch,
            message: error.to_string(),
        },
    );
}

/// Where a failure happened and what it was: it travels to the committer as data, so that
/// the epoch it belongs to never commits, whichever process it happened in.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EpochFailure {
    pub(crate) site: Site,
    /// The operator (or step) that failed, e.g. `Write(silver)`.
    pub(crate) operator: String,
    /// What failed.
    pub(crate) error: WorkerError,
}

impl std::fmt::Display for EpochFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "process {}, worker {}, {}: {}",
            self.site.process, self.site.worker, self.operator, self.error
        )
    }
}

/// A worker's place in the job: its process and its job-wide worker index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Site {
    pub(crate) process: usize,
    pub(crate) worker: usize,
}

/// Passes a worker's notes to the committer and, once an epoch is complete on this worker,
/// adds an [`EpochFailure`] at that epoch if `failed` reports a failure: any operator
/// upstream that recorded one (a join, an aggregate, a rule) then keeps the epoch from
/// committing, in any process, because timely completes the epoch downstream only after
/// this note.
pub(crate) fn failure_gate<'scope>(
    notes: Stream<'scope, u64, Vec<EpochNote>>,
    first_epoch: u64,
    site: Site,
    failed: Box<dyn Fn() -> Option<WorkerError>>,
) -> Stream<'scope, u64, Vec<EpochNote>> {
    let mut builder = OperatorBuilder::new("FailureGate".to_owned(), notes.scope());
    let mut input = builder.new_input(notes, Pipeline);
    let (output, stream) = builder.new_output::<Vec<EpochNote>>();
    let mut output = OutputBuilder::from(output);
    builder.build(move |capabilities| {
        let mut caps = capabilities;
        for cap in caps.iter_mut() {
            cap.downgrade(&first_epoch);
        }
        let mut reported = false;
        move |frontiers| {
            let mut handle = output.activate();
            input.for_each(|cap, container| {
                handle.session(&cap).give_container(container);
            });
            let Some(cap) = caps.first_mut() else { return };
            let frontier = frontiers[0].frontier().first().copied();
            // Every epoch before the frontier is complete here.
            let done_before = frontier.unwrap_or(u64::MAX);
            if !reported
                && *cap.time() < done_before
                && let Some(error) = failed()
            {
                handle.session(&*cap).give(EpochNote::Failed(EpochFailure {
                    site,
                    operator: "Worker".into(),
                    error,
                }));
                reported = true;
            }
            match frontier {
                Some(next) if next > *cap.time() => cap.downgrade(&next),
                Some(_) => {}
                None => caps.clear(),
            }
        }
    });
    stream
}
