//! The Delta source, checked independently:
//! - time travel: `sluice run` reads a table at `version-as-of: K`, and DuckDB reads a
//!   copy of the table whose log stops at K;
//! - nested columns: a table of structs, lists and maps written by pyarrow with a
//!   hand-written log (no delta-rs involved) is read into bronze unchanged and into silver
//!   columns computed from its nested fields, as DuckDB reads and computes them; a SQL
//!   job declaring two of its columns in another order reads exactly those with
//!   `SELECT *`;
//! - the change data feed: a streaming job reads a table's inserts (`read-change-feed`,
//!   `starting-version: 0`) and is killed with SIGKILL; an update and a delete are
//!   committed while it is down; restarted, it reads their update images and deletes, and
//!   its silver table then holds every change of the rules the test applied exactly once
//!   (DuckDB against a feed computed from those rules).

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{Result, bail, ensure};
use sluice_tests::{
    expect_clean_failure, python_tool, run_with_timeout, serial, sluice_bin, spawn_logged, tail,
    work_dir,
};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");

#[test]
fn version_as_of_reads_exactly_that_version() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "delta_source_time_travel")?;
    let mut demo = Command::new(sluice_bin()?);
    demo.args([
        "demo",
        "--events",
        "40000",
        "--epoch-events",
        "5000",
        "--dir",
    ])
    .arg(dir.join("demo"));
    run_with_timeout(demo, Duration::from_secs(600))?.require_success("sluice demo")?;
    let silver = dir.join("demo").join("tables").join("silver");
    for version in [2, 5] {
        let out = dir.join(format!("read-{version}"));
        let job = dir.join(format!("job-{version}.yaml"));
        std::fs::write(
            &job,
            format!(
                "job-id: time-travel-{version}\nsource:\n  delta:\n    path: {}\n    version-as-of: {version}\noutput:\n  dir: {}\n",
                silver.display(),
                out.display()
            ),
        )?;
        let mut run = Command::new(sluice_bin()?);
        run.arg("run").arg(&job);
        run_with_timeout(run, Duration::from_secs(600))?
            .require_success("sluice run (delta source)")?;
        let (version, table) = (version.to_string(), silver.display().to_string());
        let read = out.join("tables").join("bronze").display().to_string();
        let report = python_tool(
            "time_travel_tool.py",
            &[
                "check",
                "--version",
                &version,
                "--table",
                &table,
                "--read",
                &read,
            ],
            Duration::from_secs(120),
        )?;
        eprintln!("{}", report.trim());
    }
    let job = dir.join("job-missing.yaml");
    std::fs::write(
        &job,
        format!(
            "job-id: time-travel-missing\nsource:\n  delta:\n    path: {}\n    version-as-of: 999\noutput:\n  dir: {}\n",
            silver.display(),
            dir.join("read-missing").display()
        ),
    )?;
    let mut run = Command::new(sluice_bin()?);
    run.arg("run").arg(&job);
    expect_clean_failure(
        "a version the log does not hold",
        run,
        &["version-as-of 999"],
    )
}

#[test]
fn nested_columns_are_read_as_duckdb_reads_them() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "delta_source_nested")?;
    let table = dir.join("nested").display().to_string();
    python_tool(
        "nested_tool.py",
        &["write", "--table", &table, "--rows", "5000", "--seed", "7"],
        Duration::from_secs(120),
    )?;
    let out = dir.join("out");
    let job = dir.join("job.yaml");
    std::fs::write(
        &job,
        format!(
            r#"job-id: nested
source:
  delta:
    path: {table}
silver:
  columns:
    - {{ name: a, expr: "s['a']" }}
    - {{ name: b, expr: "s['b']" }}
    - {{ name: n_tags, expr: "array_length(tags)" }}
    - {{ name: first_tag, expr: "tags[1]" }}
    - {{ name: k1, expr: "attrs['k1']" }}
output:
  dir: {}
"#,
            out.display()
        ),
    )?;
    let mut run = Command::new(sluice_bin()?);
    run.arg("run").arg(&job).arg("--batch");
    run_with_timeout(run, Duration::from_secs(600))?.require_success("sluice run (nested)")?;
    let tables = out.join("tables");
    let report = python_tool(
        "nested_tool.py",
        &[
            "check",
            "--table",
            &table,
            "--bronze",
            &tables.join("bronze").display().to_string(),
            "--silver",
            &tables.join("silver").display().to_string(),
        ],
        Duration::from_secs(120),
    )?;
    eprintln!("{}", report.trim());
    // A SQL declaration of fewer columns, in another order, is what `SELECT *` reads.
    let sql = dir.join("declared.sql");
    std::fs::write(
        &sql,
        format!(
            "SET 'job-id' = 'declared';\n\
             CREATE TABLE nested (tags ARRAY<STRING>, id BIGINT) \
               WITH ('connector' = 'delta', 'path' = '{table}');\n\
             INSERT INTO picked SELECT * FROM nested;\n"
        ),
    )?;
    let read = dir.join("declared");
    let mut run = Command::new(sluice_bin()?);
    run.arg("run")
        .arg(&sql)
        .arg("--batch")
        .arg("--set")
        .arg(format!("output.dir={}", read.display()));
    run_with_timeout(run, Duration::from_secs(600))?.require_success("sluice run (declared)")?;
    let picked = read.join("tables").join("picked").display().to_string();
    let report = python_tool(
        "nested_tool.py",
        &["check-declared", "--table", &table, "--read", &picked],
        Duration::from_secs(120),
    )?;
    eprintln!("{}", report.trim());
    Ok(())
}

