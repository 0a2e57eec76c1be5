//! `sluice table ...` end to end, on tables the real binary wrote, checked with DuckDB's
//! `delta_scan` (`tests/python/table_tool.py`):
//! - `restore --version k` makes the table hold exactly what version k held, computed
//!   independently from a copy of the table whose log is cut back to k;
//! - `optimize`, run again and again next to a streaming job appending to the same tables,
//!   neither fails the job nor changes a row, and `vacuum` afterwards changes no row either;
//! - every command on a missing table fails with one clean `error:` line.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use sluice_tests::{
    DEMO_TABLES, Demo, check_same_tables, expect_clean_failure, python, run_with_timeout, serial,
    sluice_bin, spawn_logged, tail, tests_dir, work_dir,
};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");

fn sluice_table<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Result<Command> {
    let mut cmd = Command::new(sluice_bin()?);
    cmd.arg("table").args(args);
    Ok(cmd)
}

fn show<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> String {
    args.iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `sluice table ARGS --json`, which must succeed; its JSON output.
fn table_json<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Result<Value> {
    let mut cmd = sluice_table(args)?;
    cmd.arg("--json");
    let what = format!("sluice table {} --json", show(args));
    let out = run_with_timeout(cmd, Duration::from_secs(300))?;
    out.require_success(&what)?;
    serde_json::from_str(out.stdout.trim())
        .with_context(|| format!("{what}: stdout is not JSON:\n{}", out.stdout))
}

/// Runs `table_tool.py ARGS`; its JSON line, which must say ok.
fn tool<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Result<Value> {
    let mut cmd = Command::new(python()?);
    cmd.arg(tests_dir().join("python").join("table_tool.py"))
        .args(args);
    let what = format!("table_tool.py {}", show(args));
    let out = run_with_timeout(cmd, Duration::from_secs(300))?;
    let json: Value = out
        .stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .and_then(|l| serde_json::from_str(l).ok())
        .with_context(|| {
            format!(
                "{what}: no JSON ({})\n{}\n{}",
                out.status,
                tail(&out.stdout, 20),
                tail(&out.stderr, 20)
            )
        })?;
    ensure!(
        out.status.success() && json["ok"] == Value::Bool(true),
        "{what}: check FAILED\n{}\n{}",
        serde_json::to_string_pretty(&json)?,
        tail(&out.stderr, 20)
    );
    Ok(json)
}

fn version(description: &Value) -> Result<i64> {
    description["version"]
        .as_i64()
        .with_context(|| format!("no version in {description}"))
}

/// Restoring version k of a table makes it hold exactly what version k held (computed
/// from a copy whose log stops at k, past a checkpoint newer than k), as a new version
/// that the history shows as a RESTORE on top.
#[test]
fn restore_makes_an_earlier_version_current_again() -> Result<()> {
    let _serial = serial();
    let started = Instant::now();
    let dir = work_dir(TMP, "table_restore")?;
    // 8 epochs of 5000 events: every table gets versions 0 (creation) to 8.
    Demo::new(40_000, 4, 5_000, 42).run(&dir)?;
    for (table, k) in [("silver", 3i64), ("gold_user_activity", 5), ("bronze", 1)] {
        let path = dir.join("tables").join(table);
        // A checkpoint of the latest version: newer than k, so restore must look past it
        // and the copy must lose it.
        let latest = version(&table_json(&[
            OsString::from("describe"),
            path.clone().into(),
        ])?)?;
        ensure!(latest >= k + 3, "{table}: only {latest} versions");
        let mut cmd = sluice_table(&[OsString::from("checkpoint"), path.clone().into()])?;
        cmd.arg("--json");
        run_with_timeout(cmd, Duration::from_secs(120))?.require_success("table checkpoint")?;
        let log = path.join("_delta_log");
        ensure!(
            log.join(format!("{latest:020}.checkpoint.parquet"))
                .exists()
                && log.join("_last_checkpoint").exists(),
            "{table}: `sluice table checkpoint` wrote no checkpoint for version {latest}"
        );

        let copy = dir.join("expected").join(format!("{table}_v{k}"));
        let cut = tool(&[
            OsString::from("copy-at-version"),
            "--table".into(),
            path.clone().into(),
            "--version".into(),
            k.to_string().into(),
            "--to".into(),
            copy.clone().into(),
        ])?;
        println!("{table}: {cut}");
        // The copy must differ from the current table, or restoring would prove nothing.
        let mut cmd = Command::new(python()?);
        cmd.arg(tests_dir().join("python").join("table_tool.py"))
            .arg("same")
            .arg("--a")
            .arg(&path)
            .arg("--b")
            .arg(&copy);
        let before = run_with_timeout(cmd, Duration::from_secs(120))?;
        ensure!(
            before.status.code() == Some(1),
            "{table}: version {k} should differ from version {latest}: {}{}",
            before.stdout,
            before.stderr
        );

        let restored = table_json(&[
            OsString::from("restore"),
            path.clone().into(),
            "--version".into(),
            k.to_string().into(),
        ])?;
        println!("{table}: restore --version {k}: {restored}");
        ensure!(
            version(&restored)? == latest + 1,
            "{table}: restore should commit version {}: {restored}",
            latest + 1
        );
        let same = tool(&[
            OsString::from("same"),
            "--a".into(),
            path.clone().into(),
            "--b".into(),
            copy.clone().into(),
        ])?;
        println!("{table}: restored vs version {k}: {same}");

        let history = table_json(&[OsString::from("history"), path.clone().into()])?;
        let top = &history[0];
        ensure!(
            top["operation"] == "RESTORE" && top["version"] == latest + 1,
            "{table}: the newest commit should be the RESTORE, version {}: {}",
            latest + 1,
            serde_json::to_string_pretty(&history[0])?
        );
        ensure!(
            history[1]["version"] == latest && history[1]["operation"] == "STREAMING UPDATE",
            "{table}: below the RESTORE should be the last epoch: {}",
            history[1]
        );
        let described = table_json(&[OsString::from("describe"), path.clone().into()])?;
        ensure!(
            version(&described)? == latest + 1 && described["rows"] == same["rows_b"],
            "{table}: describe after restore: {described}, expected version {} and {} rows",
            latest + 1,
            same["rows_b"]
        );
    }

    // A version the log does not hold: a clean error, and the table is untouched.
    let silver = dir.join("tables").join("silver");
    let before = version(&table_json(&[
        OsString::from("describe"),
        silver.clone().into(),
    ])?)?;
    expect_clean_failure(
        "restore a version that does not exist",
        sluice_table(&[
            OsString::from("restore"),
            silver.clone().into(),
            "--version".into(),
            "999".into(),
        ])?,
        &["999"],
    )?;
    let after = version(&table_json(&[OsString::from("describe"), silver.into()])?)?;
    ensure!(
        before == after,
        "a failed restore committed: {before} -> {after}"
    );
    println!("restore test: {:.1?}", started.elapsed());
    Ok(())
}

/// A child process killed (by its own id) if the test leaves early.
struct Running {
    child: Child,
    what: String,
    log: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Running {
    fn wait(mut self, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            ensure!(
                Instant::now() < deadline,
                "{} did not finish within {timeout:?}",
                self.what
            );
            thread::sleep(Duration::from_millis(50));
        };
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        ensure!(
            status.success(),
            "`{}` exited with {status}\n{}",
            self.what,
            tail(&log, 40)
        );
        Ok(log)
    }
}

/// The demo job (`config/user-activity.yaml`, which `sluice demo` embeds) on a slow
/// trigger: many small epochs, one every 300 ms.
fn paced_job(out: &Path, log: &Path) -> Result<Running> {
    let job = tests_dir()
        .join("..")
        .join("config")
        .join("user-activity.yaml");
    let mut cmd = Command::new(sluice_bin()?);
    cmd.arg("run").arg(&job);
    for set in [
        "source.generator.events=20000".to_string(),
        "source.generator.seed=7".to_string(),
        "trigger.records-per-epoch=500".to_string(),
        "trigger.interval=300ms".to_string(),
        format!("output.dir={}", out.display()),
    ] {
        cmd.arg("--set").arg(set);
    }
    let what = format!(
        "sluice run {} ... --set output.dir={}",
        job.display(),
        out.display()
    );
    println!("$ {what}");
    Ok(Running {
        child: spawn_logged(cmd, log)?,
        what,
        log: log.to_path_buf(),
    })
}

/// Latest version of a table from its log folder, without opening it.
fn log_version(table: &Path) -> Option<u64> {
    std::fs::read_dir(table.join("_delta_log"))
        .ok()?
        .flatten()
        .filter_map(|f| {
            let name = f.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".json")?;
            stem.parse().ok()
        })
        .max()
}

