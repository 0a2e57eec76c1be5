//! `sluice replay JOB --from-epoch E --into DIR`: a replay into shadow tables, leaving
//! production alone. The job's checkpoint and tables are copied under `DIR` (the tables'
//! data files hard-linked where the file system allows, since Delta never rewrites a data
//! file; their logs copied), then the copy is replayed in place as `--in-place` would
//! (restored to the versions before the replayed epochs, recomputed), and the job runs on
//! in `DIR`. `sluice table diff PROD/tables/T DIR/tables/T` then shows what the replay
//! changed.
//!
//! The shadow job publishes to no Kafka topic and serves no metrics, so that it never
//! touches what production's consumers read. Local output directories only, for now.

use std::path::Path;

use anyhow::{Context, Result, bail};
use sluice_config::JobConfig;

/// The job `job` as it runs in the shadow directory `dir`, after copying its checkpoint
/// and tables there.
///
/// # Errors
/// An output directory in an object store, a `dir` that is not empty, or a copy that
/// fails.
pub fn prepare(job: &JobConfig, dir: &Path) -> Result<JobConfig> {
    let location = job.output.dir.to_string_lossy().into_owned();
    if location.contains("://") && !location.starts_with("file://") {
        bail!(
            "replay --into copies the job's checkpoint and tables, which needs a local \
             output.dir for now (this job writes to {location})"
        );
    }
    let output = Path::new(location.strip_prefix("file://").unwrap_or(&location));
    if dir.exists() && dir.read_dir()?.next().is_some() {
        bail!(
            "{} is not empty: a shadow replay starts from a fresh directory",
            dir.display()
        );
    }
    let checkpoint = output.join("checkpoints").join(&job.job_id);
    if !checkpoint.is_dir() {
        bail!(
            "job `{}` has no checkpoint at {}",
            job.job_id,
            checkpoint.display()
        );
    }
    copy_tree(
        &checkpoint,
        &dir.join("checkpoints").join(&job.job_id),
        false,
    )?;
    let tables = output.join("tables");
    if tables.is_dir() {
        copy_tree(&tables, &dir.join("tables"), true)?;
    }
    let mut shadow = job.clone();
    shadow.output.dir = dir.to_path_buf();
    shadow.output.kafka = None;
    shadow.metrics.listen = None;
    eprintln!(
        "shadow replay in {}: production's checkpoint and tables copied, production left as \
         it is",
        dir.display()
    );
    Ok(shadow)
}

/// Copies the tree `from` to `to`; with `link_data`, files outside `_delta_log`
/// directories are hard-linked where possible.
fn copy_tree(from: &Path, to: &Path, link_data: bool) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            let log = entry.file_name() == "_delta_log";
            copy_tree(&entry.path(), &target, link_data && !log)?;
        } else if !(link_data && std::fs::hard_link(entry.path(), &target).is_ok()) {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}
