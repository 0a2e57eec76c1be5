//! The sink writer operator: on every worker, writes an epoch's batches as data files once
//! the epoch is complete, and forwards the file descriptions to the committer.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::rc::Rc;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::operator::Operator;

use super::{EpochWriter, TableSink};
use crate::batch::Batches;
use crate::metrics::SinkTally;

/// A data file written for sink number `.0`, serialized as `.1`.
pub(crate) type FileNote = (u32, String);

/// Shared failure slot of a worker: the first error any operator hit.
pub(crate) type Failure = Rc<RefCell<Option<String>>>;

/// Records the first failure.
pub(crate) fn fail(failure: &Failure, message: String) {
    tracing::error!(%message, "operator failed");
    failure.borrow_mut().get_or_insert(message);
}

/// An epoch being written by one worker.
enum Pending {
    /// The sink writes batch by batch.
    Streaming(Box<dyn EpochWriter>),
    /// The sink writes the whole epoch at once.
    Buffered(Vec<RecordBatch>),
    /// Writing failed (already reported); the rest of the epoch is dropped.
    Failed,
}

impl Pending {
    fn open(sink: &dyn TableSink, epoch: u64, failure: &Failure) -> Self {
        match sink.stream(epoch) {
            Ok(Some(writer)) => Self::Streaming(writer),
            Ok(None) => Self::Buffered(Vec::new()),
            Err(err) => {
                fail(failure, format!("writing {}: {err}", sink.name()));
                Self::Failed
            }
        }
    }

    fn push(&mut self, sink: &dyn TableSink, batch: RecordBatch, failure: &Failure) {
        match self {
            Self::Streaming(writer) => {
                if let Err(err) = writer.push(&batch) {
                    fail(failure, format!("writing {}: {err}", sink.name()));
                    *self = Self::Failed;
                }
            }
            Self::Buffered(batches) => batches.push(batch),
            Self::Failed => {}
        }
    }

    fn finish(self, sink: &dyn TableSink, epoch: u64) -> Result<Vec<String>, String> {
        let result = match self {
            Self::Streaming(writer) => writer.finish(),
            Self::Buffered(batches) => sink.write(epoch, &batches),
            Self::Failed => return Ok(Vec::new()),
        };
        result.map_err(|err| format!("writing {}: {err}", sink.name()))
    }
}

/// Writes `stream` into `sink` (number `index`) epoch by epoch, batch by batch when the sink
/// can stream, counting the rows in `tally`. Epochs at or before `committed` are already in
/// the table and are not written (nor counted) again.
pub(crate) fn write_to<'scope>(
    stream: Stream<'scope, u64, Batches>,
    index: u32,
    sink: Arc<dyn TableSink>,
    committed: Option<u64>,
    failure: Failure,
    tally: SinkTally,
) -> Stream<'scope, u64, Vec<FileNote>> {
    let name = format!("Write({})", sink.name());
    stream.unary_frontier::<CapacityContainerBuilder<Vec<FileNote>>, _, _, _>(
        Pipeline,
        &name,
        move |_, _| {
            let mut open: BTreeMap<u64, (Capability<u64>, Pending)> = BTreeMap::new();
            move |(input, frontier), output| {
                input.for_each(|cap, container| {
                    let Some(&epoch) = cap.least() else { return };
                    if committed.is_some_and(|c| epoch <= c) {
                        return;
                    }
                    for batch in std::mem::take(&mut container.batches) {
                        if batch.num_rows() == 0 {
                            continue;
                        }
                        let pending = match open.entry(epoch) {
                            Entry::Occupied(entry) => &mut entry.into_mut().1,
                            Entry::Vacant(entry) => {
                                let Some(held) = cap.retain_least(0) else {
                                    return;
                                };
                                let pending = Pending::open(sink.as_ref(), epoch, &failure);
                                &mut entry.insert((held, pending)).1
                            }
                        };
                        tally.count(&batch);
                        pending.push(sink.as_ref(), batch, &failure);
                    }
                });
                while let Some(entry) = open.first_entry() {
                    let epoch = *entry.key();
                    if frontier.less_equal(&epoch) {
                        break;
                    }
                    let (cap, pending) = entry.remove();
                    match pending.finish(sink.as_ref(), epoch) {
                        Ok(files) => {
                            let mut session = output.session(&cap);
                            for file in files {
                                session.give((index, file));
                            }
                        }
                        Err(message) => fail(&failure, message),
                    }
                }
            }
        },
    )
}
