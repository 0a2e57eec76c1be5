//! SQL jobs written as Flink writes them: a computed event-time column, and a script
//! with Flink's `SET` options, typed upsert sinks and a statement set; DuckDB computes
//! the tables from the same input.

use std::path::{Path, PathBuf};

use anyhow::{Result, ensure};
use sluice_tests::sql_job::{run_sql_job, table_scan};
use sluice_tests::{serial, work_dir};

use super::TMP;

/// 2026-03-01T09:00:00Z, in milliseconds: the clicks' first event time.
const START: i64 = 1_772_355_600_000;

/// Writes the JSON `lines` as `dir/clicks/0.json`: the directory and the file.
fn clicks(dir: &Path, lines: impl Iterator<Item = String>) -> Result<(PathBuf, PathBuf)> {
    let input = dir.join("clicks");
    std::fs::create_dir_all(&input)?;
    let file = input.join("0.json");
    let text: Vec<String> = lines.collect();
    std::fs::write(&file, text.join("\n") + "\n")?;
    Ok((input, file))
}

/// A Flink table whose event time is a computed column of epoch milliseconds: windows by it
/// equal DuckDB's over the same JSON, and a `CHECK` reads the computed column too.
#[test]
fn a_computed_event_time_column_windows_as_flink_declares_it() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "sql_computed")?;
    // 2026-03-01T09:00:00Z, then a row every 7.5 s, one of them before 2026.
    let (input, file) = clicks(
        &dir,
        (0..40_i64).map(|i| {
            let ms = if i == 13 { 1_000 } else { START + i * 7_500 };
            format!(r#"{{"who":"u{}","ts_ms":{ms}}}"#, i % 3)
        }),
    )?;
    let job = dir.join("job.sql");
    std::fs::write(
        &job,
        format!(
            "SET 'job-id' = 'computed';\n\
             CREATE TABLE clicks (who STRING NOT NULL, ts_ms BIGINT NOT NULL, \
               ts AS TO_TIMESTAMP_LTZ(ts_ms, 3), secs AS ts_ms / 1000, \
               CONSTRAINT recent CHECK (ts >= TIMESTAMP '2026-01-01 00:00:00'), \
               WATERMARK FOR ts AS ts - INTERVAL '5' SECOND) \
             WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'json', \
               'bounded' = 'true');\n\
             INSERT INTO per_minute SELECT window_start, who, count(*) AS n, \
               max(secs) AS last_secs FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), \
               INTERVAL '1' MINUTE)) GROUP BY window_start, window_end, who;\n",
            input.display()
        ),
    )?;
    let out = dir.join("out");
    run_sql_job(&job, &out, "the computed-column job")?;
    let got = sluice_tests::duckdb_rows(&format!(
        "SELECT strftime(window_start, '%H:%M'), who, n, last_secs FROM {} ORDER BY 1, 2",
        table_scan(&out, "per_minute")
    ))?;
    let want = sluice_tests::duckdb_rows(&format!(
        "SELECT strftime(time_bucket(INTERVAL 1 MINUTE, make_timestamp(ts_ms * 1000)), '%H:%M'), \
         who, count(*), max(ts_ms / 1000) FROM read_json('{}', columns = {{who: 'VARCHAR', \
         ts_ms: 'BIGINT'}}) WHERE ts_ms >= {START} GROUP BY ALL ORDER BY 1, 2",
        file.display()
    ))?;
    ensure!(
        got == want && got.len() == 15,
        "windows by the computed time: ours {got:?}, DuckDB's {want:?}"
    );
    let rejected = sluice_tests::duckdb_rows(&format!(
        "SELECT reason, count(*) FROM {} GROUP BY ALL",
        table_scan(&out, "dead_letters")
    ))?;
    ensure!(
        rejected == [["rule:recent", "1"]],
        "the row before 2026 fails the CHECK on the computed column: {rejected:?}"
    );
    Ok(())
}

