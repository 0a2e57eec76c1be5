//! Writes Parquet data files into a Delta table's directory without committing them.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::{Arc, OnceLock};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use deltalake::datafile::writer::{DeltaWriter as PartitionedWriter, WriterConfig};
use deltalake::logstore::ObjectStoreRef;
use deltalake::operations::get_num_idx_cols_and_stats_columns;
use parquet::file::properties::WriterProperties;
use tracing::debug;

use super::DataFile;
use super::error::{DeltaError, Result};
use super::{encoding, schema};

/// Files roll over once their encoded size reaches this many bytes.
pub(crate) const TARGET_FILE_SIZE: NonZeroU64 = NonZeroU64::new(128 * 1024 * 1024).unwrap();

/// Rows handed to the Parquet encoder at once; the target file size is checked between
/// slices. delta-rs slices at 1,024 rows, which costs a per-column pass per slice.
const WRITE_SLICE_ROWS: usize = 16 * 1024;

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
    /// Column encodings, chosen from the first batch written (see [`super::encoding`]).
    properties: Arc<OnceLock<WriterProperties>>,
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
            properties: Arc::default(),
        }
    }

    /// Opens files for one write: batches go in one at a time and are encoded as they come,
    /// so only the open files' buffers are held, not the rows.
    /// The files are created when the first batch arrives.
    pub(crate) fn open(&self) -> OpenFiles {
        OpenFiles {
            table: self.table.clone(),
            schema: self.schema.clone(),
            state: Files::Unopened(Box::new(Unopened {
                store: self.store.clone(),
                partition_columns: self.partition_columns.clone(),
                configuration: self.configuration.clone(),
                properties: Arc::clone(&self.properties),
            })),
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
    state: Files,
}

/// Where an [`OpenFiles`] stands.
enum Files {
    /// Nothing written yet.
    Unopened(Box<Unopened>),
    /// Writing.
    Open(Box<PartitionedWriter>),
    /// A write failed and the files were abandoned.
    Abandoned,
}

/// What it takes to start writing files.
struct Unopened {
    store: ObjectStoreRef,
    partition_columns: Vec<String>,
    configuration: HashMap<String, Option<String>>,
    properties: Arc<OnceLock<WriterProperties>>,
}

impl Unopened {
    /// A partitioned writer whose column encodings suit `first` (decided once per sink).
    fn start(self, schema: &SchemaRef, first: &RecordBatch) -> PartitionedWriter {
        let properties = self
            .properties
            .get_or_init(|| encoding::writer_properties(first, &self.partition_columns))
            .clone();
        let (num_indexed_cols, stats_columns) =
            get_num_idx_cols_and_stats_columns(None, self.configuration);
        let config = WriterConfig::new(
            schema.clone(),
            self.partition_columns,
            Some(properties),
            Some(TARGET_FILE_SIZE),
            Some(WRITE_SLICE_ROWS),
            num_indexed_cols,
            stats_columns,
        );
        PartitionedWriter::new(self.store, config)
    }
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
        if matches!(self.state, Files::Abandoned) {
            return Err(self.abandoned());
        }
        let conformed = match schema::conform(&self.table, &self.schema, batch) {
            Ok(b) => b,
            Err(e) => {
                self.abort().await;
                return Err(e);
            }
        };
        self.state = match std::mem::replace(&mut self.state, Files::Abandoned) {
            Files::Unopened(setup) => Files::Open(Box::new(setup.start(&self.schema, &conformed))),
            open => open,
        };
        let Files::Open(writer) = &mut self.state else {
            return Err(self.abandoned());
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
        if let Files::Open(writer) = std::mem::replace(&mut self.state, Files::Abandoned)
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
        let writer = match std::mem::replace(&mut self.state, Files::Abandoned) {
            Files::Open(writer) => writer,
            // Nothing was written: no files.
            Files::Unopened(_) => return Ok(Vec::new()),
            Files::Abandoned => return Err(self.abandoned()),
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
