//! What happens once every sink committed an epoch, on the committing worker: the commit
//! marker (and snapshot retention) in the checkpoint, the source told, the epoch timed.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use sluice_checkpoints::{CheckpointStore, CommitMarker, Retention, SourceRange, state_sizes};

use super::EpochSource;
use super::committer::{Committed, OnCommitted};
use crate::metrics::RunMetrics;

/// An epoch fed but not yet committed: its logged ranges and when it started.
pub(super) struct InFlight {
    pub(super) ranges: Vec<SourceRange>,
    pub(super) started: Instant,
}

/// This worker's epochs in flight, by epoch.
pub(super) type InFlightEpochs = Rc<RefCell<BTreeMap<u64, InFlight>>>;

/// Writes the commit marker of each committed epoch; see the [module docs](self).
pub(super) struct Marker {
    pub(super) store: CheckpointStore,
    pub(super) runtime: tokio::runtime::Handle,
    /// Snapshots kept by retention.
    pub(super) keep_snapshots: usize,
    /// Without operator state every epoch is a snapshot; with it, the epochs whose state
    /// parts were written.
    pub(super) has_state: bool,
    /// The newest epoch already marked when the run started: epochs up to it are replays,
    /// whose stored marker (and the parts it lists) stands.
    pub(super) marked_before: Option<u64>,
    pub(super) in_flight: InFlightEpochs,
    pub(super) source: Arc<dyn EpochSource>,
    pub(super) metrics: RunMetrics,
}

impl Marker {
    /// The committer's callback.
    pub(super) fn into_callback(self) -> OnCommitted {
        Box::new(move |committed| self.mark(committed))
    }

    fn mark(&self, committed: Committed) -> Result<(), String> {
        let Committed {
            epoch,
            parts,
            tables,
        } = committed;
        let snapshot = !self.has_state || !parts.is_empty();
        let replay = self.marked_before.is_some_and(|m| epoch <= m);
        self.metrics.state_snapshot(state_sizes(&parts));
        if !replay {
            let marker = CommitMarker {
                epoch,
                snapshot,
                committed_at_ms: super::driver::now_ms(),
                state: snapshot.then_some(parts),
                tables,
            };
            self.runtime
                .block_on(self.store.put_commit(&marker))
                .map_err(|e| e.to_string())?;
        }
        if snapshot && !replay {
            self.runtime
                .block_on(self.store.apply_retention(&Retention {
                    keep_snapshots: self.keep_snapshots,
                }))
                .map_err(|e| e.to_string())?;
        }
        let mut in_flight = self.in_flight.borrow_mut();
        let done = in_flight.remove(&epoch);
        in_flight.retain(|e, _| *e > epoch);
        if let Some(done) = &done {
            self.source.committed(epoch, &done.ranges);
        }
        self.metrics
            .epoch_committed(epoch, done.map(|d| d.started.elapsed()));
        Ok(())
    }
}
