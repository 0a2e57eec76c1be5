//! An object-store outage in the middle of a run: the job writes its tables and checkpoint
//! to S3 (moto) through a TCP proxy, which cuts every connection and refuses new ones for
//! 30 seconds once the job has committed a few epochs. The job must ride the outage out by
//! retrying (`object-store` settings, defaults), finish with exit 0, and leave tables equal
//! to a clean run's.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use sluice_tests::proxy::Proxy;
use sluice_tests::user_activity::{clean_run, compare_with_clean, job_file, settings};
use sluice_tests::{
    python_tool, s3_endpoint, serial, sluice_bin, spawn_logged, tail, wait_exit, work_dir,
};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");
const OUTAGE: Duration = Duration::from_secs(30);

fn s3_tool(args: &[&str]) -> Result<()> {
    python_tool("s3_tool.py", args, Duration::from_secs(300)).map(drop)
}

/// The epochs the job's log says it started (its `info` progress lines).
fn started_epochs(log: &Path) -> u64 {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("epoch epoch="))
        .count() as u64
}

#[test]
fn a_30_second_object_store_outage_is_ridden_out_and_the_tables_equal_a_clean_run() -> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "outage")?;
    let endpoint = s3_endpoint()?;
    let upstream: SocketAddr = endpoint
        .trim_start_matches("http://")
        .parse()
        .with_context(|| format!("SLUICE_S3_ENDPOINT {endpoint} is not http://host:port"))?;
    let proxy = Proxy::start(upstream)?;
    let bucket = format!("sluice-outage-{}", std::process::id());
    s3_tool(&["mkbucket", &bucket])?;

    let command = || -> Result<Command> {
        let mut cmd = Command::new(sluice_bin()?);
        cmd.arg("run").arg(job_file()).args(["--workers", "2"]);
        for set in settings(&dir.join("unused")) {
            cmd.arg("--set").arg(set);
        }
        // Later settings win: the tables and the checkpoint go to S3, through the proxy,
        // and epochs start at most every 300 ms so the outage falls mid-run.
        cmd.args(["--set", &format!("output.dir=s3://{bucket}/outage")])
            .args(["--set", "trigger.interval=300ms"])
            .env("AWS_ENDPOINT_URL", format!("http://{}", proxy.address()))
            .env("SLUICE_LOG", "info,buoyant_kernel=off,delta_kernel=off");
        Ok(cmd)
    };
    let cmd = command()?;
    let log = dir.join("run.log");
    let mut child = spawn_logged(cmd, &log)?;

    // Wait for a few epochs, then take the store away.
    let deadline = Instant::now() + Duration::from_secs(300);
    while started_epochs(&log) < 4 {
        if let Some(status) = child.try_wait()? {
            bail!(
                "the job ended ({status}) before the outage:\n{}",
                tail(&std::fs::read_to_string(&log)?, 30)
            );
        }
        ensure!(
            Instant::now() < deadline,
            "the job started no epochs in 300 s"
        );
        thread::sleep(Duration::from_millis(50));
    }
    let before = started_epochs(&log);
    proxy.go_down();
    println!("outage begins after {before} epochs started");
    thread::sleep(OUTAGE);
    let alive_after_outage = child.try_wait()?.is_none();
    proxy.come_back();
    let refused = proxy.refused();
    println!("outage ends: {refused} connections refused");
    ensure!(
        refused > 0,
        "the job never tried the store during the outage, so it did not test anything"
    );

    let status = wait_exit(
        &mut child,
        Duration::from_secs(600),
        "the job after the outage",
    )?;
    let text = std::fs::read_to_string(&log)?;
    ensure!(
        !text.contains("panicked"),
        "the job panicked:\n{}",
        tail(&text, 40)
    );
    if status.success() {
        let after = started_epochs(&log);
        ensure!(
            alive_after_outage && after > before,
            "the job ended without running through the outage ({before} epochs before, \
             {after} in all)"
        );
        println!(
            "rode the outage out: {after} epochs in all; {} connections forwarded",
            proxy.forwarded()
        );
    } else {
        // object_store does not retry every cut connection (a request interrupted
        // mid-body is not retried unless idempotent): the job may stop. It must stop with
        // one line naming the store, and a resume must be exact.
        let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error:")).collect();
        ensure!(
            errors.len() == 1 && errors[0].contains("S3"),
            "the job stopped ({status}) without one error line naming the store:\n{}",
            tail(&text, 40)
        );
        println!("stopped by the outage: {}", errors[0]);
        let resume_log = dir.join("resume.log");
        let mut resume = spawn_logged(command()?, &resume_log)?;
        let resumed = wait_exit(&mut resume, Duration::from_secs(600), "the resume")?;
        ensure!(
            resumed.success(),
            "the resume failed ({resumed}):\n{}",
            tail(&std::fs::read_to_string(&resume_log)?, 30)
        );
    }

    let out = dir.join("downloaded");
    s3_tool(&["download", &bucket, "outage", &out.display().to_string()])?;
    let clean = clean_run(TMP, "outage-clean")?;
    compare_with_clean(&clean, &out)
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `sluice run` as process `process` of a 2 × 1 cluster at `hosts`, into `out` on S3 at
/// `endpoint`, retrying a store failure only briefly.
fn cluster_process(out: &str, hosts: &str, process: u32, endpoint: &str) -> Result<Command> {
    let mut cmd = Command::new(sluice_bin()?);
    cmd.arg("run").arg(job_file()).args(["--workers", "1"]);
    for set in settings(Path::new("unused")) {
        cmd.arg("--set").arg(set);
    }
    cmd.args(["--set", &format!("output.dir={out}")])
        .args(["--set", "trigger.interval=300ms"])
        .args(["--set", "object-store.max-retries=2"])
        .args(["--set", "object-store.retry-timeout=2s"])
        .args(["--hosts", hosts, "--process", &process.to_string()])
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("SLUICE_LOG", "info,buoyant_kernel=off,delta_kernel=off");
    Ok(cmd)
}

