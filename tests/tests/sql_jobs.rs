//! End-to-end tests of SQL jobs (`sluice run job.sql`): the demo pipeline written in SQL
//! (`config/user-activity.sql`) must write exactly the tables of the YAML demo job, read
//! back by DuckDB; what cannot run incrementally is refused, naming the construct.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Result, ensure};
use sluice_tests::{
    Demo, check_counts, demo_timeout, dlq_kinds, duckdb_rows, json_u64, kill_after_commits,
    python_tool, run_with_timeout, same_tables_without, serial, sluice_bin, work_dir,
};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");

fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config")
}

fn sluice_run(job: &Path, sets: &[String]) -> Result<Command> {
    let mut cmd = Command::new(sluice_bin()?);
    cmd.arg("run").arg(job);
    for s in sets {
        cmd.arg("--set").arg(s);
    }
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", "warn");
    }
    Ok(cmd)
}

#[test]
fn the_sql_demo_job_writes_the_yaml_demo_s_tables() -> Result<()> {
    let _serial = serial();
    let yaml = work_dir(TMP, "sql_demo_yaml")?;
    let sql = work_dir(TMP, "sql_demo_sql")?;
    let demo = Demo::new(40_000, 4, 4_000, 42);
    demo.run(&yaml)?;
    let sets = [
        format!("output.dir={}", sql.display()),
        "source.generator.events=40000".to_owned(),
        "trigger.records-per-epoch=4000".to_owned(),
    ];
    let out = run_with_timeout(
        sluice_run(&config_dir().join("user-activity.sql"), &sets)?,
        demo_timeout(),
    )?;
    out.require_success("sluice run config/user-activity.sql")?;

    let counts = check_counts(&sql)?;
    println!("SQL job's counts: {counts}");
    let dlq = dlq_kinds(&counts);
    ensure!(
        dlq.parse_error > 0 && dlq.rule > 0 && dlq.late > 0,
        "the SQL job must route parse errors, rule violations and late rows: {counts}"
    );
    ensure!(
        json_u64(&counts, "/tables/gold_user_activity") > 0,
        "gold is empty: {counts}"
    );
    // Late rows' payload is the window's input row: with the silver columns in the YAML
    // job, the source's columns in the others; every other column must match.
    let same = same_tables_without(
        &yaml,
        &sql,
        &["silver", "gold_user_activity", "dlq"],
        Some(1e-9),
        &["payload"],
    )?
    .require_ok()?;
    println!("same tables: {same}");

    // The gold query reading a view through Flink's window TVF: the same tables (a late
    // row's payload holds the view's columns, the dead letters' event id among them).
    let text = std::fs::read_to_string(config_dir().join("user-activity.sql"))?;
    let gold = text
        .find("INSERT INTO gold_user_activity")
        .expect("the demo writes gold");
    let variant = format!(
        "{}CREATE TEMPORARY VIEW activity AS SELECT event_id, user_id, event_type, \
         event_time, value FROM events;\n\
         INSERT INTO gold_user_activity\n\
         SELECT window_start, window_end, user_id, event_type, count(*) AS event_count, \
         sum(value) AS total_value, avg(value) AS avg_value\n\
         FROM TABLE(HOP(TABLE activity, DESCRIPTOR(event_time), INTERVAL '1' MINUTE, \
         INTERVAL '5' MINUTE))\n\
         GROUP BY window_start, window_end, user_id, event_type;\n",
        &text[..gold]
    );
    let viewed = work_dir(TMP, "sql_demo_view")?;
    let job = viewed.join("user-activity-view.sql");
    std::fs::write(&job, variant)?;
    let mut sets = sets.to_vec();
    sets[0] = format!("output.dir={}", viewed.join("out").display());
    run_with_timeout(sluice_run(&job, &sets)?, demo_timeout())?
        .require_success("the demo with a view and a window TVF")?;
    let same = same_tables_without(
        &yaml,
        &viewed.join("out"),
        &["silver", "gold_user_activity", "dlq"],
        Some(1e-9),
        &["payload"],
    )?
    .require_ok()?;
    println!("with a view and a window TVF, same tables: {same}");
    Ok(())
}

/// Runs `sql` as a job file and returns its failure's output, requiring that it failed.
fn refused(name: &str, sql: &str) -> Result<String> {
    let dir = work_dir(TMP, name)?;
    let job = dir.join("job.sql");
    std::fs::write(&job, sql)?;
    let sets = [format!("output.dir={}", dir.join("out").display())];
    let out = run_with_timeout(sluice_run(&job, &sets)?, demo_timeout())?;
    ensure!(
        !out.status.success(),
        "`{sql}` was accepted:\n{}",
        out.stderr
    );
    ensure!(
        !dir.join("out").join("checkpoints").exists(),
        "a refused job must not start: {}",
        out.stderr
    );
    Ok(out.stderr)
}

