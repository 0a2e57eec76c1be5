//! A job run as a cluster of 2 processes × 2 workers writes the same tables as 1 process
//! × 1 worker: partition assignment, the key exchange, the watermark all-reduce and the
//! single committer all work across processes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, bail, ensure};
use sluice_tests::{
    DEMO_TABLES, check_accounting, check_gold_vs_silver, check_same_tables, python_tool,
    run_with_timeout, s3_endpoint, serial, sluice_bin, spawn_logged, tail, work_dir,
};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");
const EVENTS: u64 = 40_000;
const PARTITIONS: u32 = 4;

fn job_file() -> PathBuf {
    sluice_tests::tests_dir()
        .join("..")
        .join("config")
        .join("user-activity.yaml")
}

fn job(out: &Path, workers: u32) -> Result<Command> {
    let mut cmd = Command::new(sluice_bin()?);
    cmd.arg("run")
        .arg(job_file())
        .args(["--workers", &workers.to_string()]);
    for set in [
        format!("output.dir={}", out.display()),
        format!("source.generator.events={EVENTS}"),
        format!("source.generator.partitions={PARTITIONS}"),
        "source.generator.seed=3".to_string(),
        "trigger.records-per-epoch=4000".to_string(),
        "checkpoint.every=2".to_string(),
        // A uniqueness rule after the job's three, whose key hashes cross processes to
        // their owners; the report must count the same repeats as one worker does.
        "rules.3={name: user_unique, unique: [user_id], action: warn}".to_string(),
        "quality.report=true".to_string(),
    ] {
        cmd.arg("--set").arg(set);
    }
    Ok(cmd)
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

#[test]
fn two_processes_of_two_workers_equal_one_worker() -> Result<()> {
    let _serial = serial();
    let single = work_dir(TMP, "cluster/single")?;
    let clustered = work_dir(TMP, "cluster/clustered")?;
    run_with_timeout(job(&single, 1)?, Duration::from_secs(600))?
        .require_success("sluice run (1 process × 1 worker)")?;

    let hosts = format!("127.0.0.1:{},127.0.0.1:{}", free_port()?, free_port()?);
    let mut children = Vec::new();
    for process in 0..2 {
        let log = clustered.join(format!("process-{process}.log"));
        let mut cmd = job(&clustered, 2)?;
        cmd.args(["--hosts", &hosts, "--process", &process.to_string()]);
        children.push((spawn_logged(cmd, &log)?, log));
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    for (child, log) in &mut children {
        loop {
            if let Some(status) = child.try_wait()? {
                let text = std::fs::read_to_string(&*log).unwrap_or_default();
                ensure!(
                    status.success(),
                    "{} failed: {status}\n{}",
                    log.display(),
                    tail(&text, 30)
                );
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("{} did not finish", log.display());
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
    // Different worker counts sum floats in different orders: gold to 1e-9 relative.
    check_same_tables(&single, &clustered, &["bronze", "silver", "dlq"], None)?;
    // The quality report too (its column means are float sums).
    check_same_tables(
        &single,
        &clustered,
        &[DEMO_TABLES[2], "quality_report"],
        Some(1e-9),
    )?;
    check_accounting(&clustered, EVENTS, PARTITIONS)?;
    check_gold_vs_silver(&clustered)?;
    Ok(())
}

fn s3_tool(args: &[&str]) -> Result<()> {
    python_tool("s3_tool.py", args, Duration::from_secs(300)).map(drop)
}

/// Two instances of one job against the same checkpoint on S3: one of them stops with a
/// clear error, and after a final run the tables hold every record exactly once.
#[test]
fn a_second_instance_on_the_same_s3_checkpoint_stops_cleanly() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "cluster/race")?;
    let bucket = format!("sluice-race-{}", std::process::id());
    s3_tool(&["mkbucket", &bucket])?;
    let out = format!("s3://{bucket}/race");
    let endpoint = s3_endpoint()?;
    const RACE_EVENTS: u64 = 100_000;
    let command = || -> Result<Command> {
        let mut cmd = Command::new(sluice_bin()?);
        cmd.arg("run").arg(job_file()).args(["--workers", "1"]);
        for set in [
            format!("output.dir={out}"),
            format!("source.generator.events={RACE_EVENTS}"),
            format!("source.generator.partitions={PARTITIONS}"),
            "trigger.records-per-epoch=2000".to_string(),
        ] {
            cmd.arg("--set").arg(set);
        }
        cmd.env("AWS_ENDPOINT_URL", &endpoint);
        Ok(cmd)
    };
    let logs = [dir.join("a.log"), dir.join("b.log")];
    let mut a = spawn_logged(command()?, &logs[0])?;
    thread::sleep(Duration::from_millis(2500));
    let mut b = spawn_logged(command()?, &logs[1])?;
    let mut failed = Vec::new();
    for (child, log) in [(&mut a, &logs[0]), (&mut b, &logs[1])] {
        let deadline = Instant::now() + Duration::from_secs(600);
        let status = loop {
            if let Some(s) = child.try_wait()? {
                break s;
            }
            ensure!(Instant::now() < deadline, "{} hangs", log.display());
            thread::sleep(Duration::from_millis(50));
        };
        let text = std::fs::read_to_string(log).unwrap_or_default();
        ensure!(
            !text.contains("panicked"),
            "{} panicked:\n{}",
            log.display(),
            tail(&text, 30)
        );
        if !status.success() {
            let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error:")).collect();
            ensure!(
                errors.len() == 1,
                "{}: expected one error line:\n{}",
                log.display(),
                tail(&text, 30)
            );
            println!("{}: {}", log.display(), errors[0]);
            failed.push(errors[0].to_string());
        }
    }
    ensure!(
        failed.iter().any(|e| e.contains("another instance")),
        "neither instance noticed the other: {failed:?}"
    );
    // Finish with one instance, then check with the independent reader.
    run_with_timeout(command()?, Duration::from_secs(600))?.require_success("final run")?;
    s3_tool(&["download", &bucket, "race", &dir.display().to_string()])?;
    check_accounting(&dir, RACE_EVENTS, PARTITIONS)?;
    check_gold_vs_silver(&dir)?;
    Ok(())
}
