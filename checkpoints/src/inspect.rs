//! Inspection of single epochs, for `sluice checkpoints ... list | show E | diff E1 E2`:
//! what each epoch read (its logged ranges), its watermark, whether it committed, its
//! snapshot's state size per operator and the table versions its commit created.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use crate::commit::CommitMarker;
use crate::error::Result;
use crate::offsets::OffsetsEntry;
use crate::snapshot::{StateSize, state_sizes};
use crate::store::CheckpointStore;

/// What the checkpoint holds about one epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochReport {
    /// The epoch.
    pub epoch: u64,
    /// Its offsets entry, `None` if retention removed it (or it was never logged).
    pub offsets: Option<OffsetsEntry>,
    /// Its commit marker, `None` while it is not committed.
    pub marker: Option<CommitMarker>,
}

impl EpochReport {
    /// Records the epoch reads, over all partitions.
    pub fn records(&self) -> u64 {
        self.offsets
            .as_ref()
            .map_or(0, |o| o.ranges.iter().map(|r| r.len()).sum())
    }

    /// The state size per operator of the epoch's snapshot (empty without one, or for a
    /// marker written before parts were listed).
    pub fn state_sizes(&self) -> BTreeMap<String, StateSize> {
        let parts = self.marker.as_ref().and_then(|m| m.state.as_deref());
        state_sizes(parts.unwrap_or_default())
    }

    fn status(&self) -> &'static str {
        match &self.marker {
            Some(m) if m.snapshot => "committed, snapshot",
            Some(_) => "committed",
            None if self.offsets.is_some() => "logged, not committed",
            None => "unknown",
        }
    }

    /// One line: epoch, status, records, watermark, state bytes and table versions.
    pub fn line(&self) -> String {
        let mut line = format!("{:>8}  {:<22}", self.epoch, self.status());
        let _ = write!(line, " {:>10} records", self.records());
        let _ = write!(line, "  watermark {}", watermark(self.offsets.as_ref()));
        let state: u64 = self.state_sizes().values().map(|s| s.bytes).sum();
        if state > 0 {
            let _ = write!(line, "  state {}", bytes(state));
        }
        if let Some(m) = &self.marker
            && !m.tables.is_empty()
        {
            let versions: Vec<String> = m.tables.iter().map(|(t, v)| format!("{t}@{v}")).collect();
            let _ = write!(line, "  tables {}", versions.join(" "));
        }
        line
    }
}

fn watermark(offsets: Option<&OffsetsEntry>) -> String {
    match offsets {
        None => "?".into(),
        Some(o) => o.watermark_ms.map_or("-inf".into(), |w| format!("{w} ms")),
    }
}

fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

impl fmt::Display for EpochReport {
    /// The whole epoch: status, watermark, every range, the snapshot and the tables.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "epoch {}: {}", self.epoch, self.status())?;
        match &self.offsets {
            Some(o) => {
                let max = o
                    .max_event_time_ms
                    .map_or("none".into(), crate::summary::instant);
                writeln!(
                    f,
                    "  watermark {} (max event time before it: {max}){}",
                    o.watermark_ms
                        .map_or("-inf".into(), crate::summary::instant),
                    if o.final_epoch { ", final epoch" } else { "" }
                )?;
                writeln!(f, "  ranges ({} records):", self.records())?;
                for r in o.ranges.iter().filter(|r| !r.is_empty()) {
                    writeln!(
                        f,
                        "    {}/{}: [{}, {}) {} records",
                        r.source,
                        r.partition,
                        r.start,
                        r.end,
                        r.len()
                    )?;
                }
                let idle = o.ranges.iter().filter(|r| r.is_empty()).count();
                if idle > 0 {
                    writeln!(f, "    ({idle} partitions read nothing)")?;
                }
                if !o.table_versions.is_empty() {
                    writeln!(f, "  keyed join tables at versions {:?}", o.table_versions)?;
                }
            }
            None => writeln!(f, "  no offsets entry (removed by retention)")?,
        }
        if let Some(m) = &self.marker {
            for (operator, size) in self.state_sizes() {
                writeln!(
                    f,
                    "  state {operator}: {} in {} parts",
                    bytes(size.bytes),
                    size.parts
                )?;
            }
            if m.snapshot && m.state.is_none() {
                writeln!(f, "  snapshot parts not listed (an older marker)")?;
            }
            for (table, version) in &m.tables {
                writeln!(f, "  table {table}: committed as version {version}")?;
            }
        }
        Ok(())
    }
}

