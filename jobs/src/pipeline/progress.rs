//! The run's progress: a bar on a terminal, an `epoch` log line per epoch, and readiness.

use std::io::IsTerminal;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use sluice_engine::runtime::ProgressFn;

use crate::metrics_endpoint::Readiness;

/// The engine's progress callback, and the bar it drives (on a terminal, for a source of
/// `source_events` known events); the first epoch marks the job ready.
pub(super) fn reporter(source_events: u64, ready: Readiness) -> (ProgressFn, Option<ProgressBar>) {
    let total = source_events;
    let bar = (std::io::stderr().is_terminal() && total > 0).then(|| {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} epoch {msg} [{bar:30}] {pos}/{len} events ({per_sec}, eta {eta})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar
    });
    let progress_bar = bar.clone();
    let progress = Arc::new(move |p: &sluice_engine::runtime::Progress| {
        ready.set(true);
        if let Some(bar) = &progress_bar {
            bar.set_message(p.epoch.to_string());
            bar.inc(p.records);
        }
        tracing::info!(
            epoch = p.epoch,
            records = p.records,
            final_epoch = p.final_epoch,
            plan_ms = p.plan_time.map(|t| t.as_secs_f64() * 1000.0),
            "epoch"
        );
    });
    (progress, bar)
}
