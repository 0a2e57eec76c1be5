//! End-to-end tests of SQL jobs (`sluice run job.sql`): the demo pipeline written in SQL
//! (`config/user-activity.sql`) must write exactly the tables of the YAML demo job, read
//! back by DuckDB; what cannot run incrementally is refused, naming the construct.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Result, ensure};
use sluice_tests::sql_job::{config_dir, run_sql_job, sluice_run, table_scan};
use sluice_tests::{
    Demo, check_counts, demo_timeout, dlq_kinds, json_u64, kill_after_commits, python_tool,
    run_with_timeout, same_tables_without, serial, sluice_bin, work_dir,
};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");

#[path = "sql_jobs/flink.rs"]
mod flink;

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

/// `sluice explain --check` compiles the plan against the sources' schemas, as `run` does
/// at start: an unknown column or function is reported, naming it, and nothing is
/// written; a job that compiles is said to.
#[test]
fn explain_check_compiles_every_expression_against_the_sources() -> Result<()> {
    let dir = work_dir(TMP, "sql_explain_check")?;
    let job = |name: &str, select: &str| -> Result<std::path::PathBuf> {
        let path = dir.join(format!("{name}.sql"));
        std::fs::write(
            &path,
            format!(
                "SET 'output.dir' = '{}';\n\
                 CREATE TABLE events (event_id STRING NOT NULL, user_id STRING, \
                   event_time TIMESTAMP NOT NULL, value DOUBLE, \
                   WATERMARK FOR event_time AS event_time - INTERVAL '1' MINUTE) \
                 WITH ('connector' = 'generator', 'events' = '100');\n\
                 INSERT INTO t SELECT {select} FROM events;\n",
                dir.join("out").display()
            ),
        )?;
        Ok(path)
    };
    let explain = |path: &Path| -> Result<sluice_tests::RunOutput> {
        let mut cmd = Command::new(sluice_bin()?);
        cmd.arg("explain").arg("--check").arg(path);
        run_with_timeout(cmd, Duration::from_secs(60))
    };
    let good = explain(&job(
        "good",
        "event_id, upper(user_id) AS who, hour(event_time) AS h",
    )?)?;
    good.require_success("sluice explain --check of a job that compiles")?;
    ensure!(
        good.stdout.contains("check: every expression"),
        "no check line in:\n{}",
        good.stdout
    );
    for (name, select, named) in [
        ("column", "event_id, upper(usr_id) AS who", "usr_id"),
        ("function", "event_id, no_such_fn(value) AS x", "no_such_fn"),
    ] {
        let bad = explain(&job(name, select)?)?;
        ensure!(
            !bad.status.success() && bad.stderr.contains(named),
            "explain --check should fail naming `{named}`:\n{}{}",
            bad.stdout,
            bad.stderr
        );
    }
    ensure!(
        !dir.join("out").exists(),
        "explain --check wrote its output"
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
         INSERT INTO sessions SELECT user_id, session_window.start AS session_start, \
           session_window.end AS session_end, count(*) AS n FROM events \
           GROUP BY session_window(event_time, INTERVAL 10 MINUTES), user_id;\n\
         CREATE TABLE live_sessions WITH ('output-mode' = 'update');\n\
         INSERT INTO live_sessions SELECT user_id, window_start AS session_start, \
           window_end AS session_end, count(*) AS n FROM events \
           GROUP BY SESSION(event_time, INTERVAL '1' MINUTE), user_id;\n\
         INSERT INTO by_kind SELECT window_start, window_end, user_id, 'click' AS kind, \
           count(*) AS n FROM events WHERE event_type = 'click' \
           GROUP BY TUMBLE(event_time, INTERVAL '5' MINUTE), user_id \
         UNION ALL SELECT window_start, window_end, user_id, 'other' AS kind, \
           count(*) AS n FROM events WHERE event_type <> 'click' \
           GROUP BY TUMBLE(event_time, INTERVAL '5' MINUTE), user_id;\n\
         INSERT INTO expressions SELECT window_start, window_end, upper(e.user_id) AS who, \
           count(*) FILTER (WHERE e.value > 50) AS big, \
           sum(e.value) FILTER (WHERE e.event_type = 'click') AS clicks, \
           min(DISTINCT e.value) AS low, sum(e.value) / count(*) AS mean, \
           count(*) AS n, count(*) * 2 + 1 AS odd \
           FROM events AS e GROUP BY TUMBLE(e.event_time, INTERVAL '5' MINUTE), upper(e.user_id);\n\
         INSERT INTO narrow SELECT * EXCEPT (value) FROM events WHERE events.value > 10;\n\
         INSERT INTO busy SELECT window_start, window_end, window_time, user_id \
           FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(event_time), INTERVAL '5' MINUTE)) \
           GROUP BY window_start, window_end, window_time, user_id \
           HAVING count(*) > 3 AND max(value) > 50;\n\
         INSERT INTO leaders SELECT * FROM (SELECT window_start, window_end, event_type, \
           user_id, n AS events, DENSE_RANK() OVER (PARTITION BY window_start, window_end, \
           event_type ORDER BY n DESC) AS rk \
           FROM (SELECT window_start, window_end, event_type, user_id, count(*) AS n \
             FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(event_time), INTERVAL '5' MINUTE)) \
             GROUP BY window_start, window_end, event_type, user_id) \
           WHERE n > 1) WHERE rk <= 2;\n\
         INSERT INTO runners_up SELECT ws, event_type, user_id, n, best, rn FROM (SELECT *, \
           ROW_NUMBER() OVER (PARTITION BY ws, we, event_type ORDER BY n DESC, \
           best DESC NULLS FIRST, user_id) AS rn FROM (SELECT window_start AS ws, \
           window_end AS we, event_type, user_id, count(*) AS n, max(value) AS best \
           FROM events GROUP BY TUMBLE(event_time, INTERVAL '1' MINUTE), event_type, user_id)) \
           WHERE rn BETWEEN 2 AND 4;\n\
         INSERT INTO legacy SELECT TUMBLE_START(event_time, INTERVAL '5' MINUTE) AS ws, \
           TUMBLE_ROWTIME(event_time, INTERVAL '5' MINUTE) AS wt, event_type, count(*) AS n \
           FROM events GROUP BY TUMBLE(event_time, INTERVAL '5' MINUTE), 3, event_type;\n\
         INSERT INTO stamped SELECT event_id, value, now() AS seen, current_date() AS day, \
           arrow_cast(value, 'Int32') AS whole, \
           date_format(event_time, 'yyyy-MM-dd HH:mm') AS minute_text, hour(event_time) AS hr \
           FROM events;\n\
         INSERT INTO shifted SELECT window.start AS ws, window.end AS we, event_type, \
           count(*) AS n FROM events \
           GROUP BY window(event_time, '5 minutes', '5 minutes', '2 minutes'), event_type;\n\
         INSERT INTO spark_windows SELECT window, event_type, count(*) AS n FROM events \
           GROUP BY window(event_time, '5 minutes', '5 minutes', '2 minutes'), event_type;\n\
         INSERT INTO shifted_hops SELECT window_start, window_end, count(*) AS n \
           FROM TABLE(HOP(TABLE events, DESCRIPTOR(event_time), INTERVAL '1' MINUTE, \
             INTERVAL '3' MINUTE, INTERVAL '-20' SECOND)) \
           GROUP BY window_start, window_end;\n",
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
    let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    run_with_timeout(sluice_run(&job, &sets(&clean))?, demo_timeout())?
        .require_success("the two-window job")?;
    let ended = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
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
            "--expressions".into(),
            clean.join("tables/expressions").into_os_string(),
            "--narrow".into(),
            clean.join("tables/narrow").into_os_string(),
            "--busy".into(),
            clean.join("tables/busy").into_os_string(),
            "--leaders".into(),
            clean.join("tables/leaders").into_os_string(),
            "--runners-up".into(),
            clean.join("tables/runners_up").into_os_string(),
            "--legacy".into(),
            clean.join("tables/legacy").into_os_string(),
            "--shifted".into(),
            clean.join("tables/shifted").into_os_string(),
            "--spark-windows".into(),
            clean.join("tables/spark_windows").into_os_string(),
            "--shifted-hops".into(),
            clean.join("tables/shifted_hops").into_os_string(),
            "--stamped".into(),
            clean.join("tables/stamped").into_os_string(),
            "--ran-between".into(),
            format!("{},{}", started.as_micros(), ended.as_micros()).into(),
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
            "expressions",
            "narrow",
            "busy",
            "leaders",
            "runners_up",
            "legacy",
            "shifted",
            "spark_windows",
            "shifted_hops",
            "dlq",
        ],
        None,
        &[],
    )?
    .require_ok()?;
    Ok(())
}

