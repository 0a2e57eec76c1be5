//! `sluice replay` end to end, on the user-activity job (200,000 generated events in 20
//! epochs, a snapshot every 5). After the run, a "bug" deletes rows from the finished
//! silver and gold tables. `--dry-run` must change nothing; `--in-place --from-epoch 12`
//! restarts after the snapshot of epoch 10, restores every table to its version before
//! epoch 11 (before the damage), rewinds the checkpoint and reruns the job: every table
//! must then equal a copy taken before the damage (DuckDB reads both), each record must
//! land once, and `sluice run` must refuse to start while a replay is under way. Before
//! that, `--into DIR` replays into shadow tables: they must equal the clean copy while the
//! damaged production tables stay as they are, and `sluice table diff` must tell them apart.
//!
//! Edited job files: an edit whose state fits replays from the snapshot; one whose state
//! does not is refused, and with `--reset-state` rebuilt from epoch 0 to equal a fresh run
//! of the edited file.
//!
//! Savepoints: a savepoint taken after a `kill -9`, kept while retention removes that
//! epoch from the live checkpoint, then `sluice run --from-savepoint` with another worker
//! count after the tables were damaged, must end with every table equal to a clean run.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use sluice_tests::{
    DEMO_TABLES, check_accounting, check_same_tables, copy_tree, delta_versions, python_tool,
    run_with_timeout, s3_endpoint, serial, sluice_bin, spawn_logged, tests_dir, work_dir,
};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");
const EVENTS: u64 = 200_000;

fn sluice(out: &Path, args: &[&str]) -> Result<Command> {
    sluice_job(&tests_dir().join("../config/user-activity.yaml"), out, args)
}