const SOURCE: &str = "CREATE TABLE events (user_id STRING, event_time TIMESTAMP NOT NULL, \
                      value DOUBLE, WATERMARK FOR event_time AS event_time - INTERVAL '1' \
                      MINUTE) WITH ('connector' = 'generator', 'events' = '1000', \
                      'format' = 'json');";

#[test]
fn what_cannot_run_incrementally_is_refused_naming_it() -> Result<()> {
    let _serial = serial();
    let cases = [
        (
            "sql_refuse_unwindowed",
            "INSERT INTO t SELECT user_id, count(*) AS n FROM events GROUP BY user_id;",
            "an aggregate without an event-time window",
        ),
        (
            "sql_refuse_join",
            "INSERT INTO t SELECT a.user_id FROM events a JOIN events b ON a.user_id = b.user_id;",
            "a join without both time bounds",
        ),
        (
            "sql_refuse_order",
            "INSERT INTO t SELECT user_id FROM events ORDER BY user_id;",
            "ORDER BY",
        ),
        (
            "sql_refuse_median",
            "INSERT INTO t SELECT window_start, median(value) AS m FROM events \
             GROUP BY TUMBLE(event_time, INTERVAL '1' MINUTE);",
            "median(value)",
        ),
        (
            "sql_refuse_union",
            "INSERT INTO t SELECT user_id FROM events UNION SELECT user_id FROM events;",
            "UNION: it drops duplicate rows across all time",
        ),
        (
            "sql_refuse_union_columns",
            "INSERT INTO t SELECT user_id, value FROM events \
             UNION ALL SELECT user_id FROM events;",
            "the union's inputs differ",
        ),
        (
            "sql_refuse_unnamed",
            "INSERT INTO t SELECT value * 2 FROM events;",
            "give it a column name",
        ),
    ];
    for (name, query, expected) in cases {
        let stderr = refused(name, &format!("{SOURCE}\n{query}"))?;
        ensure!(
            stderr.contains(expected) && stderr.contains("job.sql"),
            "`{query}`: expected an error naming `{expected}` and the file, got:\n{stderr}"
        );
    }
    Ok(())
}

/// `sluice explain` prints what a job runs without running it: a job whose Kafka broker
/// does not answer and whose files do not exist is explained, in a moment, and nothing
/// is written.
#[test]
fn explain_prints_the_plan_without_opening_anything() -> Result<()> {
    let dir = work_dir(TMP, "sql_explain")?;
    let job = dir.join("job.sql");
    std::fs::write(
        &job,
        format!(
            "SET 'output.dir' = '{}';\n\
             CREATE TABLE web (user_id STRING, ts TIMESTAMP NOT NULL, \
               WATERMARK FOR ts AS ts - INTERVAL '1' MINUTE) WITH ('connector' = 'kafka', \
               'brokers' = '127.0.0.1:1', 'topics' = '[web]', 'format' = 'json');\n\
             CREATE TABLE app (user_id STRING, created TIMESTAMP NOT NULL, \
               WATERMARK FOR created AS created - INTERVAL '3' MINUTE) WITH ( \
               'connector' = 'files', 'path' = '{}', 'format' = 'json');\n\
             CREATE TABLE per_minute WITH ('output-mode' = 'update');\n\
             INSERT INTO per_minute SELECT window_start, window_end, count(*) AS n \
             FROM (SELECT user_id, ts FROM web UNION ALL \
                   SELECT user_id, created AS ts FROM app) AS u \
             GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE);\n",
            dir.join("out").display(),
            dir.join("no-such-dir").display()
        ),
    )?;
    let mut cmd = Command::new(sluice_bin()?);
    cmd.arg("explain").arg(&job);
    let out = run_with_timeout(cmd, Duration::from_secs(60))?;
    out.require_success("sluice explain")?;
    let lines: Vec<&str> = out.stdout.lines().collect();
    for expected in [
        "source web",
        "source app",
        "operator per_minute.u.part2/select: project <- app: select user_id, created AS ts \
         (and the rows' coordinates)",
        "operator per_minute.u/union: union <- per_minute.u.part1/select, \
         per_minute.u.part2/select: union all, by position",
        "operator per_minute/window: window <- per_minute.u/union: tumbling 60s by []: \
         count(*) AS n; update; watermark ts - 60s of web, and created - 180s of app (the \
         least); state `per_minute`",
        "sink per_minute <- per_minute/window (table)",
        "table per_minute: merged by [\"window_start\", \"window_end\"] each epoch",
    ] {
        ensure!(
            lines.contains(&expected),
            "`{expected}` is not a line of:\n{}",
            out.stdout
        );
    }
    ensure!(
        !dir.join("out").exists(),
        "explain wrote {}",
        dir.join("out").display()
    );
    Ok(())
}