/// `optimize` (dataChange = false) runs again and again while a streaming job appends to
/// the same tables: every optimize succeeds, the job exits 0, and every table ends up with
/// the rows of a run of the same job without optimize (counts, exact sums, full rows).
/// `vacuum --retention 0s --force` afterwards deletes the compacted-away files and
/// changes no row.
#[test]
fn optimize_next_to_a_streaming_append_changes_no_row() -> Result<()> {
    let _serial = serial();
    let started = Instant::now();
    let base = work_dir(TMP, "table_optimize")?;
    let (busy, clean) = (base.join("busy"), base.join("clean"));
    // The reference run goes at the same time: the paced job leaves the cores idle.
    let clean_run = paced_job(&clean, &base.join("clean.log"))?;
    let busy_run = paced_job(&busy, &base.join("busy.log"))?;

    let tables = busy.join("tables");
    let deadline = Instant::now() + Duration::from_secs(120);
    while ["bronze", "silver"]
        .iter()
        .any(|t| log_version(&tables.join(t)).is_none_or(|v| v < 3))
    {
        ensure!(
            Instant::now() < deadline,
            "the job wrote no 3 epochs in 120 s"
        );
        thread::sleep(Duration::from_millis(100));
    }

    let mut compacted_while_running = Vec::new();
    let mut round = 0;
    let mut busy_run = Some(busy_run);
    while busy_run
        .as_mut()
        .is_some_and(|r| matches!(r.child.try_wait(), Ok(None)))
    {
        ensure!(
            Instant::now() < deadline + Duration::from_secs(300),
            "the job is still running after 7 minutes"
        );
        round += 1;
        for table in ["silver", "bronze"] {
            let path = tables.join(table);
            let mut args = vec![OsString::from("optimize"), path.into()];
            if table == "bronze" && round % 2 == 0 {
                args.push("--zorder".into());
                args.push("user_id,event_type".into());
            }
            let report = table_json(&args)?;
            let still_running = busy_run
                .as_mut()
                .is_some_and(|r| matches!(r.child.try_wait(), Ok(None)));
            println!("round {round}: optimize {table}: {report} (job running: {still_running})");
            if still_running && report["files_removed"].as_u64().unwrap_or(0) > 1 {
                compacted_while_running.push((table, round));
            }
        }
        thread::sleep(Duration::from_millis(700));
    }
    let busy_log = busy_run
        .take()
        .context("the busy run")?
        .wait(Duration::from_secs(10))?;
    clean_run.wait(Duration::from_secs(300))?;
    ensure!(
        !busy_log.lines().any(|l| l.starts_with("error:")),
        "the job logged an error:\n{}",
        tail(&busy_log, 40)
    );
    for table in ["silver", "bronze"] {
        ensure!(
            compacted_while_running.iter().any(|(t, _)| *t == table),
            "no optimize of {table} compacted files while the job ran ({compacted_while_running:?}); \
             the test proved nothing"
        );
    }
    // The job kept committing after an optimize: the history interleaves them.
    let history = table_json(&[OsString::from("history"), tables.join("silver").into()])?;
    let ops: Vec<&str> = history
        .as_array()
        .context("history is a list")?
        .iter()
        .rev()
        .filter_map(|h| h["operation"].as_str())
        .collect();
    let first_optimize = ops.iter().position(|o| *o == "OPTIMIZE");
    ensure!(
        first_optimize.is_some_and(|i| ops[i..].contains(&"STREAMING UPDATE")),
        "silver's history should interleave OPTIMIZE and STREAMING UPDATE commits: {ops:?}"
    );

    let compare = |when: &str| -> Result<()> {
        let stats = tool(&[
            OsString::from("compare-stats"),
            "--a".into(),
            busy.clone().into(),
            "--b".into(),
            clean.clone().into(),
            "--tables".into(),
            DEMO_TABLES.join(",").into(),
        ])
        .with_context(|| format!("{when}: counts and sums differ from the run without optimize"))?;
        println!("{when}: {stats}");
        check_same_tables(&busy, &clean, &DEMO_TABLES, None)
            .with_context(|| format!("{when}: rows differ from the run without optimize"))?;
        Ok(())
    };
    compare("after the run")?;

    for table in DEMO_TABLES {
        let path = tables.join(table);
        let vacuum = |dry: bool| -> Result<Value> {
            let mut args = vec![
                OsString::from("vacuum"),
                path.clone().into(),
                "--retention".into(),
                "0s".into(),
                "--force".into(),
            ];
            if dry {
                args.push("--dry-run".into());
            }
            table_json(&args)
        };
        let dry = vacuum(true)?;
        let done = vacuum(false)?;
        ensure!(
            dry["files"] == done["files"] && dry["dry_run"] == true && done["dry_run"] == false,
            "{table}: vacuum deleted other files than its dry run listed:\n{dry}\n{done}"
        );
        let n = done["files"].as_array().map_or(0, Vec::len);
        println!("{table}: vacuum deleted {n} files");
        if table == "silver" || table == "bronze" {
            ensure!(
                n > 0,
                "{table}: vacuum deleted nothing, yet optimize replaced files"
            );
        }
        for f in done["files"].as_array().into_iter().flatten() {
            let f = f.as_str().unwrap_or_default();
            ensure!(
                !path.join(f).exists(),
                "{table}: vacuum reported {f} deleted but it is still there"
            );
        }
        // deltalake lists every expired tombstone again (deleted or not), so a second
        // vacuum may name the same files; none of them may be a file that still exists.
        let again = vacuum(true)?;
        for f in again["files"].as_array().into_iter().flatten() {
            let f = f.as_str().unwrap_or_default();
            ensure!(
                !path.join(f).exists(),
                "{table}: a second vacuum would delete {f}, which the first one kept"
            );
        }
    }
    compare("after vacuum")?;
    println!("optimize test: {:.1?}", started.elapsed());
    Ok(())
}

