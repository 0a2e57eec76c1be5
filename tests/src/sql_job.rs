//! Running SQL jobs in tests: the job files' sources, the event-time oracles of
//! `tests/python/event_time_tool.py`, and runs killed (`kill -9`) and resumed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Result, ensure};

use crate::{demo_timeout, kill_after_commits, python_tool, run_with_timeout, sluice_bin};

/// The repository's `config/` directory of job files.
pub fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config")
}

/// `sluice run JOB --set S...` (logging warnings only, unless `RUST_LOG` says otherwise).
///
/// # Errors
/// When the sluice binary is not set up.
pub fn sluice_run(job: &Path, sets: &[String]) -> Result<Command> {
    let mut cmd = Command::new(sluice_bin()?);
    cmd.arg("run").arg(job);
    for s in sets {
        cmd.arg("--set").arg(s);
    }
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", "warn");
    }
    Ok(cmd)
}

/// DuckDB's scan of the Delta table `name` a job wrote under the output directory `out`.
pub fn table_scan(out: &Path, name: &str) -> String {
    format!("delta_scan('{}')", out.join("tables").join(name).display())
}

/// Runs the SQL job `job` to its end with `output.dir` = `out`; `what` names it if it fails.
///
/// # Errors
/// When it does not finish in time, or fails.
pub fn run_sql_job(job: &Path, out: &Path, what: &str) -> Result<()> {
    run_with_timeout(
        sluice_run(job, &[format!("output.dir={}", out.display())])?,
        demo_timeout(),
    )?
    .require_success(what)
}

/// The options of a bounded JSON file source reading one file of `dir` per epoch.
pub fn one_file_per_epoch(dir: &Path) -> String {
    format!(
        "WITH ('connector' = 'files', 'path' = '{}', 'format' = 'json', \
         'max-files-per-epoch' = '1', 'bounded' = 'true')",
        dir.display()
    )
}

/// The source tables of `event_time_tool.py write-join`'s orders and payments under
/// `dir`, one file of each per epoch (watermark delays 30 s and 60 s).
pub fn orders_and_payments(dir: &Path) -> String {
    format!(
        "CREATE TABLE orders (id BIGINT NOT NULL, customer STRING NOT NULL, \
           ts TIMESTAMP NOT NULL, amount BIGINT NOT NULL, \
           WATERMARK FOR ts AS ts - INTERVAL '30' SECOND) {};\n\
         CREATE TABLE payments (pid BIGINT NOT NULL, order_id BIGINT NOT NULL, \
           ts TIMESTAMP NOT NULL, paid BIGINT NOT NULL, \
           WATERMARK FOR ts AS ts - INTERVAL '60' SECOND) {};\n",
        one_file_per_epoch(&dir.join("orders")),
        one_file_per_epoch(&dir.join("payments"))
    )
}

/// Writes the input of an event-time oracle test: `event_time_tool.py WRITE --dir DIR`.
///
/// # Errors
/// When the tool fails.
pub fn write_input(dir: &Path, write: &str, seed: u64) -> Result<()> {
    write_input_with("event_time_tool.py", dir, write, seed)
}

/// Writes the input of an oracle test: `TOOL WRITE --dir DIR --seed SEED`.
///
/// # Errors
/// When the tool fails.
pub fn write_input_with(tool: &str, dir: &Path, write: &str, seed: u64) -> Result<()> {
    let dir = dir.display().to_string();
    let seed = seed.to_string();
    python_tool(
        tool,
        &[write, "--dir", &dir, "--seed", &seed],
        Duration::from_secs(120),
    )?;
    Ok(())
}

/// Runs the SQL job `job` (2 workers, a snapshot every `every` epochs) into `DIR/clean`,
/// then into `DIR/crashed`, killed (`kill -9`) three times after commits and resumed;
/// the oracle `event_time_tool.py CHECK --dir DIR --out OUT ARGS...` must pass on both.
///
/// # Errors
/// When a run fails, fewer than three kills land, or the oracle finds a difference.
pub fn against_oracle_through_kills(
    dir: &Path,
    job: &Path,
    every: u32,
    check: &str,
    args: &[&str],
) -> Result<()> {
    against_tool_through_kills("event_time_tool.py", dir, job, every, check, args)
}

/// As [`against_oracle_through_kills`], with the oracle `TOOL CHECK --dir DIR --out OUT
/// ARGS...`.
///
/// # Errors
/// When a run fails, fewer than three kills land, or the oracle finds a difference.
pub fn against_tool_through_kills(
    tool: &str,
    dir: &Path,
    job: &Path,
    every: u32,
    check: &str,
    args: &[&str],
) -> Result<()> {
    let sets = |out: &Path| {
        vec![
            format!("output.dir={}", out.display()),
            format!("checkpoint.every={every}"),
            "workers=2".to_owned(),
        ]
    };
    let oracle = |out: &Path| -> Result<String> {
        let mut all = vec![
            check.to_owned(),
            "--dir".to_owned(),
            dir.display().to_string(),
            "--out".to_owned(),
            out.display().to_string(),
        ];
        all.extend(args.iter().map(|a| (*a).to_owned()));
        python_tool(tool, &all, Duration::from_secs(300))
    };
    clean_and_through_kills(dir, job, sets, |out| {
        println!("{} against the oracle: {}", out.display(), oracle(out)?);
        Ok(())
    })
}

/// Runs `job` into `dir/clean` and `check`s it; then into `dir/crashed`, killed
/// (`kill -9`) three times while it commits and resumed, and `check`s that.
///
/// # Errors
/// When a run or a check fails, or fewer than three kills land.
pub fn clean_and_through_kills(
    dir: &Path,
    job: &Path,
    sets: impl Fn(&Path) -> Vec<String>,
    check: impl Fn(&Path) -> Result<()>,
) -> Result<()> {
    let (clean, crashed) = (dir.join("clean"), dir.join("crashed"));
    run_with_timeout(sluice_run(job, &sets(&clean))?, demo_timeout())?
        .require_success("the clean run")?;
    check(&clean)?;
    let kills = kill_after_commits(
        || sluice_run(job, &sets(&crashed)),
        &crashed,
        3,
        |attempt| 6 * attempt + 5,
        |_| Duration::ZERO,
    )?;
    ensure!(
        kills == 3,
        "only {kills} kills landed before the job finished"
    );
    run_with_timeout(sluice_run(job, &sets(&crashed))?, demo_timeout())?
        .require_success("the resumed run")?;
    check(&crashed)
}
