//! Independent checks of what a run wrote: `tests/python/delta_checks.py` and DuckDB queries
//! over the Delta tables (through DuckDB's own Delta extension).

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use crate::{delta_checks_script, python, run_with_timeout, tail, tests_dir};

/// The outcome of one `delta_checks.py` run that got as far as printing its JSON.
#[derive(Debug)]
pub struct CheckReport {
    /// The command, for messages.
    pub command: String,
    /// Whether the check passed (exit status 0).
    pub ok: bool,
    /// The JSON result; on failure it names what differs, with examples.
    pub json: Value,
    /// What the script wrote to stderr.
    pub stderr: String,
}

impl CheckReport {
    /// The JSON result of a passing check.
    ///
    /// # Errors
    /// When the check failed; the error holds the whole JSON result.
    pub fn require_ok(self) -> Result<Value> {
        ensure!(
            self.ok,
            "{}: check FAILED\n{}\n--- stderr ---\n{}",
            self.command,
            serde_json::to_string_pretty(&self.json).unwrap_or_default(),
            tail(&self.stderr, 40)
        );
        Ok(self.json)
    }

    /// The names in the result's `failures` list.
    pub fn failures(&self) -> Vec<String> {
        self.json
            .get("failures")
            .and_then(Value::as_array)
            .map(|v| {
                v.iter()
                    .filter_map(|f| f.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Runs `tests/python/<script> ARGS` with [`python`], failing with its output unless it
/// succeeds within `timeout`; returns its stdout.
///
/// # Errors
/// When Python is missing, the script times out or exits non-zero.
pub fn python_tool<S: AsRef<std::ffi::OsStr>>(
    script: &str,
    args: &[S],
    timeout: Duration,
) -> Result<String> {
    let mut cmd = Command::new(python()?);
    cmd.arg(tests_dir().join("python").join(script)).args(args);
    let shown: Vec<String> = args
        .iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect();
    let out = run_with_timeout(cmd, timeout)?;
    out.require_success(&format!("{script} {}", shown.join(" ")))?;
    Ok(out.stdout)
}

/// The rows of a DuckDB query, each as its columns' text, run with the Delta extension
/// loaded (`delta_checks.connect()`), so `delta_scan('<table>')` reads our tables.
///
/// # Errors
/// When Python is missing or the query fails.
pub fn duckdb_rows(sql: &str) -> Result<Vec<Vec<String>>> {
    let mut cmd = Command::new(python()?);
    cmd.arg("-c").arg(format!(
        "import sys; sys.path.insert(0, {:?}); from delta_checks import connect\n\
         for r in connect().execute({sql:?}).fetchall(): print('|'.join(map(str, r)))",
        tests_dir().join("python").display().to_string()
    ));
    let out = run_with_timeout(cmd, Duration::from_secs(120))?;
    out.require_success(&format!("duckdb: {sql}"))?;
    Ok(out
        .stdout
        .lines()
        .map(|l| l.split('|').map(str::to_owned).collect())
        .collect())
}

/// The first value of a DuckDB query's first row as a count (0 without rows).
///
/// # Errors
/// When the query fails or its value is not a count.
pub fn duckdb_count(sql: &str) -> Result<u64> {
    let rows = duckdb_rows(sql)?;
    let Some(value) = rows.first().and_then(|r| r.first()) else {
        return Ok(0);
    };
    value
        .trim()
        .parse()
        .with_context(|| format!("duckdb: {sql}: `{value}` is not a count"))
}

/// Runs `delta_checks.py <args>` and returns its report, passed or failed.
///
/// # Errors
/// When Python is missing or the check could not run (exit status 2: missing table,
/// column or extension; or no JSON printed).
pub fn delta_report<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Result<CheckReport> {
    let mut cmd = Command::new(python()?);
    cmd.arg(delta_checks_script()).args(args);
    let command = format!(
        "delta_checks.py {}",
        args.iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let out = run_with_timeout(cmd, Duration::from_secs(600)).with_context(|| command.clone())?;
    let json: Option<Value> = out
        .stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .and_then(|l| serde_json::from_str(l).ok());
    let code = out.status.code();
    match json {
        Some(json) if code == Some(0) || code == Some(1) => Ok(CheckReport {
            command,
            ok: code == Some(0),
            json,
            stderr: out.stderr,
        }),
        _ => bail!(
            "{command}: could not run ({})\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.status,
            tail(&out.stdout, 40),
            tail(&out.stderr, 40)
        ),
    }
}

/// Runs `delta_checks.py <args>` and returns the JSON result of a passing check.
///
/// # Errors
/// As [`delta_report`], and when the check fails; the error then holds the JSON
/// result, which names what differs.
pub fn delta_check<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Result<Value> {
    delta_report(args)?.require_ok()
}

/// `delta_checks.py gold-vs-silver DIR`.
///
/// # Errors
/// As [`delta_check`].
pub fn check_gold_vs_silver(dir: &Path) -> Result<Value> {
    delta_check(&[OsString::from("gold-vs-silver"), dir.into()])
}

/// `delta_checks.py accounting DIR N P`.
///
/// # Errors
/// As [`delta_check`].
pub fn check_accounting(dir: &Path, events: u64, partitions: u32) -> Result<Value> {
    delta_check(&[
        OsString::from("accounting"),
        dir.into(),
        events.to_string().into(),
        partitions.to_string().into(),
    ])
}

/// `delta_checks.py same-tables A B --tables ... [--float-rel R]`.
///
/// # Errors
/// As [`delta_check`].
pub fn check_same_tables(
    a: &Path,
    b: &Path,
    tables: &[&str],
    float_rel: Option<f64>,
) -> Result<Value> {
    same_tables_report(a, b, tables, float_rel)?.require_ok()
}

/// `delta_checks.py same-tables A B --tables ... [--float-rel R]`, passed or failed.
///
/// # Errors
/// As [`delta_report`].
pub fn same_tables_report(
    a: &Path,
    b: &Path,
    tables: &[&str],
    float_rel: Option<f64>,
) -> Result<CheckReport> {
    same_tables_without(a, b, tables, float_rel, &[])
}

/// `delta_checks.py same-tables ... --ignore-columns ...`: as [`same_tables_report`],
/// with the columns `ignore` left out of every table compared.
///
/// # Errors
/// As [`delta_report`].
pub fn same_tables_without(
    a: &Path,
    b: &Path,
    tables: &[&str],
    float_rel: Option<f64>,
    ignore: &[&str],
) -> Result<CheckReport> {
    let mut args: Vec<OsString> = vec!["same-tables".into(), a.into(), b.into()];
    args.push("--tables".into());
    args.push(tables.join(",").into());
    if let Some(rel) = float_rel {
        args.push("--float-rel".into());
        args.push(rel.to_string().into());
    }
    if !ignore.is_empty() {
        args.push("--ignore-columns".into());
        args.push(ignore.join(",").into());
    }
    delta_report(&args)
}

/// `delta_checks.py counts DIR`: rows per table, latest Delta version per table and
/// dlq rows per reason.
///
/// # Errors
/// As [`delta_check`].
pub fn check_counts(dir: &Path) -> Result<Value> {
    delta_check(&[OsString::from("counts"), dir.into()])
}

/// A number at a JSON pointer (e.g. `/tables/bronze`), or 0 when absent.
pub fn json_u64(v: &Value, pointer: &str) -> u64 {
    v.pointer(pointer).and_then(Value::as_u64).unwrap_or(0)
}

/// DLQ rows per reason kind (`parse_error`, `rule`, `late`, other) from a
/// [`check_counts`] result.
pub fn dlq_kinds(counts: &Value) -> DlqKinds {
    let mut k = DlqKinds::default();
    if let Some(map) = counts.get("dlq_by_reason").and_then(Value::as_object) {
        for (reason, n) in map {
            let n = n.as_u64().unwrap_or(0);
            match reason.as_str() {
                "parse_error" => k.parse_error += n,
                "late" => k.late += n,
                r if r.starts_with("rule:") => k.rule += n,
                _ => k.other += n,
            }
        }
    }
    k
}

/// DLQ rows by reason kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DlqKinds {
    /// `parse_error`
    pub parse_error: u64,
    /// `rule:<name>`
    pub rule: u64,
    /// `late`
    pub late: u64,
    /// anything else
    pub other: u64,
}
