//! A table a SQL job writes, as its `CREATE TABLE` declares it: options, columns and an
//! upsert key.

use std::time::Duration;

use sluice_engine::window::OutputMode;

use super::CreateStatement;
use crate::sql::error::SqlError;
use crate::sql::window::interval;

/// A table a SQL job writes, with its options.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SinkTable {
    /// The table's name (under `output.dir/tables/`).
    pub name: String,
    /// Partition columns (`'partition-by' = 'a, b'`).
    pub partition_by: Vec<String>,
    /// `'connector' = 'blackhole'`: the rows are counted and dropped (for benchmarks).
    pub blackhole: bool,
    /// `'output-mode'`: `append` (final windows, appended once) or `update` (each epoch's
    /// changed windows, merged into the table by their key).
    pub mode: OutputMode,
    /// `'allowed-lateness'` (update mode): how long past the watermark a window's row
    /// may still be corrected by late rows.
    pub allowed_lateness: Duration,
    /// The columns an update-mode table is merged on: the window's start and end and the
    /// GROUP BY keys, as the query names them (set when the query is lowered); a session's
    /// start and keys only, since its end moves.
    pub merge_keys: Vec<String>,
    /// Whether the query's rows carry deletes (`_change = -1`): sessions in update mode,
    /// whose merged-away rows the table deletes (set when the query is lowered).
    pub deletes: bool,
    /// The declared columns `(name, job-file type, nullable)`, if any: the query's
    /// columns by position, cast to these types (see `declared_sink`).
    pub columns: Vec<(String, String, bool)>,
    /// `PRIMARY KEY (...) NOT ENFORCED`, as Flink's upsert sinks declare it: the table is
    /// in update mode, and the key must be the columns it is merged by.
    pub primary_key: Option<Vec<String>>,
}

impl CreateStatement {
    pub(super) fn sink(self) -> Result<SinkTable, SqlError> {
        if !self.checks.is_empty()
            || self.watermark.is_some()
            || !self.computed.is_empty()
            || !self.metadata.is_empty()
        {
            return Err(
                "a table written by INSERT takes no CHECK, WATERMARK or computed column".into(),
            );
        }
        if let Some(key) = &self.primary_key
            && let Some(stranger) = key
                .iter()
                .find(|k| !self.columns.iter().any(|(c, _, _)| c == *k))
        {
            return Err(SqlError::Invalid(format!(
                "PRIMARY KEY ({}): `{stranger}` is not a declared column",
                key.join(", ")
            )));
        }
        let mut sink = SinkTable {
            name: self.name,
            columns: self.columns,
            // A table with a key is upserted by it: update mode, unless set otherwise.
            mode: if self.primary_key.is_some() {
                OutputMode::Update
            } else {
                OutputMode::Append
            },
            primary_key: self.primary_key,
            ..SinkTable::default()
        };
        for (key, value) in self.options {
            match key.as_str() {
                "connector" if value == "delta" => {}
                "connector" if value == "blackhole" => sink.blackhole = true,
                "connector" => {
                    return Err(SqlError::Invalid(format!(
                        "connector `{value}`: queries write Delta tables (`'connector' = \
                         'delta'`), or drop their rows (`'blackhole'`)"
                    )));
                }
                "output-mode" => {
                    sink.mode = match value.to_ascii_lowercase().as_str() {
                        "append" if sink.primary_key.is_some() => {
                            return Err(SqlError::Invalid(
                                "'output-mode' = 'append' with a PRIMARY KEY: a table with a \
                                 key is upserted by it (update mode); leave one of them out"
                                    .into(),
                            ));
                        }
                        "append" => OutputMode::Append,
                        "update" => OutputMode::Update,
                        _ => {
                            return Err(SqlError::Invalid(format!(
                                "'output-mode' = '{value}': `append` (final windows, appended \
                                 once) or `update` (changed windows, merged by key each epoch)"
                            )));
                        }
                    };
                }
                "allowed-lateness" => {
                    sink.allowed_lateness = interval(&format!("'{value}'"))
                        .map_err(|e| SqlError::Invalid(format!("'allowed-lateness': {e}")))?;
                }
                "partition-by" => {
                    sink.partition_by = value
                        .split(',')
                        .map(|c| c.trim().to_owned())
                        .filter(|c| !c.is_empty())
                        .collect();
                }
                other => {
                    return Err(SqlError::Invalid(format!(
                        "option `{other}`: a Delta table takes `partition-by`, `output-mode` and \
                         `allowed-lateness`"
                    )));
                }
            }
        }
        Ok(sink)
    }
}
