//! End-to-end on a real Kinesis API (kinesalite, started by `scripts/test`): the generator's
//! events go into a 2-shard stream in two phases with a shard split between them, while
//! `sluice run` streams them into Delta. DuckDB then finds every produced event exactly
//! once (by event id, since Kinesis coordinates are shard record counts), and gold equal
//! to the windows recomputed from silver up to the last committed watermark.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use sluice_tests::{
    check_counts, delta_check, expect_clean_failure, python_tool, run_with_timeout, serial,
    sluice_bin, spawn_logged, tail, work_dir,
};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");
const EVENTS: u64 = 40_000;
const PARTITIONS: u32 = 4;

fn endpoint() -> Result<String> {
    std::env::var("SLUICE_KINESIS_ENDPOINT")
        .ok()
        .filter(|v| !v.is_empty())
        .context(
            "SLUICE_KINESIS_ENDPOINT is not set: run with scripts/test, which starts kinesalite",
        )
}

fn kinesis_tool(args: &[&str]) -> Result<String> {
    python_tool("kinesis_tool.py", args, Duration::from_secs(120))
}

fn produce(stream: &str, from: u64, until: u64) -> Result<()> {
    let mut cmd = Command::new(sluice_bin()?);
    cmd.args([
        "produce",
        "--kinesis-stream",
        stream,
        "--kinesis-endpoint",
        &endpoint()?,
    ])
    .args([
        "--events",
        &EVENTS.to_string(),
        "--partitions",
        &PARTITIONS.to_string(),
    ])
    .args(["--seed", "21", "--malformed-fraction", "0"])
    .args([
        "--from-offset",
        &from.to_string(),
        "--until-offset",
        &until.to_string(),
    ]);
    run_with_timeout(cmd, Duration::from_secs(300))?
        .require_success("sluice produce --kinesis-stream")
}

fn job_file() -> PathBuf {
    sluice_tests::tests_dir()
        .join("..")
        .join("config")
        .join("user-activity.yaml")
}

/// The watermark (ms) of the newest committed epoch, from the checkpoint files.
fn committed_watermark_ms(out: &Path) -> Result<i64> {
    let job = out.join("checkpoints").join("user-activity");
    // Epoch files are named with zero-padded numbers.
    let (_, name) = std::fs::read_dir(job.join("commits"))
        .with_context(|| format!("listing {}", job.join("commits").display()))?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.parse::<u64>().ok().map(|epoch| (epoch, name))
        })
        .max()
        .context("no committed epoch")?;
    let path = job.join("offsets").join(&name);
    let entry: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?,
    )?;
    entry["watermark_ms"]
        .as_i64()
        .context("the last epoch has no watermark yet")
}

#[test]
fn kinesis_with_a_shard_split_to_delta_lands_every_event_once() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "kinesis_split")?;
    let stream = format!("events-{}", std::process::id());
    kinesis_tool(&["create", &stream, "2"])?;
    let half = EVENTS / u64::from(PARTITIONS) / 2;
    produce(&stream, 0, half)?;

    let out = dir.join("out");
    let log = dir.join("job.log");
    let mut cmd = Command::new(sluice_bin()?);
    cmd.arg("run").arg(job_file()).args(["--workers", "2"]);
    for set in [
        format!("output.dir={}", out.display()),
        "source.generator=~".to_string(),
        format!(
            "source.kinesis={{stream: {stream}, endpoint: \"{}\", max-records-per-epoch: 4000, access-key-id: test, secret-access-key: test}}",
            endpoint()?
        ),
        "trigger.interval=300ms".to_string(),
    ] {
        cmd.arg("--set").arg(set);
    }
    let mut job = spawn_logged(cmd, &log)?;
    thread::sleep(Duration::from_secs(3));
    println!("{}", kinesis_tool(&["split", &stream])?);
    produce(&stream, half, u64::MAX)?;
    println!("{}", kinesis_tool(&["shards", &stream])?);

    // A stream never ends: wait until every event is committed, then stop the job.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if let Some(status) = job.try_wait()? {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            bail!("the job exited ({status})\n{}", tail(&text, 30));
        }
        let counts = check_counts(&out).unwrap_or_default();
        let bronze = counts["tables"]["bronze"].as_u64().unwrap_or(0);
        if bronze >= EVENTS {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "only {bronze} of {EVENTS} events arrived"
        );
        thread::sleep(Duration::from_secs(2));
    }
    job.kill()?;
    job.wait()?;
    let outs = out.display().to_string();
    delta_check(&[
        "accounting",
        &outs,
        &EVENTS.to_string(),
        &PARTITIONS.to_string(),
        "--coordinates",
        "event-id",
    ])?;
    let watermark = committed_watermark_ms(&out)?;
    delta_check(&[
        "gold-vs-silver",
        &outs,
        "--emitted-until-ms",
        &watermark.to_string(),
    ])?;
    Ok(())
}