/// What changed from `a` to `b`: records read per partition between them, the watermark,
/// state sizes and table versions.
pub fn diff_epochs(a: &EpochReport, b: &EpochReport) -> String {
    let mut out = format!("epoch {} -> epoch {}\n", a.epoch, b.epoch);
    let ends = |r: &EpochReport| -> BTreeMap<(String, u32), u64> {
        r.offsets
            .iter()
            .flat_map(|o| &o.ranges)
            .map(|r| ((r.source.clone(), r.partition), r.end))
            .collect()
    };
    let (from, to) = (ends(a), ends(b));
    let mut total = 0i128;
    for (key, end) in &to {
        let start = from.get(key).copied();
        let moved = i128::from(*end) - i128::from(start.unwrap_or(0));
        total += moved;
        if moved != 0 || start.is_none() {
            let start = start.map_or("new".into(), |s| s.to_string());
            let _ = writeln!(out, "  {}/{}: {start} -> {end} ({moved:+})", key.0, key.1);
        }
    }
    let _ = writeln!(out, "  records between their ends: {total:+}");
    let _ = writeln!(
        out,
        "  watermark: {} -> {}",
        watermark(a.offsets.as_ref()),
        watermark(b.offsets.as_ref())
    );
    let (sa, sb) = (a.state_sizes(), b.state_sizes());
    let operators: std::collections::BTreeSet<&String> = sa.keys().chain(sb.keys()).collect();
    for op in operators {
        let (x, y) = (sa.get(op).copied(), sb.get(op).copied());
        let show = |s: Option<StateSize>| s.map_or("none".into(), |s| bytes(s.bytes));
        let _ = writeln!(out, "  state {op}: {} -> {}", show(x), show(y));
    }
    let tables = |r: &EpochReport| {
        r.marker
            .as_ref()
            .map(|m| m.tables.clone())
            .unwrap_or_default()
    };
    let (ta, tb) = (tables(a), tables(b));
    let names: std::collections::BTreeSet<&String> = ta.keys().chain(tb.keys()).collect();
    for t in names {
        let show = |v: Option<&u64>| v.map_or("-".into(), |v| v.to_string());
        let _ = writeln!(
            out,
            "  table {t}: version {} -> {}",
            show(ta.get(t)),
            show(tb.get(t))
        );
    }
    out
}

impl CheckpointStore {
    /// What the checkpoint holds about `epoch`.
    ///
    /// # Errors
    ///
    /// [`Error::Store`](crate::Error::Store) on I/O failure,
    /// [`Error::Corrupt`](crate::Error::Corrupt) if its entry or marker is unreadable.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: read only.
    pub async fn epoch_report(&self, epoch: u64) -> Result<EpochReport> {
        Ok(EpochReport {
            epoch,
            offsets: self.offsets(epoch).await?,
            marker: self.commit(epoch).await?,
        })
    }

    /// Reports of every epoch the checkpoint still logs or marks, ascending.
    ///
    /// # Errors
    ///
    /// As [`epoch_report`](Self::epoch_report).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: read only.
    pub async fn epoch_reports(&self) -> Result<Vec<EpochReport>> {
        let mut epochs = self.offsets_epochs().await?;
        epochs.extend(self.committed_epochs().await?);
        epochs.sort_unstable();
        epochs.dedup();
        let mut reports = Vec::with_capacity(epochs.len());
        for epoch in epochs {
            reports.push(self.epoch_report(epoch).await?);
        }
        Ok(reports)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offsets::SourceRange;
    use crate::snapshot::StatePart;
    use crate::store::tests::temp_store;

    fn entry(epoch: u64, ends: [u64; 2], watermark_ms: Option<i64>) -> OffsetsEntry {
        OffsetsEntry {
            epoch,
            ranges: vec![
                SourceRange::offsets("gen", 0, ends[0].saturating_sub(10), ends[0]),
                SourceRange::offsets("gen", 1, ends[1], ends[1]),
            ],
            watermark_ms,
            max_event_time_ms: None,
            plan_fingerprint: "f".into(),
            final_epoch: false,
            run_id: None,
            table_versions: vec![],
            planned_at_ms: None,
            idle_max_event_time_ms: None,
        }
    }

    #[tokio::test]
    async fn epochs_are_listed_shown_and_diffed() {
        let (_dir, store) = temp_store();
        store.put_offsets(&entry(0, [10, 0], None)).await.unwrap();
        store
            .put_offsets(&entry(1, [20, 0], Some(5_000)))
            .await
            .unwrap();
        let part = |p: &str, first, end, bytes| StatePart {
            operator: "win".into(),
            part: p.into(),
            first_key_group: first,
            end_key_group: end,
            bytes,
            keys: bytes / 10,
        };
        store
            .put_commit(&CommitMarker {
                epoch: 0,
                snapshot: true,
                committed_at_ms: 1,
                state: Some(vec![part("a", 0, 64, 1000), part("b", 64, 128, 2000)]),
                tables: [("silver".to_string(), 3)].into(),
            })
            .await
            .unwrap();
        let reports = store.epoch_reports().await.unwrap();
        assert_eq!(reports.len(), 2);
        let first = reports[0].line();
        assert!(first.contains("committed, snapshot"), "{first}");
        assert!(first.contains("10 records"), "{first}");
        assert!(first.contains("state 2.9 KiB"), "{first}");
        assert!(first.contains("tables silver@3"), "{first}");
        assert!(reports[1].line().contains("logged, not committed"));
        let shown = reports[0].to_string();
        assert!(shown.contains("gen/0: [0, 10) 10 records"), "{shown}");
        assert!(shown.contains("(1 partitions read nothing)"), "{shown}");
        assert!(shown.contains("state win: 2.9 KiB in 2 parts"), "{shown}");
        assert!(
            shown.contains("table silver: committed as version 3"),
            "{shown}"
        );
        let d = diff_epochs(&reports[0], &reports[1]);
        assert!(d.contains("gen/0: 10 -> 20 (+10)"), "{d}");
        assert!(d.contains("records between their ends: +10"), "{d}");
        assert!(d.contains("watermark: -inf -> 5000 ms"), "{d}");
        assert!(d.contains("state win: 2.9 KiB -> none"), "{d}");
        assert!(d.contains("table silver: version 3 -> -"), "{d}");
    }
}