/// A SQL job killed (`kill -9`) right after commits, three times, then run to the end
/// with the same command, must leave exactly the tables of an uninterrupted run.
#[test]
fn a_killed_sql_job_resumes_to_the_tables_of_a_clean_run() -> Result<()> {
    let _serial = serial();
    let clean = work_dir(TMP, "sql_crash_clean")?;
    let crashed = work_dir(TMP, "sql_crash_crashed")?;
    let sets = |dir: &Path| {
        vec![
            format!("output.dir={}", dir.display()),
            "source.generator.events=60000".to_owned(),
            "trigger.records-per-epoch=3000".to_owned(),
            "checkpoint.every=2".to_owned(),
            "workers=2".to_owned(),
        ]
    };
    let job = config_dir().join("user-activity.sql");
    run_with_timeout(sluice_run(&job, &sets(&clean))?, demo_timeout())?
        .require_success("the clean run")?;
    let kills = kill_after_commits(
        || sluice_run(&job, &sets(&crashed)),
        &crashed,
        3,
        |attempt| attempt,
        |attempt| Duration::from_millis(attempt as u64 * 7),
    )?;
    ensure!(
        kills >= 2,
        "only {kills} kills landed before the job finished"
    );
    run_with_timeout(sluice_run(&job, &sets(&crashed))?, demo_timeout())?
        .require_success("the resumed run")?;
    let same = same_tables_without(
        &clean,
        &crashed,
        &["silver", "gold_user_activity", "dlq"],
        None,
        &[],
    )?
    .require_ok()?;
    println!("after {kills} kills: {same}");
    Ok(())
}

/// Windowed queries in one job, over the same source: 5-minute windows sliding every
/// minute per user and type, 10-minute sessions per user, and 1-minute sessions per user
/// in update mode, merged each epoch (a session that grows back in time or joins another
/// deletes its old row, by its old start), and a `UNION ALL` of two 5-minute windowed
/// queries (clicks, other events) into one table. The generator's events are
/// never late here (no late fraction, a minute of skew under a 10-minute delay), so each
/// window table must equal DuckDB's plain GROUP BY over every row the job read; the job is also
/// killed twice and resumed, restoring both windows' state, to the same tables.
#[test]
fn two_windowed_queries_in_one_job_match_duckdb_and_survive_kills() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "sql_two_windows")?;
    let job = dir.join("two_windows.sql");
    std::fs::write(
        &job,
        "SET 'output.tables.dead-letters' = 'dlq';\n\
         CREATE TABLE events (event_id STRING NOT NULL, user_id STRING, event_type STRING, \
           event_time TIMESTAMP NOT NULL, value DOUBLE, \
           WATERMARK FOR event_time AS event_time - INTERVAL '10' MINUTE) \
         WITH ('connector' = 'generator', 'format' = 'json', 'late-fraction' = '0');\n\
         INSERT INTO all_rows SELECT * FROM events;\n\
         INSERT INTO sliding SELECT window_start, window_end, user_id, event_type, \
           count(*) AS n, sum(value) AS total FROM events \
           GROUP BY HOP(event_time, INTERVAL '1' MINUTE, INTERVAL '5' MINUTE), user_id, event_type;\n\
         INSERT INTO sessions SELECT user_id, window_start AS session_start, \
           window_end AS session_end, count(*) AS n FROM events \
           GROUP BY SESSION(event_time, INTERVAL '10' MINUTE), user_id;\n\
         CREATE TABLE live_sessions WITH ('output-mode' = 'update');\n\
         INSERT INTO live_sessions SELECT user_id, window_start AS session_start, \
           window_end AS session_end, count(*) AS n FROM events \
           GROUP BY SESSION(event_time, INTERVAL '1' MINUTE), user_id;\n\
         INSERT INTO by_kind SELECT window_start, window_end, user_id, 'click' AS kind, \
           count(*) AS n FROM events WHERE event_type = 'click' \
           GROUP BY TUMBLE(event_time, INTERVAL '5' MINUTE), user_id \
         UNION ALL SELECT window_start, window_end, user_id, 'other' AS kind, \
           count(*) AS n FROM events WHERE event_type <> 'click' \
           GROUP BY TUMBLE(event_time, INTERVAL '5' MINUTE), user_id;\n",
    )?;
    let sets = |out: &Path| {
        vec![
            format!("output.dir={}", out.display()),
            "source.generator.events=40000".to_owned(),
            "trigger.records-per-epoch=2000".to_owned(),
            "checkpoint.every=2".to_owned(),
            "workers=2".to_owned(),
        ]
    };
    let (clean, crashed) = (dir.join("clean"), dir.join("crashed"));
    run_with_timeout(sluice_run(&job, &sets(&clean))?, demo_timeout())?
        .require_success("the two-window job")?;
    let report = python_tool(
        "nexmark_tool.py",
        &[
            "windows".into(),
            "--silver".into(),
            clean.join("tables/all_rows").into_os_string(),
            "--sliding".into(),
            clean.join("tables/sliding").into_os_string(),
            "--sessions".into(),
            clean.join("tables/sessions").into_os_string(),
            "--live-sessions".into(),
            clean.join("tables/live_sessions").into_os_string(),
            "--by-kind".into(),
            clean.join("tables/by_kind").into_os_string(),
        ],
        Duration::from_secs(300),
    )?;
    println!("windows against DuckDB: {report}");

    let kills = kill_after_commits(
        || sluice_run(&job, &sets(&crashed)),
        &crashed,
        2,
        |attempt| 3 * attempt + 2,
        |_| Duration::ZERO,
    )?;
    ensure!(
        kills == 2,
        "only {kills} kills landed before the job finished"
    );
    run_with_timeout(sluice_run(&job, &sets(&crashed))?, demo_timeout())?
        .require_success("the resumed run")?;
    same_tables_without(
        &clean,
        &crashed,
        &[
            "all_rows",
            "sliding",
            "sessions",
            "live_sessions",
            "by_kind",
            "dlq",
        ],
        None,
        &[],
    )?
    .require_ok()?;
    Ok(())
}

