//! Inspection: a [`CheckpointSummary`] of one job's checkpoints, for `checkpoints inspect`.

use std::fmt;

use crate::error::Result;
use crate::offsets::OffsetsEntry;
use crate::store::{CheckpointStore, JobMetadata};

/// What a job's checkpoints hold. `Display` renders a readable multi-line report.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckpointSummary {
    /// The job id.
    pub job_id: String,
    /// Where the checkpoints live.
    pub location: String,
    /// The job metadata, `None` if the job never started.
    pub metadata: Option<JobMetadata>,
    /// Epochs with an offsets entry, ascending.
    pub offsets_epochs: Vec<u64>,
    /// Committed epochs, ascending.
    pub committed_epochs: Vec<u64>,
    /// Committed epochs with a snapshot, ascending.
    pub snapshot_epochs: Vec<u64>,
    /// The newest offsets entry.
    pub latest_offsets: Option<OffsetsEntry>,
}

impl CheckpointSummary {
    /// Watermark of the newest logged epoch: `None` if nothing is logged, `Some(None)` if it
    /// is minus infinity.
    pub fn latest_watermark_ms(&self) -> Option<Option<i64>> {
        self.latest_offsets.as_ref().map(|e| e.watermark_ms)
    }

    /// Logged epochs newer than the last commit: recovery re-runs them.
    pub fn pending_epochs(&self) -> Vec<u64> {
        let last = self.committed_epochs.last().copied();
        self.offsets_epochs
            .iter()
            .copied()
            .filter(|&e| last.is_none_or(|c| e > c))
            .collect()
    }
}

impl CheckpointStore {
    /// Summarizes the job's checkpoints.
    ///
    /// # Errors
    ///
    /// [`Error::Store`](crate::Error::Store) on I/O failure,
    /// [`Error::Corrupt`](crate::Error::Corrupt) if metadata, a marker or the newest offsets
    /// entry is unreadable.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: read only.
    pub async fn describe(&self) -> Result<CheckpointSummary> {
        let offsets_epochs = self.offsets_epochs().await?;
        let latest_offsets = match offsets_epochs.last() {
            Some(&epoch) => self.offsets(epoch).await?,
            None => None,
        };
        Ok(CheckpointSummary {
            job_id: self.job_id.to_string(),
            location: self.location.to_string(),
            metadata: self.metadata().await?,
            offsets_epochs,
            committed_epochs: self.committed_epochs().await?,
            snapshot_epochs: self.snapshot_epochs().await?,
            latest_offsets,
        })
    }
}

/// Renders epochs compactly, `1-5, 8, 10-12`, with the count.
fn epochs(list: &[u64]) -> String {
    if list.is_empty() {
        return "none".into();
    }
    let mut runs: Vec<String> = Vec::new();
    let mut start = list[0];
    for (i, &e) in list.iter().enumerate() {
        let next = list.get(i + 1).copied();
        if next != Some(e + 1) {
            runs.push(if start == e {
                e.to_string()
            } else {
                format!("{start}-{e}")
            });
            if let Some(n) = next {
                start = n;
            }
        }
    }
    let plural = if list.len() == 1 { "" } else { "s" };
    format!("{} ({} epoch{plural})", runs.join(", "), list.len())
}

/// An instant in milliseconds since the Unix epoch, as the logs hold it and as people
/// read it: `1767225600000 ms (2026-01-01T00:00:00.000Z)`.
pub(crate) fn instant(ms: i64) -> String {
    match u64::try_from(ms) {
        Ok(since) => format!(
            "{ms} ms ({})",
            humantime::format_rfc3339_millis(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(since)
            )
        ),
        Err(_) => format!("{ms} ms"),
    }
}

impl fmt::Display for CheckpointSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "job {} at {}", self.job_id, self.location)?;
        match &self.metadata {
            Some(m) => writeln!(
                f,
                "  plan fingerprint: {}\n  key groups:       {}\n  created at:       {}",
                m.plan_fingerprint,
                m.key_groups,
                instant(m.created_at_ms)
            )?,
            None => writeln!(f, "  metadata:         none (job never started)")?,
        }
        writeln!(f, "  offsets logged:   {}", epochs(&self.offsets_epochs))?;
        writeln!(f, "  committed:        {}", epochs(&self.committed_epochs))?;
        writeln!(f, "  snapshots:        {}", epochs(&self.snapshot_epochs))?;
        writeln!(f, "  pending:          {}", epochs(&self.pending_epochs()))?;
        match &self.latest_offsets {
            Some(e) => {
                let wm = e.watermark_ms.map_or("-inf".into(), instant);
                let fin = if e.final_epoch { ", final" } else { "" };
                writeln!(f, "  latest watermark: {wm} (epoch {}{fin})", e.epoch)?;
                for r in &e.ranges {
                    writeln!(
                        f,
                        "    {}/{}: [{}, {})",
                        r.source, r.partition, r.start, r.end
                    )?;
                }
                if !e.table_versions.is_empty() {
                    let versions: Vec<String> =
                        e.table_versions.iter().map(ToString::to_string).collect();
                    writeln!(
                        f,
                        "  keyed join tables at versions: {} (epoch {}, in join order)",
                        versions.join(", "),
                        e.epoch
                    )?;
                }
            }
            None => writeln!(f, "  latest watermark: none")?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commit::tests::marker;
    use crate::offsets::tests::entry;
    use crate::store::tests::{meta, temp_store};

    #[test]
    fn epoch_runs() {
        assert_eq!(epochs(&[]), "none");
        assert_eq!(epochs(&[4]), "4 (1 epoch)");
        assert_eq!(epochs(&[1, 2, 3, 5, 7, 8]), "1-3, 5, 7-8 (6 epochs)");
    }

    #[tokio::test]
    async fn describe_reports_the_job() {
        let (_dir, store) = temp_store();
        let empty = store.describe().await.unwrap();
        assert_eq!(empty.metadata, None);
        assert!(empty.to_string().contains("none (job never started)"));

        store.init_metadata(&meta("fp-1")).await.unwrap();
        for epoch in 1..=11 {
            store.put_offsets(&entry(epoch, epoch * 10)).await.unwrap();
            if epoch <= 9 {
                store
                    .put_commit(&marker(epoch, epoch == 4 || epoch == 8))
                    .await
                    .unwrap();
            }
        }
        let summary = store.describe().await.unwrap();
        assert_eq!(summary.snapshot_epochs, vec![4, 8]);
        assert_eq!(summary.pending_epochs(), vec![10, 11]);
        assert_eq!(summary.latest_watermark_ms(), Some(Some(11_000)));
        let text = summary.to_string();
        for line in [
            "plan fingerprint: fp-1",
            "key groups:       128",
            "offsets logged:   1-11 (11 epochs)",
            "committed:        1-9 (9 epochs)",
            "snapshots:        4, 8 (2 epochs)",
            "pending:          10-11 (2 epochs)",
            "latest watermark: 11000 ms (1970-01-01T00:00:11.000Z) (epoch 11)",
            "orders/0: [100, 110)",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }
}