/// A SQL script as Flink's SQL client runs it: Flink's `SET` options (the runtime mode,
/// the parallelism as `workers`, mini-batch tuning left out), sink tables that declare
/// their columns and an upsert key, and the INSERTs in a statement set. DuckDB computes
/// both tables from the input file.
#[test]
fn a_flink_script_with_typed_sinks_and_a_statement_set_runs_as_written() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "sql_flink_script")?;
    let (input, file) = clicks(
        &dir,
        (0..60_i64).map(|i| {
            let price = if i % 9 == 0 {
                "null".to_owned()
            } else {
                (i % 13).to_string()
            };
            format!(
                r#"{{"who":"u{}","ts_ms":{},"price":{price}}}"#,
                i % 4,
                START + i * 5_000
            )
        }),
    )?;
    let job = dir.join("job.sql");
    std::fs::write(
        &job,
        format!(
            "SET 'execution.runtime-mode' = 'streaming';\n\
             SET 'parallelism.default' = '2';\n\
             SET 'table.exec.mini-batch.enabled' = 'true';\n\
             SET 'pipeline.name' = 'flink-script';\n\
             CREATE TABLE clicks (who STRING NOT NULL, ts_ms BIGINT NOT NULL, price INT, \
               ts AS TO_TIMESTAMP_LTZ(ts_ms, 3), \
               WATERMARK FOR ts AS ts - INTERVAL '5' SECOND) \
             WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'json', \
               'bounded' = 'true');\n\
             CREATE TABLE per_minute (window_start TIMESTAMP(3), window_end TIMESTAMP(3), \
               who VARCHAR, clicks BIGINT, revenue DECIMAL(10, 2), \
               PRIMARY KEY (window_start, window_end, who) NOT ENFORCED) \
               WITH ('connector' = 'delta');\n\
             CREATE TABLE priced (who VARCHAR, price BIGINT NOT NULL) \
               WITH ('connector' = 'delta');\n\
             EXECUTE STATEMENT SET\nBEGIN\n\
             INSERT INTO per_minute SELECT window_start, window_end, who, count(*), \
               sum(price) FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), \
               INTERVAL '1' MINUTE)) GROUP BY window_start, window_end, who;\n\
             INSERT INTO priced SELECT who, price FROM clicks;\n\
             END;\n",
            input.display()
        ),
    )?;
    let out = dir.join("out");
    run_sql_job(&job, &out, "the Flink script")?;
    ensure!(
        out.join("checkpoints").join("flink-script").exists(),
        "pipeline.name is the job id: no checkpoint under {}",
        out.join("checkpoints").join("flink-script").display()
    );
    let read = format!(
        "read_json('{}', columns = {{who: 'VARCHAR', ts_ms: 'BIGINT', price: 'INTEGER'}})",
        file.display()
    );
    let got = sluice_tests::duckdb_rows(&format!(
        "SELECT strftime(window_start, '%H:%M'), strftime(window_end, '%H:%M'), who, clicks, \
         revenue, typeof(revenue) FROM {} ORDER BY 1, 3",
        table_scan(&out, "per_minute")
    ))?;
    let want = sluice_tests::duckdb_rows(&format!(
        "SELECT strftime(time_bucket(INTERVAL 1 MINUTE, make_timestamp(ts_ms * 1000)), '%H:%M'), \
         strftime(time_bucket(INTERVAL 1 MINUTE, make_timestamp(ts_ms * 1000)) \
           + INTERVAL 1 MINUTE, '%H:%M'), \
         who, count(*), CAST(sum(price) AS DECIMAL(10, 2)), 'DECIMAL(10,2)' FROM {read} \
         GROUP BY ALL ORDER BY 1, 3"
    ))?;
    ensure!(
        got == want && got.len() == 20,
        "the upserted windows: ours {got:?}, DuckDB's {want:?}"
    );
    let priced = sluice_tests::duckdb_rows(&format!(
        "SELECT who, price, typeof(price) FROM {} ORDER BY ALL",
        table_scan(&out, "priced")
    ))?;
    let want = sluice_tests::duckdb_rows(&format!(
        "SELECT who, CAST(price AS BIGINT), 'BIGINT' FROM {read} WHERE price IS NOT NULL \
         ORDER BY ALL"
    ))?;
    ensure!(
        priced == want,
        "the rows with a price: ours {priced:?}, DuckDB's {want:?}"
    );
    let rejected = sluice_tests::duckdb_rows(&format!(
        "SELECT reason, source LIKE '%0.json', count(*) FROM {} GROUP BY ALL",
        table_scan(&out, "dead_letters")
    ))?;
    ensure!(
        rejected == [["rule:priced_price_not_null", "True", "7"]],
        "the rows without a price are dead letters at their file: {rejected:?}"
    );
    Ok(())
}
