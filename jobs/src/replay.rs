//! `sluice replay JOB --from-epoch E (--dry-run | --in-place)`: reprocess a job's epochs
//! from `E` on, after a bug fix. `--from-version TABLE@V` starts at the epoch that
//! committed version `V` of an output table, `--from-time T` at the first epoch committed
//! at or after `T` (see [`ReplayStart`]).
//!
//! Operator state restarts from the newest snapshot before `E`, so the replay restarts at
//! `R`, the epoch after it (at most `E`). `--dry-run` prints `R`, the epochs to reprocess
//! with their logged ranges, and the version each table is restored to: the one before its
//! first commit at or after `R`. `--in-place` then:
//! 1. records that intent in the checkpoint (`replay.json`), so that an interrupted replay
//!    is finished by running the same command again (and `sluice run` refuses to start);
//! 2. rewinds the checkpoint: the commit markers, cursor records and state from `R` on go,
//!    the offsets entries stay, so epoch `R..` read exactly the ranges they read before;
//! 3. restores each table to its version before `R`, setting the job's Delta `txn` to
//!    `R - 1` in the same commit, so the epochs commit again;
//! 4. forgets the intent and runs the job, which reprocesses `R..` and goes on.
//!
//! The plan must be the same (the checkpoint's fingerprint): a changed plan is refused as
//! `sluice run` refuses it. Topics a job publishes to (`output.kafka`) are not rewound.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{Context, Result, bail};
use sluice_checkpoints::ReplayIntent;
use sluice_config::JobConfig;
use sluice_connectors::delta::maintenance;

use crate::output::emit;
use crate::pipeline;

/// What a replay does, or did.
pub struct Replay {
    text: String,
}

/// Plans (and with `in_place`, prepares) a replay of `job` from `epoch`; prints the plan.
///
/// # Errors
/// A checkpoint or table that cannot be read or written; an epoch that cannot be
/// replayed (not committed, or its inputs' offsets gone).
pub fn prepare(job: &JobConfig, epoch: u64, in_place: bool) -> Result<Replay> {
    let runtime = tokio::runtime::Runtime::new()?;
    let store = pipeline::open_checkpoints(job)?;
    same_plan(job, &runtime, &store)?;
    let pending = runtime.block_on(store.replay_intent())?;
    let mut text = String::new();
    let intent = match pending {
        Some(intent) => {
            let _ = writeln!(
                text,
                "finishing the replay under way (restart at epoch {})",
                intent.restart
            );
            intent
        }
        None => {
            let plan = runtime
                .block_on(store.rewind_plan(epoch))
                .with_context(|| format!("planning a replay from epoch {epoch}"))?;
            let _ =
                writeln!(
                    text,
                    "replay of job `{}` from epoch {epoch}: restarts at epoch {} ({}), reprocesses \
                 epochs {}..={}",
                    job.job_id,
                    plan.restart,
                    plan.snapshot.as_ref().map_or(
                        "no snapshot before it".to_string(),
                        |s| format!("after the snapshot of epoch {}", s.epoch)
                    ),
                    plan.restart,
                    plan.last_committed
                );
            let mut tables = BTreeMap::new();
            for marker in &plan.markers {
                for (table, version) in &marker.tables {
                    tables
                        .entry(table.clone())
                        .or_insert_with(|| *version as i64 - 1);
                }
            }
            let _ = writeln!(
                text,
                "tables (restored to the version before epoch {}'s commit):",
                plan.restart
            );
            for (table, version) in &tables {
                let _ = writeln!(text, "  {table}: version {version}");
            }
            let _ = writeln!(text, "epochs and their logged ranges:");
            for e in plan.restart..=plan.last_committed {
                let entry = runtime
                    .block_on(store.offsets(e))?
                    .with_context(|| format!("the offsets entry of epoch {e}"))?;
                let records: u64 = entry.ranges.iter().map(|r| r.len()).sum();
                let _ = write!(
                    text,
                    "  {e}: {records} records in {} ranges",
                    entry.ranges.len()
                );
                for r in entry.ranges.iter().filter(|r| !r.is_empty()).take(4) {
                    let _ = write!(
                        text,
                        "; {}[{}] {}..{}",
                        r.source, r.partition, r.start, r.end
                    );
                }
                let _ = writeln!(text);
            }
            let intent = ReplayIntent {
                restart: plan.restart,
                tables,
                savepoint: None,
            };
            if !in_place {
                let _ = writeln!(text, "dry run: nothing changed");
                return Ok(Replay { text });
            }
            runtime.block_on(store.put_replay_intent(&intent))?
        }
    };
    if !in_place {
        bail!(
            "a replay from epoch {} is under way: finish it with --in-place",
            intent.restart
        );
    }
    finish(job, &runtime, &store, &intent, &mut text)?;
    Ok(Replay { text })
}

