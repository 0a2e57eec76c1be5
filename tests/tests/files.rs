//! The file source end to end: Parquet, JSON-lines, CSV, Avro and ORC files written by
//! writers independent of sluice (`tests/python/files_tool.py`: pyarrow, fastavro, and CSV
//! and JSON lines by hand) under hive partition directories, read by `sluice run --batch`
//! into Delta, and checked with DuckDB's `delta_scan`: bronze and silver hold exactly the
//! good records (every value, the partition columns, the file and line or row of each),
//! the dead-letter table exactly the bad ones (reason `parse_error`, file, line, payload),
//! and a file that cannot be read fails the run with one error naming it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use sluice_tests::{
    RunOutput, delta_versions, expect_clean_failure, python_tool, run_with_timeout, sluice_bin,
    work_dir,
};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");

/// The schema the tool's main datasets are written with, as a job declares it.
const DECLARED: &str = "  schema:
    - { name: id, type: long, nullable: false }
    - { name: name, type: string }
    - { name: amount, type: double }
    - { name: qty, type: int }
    - { name: active, type: boolean }
    - { name: ts, type: timestamp }
    - { name: day, type: date }
";

/// The rule of the jobs over the main datasets; the tool expects its violations.
const RULE: &str = "rules:\n  - { name: qty_non_negative, check: \"qty >= 0\" }\n";

fn tool(args: &[&str]) -> Result<String> {
    python_tool("files_tool.py", args, Duration::from_secs(120))
}

fn write_case(dir: &Path, case: &str) -> Result<()> {
    tool(&["write", "--dir", &dir.display().to_string(), "--case", case])?;
    Ok(())
}

/// `files_tool.py check`: the tables under `dir/out` against `dir/expected`.
fn check(dir: &Path, out: &str, expected: &str) -> Result<()> {
    let report = tool(&[
        "check",
        "--dir",
        &dir.display().to_string(),
        "--out",
        &dir.join(out).display().to_string(),
        "--expected",
        &dir.join(expected).display().to_string(),
    ])
    .with_context(|| format!("checking {} against {expected}", dir.join(out).display()))?;
    println!("{}", report.trim());
    Ok(())
}

/// How a job gets its schema.
#[derive(Clone, Copy, PartialEq)]
enum Schema {
    Declared,
    Inferred,
}

/// Writes `dir/name`: a job reading `dir/data` (given relative, the job runs in `dir`)
/// in `format` into `dir/out`, with extra `files` settings (indented lines).
fn write_job(
    dir: &Path,
    name: &str,
    format: &str,
    schema: Schema,
    files_extra: &str,
    out: &str,
    rule: bool,
) -> Result<PathBuf> {
    let dialect = if format == "csv" {
        "    csv: { header: true, delimiter: \",\", quote: \"\\\"\" }\n"
    } else {
        ""
    };
    let text = format!(
        "job-id: files-{format}-{out}\nworkers: 2\nsource:\n  files:\n    path: data\n    \
         format: {format}\n{dialect}{files_extra}{}{}output:\n  dir: {out}\n",
        if schema == Schema::Declared {
            DECLARED
        } else {
            ""
        },
        if rule { RULE } else { "" },
    );
    let path = dir.join(name);
    std::fs::write(&path, text)?;
    Ok(path)
}

/// `sluice run JOB --batch` in `dir`.
fn command(dir: &Path, job: &str) -> Result<Command> {
    let mut cmd = Command::new(sluice_bin()?);
    cmd.current_dir(dir).arg("run").arg(job).arg("--batch");
    Ok(cmd)
}

fn run_batch(dir: &Path, job: &str) -> Result<RunOutput> {
    let started = Instant::now();
    let out = run_with_timeout(command(dir, job)?, Duration::from_secs(120))?;
    out.require_success(&format!("sluice run {job} --batch (in {})", dir.display()))?;
    println!("sluice run {job} --batch: {:.1?}", started.elapsed());
    Ok(out)
}

fn expected(dir: &Path, file: &str) -> Result<Value> {
    let text = std::fs::read_to_string(dir.join(file))?;
    Ok(serde_json::from_str(&text)?)
}

