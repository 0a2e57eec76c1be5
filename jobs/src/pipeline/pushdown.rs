//! Projection pushdown: each source reads only the columns the plan reads
//! ([`CompiledPlan::source_reads`]).

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use sluice_engine::plan::{CompiledPlan, StaticInputs};
use sluice_engine::runtime::read_only;

use super::{Sources, schemas};

/// Narrows each source of `sources` that the plan `compiled` reads only in part to the
/// columns it reads, and compiles the plan again for them. With `whole`
/// (`source-columns: all`), a source only leaves out the coordinates nothing needs.
///
/// # Errors
/// When a source cannot be narrowed, or the plan no longer compiles (a bug: the plan read
/// a column not counted as read).
pub(super) fn read_only_what_is_read(
    compiled: CompiledPlan,
    sources: Sources,
    inputs: &StaticInputs,
    whole: bool,
) -> Result<(CompiledPlan, Sources)> {
    let reads = compiled.source_reads(whole);
    if reads.is_empty() {
        return Ok((compiled, sources));
    }
    let mut narrowed = Vec::with_capacity(sources.len());
    for (name, source) in sources {
        let Some(columns) = reads.get(&name) else {
            narrowed.push((name, source));
            continue;
        };
        let all = source.schema().fields().len();
        let source = read_only(source, columns)
            .with_context(|| format!("reading only the columns of `{name}` the job reads"))?;
        tracing::info!(
            source = %name,
            "reading {} of the {all} columns of `{name}` (the others are never read): {}",
            columns.len(),
            columns.join(", ")
        );
        narrowed.push((name, source));
    }
    let schemas: BTreeMap<_, _> = schemas(&narrowed);
    let compiled = compiled
        .narrowed(&schemas, inputs)
        .context("compiling the job for the columns it reads")?;
    Ok((compiled, narrowed))
}