/// One process of a 2-process cluster loses its object store mid-run (its own endpoint goes
/// through the proxy, the other's does not): its failed writes must reach the committer in
/// the other process as data, the job must stop with one line naming process 1, and a
/// resume must leave tables equal to a clean run's.
#[test]
fn a_cluster_process_that_cannot_write_stops_the_job_naming_it_and_the_resume_is_exact()
-> Result<()> {
    let _serial = serial();
    let dir = work_dir(TMP, "cluster-cannot-write")?;
    let endpoint = s3_endpoint()?;
    let upstream: SocketAddr = endpoint
        .trim_start_matches("http://")
        .parse()
        .with_context(|| format!("SLUICE_S3_ENDPOINT {endpoint} is not http://host:port"))?;
    let proxy = Proxy::start(upstream)?;
    let bucket = format!("sluice-nowrite-{}", std::process::id());
    s3_tool(&["mkbucket", &bucket])?;
    let out = format!("s3://{bucket}/cluster");
    let hosts = format!("127.0.0.1:{},127.0.0.1:{}", free_port()?, free_port()?);
    let through_proxy = format!("http://{}", proxy.address());
    let logs = [dir.join("p0.log"), dir.join("p1.log")];
    let mut children = vec![
        spawn_logged(cluster_process(&out, &hosts, 0, &endpoint)?, &logs[0])?,
        spawn_logged(cluster_process(&out, &hosts, 1, &through_proxy)?, &logs[1])?,
    ];
    let deadline = Instant::now() + Duration::from_secs(300);
    while started_epochs(&logs[0]) < 4 {
        for child in &mut children {
            if let Some(status) = child.try_wait()? {
                bail!(
                    "a process ended ({status}) before its store went away:\n{}",
                    tail(&std::fs::read_to_string(&logs[0])?, 30)
                );
            }
        }
        ensure!(
            Instant::now() < deadline,
            "the cluster started no epochs in 300 s"
        );
        thread::sleep(Duration::from_millis(50));
    }
    proxy.go_down();
    let mut statuses = Vec::new();
    for child in &mut children {
        let what = "the cluster after process 1 lost its store";
        statuses.push(wait_exit(child, Duration::from_secs(180), what)?);
    }
    ensure!(
        proxy.refused() > 0,
        "process 1 never tried its store while it was down"
    );
    let text = std::fs::read_to_string(&logs[0])?;
    ensure!(
        !statuses[0].success(),
        "process 0 exited 0 although process 1 could not write:\n{}",
        tail(&text, 30)
    );
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("error:")).collect();
    ensure!(
        errors.len() == 1 && errors[0].contains("process 1"),
        "process 0 should stop with one error line naming process 1, not {errors:?}:\n{}",
        tail(&text, 30)
    );
    println!("process 0: {}", errors[0]);
    for log in &logs {
        let text = std::fs::read_to_string(log)?;
        ensure!(
            !text.contains("panicked"),
            "{} panicked:\n{}",
            log.display(),
            tail(&text, 30)
        );
    }

    // Resume with both processes on the store directly.
    proxy.come_back();
    let hosts = format!("127.0.0.1:{},127.0.0.1:{}", free_port()?, free_port()?);
    let logs = [dir.join("resume-p0.log"), dir.join("resume-p1.log")];
    let mut children = [
        spawn_logged(cluster_process(&out, &hosts, 0, &endpoint)?, &logs[0])?,
        spawn_logged(cluster_process(&out, &hosts, 1, &endpoint)?, &logs[1])?,
    ];
    for (child, log) in children.iter_mut().zip(&logs) {
        let status = wait_exit(child, Duration::from_secs(600), "the resumed cluster")?;
        ensure!(
            status.success(),
            "{} failed ({status}):\n{}",
            log.display(),
            tail(&std::fs::read_to_string(log)?, 30)
        );
    }
    let downloaded = dir.join("downloaded");
    s3_tool(&[
        "download",
        &bucket,
        "cluster",
        &downloaded.display().to_string(),
    ])?;
    let clean = clean_run(TMP, "cluster-cannot-write-clean")?;
    compare_with_clean(&clean, &downloaded)
}