/// Rows of the change feed test's table, and its update and delete rules.
const FEED_ROWS: &str = "3000";
const UPDATE_MOD: &str = "7";
const DELETE_MOD: &str = "5";

/// A streaming `sluice run`, killed with SIGKILL when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Rows in the table at `table` (0 before it exists), read by DuckDB.
fn rows_in(table: &Path) -> Result<u64> {
    if !table.join("_delta_log").exists() {
        return Ok(0);
    }
    let out = python_tool(
        "table_tool.py",
        &["counts", "--table", &table.display().to_string()],
        Duration::from_secs(60),
    )?;
    let v: serde_json::Value = serde_json::from_str(out.trim())?;
    v["rows"]
        .as_u64()
        .ok_or_else(|| anyhow::anyhow!("table_tool counts: {out}"))
}

/// Waits until `table` holds at least `rows` rows while `job` keeps running.
fn wait_for_rows(job: &mut Running, log: &Path, table: &Path, rows: u64) -> Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Some(status) = job.0.try_wait()? {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            bail!("the streaming job exited with {status}\n{}", tail(&log, 30));
        }
        let n = rows_in(table)?;
        if n >= rows {
            return Ok(n);
        }
        ensure!(
            Instant::now() < deadline,
            "{} has {n} of {rows} rows after 180 s",
            table.display()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn the_change_feed_reaches_silver_exactly_once_across_a_kill() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "delta_source_change_feed")?;
    let table = dir.join("feed-table").display().to_string();
    python_tool(
        "change_feed_tool.py",
        &["write", "--table", &table, "--rows", FEED_ROWS],
        Duration::from_secs(120),
    )?;
    let out = dir.join("out");
    let job = dir.join("job.yaml");
    std::fs::write(
        &job,
        format!(
            "job-id: feed\nsource:\n  delta:\n    path: {table}\n    read-change-feed: true\n    \
             starting-version: 0\noutput:\n  dir: {}\n",
            out.display()
        ),
    )?;
    let silver = out.join("tables").join("silver");
    let run = |log: &Path| -> Result<Running> {
        let mut cmd = Command::new(sluice_bin()?);
        cmd.arg("run").arg(&job);
        Ok(Running(spawn_logged(cmd, log)?))
    };
    // The inserts of version 0 first, then a kill -9; an update and a delete are committed
    // while the job is down, and the restarted job resumes from its checkpoint.
    let rows: u64 = FEED_ROWS.parse()?;
    let first_log = dir.join("first.log");
    let mut first = run(&first_log)?;
    wait_for_rows(&mut first, &first_log, &silver, rows)?;
    drop(first);
    let sluice_table = |args: &[&str]| -> Result<()> {
        let mut cmd = Command::new(sluice_bin()?);
        cmd.arg("table").args(args);
        run_with_timeout(cmd, Duration::from_secs(120))?.require_success(&args.join(" "))
    };
    sluice_table(&[
        "update",
        &table,
        "--where",
        &format!("id % {UPDATE_MOD} = 0"),
        "--set",
        "v = v + 1",
    ])?;
    sluice_table(&[
        "delete",
        &table,
        "--where",
        &format!("id % {DELETE_MOD} = 1"),
    ])?;

    let (u, d): (u64, u64) = (UPDATE_MOD.parse()?, DELETE_MOD.parse()?);
    let expected = rows + 2 * rows.div_ceil(u) + (rows + d - 2) / d;
    let second_log = dir.join("second.log");
    let mut second = run(&second_log)?;
    let n = wait_for_rows(&mut second, &second_log, &silver, expected)?;
    // A moment more: nothing further may arrive.
    std::thread::sleep(Duration::from_secs(3));
    ensure!(rows_in(&silver)? == n, "silver kept growing past {n} rows");
    drop(second);
    let report = python_tool(
        "change_feed_tool.py",
        &[
            "check",
            "--silver",
            &silver.display().to_string(),
            "--rows",
            FEED_ROWS,
            "--update-mod",
            UPDATE_MOD,
            "--delete-mod",
            DELETE_MOD,
        ],
        Duration::from_secs(120),
    )?;
    eprintln!("{}", report.trim());
    Ok(())
}
