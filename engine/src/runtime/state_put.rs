//! Putting a window's snapshot parts into the checkpoint, off the worker thread: the parts
//! reach the committer (as [`EpochNote::State`]) only once they are written, so an epoch
//! commits only with its whole snapshot durable.

use std::collections::BTreeMap;

use sluice_checkpoints::CheckpointStore;
use timely::container::CapacityContainerBuilder;
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::operator::Operator;

use super::WorkerError;
use super::failure::{EpochFailure, Failure, Site, fail};
use super::lane::Lane;
use super::writer::EpochNote;
use crate::window::WindowNote;

/// Writes the snapshot parts in `notes` (of the window operator `operator`) to `store` on a
/// lane on `runtime`, and passes each on to the committer once written; the window's
/// failures pass on at once.
pub(super) fn put_state<'scope>(
    notes: Stream<'scope, u64, Vec<WindowNote>>,
    operator: String,
    store: CheckpointStore,
    runtime: tokio::runtime::Handle,
    failure: Failure,
    site: Site,
) -> Stream<'scope, u64, Vec<EpochNote>> {
    let worker = notes.scope().worker();
    let name = format!("PutState({operator})");
    notes.unary::<CapacityContainerBuilder<Vec<EpochNote>>, _, _, _>(
        Pipeline,
        &name.clone(),
        move |_, info| {
            let activator = worker.sync_activator_for(info.address.to_vec());
            let mut lane = Lane::new(name, runtime.clone(), activator);
            // The capability of each epoch with parts being written, and how many.
            let mut writing: BTreeMap<u64, (Capability<u64>, usize)> = BTreeMap::new();
            move |input, output| {
                input.for_each(|cap, container| {
                    let Some(&epoch) = cap.least() else { return };
                    for note in container.drain(..) {
                        match note {
                            WindowNote::Snapshot(part, bytes) => {
                                let Some(held) = cap.retain_least(0) else {
                                    return;
                                };
                                writing.entry(epoch).or_insert((held, 0)).1 += 1;
                                let store = store.clone();
                                let handle = runtime.clone();
                                let operator = operator.clone();
                                lane.submit(move || {
                                    let written = handle
                                        .block_on(store.put_state(
                                            epoch,
                                            &part.operator,
                                            &part.part,
                                            bytes.into(),
                                        ))
                                        .map(|()| part)
                                        .map_err(|e| WorkerError::Operator {
                                            operator,
                                            epoch,
                                            message: format!("snapshot: {e}"),
                                        });
                                    (epoch, written)
                                });
                            }
                            WindowNote::Failed(error) => {
                                output.session(&cap).give(EpochNote::Failed(EpochFailure {
                                    site,
                                    operator: operator.clone(),
                                    error,
                                }));
                            }
                        }
                    }
                });
                for (epoch, written) in lane.finished() {
                    let Some((cap, left)) = writing.get_mut(&epoch) else {
                        continue;
                    };
                    let note = match written {
                        Ok(part) => EpochNote::State(part),
                        Err(error) => {
                            fail(&failure, error.clone());
                            EpochNote::Failed(EpochFailure {
                                site,
                                operator: operator.clone(),
                                error,
                            })
                        }
                    };
                    output.session(&*cap).give(note);
                    *left -= 1;
                    if *left == 0 {
                        writing.remove(&epoch);
                    }
                }
            }
        },
    )
}
