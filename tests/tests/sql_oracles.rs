//! End-to-end tests of SQL jobs against event-time oracles (`tests/python/
//! event_time_tool.py`), which compute each watermark themselves from the input files:
//! correctable windows, deduplications, stream–stream joins and windows over joins and
//! unions, each in a clean run and through `kill -9` and restarts. Column types (decimals,
//! nested values) are in `types`, window functions (TVFs, rankings, window joins,
//! percentiles, cascading windows) in `windowing`, each against its own Python tool.

use std::path::Path;
use std::time::Duration;

use anyhow::{Result, ensure};
use sluice_tests::sql_job::{
    against_oracle_through_kills, against_tool_through_kills, clean_and_through_kills, config_dir,
    one_file_per_epoch, orders_and_payments, run_sql_job, sluice_run, table_scan, write_input,
    write_input_with,
};
use sluice_tests::{
    demo_timeout, duckdb_rows, python_tool, run_with_timeout, same_tables_without, serial, work_dir,
};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");

#[path = "sql_oracles/joins.rs"]
mod joins;
#[path = "sql_oracles/types.rs"]
mod types;
#[path = "sql_oracles/windowing.rs"]
mod windowing;

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
/// sources' (the oracle computes each from its own files). The outer query selects `*`,
/// which keeps the row number: a BIGINT 1 on every row.
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
             INSERT INTO unique_events SELECT * FROM ( \
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
        &[
            "--table",
            "unique_events",
            "--delay",
            "30",
            "--union",
            "--row-number",
            "rn",
        ],
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

/// Writes `tool`'s input (`write --seed seed`) under a work directory `name`, then runs
/// `job` (its statements, `{files}` standing for the input files' `WITH (...)`) clean
/// and through three kills, each time against `tool check`.
fn tool_oracle(tool: &str, name: &str, seed: u64, job: &str) -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, name)?;
    write_input_with(tool, &dir, "write", seed)?;
    let path = dir.join("job.sql");
    std::fs::write(
        &path,
        job.replace("{files}", &one_file_per_epoch(&dir.join("in"))),
    )?;
    against_tool_through_kills(tool, &dir, &path, 2, "check", &[])
}
