//! `config/batch-etl.yaml`, the seed's batch ETL, over `sluice demo-data batch`: two
//! consecutive dates, then re-runs of the second, checked against DuckDB's own computation
//! of the same rules, joins, aggregates and MERGE totals from the raw files
//! (`tests/python/batch_etl_tool.py`), reading our tables with `delta_scan`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Result, ensure};
use sluice_tests::{
    delta_commit_count, expect_clean_failure, python_tool, run_with_timeout, serial, sluice_bin,
    test_seed, work_dir,
};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");
const DAY1: &str = "2024-01-01";
const DAY2: &str = "2024-01-02";

/// `sluice run config/batch-etl.yaml --param process-date=<date>` in `dir` (the dataset
/// under `dir/sluice-batch-data`, the tables under `dir/sluice-batch-etl`).
fn job(dir: &Path, date: &str, set: &[&str]) -> Result<Command> {
    let mut cmd = Command::new(sluice_bin()?);
    cmd.current_dir(dir)
        .arg("run")
        .arg(
            sluice_tests::tests_dir()
                .join("..")
                .join("config")
                .join("batch-etl.yaml"),
        )
        .args(["--param", &format!("process-date={date}")]);
    for s in set {
        cmd.args(["--set", s]);
    }
    Ok(cmd)
}

fn run_day(dir: &Path, date: &str, set: &[&str]) -> Result<String> {
    let out = run_with_timeout(job(dir, date, set)?, Duration::from_secs(600))?;
    out.require_success(&format!("batch-etl {date}"))?;
    Ok(out.stderr)
}

fn generate(dir: &Path, rows: u64) -> Result<()> {
    let mut cmd = Command::new(sluice_bin()?);
    cmd.current_dir(dir).args([
        "demo-data",
        "batch",
        "--dir",
        "sluice-batch-data",
        "--rows",
        &rows.to_string(),
        "--seed",
        &test_seed(42).to_string(),
        "--rows-per-file",
        "9000",
    ]);
    run_with_timeout(cmd, Duration::from_secs(300))?.require_success("sluice demo-data batch")
}

fn check(dir: &Path, dates: &str) -> Result<()> {
    let report = python_tool(
        "batch_etl_tool.py",
        &[
            "check",
            "--data",
            &dir.join("sluice-batch-data").display().to_string(),
            "--out",
            &dir.join("sluice-batch-etl").display().to_string(),
            "--dates",
            dates,
        ],
        Duration::from_secs(300),
    )?;
    eprintln!("{}", report.trim());
    Ok(())
}

#[test]
fn two_days_accumulate_and_rerunning_a_day_counts_nothing_twice() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "batch_etl_days")?;
    generate(&dir, 80_000)?;
    // Day 1 in one epoch.
    run_day(&dir, DAY1, &[])?;
    check(&dir, DAY1)?;
    // Day 2 in several epochs (two files each), so every table MERGEs several times in
    // one date, null customer tiers included.
    let multi = ["source.files.max-files-per-epoch=2"];
    run_day(&dir, DAY2, &multi)?;
    check(&dir, &format!("{DAY1},{DAY2}"))?;
    let out = dir.join("sluice-batch-etl");
    let commits = delta_commit_count(&out);

    // The same date again, with its checkpoint: nothing to do.
    run_day(&dir, DAY2, &multi)?;
    ensure!(
        delta_commit_count(&out) == commits,
        "re-running day 2 with its checkpoint committed again"
    );
    // And with its checkpoint deleted: the tables' txn versions skip every epoch.
    std::fs::remove_dir_all(out.join("checkpoints").join(format!("batch-etl-{DAY2}")))?;
    run_day(&dir, DAY2, &multi)?;
    ensure!(
        delta_commit_count(&out) == commits,
        "re-running day 2 without its checkpoint committed again"
    );
    check(&dir, &format!("{DAY1},{DAY2}"))
}

#[test]
fn the_null_customer_threshold_stops_the_date_with_nothing_committed() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "batch_etl_threshold")?;
    generate(&dir, 20_000)?;
    // The generator leaves 0.5% of customer ids null; a 0.1% threshold must stop the run.
    let mut cmd = job(&dir, DAY1, &["rules.4.max-ratio=0.1%"])?;
    cmd.env("RUST_LOG", "error");
    expect_clean_failure(
        "null customers above the threshold",
        cmd,
        &["customer_present", "above its max-ratio 0.1%"],
    )?;
    ensure!(
        delta_commit_count(&dir.join("sluice-batch-etl")) == 4,
        "a table was committed beyond its creation (4 tables, one commit each)"
    );
    Ok(())
}