/// The options of a bounded JSON file source reading one file of `dir` per epoch.
fn one_file_per_epoch(dir: &Path) -> String {
    format!(
        "WITH ('connector' = 'files', 'path' = '{}', 'format' = 'json', \
         'max-files-per-epoch' = '1', 'bounded' = 'true')",
        dir.display()
    )
}

/// The source tables of `event_time_tool.py write-join`'s orders and payments under
/// `dir`, one file of each per epoch (watermark delays 30 s and 60 s).
fn orders_and_payments(dir: &Path) -> String {
    format!(
        "CREATE TABLE orders (id BIGINT NOT NULL, customer STRING NOT NULL, \
           ts TIMESTAMP NOT NULL, amount BIGINT NOT NULL, \
           WATERMARK FOR ts AS ts - INTERVAL '30' SECOND) {};\n\
         CREATE TABLE payments (pid BIGINT NOT NULL, order_id BIGINT NOT NULL, \
           ts TIMESTAMP NOT NULL, paid BIGINT NOT NULL, \
           WATERMARK FOR ts AS ts - INTERVAL '60' SECOND) {};\n",
        one_file_per_epoch(&dir.join("orders")),
        one_file_per_epoch(&dir.join("payments"))
    )
}

/// Writes the input of an event-time oracle test: `event_time_tool.py WRITE --dir DIR`.
fn write_input(dir: &Path, write: &str, seed: u64) -> Result<()> {
    let dir = dir.display().to_string();
    let seed = seed.to_string();
    python_tool(
        "event_time_tool.py",
        &[write, "--dir", &dir, "--seed", &seed],
        Duration::from_secs(120),
    )?;
    Ok(())
}

/// Runs the SQL job `job` (2 workers, a snapshot every `every` epochs) into `DIR/clean`,
/// then into `DIR/crashed`, killed (`kill -9`) three times after commits and resumed;
/// the oracle `event_time_tool.py CHECK --dir DIR --out OUT ARGS...` must pass on both.
fn against_oracle_through_kills(
    dir: &Path,
    job: &Path,
    every: u32,
    check: &str,
    args: &[&str],
) -> Result<()> {
    let sets = |out: &Path| {
        vec![
            format!("output.dir={}", out.display()),
            format!("checkpoint.every={every}"),
            "workers=2".to_owned(),
        ]
    };
    let oracle = |out: &Path| -> Result<String> {
        let mut all = vec![
            check.to_owned(),
            "--dir".to_owned(),
            dir.display().to_string(),
            "--out".to_owned(),
            out.display().to_string(),
        ];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        python_tool("event_time_tool.py", &all, Duration::from_secs(300))
    };
    clean_and_through_kills(dir, job, sets, |out| {
        println!("{} against the oracle: {}", out.display(), oracle(out)?);
        Ok(())
    })
}

/// Runs `job` into `dir/clean` and `check`s it; then into `dir/crashed`, killed
/// (`kill -9`) three times while it commits and resumed, and `check`s that.
fn clean_and_through_kills(
    dir: &Path,
    job: &Path,
    sets: impl Fn(&Path) -> Vec<String>,
    check: impl Fn(&Path) -> Result<()>,
) -> Result<()> {
    let (clean, crashed) = (dir.join("clean"), dir.join("crashed"));
    run_with_timeout(sluice_run(job, &sets(&clean))?, demo_timeout())?
        .require_success("the clean run")?;
    check(&clean)?;
    let kills = kill_after_commits(
        || sluice_run(job, &sets(&crashed)),
        &crashed,
        3,
        |attempt| 6 * attempt + 5,
        |_| Duration::ZERO,
    )?;
    ensure!(
        kills == 3,
        "only {kills} kills landed before the job finished"
    );
    run_with_timeout(sluice_run(job, &sets(&crashed))?, demo_timeout())?
        .require_success("the resumed run")?;
    check(&crashed)
}

