//! A job run as a cluster of 2 processes × 2 workers writes the same tables as 1 process
//! × 1 worker: partition assignment, the key exchange, the watermark all-reduce and the
//! single committer all work across processes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, bail, ensure};
use sluice_tests::{
    DEMO_TABLES, check_accounting, check_gold_vs_silver, check_same_tables, run_with_timeout,
    serial, sluice_bin, spawn_logged, tail, work_dir,
};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");
const EVENTS: u64 = 40_000;
const PARTITIONS: u32 = 4;

fn job_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
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
    check_same_tables(&single, &clustered, &[DEMO_TABLES[2]], Some(1e-9))?;
    check_accounting(&clustered, EVENTS, PARTITIONS)?;
    check_gold_vs_silver(&clustered)?;
    Ok(())
}
