//! Auto-compaction, as Databricks' `autoCompact` does: a streaming sink writes a few small
//! files per epoch, so once it has committed `min-files` of them since the last compaction,
//! it bin-packs the table's small files into files of about `target-size`, in the
//! background, on the I/O runtime.
//!
//! The compaction is Delta's `OPTIMIZE`: its commit removes and adds files with
//! `dataChange: false`, so readers see the same rows and a change-feed or streaming reader
//! skips it. It never conflicts with the sink's own commits: those are blind appends,
//! which under Delta's default `WriteSerializable` isolation neither conflict with a
//! compaction nor make it fail (it re-checks and commits on top of them). Only append
//! sinks compact (a MERGE's removals could conflict with a compaction's). One compaction
//! runs per table at a time; a failed one is logged and tried again after the next
//! `min-files` files. A process that stops while a compaction runs leaves only
//! uncommitted files, which `sluice table vacuum` removes.

use std::num::NonZeroU64;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;

/// When and how a table compacts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoCompact {
    /// Compact once this many files were committed since the last compaction.
    pub min_files: usize,
    /// The size the compaction aims for, in bytes.
    pub target_size: NonZeroU64,
}

impl Default for AutoCompact {
    fn default() -> Self {
        Self {
            min_files: 16,
            target_size: NonZeroU64::new(128 * 1024 * 1024).expect("non-zero"),
        }
    }
}

/// A table's compactions: counts committed files and starts one in the background when
/// enough have accumulated.
#[derive(Clone, Debug)]
pub(crate) struct Compactor {
    location: String,
    policy: AutoCompact,
    runtime: Handle,
    pending: Arc<AtomicUsize>,
    state: CompactionState,
}

/// Whether a table's compaction runs, and how many committed; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct CompactionState {
    running: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
}

impl CompactionState {
    /// Compactions committed so far by this process.
    pub fn completed(&self) -> usize {
        self.done.load(Ordering::SeqCst)
    }

    /// Waits (polling) until no compaction runs, at most `timeout`; whether none does.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.running.load(Ordering::SeqCst) {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }
}

impl Compactor {
    pub(crate) fn new(location: &str, policy: AutoCompact, runtime: Handle) -> Self {
        Self {
            location: location.to_owned(),
            policy,
            runtime,
            pending: Arc::default(),
            state: CompactionState::default(),
        }
    }

    pub(crate) fn state(&self) -> &CompactionState {
        &self.state
    }

    /// Notes `files` committed; starts a compaction when due and none runs.
    pub(crate) fn committed(&self, files: usize) {
        let pending = self.pending.fetch_add(files, Ordering::SeqCst) + files;
        if pending < self.policy.min_files || self.state.running.swap(true, Ordering::SeqCst) {
            return;
        }
        self.pending.store(0, Ordering::SeqCst);
        let (location, target, state) = (
            self.location.clone(),
            self.policy.target_size,
            self.state.clone(),
        );
        let task = async move {
            let began = Instant::now();
            match super::maintenance::optimize(&location, &[], Some(target)).await {
                Ok(report) if report.files_removed > 0 => {
                    state.done.fetch_add(1, Ordering::SeqCst);
                    tracing::info!(table = %location, version = report.version,
                        files_removed = report.files_removed, files_added = report.files_added,
                        partitions = report.partitions_optimized,
                        took_ms = began.elapsed().as_millis() as u64, "auto-compaction committed");
                }
                Ok(_) => tracing::debug!(table = %location, "auto-compaction: nothing to compact"),
                Err(e) => tracing::warn!(table = %location, error = %e,
                    "auto-compaction failed; the table is unchanged, it is tried again later"),
            }
            state.running.store(false, Ordering::SeqCst);
        };
        if let Err(e) = std::thread::Builder::new()
            .name("sluice-compact".into())
            .spawn({
                let runtime = self.runtime.clone();
                move || runtime.block_on(task)
            })
        {
            self.state.running.store(false, Ordering::SeqCst);
            tracing::warn!(table = %self.location, error = %e, "auto-compaction could not start");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::record_batch::RecordBatch;
    use sluice_engine::runtime::TableSink;

    use super::*;
    use crate::delta::maintenance::{describe, history};
    use crate::delta::{DeltaTableSink, SinkOptions};

    /// Commits `epochs` epochs of one small file each through a sink that compacts every
    /// 4 files; the table must then hold fewer files, the same rows, the sink's txn, and
    /// OPTIMIZE commits between its appends.
    #[test]
    fn an_appending_sink_compacts_in_the_background_without_changing_rows() {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let location = dir.path().join("t").display().to_string();
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let options = SinkOptions {
            auto_compact: Some(AutoCompact {
                min_files: 4,
                ..AutoCompact::default()
            }),
            ..SinkOptions::default()
        };
        let sink = DeltaTableSink::open_with(
            runtime.handle(),
            &location,
            "test/t",
            schema.clone(),
            vec![],
            &options,
        )
        .unwrap();
        let epochs = 12u64;
        for e in 0..epochs {
            let rows = Int64Array::from(vec![e as i64 * 10, e as i64 * 10 + 1]);
            let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(rows)]).unwrap();
            let files = sink.write(e, &[batch]).unwrap();
            let report = sink.commit(e, files).unwrap();
            assert!(!report.skipped);
        }
        let state = sink.compaction().unwrap();
        assert!(
            state.wait_idle(Duration::from_secs(60)),
            "a compaction still runs"
        );
        assert!(state.completed() >= 1, "no compaction committed");
        assert_eq!(sink.committed_epoch().unwrap(), Some(epochs - 1));

        let table = runtime.block_on(describe(&location)).unwrap();
        assert_eq!(table.rows, Some(2 * epochs), "rows changed: {table:?}");
        assert!(
            (table.files as u64) < epochs,
            "{} files after {epochs} single-file epochs",
            table.files
        );
        let log = runtime.block_on(history(&location, None)).unwrap();
        let optimized = log.iter().filter(|h| h.operation == "OPTIMIZE").count();
        let appended = log
            .iter()
            .filter(|h| h.operation == "STREAMING UPDATE")
            .count();
        assert_eq!(appended as u64, epochs, "{log:?}");
        assert_eq!(optimized, state.completed(), "{log:?}");
        let total = DeltaTableSink::count_rows(runtime.handle(), &location).unwrap();
        assert_eq!(total, 2 * epochs);
    }
}