/// Correctable windows: a tumbling window in update mode with an allowed lateness, over
/// one file per epoch. Rows late by Spark's rule but within the lateness must correct
/// their window's row in the Delta table in place (one MERGE per epoch); rows later than
/// that are dead letters. An oracle replays the files with its own watermark; the job is
/// then killed three times and resumed, and must reach the same table.
#[test]
fn late_rows_within_the_allowed_lateness_correct_the_table_exactly_once() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "sql_corrections")?;
    write_input(&dir, "write", 11)?;
    let job = dir.join("job.sql");
    std::fs::write(
        &job,
        format!(
            "SET 'job-id' = 'corrections';\n\
             CREATE TABLE events (id BIGINT NOT NULL, sensor STRING NOT NULL, \
               ts TIMESTAMP NOT NULL, v BIGINT NOT NULL, \
               WATERMARK FOR ts AS ts - INTERVAL '30' SECOND) \
             {};\n\
             CREATE TABLE per_minute WITH ('output-mode' = 'update', \
               'allowed-lateness' = '2 minutes');\n\
             INSERT INTO per_minute SELECT window_start, window_end, sensor, count(*) AS n, \
               sum(v) AS total, min(v) AS lo, max(v) AS hi FROM events \
             GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), sensor;\n",
            one_file_per_epoch(&dir.join("in"))
        ),
    )?;
    let check = [
        "--table",
        "per_minute",
        "--size",
        "60",
        "--delay",
        "30",
        "--lateness",
        "120",
    ];
    against_oracle_through_kills(&dir, &job, 3, "check", &check)?;
    // Decoding only the columns the query reads: the same table; the late rows' payloads
    // lack `id`, and their coordinates name their input lines.
    let used = dir.join("used");
    let sets = [
        format!("output.dir={}", used.display()),
        "source-columns=used".to_owned(),
        "workers=2".to_owned(),
    ];
    run_with_timeout(sluice_run(&job, &sets)?, demo_timeout())?
        .require_success("the run decoding only the columns read")?;
    let mut args = vec![
        "check".to_owned(),
        "--dir".to_owned(),
        dir.display().to_string(),
    ];
    args.extend(["--out".to_owned(), used.display().to_string()]);
    args.extend(check.iter().map(|a| (*a).to_owned()));
    args.push("--by-coordinates".to_owned());
    println!(
        "source-columns=used: {}",
        python_tool("event_time_tool.py", &args, Duration::from_secs(300))?
    );
    Ok(())
}

/// A YAML job's gold window in update mode is merged by window and keys each epoch: at the
/// end of a bounded run (every window flushed) its table must equal the append run's, with
/// no window twice, although it was written as a series of corrections. The same for
/// sessions, whose merges delete the rows of sessions that moved their start.
#[test]
fn a_yaml_gold_window_in_update_mode_ends_equal_to_append_mode() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "yaml_update_mode")?;
    let job = config_dir().join("user-activity.yaml");
    let run = |job: &Path, out: &Path, mode: &str| -> Result<()> {
        let sets = [
            format!("output.dir={}", out.display()),
            "source.generator.events=30000".to_owned(),
            "trigger.records-per-epoch=3000".to_owned(),
            format!("gold.output-mode={mode}"),
        ];
        run_with_timeout(sluice_run(job, &sets)?, demo_timeout())?
            .require_success(&format!("{} in {mode} mode", job.display()))
    };
    let (append, update) = (dir.join("append"), dir.join("update"));
    run(&job, &append, "append")?;
    run(&job, &update, "update")?;
    let merges = sluice_tests::duckdb_count(&format!(
        "SELECT count(*) FROM read_json_auto('{}/tables/gold_user_activity/_delta_log/*.json') \
         WHERE commitInfo.operation = 'MERGE'",
        update.display()
    ))?;
    ensure!(merges > 0, "the update-mode gold table has no MERGE commit");
    println!("{merges} MERGE commits into gold");
    same_tables_without(&append, &update, &["gold_user_activity"], None, &[])?.require_ok()?;

    // Sessions: merged by start and keys; a session that grows back in time or joins
    // another deletes its old row.
    let sessions = dir.join("sessions.yaml");
    std::fs::write(
        &sessions,
        std::fs::read_to_string(&job)?.replace(
            "window: { kind: sliding, size: 5m, slide: 1m }",
            "window: { kind: session, gap: 1m }",
        ),
    )?;
    let (append, update) = (dir.join("sessions_append"), dir.join("sessions_update"));
    run(&sessions, &append, "append")?;
    run(&sessions, &update, "update")?;
    let deleted = sluice_tests::duckdb_count(&format!(
        "SELECT coalesce(sum(CAST(commitInfo.operationMetrics.num_target_rows_deleted AS BIGINT)), 0) \
         FROM read_json_auto('{}/tables/gold_user_activity/_delta_log/*.json') \
         WHERE commitInfo.operation = 'MERGE'",
        update.display()
    ))?;
    ensure!(
        deleted > 0,
        "no MERGE deleted a session that moved its start"
    );
    println!("{deleted} session rows deleted by MERGEs");
    same_tables_without(&append, &update, &["gold_user_activity"], None, &[])?.require_ok()?;
    Ok(())
}