/// Every `sluice table` command on a path that does not exist, or is not a Delta table,
/// fails with one `error:` line naming it, and creates nothing.
#[test]
fn table_commands_on_a_missing_table_fail_with_one_clean_error() -> Result<()> {
    let dir = work_dir(TMP, "table_missing")?;
    let missing = dir.join("no-such-table");
    let not_a_table = dir.join("just-a-folder");
    std::fs::create_dir_all(&not_a_table)?;
    std::fs::write(not_a_table.join("data.txt"), "not delta")?;
    let commands: [&[&str]; 7] = [
        &["describe"],
        &["history"],
        &["optimize"],
        &["vacuum", "--retention", "0s", "--force"],
        &["restore", "--version", "0"],
        &["checkpoint"],
        &["describe", "--json"],
    ];
    for (path, needle) in [
        (&missing, "no such directory"),
        (&not_a_table, "not a Delta table"),
    ] {
        for command in commands {
            let mut args: Vec<OsString> = vec![command[0].into(), path.into()];
            args.extend(command[1..].iter().map(OsString::from));
            let what = format!("sluice table {}", show(&args));
            let out = run_with_timeout(sluice_table(&args)?, Duration::from_secs(60))?;
            ensure!(
                out.stdout.trim().is_empty(),
                "{what}: printed to stdout on failure: {}",
                out.stdout
            );
            expect_clean_failure(
                &what,
                sluice_table(&args)?,
                &[&path.display().to_string(), needle],
            )?;
        }
    }
    ensure!(
        !missing.exists(),
        "a command created {} while failing",
        missing.display()
    );
    let left: Vec<_> = std::fs::read_dir(&not_a_table)?
        .flatten()
        .map(|e| e.file_name())
        .collect();
    if left.len() != 1 {
        bail!("a command wrote into {}: {left:?}", not_a_table.display());
    }
    Ok(())
}

