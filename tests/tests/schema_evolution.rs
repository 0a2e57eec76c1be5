//! `output.merge-schema` and `sluice table update|delete` end to end, checked with DuckDB's
//! `delta_scan` (`tests/python/table_tool.py counts`):
//! - a job that adds a silver column fails cleanly on the existing table without
//!   `merge-schema`, and with it appends rows carrying the new column while the old rows
//!   read it as null;
//! - `table delete --where` removes exactly the matching rows and `table update --where
//!   --set` changes exactly the matching ones;
//! - a job that now writes a silver column as `bigint` where the table has `int` fails
//!   cleanly without `merge-schema`, and with it widens the table column (old rows keep
//!   their values, read as `BIGINT` by DuckDB) and appends values past the `int` range.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use sluice_tests::{
    expect_clean_failure, python_tool, run_with_timeout, serial, sluice_bin, tests_dir, work_dir,
};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");
const EVENTS: &str = "4000";

/// The user-activity job on EVENTS generated events into `dir/out`, as job `job_id`,
/// with `set` overrides.
fn job(dir: &Path, job_id: &str, set: &[&str]) -> Result<Command> {
    let mut cmd = Command::new(sluice_bin()?);
    cmd.current_dir(dir).arg("run").arg(
        tests_dir()
            .join("..")
            .join("config")
            .join("user-activity.yaml"),
    );
    for s in [
        format!("source.generator.events={EVENTS}"),
        "output.dir=out".to_string(),
        format!("job-id={job_id}"),
    ]
    .iter()
    .map(String::as_str)
    .chain(set.iter().copied())
    {
        cmd.args(["--set", s]);
    }
    Ok(cmd)
}

const WITH_DOUBLED: &str = "silver.columns=[{name: event_date, expr: \"CAST(event_time AS DATE)\"}, {name: doubled, expr: \"value * 2\"}]";

fn counts(table: &Path, named: &[&str]) -> Result<Value> {
    let mut args = vec![
        "counts".to_string(),
        "--table".into(),
        table.display().to_string(),
    ];
    for n in named {
        args.push("--count".into());
        args.push((*n).to_string());
    }
    let out = python_tool("table_tool.py", &args, Duration::from_secs(120))?;
    serde_json::from_str(out.trim()).context("table_tool counts: not JSON")
}

fn n(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(u64::MAX)
}

fn table(args: &[&str]) -> Result<()> {
    let mut cmd = Command::new(sluice_bin()?);
    cmd.arg("table").args(args);
    run_with_timeout(cmd, Duration::from_secs(120))?.require_success(&args.join(" "))
}

#[test]
fn merge_schema_adds_a_column_and_update_delete_change_exactly_the_matching_rows() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "schema_evolution")?;
    let silver = dir.join("out/tables/silver");
    run_with_timeout(job(&dir, "first", &[])?, Duration::from_secs(300))?
        .require_success("first run")?;
    let first = n(&counts(&silver, &[])?, "rows");
    ensure!(first > 0, "the first run wrote no silver rows");

    expect_clean_failure(
        "a new column without merge-schema",
        job(&dir, "second", &[WITH_DOUBLED])?,
        &["doubled", "missing from the table"],
    )?;
    run_with_timeout(
        job(&dir, "second", &[WITH_DOUBLED, "output.merge-schema=true"])?,
        Duration::from_secs(300),
    )?
    .require_success("second run with merge-schema")?;
    let c = counts(
        &silver,
        &[
            "with=doubled IS NOT NULL",
            "right=doubled = value * 2",
            "without=doubled IS NULL",
        ],
    )?;
    ensure!(
        n(&c, "rows") == 2 * first && n(&c, "with") == first && n(&c, "right") == first,
        "after merge-schema: {c} (first run: {first} rows)"
    );
    ensure!(
        n(&c, "without") == first,
        "old rows must read the new column as null: {c}"
    );

    let path = silver.display().to_string();
    table(&["delete", &path, "--where", "doubled IS NULL"])?;
    let c = counts(
        &silver,
        &["clicks=event_type = 'click'", "with=doubled IS NOT NULL"],
    )?;
    ensure!(
        n(&c, "rows") == first && n(&c, "with") == first,
        "delete left the wrong rows: {c}"
    );
    let clicks = n(&c, "clicks");
    table(&[
        "update",
        &path,
        "--where",
        "event_type = 'click'",
        "--set",
        "doubled = -1",
    ])?;
    let c = counts(
        &silver,
        &[
            "marked=doubled = -1",
            "clicks_marked=event_type = 'click' AND doubled = -1",
            "others_kept=event_type <> 'click' AND doubled = value * 2",
        ],
    )?;
    ensure!(
        n(&c, "rows") == first
            && n(&c, "marked") == clicks
            && n(&c, "clicks_marked") == clicks
            && n(&c, "others_kept") + clicks == first,
        "update changed the wrong rows: {c} ({clicks} clicks)"
    );
    Ok(())
}

