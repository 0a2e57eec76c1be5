//! `sluice replay` end to end, on the user-activity job (200,000 generated events in 20
//! epochs, a snapshot every 5). After the run, a "bug" deletes rows from the finished
//! silver and gold tables. `--dry-run` must change nothing; `--in-place --from-epoch 12`
//! restarts after the snapshot of epoch 10, restores every table to its version before
//! epoch 11 (before the damage), rewinds the checkpoint and reruns the job: every table
//! must then equal a copy taken before the damage (DuckDB reads both), each record must
//! land once, and `sluice run` must refuse to start while a replay is under way.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Result, ensure};
use sluice_tests::{
    DEMO_TABLES, check_accounting, check_same_tables, copy_tree, delta_versions, run_with_timeout,
    serial, sluice_bin, tests_dir, work_dir,
};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");
const EVENTS: u64 = 200_000;

fn sluice(out: &Path, args: &[&str]) -> Result<Command> {
    let mut cmd = Command::new(sluice_bin()?);
    cmd.args(args)
        .arg(tests_dir().join("../config/user-activity.yaml"))
        .arg("--set")
        .arg(format!("output.dir={}", out.display()))
        .args(["--set", &format!("source.generator.events={EVENTS}")])
        .args(["--set", "trigger.records-per-epoch=10000"])
        .env("RUST_LOG", "warn");
    Ok(cmd)
}

#[test]
fn an_in_place_replay_restores_and_recomputes_the_tables() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "replay")?;
    let (out, clean) = (dir.join("out"), dir.join("clean"));
    run_with_timeout(sluice(&out, &["run"])?, Duration::from_secs(600))?.require_success("run")?;
    copy_tree(&out, &clean)?;

    for (table, predicate) in [
        ("silver", "event_type = 'purchase'"),
        ("gold_user_activity", "user_id < 'user_0200'"),
    ] {
        let mut cmd = Command::new(sluice_bin()?);
        cmd.args(["table", "delete"])
            .arg(out.join("tables").join(table))
            .args(["--where", predicate]);
        run_with_timeout(cmd, Duration::from_secs(120))?.require_success("table delete")?;
    }
    ensure!(
        check_same_tables(&clean, &out, &["silver"], None).is_err(),
        "the damage did not change silver"
    );

    let before = delta_versions(&out)?;
    let dry = run_with_timeout(
        sluice(&out, &["replay", "--from-epoch", "12", "--dry-run"])?,
        Duration::from_secs(120),
    )?;
    dry.require_success("replay --dry-run")?;
    for needle in [
        "restarts at epoch 11",
        "after the snapshot of epoch 10",
        "gold_user_activity: version",
        "dry run: nothing changed",
    ] {
        ensure!(
            dry.stdout.contains(needle),
            "dry run lacks `{needle}`:\n{}",
            dry.stdout
        );
    }
    ensure!(
        delta_versions(&out)? == before,
        "the dry run changed a table"
    );

    // A replay under way blocks `sluice run` until it is finished.
    let intent = out.join("checkpoints/user-activity/replay.json");
    std::fs::write(&intent, r#"{"restart": 11, "tables": {}}"#)?;
    let refused = run_with_timeout(sluice(&out, &["run"])?, Duration::from_secs(120))?;
    ensure!(
        !refused.status.success() && refused.stderr.contains("a replay of job"),
        "sluice run started during a replay:\n{}",
        refused.stderr
    );
    std::fs::remove_file(&intent)?;

    let replay = run_with_timeout(
        sluice(&out, &["replay", "--from-epoch", "12", "--in-place"])?,
        Duration::from_secs(600),
    )?;
    replay.require_success("replay --in-place")?;
    ensure!(
        replay.stdout.contains("checkpoint rewound to epoch 11"),
        "{}",
        replay.stdout
    );
    check_same_tables(&clean, &out, &DEMO_TABLES, Some(1e-9))?;
    check_accounting(&out, EVENTS, 4)?;
    let log = std::fs::read_dir(out.join("tables/gold_user_activity/_delta_log"))?
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter(|text| text.contains("\"RESTORE\""))
        .count();
    ensure!(log == 1, "gold has {log} RESTORE commits, expected 1");
    ensure!(!intent.exists(), "the replay left its intent behind");
    Ok(())
}
