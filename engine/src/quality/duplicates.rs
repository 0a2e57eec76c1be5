//! Uniqueness rules across workers: every key hash travels to the worker that owns it.
//!
//! A uniqueness rule counts the rows of an epoch whose key another row of the epoch already
//! has. Two equal keys may be read by different workers, so each worker hashes its rows'
//! keys (operator `UniqueKeyHashes`) and sends every hash to the worker chosen by its value
//! (operator `UniqueKeyDuplicates`, an exchange): all copies of a key meet on one worker.
//! Once an epoch's hashes are all in, that worker sorts its share, counts the repeats, and
//! hands the counts to the committer as a quality-gate note (rows 0, the duplicates as
//! the rule's violations); the gate adds them to the other workers' figures.
//!
//! Only 8 bytes per row cross workers, spread over all of them, and no worker ever holds
//! or merges the whole epoch's keys.

use std::collections::BTreeMap;
use std::sync::Arc;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::Stream;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::Capability;
use timely::dataflow::operators::generic::operator::Operator;

use super::Partial;
use crate::batch::Batches;
use crate::runtime::failure::{Failure, fail_in};
use crate::runtime::writer::EpochNote;
use crate::stateless::{Check, Rule};

/// A key hash, and the uniqueness rule (its index among the gate's rules) it is for.
type RuleHash = (u32, u64);

/// Whether any of `rules` is a uniqueness rule.
pub(crate) fn any(rules: &[Rule]) -> bool {
    rules.iter().any(|r| matches!(r.check, Check::Unique(_)))
}

/// The quality-gate notes (for the sink at `gate`) that count each epoch's duplicate keys
/// of the uniqueness rules among `rules`, from the bronze rows `events`. Epochs up to
/// `committed` (already in the gate's table) are skipped, as their rows are by the gate.
pub(crate) fn duplicate_notes<'scope>(
    events: Stream<'scope, u64, Batches>,
    rules: Arc<[Rule]>,
    gate: u32,
    committed: Option<u64>,
    failure: Failure,
) -> Stream<'scope, u64, Vec<EpochNote>> {
    let hashing = Arc::clone(&rules);
    let hash_failure = failure.clone();
    let hashes = events.unary::<CapacityContainerBuilder<Vec<RuleHash>>, _, _, _>(
        Pipeline,
        "UniqueKeyHashes",
        move |_, _| {
            move |input, output| {
                input.for_each(|cap, container| {
                    let mut session = output.session(&cap);
                    for batch in &container.batches {
                        for (r, rule) in hashing.iter().enumerate() {
                            let Check::Unique(keys) = &rule.check else {
                                continue;
                            };
                            match keys.hashes(batch) {
                                Ok(hashes) => {
                                    session.give_iterator(hashes.into_iter().map(|h| (r as u32, h)))
                                }
                                Err(e) => fail_in(
                                    &hash_failure,
                                    format!("uniqueness rule `{}`", rule.name),
                                    cap.least().copied().unwrap_or_default(),
                                    &e,
                                ),
                            }
                        }
                    }
                });
            }
        },
    );
    hashes.unary_frontier::<CapacityContainerBuilder<Vec<EpochNote>>, _, _, _>(
        Exchange::new(|&(_, h): &RuleHash| h),
        "UniqueKeyDuplicates",
        move |_, _| {
            let mut held: BTreeMap<u64, (Capability<u64>, Vec<Vec<u64>>)> = BTreeMap::new();
            move |(input, frontier), output| {
                input.for_each(|cap, container| {
                    let Some(&epoch) = cap.least() else { return };
                    if committed.is_some_and(|c| epoch <= c) {
                        return;
                    }
                    let (_, lists) = held.entry(epoch).or_insert_with(|| {
                        let cap = cap.retain_least(0).expect("an input capability");
                        (cap, vec![Vec::new(); rules.len()])
                    });
                    for &(r, h) in container.iter() {
                        lists[r as usize].push(h);
                    }
                });
                while let Some(entry) = held.first_entry() {
                    if frontier.less_equal(entry.key()) {
                        break;
                    }
                    let (cap, lists) = entry.remove();
                    let partial = Partial {
                        rows: 0,
                        violations: lists.into_iter().map(repeats).collect(),
                        columns: Vec::new(),
                    };
                    match serde_json::to_string(&partial) {
                        Ok(note) => output
                            .session(&cap)
                            .give(EpochNote::Sink { sink: gate, note }),
                        Err(e) => fail_in(&failure, "uniqueness counts", *cap.time(), &e),
                    }
                }
            }
        },
    )
}