/// Deduplication within the watermark, written as Flink writes it (`ROW_NUMBER() OVER
/// (PARTITION BY id ORDER BY ts) = 1`), over one file per epoch of events resent in the
/// same and later epochs. An oracle replays the files with its own watermark; the job is
/// then killed three times and resumed, which restores the remembered ids from the
/// checkpoint, and must reach the same tables.
#[test]
fn a_row_number_deduplication_matches_its_oracle_and_survives_kills() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "sql_dedup")?;
    write_input(&dir, "write-dups", 5)?;
    let job = dir.join("job.sql");
    std::fs::write(
        &job,
        format!(
            "SET 'job-id' = 'dedup';\n\
             CREATE TABLE events (id BIGINT NOT NULL, sensor STRING NOT NULL, \
               ts TIMESTAMP NOT NULL, v BIGINT NOT NULL, attempt BIGINT NOT NULL, \
               WATERMARK FOR ts AS ts - INTERVAL '30' SECOND) \
             {};\n\
             INSERT INTO unique_events SELECT id, sensor, ts, v, attempt FROM ( \
               SELECT *, ROW_NUMBER() OVER (PARTITION BY id ORDER BY ts) AS rn \
               FROM events) WHERE rn = 1;\n",
            one_file_per_epoch(&dir.join("in"))
        ),
    )?;
    against_oracle_through_kills(
        &dir,
        &job,
        2,
        "check-dedup",
        &["--table", "unique_events", "--delay", "30"],
    )
}

/// The same deduplication over a `UNION ALL` of two sources, which split the events:
/// resent copies arrive through the second. The watermark is the least of the two
/// sources' (the oracle computes each from its own files).
#[test]
fn a_deduplication_over_a_union_matches_its_oracle_and_survives_kills() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "sql_dedup_union")?;
    write_input(&dir, "write-dups-union", 6)?;
    let job = dir.join("job.sql");
    let table = |name: &str| {
        format!(
            "CREATE TABLE {name} (id BIGINT NOT NULL, sensor STRING NOT NULL, \
               ts TIMESTAMP NOT NULL, v BIGINT NOT NULL, attempt BIGINT NOT NULL, \
               WATERMARK FOR ts AS ts - INTERVAL '30' SECOND) {};\n",
            one_file_per_epoch(&dir.join(name))
        )
    };
    std::fs::write(
        &job,
        format!(
            "SET 'job-id' = 'dedup-union';\n{}{}\
             INSERT INTO unique_events SELECT id, sensor, ts, v, attempt FROM ( \
               SELECT *, ROW_NUMBER() OVER (PARTITION BY id ORDER BY ts) AS rn \
               FROM (SELECT * FROM a UNION ALL SELECT * FROM b) AS u) WHERE rn = 1;\n",
            table("a"),
            table("b")
        ),
    )?;
    against_oracle_through_kills(
        &dir,
        &job,
        2,
        "check-dedup",
        &["--table", "unique_events", "--delay", "30", "--union"],
    )
}

/// The same deduplication from a YAML job file (`silver.dedup`), over the same kind of
/// input and against the same oracle, clean and through three kills.
#[test]
fn a_yaml_silver_deduplication_matches_its_oracle_and_survives_kills() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "yaml_dedup")?;
    write_input(&dir, "write-dups", 6)?;
    let job = dir.join("job.yaml");
    std::fs::write(
        &job,
        format!(
            "job-id: dedup-yaml\n\
             source:\n\
             \x20 files: {{ path: \"{}\", format: json, max-files-per-epoch: 1, bounded: true }}\n\
             \x20 schema:\n\
             \x20   - {{ name: id, type: long, nullable: false }}\n\
             \x20   - {{ name: sensor, type: string, nullable: false }}\n\
             \x20   - {{ name: ts, type: timestamp, nullable: false }}\n\
             \x20   - {{ name: v, type: long, nullable: false }}\n\
             \x20   - {{ name: attempt, type: long, nullable: false }}\n\
             silver:\n\
             \x20 dedup: {{ keys: [id], event-time: ts, watermark-delay: 30s }}\n\
             output:\n\
             \x20 dir: unused\n\
             \x20 tables: {{ silver: unique_events, dead-letters: dead_letters }}\n",
            dir.join("in").display()
        ),
    )?;
    against_oracle_through_kills(
        &dir,
        &job,
        2,
        "check-dedup",
        &["--table", "unique_events", "--delay", "30"],
    )
}