#[test]
fn an_unknown_stream_fails_with_one_clear_line() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "kinesis_unknown")?;
    let mut cmd = Command::new(sluice_bin()?);
    cmd.arg("run").arg(job_file());
    for set in [
        format!("output.dir={}", dir.join("out").display()),
        "source.generator=~".to_string(),
        format!(
            "source.kinesis={{stream: no-such-stream-e2e, endpoint: \"{}\", access-key-id: test, secret-access-key: test}}",
            endpoint()?
        ),
    ] {
        cmd.arg("--set").arg(set);
    }
    let started = Instant::now();
    expect_clean_failure("a missing stream", cmd, &["no-such-stream-e2e"])?;
    ensure!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    Ok(())
}

/// With `source-columns = used`, Kinesis records are decoded into the columns the job
/// reads only: `event_type` is declared BIGINT, which no produced value is, so decoding
/// it would make every record a dead letter; the job never reads it, and every record
/// must land in its table, none among the dead letters.
#[test]
fn kinesis_json_decodes_only_the_columns_a_job_reads() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "kinesis_used_columns")?;
    let stream = format!("used-{}", std::process::id());
    kinesis_tool(&["create", &stream, "1"])?;
    produce(&stream, 0, u64::MAX)?;
    let job = dir.join("picked.sql");
    std::fs::write(
        &job,
        format!(
            "SET 'job-id' = 'kinesis-used-columns';\n\
             SET 'source-columns' = 'used';\n\
             SET 'trigger.interval' = '300ms';\n\
             CREATE TABLE events (event_id STRING NOT NULL, user_id STRING, \
               event_type BIGINT, event_time TIMESTAMP NOT NULL, value DOUBLE) \
             WITH ('connector' = 'kinesis', 'stream' = '{stream}', 'endpoint' = '{}', \
               'access-key-id' = 'test', 'secret-access-key' = 'test', \
               'max-records-per-epoch' = '10000', 'format' = 'json');\n\
             INSERT INTO picked SELECT event_id, user_id, value FROM events;\n",
            endpoint()?
        ),
    )?;
    let out = dir.join("out");
    let log = dir.join("job.log");
    let mut cmd = Command::new(sluice_bin()?);
    cmd.arg("run")
        .arg(&job)
        .arg("--set")
        .arg(format!("output.dir={}", out.display()))
        .env("SLUICE_LOG", "info");
    let mut running = spawn_logged(cmd, &log)?;
    let table = |name: &str| {
        format!(
            "SELECT count(*) FROM delta_scan('{}')",
            out.join("tables").join(name).display()
        )
    };
    // A stream never ends: wait until every record is in a table, then stop the job.
    let deadline = Instant::now() + Duration::from_secs(300);
    let (picked, dead) = loop {
        if let Some(status) = running.try_wait()? {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            bail!("the job exited ({status})\n{}", tail(&text, 30));
        }
        let picked = sluice_tests::duckdb_count(&table("picked")).unwrap_or(0);
        let dead = sluice_tests::duckdb_count(&table("dead_letters")).unwrap_or(0);
        if picked + dead >= EVENTS {
            break (picked, dead);
        }
        ensure!(
            Instant::now() < deadline,
            "only {picked} rows and {dead} dead letters of {EVENTS} records arrived"
        );
        thread::sleep(Duration::from_secs(2));
    };
    running.kill()?;
    running.wait()?;
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    // The three columns selected: no coordinates, as nothing after the source can
    // reject a row.
    ensure!(
        text.contains("reading 3 of the 8 columns of `events`"),
        "no narrowing in the log:\n{}",
        tail(&text, 20)
    );
    ensure!(
        picked == EVENTS && dead == 0,
        "every record should be a row: {picked} rows, {dead} dead letters of {EVENTS}"
    );
    Ok(())
}
