//! `sluice table ...`: inspect and maintain a Delta table.

use crate::output::emit;
use std::num::NonZeroU64;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use sluice_connectors::delta::maintenance::{self, RestoreTarget};

/// `sluice table <command> <path>`.
#[derive(Debug, Args)]
pub struct TableArgs {
    #[command(subcommand)]
    command: TableCommand,
    /// Print the result as JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum TableCommand {
    /// Version, columns, partitioning, files, rows and properties.
    Describe {
        /// Table location: a directory or an `s3://` URL.
        path: String,
    },
    /// The commits, newest first.
    History {
        /// Table location.
        path: String,
        /// Show at most this many commits.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Compact small files (dataChange=false: safe next to a running streaming append).
    Optimize {
        /// Table location.
        path: String,
        /// Z-order the rewritten files by these columns (comma-separated).
        #[arg(long, value_delimiter = ',')]
        zorder: Vec<String>,
        /// Target file size in bytes (default: the table's, else 100 MiB).
        #[arg(long)]
        target_size: Option<NonZeroU64>,
    },
    /// Delete files no version within the retention needs, and orphaned files.
    Vacuum {
        /// Table location.
        path: String,
        /// Keep files needed by versions younger than this (default 7 days, e.g. `168h`).
        #[arg(long, default_value = "7days", value_parser = humantime::parse_duration)]
        retention: Duration,
        /// List what would be deleted, delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Allow a retention below the table's `delta.deletedFileRetentionDuration`.
        #[arg(long)]
        force: bool,
    },
    /// Make an earlier version current again (as a new version).
    Restore {
        /// Table location.
        path: String,
        /// The version to restore.
        #[arg(
            long,
            conflicts_with = "timestamp",
            required_unless_present = "timestamp"
        )]
        version: Option<i64>,
        /// Restore the version current at this RFC 3339 time.
        #[arg(long)]
        timestamp: Option<String>,
    },
    /// Delete the rows matching a SQL predicate, in one commit.
    Delete {
        /// Table location.
        path: String,
        /// The rows to delete, e.g. `--where "process_date = '2024-01-02'"` (`true`
        /// deletes every row).
        #[arg(long = "where", value_name = "PREDICATE")]
        predicate: String,
    },
    /// Set columns to SQL expressions on the rows matching a predicate, in one commit.
    Update {
        /// Table location.
        path: String,
        /// The rows to change (default: every row).
        #[arg(long = "where", value_name = "PREDICATE")]
        predicate: Option<String>,
        /// `column=expression` over the row, e.g. `--set "tier='gold'"` (repeatable).
        #[arg(long = "set", value_name = "COLUMN=EXPR", required = true)]
        set: Vec<String>,
    },
    /// Write a Delta log checkpoint for the current version.
    Checkpoint {
        /// Table location.
        path: String,
    },
    /// The rows only in A and only in B (as multisets), or with `--key` the keys only in
    /// one and the keys whose rows differ; exits 1 when the tables differ.
    Diff {
        /// Table A's location.
        a: String,
        /// Table B's location.
        b: String,
        /// Key columns (comma-separated): compare rows by key.
        #[arg(long, value_delimiter = ',')]
        key: Vec<String>,
        /// Rows to show of each kind.
        #[arg(long, default_value_t = 10)]
        sample: usize,
    },
}

/// Runs a `sluice table` command.
///
/// # Errors
/// A missing table, a bad argument, or a failed Delta operation.
pub fn run(args: TableArgs) -> Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let json = args.json;
    let print = |value: &dyn render::Show| {
        if json {
            emit(&format!("{}\n", value.json()));
        } else {
            emit(&value.text());
        }
    };
    match args.command {
        TableCommand::Describe { path } => {
            print(&runtime.block_on(maintenance::describe(&path))?);
        }
        TableCommand::History { path, limit } => {
            print(&runtime.block_on(maintenance::history(&path, limit))?);
        }
        TableCommand::Optimize {
            path,
            zorder,
            target_size,
        } => print(&runtime.block_on(maintenance::optimize(&path, &zorder, target_size))?),
        TableCommand::Vacuum {
            path,
            retention,
            dry_run,
            force,
        } => print(
            &runtime
                .block_on(maintenance::vacuum(&path, retention, dry_run, !force))
                .with_context(|| {
                    if force {
                        "vacuum".to_string()
                    } else {
                        "vacuum (--force allows a retention below the table's)".to_string()
                    }
                })?,
        ),
        TableCommand::Restore {
            path,
            version,
            timestamp,
        } => {
            let target = match (version, timestamp) {
                (Some(v), _) => RestoreTarget::Version(v),
                (None, Some(t)) => RestoreTarget::Timestamp(
                    chrono::DateTime::parse_from_rfc3339(&t)
                        .with_context(|| format!("--timestamp {t}: expected RFC 3339"))?
                        .to_utc(),
                ),
                (None, None) => anyhow::bail!("give --version or --timestamp"),
            };
            print(&runtime.block_on(maintenance::restore(&path, target))?);
        }
        TableCommand::Delete { path, predicate } => {
            print(&runtime.block_on(maintenance::delete(&path, &predicate))?);
        }
        TableCommand::Update {
            path,
            predicate,
            set,
        } => {
            let set = set
                .iter()
                .map(|s| {
                    s.split_once('=')
                        .map(|(c, e)| (c.trim().to_string(), e.trim().to_string()))
                        .with_context(|| format!("--set {s}: expected COLUMN=EXPRESSION"))
                })
                .collect::<Result<Vec<_>>>()?;
            print(&runtime.block_on(maintenance::update(&path, predicate.as_deref(), &set))?);
        }
        TableCommand::Diff { a, b, key, sample } => {
            let diff = runtime.block_on(sluice_connectors::delta::diff(&a, &b, &key, sample))?;
            print(&diff);
            if !diff.is_empty() {
                anyhow::bail!(
                    "the tables differ: {} rows only in A, {} only in B{}",
                    diff.only_in_a,
                    diff.only_in_b,
                    if diff.keys.is_empty() {
                        String::new()
                    } else {
                        format!(", {} keys changed", diff.changed)
                    }
                );
            }
        }
        TableCommand::Checkpoint { path } => {
            let version = runtime.block_on(maintenance::checkpoint(&path))?;
            if json {
                emit(&format!("{{\"checkpoint_version\": {version}}}\n"));
            } else {
                emit(&format!("wrote a checkpoint for version {version}\n"));
            }
        }
    }
    Ok(())
}

