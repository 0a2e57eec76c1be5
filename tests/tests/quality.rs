//! Data-quality rules end to end: each action (`warn`, `drop`, `quarantine`, `fail`), a
//! threshold breach, and the quality report's profile checked against DuckDB over the same
//! bronze table.

use std::process::Command;
use std::time::Duration;

use anyhow::{Result, ensure};
use sluice_tests::quality_job::{
    TYPE_RULE, USER_RULE, VALUE_RULE, three_actions, user_activity_run,
};
use sluice_tests::{
    duckdb_count, expect_clean_failure, python_tool, run_with_timeout, serial, work_dir,
};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");

/// `sluice run config/user-activity.yaml --batch` on 40K generated events with `rules`.
fn job(out: &std::path::Path, rules: &str, extra: &[&str]) -> Result<Command> {
    let mut cmd = user_activity_run(out, 40_000, rules, extra)?;
    cmd.arg("--batch");
    Ok(cmd)
}

/// `warn` keeps violating rows in silver, `drop` keeps them nowhere, `quarantine` sends
/// them to the dead letters; the report's profile and rule counts equal DuckDB's.
#[test]
fn warn_drop_and_quarantine_route_rows_and_the_report_matches_duckdb() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "quality_actions")?;
    let out = dir.join("out");
    let cmd = job(&out, &three_actions(), &["quality.report=true"])?;
    run_with_timeout(cmd, Duration::from_secs(600))?.require_success("sluice run")?;
    let t = out.join("tables");
    let scan = |table: &str| format!("delta_scan('{}')", t.join(table).display());
    let bronze = duckdb_count(&format!("SELECT count(*) FROM {}", scan("bronze")))?;
    let silver = duckdb_count(&format!("SELECT count(*) FROM {}", scan("silver")))?;
    let warned_in_silver = duckdb_count(&format!(
        "SELECT count(*) FROM {} WHERE ({USER_RULE}) IS NOT TRUE",
        scan("silver")
    ))?;
    let dropped = duckdb_count(&format!(
        "SELECT count(*) FROM {} WHERE ({VALUE_RULE}) IS NOT TRUE",
        scan("bronze")
    ))?;
    let quarantined_expected = duckdb_count(&format!(
        "SELECT count(*) FROM {} WHERE ({VALUE_RULE}) IS TRUE AND ({TYPE_RULE}) IS NOT TRUE",
        scan("bronze")
    ))?;
    let quarantined = duckdb_count(&format!(
        "SELECT count(*) FROM {} WHERE reason = 'rule:type_known'",
        scan("dlq")
    ))?;
    let other_rule_rows = duckdb_count(&format!(
        "SELECT count(*) FROM {} WHERE reason IN ('rule:user_present', 'rule:value_ok')",
        scan("dlq")
    ))?;
    let silver_breaking_value = duckdb_count(&format!(
        "SELECT count(*) FROM {} WHERE ({VALUE_RULE}) IS NOT TRUE",
        scan("silver")
    ))?;
    ensure!(
        warned_in_silver > 0,
        "the generator made no null users: the warn check proves nothing"
    );
    ensure!(
        dropped > 0 && quarantined > 0,
        "no dropped ({dropped}) or quarantined ({quarantined}) rows"
    );
    ensure!(
        other_rule_rows == 0,
        "warn/drop rows reached the dead letters: {other_rule_rows}"
    );
    ensure!(
        silver_breaking_value == 0,
        "dropped rows reached silver: {silver_breaking_value}"
    );
    ensure!(
        quarantined == quarantined_expected,
        "quarantined {quarantined}, DuckDB expects {quarantined_expected}"
    );
    ensure!(
        silver + dropped + quarantined == bronze,
        "silver {silver} + dropped {dropped} + quarantined {quarantined} != bronze {bronze}"
    );
    let tables = t.display().to_string();
    let rules = [
        format!("user_present={USER_RULE}"),
        format!("value_ok={VALUE_RULE}"),
        format!("type_known={TYPE_RULE}"),
    ];
    let mut args = vec!["check", "--dir", &tables];
    for r in &rules {
        args.extend(["--rule", r.as_str()]);
    }
    let report = python_tool("quality_tool.py", &args, Duration::from_secs(120))?;
    eprintln!("{report}");
    Ok(())
}

/// A `fail` rule stops the job at the first epoch with a violation, naming the rule and
/// the figure, before that epoch commits anything.
#[test]
fn a_fail_rule_stops_the_job_before_the_epoch_commits() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "quality_fail")?;
    let out = dir.join("out");
    let rules = format!("[{{name: value_ok, check: \"{VALUE_RULE}\", action: fail}}]");
    let cmd = job(&out, &rules, &[])?;
    expect_clean_failure(
        "a broken fail rule",
        cmd,
        &[
            "data-quality rule `value_ok` (action fail) broken by",
            "epoch 0",
        ],
    )?;
    let committed = duckdb_count(&format!(
        "SELECT count(*) FROM delta_scan('{}')",
        out.join("tables").join("silver").display()
    ))?;
    ensure!(
        committed == 0,
        "the failed epoch committed {committed} silver rows"
    );
    Ok(())
}

/// A `max-ratio` threshold breach exits non-zero naming the rule, the share and the limit;
/// under the threshold the job succeeds.
#[test]
fn a_threshold_breach_names_the_rule_and_the_figure() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "quality_threshold")?;
    let tight = format!(
        "[{{name: user_present, check: \"{USER_RULE}\", action: warn, max-ratio: \"0.01%\"}}]"
    );
    expect_clean_failure(
        "a threshold breach",
        job(&dir.join("tight"), &tight, &[])?,
        &[
            "`user_present`",
            "above its max-ratio 0.01%",
            "of rows in epoch 0",
        ],
    )?;
    let loose = format!(
        "[{{name: user_present, check: \"{USER_RULE}\", action: warn, max-ratio: \"5%\"}}]"
    );
    run_with_timeout(
        job(&dir.join("loose"), &loose, &[])?,
        Duration::from_secs(600),
    )?
    .require_success("sluice run under the threshold")?;
    Ok(())
}

/// A uniqueness rule counts every repeat of a key in the epoch, whichever workers read the
/// copies (four generator partitions over two workers): the report's count equals DuckDB's
/// over the bronze table.
#[test]
fn uniqueness_counts_repeats_across_workers_as_duckdb_does() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "quality_unique")?;
    let out = dir.join("out");
    let rules = "[{name: user_unique, unique: [user_id], action: warn}]";
    let cmd = job(&out, rules, &["quality.report=true", "workers=2"])?;
    run_with_timeout(cmd, Duration::from_secs(600))?.require_success("sluice run")?;
    let t = out.join("tables");
    let scan = |table: &str| format!("delta_scan('{}')", t.join(table).display());
    let expected = duckdb_count(&format!(
        "SELECT count(user_id) - count(DISTINCT user_id) FROM {}",
        scan("bronze")
    ))?;
    let epochs = duckdb_count(&format!(
        "SELECT count(DISTINCT epoch) FROM {}",
        scan("quality_report")
    ))?;
    let counted = duckdb_count(&format!(
        "SELECT sum(violations)::BIGINT FROM {} WHERE name = 'user_unique'",
        scan("quality_report")
    ))?;
    ensure!(epochs == 1, "expected one epoch, the report has {epochs}");
    ensure!(
        expected > 0,
        "no repeated user ids: the check proves nothing"
    );
    ensure!(
        counted == expected,
        "the report counts {counted} repeated user ids, DuckDB {expected}"
    );
    Ok(())
}