/// `sluice ARGS JOB` for the job file `job`, with the test's output and epochs.
fn sluice_job(job: &Path, out: &Path, args: &[&str]) -> Result<Command> {
    let mut cmd = Command::new(sluice_bin()?);
    cmd.args(args)
        .arg(job)
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

    // An edited plan whose state does not fit is refused before anything changes, naming
    // what differs.
    let mut edited = sluice(&out, &["replay", "--from-epoch", "12", "--in-place"])?;
    edited.args(["--set", "gold.window.size=10m"]);
    let refused = run_with_timeout(edited, Duration::from_secs(120))?;
    ensure!(
        !refused.status.success()
            && refused.stderr.contains("its state does not fit")
            && refused
                .stderr
                .contains("window was `sliding 300s every 60s`, is `sliding 600s every 60s`"),
        "a replay with an edited window was not refused:\n{}",
        refused.stderr
    );
    ensure!(
        delta_versions(&out)? == before,
        "the refused replay changed a table"
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

    // A replay into shadow tables recomputes them from the same epochs and leaves the
    // damaged production tables as they are; `table diff` tells them apart.
    let shadow = dir.join("shadow");
    let into_shadow = || -> Result<sluice_tests::RunOutput> {
        let into = shadow.display().to_string();
        let args = ["replay", "--from-epoch", "12", "--into", &into];
        run_with_timeout(sluice(&out, &args)?, Duration::from_secs(600))
    };
    let into = into_shadow()?;
    into.require_success("replay --into")?;
    ensure!(
        delta_versions(&out)? == before,
        "the shadow replay changed a production table"
    );
    check_same_tables(&clean, &shadow, &DEMO_TABLES, Some(1e-9))?;
    let diff = |a: &Path, b: &Path| -> Result<sluice_tests::RunOutput> {
        let mut cmd = Command::new(sluice_bin()?);
        cmd.args(["table", "diff"])
            .arg(a.join("tables/silver"))
            .arg(b.join("tables/silver"))
            .args(["--key", "event_id"]);
        run_with_timeout(cmd, Duration::from_secs(120))
    };
    let damaged = diff(&out, &shadow)?;
    ensure!(
        !damaged.status.success()
            && format!("{}{}", damaged.stdout, damaged.stderr).contains("only in A"),
        "table diff did not tell the damaged silver from the shadow's:\n{}{}",
        damaged.stdout,
        damaged.stderr
    );
    diff(&clean, &shadow)?.require_success("table diff of the clean and shadow silver")?;
    let refused = into_shadow()?;
    ensure!(
        !refused.status.success() && refused.stderr.contains("is not empty"),
        "a shadow replay into a used directory was not refused:\n{}",
        refused.stderr
    );

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

#[test]
fn a_savepoint_outlives_retention_and_restarts_the_job_with_another_worker_count() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "savepoint")?;
    let (out, clean) = (dir.join("out"), dir.join("clean"));
    run_with_timeout(sluice(&clean, &["run"])?, Duration::from_secs(600))?
        .require_success("clean run")?;

    // A paced run, killed once the snapshot of epoch 5 is committed.
    let paced = |cmd: &mut Command| {
        cmd.args([
            "--set",
            "trigger.interval=300ms",
            "--set",
            "checkpoint.keep=1",
        ]);
    };
    let mut cmd = sluice(&out, &["run"])?;
    paced(&mut cmd);
    let mut child = spawn_logged(cmd, &dir.join("first.log"))?;
    let marker = out.join("checkpoints/user-activity/commits/00000000000000000005");
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    while !marker.exists() {
        ensure!(child.try_wait()?.is_none(), "the job ended before epoch 5");
        ensure!(
            std::time::Instant::now() < deadline,
            "epoch 5 not committed in 300 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill()?;
    ensure!(
        !child.wait()?.success(),
        "the job was not running when killed"
    );

    let created = run_with_timeout(
        sluice(&out, &["savepoint", "create", "--name", "sp"])?,
        Duration::from_secs(120),
    )?;
    created.require_success("savepoint create")?;
    let epoch: u64 = created
        .stdout
        .split("epoch ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .with_context(|| format!("no epoch in {}", created.stdout))?;
    ensure!(epoch >= 5, "savepoint of epoch {epoch}");

    // The job runs to its end; retention (keep 1) drops the savepoint's epoch from the
    // live checkpoint, not from the savepoint.
    let mut cmd = sluice(&out, &["run"])?;
    paced(&mut cmd);
    run_with_timeout(cmd, Duration::from_secs(600))?.require_success("run to the end")?;
    let live_state = out.join(format!("checkpoints/user-activity/state/{epoch:020}"));
    ensure!(
        !live_state.exists(),
        "retention kept {}",
        live_state.display()
    );
    let listed = run_with_timeout(
        sluice(&out, &["savepoint", "list"])?,
        Duration::from_secs(60),
    )?;
    listed.require_success("savepoint list")?;
    ensure!(
        listed.stdout.contains("sp "),
        "not listed:\n{}",
        listed.stdout
    );

    let mut cmd = Command::new(sluice_bin()?);
    cmd.args(["table", "delete"])
        .arg(out.join("tables/gold_user_activity"))
        .args(["--where", "event_type = 'view'"]);
    run_with_timeout(cmd, Duration::from_secs(120))?.require_success("table delete")?;

    let mut cmd = sluice(&out, &["run", "--from-savepoint", "sp", "--workers", "3"])?;
    paced(&mut cmd);
    let restored = run_with_timeout(cmd, Duration::from_secs(600))?;
    restored.require_success("run --from-savepoint")?;
    ensure!(
        restored
            .stdout
            .contains(&format!("restoring savepoint \"sp\" (epoch {epoch})")),
        "{}",
        restored.stdout
    );
    check_same_tables(&clean, &out, &DEMO_TABLES, Some(1e-9))?;
    check_accounting(&out, EVENTS, 4)?;
    Ok(())
}

/// Replays with edited job files. The checkpoint keeps every epoch (`checkpoint.keep`
/// 100), so a rebuild of the state can start from epoch 0.
///
/// 1. An edit whose state fits (silver's `CAST` written in lower case: a new plan
///    fingerprint, the same rows) replays from epoch 12, into a shadow directory and then
///    in place, resuming the window from the snapshot of epoch 10: the tables must equal
///    the first run's, and the checkpoint must then hold the edited plan (`sluice run`
///    refuses the original file and accepts the edited one).
/// 2. An edit whose state does not fit (gold's window of 10 minutes, not 5) is refused,
///    naming the window; with `--reset-state` the replay restarts at epoch 0 with empty
///    state, and every table must equal a fresh run of the edited file in another
///    directory.
#[test]
fn an_edited_plan_replays_when_its_state_fits_and_rebuilds_state_when_asked() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "replay_edited")?;
    let (out, clean) = (dir.join("out"), dir.join("clean"));
    let original = tests_dir().join("../config/user-activity.yaml");
    let text = std::fs::read_to_string(&original)?;
    let edit = |from: &str, to: &str, name: &str| -> Result<std::path::PathBuf> {
        ensure!(text.contains(from), "the job file lacks `{from}`");
        let path = dir.join(name);
        std::fs::write(&path, text.replace(from, to))?;
        Ok(path)
    };
    let fits = edit(
        "CAST(event_time AS DATE)",
        "cast(event_time as date)",
        "fits.yaml",
    )?;
    let wider = edit("size: 5m, slide: 1m", "size: 10m, slide: 1m", "wider.yaml")?;
    let keep_all = |mut cmd: Command| {
        cmd.args(["--set", "checkpoint.keep=100"]);
        cmd
    };
    let run =
        |job: &Path, out: &Path, args: &[&str], what: &str| -> Result<sluice_tests::RunOutput> {
            let result = run_with_timeout(
                keep_all(sluice_job(job, out, args)?),
                Duration::from_secs(600),
            )?;
            result.require_success(what)?;
            Ok(result)
        };
    run(&original, &out, &["run"], "run")?;
    copy_tree(&out, &clean)?;
    let fingerprint = |dir: &Path| -> Result<String> {
        let path = dir.join("checkpoints/user-activity/metadata.json");
        let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
        meta["plan_fingerprint"]
            .as_str()
            .map(str::to_owned)
            .context("plan_fingerprint")
    };
    let first = fingerprint(&out)?;

    // 1. An edit whose state fits: into a shadow directory, then in place.
    let shadow = dir.join("shadow");
    let into = shadow.display().to_string();
    let replayed = run(
        &fits,
        &out,
        &["replay", "--from-epoch", "12", "--into", &into],
        "replay --into with an edited plan",
    )?;
    ensure!(
        replayed.stdout.contains("its state fits the checkpoint's")
            && replayed.stdout.contains("after the snapshot of epoch 10"),
        "{}",
        replayed.stdout
    );
    check_same_tables(&clean, &shadow, &DEMO_TABLES, Some(1e-9))?;
    ensure!(
        fingerprint(&out)? == first,
        "the shadow replay changed production's checkpoint"
    );
    ensure!(
        fingerprint(&shadow)? != first,
        "the shadow checkpoint kept the old plan"
    );
    run(
        &fits,
        &out,
        &["replay", "--from-epoch", "12", "--in-place"],
        "replay --in-place with an edited plan",
    )?;
    check_same_tables(&clean, &out, &DEMO_TABLES, Some(1e-9))?;
    check_accounting(&out, EVENTS, 4)?;
    let old_plan = run_with_timeout(
        keep_all(sluice_job(&original, &out, &["run"])?),
        Duration::from_secs(120),
    )?;
    ensure!(
        !old_plan.status.success() && old_plan.stderr.contains("written by another plan"),
        "the original job file still runs on the edited checkpoint:\n{}",
        old_plan.stderr
    );
    run(&fits, &out, &["run"], "run of the edited job file")?;

    // 2. An edit whose state does not fit: refused, then rebuilt with --reset-state.
    let before = delta_versions(&out)?;
    let refused = run_with_timeout(
        keep_all(sluice_job(
            &wider,
            &out,
            &["replay", "--from-epoch", "12", "--in-place"],
        )?),
        Duration::from_secs(120),
    )?;
    ensure!(
        !refused.status.success()
            && refused
                .stderr
                .contains("window was `sliding 300s every 60s`, is `sliding 600s every 60s`")
            && refused.stderr.contains("--reset-state"),
        "a replay with a wider window was not refused:\n{}",
        refused.stderr
    );
    ensure!(
        delta_versions(&out)? == before,
        "the refused replay changed a table"
    );
    let dry = run(
        &wider,
        &out,
        &["replay", "--from-epoch", "12", "--reset-state", "--dry-run"],
        "replay --reset-state --dry-run",
    )?;
    ensure!(
        dry.stdout.contains("the state is rebuilt from epoch 0")
            && dry.stdout.contains("restarts at epoch 0"),
        "{}",
        dry.stdout
    );
    ensure!(
        delta_versions(&out)? == before,
        "the dry run changed a table"
    );
    let rebuilt = run(
        &wider,
        &out,
        &[
            "replay",
            "--from-epoch",
            "12",
            "--reset-state",
            "--in-place",
        ],
        "replay --reset-state --in-place",
    )?;
    ensure!(
        rebuilt.stdout.contains("checkpoint rewound to epoch 0"),
        "{}",
        rebuilt.stdout
    );
    let fresh = dir.join("fresh");
    run(&wider, &fresh, &["run"], "a fresh run of the wider window")?;
    check_same_tables(&fresh, &out, &DEMO_TABLES, Some(1e-9))?;
    check_accounting(&out, EVENTS, 4)?;
    Ok(())
}

/// `--into` for a job on S3 (moto): its checkpoint and tables are copied through the
/// object-store API into a local shadow directory and replayed there. Production's tables
/// keep their versions, and the shadow tables equal production's (both read by DuckDB).
#[test]
fn a_shadow_replay_copies_a_job_on_s3_into_a_local_directory() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "replay_s3")?;
    let bucket = format!("sluice-replay-{}", std::process::id());
    python_tool(
        "s3_tool.py",
        &["mkbucket", &bucket],
        Duration::from_secs(300),
    )?;
    let prod = format!("s3://{bucket}/prod");
    let on_s3 = |args: &[&str]| -> Result<Command> {
        let mut cmd = sluice(Path::new(&prod), args)?;
        cmd.env("AWS_ENDPOINT_URL", s3_endpoint()?);
        Ok(cmd)
    };
    let download = |name: &str| -> Result<std::path::PathBuf> {
        let to = dir.join(name);
        let args = [
            "download",
            bucket.as_str(),
            "prod",
            &to.display().to_string(),
        ];
        python_tool("s3_tool.py", &args, Duration::from_secs(300))?;
        Ok(to)
    };
    run_with_timeout(on_s3(&["run"])?, Duration::from_secs(600))?.require_success("run on S3")?;
    let before = download("before")?;
    let shadow = dir.join("shadow").display().to_string();
    let into = run_with_timeout(
        on_s3(&["replay", "--from-epoch", "12", "--into", &shadow])?,
        Duration::from_secs(600),
    )?;
    into.require_success("replay --into from S3")?;
    ensure!(
        into.stderr.contains("objects (") && into.stdout.contains("after the snapshot of epoch 10"),
        "{}{}",
        into.stdout,
        into.stderr
    );
    let after = download("after")?;
    ensure!(
        delta_versions(&after)? == delta_versions(&before)?,
        "the shadow replay changed a production table on S3"
    );
    check_same_tables(&before, Path::new(&shadow), &DEMO_TABLES, Some(1e-9))?;
    Ok(())
}

