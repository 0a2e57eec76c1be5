//! One data file of a Delta table read as rows of the table's columns, shared by the Delta
//! source and the Delta table feed.
//!
//! Partition columns take their values from the file's `partitionValues` (cast from Delta's
//! text form to the column type); other columns are matched by name and cast to the table
//! type; columns the file lacks (older files after a schema change) are null.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray, new_null_array};
use arrow::compute::{cast, concat_batches};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::kernel::engine::arrow_conversion::TryFromKernel;
use deltalake::kernel::{DataType as DeltaType, PrimitiveType, StructType};
use deltalake::table::state::DeltaTableState;
use object_store::{ObjectStore, ObjectStoreExt as _};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sluice_engine::runtime::ConnectorFailure;

/// A data file's partition values by column, as Delta serializes them (`None` for null).
pub(crate) type PartitionValues = BTreeMap<String, Option<String>>;

/// Why a table's columns or a data file could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TableFileError {
    /// A column type the readers do not handle. The user's.
    #[error("column {column:?}: {reason}")]
    UnsupportedColumn {
        /// The table column.
        column: String,
        /// What is not supported.
        reason: String,
    },
    /// The file is not in storage (deleted, for example by a vacuum). The user's.
    #[error("reading {path}: {source}")]
    Missing {
        /// The file path, relative to the table root.
        path: String,
        /// The object store error.
        #[source]
        source: object_store::Error,
    },
    /// Storage failed. External; see [`TableFileError::is_retryable`].
    #[error("reading {path}: {source}")]
    Storage {
        /// The file path, relative to the table root.
        path: String,
        /// The object store error.
        #[source]
        source: object_store::Error,
    },
    /// The file is not Parquet the table's columns can be read from. The user's.
    #[error("reading {path}: {reason}")]
    Invalid {
        /// The file path, relative to the table root.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl TableFileError {
    /// Whether reading again may succeed (transient storage failures only).
    pub(crate) fn is_retryable(&self) -> bool {
        use object_store::Error as O;
        match self {
            Self::Storage { source, .. } => !matches!(
                source,
                O::PermissionDenied { .. }
                    | O::Unauthenticated { .. }
                    | O::NotSupported { .. }
                    | O::NotImplemented { .. }
                    | O::InvalidPath { .. }
            ),
            _ => false,
        }
    }
}

impl From<TableFileError> for ConnectorFailure {
    fn from(e: TableFileError) -> Self {
        let retryable = e.is_retryable();
        ConnectorFailure::new(e.to_string(), retryable)
    }
}

/// The columns the Delta readers produce from a table version's schema.
#[derive(Clone, Debug)]
pub(crate) struct TableColumns {
    /// Output fields, in table order.
    schema: SchemaRef,
    /// The table's name of each output field (output names may differ).
    names: Vec<String>,
    partition_columns: Vec<String>,
}

