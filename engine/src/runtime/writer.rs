//! The sink writer operator: on every worker, writes an epoch's batches as data files and,
//! once the epoch is complete, finishes them on its [`Lane`] (off the worker thread) and
//! forwards the file descriptions to the committer.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::operator::Operator;

use super::WorkerError;
use super::failure::{EpochFailure, Failure, Site, fail};
use super::lane::Lane;
use super::{EpochWriter, TableSink};
use crate::batch::Batches;
use crate::metrics::SinkTally;

/// What the committer hears about an epoch, from any worker.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) enum EpochNote {
    /// For sink number `sink`: a data file it wrote, serialized by the sink, or another note
    /// the sink commits with the epoch (the quality gate's uniqueness counts).
    Sink { sink: u32, note: String },
    /// A state snapshot part written for the epoch.
    State(sluice_checkpoints::StatePart),
    /// Something in the epoch failed: it must never commit.
    Failed(EpochFailure),
}

/// An epoch being written by one worker.
enum Pending {
    /// The sink writes batch by batch.
    Streaming(Box<dyn EpochWriter>),
    /// The sink writes the whole epoch at once.
    Buffered(Vec<RecordBatch>),
    /// Writing failed (already reported locally); the rest of the epoch is dropped and the
    /// failure goes to the committer when the epoch is complete.
    Failed(WorkerError),
}

impl Pending {
    fn open(sink: &dyn TableSink, epoch: u64, failure: &Failure) -> Self {
        match sink.stream(epoch) {
            Ok(Some(writer)) => Self::Streaming(writer),
            Ok(None) => Self::Buffered(Vec::new()),
            Err(err) => {
                let error = write_error(sink, &err);
                fail(failure, error.clone());
                Self::Failed(error)
            }
        }
    }

    fn push(&mut self, sink: &dyn TableSink, batch: RecordBatch, failure: &Failure) {
        match self {
            Self::Streaming(writer) => {
                if let Err(err) = writer.push(&batch) {
                    let error = write_error(sink, &err);
                    fail(failure, error.clone());
                    *self = Self::Failed(error);
                }
            }
            Self::Buffered(batches) => batches.push(batch),
            Self::Failed(_) => {}
        }
    }

    /// The epoch's files, or the error that lost them. Blocks on the uploads: it runs on
    /// the writer's lane.
    fn finish(self, sink: &dyn TableSink, epoch: u64) -> Result<Vec<String>, WorkerError> {
        let result = match self {
            Self::Streaming(writer) => writer.finish(),
            Self::Buffered(batches) => sink.write(epoch, &batches),
            Self::Failed(error) => return Err(error),
        };
        result.map_err(|err| write_error(sink, &err))
    }
}

/// `sink`'s failure to write.
fn write_error(sink: &dyn TableSink, err: &super::ConnectorFailure) -> WorkerError {
    WorkerError::Write {
        table: sink.name().to_owned(),
        message: err.to_string(),
    }
}

/// Writes `stream` into `sink` (number `index`) epoch by epoch, batch by batch when the sink
/// can stream, counting the rows in `tally`. Epochs at or before `committed` are already in
/// the table and are not written (nor counted) again. A complete epoch's files are finished
/// on a lane on `runtime`, in epoch order, while the worker goes on with later epochs; the
/// epoch's capability is held until they are.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_to<'scope>(
    stream: Stream<'scope, u64, Batches>,
    index: u32,
    sink: Arc<dyn TableSink>,
    committed: Option<u64>,
    failure: Failure,
    tally: SinkTally,
    site: Site,
    runtime: tokio::runtime::Handle,
) -> Stream<'scope, u64, Vec<EpochNote>> {
    let name = format!("Write({})", sink.name());
    let operator = name.clone();
    let worker = stream.scope().worker();
    stream.unary_frontier::<CapacityContainerBuilder<Vec<EpochNote>>, _, _, _>(
        Pipeline,
        &name,
        move |_, info| {
            let activator = worker.sync_activator_for(info.address.to_vec());
            let mut lane = Lane::new(operator.clone(), runtime, activator);
            let mut open: BTreeMap<u64, (Capability<u64>, Pending)> = BTreeMap::new();
            let mut finishing: BTreeMap<u64, Capability<u64>> = BTreeMap::new();
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
                    finishing.insert(epoch, cap);
                    let sink = Arc::clone(&sink);
                    lane.submit(move || (epoch, pending.finish(sink.as_ref(), epoch)));
                }
                for (epoch, finished) in lane.finished() {
                    let Some(cap) = finishing.remove(&epoch) else {
                        continue;
                    };
                    match finished {
                        Ok(files) => {
                            let mut session = output.session(&cap);
                            for note in files {
                                session.give(EpochNote::Sink { sink: index, note });
                            }
                        }
                        Err(error) => {
                            fail(&failure, error.clone());
                            output.session(&cap).give(EpochNote::Failed(EpochFailure {
                                site,
                                operator: operator.clone(),
                                error,
                            }));
                        }
                    }
                }
            }
        },
    )
}
