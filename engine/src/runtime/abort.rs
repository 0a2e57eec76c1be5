//! Stopping every worker together when one fails, before anything of the failed epoch
//! commits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Declared after a worker's input handles (locals drop in reverse order), so it drops
/// first.
///
/// When a worker leaves its loop early (a read failed, another worker aborted), its inputs
/// close as it returns, and their frontier lets every other worker's epoch complete. The
/// committer must not take that for a complete epoch. The worker has sent its failure to
/// the committer as data before (see `failure`), which works across processes; within a
/// process the guard also raises the shared abort flag *before* the inputs close, and the
/// committer checks it before every commit. A panicking worker sends nothing, so in a
/// cluster its process exits at once, without closing its inputs; the others lose the
/// connection and stop uncommitted.
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
        // A worker that returns an error has sent it to the committer as data first (see
        // `failure`); a panicking one has not, and its unwinding must not release its
        // capabilities to the other processes.
        if self.cluster && std::thread::panicking() {
            eprintln!("error: a worker of this process panicked (see above); stopping the cluster");
            std::process::exit(1);
        }
    }
}
