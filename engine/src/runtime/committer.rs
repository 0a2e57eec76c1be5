//! The single committer: on worker 0, commits each sink's files of an epoch in one
//! transaction per table, then marks the epoch committed in the checkpoint.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

use super::TableSink;
use sluice_checkpoints::{StatePart, check_tiling};

use super::abort::ABORTED;
use super::failure::{EpochFailure, Failure, fail};
use super::writer::EpochNote;
use crate::epoch::complete_before;
use crate::metrics::RunMetrics;

/// What every sink committing an epoch produced.
pub(crate) struct Committed {
    pub(crate) epoch: u64,
    /// The epoch's state parts, sorted, covering every key group once (or empty).
    pub(crate) parts: Vec<StatePart>,
    /// The table version each commit created, by table.
    pub(crate) tables: BTreeMap<String, u64>,
}

/// Called after every sink committed an epoch; writes the commit marker.
pub(crate) type OnCommitted = Box<dyn FnMut(Committed) -> Result<(), String>>;

/// The tables an epoch commits to, in commit order, and where commits are reported.
pub(crate) struct CommitTargets {
    pub(crate) sinks: Vec<Arc<dyn TableSink>>,
    pub(crate) metrics: RunMetrics,
    /// The job's key groups, which an epoch's state parts must cover exactly once.
    pub(crate) key_groups: u32,
}

/// Commits the notes in `files` epoch by epoch, in epoch order, starting at `first_epoch`.
/// Holds a capability until each epoch is committed, so a probe downstream of the
/// returned stream passes an epoch only once it is durable. An epoch whose state parts do
/// not cover every key group exactly once (a worker's snapshot is missing) is not
/// committed.
pub(crate) fn commit_epochs<'scope>(
    files: Stream<'scope, u64, Vec<EpochNote>>,
    targets: CommitTargets,
    first_epoch: u64,
    final_epoch: Rc<Cell<Option<u64>>>,
    mut on_committed: OnCommitted,
    failure: Failure,
    abort: Arc<AtomicBool>,
) -> Stream<'scope, u64, Vec<()>> {
    let CommitTargets {
        sinks,
        metrics,
        key_groups,
    } = targets;
    let scope = files.scope();
    let is_committer = scope.index() == 0;
    let mut builder = OperatorBuilder::new("Commit".to_owned(), scope);
    let mut input = builder.new_input(files, Exchange::new(|_: &EpochNote| 0));
    let (_output, stream) = builder.new_output::<Vec<()>>();
    builder.build(move |capabilities| {
        let mut caps = capabilities;
        for cap in caps.iter_mut() {
            cap.downgrade(&first_epoch);
        }
        let mut next = first_epoch;
        let mut stash: BTreeMap<u64, Vec<EpochNote>> = BTreeMap::new();
        move |frontiers| {
            input.for_each(|cap, container| {
                if let Some(&t) = cap.least() {
                    stash.entry(t).or_default().append(container);
                }
            });
            if caps.is_empty() {
                return;
            }
            let frontier = frontiers[0].frontier().first().copied();
            let limit = complete_before(
                frontier,
                final_epoch.get(),
                stash.keys().last().copied(),
                next,
            );
            while next < limit {
                let epoch = next;
                let notes = stash.remove(&epoch).unwrap_or_default();
                // A worker that failed closes its inputs as it leaves, which completes the
                // epoch here without its share: never commit once any worker aborted.
                if is_committer && failure.first().is_none() && !abort.load(Ordering::SeqCst) {
                    let mut per_sink: Vec<Vec<String>> = vec![Vec::new(); sinks.len()];
                    let mut parts = Vec::new();
                    let mut failures = Vec::new();
                    for note in notes {
                        match note {
                            EpochNote::Sink { sink, note } => per_sink[sink as usize].push(note),
                            EpochNote::State(part) => parts.push(part),
                            EpochNote::Failed(f) => failures.push(f),
                        }
                    }
                    parts.sort();
                    let mut ok = true;
                    // Name the first cause: a worker that only stopped because another failed
                    // is not one, and the cause may sit in a later epoch.
                    let later = stash.values().flatten().filter_map(|note| match note {
                        EpochNote::Failed(f) => Some(f.clone()),
                        _ => None,
                    });
                    let failed = !failures.is_empty();
                    if failed && let Some(cause) = first_cause(failures.into_iter().chain(later)) {
                        fail(&failure, format!("epoch {epoch} failed in {cause}"));
                        ok = false;
                    } else if let Err(err) = check_tiling(epoch, &parts, key_groups) {
                        fail(&failure, format!("epoch {epoch}: {err}"));
                        ok = false;
                    }
                    let to_commit = if ok { sinks.len() } else { 0 };
                    let mut tables = BTreeMap::new();
                    for (sink, files) in sinks.iter().zip(per_sink).take(to_commit) {
                        let began = Instant::now();
                        match sink.commit(epoch, files) {
                            Ok(report) => {
                                metrics.table_committed(sink.name(), began.elapsed(), &report);
                                if let Some(version) = report.version {
                                    tables.insert(sink.name().to_string(), version);
                                }
                                tracing::debug!(
                                    table = sink.name(),
                                    epoch,
                                    skipped = report.skipped,
                                    rows = report.rows,
                                    files = report.files,
                                    "epoch committed"
                                );
                            }
                            Err(err) => {
                                fail(
                                    &failure,
                                    format!("committing {} epoch {epoch}: {err}", sink.name()),
                                );
                                ok = false;
                                break;
                            }
                        }
                    }
                    let committed = Committed {
                        epoch,
                        parts,
                        tables,
                    };
                    if ok && let Err(err) = on_committed(committed) {
                        fail(&failure, format!("commit marker {epoch}: {err}"));
                    }
                }
                next = epoch + 1;
                if final_epoch.get() == Some(epoch) {
                    caps.clear();
                    break;
                }
                for cap in caps.iter_mut() {
                    cap.downgrade(&next);
                }
            }
            if frontier.is_none() && stash.is_empty() {
                caps.clear();
            }
        }
    });
    stream
}

/// The first of `failures` that is a cause, not a worker stopping because another failed
/// (the first of all if there is none).
fn first_cause(failures: impl Iterator<Item = EpochFailure>) -> Option<EpochFailure> {
    let mut first = None;
    for f in failures {
        if f.error != ABORTED {
            return Some(f);
        }
        first.get_or_insert(f);
    }
    first
}