/// Text and JSON renderings of the maintenance reports.
mod render {
    use std::fmt::Write as _;

    use sluice_connectors::delta::maintenance::{
        DmlReport, HistoryEntry, OptimizeReport, RestoreReport, TableDescription, VacuumReport,
    };

    /// A report the CLI prints.
    pub trait Show {
        fn text(&self) -> String;
        fn json(&self) -> String;
    }

    fn json<T: serde::Serialize>(value: &T) -> String {
        serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    impl Show for TableDescription {
        fn text(&self) -> String {
            let mut s = String::new();
            let _ = writeln!(s, "table      {}", self.location);
            let _ = writeln!(s, "version    {}", self.version);
            let rows = self.rows.map_or("unknown".into(), |r| r.to_string());
            let _ = writeln!(
                s,
                "files      {} ({} bytes), rows {rows}",
                self.files, self.bytes
            );
            let _ = writeln!(s, "partitions [{}]", self.partition_columns.join(", "));
            let _ = writeln!(s, "columns");
            for (name, data_type, nullable) in &self.columns {
                let null = if *nullable { "" } else { " not null" };
                let _ = writeln!(s, "  {name} {data_type}{null}");
            }
            if !self.properties.is_empty() {
                let _ = writeln!(s, "properties");
                for (k, v) in &self.properties {
                    let _ = writeln!(s, "  {k} = {v}");
                }
            }
            s
        }
        fn json(&self) -> String {
            json(self)
        }
    }

    impl Show for Vec<HistoryEntry> {
        fn text(&self) -> String {
            let mut s =
                String::from("version  timestamp                  operation          parameters\n");
            for h in self {
                let when = h
                    .timestamp_ms
                    .and_then(chrono::DateTime::from_timestamp_millis)
                    .map_or("-".into(), |t| {
                        t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
                    });
                let params: Vec<String> = h
                    .parameters
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                let _ = writeln!(
                    s,
                    "{:<8} {:<26} {:<18} {}",
                    h.version,
                    when,
                    h.operation,
                    params.join(" ")
                );
            }
            s
        }
        fn json(&self) -> String {
            json(self)
        }
    }

    impl Show for OptimizeReport {
        fn text(&self) -> String {
            format!(
                "optimized: {} files replaced by {} in {} partitions; version {}\n",
                self.files_removed, self.files_added, self.partitions_optimized, self.version
            )
        }
        fn json(&self) -> String {
            json(self)
        }
    }

    impl Show for VacuumReport {
        fn text(&self) -> String {
            let verb = if self.dry_run {
                "would delete"
            } else {
                "deleted"
            };
            let mut s = format!("{verb} {} files\n", self.files.len());
            for f in &self.files {
                let _ = writeln!(s, "  {f}");
            }
            s
        }
        fn json(&self) -> String {
            json(self)
        }
    }

    impl Show for DmlReport {
        fn text(&self) -> String {
            format!(
                "version {}: {} rows changed; {} files rewritten, {} files removed\n",
                self.version, self.rows, self.files_added, self.files_removed
            )
        }
        fn json(&self) -> String {
            json(self)
        }
    }

    impl Show for sluice_connectors::delta::TableDiff {
        fn text(&self) -> String {
            let mut s = String::new();
            let _ = writeln!(s, "A  {} (version {})", self.a.0, self.a.1);
            let _ = writeln!(s, "B  {} (version {})", self.b.0, self.b.1);
            let _ = writeln!(s, "compared columns: {}", self.columns.join(", "));
            for (side, cols) in [("A", &self.only_columns.0), ("B", &self.only_columns.1)] {
                if !cols.is_empty() {
                    let _ = writeln!(
                        s,
                        "columns only in {side} (not compared): {}",
                        cols.join(", ")
                    );
                }
            }
            let unit = if self.keys.is_empty() {
                String::from("rows")
            } else {
                let _ = writeln!(s, "key: {}", self.keys.join(", "));
                String::from("rows of keys")
            };
            let mut section = |title: String, rows: &[serde_json::Value]| {
                let _ = writeln!(s, "{title}");
                for row in rows {
                    let _ = writeln!(s, "  {row}");
                }
            };
            section(
                format!("{unit} only in A: {}", self.only_in_a),
                &self.samples.only_in_a,
            );
            section(
                format!("{unit} only in B: {}", self.only_in_b),
                &self.samples.only_in_b,
            );
            if !self.keys.is_empty() {
                section(
                    format!("keys whose rows differ: {}", self.changed),
                    &self.samples.changed,
                );
            }
            if self.is_empty() {
                let _ = writeln!(s, "the tables hold the same rows");
            }
            s
        }
        fn json(&self) -> String {
            json(self)
        }
    }

    impl Show for RestoreReport {
        fn text(&self) -> String {
            format!(
                "restored as version {}: {} files removed, {} restored\n",
                self.version, self.files_removed, self.files_restored
            )
        }
        fn json(&self) -> String {
            json(self)
        }
    }
}
