//! `silver.merge`: a seeded change feed (inserts, updates, deletes, bad ops) upserted into a
//! Delta table one file per epoch, checked against DuckDB's own computation of the last
//! change per key; a re-run commits nothing, and `kill -9` mid-run then resume gives the
//! same table (the epoch's txn rides in the MERGE commit).

use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use sluice_tests::{
    delta_commit_count, python_tool, run_with_timeout, serial, sluice_bin, spawn_logged, work_dir,
};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");

fn tool(args: &[&str]) -> Result<String> {
    python_tool("merge_tool.py", args, Duration::from_secs(120))
}

fn job(dir: &Path, extra: &[&str]) -> Result<Command> {
    let mut cmd = Command::new(sluice_bin()?);
    cmd.current_dir(dir)
        .arg("run")
        .arg(
            sluice_tests::tests_dir()
                .join("..")
                .join("config")
                .join("delta-merge.yaml"),
        )
        .args(["--set", "output.dir=out"]);
    for e in extra {
        cmd.args(["--set", e]);
    }
    Ok(cmd)
}

fn check(dir: &Path) -> Result<()> {
    let report = tool(&[
        "check",
        "--feed",
        &dir.join("changes").display().to_string(),
        "--table",
        &dir.join("out/tables/customers").display().to_string(),
    ])?;
    eprintln!("{}", report.trim());
    Ok(())
}

#[test]
fn merged_changes_equal_the_last_change_per_key_and_rerun_commits_nothing() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "merge_feed")?;
    tool(&[
        "feed",
        "--dir",
        &dir.join("changes").display().to_string(),
        "--files",
        "12",
        "--seed",
        "7",
    ])?;
    run_with_timeout(job(&dir, &[])?, Duration::from_secs(600))?.require_success("sluice run")?;
    check(&dir)?;
    let commits = delta_commit_count(&dir.join("out"));
    run_with_timeout(job(&dir, &[])?, Duration::from_secs(600))?
        .require_success("sluice run again")?;
    ensure!(
        delta_commit_count(&dir.join("out")) == commits,
        "a re-run of a finished merge job committed again"
    );
    check(&dir)
}

#[test]
fn kill_and_resume_merges_each_epoch_once() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "merge_crash")?;
    tool(&[
        "feed",
        "--dir",
        &dir.join("changes").display().to_string(),
        "--files",
        "16",
        "--seed",
        "11",
    ])?;
    let log = dir.join("job.log");
    for delay_ms in [1_200u64, 1_700] {
        let mut child = spawn_logged(job(&dir, &["trigger.interval=250ms"])?, &log)?;
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(delay_ms) {
            if child.try_wait()?.is_some() {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        // SIGKILL: no chance to finish the epoch in flight.
        let _ = child.kill();
        let _ = child.wait();
    }
    run_with_timeout(job(&dir, &[])?, Duration::from_secs(600))?
        .require_success("sluice run (resume)")?;
    check(&dir)
}
