//! The Delta sink as an engine table sink: blocking calls onto the shared runtime.

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use deltalake::datafusion::prelude::SessionContext;
use sluice_engine::runtime::{CommitReport, ConnectorFailure, EpochWriter, TableSink};
use tokio::runtime::Handle;

use super::compaction::{CompactionState, Compactor};
use super::writer::OpenFiles;
use super::{CommitOutcome, DataFile, DeltaError, DeltaSink, Result, SinkOptions};

/// A [`DeltaSink`] driven from timely worker threads through a runtime handle.
pub struct DeltaTableSink {
    sink: DeltaSink,
    name: String,
    runtime: Handle,
    compactor: Option<Compactor>,
}

fn failure(e: DeltaError) -> ConnectorFailure {
    let retryable = e.is_retryable();
    ConnectorFailure::new(e.to_string(), retryable)
}

impl DeltaTableSink {
    /// Opens (or creates) the table at `location`.
    ///
    /// # Errors
    /// As [`DeltaSink::open`].
    pub fn open(
        runtime: &Handle,
        location: &str,
        app_id: &str,
        schema: SchemaRef,
        partition_columns: Vec<String>,
    ) -> Result<Self> {
        Self::open_with(
            runtime,
            location,
            app_id,
            schema,
            partition_columns,
            &SinkOptions::default(),
        )
    }

    /// As [`DeltaTableSink::open`], with [`SinkOptions`] (see [`DeltaSink::open_with`]).
    ///
    /// # Errors
    /// As [`DeltaSink::open_with`].
    pub fn open_with(
        runtime: &Handle,
        location: &str,
        app_id: &str,
        schema: SchemaRef,
        partition_columns: Vec<String>,
        options: &SinkOptions,
    ) -> Result<Self> {
        let sink = runtime.block_on(DeltaSink::open_with(
            location,
            app_id,
            schema,
            partition_columns,
            options,
        ))?;
        let name = std::path::Path::new(location).file_name().map_or_else(
            || location.to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let compactor = options
            .auto_compact
            .clone()
            .map(|policy| Compactor::new(location, policy, runtime.clone()));
        Ok(Self {
            sink,
            name,
            runtime: runtime.clone(),
            compactor,
        })
    }

    /// The state of the table's auto-compaction, when it has one.
    pub fn compaction(&self) -> Option<CompactionState> {
        self.compactor.as_ref().map(|c| c.state().clone())
    }

    /// The underlying sink.
    pub(crate) fn delta_sink(&self) -> &DeltaSink {
        &self.sink
    }

    /// Counts the rows of the table's current version with DataFusion.
    ///
    /// # Errors
    /// When the table cannot be read.
    pub fn count_rows(
        runtime: &Handle,
        location: &str,
    ) -> std::result::Result<u64, ConnectorFailure> {
        super::register_object_stores();
        runtime.block_on(async {
            let url = deltalake::ensure_table_uri(location)
                .map_err(|e| ConnectorFailure::new(format!("{location}: {e}"), false))?;
            let table =
                deltalake::open_table_with_storage_options(url, super::sink::storage_options())
                    .await
                    .map_err(|e| ConnectorFailure::new(format!("{location}: {e}"), true))?;
            let provider = table
                .table_provider()
                .await
                .map_err(|e| ConnectorFailure::new(format!("{location}: {e}"), true))?;
            let df = SessionContext::new()
                .read_table(provider)
                .map_err(|e| ConnectorFailure::new(format!("{location}: {e}"), true))?;
            let rows = df
                .count()
                .await
                .map_err(|e| ConnectorFailure::new(format!("{location}: {e}"), true))?;
            Ok(rows as u64)
        })
    }
}

/// One epoch's data files, encoded batch by batch on the calling worker thread.
struct StreamedFiles {
    files: OpenFiles,
    runtime: Handle,
}

impl EpochWriter for StreamedFiles {
    fn push(&mut self, batch: &RecordBatch) -> std::result::Result<(), ConnectorFailure> {
        self.runtime
            .block_on(self.files.write(batch))
            .map_err(failure)
    }

    fn finish(self: Box<Self>) -> std::result::Result<Vec<String>, ConnectorFailure> {
        let files = self.runtime.block_on(self.files.close()).map_err(failure)?;
        notes(&files)
    }
}

/// Serialized file descriptions, the engine's file notes.
fn notes(files: &[DataFile]) -> std::result::Result<Vec<String>, ConnectorFailure> {
    files
        .iter()
        .map(|f| serde_json::to_string(f).map_err(|e| ConnectorFailure::new(e.to_string(), false)))
        .collect()
}

impl TableSink for DeltaTableSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn committed_epoch(&self) -> std::result::Result<Option<u64>, ConnectorFailure> {
        self.runtime
            .block_on(self.sink.committed_epoch())
            .map_err(failure)
    }

    fn write(
        &self,
        _epoch: u64,
        batches: &[RecordBatch],
    ) -> std::result::Result<Vec<String>, ConnectorFailure> {
        let files = self
            .runtime
            .block_on(self.sink.write_files(batches))
            .map_err(failure)?;
        notes(&files)
    }

    fn stream(
        &self,
        _epoch: u64,
    ) -> std::result::Result<Option<Box<dyn EpochWriter>>, ConnectorFailure> {
        Ok(Some(Box::new(StreamedFiles {
            files: self.sink.open_files(),
            runtime: self.runtime.clone(),
        })))
    }

    fn commit(
        &self,
        epoch: u64,
        files: Vec<String>,
    ) -> std::result::Result<CommitReport, ConnectorFailure> {
        let files = files
            .iter()
            .map(|f| serde_json::from_str::<DataFile>(f))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| ConnectorFailure::new(format!("bad file note: {e}"), false))?;
        match self
            .runtime
            .block_on(self.sink.commit_epoch(epoch, files))
            .map_err(failure)?
        {
            CommitOutcome::Committed {
                files,
                rows,
                version,
            } => {
                if let Some(compactor) = &self.compactor {
                    compactor.committed(files);
                }
                Ok(CommitReport {
                    skipped: false,
                    rows,
                    files: files as u64,
                    version: Some(version),
                })
            }
            CommitOutcome::AlreadyCommitted => Ok(CommitReport {
                skipped: true,
                ..CommitReport::default()
            }),
        }
    }
}
