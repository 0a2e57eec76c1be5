//! Epoch bookkeeping shared by the operators that act once per completed epoch.

/// The epoch up to which (exclusive) an operator may process, given the least time of its
/// input frontier (`None` once every input is closed), the final epoch of a bounded input
/// if known, the newest epoch it holds data for, and its next unprocessed epoch.
///
/// While inputs are open, every epoch before the frontier is complete. Once they are
/// closed, everything up to the final epoch (or the newest held data) is.
pub(crate) fn complete_before(
    frontier: Option<u64>,
    final_epoch: Option<u64>,
    newest_held: Option<u64>,
    next: u64,
) -> u64 {
    match frontier {
        Some(f) => f,
        None => final_epoch
            .or(newest_held)
            .map_or(next, |e| e + 1)
            .max(next),
    }
}
