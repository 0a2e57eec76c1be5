//! Settings of the file source, as they appear under `source.files` in a job file.

use serde::{Deserialize, Serialize};

/// How the files are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileFormat {
    /// Apache Parquet.
    Parquet,
    /// JSON lines: one JSON object per line; blank lines are skipped.
    Json,
    /// Comma-separated values (see [`CsvOptions`]).
    Csv,
    /// Avro object container files (the schema is in each file's header).
    Avro,
    /// Apache ORC.
    Orc,
}

impl FileFormat {
    /// The name used in job files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Parquet => "parquet",
            Self::Json => "json",
            Self::Csv => "csv",
            Self::Avro => "avro",
            Self::Orc => "orc",
        }
    }

    /// Whether line numbers (1-based) are the `offset` of rows, rather than row indices.
    pub fn is_text(self) -> bool {
        matches!(self, Self::Json | Self::Csv)
    }
}

impl std::fmt::Display for FileFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// CSV dialect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CsvOptions {
    /// Whether the first line names the columns. Without a header, columns are matched to a
    /// declared schema by position, and inferred ones are named `column_1`, `column_2`, ...
    #[serde(default = "yes")]
    pub header: bool,
    /// The field delimiter, one ASCII character.
    #[serde(default = "comma")]
    pub delimiter: char,
    /// The quote character, one ASCII character.
    #[serde(default = "double_quote")]
    pub quote: char,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            header: true,
            delimiter: ',',
            quote: '"',
        }
    }
}

fn yes() -> bool {
    true
}

fn comma() -> char {
    ','
}

fn double_quote() -> char {
    '"'
}

/// Settings of the file source (`source.files`).
///
/// ```
/// use sluice_connectors::files::{FileFormat, FileSourceConfig};
///
/// let config: FileSourceConfig = serde_json::from_str(
///     r#"{"path": "/data/sales/**/*.csv", "format": "csv",
///         "csv": {"delimiter": ";"}, "partition-filter": "date >= '2024-01-02'"}"#,
/// )
/// .unwrap();
/// assert_eq!(config.format, FileFormat::Csv);
/// assert!(config.csv.header);
/// assert_eq!(config.csv.delimiter, ';');
/// assert!(config.hive_partitioning);
/// assert_eq!(config.max_files_per_epoch, None);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FileSourceConfig {
    /// A directory (read recursively), a single file, or a glob pattern such as
    /// `/data/sales/**/*.parquet`. Files and directories whose names start with `.` or `_`
    /// (`_SUCCESS`, `.crc`, `_delta_log`) are skipped. A `file://` prefix is accepted.
    pub path: String,
    /// How the files are encoded.
    pub format: FileFormat,
    /// CSV dialect, for `format: csv`.
    #[serde(default)]
    pub csv: CsvOptions,
    /// Whether `key=value` directories between the base directory and a file become Utf8
    /// columns named `key`, appended after the file's columns.
    #[serde(default = "yes")]
    pub hive_partitioning: bool,
    /// A SQL boolean expression over the partition columns only (all Utf8), such as
    /// `date >= '2024-01-02' AND region = 'eu'`. Files for which it is false or null are
    /// never read.
    #[serde(default)]
    pub partition_filter: Option<String>,
    /// At most this many files per epoch, in path order; all files in one epoch if unset.
    #[serde(default)]
    pub max_files_per_epoch: Option<u64>,
    /// Read the files present at start, then end (`--batch` sets it). Otherwise the source
    /// follows its path, as Spark's file stream source does: files that appear later are
    /// read in later epochs, each exactly once, across restarts. Files must appear whole
    /// (written elsewhere, then renamed in); a file is never read twice, even if it changes.
    #[serde(default)]
    pub bounded: bool,
    /// How many records (JSON lines, CSV rows) of the first files schema inference reads,
    /// when the job declares no schema.
    #[serde(default = "infer_records")]
    pub infer_records: usize,
}

fn infer_records() -> usize {
    1000
}

impl FileSourceConfig {
    /// Settings for `path` in `format`, everything else by default.
    pub fn new(path: impl Into<String>, format: FileFormat) -> Self {
        Self {
            path: path.into(),
            format,
            csv: CsvOptions::default(),
            hive_partitioning: true,
            partition_filter: None,
            max_files_per_epoch: None,
            bounded: false,
            infer_records: infer_records(),
        }
    }
}
