//! The user-activity job (`config/user-activity.yaml`) as the restart tests run it: a small
//! generator input, 3,000-record epochs and a snapshot every 2 epochs, laid out as any
//! number of processes × workers, plus readers of its checkpoint folder (commit markers,
//! state parts) that do not go through sluice's own code.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;

use crate::{
    check_accounting, check_same_tables, run_with_timeout, sluice_bin, spawn_logged, tail,
};

/// Generator events of a run.
pub const EVENTS: u64 = 60_000;
/// Generator partitions.
pub const PARTITIONS: u32 = 4;
/// The job id, which names its checkpoint folder.
pub const JOB_ID: &str = "user-activity";
/// Tables compared exactly across runs.
pub const EXACT_TABLES: [&str; 3] = ["bronze", "silver", "dlq"];
/// The window table: different worker counts sum floats in different orders, so it is
/// compared to 1e-9 relative.
pub const GOLD: &str = "gold_user_activity";

/// How a run is laid out: processes × workers per process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Layout {
    /// Processes of the cluster (1: no cluster).
    pub processes: u32,
    /// Worker threads per process.
    pub workers: u32,
}

impl Layout {
    /// `processes` × `workers`.
    pub fn new(processes: u32, workers: u32) -> Self {
        Layout { processes, workers }
    }
}

/// `config/user-activity.yaml`.
pub fn job_file() -> PathBuf {
    crate::tests_dir()
        .join("..")
        .join("config")
        .join("user-activity.yaml")
}

/// The `--set` overrides of the restart tests' runs into `out`.
pub fn settings(out: &Path) -> Vec<String> {
    vec![
        format!("output.dir={}", out.display()),
        format!("source.generator.events={EVENTS}"),
        format!("source.generator.partitions={PARTITIONS}"),
        "source.generator.seed=7".to_string(),
        "trigger.records-per-epoch=3000".to_string(),
        "checkpoint.every=2".to_string(),
    ]
}

/// `sluice <command> config/user-activity.yaml --set ...` for the runs into `out`.
///
/// # Errors
/// When `SLUICE_BIN` is not usable.
pub fn with_job(command: &str, out: &Path) -> Result<Command> {
    let mut cmd = Command::new(sluice_bin()?);
    cmd.arg(command).arg(job_file());
    for set in settings(out) {
        cmd.arg("--set").arg(set);
    }
    Ok(cmd)
}

