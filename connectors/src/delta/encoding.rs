//! How data files encode their columns: Parquet dictionary encoding only where it pays.
//!
//! A dictionary makes a column of few distinct values (categories, tiers, dates) small and
//! fast to scan, but the writer looks every value up in the dictionary's hash table first.
//! For a column of mostly distinct values (ids, amounts, timestamps) that work buys nothing:
//! Parquet gives the dictionary up only once it passes its page limit (1 MiB), having
//! interned up to 128K values per row group on the way, in a table too large for the cache.
//! On the 10M-row batch ETL this was a fifth of the CPU time.
//!
//! So the writer looks at the first batch it writes (up to [`SAMPLE_ROWS`] rows) and turns
//! the dictionary off for every column with more than one distinct value in
//! [`DISTINCT_SHARE`] of its non-null values. The choice is made once per sink and process:
//! a column's cardinality is a property of the data. It changes only the encoding, never a
//! value, and every Parquet reader reads both.

use arrow::array::{Array, ArrayRef};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

/// Rows of the first batch that are looked at.
pub(crate) const SAMPLE_ROWS: usize = 64 * 1024;

/// A column keeps its dictionary when at most one value in this many is distinct.
pub(crate) const DISTINCT_SHARE: usize = 4;

/// Below this many non-null sampled values a column keeps Parquet's default (dictionary).
const MIN_SAMPLE: usize = 1024;

/// Rows per Parquet row group. The writer holds a row group's encoded pages in memory and
/// hands them to the store only when the group is complete; with Parquet's default of 1M
/// rows, a file of the 10M-row batch ETL was one row group, so every page was copied into
/// growing buffers and all files reached the disk at the end of the epoch, while the
/// workers waited. At 128K rows (DuckDB writes 122,880) the groups go out while the epoch
/// runs.
pub(crate) const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Writer properties for files of rows like `sample`: snappy, as delta-rs writes by
/// default, row groups of [`ROW_GROUP_ROWS`], and no dictionary for the columns that
/// [`dictionary_pays`] rejects. Columns not in the files (`skip`: the partition columns)
/// are ignored.
pub(crate) fn writer_properties(sample: &RecordBatch, skip: &[String]) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
    let sample = sample.slice(0, sample.num_rows().min(SAMPLE_ROWS));
    let mut plain = Vec::new();
    for (field, column) in sample.schema().fields().iter().zip(sample.columns()) {
        if skip.contains(field.name()) || !flat(field.data_type()) {
            continue;
        }
        if !dictionary_pays(column) {
            plain.push(field.name().clone());
            builder = builder
                .set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
        }
    }
    tracing::debug!(columns = ?plain, "columns written without a dictionary");
    builder.build()
}

/// Whether a column is one Parquet leaf named after the field (nested types keep the
/// default).
fn flat(data_type: &DataType) -> bool {
    !data_type.is_nested() && !matches!(data_type, DataType::Dictionary(_, _))
}

/// Whether `column` has few enough distinct values for a dictionary: at most one in
/// [`DISTINCT_SHARE`] of its non-null values (or too few values to tell).
pub(crate) fn dictionary_pays(column: &ArrayRef) -> bool {
    let values = column.len() - column.null_count();
    if values < MIN_SAMPLE {
        return true;
    }
    let limit = values / DISTINCT_SHARE;
    let Ok(converter) = RowConverter::new(vec![SortField::new(column.data_type().clone())]) else {
        return true;
    };
    let Ok(rows) = converter.convert_columns(std::slice::from_ref(column)) else {
        return true;
    };
    let mut seen = std::collections::HashSet::with_capacity(limit.min(16 * 1024) + 1);
    for (i, row) in rows.iter().enumerate() {
        if column.is_valid(i) && seen.insert(row) && seen.len() > limit {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Float64Array, Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    #[test]
    fn distinct_columns_lose_the_dictionary_and_repetitive_ones_keep_it() {
        let n = 10_000i64;
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(0..n));
        let amounts: ArrayRef = Arc::new(Float64Array::from_iter_values(
            (0..n).map(|i| i as f64 * 0.37),
        ));
        let tiers: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..n).map(|i| ["basic", "premium", "gold"][(i % 3) as usize]),
        ));
        // Exactly one value in DISTINCT_SHARE distinct: still a dictionary.
        let share = DISTINCT_SHARE as i64;
        let quarter: ArrayRef = Arc::new(Int64Array::from_iter_values((0..n).map(|i| i / share)));
        let day: ArrayRef = Arc::new(StringArray::from_iter_values((0..n).map(|_| "2024-01-01")));
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("amount", DataType::Float64, false),
            Field::new("tier", DataType::Utf8, false),
            Field::new("quarter", DataType::Int64, false),
            Field::new("day", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(schema, vec![ids, amounts, tiers, quarter, day]).unwrap();
        let props = writer_properties(&batch, &["day".to_owned()]);
        let dictionary = |name: &str| props.dictionary_enabled(&ColumnPath::from(name));
        assert!(!dictionary("id"));
        assert!(!dictionary("amount"));
        assert!(dictionary("tier"));
        assert!(dictionary("quarter"));
        assert!(dictionary("day"));
        assert_eq!(
            props.compression(&ColumnPath::from("id")),
            Compression::SNAPPY
        );
        assert_eq!(props.max_row_group_row_count(), Some(ROW_GROUP_ROWS));
    }

    #[test]
    fn nulls_and_small_samples_keep_the_default() {
        let mostly_null: ArrayRef = Arc::new(Int64Array::from_iter(
            (0..100_000i64).map(|i| (i % 200 == 0).then_some(i)),
        ));
        assert!(
            dictionary_pays(&mostly_null),
            "500 values are too few to judge"
        );
        let distinct_with_nulls: ArrayRef = Arc::new(Int64Array::from_iter(
            (0..100_000i64).map(|i| (i % 2 == 0).then_some(i)),
        ));
        assert!(!dictionary_pays(&distinct_with_nulls));
    }
}
