//! Where a replay starts: `--from-epoch`, `--from-version TABLE@V` or `--from-time T`.
//!
//! `--from-time` is a Kafka record timestamp, as in Spark's `startingTimestamp`: the
//! replay starts at the first epoch that read a record of the job's topics whose offset is
//! at or past the one Kafka's ListOffsets gives for `T` on its partition (the first record
//! stamped `T` or later). A job that reads no Kafka topic has no record timestamps to go
//! by: its `--from-time` is the first epoch committed at or after `T`, and the replay says
//! so.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use sluice_checkpoints::{CheckpointStore, CommitMarker};
use sluice_config::JobConfig;

use crate::pipeline;

/// Where a replay starts: an epoch, the epoch that committed a table's version, or the
/// first epoch holding records of a time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplayStart {
    /// `--from-epoch E`.
    Epoch(u64),
    /// `--from-version TABLE@V`: the first epoch whose commit made version `V` or later of
    /// the table.
    Version {
        /// The output table's name.
        table: String,
        /// Its Delta version.
        version: u64,
    },
    /// `--from-time T` (ms since the Unix epoch): the first epoch that read a Kafka record
    /// stamped at or after `T`; for a job without Kafka, the first committed at or after.
    Time(i64),
}

impl std::fmt::Display for ReplayStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Epoch(e) => write!(f, "epoch {e}"),
            Self::Version { table, version } => {
                write!(f, "the commit of version {version} of `{table}`")
            }
            Self::Time(ms) => write!(f, "{}", rfc3339(*ms)),
        }
    }
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or_else(|| format!("{ms} ms"), |t| t.to_rfc3339())
}

impl ReplayStart {
    /// The epoch this start names, from the checkpoint (the retained epochs: a version or
    /// time older than them is an error naming the oldest); a line saying how it was found
    /// when that is not plain.
    ///
    /// # Errors
    /// No retained epoch matches, the checkpoint cannot be read, or Kafka does not answer.
    pub fn epoch(&self, job: &JobConfig) -> Result<(u64, Option<String>)> {
        if let Self::Epoch(e) = self {
            return Ok((*e, None));
        }
        let runtime = tokio::runtime::Runtime::new()?;
        let store = pipeline::open_checkpoints(job)?;
        let latest = runtime
            .block_on(store.latest_commit())?
            .context("the checkpoint has no committed epoch to replay")?;
        match self {
            Self::Time(ms) => match pipeline::kafka_offsets_at(job, *ms)? {
                Some(offsets) => {
                    let epoch = first_epoch_reading(&runtime, &store, &offsets, latest.epoch, *ms)?;
                    let line = format!(
                        "{self} is epoch {epoch}: the first that read a Kafka record stamped at \
                         or after it"
                    );
                    Ok((epoch, Some(line)))
                }
                None => {
                    let epoch = self.by_markers(&runtime, &store, latest.epoch)?;
                    let line = format!(
                        "{self} is epoch {epoch}: the job reads no Kafka topic, so the first \
                         epoch committed at or after that time"
                    );
                    Ok((epoch, Some(line)))
                }
            },
            _ => {
                let epoch = self.by_markers(&runtime, &store, latest.epoch)?;
                Ok((epoch, Some(format!("{self} is epoch {epoch}"))))
            }
        }
    }

    /// Whether epoch `marker` is at or after this start; `None` when it cannot tell (an
    /// epoch that wrote nothing to the table).
    fn matches(&self, marker: &CommitMarker) -> Option<bool> {
        match self {
            Self::Epoch(e) => Some(marker.epoch >= *e),
            Self::Version { table, version } => marker.tables.get(table).map(|v| v >= version),
            Self::Time(t) => Some(marker.committed_at_ms >= *t),
        }
    }

    /// The earliest epoch whose commit marker matches, scanning newest first while they
    /// match.
    fn by_markers(
        &self,
        runtime: &tokio::runtime::Runtime,
        store: &CheckpointStore,
        latest: u64,
    ) -> Result<u64> {
        let mut found = None;
        let mut oldest = latest;
        for e in (0..=latest).rev() {
            let Some(marker) = runtime.block_on(store.commit(e))? else {
                if found == Some(oldest) {
                    bail!(
                        "the replay would start before epoch {oldest}, the oldest whose commit \
                         the checkpoint still holds; give --from-epoch {oldest} to replay what \
                         is retained"
                    );
                }
                break;
            };
            oldest = e;
            match self.matches(&marker) {
                Some(true) => found = Some(e),
                Some(false) => break,
                None => {}
            }
        }
        found.with_context(|| match self {
            Self::Version { table, version } => format!(
                "no retained epoch (epochs {oldest}..={latest}) committed version {version} or \
                 later of table `{table}`"
            ),
            _ => format!(
                "no retained epoch (epochs {oldest}..={latest}) was committed at or after {self}"
            ),
        })
    }
}

/// The first committed epoch that read, on some partition, an offset at or past the one
/// `offsets` gives for it (`(topic, partition, first offset stamped at or after ms)`).
fn first_epoch_reading(
    runtime: &tokio::runtime::Runtime,
    store: &CheckpointStore,
    offsets: &[(String, u32, Option<u64>)],
    latest: u64,
    ms: i64,
) -> Result<u64> {
    let wanted: BTreeMap<(&str, u32), u64> = offsets
        .iter()
        .filter_map(|(t, p, o)| o.map(|o| ((t.as_str(), *p), o)))
        .collect();
    if wanted.is_empty() {
        bail!(
            "no record of the job's topics is stamped at or after {}: nothing to replay",
            rfc3339(ms)
        );
    }
    let mut first_logged = None;
    for epoch in 0..=latest {
        let Some(entry) = runtime.block_on(store.offsets(epoch))? else {
            continue;
        };
        let first = *first_logged.get_or_insert(epoch);
        for range in &entry.ranges {
            // A SQL job's sources prefix their ranges with the stream's name: `orders|topic`.
            let topic = range.source.rsplit('|').next().unwrap_or(&range.source);
            let Some(&offset) = wanted.get(&(topic, range.partition)) else {
                continue;
            };
            if range.end <= offset {
                continue;
            }
            if range.start > offset && epoch == first && epoch > 0 {
                bail!(
                    "the records stamped at or after {} were read before epoch {epoch}, the \
                     oldest the checkpoint still logs ({topic}[{}] offset {offset}); give \
                     --from-epoch {epoch} to replay what is retained",
                    rfc3339(ms),
                    range.partition
                );
            }
            return Ok(epoch);
        }
    }
    bail!(
        "no committed epoch (up to {latest}) read a record stamped at or after {}: the job has \
         not read that far",
        rfc3339(ms)
    )
}