/// Where a replay starts: an epoch, the epoch that committed a table's version, or the
/// first epoch committed at or after a time.
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
    /// `--from-time T`: the first epoch committed at or after `T` (ms since the Unix
    /// epoch), after a bad deploy at `T`.
    CommittedSince(i64),
}

impl std::fmt::Display for ReplayStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Epoch(e) => write!(f, "epoch {e}"),
            Self::Version { table, version } => {
                write!(f, "the commit of version {version} of `{table}`")
            }
            Self::CommittedSince(ms) => {
                let at = chrono::DateTime::from_timestamp_millis(*ms)
                    .map_or_else(|| format!("{ms} ms"), |t| t.to_rfc3339());
                write!(f, "the first commit at or after {at}")
            }
        }
    }
}

impl ReplayStart {
    /// Whether epoch `marker` is at or after this start; `None` when it cannot tell (an
    /// epoch that wrote nothing to the table).
    fn matches(&self, marker: &sluice_checkpoints::CommitMarker) -> Option<bool> {
        match self {
            Self::Epoch(e) => Some(marker.epoch >= *e),
            Self::Version { table, version } => marker.tables.get(table).map(|v| v >= version),
            Self::CommittedSince(t) => Some(marker.committed_at_ms >= *t),
        }
    }

    /// The epoch this start names, from the checkpoint's commit markers (the retained
    /// ones: a version or time older than them is an error naming the oldest).
    ///
    /// # Errors
    /// No committed epoch matches, or the checkpoint cannot be read.
    pub fn epoch(&self, job: &JobConfig) -> Result<u64> {
        if let Self::Epoch(e) = self {
            return Ok(*e);
        }
        let runtime = tokio::runtime::Runtime::new()?;
        let store = pipeline::open_checkpoints(job)?;
        let latest = runtime
            .block_on(store.latest_commit())?
            .context("the checkpoint has no committed epoch to replay")?;
        // Newest first, while the markers match: the earliest match is the start.
        let mut found = None;
        let mut oldest = latest.epoch;
        for e in (0..=latest.epoch).rev() {
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
                "no retained epoch (epochs {oldest}..={}) committed version {version} or later of \
                 table `{table}`",
                latest.epoch
            ),
            _ => format!(
                "no retained epoch (epochs {oldest}..={}) was committed at or after that time",
                latest.epoch
            ),
        })
    }
}

/// Restores savepoint `name` into `job`'s checkpoint and tables (`sluice run
/// --from-savepoint`): the tables go back to the versions its epoch committed, the
/// checkpoint to its state and cursors, and every later epoch is forgotten, offsets
/// included, so the job plans them anew (with any worker or process count).
///
/// # Errors
/// No such savepoint; a checkpoint or table that cannot be read or written.
pub fn from_savepoint(job: &JobConfig, name: &str) -> Result<Replay> {
    let runtime = tokio::runtime::Runtime::new()?;
    let store = pipeline::open_checkpoints(job)?;
    same_plan(job, &runtime, &store)?;
    let mut text = String::new();
    let intent = match runtime.block_on(store.replay_intent())? {
        Some(intent) if intent.savepoint.as_deref() == Some(name) => intent,
        Some(intent) => bail!(
            "a replay from epoch {} is under way: finish it with `sluice replay --in-place` first",
            intent.restart
        ),
        None => {
            let savepoint = runtime
                .block_on(store.savepoint(name))?
                .with_context(|| format!("no savepoint {name:?} (see `sluice savepoint list`)"))?;
            let intent = ReplayIntent {
                restart: savepoint.epoch() + 1,
                tables: savepoint
                    .marker
                    .tables
                    .iter()
                    .map(|(t, v)| (t.clone(), *v as i64))
                    .collect(),
                savepoint: Some(name.to_owned()),
            };
            runtime.block_on(store.put_replay_intent(&intent))?
        }
    };
    let _ = writeln!(
        text,
        "restoring savepoint {name:?} (epoch {})",
        intent.restart - 1
    );
    finish(job, &runtime, &store, &intent, &mut text)?;
    Ok(Replay { text })
}