/// `sluice run config/user-activity.yaml` into `out` with `workers` threads (not started).
///
/// # Errors
/// When `SLUICE_BIN` is not usable.
pub fn job(out: &Path, workers: u32) -> Result<Command> {
    let mut cmd = with_job("run", out)?;
    cmd.args(["--workers", &workers.to_string()]);
    Ok(cmd)
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Starts every process of `layout` into `out`, process `i` logging to `<log>.<i>.log`.
///
/// # Errors
/// When a process cannot start.
pub fn spawn(out: &Path, layout: Layout, log: &Path) -> Result<Vec<Child>> {
    let hosts = if layout.processes > 1 {
        let ports: Vec<String> = (0..layout.processes)
            .map(|_| free_port().map(|p| format!("127.0.0.1:{p}")))
            .collect::<Result<_>>()?;
        Some(ports.join(","))
    } else {
        None
    };
    let mut children = Vec::new();
    for process in 0..layout.processes {
        let mut cmd = job(out, layout.workers)?;
        if let Some(hosts) = &hosts {
            cmd.args(["--hosts", hosts, "--process", &process.to_string()]);
        }
        children.push(spawn_logged(cmd, &log_of(log, process))?);
    }
    Ok(children)
}

fn log_of(log: &Path, process: u32) -> PathBuf {
    log.with_extension(format!("{process}.log"))
}

/// Runs `layout` into `out` to completion, every process exiting 0.
///
/// # Errors
/// When a process fails or runs longer than 10 minutes.
pub fn run_to_end(out: &Path, layout: Layout, log: &Path) -> Result<()> {
    println!("run to the end as {layout:?}");
    let mut children = spawn(out, layout, log)?;
    let deadline = Instant::now() + Duration::from_secs(600);
    for (process, child) in children.iter_mut().enumerate() {
        loop {
            if let Some(status) = child.try_wait()? {
                ensure!(
                    status.success(),
                    "process {process} of {layout:?} failed with {status}\n{}",
                    log_tail(log, layout)
                );
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("process {process} of {layout:?} did not finish");
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
    Ok(())
}

/// SIGKILLs every process still running and reaps them all; returns whether any was
/// still running.
///
/// # Errors
/// When a process cannot be killed or waited for.
pub fn kill_all(children: &mut [Child]) -> Result<bool> {
    let mut killed = false;
    for child in children.iter_mut() {
        if child.try_wait()?.is_none() {
            child.kill()?;
            killed = true;
        }
        child.wait()?;
    }
    Ok(killed)
}

/// The tails of every process log of `layout`.
pub fn log_tail(log: &Path, layout: Layout) -> String {
    let mut text = String::new();
    for process in 0..layout.processes {
        let path = log_of(log, process);
        let body = std::fs::read_to_string(&path).unwrap_or_default();
        text.push_str(&format!(
            "--- {} (tail) ---\n{}\n",
            path.display(),
            tail(&body, 30)
        ));
    }
    text
}

/// A clean 1 × 2 run into `$base/e2e/<name>`, to compare with.
///
/// # Errors
/// When the run fails.
pub fn clean_run(base: &str, name: &str) -> Result<PathBuf> {
    let clean = crate::work_dir(base, name)?;
    run_with_timeout(job(&clean, 2)?, Duration::from_secs(600))?
        .require_success("sluice run (clean, 2 workers)")?;
    Ok(clean)
}

/// Checks `out` against `clean` (DuckDB: the exact tables exactly, gold to 1e-9), that
/// every event is accounted for, and that no committed epoch keeps state parts its marker
/// does not list.
///
/// # Errors
/// When any of that does not hold.
pub fn compare_with_clean(clean: &Path, out: &Path) -> Result<()> {
    check_same_tables(clean, out, &EXACT_TABLES, None)?;
    check_same_tables(clean, out, &[GOLD], Some(1e-9))?;
    check_accounting(out, EVENTS, PARTITIONS)?;
    let leftovers = unlisted_parts(out)?;
    ensure!(
        leftovers.is_empty(),
        "retention left state parts that no marker lists: {leftovers:?}"
    );
    Ok(())
}

// ------------------------------------------------------------ reading the checkpoint

/// The job's checkpoint folder under `out`.
pub fn checkpoint(out: &Path) -> PathBuf {
    out.join("checkpoints").join(JOB_ID)
}

/// The epochs named in `<checkpoint>/<kind>/` (`offsets`, `commits`, `state`), ascending.
pub fn epochs(out: &Path, kind: &str) -> Vec<u64> {
    let mut epochs: Vec<u64> = std::fs::read_dir(checkpoint(out).join(kind))
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    epochs.sort_unstable();
    epochs
}

/// The JSON object `<checkpoint>/<kind>/<epoch>`, if it exists.
///
/// # Errors
/// When it cannot be read or parsed.
pub fn epoch_object(out: &Path, kind: &str, epoch: u64) -> Result<Option<Value>> {
    let path = checkpoint(out).join(kind).join(format!("{epoch:020}"));
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(
            serde_json::from_slice(&bytes)
                .with_context(|| format!("parsing {}", path.display()))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The commit marker of `epoch`, if it exists.
///
/// # Errors
/// When it cannot be read or parsed.
pub fn marker(out: &Path, epoch: u64) -> Result<Option<Value>> {
    epoch_object(out, "commits", epoch)
}

/// `(operator, part)` of every whole state object of `epoch`.
pub fn state_parts(out: &Path, epoch: u64) -> BTreeSet<(String, String)> {
    let dir = checkpoint(out).join("state").join(format!("{epoch:020}"));
    let mut parts = BTreeSet::new();
    for operator in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = operator.file_name().to_string_lossy().into_owned();
        for part in std::fs::read_dir(operator.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let part = part.file_name().to_string_lossy().into_owned();
            // The local object store writes through `<name>#<n>` temporary files.
            if !part.starts_with('.') && !part.contains('#') {
                parts.insert((name.clone(), part));
            }
        }
    }
    parts
}

/// The newest committed epoch whose marker says it has a snapshot.
///
/// # Errors
/// When a marker cannot be read.
pub fn newest_snapshot(out: &Path) -> Result<Option<u64>> {
    for epoch in epochs(out, "commits").into_iter().rev() {
        if marker(out, epoch)?.is_some_and(|m| m["snapshot"] == Value::Bool(true)) {
            return Ok(Some(epoch));
        }
    }
    Ok(None)
}

/// Each committed epoch whose state folder holds parts its marker does not list, as
/// `"epoch: operator/part, ..."`.
///
/// # Errors
/// When a marker cannot be read.
pub fn unlisted_parts(out: &Path) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for epoch in epochs(out, "state") {
        let Some(m) = marker(out, epoch)? else {
            continue;
        };
        let listed: BTreeSet<(String, String)> = m["state"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                (
                    p["operator"].as_str().unwrap_or_default().to_string(),
                    p["part"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let extra: Vec<String> = state_parts(out, epoch)
            .difference(&listed)
            .map(|(o, p)| format!("{o}/{p}"))
            .collect();
        if !extra.is_empty() {
            found.push(format!("{epoch}: {}", extra.join(", ")));
        }
    }
    Ok(found)
}
