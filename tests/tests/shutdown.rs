//! Graceful shutdown: a SIGTERM lets the epochs in flight commit and exits 0, leaving no
//! epoch logged but uncommitted; a second signal aborts at once. Either way the same
//! command then finishes the job with tables equal to a clean run's.

use std::process::Child;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, bail, ensure};
use sluice_tests::user_activity::{
    Layout, clean_run, compare_with_clean, epoch_object, epochs, kill_all, log_tail, run_to_end,
    spawn, with_job,
};
use sluice_tests::{run_with_timeout, serial, work_dir};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");

fn signal(child: &Child, name: &str) -> Result<()> {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()?;
    ensure!(status.success(), "kill -{name} {} failed", child.id());
    Ok(())
}

/// Waits until `out` has at least `commits` commit markers, or the child exits.
fn wait_for_commits(out: &std::path::Path, commits: usize, child: &mut Child) -> Result<()> {
    let started = Instant::now();
    while epochs(out, "commits").len() < commits {
        ensure!(
            child.try_wait()?.is_none(),
            "the job ended before its commit number {commits}"
        );
        ensure!(
            started.elapsed() < Duration::from_secs(300),
            "no commit number {commits} within 300 s"
        );
        thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// Checks that a stopped run left every logged epoch committed and had not reached the end
/// of its input (else the stop proved nothing); returns its last epoch.
fn stopped_between_epochs(out: &std::path::Path) -> Result<u64> {
    let logged = epochs(out, "offsets");
    let committed = epochs(out, "commits");
    ensure!(
        logged.last() == committed.last(),
        "after a graceful stop every logged epoch is committed: offsets up to {:?}, commits \
         up to {:?}",
        logged.last(),
        committed.last()
    );
    let Some(&last) = committed.last() else {
        bail!("nothing was committed before the stop");
    };
    let entry = epoch_object(out, "offsets", last)?;
    ensure!(
        entry.is_some_and(|e| e["final_epoch"] != serde_json::Value::Bool(true)),
        "the job finished before the signal took effect (epoch {last} is the final one); \
         raise the events so it runs longer"
    );
    Ok(last)
}

fn wait_exit(child: &mut Child, limit: Duration) -> Result<std::process::ExitStatus> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            bail!("the job did not exit within {limit:?} of the signal");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sigterm_commits_the_epochs_in_flight_and_the_job_resumes_exactly() -> Result<()> {
    let _serial = serial();
    let layout = Layout::new(1, 2);
    let clean = clean_run(TMP, "shutdown/clean")?;

    // One SIGTERM: exit 0, every logged epoch committed, the input not finished.
    let out = work_dir(TMP, "shutdown/graceful")?;
    let log = out.with_extension("log");
    // Logs append across runs: start empty, so the check below reads this run's words.
    let _ = std::fs::remove_file(log.with_extension("0.log"));
    let mut children = spawn(&out, layout, &log)?;
    wait_for_commits(&out, 3, &mut children[0])?;
    signal(&children[0], "TERM")?;
    let signalled = Instant::now();
    let status = wait_exit(&mut children[0], Duration::from_secs(40))?;
    println!(
        "exited with {status} {:?} after SIGTERM",
        signalled.elapsed()
    );
    let text = std::fs::read_to_string(log.with_extension("0.log"))?;
    ensure!(
        status.success() && text.contains("stopped on request"),
        "a SIGTERM must end the run cleanly (exit 0, 'stopped on request'): {status}\n{}",
        log_tail(&log, layout)
    );
    let committed = epochs(&out, "commits");
    let last = stopped_between_epochs(&out)?;
    // The inspection command, on the job file: every epoch committed, with its versions.
    let mut list = with_job("checkpoints", &out)?;
    list.arg("list");
    let listed = run_with_timeout(list, Duration::from_secs(60))?;
    listed.require_success("sluice checkpoints <job> list")?;
    let lines: Vec<&str> = listed.stdout.lines().collect();
    ensure!(
        lines.len() == committed.len()
            && lines
                .iter()
                .all(|l| l.contains("committed") && l.contains("silver@")),
        "`checkpoints list` should show the {} committed epochs with their table versions:\n{}",
        committed.len(),
        listed.stdout
    );
    println!("stopped after epoch {last}; resuming");
    run_to_end(&out, layout, &log)?;
    compare_with_clean(&clean, &out)?;

    // Two signals: the second aborts at once (exit 143), and the job still resumes exactly.
    let out = work_dir(TMP, "shutdown/aborted")?;
    let log = out.with_extension("log");
    let mut children = spawn(&out, layout, &log)?;
    wait_for_commits(&out, 2, &mut children[0])?;
    signal(&children[0], "TERM")?;
    thread::sleep(Duration::from_millis(20));
    signal(&children[0], "TERM")?;
    let status = wait_exit(&mut children[0], Duration::from_secs(10))?;
    kill_all(&mut children)?;
    ensure!(
        status.code() == Some(143),
        "a second SIGTERM must abort with exit 143, got {status}\n{}",
        log_tail(&log, layout)
    );
    run_to_end(&out, layout, &log)?;
    compare_with_clean(&clean, &out)
}

/// A SIGTERM to one process of a cluster (a pod evicted alone) stops the whole cluster
/// gracefully: the stop reaches the planner in process 0 through the dataflow.
#[test]
fn sigterm_to_one_cluster_process_stops_the_cluster_gracefully() -> Result<()> {
    let _serial = serial();
    let layout = Layout::new(2, 2);
    let clean = clean_run(TMP, "shutdown/cluster-clean")?;
    let out = work_dir(TMP, "shutdown/cluster")?;
    let log = out.with_extension("log");
    for process in 0..2 {
        let _ = std::fs::remove_file(log.with_extension(format!("{process}.log")));
    }
    let mut children = spawn(&out, layout, &log)?;
    wait_for_commits(&out, 3, &mut children[0])?;
    signal(&children[1], "TERM")?;
    for (process, child) in children.iter_mut().enumerate() {
        let status = wait_exit(child, Duration::from_secs(40))?;
        ensure!(
            status.success(),
            "process {process} after a SIGTERM to process 1: {status}\n{}",
            log_tail(&log, layout)
        );
    }
    let text = std::fs::read_to_string(log.with_extension("0.log"))?;
    ensure!(
        text.contains("stopped on request"),
        "process 0 should report the stop:\n{}",
        log_tail(&log, layout)
    );
    let last = stopped_between_epochs(&out)?;
    println!("the cluster stopped after epoch {last}; resuming");
    run_to_end(&out, layout, &log)?;
    compare_with_clean(&clean, &out)
}
