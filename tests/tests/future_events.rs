//! `watermark.max-future` end to end: a file job (one file per epoch) whose first file holds
//! one event dated two days ahead. With `max-future: 1h` the event is a dead letter (reason
//! `future`) and the watermark follows the other events, so the later files' rows count in
//! their windows. Without the bound (the control run, same files), that one event moves the
//! watermark two days ahead and the third file is late (epoch `e`'s rows are judged by
//! `W(e-1)`, Spark's watermark for late events, so the second file still counts): the
//! bound is what saves it. Checked with DuckDB's `delta_scan`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, ensure};
use sluice_tests::{duckdb_rows, run_with_timeout, sluice_bin, work_dir};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");

/// `secs` (Unix time) as RFC 3339, by `date`.
fn rfc3339(secs: u64) -> Result<String> {
    let mut cmd = Command::new("date");
    cmd.args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%SZ"]);
    let out = run_with_timeout(cmd, Duration::from_secs(10))?;
    out.require_success("date")?;
    Ok(out.stdout.trim().to_owned())
}

/// Writes `lines` events `{id, user, ts}` as JSON lines.
fn write_events(path: &Path, events: &[(u64, &str, u64)]) -> Result<()> {
    let mut text = String::new();
    for (id, user, secs) in events {
        text.push_str(&format!(
            "{{\"id\": {id}, \"user\": \"{user}\", \"ts\": \"{}\"}}\n",
            rfc3339(*secs)?
        ));
    }
    std::fs::write(path, text)?;
    Ok(())
}

/// Runs the job over `dir/data` into `dir/<out>`, with `extra` job lines.
fn run(dir: &Path, out: &str, extra: &str) -> Result<()> {
    let job = format!(
        "job-id: future-{out}\nworkers: 2\nsource:\n  files:\n    path: data\n    format: json\n    \
         max-files-per-epoch: 1\n    bounded: true\n  schema:\n    \
         - {{ name: id, type: long, nullable: false }}\n    - {{ name: user, type: string }}\n    \
         - {{ name: ts, type: timestamp, nullable: false }}\ngold:\n  name: per_minute\n  \
         window: {{ kind: tumbling, size: 1m }}\n  event-time: ts\n  watermark-delay: 10m\n  \
         keys: [user]\n  aggregates:\n    - {{ name: events, fn: count }}\n{extra}output:\n  \
         dir: {out}\n  tables:\n    bronze: ~\n    silver: silver\n    gold: gold\n    \
         dead-letters: dlq\n"
    );
    std::fs::write(dir.join(format!("{out}.yaml")), job)?;
    let mut cmd = Command::new(sluice_bin()?);
    cmd.current_dir(dir)
        .args(["run", &format!("{out}.yaml")])
        .env("RUST_LOG", "warn");
    run_with_timeout(cmd, Duration::from_secs(300))?.require_success(&format!("sluice run {out}"))
}

/// `(reason, rows)` of the dead-letter table, and the gold rows' event count.
fn outcome(dir: &Path, out: &str) -> Result<(Vec<(String, u64)>, u64)> {
    let tables = dir.join(out).join("tables");
    let reasons = duckdb_rows(&format!(
        "SELECT reason, count(*) FROM delta_scan('{}') GROUP BY reason ORDER BY reason",
        tables.join("dlq").display()
    ))?
    .into_iter()
    .map(|r| Ok((r[0].clone(), r[1].trim().parse()?)))
    .collect::<Result<Vec<_>>>()?;
    let counted = duckdb_rows(&format!(
        "SELECT coalesce(sum(events), 0) FROM delta_scan('{}')",
        tables.join("gold").display()
    ))?;
    let counted = counted
        .first()
        .and_then(|r| r.first())
        .context("a sum")?
        .trim()
        .parse()?;
    Ok((reasons, counted))
}

#[test]
fn events_dated_too_far_ahead_are_dead_letters_and_leave_the_watermark_alone() -> Result<()> {
    let dir = work_dir(TMP, "future-events")?;
    let data = dir.join("data");
    std::fs::create_dir_all(&data)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let mut first: Vec<(u64, &str, u64)> = (0..20).map(|i| (i, "a", now - 1800 + i)).collect();
    first.push((99, "b", now + 2 * 86_400));
    let second: Vec<(u64, &str, u64)> = (100..120).map(|i| (i, "a", now - 1500 + i)).collect();
    let third: Vec<(u64, &str, u64)> = (200..220).map(|i| (i, "a", now - 1200 + i)).collect();
    write_events(&data.join("1.json"), &first)?;
    write_events(&data.join("2.json"), &second)?;
    write_events(&data.join("3.json"), &third)?;

    run(&dir, "bounded", "watermark:\n  max-future: 1h\n")?;
    let (reasons, counted) = outcome(&dir, "bounded")?;
    ensure!(
        reasons == vec![("future".to_owned(), 1)],
        "with max-future: dead letters by reason {reasons:?}, expected one `future`"
    );
    ensure!(
        counted == 60,
        "with max-future: gold counts {counted} events, expected the 60 on time"
    );
    let future = duckdb_rows(&format!(
        "SELECT event_id, source, \"offset\" FROM delta_scan('{}')",
        dir.join("bounded/tables/dlq").display()
    ))?;
    ensure!(
        future.len() == 1 && future[0][1].ends_with("1.json"),
        "the future dead letter names its file: {future:?}"
    );

    // The control: the same files without the bound.
    run(&dir, "unbounded", "")?;
    let (reasons, counted) = outcome(&dir, "unbounded")?;
    ensure!(
        reasons == vec![("late".to_owned(), 20)] && counted == 41,
        "without max-future the far event should make the third file late: dead letters \
         {reasons:?}, gold counts {counted} (expected 20 late and 41 counted)"
    );
    Ok(())
}