/// How many of `hashes` repeat an earlier one (each distinct value counts once as the
/// original).
pub(crate) fn repeats(mut hashes: Vec<u64>) -> u64 {
    hashes.sort_unstable();
    let all = hashes.len();
    hashes.dedup();
    (all - hashes.len()) as u64
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use arrow::array::{ArrayRef, Int64Array, RecordBatch};
    use timely::dataflow::operators::Input;

    use super::*;
    use crate::quality::{RuleAction, RulePolicy};
    use crate::stateless::UniqueKeys;

    #[test]
    fn repeats_count_every_copy_beyond_the_first() {
        assert_eq!(repeats(vec![]), 0);
        assert_eq!(repeats(vec![5, 1, 5, 5, 2, 1]), 3);
        assert_eq!(repeats(vec![9, 8, 7]), 0);
    }

    fn batch(values: &[Option<i64>]) -> RecordBatch {
        RecordBatch::try_from_iter(vec![(
            "n",
            Arc::new(Int64Array::from(values.to_vec())) as ArrayRef,
        )])
        .unwrap()
    }

    /// Two workers read different rows of epochs 0 and 1; the notes must count every
    /// duplicate once, wherever its copies were read.
    #[test]
    fn duplicates_read_by_different_workers_are_counted_once() {
        let notes: Arc<Mutex<Vec<(u64, Partial)>>> = Arc::default();
        let seen = Arc::clone(&notes);
        timely::execute(timely::Config::process(2), move |worker| {
            let index = worker.index();
            let seen = Arc::clone(&seen);
            let failure = Failure::default();
            let mut rows_in = worker.dataflow::<u64, _, _>(|scope| {
                let schema = batch(&[]).schema();
                let rule = Rule {
                    name: "unique_n".into(),
                    check: Check::Unique(UniqueKeys::new(&schema, &["n".into()]).unwrap()),
                    policy: RulePolicy {
                        action: RuleAction::Warn,
                        max_ratio: None,
                    },
                };
                let (rows_in, rows) = scope.new_input::<Batches>();
                duplicate_notes(rows, vec![rule].into(), 0, None, failure.clone()).sink(
                    Pipeline,
                    "Collect",
                    move |(input, _)| {
                        input.for_each(|cap, container| {
                            let epoch = *cap.least().expect("a time");
                            for note in container.iter() {
                                let EpochNote::Sink { sink: 0, note } = note else {
                                    panic!("a note for the gate, sink 0: {note:?}");
                                };
                                let partial: Partial = serde_json::from_str(note).unwrap();
                                seen.lock().unwrap().push((epoch, partial));
                            }
                        });
                    },
                );
                rows_in
            });
            // Epoch 0: worker 0 reads 1, 2, 2, null, null; worker 1 reads 1, 3, 3.
            // Duplicates: 2 (same worker), 1 (across workers), 3: three. Nulls never repeat.
            // Epoch 1: 7 on both workers: one.
            let epochs: [[&[Option<i64>]; 2]; 2] = [
                [
                    &[Some(1), Some(2), Some(2), None, None],
                    &[Some(1), Some(3), Some(3)],
                ],
                [&[Some(7)], &[Some(7), Some(8)]],
            ];
            for (epoch, rows) in epochs.iter().enumerate() {
                rows_in.send_batch(&mut Batches::one(batch(rows[index])));
                rows_in.advance_to(epoch as u64 + 1);
                worker.step();
            }
            drop(rows_in);
            while worker.step_or_park(None) {}
            assert!(failure.first().is_none(), "{:?}", failure.first());
        })
        .unwrap();
        let notes = notes.lock().unwrap();
        let total = |epoch: u64| -> u64 {
            notes
                .iter()
                .filter(|(t, _)| *t == epoch)
                .map(|(_, p)| p.violations[0])
                .sum()
        };
        assert_eq!(total(0), 3);
        assert_eq!(total(1), 1);
        assert!(notes.iter().all(|(_, p)| p.rows == 0));
    }
}
