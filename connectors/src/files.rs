//! Files: a bounded source over Parquet, JSON-lines, CSV, Avro and ORC files under a local
//! directory or glob pattern, with hive partition directories and partition pruning.
//!
//! [`FileSource`] lists the files once, sorted by path, and reads each one as a single range
//! of an epoch (several files per epoch, spread over the workers). Bad records (a JSON line
//! that does not parse, a CSV row with the wrong number of fields, a value that does not
//! convert to the schema's type) become `parse_error` dead letters; a file that cannot be
//! read at all (missing, truncated, not in its format) fails the read with an error naming
//! the file.
//!
//! The schema is the job's declared one: each file's columns are cast into it by name (by
//! position for CSV without a header) with Arrow's `cast` kernel, a missing nullable column
//! reads as null, and a value that does not convert makes its row a dead letter. Without a
//! declared schema it is inferred (and reported by [`FileSource::inference_report`]):
//!
//! - Parquet, ORC and Avro: the schema of the first file (its footer or header).
//! - CSV: Arrow's CSV inference over the first `infer-records` records of the first files
//!   (records with the wrong number of fields are left out). A column is Boolean when every
//!   sampled value is `true`/`false`, Int64 when every one is an integer, Float64 when they
//!   are numbers and at least one has a decimal point or exponent, Date32 or Timestamp for
//!   ISO-8601 dates and times without a zone, and Utf8 otherwise.
//! - JSON lines: Arrow's JSON inference over the first `infer-records` objects (lines that
//!   do not parse are left out): Int64 for integers, Float64 as soon as one value has a
//!   fraction or exponent, Boolean, Utf8 for strings (timestamps included) and for
//!   conflicting types, lists and structs for arrays and objects. Columns are in the order
//!   their keys first appear.
//!
//! Inference only sees the sample: a column whose sampled values are all integers is Int64,
//! so a later `1.5` in it becomes a dead letter. Declare the schema to choose the types.
//! Every inferred column is nullable, a column that is null throughout the sample is Utf8,
//! and timestamps are microseconds (keeping their zone).
//!
//! Settings are [`FileSourceConfig`], under `source.files` in a job:
//!
//! ```yaml
//! files:
//!   path: /data/sales/**/*.csv       # a directory, a file or a glob pattern
//!   format: csv                      # parquet | json | csv | avro | orc
//!   csv: { header: true, delimiter: ",", quote: "\"" }
//!   hive-partitioning: true          # date=2024-01-01/ directories become Utf8 columns
//!   partition-filter: "date >= '2024-01-02'"
//!   max-files-per-epoch: 10          # default: every file in one epoch
//!   infer-records: 1000              # records sampled when inferring the schema
//! ```

mod avro;
mod columnar;
mod config;
mod convert;
mod csv;
mod error;
mod infer;
mod json;
mod listing;
mod source;

pub use config::{CsvOptions, FileFormat, FileSourceConfig};
pub use error::{Cause, FileError, Result};
pub(crate) use listing::percent_decode;
pub use source::{FileSource, SOURCE_NAME};

#[cfg(test)]
mod tests;
#[cfg(test)]
mod text_tests;
