//! The end-of-run summary printed to the user.

use sluice_config::JobConfig;

use crate::pipeline::JobSummary;

/// Prints what a run did.
pub fn print(job: &JobConfig, summary: &JobSummary) {
    let run = &summary.run;
    let dir = job.output.dir.display();
    if run.already_complete {
        crate::output::outln!(
            "sluice: job `{}` already processed all {} events; nothing to do",
            job.job_id,
            summary.source_events
        );
    } else {
        let secs = run.duration.as_secs_f64();
        let epochs = run.last_epoch.map_or(0, |last| last + 1 - run.first_epoch);
        crate::output::outln!(
            "sluice: job `{}`: {} events read in {} epochs ({}..={}), {:.2} s, {:.0} events/s, {} workers",
            job.job_id,
            run.records_read,
            epochs,
            run.first_epoch,
            run.last_epoch.unwrap_or(run.first_epoch),
            secs,
            run.records_read as f64 / secs.max(1e-9),
            summary.workers,
        );
        if run.stopped {
            crate::output::outln!(
                "  stopped on request: every epoch started is committed; run the same command \
                 to continue"
            );
        }
        if run.replayed_epochs > 0 {
            crate::output::outln!(
                "  resumed from a checkpoint: {} already-committed epochs replayed and skipped by the sinks",
                run.replayed_epochs
            );
        }
        crate::output::outln!(
            "  late records routed to the dead-letter table: {}",
            run.late_records
        );
    }
    for (name, rows) in &summary.tables {
        crate::output::outln!("  {name:<24} {rows:>12} rows");
    }
    crate::output::outln!("  tables: {dir}/tables   checkpoints: {dir}/checkpoints");
}