/// The epoch whose commit made `version` of the Delta table at `table`, read from the
/// table's own log (the job's `txn` action), not from the checkpoint.
fn txn_epoch_of_version(table: &Path, version: u64) -> Result<u64> {
    let log = table.join("_delta_log").join(format!("{version:020}.json"));
    let text =
        std::fs::read_to_string(&log).with_context(|| format!("reading {}", log.display()))?;
    for line in text.lines() {
        let action: serde_json::Value = serde_json::from_str(line)?;
        if let Some(v) = action
            .pointer("/txn/version")
            .and_then(serde_json::Value::as_u64)
        {
            return Ok(v);
        }
    }
    anyhow::bail!("{} has no txn action", log.display())
}

#[test]
fn a_replay_from_a_table_version_or_a_time_starts_where_it_should() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "replay_from")?;
    let out = dir.join("out");
    let before_run = chrono::Utc::now() - chrono::Duration::seconds(5);
    run_with_timeout(sluice(&out, &["run"])?, Duration::from_secs(600))?.require_success("run")?;
    let after_run = chrono::Utc::now() + chrono::Duration::seconds(5);
    let gold = out.join("tables").join("gold_user_activity");
    let expected = txn_epoch_of_version(&gold, 13)?;
    let dry = run_with_timeout(
        sluice(
            &out,
            &[
                "replay",
                "--from-version",
                "gold_user_activity@13",
                "--dry-run",
            ],
        )?,
        Duration::from_secs(120),
    )?;
    dry.require_success("replay --from-version --dry-run")?;
    ensure!(
        dry.stdout.contains(&format!("is epoch {expected}\n")),
        "gold's version 13 was committed by epoch {expected} (its txn), but:\n{}",
        dry.stdout
    );
    // Before the run: every epoch qualifies, but the checkpoint keeps the commits of the
    // last ones only, so the start cannot be found and the command says so.
    let since_start = run_with_timeout(
        sluice(
            &out,
            &[
                "replay",
                "--from-time",
                &before_run.to_rfc3339(),
                "--dry-run",
            ],
        )?,
        Duration::from_secs(120),
    )?;
    ensure!(
        !since_start.status.success() && since_start.stderr.contains("oldest whose commit"),
        "a time before the retained commits must be refused:\n{}{}",
        since_start.stdout,
        since_start.stderr
    );
    // At epoch 15's commit time: the first retained epoch committed at or after it.
    let commits = out
        .join("checkpoints")
        .join("user-activity")
        .join("commits");
    let committed_at = |e: u64| -> Result<i64> {
        let text = std::fs::read_to_string(commits.join(format!("{e:020}")))?;
        let marker: serde_json::Value = serde_json::from_str(&text)?;
        marker["committed_at_ms"]
            .as_i64()
            .context("committed_at_ms")
    };
    let at = committed_at(15)?;
    let mut expected = 15;
    while expected > 10 && committed_at(expected - 1)? >= at {
        expected -= 1;
    }
    let time = chrono::DateTime::from_timestamp_millis(at)
        .context("a time")?
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let since = run_with_timeout(
        sluice(&out, &["replay", "--from-time", &time, "--dry-run"])?,
        Duration::from_secs(120),
    )?;
    since.require_success("replay --from-time --dry-run")?;
    ensure!(
        since.stdout.contains(&format!(
            "is epoch {expected}: the job reads no Kafka topic, so the first epoch committed"
        )),
        "epoch {expected} is the first committed at or after {time}:\n{}",
        since.stdout
    );
    let future = run_with_timeout(
        sluice(
            &out,
            &[
                "replay",
                "--from-time",
                &after_run.to_rfc3339(),
                "--dry-run",
            ],
        )?,
        Duration::from_secs(120),
    )?;
    ensure!(
        !future.status.success() && future.stderr.contains("was committed at or after"),
        "no epoch was committed after the run, yet:\n{}{}",
        future.stdout,
        future.stderr
    );
    Ok(())
}
