//! Graceful shutdown. The first SIGTERM (what Kubernetes sends before it reschedules a pod)
//! or SIGINT asks the run to stop: the planner takes no new epoch, the epochs in flight
//! finish and commit, and the command exits 0. A second signal aborts at once, and so does
//! the drain when it outlasts `--shutdown-timeout`; both are safe, as a crash is: the next
//! start resumes from the last commit.

use std::time::Duration;

use anyhow::{Context, Result};
use sluice_engine::runtime::StopRequest;
use tokio::signal::unix::{SignalKind, signal};

/// Listens for SIGTERM and SIGINT on `runtime` for the rest of the process, and returns
/// the request they set.
///
/// # Errors
/// When the signal handlers cannot be installed.
pub fn stop_on_signals(runtime: &tokio::runtime::Handle, timeout: Duration) -> Result<StopRequest> {
    let stop = StopRequest::default();
    let _entered = runtime.enter();
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let request = stop.clone();
    runtime.spawn(async move {
        let first = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        request.request();
        eprintln!(
            "{first}: stopping after the epochs in flight commit (at most {}); send it again \
             to abort now",
            humantime::format_duration(timeout)
        );
        let code = tokio::select! {
            _ = term.recv() => {
                eprintln!("SIGTERM again: aborting; the next start resumes from the last commit");
                128 + 15
            }
            _ = int.recv() => {
                eprintln!("SIGINT again: aborting; the next start resumes from the last commit");
                128 + 2
            }
            () = tokio::time::sleep(timeout) => {
                eprintln!(
                    "the epochs in flight did not commit within {}: aborting; the next start \
                     resumes from the last commit (raise --shutdown-timeout to wait longer)",
                    humantime::format_duration(timeout)
                );
                1
            }
        };
        std::process::exit(code);
    });
    Ok(stop)
}
