//! The table side of keyed joins, fed from the worker loop: which version each table is
//! at when an epoch is planned, and this worker's share of the changes up to the version
//! an epoch logged.

use std::time::Instant;

use sluice_checkpoints::OffsetsEntry;

use super::WorkerError;
use super::worker::send;
use crate::batch::Batches;
use crate::join::{KeyedJoin, TableUpdates};

/// A keyed join, its table's input, and the table version it was last fed.
pub(super) type TableInput = (
    KeyedJoin,
    timely::dataflow::InputHandle<u64, timely::container::CapacityContainerBuilder<TableUpdates>>,
    Option<i64>,
);

/// The version each keyed join's table would join at if the next epoch were planned now:
/// the newest for a followed table, else 0.
pub(super) fn table_versions(tables: &[TableInput]) -> std::result::Result<Vec<i64>, WorkerError> {
    tables
        .iter()
        .map(|(join, _, _)| {
            if join.follows() {
                join.feed()
                    .latest_version()
                    .map_err(|e| table_error(join, e.to_string()))
            } else {
                Ok(0)
            }
        })
        .collect()
}

/// Feeds each keyed join's table with this worker's share of the changes up to the
/// version `entry` logged for it, at the entry's epoch.
pub(super) fn feed_tables(
    tables: &mut [TableInput],
    entry: &OffsetsEntry,
    (index, peers): (usize, usize),
    dead_in: &mut timely::dataflow::InputHandle<
        u64,
        timely::container::CapacityContainerBuilder<Batches>,
    >,
) -> std::result::Result<(), WorkerError> {
    let epoch = entry.epoch;
    for (j, (join, table_in, current)) in tables.iter_mut().enumerate() {
        let context = |e: &dyn std::fmt::Display| table_error(join, format!("epoch {epoch}: {e}"));
        let Some(&version) = entry.table_versions.get(j) else {
            return Err(context(
                &"the offsets entry records no table version for this join",
            ));
        };
        if *current == Some(version) {
            continue;
        }
        if current.is_some_and(|c| version < c) {
            return Err(context(&format!(
                "the logged version {version} is older than version {} already joined",
                current.unwrap_or_default()
            )));
        }
        let started = Instant::now();
        let changes = join
            .feed()
            .changes(*current, version, index, peers)
            .map_err(|e| context(&e))?;
        let mut updates = TableUpdates::new();
        for batch in &changes.inserted {
            join.table_updates(batch, epoch, 1, &mut updates)
                .map_err(|e| context(&e))?;
        }
        for batch in &changes.deleted {
            join.table_updates(batch, epoch, -1, &mut updates)
                .map_err(|e| context(&e))?;
        }
        tracing::info!(
            join = join.name(),
            table = join.feed().name(),
            epoch,
            from = ?*current,
            version,
            updates = updates.len(),
            ms = started.elapsed().as_millis() as u64,
            "table side of a keyed join fed"
        );
        // A static table's undecodable rows were recorded at epoch 0; a first load at a
        // later epoch is a restart, which must not record them twice.
        if current.is_some() || epoch == 0 {
            for dead in changes.dead_letters {
                send(dead_in, dead);
            }
        }
        if !updates.is_empty() {
            table_in.send_batch(&mut updates);
        }
        *current = Some(version);
    }
    Ok(())
}

/// `join`'s failure to read its table.
fn table_error(join: &KeyedJoin, message: String) -> WorkerError {
    WorkerError::JoinTable {
        join: join.name().to_owned(),
        table: join.feed().name().to_owned(),
        message,
    }
}
