//! The Delta source, checked independently:
//! - time travel: `sluice run` reads a table at `version-as-of: K`, and DuckDB reads a
//!   copy of the table whose log stops at K;
//! - nested columns: a table of structs, lists and maps written by pyarrow with a
//!   hand-written log (no delta-rs involved) is read into bronze unchanged and into silver
//!   columns computed from its nested fields, as DuckDB reads and computes them.

use std::process::Command;
use std::time::Duration;

use anyhow::Result;
use sluice_tests::{
    expect_clean_failure, python_tool, run_with_timeout, serial, sluice_bin, work_dir,
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
    Ok(())
}
