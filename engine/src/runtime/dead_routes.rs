//! Routing rejected and late rows to the dead-letter table inside the dataflow.

use std::sync::Arc;

use super::DeadLetters;
use crate::batch::Batches;
use crate::error::EngineError;
use crate::stateless::StatelessExt;

/// Converts rejected (or late) rows into dead letters; the second stream holds batches the
/// conversion failed on.
pub(super) fn to_dead<'scope>(
    stream: timely::dataflow::Stream<'scope, u64, Batches>,
    name: &str,
    late: bool,
    letters: &Arc<dyn DeadLetters>,
) -> (
    timely::dataflow::Stream<'scope, u64, Batches>,
    timely::dataflow::Stream<'scope, u64, Batches>,
) {
    let letters = Arc::clone(letters);
    stream.map_batches(name, move |epoch, batch| {
        let converted = if late {
            letters.late(batch, epoch)
        } else {
            letters.rejected(batch, epoch)
        };
        converted.map_err(EngineError::from)
    })
}
