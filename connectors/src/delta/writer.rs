//! Writes Parquet data files into a Delta table's directory without committing them.

use std::collections::HashMap;
use std::num::NonZeroU64;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use deltalake::datafile::writer::{DeltaWriter as PartitionedWriter, WriterConfig};
use deltalake::logstore::ObjectStoreRef;
use deltalake::operations::get_num_idx_cols_and_stats_columns;
use tracing::debug;

use super::DataFile;
use super::error::{DeltaError, Result};
use super::schema;

/// Files roll over once their encoded size reaches this many bytes.
pub(crate) const TARGET_FILE_SIZE: NonZeroU64 = NonZeroU64::new(128 * 1024 * 1024).unwrap();

/// Writes batches as Parquet files under a table root; shared by all workers of a sink.
///
/// Partition columns are left out of the files and recorded in each file's
/// `partitionValues`, under hive-style `col=value/` directories. File names carry a random
/// UUID, so writers on different workers or processes never collide.
pub(crate) struct FileWriter {
    /// The table location, for messages.
    table: String,
    /// Store rooted at the table directory.
    store: ObjectStoreRef,
    /// The sink's schema, partition columns included.
    schema: SchemaRef,
    /// Partition columns, in table order.
    partition_columns: Vec<String>,
    /// The table's configuration, for the data-skipping statistics settings.
    configuration: HashMap<String, Option<String>>,
}

impl FileWriter {
    /// A writer for a table whose root is `store`.
    pub(crate) fn new(
        table: String,
        store: ObjectStoreRef,
        schema: SchemaRef,
        partition_columns: Vec<String>,
        configuration: &HashMap<String, String>,
    ) -> Self {
        let configuration = configuration
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect();
        Self {
            table,
            store,
            schema,
            partition_columns,
            configuration,
        }
    }

    /// Opens files for one write: batches go in one at a time and are encoded as they come,
    /// so only the open files' buffers are held, not the rows.
    pub(crate) fn open(&self) -> OpenFiles {
        let (num_indexed_cols, stats_columns) =
            get_num_idx_cols_and_stats_columns(None, self.configuration.clone());
        let config = WriterConfig::new(
            self.schema.clone(),
            self.partition_columns.clone(),
            None,
            Some(TARGET_FILE_SIZE),
            None,
            num_indexed_cols,
            stats_columns,
        );
        OpenFiles {
            table: self.table.clone(),
            schema: self.schema.clone(),
            writer: Some(PartitionedWriter::new(self.store.clone(), config)),
        }
    }

    /// Writes `batches` and returns one [`DataFile`] per file, sorted by path.
    ///
    /// # Errors
    ///
    /// [`DeltaError::SchemaMismatch`] if a batch does not have the sink's schema;
    /// [`DeltaError::Storage`] if a file cannot be written.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropping the future abandons files being written. They are never
    /// part of the table (nothing is committed here) and are removed by a later `VACUUM`.
    pub(crate) async fn write(&self, batches: &[RecordBatch]) -> Result<Vec<DataFile>> {
        let mut files = self.open();
        for batch in batches {
            files.write(batch).await?;
        }
        files.close().await
    }
}

/// Data files being written for one epoch (see [`FileWriter::open`]).
pub(crate) struct OpenFiles {
    table: String,
    schema: SchemaRef,
    /// `None` once a write failed and the files were abandoned.
    writer: Option<PartitionedWriter>,
}

impl OpenFiles {
    /// Encodes `batch` into the open files (empty batches are skipped), rolling a file over
    /// at the target size.
    ///
    /// # Errors
    ///
    /// [`DeltaError::SchemaMismatch`] if the batch does not have the sink's schema;
    /// [`DeltaError::Storage`] if a file cannot be written. The open files are then
    /// abandoned (never committed; a later `VACUUM` removes them) and every later call fails.
    pub(crate) async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let Some(writer) = self.writer.as_mut() else {
            return Err(self.abandoned());
        };
        let conformed = match schema::conform(&self.table, &self.schema, batch) {
            Ok(b) => b,
            Err(e) => {
                self.abort().await;
                return Err(e);
            }
        };
        if let Err(e) = writer.write(&conformed).await {
            self.abort().await;
            return Err(DeltaError::delta(&self.table, "writing data files", e));
        }
        Ok(())
    }

    fn abandoned(&self) -> DeltaError {
        DeltaError::Internal {
            table: self.table.clone(),
            details: "data files written after an earlier write failed".into(),
        }
    }

    async fn abort(&mut self) {
        if let Some(writer) = self.writer.take()
            && let Err(abort) = writer.abort().await
        {
            debug!(table = %self.table, error = %abort, "aborting a failed write failed");
        }
    }

    /// Finishes the files and returns one [`DataFile`] per file, sorted by path.
    ///
    /// # Errors
    ///
    /// [`DeltaError::Storage`] if a file cannot be written.
    pub(crate) async fn close(mut self) -> Result<Vec<DataFile>> {
        let Some(writer) = self.writer.take() else {
            return Err(self.abandoned());
        };
        let adds = writer
            .close()
            .await
            .map_err(|e| DeltaError::delta(&self.table, "writing data files", e))?;
        let mut files = adds
            .into_iter()
            .map(|add| DataFile::from_add(&self.table, add))
            .collect::<Result<Vec<_>>>()?;
        files.sort_by(|a, b| a.path().cmp(b.path()));
        debug!(
            table = %self.table,
            files = files.len(),
            rows = files.iter().map(DataFile::rows).sum::<u64>(),
            "wrote data files"
        );
        Ok(files)
    }
}