impl TableColumns {
    /// The columns of `state`'s schema; `output_name` gives the name a table column is read
    /// as, or `None` to leave it out.
    ///
    /// # Errors
    /// A column type the readers do not support.
    pub(crate) fn new(
        state: &DeltaTableState,
        output_name: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, TableFileError> {
        let mut fields = Vec::new();
        let mut names = Vec::new();
        for f in state.schema().fields() {
            let Some(name) = output_name(f.name()) else {
                continue;
            };
            fields.push(Field::new(
                name,
                arrow_type(f.name(), f.data_type())?,
                f.is_nullable(),
            ));
            names.push(f.name().clone());
        }
        Ok(Self {
            schema: Arc::new(Schema::new(fields)),
            names,
            partition_columns: state.metadata().partition_columns().to_vec(),
        })
    }

    /// These columns and `field`, read from the files' column of the same name (null in
    /// files without it), as the last column.
    pub(crate) fn with_file_column(&self, field: Field) -> Self {
        let mut fields: Vec<_> = self.schema.fields().iter().cloned().collect();
        let mut names = self.names.clone();
        names.push(field.name().clone());
        fields.push(Arc::new(field));
        Self {
            schema: Arc::new(Schema::new(fields)),
            names,
            partition_columns: self.partition_columns.clone(),
        }
    }

    /// Only the columns whose output names `keep` names: the files' other columns are then
    /// never decoded, and a change of their type stops no reader.
    pub(crate) fn retain(&self, keep: &[String]) -> Self {
        let (fields, names): (Vec<_>, Vec<_>) = self
            .schema
            .fields()
            .iter()
            .zip(&self.names)
            .filter(|(f, _)| keep.contains(f.name()))
            .map(|(f, n)| (Arc::clone(f), n.clone()))
            .unzip();
        Self {
            schema: Arc::new(Schema::new(fields)),
            names,
            partition_columns: self.partition_columns.clone(),
        }
    }

    /// The schema of the rows [`TableColumns::read`] returns.
    pub(crate) fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The table's partition columns.
    pub(crate) fn partition_columns(&self) -> &[String] {
        &self.partition_columns
    }

    /// What a `metaData` action whose schema is `schema_string` changes in the types of
    /// the columns read (the first such column), or `None` if it changes none of them.
    /// Readers stop at such a version: rows of the new type cast to the old one could lose
    /// their values (a `long` past the `int` range would read as null).
    ///
    /// # Errors
    /// A schema string that is not a Delta schema.
    pub(crate) fn changed_type(&self, schema_string: &str) -> Result<Option<String>, String> {
        let schema: StructType = serde_json::from_str(schema_string)
            .map_err(|e| format!("a metaData action with an unreadable schema: {e}"))?;
        for (field, name) in self.schema.fields().iter().zip(&self.names) {
            let Some(now) = schema.field(name) else {
                continue;
            };
            let same = arrow_type(name, now.data_type()).is_ok_and(|t| &t == field.data_type());
            if !same {
                return Ok(Some(format!(
                    "changes column {name:?} from {} to {}",
                    field.data_type(),
                    now.data_type()
                )));
            }
        }
        Ok(None)
    }

    /// Reads the data file at `path` (relative to the table root of `store`, percent-decoded
    /// as in [`percent_decode`]) whose partition values are `partitions`.
    ///
    /// # Errors
    /// A missing file, a storage failure, or a file that is not Parquet of the table.
    pub(crate) async fn read(
        &self,
        store: &dyn ObjectStore,
        path: &str,
        partitions: &PartitionValues,
    ) -> Result<RecordBatch, TableFileError> {
        let invalid = |reason: String| TableFileError::Invalid {
            path: path.to_owned(),
            reason,
        };
        let storage = |source: object_store::Error| match source {
            object_store::Error::NotFound { .. } => TableFileError::Missing {
                path: path.to_owned(),
                source,
            },
            source => TableFileError::Storage {
                path: path.to_owned(),
                source,
            },
        };
        let location =
            object_store::path::Path::from_url_path(path).map_err(|e| invalid(e.to_string()))?;
        let bytes = store
            .get(&location)
            .await
            .map_err(storage)?
            .bytes()
            .await
            .map_err(storage)?;
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| invalid(e.to_string()))?;
        // Only the file's columns read (all of them when none is: the rows still count).
        let roots: Vec<usize> = builder
            .schema()
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| self.names.contains(f.name()))
            .map(|(i, _)| i)
            .collect();
        let builder = if roots.is_empty() {
            builder
        } else {
            let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
            builder.with_projection(mask)
        };
        let reader = builder
            .with_batch_size(64 * 1024)
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        let batches: Vec<RecordBatch> = reader
            .collect::<Result<_, _>>()
            .map_err(|e| invalid(e.to_string()))?;
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        let file_schema = batches
            .first()
            .map(RecordBatch::schema)
            .unwrap_or_else(|| Arc::new(Schema::empty()));
        let file = concat_batches(&file_schema, &batches).map_err(|e| invalid(e.to_string()))?;
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        for (field, name) in self.schema.fields().iter().zip(&self.names) {
            let column = if self.partition_columns.contains(name) {
                match partitions.get(name).cloned().flatten() {
                    Some(v) => {
                        let text: ArrayRef =
                            Arc::new(StringArray::from_iter_values(std::iter::repeat_n(v, rows)));
                        cast(&text, field.data_type()).map_err(|e| invalid(e.to_string()))?
                    }
                    None => new_null_array(field.data_type(), rows),
                }
            } else {
                match file.column_by_name(name) {
                    Some(c) if c.data_type() == field.data_type() => Arc::clone(c),
                    Some(c) => cast(c, field.data_type()).map_err(|e| invalid(e.to_string()))?,
                    None => new_null_array(field.data_type(), rows),
                }
            };
            columns.push(column);
        }
        RecordBatch::try_new(Arc::clone(&self.schema), columns).map_err(|e| invalid(e.to_string()))
    }
}

/// The Arrow type of a Delta primitive type.
fn arrow_type(column: &str, t: &DeltaType) -> Result<DataType, TableFileError> {
    let unsupported = |reason: String| TableFileError::UnsupportedColumn {
        column: column.to_owned(),
        reason,
    };
    let DeltaType::Primitive(p) = t else {
        // Structs, arrays and maps, as deltalake maps them (timestamps inside them in UTC
        // microseconds, as below); file columns are cast to them.
        return DataType::try_from_kernel(t).map_err(|e| unsupported(e.to_string()));
    };
    Ok(match p {
        PrimitiveType::String => DataType::Utf8,
        PrimitiveType::Long => DataType::Int64,
        PrimitiveType::Integer => DataType::Int32,
        PrimitiveType::Short => DataType::Int16,
        PrimitiveType::Byte => DataType::Int8,
        PrimitiveType::Float => DataType::Float32,
        PrimitiveType::Double => DataType::Float64,
        PrimitiveType::Boolean => DataType::Boolean,
        PrimitiveType::Binary => DataType::Binary,
        PrimitiveType::Date => DataType::Date32,
        PrimitiveType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        PrimitiveType::TimestampNtz => DataType::Timestamp(TimeUnit::Microsecond, None),
        PrimitiveType::Decimal(d) => DataType::Decimal128(d.precision(), d.scale() as i8),
        other => {
            return Err(unsupported(format!(
                "Delta type {other} is not supported by the Delta readers yet"
            )));
        }
    })
}

/// Decodes a path as the Delta log stores it (URL-encoded) into the file's path.
pub(crate) use crate::files::percent_decode;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_paths_are_percent_decoded() {
        assert_eq!(
            percent_decode("d=a%20b/part-1.parquet"),
            "d=a b/part-1.parquet"
        );
        assert_eq!(percent_decode("d=%C3%A9/x"), "d=é/x");
        // Not an escape: left as is, also before a multi-byte character.
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("a%zz%aé"), "a%zz%aé");
    }
}