/// A main dataset in `format`: written, read with the declared schema, checked.
fn round_trip(format: &str) -> Result<()> {
    let started = Instant::now();
    let dir = work_dir(TMP, &format!("files_{format}"))?;
    write_case(&dir, format)?;
    write_job(&dir, "job.yaml", format, Schema::Declared, "", "out", true)?;
    run_batch(&dir, "job.yaml")?;
    check(&dir, "out", "expected.json")?;
    println!("{format}: {:.1?}", started.elapsed());
    Ok(())
}

#[test]
fn parquet_files_round_trip_and_out_of_range_values_are_dead_letters() -> Result<()> {
    round_trip("parquet")
}

#[test]
fn orc_files_round_trip_and_out_of_range_values_are_dead_letters() -> Result<()> {
    round_trip("orc")
}

#[test]
fn avro_files_round_trip_and_out_of_range_values_are_dead_letters() -> Result<()> {
    round_trip("avro")
}

#[test]
fn csv_files_round_trip_and_bad_rows_are_dead_letters_with_their_line() -> Result<()> {
    round_trip("csv")
}

#[test]
fn json_lines_round_trip_and_bad_lines_are_dead_letters_with_their_line() -> Result<()> {
    round_trip("json")
}

/// A broken case: the data and the job; returns the broken file's relative path.
fn broken_case(name: &str, case: &str, format: &str, schema: Schema) -> Result<(PathBuf, String)> {
    let dir = work_dir(TMP, name)?;
    write_case(&dir, case)?;
    write_job(&dir, "job.yaml", format, schema, "", "out", true)?;
    let broken = expected(&dir, "expected.json")?["broken"]
        .as_str()
        .context("expected.json names the broken file")?
        .to_string();
    Ok((dir, broken))
}

#[test]
fn an_unreadable_file_fails_the_run_with_one_error_naming_it() -> Result<()> {
    for (case, format, schema) in [
        ("broken-parquet", "parquet", Schema::Declared),
        // The first file: the schema is inferred from it.
        ("broken-first-parquet", "parquet", Schema::Inferred),
        ("broken-orc", "orc", Schema::Declared),
        ("not-avro", "avro", Schema::Declared),
        ("truncated-avro", "avro", Schema::Declared),
    ] {
        let (dir, broken) = broken_case(&format!("files_{case}"), case, format, schema)?;
        expect_clean_failure(case, command(&dir, "job.yaml")?, &[&broken])?;
    }
    Ok(())
}

/// A run that fails on an unreadable file must commit nothing of the epoch it failed in
/// (the job is `--batch`: one epoch), so that once the file is repaired a rerun reads every
/// file exactly once.
#[test]
fn a_failed_epoch_commits_nothing_and_a_rerun_after_repair_reads_every_file() -> Result<()> {
    let (dir, broken) = broken_case(
        "files_repair_and_rerun",
        "broken-parquet",
        "parquet",
        Schema::Declared,
    )?;
    expect_clean_failure("broken-parquet", command(&dir, "job.yaml")?, &[&broken])?;
    // Creating a table is version 0; an epoch commit would be version 1.
    let committed: Vec<_> = delta_versions(&dir.join("out"))
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, v)| v.is_some_and(|v| v > 0))
        .collect();
    ensure!(
        committed.is_empty(),
        "the run failed on {broken}, yet it committed the epoch (latest Delta versions \
         {committed:?}): the rows of the files the other worker read are in the tables, and \
         the checkpoint marks {broken} as read"
    );
    tool(&["repair", "--dir", &dir.display().to_string()])?;
    let rerun = run_batch(&dir, "job.yaml")?;
    println!("rerun: {}", rerun.stdout.trim());
    check(&dir, "out", "expected.json")
}

/// `partition-filter` prunes whole directories: their files are never opened, not even to
/// infer the schema (the first file in path order is truncated and pruned), and the rows of
/// the other directories carry both partition columns as text.
#[test]
fn partition_filter_prunes_directories_before_reading_or_inferring() -> Result<()> {
    let dir = work_dir(TMP, "files_prune")?;
    write_case(&dir, "prune")?;
    write_job(
        &dir,
        "job.yaml",
        "parquet",
        Schema::Inferred,
        "    partition-filter: \"date >= '2024-01-02' AND region = 'eu'\"\n",
        "out",
        true,
    )?;
    let out = run_batch(&dir, "job.yaml")?;
    ensure!(
        out.stderr
            .contains("from the metadata of date=2024-01-02/region=eu/part-0.parquet"),
        "the schema should be inferred from the first file the filter keeps:\n{}",
        out.stderr
    );
    check(&dir, "out", "expected.json")
}

