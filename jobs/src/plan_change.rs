//! A replay or savepoint restore with an edited job file: whether the edited plan's state
//! fits the checkpoint's, checked before anything changes.
//!
//! The checkpoint's metadata records the state layout of the plan that wrote it (see
//! `sluice_checkpoints::StateLayout`). An edited plan whose stateful operators keep their
//! names, keys, windows, aggregates and held columns fits: filters, projections, rules,
//! watermark delays and sinks may change, and a stateful operator may go (its state is
//! left behind). Anything else is refused, naming each difference, unless the replay
//! rebuilds the state (`--reset-state`): it then restarts with empty state from the
//! earliest input the checkpoint still logs.
//!
//! Once the replay has rewound the checkpoint and restored the tables, the metadata takes
//! the new plan's fingerprint and layout, so `sluice run` accepts the edited job file.

use std::fmt::Write as _;

use anyhow::{Context, Result, bail};
use sluice_checkpoints::{CheckpointStore, JobMetadata, ReplayIntent, StateLayout};
use sluice_config::JobConfig;

use crate::pipeline;

/// How the job file's plan relates to the checkpoint's.
pub(crate) enum PlanChange {
    /// The plan that wrote the checkpoint.
    Same,
    /// An edited plan whose state fits; `dropped` are the stateful operators it no longer
    /// has.
    Fits {
        metadata: JobMetadata,
        dropped: Vec<String>,
    },
    /// A plan whose state is rebuilt (`--reset-state`), with the differences that needed
    /// it (none when only the rebuild was asked for).
    Reset {
        metadata: JobMetadata,
        differences: Vec<String>,
    },
}

/// What the checkpoint (or a savepoint) says about the plan whose state it holds.
pub(crate) struct StoredPlan<'a> {
    /// The plan's fingerprint.
    pub(crate) fingerprint: &'a str,
    /// Its state layout, when recorded.
    pub(crate) layout: Option<&'a StateLayout>,
}

impl<'a> From<&'a JobMetadata> for StoredPlan<'a> {
    fn from(meta: &'a JobMetadata) -> Self {
        Self {
            fingerprint: &meta.plan_fingerprint,
            layout: meta.state_layout.as_ref(),
        }
    }
}

/// The job's metadata, or an error saying the job has no checkpoint.
pub(crate) fn metadata(
    job: &JobConfig,
    runtime: &tokio::runtime::Runtime,
    store: &CheckpointStore,
) -> Result<JobMetadata> {
    runtime
        .block_on(store.metadata())?
        .with_context(|| format!("job `{}` has no checkpoint to replay", job.job_id))
}

/// Compares `job`'s plan with `stored`; with `reset_state`, a plan whose state does not fit
/// is accepted for a rebuild.
///
/// # Errors
/// A plan whose state does not fit, without `reset_state`: the message names every
/// difference. A job file that does not compile.
pub(crate) fn check(
    job: &JobConfig,
    runtime: &tokio::runtime::Runtime,
    meta: &JobMetadata,
    stored: &StoredPlan<'_>,
    reset_state: bool,
) -> Result<PlanChange> {
    let fingerprint = pipeline::plan_fingerprint(job)?;
    let same = fingerprint == stored.fingerprint;
    if same && !reset_state {
        return Ok(PlanChange::Same);
    }
    let compiled = pipeline::compile(job, runtime.handle())
        .context("compiling the job file to compare its state with the checkpoint's")?;
    let layout = compiled.state_layout();
    let differences = match (same, stored.layout) {
        (true, _) => Vec::new(),
        (false, Some(old)) => old.differences(&layout),
        (false, None) => vec![
            "the checkpoint records no state layout to compare with (it was written by an \
             older sluice and has not run since)"
                .to_string(),
        ],
    };
    let dropped = stored
        .layout
        .map(|old| old.dropped(&layout))
        .unwrap_or_default();
    let metadata = JobMetadata {
        plan_fingerprint: fingerprint.clone(),
        state_layout: Some(layout),
        ..meta.clone()
    };
    if reset_state {
        return Ok(PlanChange::Reset {
            metadata,
            differences,
        });
    }
    if differences.is_empty() {
        return Ok(PlanChange::Fits { metadata, dropped });
    }
    let mut text = format!(
        "the job file's plan (fingerprint {fingerprint}) is not the one the checkpoint holds \
         state for ({}), and its state does not fit:",
        stored.fingerprint
    );
    for d in &differences {
        let _ = write!(text, "\n  - {d}");
    }
    bail!(
        "{text}\nrun the job file the checkpoint was written with, or give --reset-state to \
         rebuild the state from the earliest input the checkpoint still logs"
    )
}

impl PlanChange {
    /// Whether the replay rebuilds state.
    pub(crate) fn resets_state(&self) -> bool {
        matches!(self, Self::Reset { .. })
    }

    /// A few lines for the replay's report.
    pub(crate) fn describe(&self, text: &mut String) {
        match self {
            Self::Same => {
                let _ = writeln!(text, "plan: the checkpoint's");
            }
            Self::Fits { metadata, dropped } => {
                let _ = writeln!(
                    text,
                    "plan: edited (fingerprint {}); its state fits the checkpoint's",
                    metadata.plan_fingerprint
                );
                for name in dropped {
                    let _ = writeln!(
                        text,
                        "  `{name}` is no longer in the plan: its state is left behind"
                    );
                }
            }
            Self::Reset {
                metadata,
                differences,
            } => {
                let _ = writeln!(
                    text,
                    "plan: fingerprint {}; --reset-state rebuilds its state from empty",
                    metadata.plan_fingerprint
                );
                for d in differences {
                    let _ = writeln!(text, "  - {d}");
                }
            }
        }
    }

    /// Records the plan in the checkpoint once `intent` is carried out: the new plan's
    /// fingerprint and layout, the epoch its state was reset at, and none after a
    /// savepoint (whose state is whole).
    pub(crate) fn record(
        &self,
        runtime: &tokio::runtime::Runtime,
        store: &CheckpointStore,
        meta: &JobMetadata,
        intent: &ReplayIntent,
    ) -> Result<()> {
        let mut next = match self {
            Self::Same => meta.clone(),
            Self::Fits { metadata, .. } | Self::Reset { metadata, .. } => metadata.clone(),
        };
        if intent.reset_state {
            next.state_reset_at = Some(intent.restart);
        }
        if intent.savepoint.is_some() {
            next.state_reset_at = None;
        }
        if next != *meta {
            runtime.block_on(store.replace_metadata(&next))?;
        }
        Ok(())
    }
}