/// A stream–stream interval join in SQL over two file sources, one file of each per
/// epoch: orders LEFT JOIN payments within [-1 min, +3 min]. An oracle computes each
/// side's watermark from its files, drops the late rows and joins the rest in plain
/// Python; the table must equal that join, null rows of unmatched orders included, and
/// the dead letters the late rows. The job is then killed three times and resumed
/// (restoring both sides' state) and must reach the same tables.
#[test]
fn a_stream_stream_left_join_matches_its_oracle_and_survives_kills() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "sql_stream_join")?;
    write_input(&dir, "write-join", 3)?;
    let job = dir.join("job.sql");
    std::fs::write(
        &job,
        format!(
            "SET 'job-id' = 'orders-payments';\n\
             {}INSERT INTO order_payments \
             SELECT o.id AS order_id, customer, amount, pid, paid \
             FROM orders AS o LEFT JOIN payments AS p \
               ON p.order_id = o.id \
              AND p.ts BETWEEN o.ts - INTERVAL '1' MINUTE AND o.ts + INTERVAL '3' MINUTE;\n",
            orders_and_payments(&dir)
        ),
    )?;
    against_oracle_through_kills(&dir, &job, 2, "check-join", &["--table", "order_payments"])
}

/// Windows over a stream–stream join's rows: over the order's time per customer (an
/// inner join), and over the payment's time (a RIGHT join, whose unmatched payments come
/// out once the watermark passes them). Each window's watermark is the join's (the least
/// of the two sides') less the join's bound on that side, so no row the join emits is
/// ever late for it. The oracle joins the rows that were not late for the join and
/// windows the pairs; the dead letters must be the join's late rows only. Killed three
/// times and resumed.
#[test]
fn windows_over_a_join_s_rows_match_their_oracle_and_survive_kills() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "sql_join_windows")?;
    write_input(&dir, "write-join", 4)?;
    let job = dir.join("job.sql");
    let join = "FROM orders AS o JOIN payments AS p ON p.order_id = o.id \
                AND p.ts BETWEEN o.ts - INTERVAL '1' MINUTE AND o.ts + INTERVAL '3' MINUTE";
    std::fs::write(
        &job,
        format!(
            "SET 'job-id' = 'orders-payments-windows';\n\
             {}INSERT INTO per_customer SELECT window_start, window_end, o.customer, \
               count(*) AS n, sum(paid) AS paid {join} \
             GROUP BY TUMBLE(o.ts, INTERVAL '1' MINUTE), o.customer;\n\
             INSERT INTO by_payment_time SELECT window_start, window_end, count(*) AS n, \
               sum(amount) AS amount {} GROUP BY TUMBLE(p.ts, INTERVAL '1' MINUTE);\n",
            orders_and_payments(&dir),
            join.replace(" JOIN ", " RIGHT JOIN ")
        ),
    )?;
    against_oracle_through_kills(
        &dir,
        &job,
        2,
        "check-join-windows",
        &["--table", "per_customer", "--table2", "by_payment_time"],
    )
}

/// Bad input after a stream–stream join goes to the dead letters: a query whose cast
/// fails on every joined row must not stop the job. Its rows reach the dead-letter
/// table with the left row's coordinates, as many as the same join gives a query that
/// succeeds.
#[test]
fn rows_an_expression_fails_on_after_a_join_become_dead_letters() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "sql_join_bad_rows")?;
    write_input(&dir, "write-join", 8)?;
    let job = dir.join("job.sql");
    let join = "FROM orders AS o JOIN payments AS p ON p.order_id = o.id \
                AND p.ts BETWEEN o.ts - INTERVAL '1' MINUTE AND o.ts + INTERVAL '3' MINUTE";
    std::fs::write(
        &job,
        format!(
            "SET 'job-id' = 'join-bad-rows';\n\
             {}INSERT INTO pairs SELECT o.id AS id, pid {join};\n\
             INSERT INTO bad SELECT o.id AS id, CAST(customer AS INT) AS c {join};\n",
            orders_and_payments(&dir)
        ),
    )?;
    let out = dir.join("out");
    run_with_timeout(
        sluice_run(&job, &[format!("output.dir={}", out.display())])?,
        demo_timeout(),
    )?
    .require_success("the job whose cast fails after a join")?;
    let table = |t: &str| format!("delta_scan('{}')", out.join("tables").join(t).display());
    let rows = duckdb_rows(&format!(
        "SELECT (SELECT count(*) FROM {pairs}), (SELECT count(*) FROM {bad}), \
         (SELECT count(*) FROM {dlq} WHERE reason LIKE 'error:%'), \
         (SELECT count(*) FROM {dlq} WHERE reason LIKE 'error:%' \
            AND source LIKE 'part-%' AND \"offset\" >= 0)",
        pairs = table("pairs"),
        bad = table("bad"),
        dlq = table("dead_letters")
    ))?;
    let counts: Vec<u64> = rows[0].iter().map(|v| v.parse().unwrap_or(0)).collect();
    ensure!(
        counts[0] > 0 && counts[1] == 0 && counts[2] == counts[0] && counts[3] == counts[0],
        "pairs, rows of the failing query, its dead letters, those with the left row's \
         coordinates: {counts:?}"
    );
    Ok(())
}