/// CSV inference samples `infer-records` records: `amount`, integers there, is Int64, so a
/// later `1.5` is a dead letter, and zone-less timestamps are timestamps without a zone.
/// The declared schema reads the same files with `amount` a double (the `1.5` row is
/// good) and the timestamps as UTC.
#[test]
fn csv_inferred_schema_follows_the_sample_and_a_declared_one_wins() -> Result<()> {
    let dir = work_dir(TMP, "files_csv_infer")?;
    write_case(&dir, "csv-infer")?;
    write_job(
        &dir,
        "inferred.yaml",
        "csv",
        Schema::Inferred,
        "    infer-records: 50\n",
        "out-inferred",
        false,
    )?;
    let out = run_batch(&dir, "inferred.yaml")?;
    for needle in [
        "amount: Int64",
        "score: Float64",
        "day: Date32",
        "from the first 50 records",
    ] {
        ensure!(
            out.stderr.contains(needle),
            "the inference report lacks `{needle}`:\n{}",
            out.stderr
        );
    }
    check(&dir, "out-inferred", "expected-inferred.json")?;

    let declared = "  schema:
    - { name: id, type: long, nullable: false }
    - { name: name, type: string }
    - { name: amount, type: double }
    - { name: score, type: double }
    - { name: active, type: boolean }
    - { name: day, type: date }
    - { name: ts, type: timestamp }
";
    let job = std::fs::read_to_string(dir.join("inferred.yaml"))?
        .replace("out-inferred", "out-declared")
        .replace(
            "    infer-records: 50\n",
            &format!("    infer-records: 50\n{declared}"),
        );
    std::fs::write(dir.join("declared.yaml"), job)?;
    let out = run_batch(&dir, "declared.yaml")?;
    ensure!(
        !out.stderr.contains("inferred the schema"),
        "a declared schema must not be inferred:\n{}",
        out.stderr
    );
    check(&dir, "out-declared", "expected-declared.json")
}

/// JSON inference makes a column whose sampled values are numbers on some lines and
/// strings on others Utf8 ("Utf8 ... for conflicting types"); reading with that schema must
/// keep every line, the numbers as their JSON text, not reject the lines it was inferred
/// from.
#[test]
fn json_inferred_text_column_keeps_the_numbers_it_was_inferred_from() -> Result<()> {
    let dir = work_dir(TMP, "files_json_infer")?;
    write_case(&dir, "json-infer")?;
    write_job(&dir, "job.yaml", "json", Schema::Inferred, "", "out", false)?;
    let out = run_batch(&dir, "job.yaml")?;
    ensure!(
        out.stderr.contains("code: Utf8"),
        "`code` (numbers and strings) should be inferred as Utf8:\n{}",
        out.stderr
    );
    check(&dir, "out", "expected.json")
}

/// Sizes of the files directly in `dir` (none if it does not exist).
fn file_sizes(dir: &Path) -> Vec<u64> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .collect()
        })
        .unwrap_or_default()
}

/// Total size of the files under `dir`.
fn tree_size(dir: &Path) -> u64 {
    walk_sizes(dir).iter().sum()
}

fn walk_sizes(dir: &Path) -> Vec<u64> {
    let mut sizes = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                sizes.extend(walk_sizes(&path));
            } else if let Ok(meta) = entry.metadata() {
                sizes.push(meta.len());
            }
        }
    }
    sizes
}

