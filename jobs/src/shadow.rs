//! `sluice replay JOB --from-epoch E --into DIR`: a replay into shadow tables, leaving
//! production alone. The job's checkpoint and tables are copied under `DIR`, then the copy
//! is replayed in place as `--in-place` would (restored to the versions before the
//! replayed epochs, recomputed), and the job runs on in `DIR`. `sluice table diff
//! PROD/tables/T DIR/tables/T` then shows what the replay changed.
//!
//! Between local directories the tables' data files are hard-linked where the file system
//! allows (Delta never rewrites a data file) and their logs copied. When either side is an
//! object store (`s3://bucket/prefix`), every object under the checkpoint and the tables is
//! copied through the object-store API, so production may be on S3 and the shadow local,
//! or both on S3.
//!
//! The shadow job publishes to no Kafka topic and serves no metrics, so that it never
//! touches what production's consumers read.

use std::path::Path;

use anyhow::{Context, Result, bail};
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectStore as _, ObjectStoreExt as _};
use sluice_checkpoints::object_store_for;
use sluice_config::JobConfig;
use url::Url;

/// The job `job` as it runs in the shadow directory `dir`, after copying its checkpoint
/// and tables there.
///
/// # Errors
/// An output directory in an object store, a `dir` that is not empty, or a copy that
/// fails.
pub fn prepare(job: &JobConfig, dir: &Path) -> Result<JobConfig> {
    let location = job.output.dir.to_string_lossy().into_owned();
    let target = dir.to_string_lossy().into_owned();
    match (local(&location), local(&target)) {
        (Some(output), Some(dir)) => copy_local(job, output, dir)?,
        _ => copy_objects(job, &location, &target)?,
    }
    let mut shadow = job.clone();
    shadow.output.dir = dir.to_path_buf();
    shadow.output.kafka = None;
    shadow.metrics.listen = None;
    eprintln!(
        "shadow replay in {target}: production's checkpoint and tables copied, production left \
         as it is"
    );
    Ok(shadow)
}

/// The local directory a location names, if it is one (a path or a `file://` URL).
fn local(location: &str) -> Option<&Path> {
    if location.contains("://") && !location.starts_with("file://") {
        return None;
    }
    Some(Path::new(
        location.strip_prefix("file://").unwrap_or(location),
    ))
}

/// Copies between local directories, hard-linking data files.
fn copy_local(job: &JobConfig, output: &Path, dir: &Path) -> Result<()> {
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
    Ok(())
}

/// A location as a URL: itself if it has a scheme, else a local directory made absolute.
fn url_of(location: &str) -> Result<Url> {
    if location.contains("://") {
        return Url::parse(location).with_context(|| format!("`{location}` is not a URL"));
    }
    let path = std::path::absolute(location)?;
    Url::from_directory_path(&path)
        .map_err(|()| anyhow::anyhow!("`{}` is not a directory path", path.display()))
}

/// Copies the job's checkpoint and tables object by object, when either side is an
/// object store.
fn copy_objects(job: &JobConfig, from: &str, to: &str) -> Result<()> {
    let retry = crate::pipeline::store_retry(job);
    let (source, source_root) = object_store_for(&url_of(from)?, &retry)?;
    let (target, target_root) = object_store_for(&url_of(to)?, &retry)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        if target.list(Some(&target_root)).next().await.is_some() {
            bail!("{to} is not empty: a shadow replay starts from a fresh directory");
        }
        let checkpoint = source_root
            .clone()
            .join("checkpoints")
            .join(job.job_id.as_str());
        if source.list(Some(&checkpoint)).next().await.is_none() {
            bail!(
                "job `{}` has no checkpoint at {from}/checkpoints/{}",
                job.job_id,
                job.job_id
            );
        }
        let mut copied = 0u64;
        let mut bytes = 0u64;
        for prefix in [checkpoint, source_root.clone().join("tables")] {
            let objects: Vec<object_store::ObjectMeta> =
                source.list(Some(&prefix)).try_collect().await?;
            let copies = objects.into_iter().map(|meta| {
                let (source, target) = (&source, &target);
                let relative: Vec<_> = meta
                    .location
                    .prefix_match(&source_root)
                    .map(Iterator::collect)
                    .unwrap_or_default();
                let to = relative
                    .into_iter()
                    .fold(target_root.clone(), |path, part| path.join(part));
                async move {
                    let data = source.get(&meta.location).await?.bytes().await?;
                    let size = data.len() as u64;
                    target.put(&to, data.into()).await?;
                    Ok::<u64, object_store::Error>(size)
                }
            });
            let sizes: Vec<u64> = futures::stream::iter(copies)
                .buffer_unordered(8)
                .try_collect()
                .await?;
            copied += sizes.len() as u64;
            bytes += sizes.iter().sum::<u64>();
        }
        eprintln!("copied {copied} objects ({bytes} bytes) from {from} to {to}");
        Ok(())
    })
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
