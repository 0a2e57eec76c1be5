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
use super::writer::{Failure, FileNote, fail};
use crate::epoch::complete_before;
use crate::metrics::RunMetrics;

/// Called after every sink committed an epoch; writes the commit marker.
pub(crate) type OnCommitted = Box<dyn FnMut(u64) -> Result<(), String>>;

/// Commits the files in `files` epoch by epoch, in epoch order, starting at `first_epoch`.
/// Holds a capability until each epoch is committed, so a probe downstream of the
/// returned stream passes an epoch only once it is durable.
/// The tables an epoch commits to, in commit order, and where commits are reported.
pub(crate) struct CommitTargets {
    pub(crate) sinks: Vec<Arc<dyn TableSink>>,
    pub(crate) metrics: RunMetrics,
}

pub(crate) fn commit_epochs<'scope>(
    files: Stream<'scope, u64, Vec<FileNote>>,
    targets: CommitTargets,
    first_epoch: u64,
    final_epoch: Rc<Cell<Option<u64>>>,
    mut on_committed: OnCommitted,
    failure: Failure,
    abort: Arc<AtomicBool>,
) -> Stream<'scope, u64, Vec<()>> {
    let CommitTargets { sinks, metrics } = targets;
    let scope = files.scope();
    let is_committer = scope.index() == 0;
    let mut builder = OperatorBuilder::new("Commit".to_owned(), scope);
    let mut input = builder.new_input(files, Exchange::new(|_: &FileNote| 0));
    let (_output, stream) = builder.new_output::<Vec<()>>();
    builder.build(move |capabilities| {
        let mut caps = capabilities;
        for cap in caps.iter_mut() {
            cap.downgrade(&first_epoch);
        }
        let mut next = first_epoch;
        let mut stash: BTreeMap<u64, Vec<FileNote>> = BTreeMap::new();
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
                if is_committer && failure.borrow().is_none() && !abort.load(Ordering::SeqCst) {
                    let mut per_sink: Vec<Vec<String>> = vec![Vec::new(); sinks.len()];
                    for (index, file) in notes {
                        per_sink[index as usize].push(file);
                    }
                    let mut ok = true;
                    for (sink, files) in sinks.iter().zip(per_sink) {
                        let began = Instant::now();
                        match sink.commit(epoch, files) {
                            Ok(report) => {
                                metrics.table_committed(sink.name(), began.elapsed(), &report);
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
                    if ok && let Err(err) = on_committed(epoch) {
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