/// A directory of 20,000 one-line JSON files read 1,000 per epoch: every offsets entry
/// names only its epoch's files (not every file listed), a `kill -9` after a snapshot and a
/// restart read every file exactly once (DuckDB counts them in bronze), and the figures
/// (largest entry, checkpoint size, planning time per epoch) are printed.
#[test]
fn twenty_thousand_small_files_log_compact_entries_and_survive_a_restart() -> Result<()> {
    const FILES: usize = 20_000;
    const PER_EPOCH: usize = 1_000;
    let dir = work_dir(TMP, "files_twenty_thousand")?;
    let data = dir.join("data");
    std::fs::create_dir_all(&data)?;
    for i in 0..FILES {
        std::fs::write(
            data.join(format!("part-{i:05}.json")),
            format!("{{\"id\": {i}, \"name\": \"n{i}\"}}\n"),
        )?;
    }
    let job = "job-id: many-files\nworkers: 2\nsource:\n  files:\n    path: data\n    \
               format: json\n    max-files-per-epoch: 1000\n    bounded: true\n  schema:\n    \
               - { name: id, type: long, nullable: false }\n    \
               - { name: name, type: string }\ntrigger:\n  interval: 500ms\n\
               output:\n  dir: out\n";
    std::fs::write(dir.join("job.yaml"), job)?;
    let run = || -> Result<Command> {
        let mut cmd = Command::new(sluice_bin()?);
        cmd.current_dir(&dir)
            .args(["run", "job.yaml"])
            .env("SLUICE_LOG", "info,buoyant_kernel=off,delta_kernel=off");
        Ok(cmd)
    };
    let checkpoint = dir.join("out/checkpoints/many-files");

    // First run: killed once a snapshot past epoch 0 is committed.
    let log = dir.join("first.log");
    let mut child = sluice_tests::spawn_logged(run()?, &log)?;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let snapshots = std::fs::read_dir(checkpoint.join("cursors"))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name() != "00000000000000000000")
                    .count()
            })
            .unwrap_or(0);
        if snapshots > 0 {
            break;
        }
        ensure!(
            child.try_wait()?.is_none(),
            "the run ended before its first snapshot:\n{}",
            sluice_tests::tail(&std::fs::read_to_string(&log)?, 20)
        );
        ensure!(Instant::now() < deadline, "no snapshot within 600 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    ensure!(
        child.try_wait()?.is_none(),
        "the run ended before it could be killed"
    );
    child.kill()?;
    child.wait()?;
    let killed_after = file_sizes(&checkpoint.join("offsets")).len();
    println!("killed after {killed_after} epochs were logged");

    // The restart resumes from the snapshot's cursor record.
    let out = run_with_timeout(run()?, Duration::from_secs(600))?;
    out.require_success("the restart")?;
    let text = format!("{}\n{}", std::fs::read_to_string(&log)?, out.stderr);

    let entries = file_sizes(&checkpoint.join("offsets"));
    let largest = entries.iter().copied().max().unwrap_or(0);
    let records = file_sizes(&checkpoint.join("cursors"));
    let total = tree_size(&checkpoint);
    let plan_ms: Vec<f64> = text
        .lines()
        .filter_map(|l| l.split("plan_ms=").nth(1))
        .filter_map(|v| v.split_whitespace().next()?.parse().ok())
        .collect();
    let mut sorted = plan_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN);
    println!(
        "{FILES} files, {PER_EPOCH} per epoch: largest offsets entry {largest} B over {} \
         entries kept; cursor records {records:?} B; checkpoint {total} B in all; planning \
         per epoch median {median:.1} ms, max {:.1} ms over {} epochs",
        entries.len(),
        sorted.last().copied().unwrap_or(f64::NAN),
        plan_ms.len()
    );
    // Each entry names its epoch's files only: ~100 bytes a file. One naming every listed
    // file would be 20 times larger.
    ensure!(
        largest < (PER_EPOCH as u64) * 200,
        "the largest offsets entry is {largest} bytes, more than its {PER_EPOCH} files need"
    );
    ensure!(!plan_ms.is_empty(), "no planning time in the logs");

    let bronze = dir.join("out/tables/bronze");
    let counts = sluice_tests::duckdb_rows(&format!(
        "SELECT count(*), count(DISTINCT source), count(DISTINCT id) FROM delta_scan('{}')",
        bronze.display()
    ))?;
    ensure!(
        counts
            == vec![vec![
                FILES.to_string(),
                FILES.to_string(),
                FILES.to_string()
            ]],
        "bronze should hold each of the {FILES} files' row once, got (rows, files, ids) {counts:?}"
    );
    Ok(())
}

