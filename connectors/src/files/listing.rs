//! Listing the files of a source: a directory, a single file or a glob pattern, with hive
//! partition directories (`date=2024-01-01/region=eu/`) parsed into column values and
//! pruned by the `partition-filter`.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use sluice_engine::expr::SqlExpr;

use super::config::FileSourceConfig;
use super::error::{FileError, Result};

/// The directory name Hive and Spark write for a null partition value.
const HIVE_NULL: &str = "__HIVE_DEFAULT_PARTITION__";

/// One file to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ListedFile {
    /// The path relative to the base directory, `/`-separated: the cursor key and the
    /// `source` coordinate of its rows.
    pub rel: String,
    /// The path to open.
    pub path: PathBuf,
    /// The value of each partition key of the listing (null when the file's directories
    /// lack that key, or hold the Hive null marker).
    pub partitions: Vec<Option<String>>,
}

/// The files of a source, sorted by relative path.
#[derive(Clone, Debug, Default)]
pub(crate) struct Listing {
    /// The directory relative paths start from.
    pub base: PathBuf,
    /// The files, sorted by `rel`.
    pub files: Vec<ListedFile>,
    /// The partition keys, in the order they first appear in path order.
    pub keys: Vec<String>,
}

impl Listing {
    /// Lists the files `config.path` names.
    ///
    /// # Errors
    /// A path that does not exist, a bad pattern, a non-local URL, or I/O while listing.
    pub fn new(config: &FileSourceConfig) -> Result<Self> {
        let given = config.path.strip_prefix("file://").unwrap_or(&config.path);
        if given.contains("://") {
            return Err(FileError::Path {
                path: config.path.clone(),
                message: "only local paths (or file://) are supported for now".into(),
            });
        }
        let (base, paths) = if has_magic(given) {
            glob_files(given)?
        } else {
            let path = PathBuf::from(given);
            let meta = std::fs::metadata(&path).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => FileError::Path {
                    path: config.path.clone(),
                    message: "does not exist".into(),
                },
                _ => FileError::io(&path, e),
            })?;
            if meta.is_dir() {
                let files = walk(&path)?;
                (path, files)
            } else {
                let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
                (base, vec![path])
            }
        };
        let mut files: Vec<ListedFile> = paths
            .into_iter()
            .filter_map(|path| {
                let rel = relative(&base, &path)?;
                Some(ListedFile {
                    rel,
                    path,
                    partitions: Vec::new(),
                })
            })
            .collect();
        files.sort_by(|a, b| a.rel.cmp(&b.rel));
        files.dedup_by(|a, b| a.rel == b.rel);
        let mut listing = Self {
            base,
            files,
            keys: Vec::new(),
        };
        if config.hive_partitioning {
            listing.parse_partitions();
        }
        Ok(listing)
    }

    fn parse_partitions(&mut self) {
        let parsed: Vec<Vec<(String, Option<String>)>> =
            self.files.iter().map(|f| hive_pairs(&f.rel)).collect();
        for pairs in &parsed {
            for (key, _) in pairs {
                if !self.keys.contains(key) {
                    self.keys.push(key.clone());
                }
            }
        }
        for (file, pairs) in self.files.iter_mut().zip(parsed) {
            file.partitions = values_of(&self.keys, &pairs);
        }
    }

    /// The file at `rel` (relative to the base), with its values of this listing's
    /// partition keys: how a file that appeared after the listing is read.
    pub fn file(&self, rel: &str) -> ListedFile {
        let pairs = if self.keys.is_empty() {
            Vec::new()
        } else {
            hive_pairs(rel)
        };
        ListedFile {
            rel: rel.to_string(),
            path: self.base.join(rel),
            partitions: values_of(&self.keys, &pairs),
        }
    }

    /// The partition columns: one nullable Utf8 field per key.
    pub fn partition_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.keys
                .iter()
                .map(|k| Field::new(k, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ))
    }

    /// One row per file holding its partition values.
    fn partition_batch(&self) -> Result<RecordBatch> {
        let columns: Vec<ArrayRef> = (0..self.keys.len())
            .map(|i| {
                Arc::new(StringArray::from_iter(
                    self.files.iter().map(|f| f.partitions[i].as_deref()),
                )) as ArrayRef
            })
            .collect();
        Ok(RecordBatch::try_new_with_options(
            self.partition_schema(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(self.files.len())),
        )?)
    }

    /// Drops the files whose partition values make `filter` false or null; returns how
    /// many were dropped.
    ///
    /// # Errors
    /// [`FileError::Setting`] when the filter does not compile against the partition
    /// columns or is not a boolean predicate.
    pub fn prune(&mut self, filter: &str) -> Result<usize> {
        let bad = |message: String| FileError::setting("partition-filter", message);
        if self.files.is_empty() {
            return Ok(0);
        }
        let schema = self.partition_schema();
        let expr = SqlExpr::compile(filter, &schema).map_err(|e| {
            bad(format!(
                "{e} (the filter may only use the partition columns: {})",
                if self.keys.is_empty() {
                    "none were found".to_string()
                } else {
                    self.keys.join(", ")
                }
            ))
        })?;
        let keep = expr
            .predicate(&self.partition_batch()?)
            .map_err(|e| bad(e.to_string()))?;
        let before = self.files.len();
        let mut i = 0;
        self.files.retain(|_| {
            i += 1;
            keep.value(i - 1)
        });
        Ok(before - self.files.len())
    }
}

