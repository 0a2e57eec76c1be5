//! A stream–table join that follows its Delta table (`follow: true`): a streaming job tails
//! a sales Delta table and joins each epoch with the customers Delta table's newest
//! version. The test changes customers (`sluice table update`) before loading each new
//! sales batch, kills the job with SIGKILL once, changes customers again while it is down
//! and restarts it. Then it simulates a crash after the last epoch was logged but before
//! it committed, changes customers once more, and restarts: the replay must join the
//! version the epoch logged. DuckDB then reads the joined table: every sale must carry the
//! tier its customer had when the sale was loaded, exactly once.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use sluice_tests::{
    expect_clean_failure, python_tool, run_with_timeout, serial, sluice_bin, spawn_logged, tail,
    work_dir,
};

const TMP: &str = env!("CARGO_TARGET_TMPDIR");

fn tool(args: &[&str]) -> Result<String> {
    python_tool("stream_join_tool.py", args, Duration::from_secs(120))
}

/// Loads JSON lines from `input` into the Delta table `<output>/tables/bronze`, as job `id`.
fn load(dir: &Path, id: &str, input: &str, output: &str, schema: &str) -> Result<()> {
    let job = dir.join(format!("{id}.yaml"));
    std::fs::write(
        &job,
        format!(
            "job-id: {id}\nsource:\n  files: {{ path: {input}, format: json, bounded: true }}\n  schema:\n{schema}\
             output:\n  dir: {output}\n"
        ),
    )?;
    let mut cmd = Command::new(sluice_bin()?);
    cmd.current_dir(dir).arg("run").arg(&job);
    run_with_timeout(cmd, Duration::from_secs(300))?.require_success(&format!("load {id}"))
}

fn load_sales(dir: &Path, batch: u32) -> Result<()> {
    let d = dir.display().to_string();
    tool(&["sales", "--dir", &d, "--batch", &batch.to_string()])?;
    load(
        dir,
        &format!("load-sales-{batch}"),
        &format!("sales-{batch}"),
        "sales-table",
        "    - { name: sale_id, type: long, nullable: false }\n    \
         - { name: customer_id, type: long }\n    - { name: amount, type: double }\n",
    )
}

fn update_customers(dir: &Path, condition: &str, tier: &str) -> Result<()> {
    let mut cmd = Command::new(sluice_bin()?);
    cmd.current_dir(dir)
        .args([
            "table",
            "update",
            "customers-table/tables/bronze",
            "--where",
        ])
        .arg(condition)
        .arg("--set")
        .arg(format!("tier='{tier}'"));
    run_with_timeout(cmd, Duration::from_secs(120))?.require_success("sluice table update")
}

/// The streaming job, killed with SIGKILL when dropped.
struct Streaming {
    child: Child,
    log: PathBuf,
}

impl Drop for Streaming {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Streaming {
    fn start(dir: &Path, job: &Path, log: &str) -> Result<Self> {
        let mut cmd = Command::new(sluice_bin()?);
        cmd.current_dir(dir)
            .arg("run")
            .arg(job)
            .args(["--workers", "2"]);
        let log = dir.join(log);
        Ok(Self {
            child: spawn_logged(cmd, &log)?,
            log,
        })
    }

    /// Waits until the joined table holds `rows` rows, while the job keeps running.
    fn wait_for(&mut self, silver: &str, rows: u64) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            if let Some(status) = self.child.try_wait()? {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                anyhow::bail!("the streaming job exited with {status}\n{}", tail(&log, 30));
            }
            let n: u64 = tool(&["count", "--table", silver])?.trim().parse()?;
            ensure!(
                n <= rows,
                "the joined table has {n} rows, more than the {rows} loaded"
            );
            if n == rows {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "the joined table has {n} of {rows} rows after 180 s"
            );
            thread::sleep(Duration::from_millis(300));
        }
    }
}

/// Simulates a crash between logging epoch `epoch` and committing it: removes the Delta
/// commit that carries the epoch's txn from every table under `out/tables`, and the
/// epoch's commit marker. Returns how many table commits were removed.
fn uncommit_last_epoch(out: &Path, epoch: u64) -> Result<usize> {
    let mut removed = 0;
    for table in std::fs::read_dir(out.join("tables"))? {
        let log = table?.path().join("_delta_log");
        let mut commits: Vec<PathBuf> = std::fs::read_dir(&log)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        commits.sort();
        let Some(last) = commits.last() else { continue };
        let text = std::fs::read_to_string(last)?;
        if text.contains("\"txn\"") && text.contains(&format!("\"version\":{epoch}")) {
            std::fs::remove_file(last)?;
            removed += 1;
        }
    }
    let marker = out
        .join("checkpoints/stream-join/commits")
        .join(format!("{epoch:020}"));
    // The kill may have come after the tables committed the epoch but before its marker
    // was written: then there is no marker to remove, which is the same state.
    match std::fs::remove_file(&marker) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", marker.display()))?
        }
        _ => {}
    }
    Ok(removed)
}

