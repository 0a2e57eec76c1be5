//! Stopping every worker together when one fails, before anything of the failed epoch
//! commits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A worker's failure when it stopped because another worker failed.
pub(super) const ABORTED: &str = "aborted because another worker failed";

/// Declared after a worker's input handles (locals drop in reverse order), so it drops
/// first.
///
/// When a worker leaves its loop early (a read failed, another worker aborted), its inputs
/// close as it returns, and their frontier lets every other worker's epoch complete. The
/// committer must not take that for a complete epoch: the guard raises the shared abort
/// flag *before* the inputs close, and the committer checks it before every commit. Across
/// processes a flag cannot be shared, so in a cluster the failing process exits at once,
/// without closing its inputs; the others lose the connection and stop uncommitted.
pub(super) struct AbortGuard {
    pub(super) abort: Arc<AtomicBool>,
    pub(super) cluster: bool,
    pub(super) finished: bool,
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        self.abort.store(true, Ordering::SeqCst);
        if self.cluster {
            eprintln!("error: a worker of this process failed (see the log); stopping the cluster");
            std::process::exit(1);
        }
    }
}