/// The value of each of `keys` in a file's directory `pairs` (the innermost wins; null
/// when absent).
fn values_of(keys: &[String], pairs: &[(String, Option<String>)]) -> Vec<Option<String>> {
    keys.iter()
        .map(|k| {
            pairs
                .iter()
                .rev()
                .find(|(key, _)| key == k)
                .and_then(|(_, v)| v.clone())
        })
        .collect()
}

/// Whether `path` is a glob pattern.
fn has_magic(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

/// The files matching `pattern`, and the directory before its first wildcard.
fn glob_files(pattern: &str) -> Result<(PathBuf, Vec<PathBuf>)> {
    let mut base = PathBuf::new();
    for component in Path::new(pattern).components() {
        if has_magic(&component.as_os_str().to_string_lossy()) {
            break;
        }
        base.push(component);
    }
    let matches = glob::glob(pattern).map_err(|e| FileError::Path {
        path: pattern.to_string(),
        message: format!("invalid glob pattern: {e}"),
    })?;
    let mut files = Vec::new();
    for entry in matches {
        let path = entry.map_err(|e| {
            let path = e.path().to_path_buf();
            FileError::io(&path, e.into())
        })?;
        if path.is_file() {
            files.push(path);
        }
    }
    Ok((base, files))
}

/// Every file under `dir`, following symbolic links, skipping hidden entries.
fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let walker = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !hidden(&e.file_name().to_string_lossy()));
    for entry in walker {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(dir).to_path_buf();
            let io = e
                .into_io_error()
                .unwrap_or_else(|| std::io::Error::other("file system loop"));
            FileError::io(&path, io)
        })?;
        if entry.file_type().is_file() {
            files.push(entry.into_path());
        }
    }
    Ok(files)
}

/// Whether a file or directory name is hidden from listings (`.crc`, `_SUCCESS`).
fn hidden(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

/// `path` relative to `base`, `/`-separated, or `None` if a component of it is hidden.
fn relative(base: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(base).ok()?;
    let mut parts = Vec::new();
    for component in rel.components() {
        match component {
            Component::Normal(name) => {
                let name = name.to_string_lossy();
                if hidden(&name) {
                    return None;
                }
                parts.push(name.into_owned());
            }
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// The `key=value` directories of a relative path, values percent-decoded.
fn hive_pairs(rel: &str) -> Vec<(String, Option<String>)> {
    let mut dirs: Vec<&str> = rel.split('/').collect();
    dirs.pop();
    dirs.into_iter()
        .filter_map(|dir| {
            let (key, value) = dir.split_once('=')?;
            if key.is_empty() {
                return None;
            }
            let value = (value != HIVE_NULL).then(|| percent_decode(value));
            Some((percent_decode(key), value))
        })
        .collect()
}

/// Decodes `%XX` escapes, as Hive and Spark write them for special characters (and as
/// the Delta log stores paths).
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hive_pairs_are_decoded() {
        assert_eq!(
            hive_pairs("date=2024-01-01/region=eu%2Fwest/x=__HIVE_DEFAULT_PARTITION__/f.csv"),
            vec![
                ("date".to_string(), Some("2024-01-01".to_string())),
                ("region".to_string(), Some("eu/west".to_string())),
                ("x".to_string(), None),
            ]
        );
        assert!(hive_pairs("plain/dir/f.csv").is_empty());
        assert!(hive_pairs("date=1.csv").is_empty());
        assert_eq!(percent_decode("a%2"), "a%2");
    }

    #[test]
    fn hidden_components_are_skipped() {
        let base = Path::new("/d");
        assert_eq!(
            relative(base, Path::new("/d/a=1/x.csv")).as_deref(),
            Some("a=1/x.csv")
        );
        assert_eq!(relative(base, Path::new("/d/_SUCCESS")), None);
        assert_eq!(relative(base, Path::new("/d/.x/y.csv")), None);
        assert!(has_magic("/d/**/*.csv"));
        assert!(!has_magic("/d/x.csv"));
    }
}