/// Progress lines of epochs that read `ranges` ranges (a file source's range is a file).
fn epochs_reading(log: &Path, ranges: u64) -> usize {
    let needle = format!("records={ranges} ");
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("epoch epoch=") && l.contains(&needle))
        .count()
}

fn sigterm(child: &std::process::Child) -> Result<()> {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    ensure!(status.success(), "kill -TERM {} failed", child.id());
    Ok(())
}

/// Waits until `log` shows `files` epochs that each read one file, while `child` runs.
fn wait_for_files(child: &mut std::process::Child, log: &Path, files: usize) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    while epochs_reading(log, 1) < files {
        ensure!(
            child.try_wait()?.is_none(),
            "the job ended while following its directory:\n{}",
            sluice_tests::tail(&std::fs::read_to_string(log)?, 20)
        );
        ensure!(
            Instant::now() < deadline,
            "{files} files not read within 300 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Stops `child` with SIGTERM; it must exit 0.
fn stop(mut child: std::process::Child, log: &Path) -> Result<()> {
    sigterm(&child)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait()? {
            ensure!(
                status.success(),
                "the job exited {status} on SIGTERM:\n{}",
                sluice_tests::tail(&std::fs::read_to_string(log)?, 20)
            );
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "the job did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A file source that is not bounded follows its directory, as Spark's file stream source
/// does: files moved in while the job runs are read in later epochs, and after a graceful
/// stop and a restart only the files that arrived meanwhile are read; DuckDB then finds
/// every file's rows exactly once.
#[test]
fn an_unbounded_file_source_reads_files_that_appear_later_each_once_across_restarts() -> Result<()>
{
    let dir = work_dir(TMP, "files_tailing")?;
    let (data, staging) = (dir.join("data"), dir.join("staging"));
    std::fs::create_dir_all(&data)?;
    std::fs::create_dir_all(&staging)?;
    // Written elsewhere, then renamed in: a file appears whole.
    let put = |name: &str, first: u64| -> Result<()> {
        let text: String = (first..first + 10)
            .map(|id| format!("{{\"id\": {id}, \"name\": \"n{id}\"}}\n"))
            .collect();
        std::fs::write(staging.join(name), text)?;
        std::fs::rename(staging.join(name), data.join(name))?;
        Ok(())
    };
    put("a.json", 0)?;
    put("b.json", 10)?;
    let job = "job-id: tailing\nworkers: 2\nsource:\n  files:\n    path: data\n    \
               format: json\n    max-files-per-epoch: 1\n  schema:\n    \
               - { name: id, type: long, nullable: false }\n    \
               - { name: name, type: string }\ntrigger:\n  interval: 200ms\n\
               output:\n  dir: out\n";
    std::fs::write(dir.join("job.yaml"), job)?;
    let run = |log: &Path| -> Result<std::process::Child> {
        let mut cmd = Command::new(sluice_bin()?);
        cmd.current_dir(&dir).args(["run", "job.yaml"]).env(
            "SLUICE_LOG",
            "info,sluice_connectors::files=debug,buoyant_kernel=off,delta_kernel=off",
        );
        sluice_tests::spawn_logged(cmd, log)
    };

    let first_log = dir.join("first.log");
    let mut first = run(&first_log)?;
    wait_for_files(&mut first, &first_log, 2)?;
    put("c.json", 20)?;
    put("d.json", 30)?;
    wait_for_files(&mut first, &first_log, 4)?;
    stop(first, &first_log)?;
    ensure!(
        epochs_reading(&first_log, 1) == 4,
        "the first run read a file twice"
    );

    put("e.json", 40)?;
    // The restart replays the epochs after its snapshot (their commits are skipped), then
    // reads e.json: wait for the file source's debug line of that file.
    let second_log = dir.join("second.log");
    let mut second = run(&second_log)?;
    let deadline = Instant::now() + Duration::from_secs(300);
    while !std::fs::read_to_string(&second_log)?.contains("file=e.json") {
        ensure!(
            second.try_wait()?.is_none(),
            "the restart ended:\n{}",
            sluice_tests::tail(&std::fs::read_to_string(&second_log)?, 20)
        );
        ensure!(Instant::now() < deadline, "e.json not read within 300 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Long enough for several more epochs: none may add a row again.
    std::thread::sleep(Duration::from_secs(2));
    stop(second, &second_log)?;

    let counts = sluice_tests::duckdb_rows(&format!(
        "SELECT count(*), count(DISTINCT source), count(DISTINCT id) FROM delta_scan('{}')",
        dir.join("out/tables/bronze").display()
    ))?;
    ensure!(
        counts == vec![vec!["50".to_string(), "5".to_string(), "50".to_string()]],
        "bronze should hold each of the 5 files' 10 rows once, got (rows, files, ids) {counts:?}"
    );
    Ok(())
}

/// `sluice demo-data events` writes the generator's demo events as JSON-lines files, and
/// benches/windows.yaml (the demo's rules and windows over a file source) reads them. As a
/// batch (one epoch, so no row is late), it must give the demo's own gold table exactly,
/// and the same silver and dead-letter counts: the file source and its JSON decoding agree
/// with the generator path on every event, malformed ones included.
#[test]
fn the_demo_events_as_files_give_the_demo_s_gold() -> Result<()> {
    let dir = work_dir(TMP, "demo-events-files")?;
    let (events, seed) = (60_000u64, 11u64);
    let mut cmd = Command::new(sluice_bin()?);
    cmd.args(["demo-data", "events", "--files", "3", "--partitions", "4"])
        .args(["--events", &events.to_string(), "--seed", &seed.to_string()])
        .arg("--dir")
        .arg(dir.join("events"));
    run_with_timeout(cmd, Duration::from_secs(120))?.require_success("sluice demo-data events")?;
    let files = std::fs::read_dir(dir.join("events"))?.count();
    ensure!(files == 3, "expected 3 files, found {files}");

    sluice_tests::Demo {
        batch: true,
        ..sluice_tests::Demo::new(events, 4, events, seed)
    }
    .run(&dir.join("demo"))?;
    let mut cmd = Command::new(sluice_bin()?);
    cmd.arg("run")
        .arg(sluice_tests::tests_dir().join("../benches/windows.yaml"))
        .arg("--batch")
        .arg("--param")
        .arg(format!("data={}", dir.join("events").display()))
        .arg("--param")
        .arg(format!("out={}", dir.join("files").display()))
        .env("RUST_LOG", "warn");
    run_with_timeout(cmd, Duration::from_secs(300))?.require_success("sluice run windows.yaml")?;

    sluice_tests::check_same_tables(
        &dir.join("demo"),
        &dir.join("files"),
        &["gold_user_activity"],
        Some(1e-9),
    )?;
    let demo = sluice_tests::check_counts(&dir.join("demo"))?;
    let from_files = sluice_tests::check_counts(&dir.join("files"))?;
    for pointer in [
        "/tables/silver",
        "/tables/gold_user_activity",
        "/tables/dlq",
    ] {
        let (a, b) = (
            sluice_tests::json_u64(&demo, pointer),
            sluice_tests::json_u64(&from_files, pointer),
        );
        ensure!(
            a == b,
            "{pointer}: the demo has {a} rows, the files run {b}"
        );
    }
    ensure!(
        demo["dlq_by_reason"] == from_files["dlq_by_reason"],
        "dead letters by reason differ: demo {}, files {}",
        demo["dlq_by_reason"],
        from_files["dlq_by_reason"]
    );
    ensure!(
        sluice_tests::json_u64(&demo, "/tables/gold_user_activity") > 0,
        "the demo wrote no gold rows"
    );
    Ok(())
}

/// `watermark.idle-timeout`: a job following its directory reads one file of events, then
/// the directory stays quiet. With `idle-timeout: 1s`, empty epochs move event time on by
/// the wall-clock time that passes, so the 10-second window closes and reaches gold while
/// the job still runs, with every event counted once. The control run, the same job
/// without the setting, still has an empty gold table after waiting as long: its window
/// waits for records that never come. DuckDB reads gold.
#[test]
fn an_idle_source_closes_its_last_window_after_the_idle_timeout() -> Result<()> {
    let dir = work_dir(TMP, "files_idle")?;
    let data = dir.join("data");
    std::fs::create_dir_all(&data)?;
    // 20 events in [00:00:00, 00:00:04) of one day: one 10-second window per user.
    let text: String = (0..20)
        .map(|i| {
            format!(
                "{{\"id\": {i}, \"user\": \"u{}\", \"ts\": \"2026-01-01T00:00:0{}.{:03}Z\"}}\n",
                i % 2,
                i / 5,
                (i % 5) * 100
            )
        })
        .collect();
    std::fs::write(data.join("events.json"), text)?;
    let gold_rows = |out: &str| -> Result<Vec<Vec<String>>> {
        let table = dir.join(out).join("tables").join("gold");
        if !table.join("_delta_log").is_dir() {
            return Ok(Vec::new());
        }
        sluice_tests::duckdb_rows(&format!(
            "SELECT user, events FROM delta_scan('{}') ORDER BY user",
            table.display()
        ))
    };
    let start = |out: &str, extra: &str| -> Result<(std::process::Child, PathBuf)> {
        let job = format!(
            "job-id: idle-{out}\nworkers: 2\nsource:\n  files:\n    path: data\n    \
             format: json\n  schema:\n    - {{ name: id, type: long, nullable: false }}\n    \
             - {{ name: user, type: string }}\n    \
             - {{ name: ts, type: timestamp, nullable: false }}\ntrigger:\n  interval: 200ms\n\
             gold:\n  name: per_user\n  window: {{ kind: tumbling, size: 10s }}\n  \
             event-time: ts\n  watermark-delay: 5s\n  keys: [user]\n  aggregates:\n    \
             - {{ name: events, fn: count }}\n{extra}output:\n  dir: {out}\n  tables:\n    \
             bronze: ~\n    silver: silver\n    gold: gold\n    dead-letters: dlq\n"
        );
        std::fs::write(dir.join(format!("{out}.yaml")), job)?;
        let log = dir.join(format!("{out}.log"));
        let mut cmd = Command::new(sluice_bin()?);
        cmd.current_dir(&dir)
            .args(["run", &format!("{out}.yaml")])
            .env("SLUICE_LOG", "info,buoyant_kernel=off,delta_kernel=off");
        Ok((sluice_tests::spawn_logged(cmd, &log)?, log))
    };

    let (mut idle, idle_log) = start("idle", "watermark:\n  idle-timeout: 1s\n")?;
    wait_for_files(&mut idle, &idle_log, 1)?;
    let began = Instant::now();
    let rows = loop {
        let rows = gold_rows("idle")?;
        if !rows.is_empty() {
            break rows;
        }
        ensure!(
            idle.try_wait()?.is_none(),
            "the job ended while idle:\n{}",
            sluice_tests::tail(&std::fs::read_to_string(&idle_log)?, 20)
        );
        ensure!(
            began.elapsed() < Duration::from_secs(120),
            "the window did not close within 120 s of idleness:\n{}",
            sluice_tests::tail(&std::fs::read_to_string(&idle_log)?, 20)
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let waited = began.elapsed();
    stop(idle, &idle_log)?;
    let expected = vec![
        vec!["u0".to_owned(), "10".to_owned()],
        vec!["u1".to_owned(), "10".to_owned()],
    ];
    ensure!(
        rows == expected && gold_rows("idle")? == expected,
        "gold after the idle timeout: {rows:?}, expected {expected:?}"
    );
    ensure!(
        std::fs::read_to_string(&idle_log)?
            .contains("source idle: an empty epoch moves event time on"),
        "no idle epoch was logged"
    );

    // The control: as long without the setting, and the window is still open.
    let (mut control, control_log) = start("control", "")?;
    wait_for_files(&mut control, &control_log, 1)?;
    std::thread::sleep(waited + Duration::from_secs(2));
    ensure!(
        control.try_wait()?.is_none(),
        "the control job ended:\n{}",
        sluice_tests::tail(&std::fs::read_to_string(&control_log)?, 20)
    );
    let open = gold_rows("control")?;
    stop(control, &control_log)?;
    ensure!(
        open.is_empty(),
        "without idle-timeout the window closed anyway: {open:?}"
    );
    Ok(())
}
