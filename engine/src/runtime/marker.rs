//! What happens once every sink committed an epoch: the commit marker (and snapshot
//! retention) in the checkpoint, on the committer's lane; then, on the committing worker,
//! the source told and the epoch timed.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use sluice_checkpoints::{CheckpointStore, CommitMarker, Retention, SourceRange, state_sizes};

use super::EpochSource;
use super::committer::{Committed, OnCommitted};
use crate::metrics::RunMetrics;

/// An epoch fed but not yet committed: its logged ranges, when it started and when the
/// planning worker had fed all of it.
pub(super) struct InFlight {
    pub(super) ranges: Vec<SourceRange>,
    /// `W(e)`, logged with the epoch (ms; `None` is -infinity).
    pub(super) watermark_ms: Option<i64>,
    pub(super) started: Instant,
    pub(super) fed: Instant,
}

/// This worker's epochs in flight, by epoch.
pub(super) type InFlightEpochs = Rc<RefCell<BTreeMap<u64, InFlight>>>;

/// Writes the commit marker of each committed epoch, and applies snapshot retention; runs on
/// the committer's lane, off the worker thread.
#[derive(Clone)]
pub(super) struct MarkerWriter {
    pub(super) store: CheckpointStore,
    pub(super) runtime: tokio::runtime::Handle,
    /// Snapshots kept by retention.
    pub(super) keep_snapshots: usize,
    /// The newest epoch already marked when the run started: epochs up to it are replays,
    /// whose stored marker (and the parts it lists) stands.
    pub(super) marked_before: Option<u64>,
}

impl MarkerWriter {
    /// Writes `committed`'s marker (unless it is a replay) and applies retention. A
    /// snapshot epoch's cursor record (`cursors`, where every partition stands after it)
    /// is written first, so that a marker of a snapshot always has one.
    ///
    /// # Errors
    /// When the checkpoint store fails.
    pub(super) fn write(
        &self,
        committed: &Committed,
        snapshot: bool,
        cursors: Option<&[SourceRange]>,
    ) -> Result<(), sluice_checkpoints::Error> {
        let Committed {
            epoch,
            parts,
            tables,
        } = committed;
        if self.marked_before.is_some_and(|m| *epoch <= m) {
            return Ok(());
        }
        if snapshot && let Some(cursors) = cursors {
            self.runtime
                .block_on(self.store.put_cursors(*epoch, cursors))?;
        }
        let marker = CommitMarker {
            epoch: *epoch,
            snapshot,
            committed_at_ms: super::driver::now_ms(),
            state: snapshot.then(|| parts.clone()),
            tables: tables.clone(),
        };
        self.runtime.block_on(self.store.put_commit(&marker))?;
        if snapshot {
            self.runtime
                .block_on(self.store.apply_retention(&Retention {
                    keep_snapshots: self.keep_snapshots,
                }))?;
        }
        Ok(())
    }
}

/// What the committing worker does once an epoch is durable: the source told, the epoch
/// timed, the state's size reported; see the [module docs](self).
pub(super) struct Marker {
    pub(super) in_flight: InFlightEpochs,
    pub(super) source: Arc<dyn EpochSource>,
    pub(super) metrics: RunMetrics,
}

impl Marker {
    /// The committer's callback.
    pub(super) fn into_callback(self) -> OnCommitted {
        Box::new(move |committed| self.committed(&committed))
    }

    fn committed(&self, committed: &Committed) {
        let epoch = committed.epoch;
        self.metrics.state_snapshot(state_sizes(&committed.parts));
        let mut in_flight = self.in_flight.borrow_mut();
        let done = in_flight.remove(&epoch);
        in_flight.retain(|e, _| *e > epoch);
        if let Some(done) = &done {
            self.source.committed(epoch, &done.ranges);
            // Every table that took the epoch is complete through its watermark: no row
            // older than `W(e)` reaches it later (later ones go to the dead-letter table).
            if let Some(watermark_ms) = done.watermark_ms {
                for table in committed.tables.keys() {
                    self.metrics.table_complete_through(table, watermark_ms);
                }
            }
        }
        self.metrics
            .epoch_committed(epoch, done.map(|d| d.started.elapsed()));
    }
}