/// Refuses, before anything changes, a job whose plan is not the one its checkpoint
/// recorded: the job would not run afterwards (replaying with a changed plan is not
/// supported yet).
fn same_plan(
    job: &JobConfig,
    runtime: &tokio::runtime::Runtime,
    store: &sluice_checkpoints::CheckpointStore,
) -> Result<()> {
    let meta = runtime
        .block_on(store.metadata())?
        .with_context(|| format!("job `{}` has no checkpoint to replay", job.job_id))?;
    let current = pipeline::plan_fingerprint(job)?;
    if meta.plan_fingerprint != current {
        bail!(
            "the job file's plan (fingerprint {current}) is not the one its checkpoint \
             recorded ({}): replaying or restoring with a changed plan is not supported; use \
             the job file the checkpoint was written with",
            meta.plan_fingerprint
        );
    }
    Ok(())
}

/// Carries out `intent`: the checkpoint, then the tables, then forgets it.
fn finish(
    job: &JobConfig,
    runtime: &tokio::runtime::Runtime,
    store: &sluice_checkpoints::CheckpointStore,
    intent: &ReplayIntent,
    text: &mut String,
) -> Result<()> {
    let tables_dir = pipeline::tables_location(job)?;
    if let Some(name) = &intent.savepoint {
        let savepoint = runtime
            .block_on(store.savepoint(name))?
            .with_context(|| format!("savepoint {name:?} is gone"))?;
        runtime.block_on(store.restore_savepoint(&savepoint))?;
        let _ = writeln!(
            text,
            "checkpoint restored to the savepoint's epoch {}",
            savepoint.epoch()
        );
        return restore_tables(job, runtime, &tables_dir, intent, text)
            .and_then(|()| Ok(runtime.block_on(store.clear_replay_intent())?));
    }
    // The checkpoint first: a job started before the tables are restored then replays
    // from the restart epoch, and its commits are skipped (the tables still hold those
    // epochs) rather than lost; the intent makes it refuse to start until this finishes.
    let deleted = runtime.block_on(store.rewind(intent.restart))?;
    let _ = writeln!(
        text,
        "checkpoint rewound to epoch {} ({deleted} objects removed)",
        intent.restart
    );
    restore_tables(job, runtime, &tables_dir, intent, text)?;
    runtime.block_on(store.clear_replay_intent())?;
    Ok(())
}

/// Restores every table of `intent` to its version, with the job's txn at the epoch
/// before the restart.
fn restore_tables(
    job: &JobConfig,
    runtime: &tokio::runtime::Runtime,
    tables_dir: &pipeline::Location,
    intent: &ReplayIntent,
    text: &mut String,
) -> Result<()> {
    let last_epoch = intent.restart as i64 - 1;
    for (table, version) in &intent.tables {
        let location = tables_dir.join(table);
        let app_id = format!("{}/{}", job.job_id, table);
        let restored = runtime
            .block_on(maintenance::rewind_table(
                &location, &app_id, *version, last_epoch,
            ))
            .with_context(|| format!("restoring {location} to version {version}"))?;
        let _ = writeln!(
            text,
            "  {table}: restored to version {version} as version {}",
            restored.version
        );
    }
    Ok(())
}

impl Replay {
    /// Prints what the replay did.
    pub fn print(&self) {
        emit(&self.text);
    }
}