#[test]
fn a_followed_table_joins_each_epoch_at_its_newest_version() -> Result<()> {
    let yaml = "job-id: stream-join\nsource:\n  delta: { path: sales-table/tables/bronze }\n\
         joins:\n  - name: customers\n    table: { delta: { path: customers-table/tables/bronze } }\n    \
         on: [customer_id]\n    columns: [tier]\n    follow: true\n\
         output:\n  dir: out\n";
    let done = follow_the_table("stream_table_join", "stream.yaml", yaml)?;
    // Only Delta tables have versions to follow.
    let bad = done.join("bad.yaml");
    std::fs::write(
        &bad,
        yaml.replace(
            "table: { delta: { path: customers-table/tables/bronze } }",
            "table: { files: { path: customers-in, format: json } }",
        ),
    )?;
    let mut cmd = Command::new(sluice_bin()?);
    cmd.current_dir(&done).arg("run").arg(&bad);
    expect_clean_failure("follow on files", cmd, &["joins[0].follow", "table.delta"])
}

/// The same job in SQL: the sales declared as a Delta source (its declared columns checked
/// against the table's), the customers as a lookup table that is followed (`'lookup' =
/// 'follow'`), joined with `LEFT JOIN ... ON` in the query writing `silver`.
#[test]
fn a_followed_lookup_table_of_a_sql_job_joins_each_epoch_at_its_newest_version() -> Result<()> {
    let sql = "SET 'job-id' = 'stream-join';\nSET 'output.dir' = 'out';\n\
         CREATE TABLE sales (sale_id BIGINT NOT NULL, customer_id BIGINT, amount DOUBLE) \
           WITH ('connector' = 'delta-source', 'path' = 'sales-table/tables/bronze');\n\
         CREATE TABLE customers (customer_id BIGINT NOT NULL, tier STRING, region STRING) \
           WITH ('connector' = 'delta', 'path' = 'customers-table/tables/bronze', \
           'lookup' = 'follow');\n\
         INSERT INTO silver SELECT s.sale_id, s.customer_id, s.amount, c.tier \
           FROM sales AS s LEFT JOIN customers AS c ON s.customer_id = c.customer_id;\n";
    let done = follow_the_table("sql_stream_table_join", "stream.sql", sql)?;
    // The declared columns are checked against the Delta table's.
    let bad = done.join("bad.sql");
    std::fs::write(&bad, sql.replace("amount DOUBLE", "amount BIGINT"))?;
    let mut cmd = Command::new(sluice_bin()?);
    cmd.current_dir(&done).arg("run").arg(&bad);
    expect_clean_failure(
        "a declared column of another type",
        cmd,
        &["`amount` is a Float64 in the table, declared Int64"],
    )
}

/// Runs the test of the module docs with the job `text` (written to `file`), which must
/// write `out/tables/silver` with job id `stream-join`; returns its folder.
fn follow_the_table(name: &str, file: &str, text: &str) -> Result<PathBuf> {
    let _serial = serial();
    let dir = work_dir(TMP, name)?;
    let d = dir.display().to_string();
    tool(&["customers", "--dir", &d])?;
    load(
        &dir,
        "load-customers",
        "customers-in",
        "customers-table",
        "    - { name: customer_id, type: long, nullable: false }\n    \
         - { name: tier, type: string }\n    - { name: region, type: string }\n",
    )?;
    load_sales(&dir, 1)?;
    let job = dir.join(file);
    std::fs::write(&job, text)?;
    let silver = dir.join("out/tables/silver").display().to_string();

    let mut running = Streaming::start(&dir, &job, "stream-1.log")?;
    running.wait_for(&silver, 200)?;
    update_customers(&dir, "customer_id % 2 = 0", "platinum")?;
    load_sales(&dir, 2)?;
    running.wait_for(&silver, 400)?;
    drop(running); // SIGKILL

    // While the job is down, the table changes again and more sales arrive; the restart
    // loads the table at the version current when it plans its next epoch.
    update_customers(&dir, "customer_id % 3 = 0", "diamond")?;
    load_sales(&dir, 3)?;
    let mut running = Streaming::start(&dir, &job, "stream-2.log")?;
    running.wait_for(&silver, 600)?;
    drop(running);

    // A crash after epoch 2 was logged but before any table committed it, then another
    // change to customers: the replay must join the version epoch 2 logged, not the newest.
    let epoch = uncommit_last_epoch(&dir.join("out"), 2)?;
    ensure!(epoch > 0, "no table had committed epoch 2");
    ensure!(
        tool(&["count", "--table", &silver])?.trim() == "400",
        "epoch 2's rows are still in the joined table"
    );
    update_customers(&dir, "customer_id % 5 = 0", "gold")?;
    let mut running = Streaming::start(&dir, &job, "stream-3.log")?;
    running.wait_for(&silver, 600)?;
    drop(running);

    let report = tool(&["check", "--dir", &d, "--silver", &silver, "--batches", "3"])
        .context("the joined rows against the tiers of their time")?;
    eprintln!("{}", report.trim());

    // The checkpoint names the table version the last epoch joined: the second update's.
    let mut cmd = Command::new(sluice_bin()?);
    cmd.current_dir(&dir)
        .args(["checkpoints", "out/checkpoints", "--job-id", "stream-join"]);
    let out = run_with_timeout(cmd, Duration::from_secs(60))?;
    out.require_success("sluice checkpoints")?;
    ensure!(
        out.stdout
            .contains("keyed join tables at versions: 3 (epoch"),
        "the checkpoint summary does not show customers version 3:\n{}",
        out.stdout
    );
    Ok(dir)
}
