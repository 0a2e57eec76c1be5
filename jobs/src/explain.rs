//! `sluice explain JOB`: the plan a job file compiles to, printed without running it.

use std::fmt::Write;

use anyhow::Result;
use sluice_config::JobConfig;
use sluice_engine::window::OutputMode;

/// The plan of `job` as text ([`sluice_engine::plan::Plan::explain`]), then for a SQL
/// job how each table is written.
///
/// # Errors
/// When the job's plan cannot be built.
pub(crate) fn explain(job: &JobConfig) -> Result<String> {
    let mut out = job.plan()?.explain();
    for table in job.queries.iter().flat_map(|q| &q.sinks) {
        let how = match table.mode {
            OutputMode::Append => "appended".to_owned(),
            OutputMode::Update if table.deletes => format!(
                "merged by {:?} each epoch, deleting merged sessions",
                table.merge_keys
            ),
            OutputMode::Update => format!("merged by {:?} each epoch", table.merge_keys),
        };
        let to = if table.blackhole {
            " (blackhole: counted, dropped)".to_owned()
        } else if table.partition_by.is_empty() {
            String::new()
        } else {
            format!(", partitioned by {:?}", table.partition_by)
        };
        let _ = writeln!(out, "table {}: {how}{to}", table.name);
    }
    Ok(out)
}

/// Compiles `job`'s plan against its sources' schemas and the tables its joins read, as
/// `run` does at start, without running it (`sluice explain --check`); returns, for each
/// stream join, the columns its state holds.
///
/// # Errors
/// A source or table that cannot be opened, or a plan that does not compile.
pub(crate) fn check(job: &JobConfig) -> Result<String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("sluice-check")
        .enable_all()
        .build()?;
    let compiled = crate::pipeline::compile(job, runtime.handle())?;
    let mut out = String::new();
    for line in compiled.stream_join_holdings()? {
        let _ = writeln!(out, "{line}");
    }
    Ok(out)
}
