//! `output.auto-compact` end to end: the user-activity job as a stream of 20 epochs, its
//! tables compacting every 4 committed files in the background. DuckDB's `delta_scan`
//! must read exactly the rows of the same job run without compaction, every generated
//! record must land once, the logs must hold OPTIMIZE commits with `dataChange: false`,
//! and a `kill -9` after a compaction committed, then a restart, must end equal too.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use sluice_tests::{
    DEMO_TABLES, check_accounting, check_same_tables, run_with_timeout, sluice_bin, spawn_logged,
    tests_dir, work_dir,
};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");
const EVENTS: u64 = 200_000;
const PARTITIONS: u32 = 4;

fn job(out: &Path, compact: bool) -> Result<Command> {
    let mut cmd = Command::new(sluice_bin()?);
    cmd.arg("run")
        .arg(tests_dir().join("../config/user-activity.yaml"))
        .arg("--set")
        .arg(format!("output.dir={}", out.display()))
        .args(["--set", &format!("source.generator.events={EVENTS}")])
        .args([
            "--set",
            &format!("source.generator.partitions={PARTITIONS}"),
        ])
        .args(["--set", "trigger.records-per-epoch=10000"])
        .env(
            "SLUICE_LOG",
            "info,buoyant_kernel=off,delta_kernel=off,deltalake_core=off",
        );
    if compact {
        cmd.args(["--set", "output.auto-compact.min-files=4"]);
    }
    Ok(cmd)
}

/// One commit of a Delta log.
struct LogCommit {
    operation: String,
    adds: usize,
    removes: usize,
    /// Every add's and remove's `dataChange`.
    data_change: Vec<bool>,
}

/// The commits of `table`'s log, in version order.
fn commits(table: &Path) -> Result<Vec<LogCommit>> {
    let log = table.join("_delta_log");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&log)?
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let (mut op, mut adds, mut removes, mut changes) = (String::new(), 0, 0, Vec::new());
        for line in std::fs::read_to_string(&name)?.lines() {
            let action: serde_json::Value = serde_json::from_str(line)?;
            if let Some(info) = action.get("commitInfo") {
                op = info["operation"].as_str().unwrap_or_default().to_owned();
            }
            for (key, count) in [("add", &mut adds), ("remove", &mut removes)] {
                if let Some(a) = action.get(key) {
                    *count += 1;
                    changes.push(a["dataChange"].as_bool().context("dataChange")?);
                }
            }
        }
        out.push(LogCommit {
            operation: op,
            adds,
            removes,
            data_change: changes,
        });
    }
    Ok(out)
}

#[test]
fn compacted_tables_read_the_same_and_survive_a_kill() -> Result<()> {
    let _serial = sluice_tests::serial();
    let dir = work_dir(TMP, "compaction")?;
    let (plain, compacted, killed) = (dir.join("plain"), dir.join("compacted"), dir.join("killed"));
    run_with_timeout(job(&plain, false)?, Duration::from_secs(600))?
        .require_success("plain run")?;
    let run = run_with_timeout(job(&compacted, true)?, Duration::from_secs(600))?;
    run.require_success("compacting run")?;
    ensure!(
        run.stderr.contains("auto-compaction committed"),
        "no compaction was logged:\n{}",
        sluice_tests::tail(&run.stderr, 20)
    );
    check_same_tables(&plain, &compacted, &DEMO_TABLES, Some(1e-9))?;
    check_accounting(&compacted, EVENTS, PARTITIONS)?;
    for table in DEMO_TABLES {
        let log = commits(&compacted.join("tables").join(table))?;
        let optimized: Vec<_> = log.iter().filter(|c| c.operation == "OPTIMIZE").collect();
        ensure!(!optimized.is_empty(), "{table}: no OPTIMIZE commit");
        for c in &optimized {
            ensure!(
                c.removes > c.adds && c.data_change.iter().all(|d| !d),
                "{table}: an OPTIMIZE commit with {} adds, {} removes, dataChange {:?}",
                c.adds,
                c.removes,
                c.data_change
            );
        }
        let appends = log
            .iter()
            .filter(|c| c.operation == "STREAMING UPDATE")
            .count();
        ensure!(appends >= 20, "{table}: {appends} epoch commits");
    }

    // kill -9 once a compaction committed, then a restart to the end.
    let log = dir.join("killed.log");
    let mut child = spawn_logged(job(&killed, true)?, &log)?;
    let deadline = Instant::now() + Duration::from_secs(300);
    while !std::fs::read_to_string(&log)?.contains("auto-compaction committed") {
        ensure!(
            child.try_wait()?.is_none(),
            "the run ended before a compaction committed:\n{}",
            sluice_tests::tail(&std::fs::read_to_string(&log)?, 20)
        );
        ensure!(Instant::now() < deadline, "no compaction within 300 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill()?;
    let status = child.wait()?;
    ensure!(
        !status.success(),
        "the job was not running when killed ({status})"
    );
    run_with_timeout(job(&killed, true)?, Duration::from_secs(600))?.require_success("restart")?;
    check_same_tables(&plain, &killed, &DEMO_TABLES, Some(1e-9))?;
    check_accounting(&killed, EVENTS, PARTITIONS)?;
    Ok(())
}
