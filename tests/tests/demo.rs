//! End-to-end tests of `sluice demo`: the real binary writes Delta tables, and an
//! independent reader (DuckDB's Delta extension, via `tests/python/delta_checks.py`)
//! checks them.
//!
//! Run with `scripts/test`, which sets `SLUICE_BIN` and `SLUICE_PYTHON`. The binary
//! is a debug build there, so event counts stay modest. Each test's work folder is
//! kept under `$CARGO_TARGET_TMPDIR/e2e/<name>` for inspection, and wiped when the
//! test runs again.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, bail, ensure};
use sluice_tests::{
    DEMO_TABLES, Demo, SplitMix64, check_accounting, check_counts, check_gold_vs_silver,
    check_same_tables, copy_tree, delta_commit_count, delta_versions, demo_timeout, dlq_kinds,
    json_u64, same_tables_report, serial, spawn_logged, tail, test_seed, work_dir,
};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");
const PARTITIONS: u32 = 4;

/// The run shared by the gold and accounting tests: default fractions, so parse
/// errors, rule violations and late records are all present.
fn default_demo() -> Demo {
    Demo::new(40_000, PARTITIONS, 4_000, 42)
}

/// Runs [`default_demo`] once per test binary and returns its folder.
fn default_run() -> Result<(PathBuf, Demo)> {
    static RUN: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    let demo = default_demo();
    let result = RUN.get_or_init(|| {
        let dir = work_dir(TMP, "default_run").map_err(|e| format!("{e:#}"))?;
        demo.run(&dir).map_err(|e| format!("{e:#}"))?;
        Ok(dir)
    });
    match result {
        Ok(dir) => Ok((dir.clone(), demo)),
        Err(e) => bail!("the shared default demo run failed:\n{e}"),
    }
}

#[test]
fn independent_reader_gold_matches_duckdb_over_silver() -> Result<()> {
    let _serial = serial();
    let (dir, _) = default_run()?;

    let counts = check_counts(&dir)?;
    println!("counts: {counts}");
    let dlq = dlq_kinds(&counts);
    // Without each kind present the checks below could pass vacuously.
    ensure!(
        dlq.parse_error > 0 && dlq.rule > 0 && dlq.late > 0,
        "the default demo must put parse errors, rule violations and late records in the \
         dlq, got {dlq:?}; did the generator's default fractions change?"
    );
    ensure!(
        dlq.other == 0,
        "dlq has rows with unknown reasons: {counts}"
    );
    ensure!(
        json_u64(&counts, "/tables/gold_user_activity") > 0,
        "gold is empty: {counts}"
    );

    let report = check_gold_vs_silver(&dir)?;
    println!("gold-vs-silver: {report}");
    ensure!(
        json_u64(&report, "/late_windows_left_out") > 0,
        "no late window was left out of gold, so the late path was not exercised: {report}"
    );
    Ok(())
}

#[test]
fn accounting_every_record_lands_exactly_once() -> Result<()> {
    let _serial = serial();
    let (dir, demo) = default_run()?;
    let (events, partitions) = demo.events_and_partitions()?;

    let report = check_accounting(&dir, events, partitions)?;
    println!("accounting: {report}");
    ensure!(
        json_u64(&report, "/counts/generated") == events,
        "accounting generated the wrong coordinates: {report}"
    );
    Ok(())
}

#[test]
fn batch_equals_stream_when_nothing_is_late() -> Result<()> {
    let _serial = serial();
    let stream = Demo {
        late_fraction: Some(0.0),
        // Disorder well within the 10 minute watermark delay: nothing can be late.
        skew: Some("2m".into()),
        ..Demo::new(30_000, PARTITIONS, 3_000, 7)
    };
    let batch = Demo {
        batch: true,
        ..stream.clone()
    };
    let stream_dir = work_dir(TMP, "batch_equals_stream/stream")?;
    let batch_dir = work_dir(TMP, "batch_equals_stream/batch")?;
    stream.run(&stream_dir)?;
    batch.run(&batch_dir)?;

    for dir in [&stream_dir, &batch_dir] {
        let counts = check_counts(dir)?;
        println!("counts {}: {counts}", dir.display());
        let late = dlq_kinds(&counts).late;
        ensure!(
            late == 0,
            "{late} late records in {} with --late-fraction 0 and skew 2m: the premise of \
             batch == stream does not hold",
            dir.display()
        );
        ensure!(
            json_u64(&counts, "/tables/gold_user_activity") > 0,
            "gold is empty: {counts}"
        );
        check_gold_vs_silver(dir)?;
    }

    let gold = check_same_tables(&stream_dir, &batch_dir, &["gold_user_activity"], Some(1e-9))?;
    println!("gold (floats to 1e-9): {gold}");
    let exact = check_same_tables(&stream_dir, &batch_dir, &["bronze", "silver"], None)?;
    println!("bronze and silver (exact): {exact}");
    Ok(())
}

/// How the crash test picks its moment to kill.
#[derive(Clone, Copy, Debug)]
enum KillAt {
    /// After this long.
    Delay(Duration),
    /// This long after a new Delta commit appears, to hit commit windows.
    AfterCommit(Duration),
}