/// A window over a `UNION ALL` of two file sources whose event times are 30 minutes
/// apart: its watermark is the least of the two sources', each observed
/// before the app query's `WHERE`, so the lagging source's rows are not late for the
/// other's progress. An oracle replays the files with its own watermarks; the job is
/// killed three times and resumed (the two clocks come back from snapshots).
#[test]
fn a_window_over_a_union_of_two_sources_keeps_the_least_watermark() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "sql_union_window")?;
    write_input(&dir, "write-union", 5)?;
    let job = dir.join("job.sql");
    std::fs::write(
        &job,
        format!(
            "SET 'job-id' = 'web-and-app';\n\
             CREATE TABLE web (id BIGINT NOT NULL, sensor STRING NOT NULL, \
               ts TIMESTAMP NOT NULL, v BIGINT NOT NULL, \
               WATERMARK FOR ts AS ts - INTERVAL '60' SECOND) {};\n\
             CREATE TABLE app (id BIGINT NOT NULL, sensor STRING NOT NULL, \
               created TIMESTAMP NOT NULL, v BIGINT NOT NULL, \
               WATERMARK FOR created AS created - INTERVAL '2' MINUTE) {};\n\
             INSERT INTO per_minute \
             SELECT window_start, window_end, sensor, count(*) AS n, sum(v) AS total \
             FROM (SELECT id, sensor, ts, v FROM web \
                   UNION ALL SELECT id, sensor, created AS ts, v FROM app WHERE v >= 0) AS u \
             GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), sensor;\n",
            one_file_per_epoch(&dir.join("web")),
            one_file_per_epoch(&dir.join("app"))
        ),
    )?;
    against_oracle_through_kills(&dir, &job, 2, "check-union", &["--table", "per_minute"])
}

/// An aggregate without a window, in update mode: one group per (user, event type) for
/// the life of the job, each epoch's changed groups MERGEd into the table by their keys.
/// The table must hold DuckDB's GROUP BY over the silver rows the same job wrote (the
/// rows that passed the rules), after a clean run and after three `kill -9` and a resume.
#[test]
fn an_update_mode_aggregate_without_a_window_holds_the_current_groups() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "sql_global_aggregate")?;
    let text = std::fs::read_to_string(config_dir().join("user-activity.sql"))?;
    let gold = text
        .find("INSERT INTO gold_user_activity")
        .expect("the demo writes gold");
    let job = dir.join("totals.sql");
    std::fs::write(
        &job,
        format!(
            "{}CREATE TABLE totals WITH ('output-mode' = 'update');\n\
             INSERT INTO totals SELECT user_id, event_type, count(*) AS n, \
             sum(value) AS total FROM events GROUP BY user_id, event_type;\n",
            &text[..gold]
        ),
    )?;
    let sets = |out: &Path| {
        vec![
            format!("output.dir={}", out.display()),
            "source.generator.events=80000".to_owned(),
            "trigger.records-per-epoch=4000".to_owned(),
            "checkpoint.every=2".to_owned(),
        ]
    };
    let check = |out: &Path| -> Result<()> {
        let table = |t: &str| out.join("tables").join(t).display().to_string();
        let rows = duckdb_rows(&format!(
            "WITH want AS (SELECT user_id, event_type, count(*) AS n, sum(value) AS total \
               FROM delta_scan('{silver}') GROUP BY user_id, event_type), \
             got AS (SELECT user_id, event_type, n, total FROM delta_scan('{totals}')) \
             SELECT (SELECT count(*) FROM want), (SELECT count(*) FROM got), \
               count(*) FILTER (WHERE w.n IS DISTINCT FROM g.n \
                 OR NOT abs(w.total - g.total) <= 1e-9 * greatest(abs(w.total), 1)) \
             FROM want w FULL OUTER JOIN got g \
               ON w.user_id IS NOT DISTINCT FROM g.user_id \
              AND w.event_type IS NOT DISTINCT FROM g.event_type",
            silver = table("silver"),
            totals = table("totals"),
        ))?;
        let [want, got, different] = rows[0].as_slice() else {
            anyhow::bail!("unexpected result {rows:?}");
        };
        println!(
            "{}: {want} groups wanted, {got} in the table, {different} different",
            out.display()
        );
        ensure!(
            want == got && different == "0" && want != "0",
            "totals differ from DuckDB's GROUP BY over silver: {want} groups wanted, {got} \
             in the table, {different} different"
        );
        Ok(())
    };
    clean_and_through_kills(&dir, &job, sets, check)
}
