//! `sluice replay JOB --from-epoch E (--dry-run | --in-place)`: reprocess a job's epochs
//! from `E` on, after a bug fix. `--from-version TABLE@V` starts at the epoch that
//! committed version `V` of an output table, `--from-time T` at the first epoch that read a
//! Kafka record stamped at or after `T` (see [`ReplayStart`]).
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
//! 4. records the job file's plan in the checkpoint, forgets the intent and runs the job,
//!    which reprocesses `R..` and goes on.
//!
//! The job file may be an edited plan (a bug fix): it is accepted when its state fits the
//! checkpoint's, and otherwise refused naming what differs, unless `--reset-state`
//! restarts it with empty state from the earliest epoch the checkpoint logs (see
//! [`crate::plan_change`]). Topics a job publishes to (`output.kafka`) are not rewound.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{Context, Result, bail};
use sluice_checkpoints::ReplayIntent;
use sluice_config::JobConfig;
use sluice_connectors::delta::maintenance;

use crate::output::emit;
use crate::pipeline;
use crate::plan_change;

mod start;

pub use start::ReplayStart;

/// What a replay does, or did.
pub struct Replay {
    text: String,
}

/// Plans (and with `in_place`, prepares) a replay of `job` from `epoch`; prints the plan.
///
/// # Errors
/// A checkpoint or table that cannot be read or written; an epoch that cannot be
/// replayed (not committed, or its inputs' offsets gone).
pub fn prepare(job: &JobConfig, epoch: u64, in_place: bool, reset_state: bool) -> Result<Replay> {
    let runtime = tokio::runtime::Runtime::new()?;
    let store = pipeline::open_checkpoints(job)?;
    let meta = plan_change::metadata(job, &runtime, &store)?;
    let change = plan_change::check(job, &runtime, &meta, &(&meta).into(), reset_state)?;
    let pending = runtime.block_on(store.replay_intent())?;
    let mut text = String::new();
    change.describe(&mut text);
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
            let from = if change.resets_state() {
                let start = runtime.block_on(store.state_rebuild_start())?;
                let _ = writeln!(
                    text,
                    "--reset-state: the state is rebuilt from epoch {start}, the earliest input \
                     the checkpoint logs, so the replay restarts there{}",
                    if start > 0 {
                        " (retention removed the offsets of earlier epochs: their rows are not \
                         read again, and windows open at that epoch lack them)"
                    } else {
                        ""
                    }
                );
                start
            } else {
                epoch
            };
            let plan = runtime
                .block_on(store.rewind_plan(from))
                .with_context(|| format!("planning a replay from epoch {from}"))?;
            let _ = writeln!(
                text,
                "replay of job `{}` from epoch {from}: restarts at epoch {} ({}), reprocesses \
                 epochs {}..={}",
                job.job_id,
                plan.restart,
                plan.snapshot
                    .as_ref()
                    .map_or("no snapshot before it".to_string(), |s| {
                        if change.resets_state() {
                            format!("from the cursors of epoch {}, with empty state", s.epoch)
                        } else {
                            format!("after the snapshot of epoch {}", s.epoch)
                        }
                    }),
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
                reset_state: change.resets_state(),
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
    change.record(&runtime, &store, &meta, &intent)?;
    runtime.block_on(store.clear_replay_intent())?;
    Ok(Replay { text })
}

/// Restores savepoint `name` into `job`'s checkpoint and tables (`sluice run
/// --from-savepoint`): the tables go back to the versions its epoch committed, the
/// checkpoint to its state and cursors, and every later epoch is forgotten, offsets
/// included, so the job plans them anew (with any worker or process count). The job file
/// may be an edited plan whose state fits the savepoint's.
///
/// # Errors
/// No such savepoint; a plan whose state does not fit it; a checkpoint or table that
/// cannot be read or written.
pub fn from_savepoint(job: &JobConfig, name: &str) -> Result<Replay> {
    let runtime = tokio::runtime::Runtime::new()?;
    let store = pipeline::open_checkpoints(job)?;
    let meta = plan_change::metadata(job, &runtime, &store)?;
    let savepoint = runtime
        .block_on(store.savepoint(name))?
        .with_context(|| format!("no savepoint {name:?} (see `sluice savepoint list`)"))?;
    let stored = plan_change::StoredPlan {
        fingerprint: &savepoint.plan_fingerprint,
        layout: savepoint.state_layout.as_ref(),
    };
    let change = plan_change::check(job, &runtime, &meta, &stored, false)?;
    let mut text = String::new();
    change.describe(&mut text);
    let intent = match runtime.block_on(store.replay_intent())? {
        Some(intent) if intent.savepoint.as_deref() == Some(name) => intent,
        Some(intent) => bail!(
            "a replay from epoch {} is under way: finish it with `sluice replay --in-place` first",
            intent.restart
        ),
        None => {
            let intent = ReplayIntent {
                restart: savepoint.epoch() + 1,
                tables: savepoint
                    .marker
                    .tables
                    .iter()
                    .map(|(t, v)| (t.clone(), *v as i64))
                    .collect(),
                savepoint: Some(name.to_owned()),
                reset_state: false,
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
    change.record(&runtime, &store, &meta, &intent)?;
    runtime.block_on(store.clear_replay_intent())?;
    Ok(Replay { text })
}

/// Carries out `intent`: the checkpoint, then the tables. The caller then records the
/// plan and forgets the intent.
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
        return restore_tables(job, runtime, &tables_dir, intent, text);
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
    restore_tables(job, runtime, &tables_dir, intent, text)
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