#[test]
fn crash_and_resume_equals_clean_run() -> Result<()> {
    let _serial = serial();
    const MIN_KILLS: usize = 5;
    let seed = test_seed(0x5EED_C0FFEE);
    println!("kill schedule seed: {seed} (set SLUICE_TEST_SEED={seed} to replay it)");
    let mut rng = SplitMix64::new(seed);

    // Two workers throughout, and snapshots every 2 epochs, so recovery restores
    // state and replays logged epochs. The same command every time.
    let demo = Demo {
        checkpoint_every: Some(2),
        ..Demo::new(60_000, PARTITIONS, 3_000, 11).with_workers(2)
    };
    let clean = work_dir(TMP, "crash_and_resume/clean")?;
    let crashed = work_dir(TMP, "crash_and_resume/crashed")?;
    let log = crashed.with_extension("log");
    let _ = std::fs::remove_file(&log);
    demo.run(&clean)?;

    let planned = rng.range(MIN_KILLS as u64 + 1, MIN_KILLS as u64 + 3) as usize;
    let mut kills = 0;
    let mut finished_early = false;
    for attempt in 0..planned {
        let at = if attempt % 2 == 1 || rng.chance(1, 4) {
            KillAt::AfterCommit(Duration::from_millis(rng.range(0, 20)))
        } else {
            KillAt::Delay(Duration::from_millis(rng.range(50, 400)))
        };
        let before = delta_commit_count(&crashed);
        let started = Instant::now();
        let mut child = spawn_logged(demo.command(&crashed)?, &log)?;
        let deadline = started + demo_timeout();
        // Wait for the moment to kill, or for the run to end on its own.
        let exited = loop {
            if let Some(status) = child.try_wait()? {
                break Some(status);
            }
            let now = Instant::now();
            ensure!(
                now < deadline,
                "attempt {attempt}: no progress before the timeout"
            );
            let due = match at {
                KillAt::Delay(d) => now >= started + d,
                KillAt::AfterCommit(_) => delta_commit_count(&crashed) > before,
            };
            if due {
                if let KillAt::AfterCommit(d) = at {
                    thread::sleep(d);
                }
                break child.try_wait()?;
            }
            thread::sleep(Duration::from_millis(2));
        };
        match exited {
            Some(status) if status.success() => {
                println!("attempt {attempt}: {at:?}: the run finished before the kill");
                finished_early = true;
                break;
            }
            Some(status) => bail!(
                "attempt {attempt}: `{}` failed with {status} after {kills} kills\n{}",
                demo.display(&crashed),
                log_tail(&log)
            ),
            None => {
                child.kill()?; // SIGKILL on unix
                child.wait()?;
                kills += 1;
                println!(
                    "attempt {attempt}: {at:?}: killed after {:?}; commits {before} -> {}",
                    started.elapsed(),
                    delta_commit_count(&crashed)
                );
            }
        }
    }
    ensure!(
        kills >= MIN_KILLS,
        "only {kills} kills landed before the job finished (finished early: {finished_early}); \
         raise --events so a run lasts longer than the kill schedule"
    );

    // Let it run to completion with the same command.
    demo.run(&crashed).map_err(|e| {
        e.context(format!(
            "final resume after {kills} kills\n{}",
            log_tail(&log)
        ))
    })?;

    let report = same_tables_report(&clean, &crashed, &DEMO_TABLES, None)?;
    if !report.ok {
        let gold_differs = report.failures().iter().any(|t| t == "gold_user_activity");
        let hint = if !gold_differs {
            ""
        } else if same_tables_report(&clean, &crashed, &["gold_user_activity"], Some(1e-9))?.ok {
            "\nhint: gold matches to 1e-9 relative, so only float summation order differs \
             (still a determinism bug: same epochs must give identical rows)"
        } else {
            "\nhint: gold differs beyond float summation order"
        };
        let failed = report.failures().join(", ");
        let err = report.require_ok().unwrap_err();
        bail!(
            "tables differ after {kills} kills: {failed}{hint}\nlogs of the killed runs: {}\n{err:#}",
            log.display()
        );
    }
    let (events, partitions) = demo.events_and_partitions()?;
    check_accounting(&crashed, events, partitions)?;
    Ok(())
}

#[test]
fn rerun_on_finished_dir_is_a_noop() -> Result<()> {
    let _serial = serial();
    let demo = Demo::new(20_000, PARTITIONS, 2_000, 5);
    let dir = work_dir(TMP, "rerun_noop/run")?;
    let snapshot = work_dir(TMP, "rerun_noop/snapshot")?;
    demo.run(&dir)?;
    let before = delta_versions(&dir)?;
    ensure!(
        before.len() == DEMO_TABLES.len(),
        "expected the 4 demo tables, found {before:?}"
    );
    copy_tree(&dir.join("tables"), &snapshot.join("tables"))?;

    demo.run(&dir)?;
    let after = delta_versions(&dir)?;
    ensure!(
        before == after,
        "re-running a finished job committed to Delta: versions {before:?} -> {after:?}"
    );
    check_same_tables(&snapshot, &dir, &DEMO_TABLES, None)?;
    Ok(())
}

/// `sluice demo | head -0`: the reader of stdout is gone before the first line. The job
/// still runs to the end and exits 0, without a panic (println! panicked with "failed
/// printing to stdout: Broken pipe", exit 101).
#[test]
fn a_closed_stdout_ends_the_run_quietly() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "closed_stdout")?;
    let demo = Demo::new(4_000, PARTITIONS, 1_000, 3);
    let mut cmd = demo.command(&dir)?;
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn()?;
    drop(child.stdout.take());
    let out = child.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.success() && !stderr.contains("panicked"),
        "`{}` with its stdout closed: {}\n{}",
        demo.display(&dir),
        out.status,
        tail(&stderr, 20)
    );
    // The run was whole: every event is accounted for.
    let (events, partitions) = demo.events_and_partitions()?;
    check_accounting(&dir, events, partitions)?;
    Ok(())
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    format!("--- {} (tail) ---\n{}", log.display(), tail(&text, 40))
}
