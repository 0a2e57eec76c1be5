//! The sink writer operator: on every worker, writes an epoch's batches as data files once
//! the epoch is complete, and forwards the file descriptions to the committer.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::operator::Operator;

use super::TableSink;
use crate::batch::Batches;

/// A data file written for sink number `.0`, serialized as `.1`.
pub(crate) type FileNote = (u32, String);

/// Shared failure slot of a worker: the first error any operator hit.
pub(crate) type Failure = Rc<RefCell<Option<String>>>;

/// Records the first failure.
pub(crate) fn fail(failure: &Failure, message: String) {
    tracing::error!(%message, "operator failed");
    failure.borrow_mut().get_or_insert(message);
}

/// Writes `stream` into `sink` (number `index`) epoch by epoch. Epochs at or before
/// `committed` are already in the table and are not written again.
pub(crate) fn write_to<'scope>(
    stream: Stream<'scope, u64, Batches>,
    index: u32,
    sink: Arc<dyn TableSink>,
    committed: Option<u64>,
    failure: Failure,
) -> Stream<'scope, u64, Vec<FileNote>> {
    let name = format!("Write({})", sink.name());
    stream.unary_frontier::<CapacityContainerBuilder<Vec<FileNote>>, _, _, _>(
        Pipeline,
        &name,
        move |_, _| {
            let mut stash: BTreeMap<u64, (Capability<u64>, Vec<RecordBatch>)> = BTreeMap::new();
            move |(input, frontier), output| {
                input.for_each(|cap, container| {
                    if let (Some(&t), Some(held)) = (cap.least(), cap.retain_least(0)) {
                        stash
                            .entry(t)
                            .or_insert_with(|| (held, Vec::new()))
                            .1
                            .extend(std::mem::take(&mut container.batches));
                    }
                });
                while let Some(entry) = stash.first_entry() {
                    let epoch = *entry.key();
                    if frontier.less_equal(&epoch) {
                        break;
                    }
                    let (cap, batches) = entry.remove();
                    if committed.is_some_and(|c| epoch <= c) {
                        continue;
                    }
                    let batches: Vec<RecordBatch> =
                        batches.into_iter().filter(|b| b.num_rows() > 0).collect();
                    if batches.is_empty() {
                        continue;
                    }
                    match sink.write(epoch, &batches) {
                        Ok(files) => {
                            let mut session = output.session(&cap);
                            for file in files {
                                session.give((index, file));
                            }
                        }
                        Err(err) => fail(&failure, format!("writing {}: {err}", sink.name())),
                    }
                }
            }
        },
    )
}