/// `sluice table diff`: two demo runs with the same seed hold the same rows (exit 0); after
/// `sluice table delete` removes some of one's gold rows and `update` changes others, the
/// diff counts exactly those (DuckDB counts them independently, before the edits) and
/// exits 1, as multisets and by key.
#[test]
fn table_diff_counts_the_rows_only_on_one_side() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "table-diff")?;
    let demo = Demo::new(40_000, 2, 10_000, 5);
    demo.run(&dir.join("a"))?;
    demo.run(&dir.join("b"))?;
    let gold = |d: &str| dir.join(d).join("tables").join("gold_user_activity");
    let same = table_json(&[
        "diff".as_ref(),
        gold("a").as_os_str(),
        gold("b").as_os_str(),
    ])?;
    ensure!(
        same["only_in_a"] == 0 && same["only_in_b"] == 0,
        "two runs of the same demo differ: {same}"
    );

    // Independent counts of what the edits touch.
    let deleted = sluice_tests::duckdb_count(&format!(
        "SELECT count(*) FROM delta_scan('{}') WHERE event_type = 'purchase'",
        gold("b").display()
    ))?;
    let updated = sluice_tests::duckdb_count(&format!(
        "SELECT count(*) FROM delta_scan('{}') WHERE event_type = 'search' AND user_id < 'user_0100'",
        gold("b").display()
    ))?;
    ensure!(
        deleted > 0 && updated > 0,
        "nothing to edit: {deleted}, {updated}"
    );
    let gold_b = gold("b").display().to_string();
    run_with_timeout(
        sluice_table(&["delete", &gold_b, "--where", "event_type = 'purchase'"])?,
        Duration::from_secs(120),
    )?
    .require_success("table delete")?;
    run_with_timeout(
        sluice_table(&[
            "update",
            &gold_b,
            "--where",
            "event_type = 'search' AND user_id < 'user_0100'",
            "--set",
            "event_count=event_count + 1",
        ])?,
        Duration::from_secs(120),
    )?
    .require_success("table update")?;

    let gold_a = gold("a").display().to_string();
    let mut cmd = sluice_table(&["diff", &gold_a, &gold_b, "--json", "--sample", "3"])?;
    cmd.env("RUST_LOG", "warn");
    let out = run_with_timeout(cmd, Duration::from_secs(300))?;
    ensure!(
        out.status.code() == Some(1) && out.stderr.contains("the tables differ"),
        "diff of edited tables: exit {:?}, stderr {}",
        out.status.code(),
        out.stderr
    );
    let rows: Value = serde_json::from_str(out.stdout.trim())?;
    ensure!(
        rows["only_in_a"] == deleted + updated && rows["only_in_b"] == updated,
        "as multisets: {rows}, expected {} only in A and {updated} only in B",
        deleted + updated
    );
    let key = "window_start,window_end,user_id,event_type";
    let mut cmd = sluice_table(&["diff", &gold_a, &gold_b, "--key", key, "--json"])?;
    cmd.env("RUST_LOG", "warn");
    let out = run_with_timeout(cmd, Duration::from_secs(300))?;
    let keyed: Value = serde_json::from_str(out.stdout.trim())?;
    ensure!(
        out.status.code() == Some(1)
            && keyed["only_in_a"] == deleted
            && keyed["only_in_b"] == 0
            && keyed["changed"] == updated,
        "by key: {keyed}, expected {deleted} only in A, none only in B, {updated} changed"
    );
    let sample = &keyed["samples"]["changed"][0];
    ensure!(
        sample["b.event_count"].as_i64() == sample["a.event_count"].as_i64().map(|n| n + 1),
        "a changed row's sample shows both sides: {sample}"
    );
    Ok(())
}
