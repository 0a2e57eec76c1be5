//! The epoch's end for sessions and global windows, whose slots are the windows
//! themselves: emitting and evicting them, a global window's changelog and the deletes of
//! sessions in update mode.

use super::{Accumulator, Emitted, OutputMode, Slot, WindowKind, WindowState, key_order};

impl WindowState {
    /// The epoch's changed sessions (`+1`) and, in the same order by session and key, the
    /// sessions merged this epoch into one that starts elsewhere (`-1`, no aggregates).
    /// A session that was created and merged within the epoch comes out too: deleting a
    /// row the table never had deletes nothing.
    pub(super) fn with_deletes(&mut self, emitted: Emitted) -> (Emitted, Vec<i8>) {
        let mut vanished = std::mem::take(&mut self.vanished);
        // A start merged away and taken again (by the merged session itself) stays.
        let kept: std::collections::BTreeSet<(&[u8], i64)> =
            emitted.iter().map(|(k, s)| (k.as_ref(), s.start)).collect();
        vanished.retain(|(k, s, _)| !kept.contains(&(k.as_ref(), *s)));
        let mut rows: Vec<(Box<[u8]>, Slot, i8)> = emitted
            .into_iter()
            .map(|(k, s)| (k, s, 1))
            .chain(vanished.into_iter().map(|(k, start, end)| {
                let slot = Slot {
                    start,
                    end,
                    acc: Accumulator::new(&self.kept),
                    changed: false,
                };
                (k, slot, -1)
            }))
            .collect();
        rows.sort_unstable_by(|a, b| {
            (a.1.start, a.1.end)
                .cmp(&(b.1.start, b.1.end))
                .then_with(|| key_order(&a.0, &b.0))
                .then_with(|| a.2.cmp(&b.2))
        });
        rows.dedup_by(|a, b| a.0 == b.0 && a.1.start == b.1.start && a.2 == b.2);
        let changes = rows.iter().map(|r| r.2).collect();
        (rows.into_iter().map(|(k, s, _)| (k, s)).collect(), changes)
    }

    /// Ends an epoch of sessions or of a global window's groups: emits per the output
    /// mode and evicts the final ones. A global group all of whose rows were retracted is
    /// dropped and listed in `emptied`.
    pub(super) fn finish_slots(
        &mut self,
        bound: Option<i64>,
        emptied: &mut Vec<Box<[u8]>>,
    ) -> Emitted {
        let is_final = |end: i64| bound.is_some_and(|w| end <= w);
        let mode = self.spec.mode;
        let mut emitted: Emitted = Vec::new();
        let global = self.spec.kind == WindowKind::Global;
        // In place: a table of every open window is neither rebuilt nor rehashed per epoch.
        self.open.retain(|key, slots| {
            slots.retain_mut(|slot| {
                if global && slot.acc.rows == 0 {
                    emptied.push(key.clone());
                    return false;
                }
                let done = is_final(slot.end);
                let emit = match mode {
                    OutputMode::Append => done,
                    OutputMode::Update => slot.changed,
                };
                slot.changed = false;
                if emit {
                    let out = if done {
                        std::mem::replace(
                            slot,
                            Slot {
                                start: slot.start,
                                end: slot.end,
                                acc: Accumulator::default(),
                                changed: false,
                            },
                        )
                    } else {
                        slot.clone()
                    };
                    emitted.push((key.clone(), out));
                }
                !done
            });
            !slots.is_empty()
        });
        emitted
    }

    /// The epoch's changelog of a global window: each changed group's old row (when it
    /// had one) as a retraction, then its new row, in key order; a group emptied by
    /// retractions only has its old row retracted. Returns the rows and their changes.
    pub(super) fn changelog(
        &mut self,
        emitted: Emitted,
        emptied: Vec<Box<[u8]>>,
    ) -> (Emitted, Vec<i8>) {
        let mut before = std::mem::take(&mut self.before);
        let mut rows: Vec<(Box<[u8]>, Option<Slot>)> = emitted
            .into_iter()
            .map(|(key, slot)| (key, Some(slot)))
            .chain(emptied.into_iter().map(|key| (key, None)))
            .collect();
        rows.sort_unstable_by(|a, b| key_order(&a.0, &b.0));
        let mut out = Vec::with_capacity(rows.len() * 2);
        let mut changes = Vec::with_capacity(rows.len() * 2);
        for (key, slot) in rows {
            if let Some(acc) = before.remove(&key) {
                let old = Slot {
                    start: i64::MIN,
                    end: i64::MAX,
                    acc,
                    changed: false,
                };
                out.push((key.clone(), old));
                changes.push(-1);
            }
            if let Some(slot) = slot {
                out.push((key, slot));
                changes.push(1);
            }
        }
        (out, changes)
    }
}