#[test]
fn replace_where_replaces_the_matching_partitions_once() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "replace_where")?;
    let silver = dir.join("out/tables/silver");
    run_with_timeout(job(&dir, "first", &[])?, Duration::from_secs(300))?
        .require_success("first run")?;
    let first = counts(&silver, &["dated=event_date IS NOT NULL"])?;
    ensure!(n(&first, "rows") > 0, "the first run wrote no silver rows");
    // The same input under another job id, replacing every dated partition: the table
    // holds one copy, not two.
    run_with_timeout(
        job(
            &dir,
            "second",
            &["silver.replace-where=event_date >= '1970-01-01'"],
        )?,
        Duration::from_secs(300),
    )?
    .require_success("replacing run")?;
    let replaced = counts(&silver, &["dated=event_date IS NOT NULL"])?;
    ensure!(
        n(&replaced, "rows") == n(&first, "rows") && n(&replaced, "dated") == n(&first, "dated"),
        "replace-where left {replaced}, the first run wrote {first}"
    );
    // Without it, a third job id appends a second copy.
    run_with_timeout(job(&dir, "third", &[])?, Duration::from_secs(300))?
        .require_success("appending run")?;
    let doubled = counts(&silver, &[])?;
    ensure!(
        n(&doubled, "rows") == 2 * n(&first, "rows"),
        "an appending run should double the table: {doubled}"
    );
    expect_clean_failure(
        "replace-where on a column that is not a partition column",
        job(&dir, "fourth", &["silver.replace-where=value > 1"])?,
        &["partition columns only"],
    )
}

const AS_INT: &str = "silver.columns=[{name: event_date, expr: \"CAST(event_time AS DATE)\"}, {name: cents, expr: \"CAST(floor(value * 100) AS INT)\"}]";
const AS_BIGINT: &str = "silver.columns=[{name: event_date, expr: \"CAST(event_time AS DATE)\"}, {name: cents, expr: \"CAST(floor(value * 100) AS BIGINT) * 10000000000\"}, {name: second_run, expr: \"true\"}]";

#[test]
fn merge_schema_widens_an_int_column_to_bigint_and_keeps_the_old_rows() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "type_widening")?;
    let silver = dir.join("out/tables/silver");
    run_with_timeout(job(&dir, "first", &[AS_INT])?, Duration::from_secs(300))?
        .require_success("first run")?;
    let first = counts(&silver, &["ints=typeof(cents) = 'INTEGER'"])?;
    ensure!(
        n(&first, "rows") > 0 && n(&first, "ints") == n(&first, "rows"),
        "the first run should write int cents: {first}"
    );
    let rows = n(&first, "rows");

    expect_clean_failure(
        "a wider column type without merge-schema",
        job(&dir, "second", &[AS_BIGINT])?,
        &["\"cents\" is integer in the table but long", "merge-schema"],
    )?;
    run_with_timeout(
        job(&dir, "second", &[AS_BIGINT, "output.merge-schema=true"])?,
        Duration::from_secs(300),
    )?
    .require_success("second run with merge-schema")?;
    let c = counts(
        &silver,
        &[
            "bigints=typeof(cents) = 'BIGINT'",
            "old_kept=second_run IS NULL AND cents IS NOT DISTINCT FROM CAST(floor(value * 100) AS BIGINT)",
            "new_wide=second_run AND cents IS NOT DISTINCT FROM CAST(floor(value * 100) AS BIGINT) * 10000000000",
            "past_int=cents > 2147483647",
        ],
    )?;
    ensure!(
        n(&c, "rows") == 2 * rows
            && n(&c, "bigints") == 2 * rows
            && n(&c, "old_kept") == rows
            && n(&c, "new_wide") == rows,
        "after widening: {c} (first run: {rows} rows)"
    );
    ensure!(
        n(&c, "past_int") > 0,
        "the second run should write values past the int range: {c}"
    );
    Ok(())
}