/// SQL as a Spark user writes it runs as in Spark: camelCase fields read by their names in
/// any case (`upper(customerName)`, `hour(PLACEDAT)`), Spark's `date_format` with a Java
/// pattern, `get_json_object` (and Flink's `JSON_VALUE`) over a nested object read as its
/// JSON text, the window as Spark's `window` struct, and an INSERT's column list naming
/// the query's columns; JSON as Flink writes it (a timestamp without a zone, quoted
/// numbers) is read. The expected rows are written out by hand from the input.
#[test]
fn spark_style_sql_reads_camel_case_fields_and_names_columns_by_the_insert_list() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "sql_spark_style")?;
    let input = dir.join("orders");
    std::fs::create_dir_all(&input)?;
    std::fs::write(
        input.join("0.json"),
        [
            r#"{"orderId":1,"customerName":"ann","placedAt":"2026-03-01T09:15:00Z","amountUsd":5.0}"#,
            r#"{"orderId":2,"customerName":"bob","placedAt":"2026-03-01 09:45:00","amountUsd":20.0,"shipTo":{"city":"Oslo","lines":["a","b"]}}"#,
            r#"{"orderId":"3","customerName":"cy","placedAt":"2026-03-01T10:05:00Z","amountUsd":"30","shipTo":{"city":"Rome"}}"#,
            r#"{"orderId":4,"customerName":"di","placedAt":"2026-03-01T12:00:00Z","amountUsd":1.0}"#,
        ]
        .join("\n")
            + "\n",
    )?;
    let job = dir.join("job.sql");
    std::fs::write(
        &job,
        format!(
            "SET 'job-id' = 'spark-style';\n\
             CREATE TABLE orders (orderId BIGINT NOT NULL, customerName STRING, \
               placedAt TIMESTAMP NOT NULL, amountUsd DOUBLE, shipTo STRING, \
               WATERMARK FOR placedAt AS placedAt - INTERVAL '1' MINUTE) \
             WITH ('connector' = 'files', 'path' = '{}', 'format' = 'json', 'bounded' = 'true');\n\
             INSERT INTO big (id, who, day, hr, city, line) SELECT orderId, \
               upper(customerName), date_format(placedAt, 'dd/MM/yyyy'), hour(PLACEDAT), \
               get_json_object(shipTo, '$.city'), JSON_VALUE(shipTo, '$.lines[1]') \
               FROM orders WHERE amountusd > 10;\n\
             INSERT INTO hourly SELECT window, count(*) AS n, sum(AmountUsd) AS total \
               FROM orders GROUP BY window(PlacedAt, '1 hour');\n",
            input.display()
        ),
    )?;
    let out = dir.join("out");
    run_sql_job(&job, &out, "the Spark-style job")?;
    let table = |name: &str| table_scan(&out, name);
    let big = sluice_tests::duckdb_rows(&format!(
        "SELECT id, who, day, hr, city, coalesce(line, '-') FROM {} ORDER BY id",
        table("big")
    ))?;
    ensure!(
        big == [
            ["2", "BOB", "01/03/2026", "9", "Oslo", "b"],
            ["3", "CY", "01/03/2026", "10", "Rome", "-"]
        ],
        "orders over 10, named by the column list: {big:?}"
    );
    let hourly = sluice_tests::duckdb_rows(&format!(
        "SELECT strftime(\"window\".\"start\", '%H:%M'), strftime(\"window\".\"end\", '%H:%M'), \
         n, total FROM {} ORDER BY 1",
        table("hourly")
    ))?;
    ensure!(
        hourly
            == [
                ["09:00", "10:00", "2", "25.0"],
                ["10:00", "11:00", "1", "30.0"],
                ["12:00", "13:00", "1", "1.0"]
            ],
        "hourly windows as Spark's window struct: {hourly:?}"
    );
    Ok(())
}

/// Sums, minima and maxima of large integers are exact BIGINTs (a sum past BIGINT is NULL),
/// integers divide as doubles, timestamps become text as in Spark, and `min` and `max` take
/// text, against DuckDB's own evaluation of the same JSON.
#[test]
fn large_integers_aggregate_exactly_and_integers_divide_as_in_spark() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "sql_integers")?;
    let input = dir.join("events");
    std::fs::create_dir_all(&input)?;
    let big: i64 = 1 << 61;
    let rows = [
        (big + 1, "a", "2026-03-01T09:15:00.5Z", 7),
        (big + 3, "a", "2026-03-01T09:20:00Z", 2),
        (-5, "a", "2026-03-01T09:25:00.25Z", 4),
        (2 * big + 1, "b", "2026-03-01T09:30:00Z", 1),
        (2 * big + 1, "b", "2026-03-01T09:35:00Z", 2),
    ];
    let lines: Vec<String> = rows
        .iter()
        .map(|(id, k, ts, n)| format!(r#"{{"id":{id},"k":"{k}","ts":"{ts}","n":{n}}}"#))
        .collect();
    let file = input.join("0.json");
    std::fs::write(&file, lines.join("\n") + "\n")?;
    let job = dir.join("job.sql");
    std::fs::write(
        &job,
        format!(
            "SET 'job-id' = 'integers';\n\
             CREATE TABLE ev (id BIGINT NOT NULL, k STRING NOT NULL, ts TIMESTAMP NOT NULL, \
               n INT NOT NULL, WATERMARK FOR ts AS ts - INTERVAL '1' MINUTE) \
             WITH ('connector' = 'files', 'path' = '{}', 'format' = 'json', 'bounded' = 'true');\n\
             INSERT INTO per_key SELECT k, sum(id) AS total, min(id) AS lo, max(id) AS hi, \
               sum(n) / count(*) AS mean_n FROM ev GROUP BY TUMBLE(ts, INTERVAL '1' HOUR), k;\n\
             INSERT INTO texts SELECT id, n / 2 AS half, CAST(ts AS STRING) AS at, \
               concat(k, '@', ts) AS tag FROM ev;\n\
             INSERT INTO names SELECT min(concat(k, n)) AS least, max(concat(k, n)) AS greatest \
               FROM ev GROUP BY TUMBLE(ts, INTERVAL '1' HOUR);\n\
             INSERT INTO ratios SELECT n, 100 / (n - 2) AS r FROM ev;\n",
            input.display()
        ),
    )?;
    let out = dir.join("out");
    run_sql_job(&job, &out, "the integers job")?;
    let json = format!(
        "read_json('{}', columns = {{id: 'BIGINT', k: 'VARCHAR', ts: 'TIMESTAMP', n: 'INTEGER'}})",
        file.display()
    );
    // DuckDB sums BIGINTs into a HUGEINT: a sum outside BIGINT's range is NULL in ours.
    let per_key = |from: &str, total: &str| {
        sluice_tests::duckdb_rows(&format!(
            "SELECT k, {total}, lo, hi, mean_n, typeof(total), typeof(hi) FROM ({from}) ORDER BY k"
        ))
    };
    let want = per_key(
        &format!(
            "SELECT k, CASE WHEN sum(id) BETWEEN -9223372036854775808 AND 9223372036854775807 \
             THEN CAST(sum(id) AS BIGINT) END AS total, min(id) AS lo, max(id) AS hi, \
             sum(n) / count(*) AS mean_n FROM {json} GROUP BY k"
        ),
        "coalesce(CAST(total AS VARCHAR), 'null')",
    )?;
    let got = per_key(
        &format!("SELECT * FROM {}", table_scan(&out, "per_key")),
        "coalesce(CAST(total AS VARCHAR), 'null')",
    )?;
    ensure!(got == want, "per key: ours {got:?}, DuckDB's {want:?}");
    ensure!(
        got[0][3] == (big + 3).to_string() && got[1][1] == "null" && got[0][4].starts_with("4.33"),
        "exact max past 2^53, an overflowing sum NULL, a mean of integers: {got:?}"
    );
    let texts = sluice_tests::duckdb_rows(&format!(
        "SELECT half, \"at\", tag FROM {} ORDER BY id",
        table_scan(&out, "texts")
    ))?;
    ensure!(
        texts
            == [
                ["2.0", "2026-03-01 09:25:00.25", "a@2026-03-01 09:25:00.25"],
                ["3.5", "2026-03-01 09:15:00.5", "a@2026-03-01 09:15:00.5"],
                ["1.0", "2026-03-01 09:20:00", "a@2026-03-01 09:20:00"],
                ["0.5", "2026-03-01 09:30:00", "b@2026-03-01 09:30:00"],
                ["1.0", "2026-03-01 09:35:00", "b@2026-03-01 09:35:00"],
            ],
        "n / 2 and Spark's timestamp text: {texts:?}"
    );
    // The least and greatest text of a window, as DuckDB's min and max of the same.
    let names = sluice_tests::duckdb_rows(&format!(
        "SELECT least, greatest FROM {}",
        table_scan(&out, "names")
    ))?;
    let want = sluice_tests::duckdb_rows(&format!(
        "SELECT min(concat(k, n)), max(concat(k, n)) FROM {json}"
    ))?;
    ensure!(
        names == want && names == [["a2", "b2"]],
        "min and max of text: ours {names:?}, DuckDB's {want:?}"
    );
    // An integer divided by zero fails its own row only: the two rows of n = 2 are dead
    // letters, each naming the operator (`reason`) and the error (`error`), and the other
    // rows of their batch go on.
    let ratios = sluice_tests::duckdb_rows(&format!(
        "SELECT n, r FROM {} ORDER BY n",
        table_scan(&out, "ratios")
    ))?;
    let dead = sluice_tests::duckdb_rows(&format!(
        "SELECT CAST(json_extract(payload, '$.n') AS INT), reason, error LIKE '%division by zero%' \
         FROM {} ORDER BY 1",
        table_scan(&out, "dead_letters")
    ))?;
    ensure!(
        ratios == [["1", "-100.0"], ["4", "50.0"], ["7", "20.0"]]
            && dead
                == [
                    ["2", "error:ratios/select", "True"],
                    ["2", "error:ratios/select", "True"]
                ],
        "rows dividing by zero alone in the dead letters: {ratios:?}, {dead:?}"
    );
    Ok(())
}
