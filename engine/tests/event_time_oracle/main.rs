//! Oracle tests: seeded random streams with disorder and late events run through the real
//! timely event-time operators (1 and 3 workers, many epochs) and must match a naive
//! reference written separately here: all three window kinds, both output modes, allowed
//! lateness, and deduplication within the watermark, with the same late set.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::{
    Array, AsArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType};
use arrow::record_batch::RecordBatch;
use sluice_engine::Batches;
use sluice_engine::dedup::{DedupExt, DedupSpec};
use sluice_engine::stateless::StatelessExt;
use sluice_engine::stream_join::{StreamJoinExt, StreamJoinKind, StreamJoinSpec};
use sluice_engine::window::{
    AggregateFn, Observed, OutputMode, WindowControl, WindowExt, WindowKind, WindowSetup,
    WindowSpec,
};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::core::{Input, Probe};
use timely::dataflow::operators::generic::operator::Operator;

const SEC: i64 = 1_000_000;

#[derive(Clone, Debug)]
struct Rec {
    key: String,
    user: String,
    t: i64,
    v: f64,
}

/// A tiny deterministic generator (splitmix64), so the test needs no RNG crate.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Epochs of records: time moves forward ~20 s per epoch, with skew up to 30 s and 3% of
/// records 2-6 minutes late.
fn stream(seed: u64, epochs: usize, per_epoch: usize) -> Vec<Vec<Rec>> {
    let mut rng = Rng(seed);
    let base = 1_700_000_000 * SEC;
    (0..epochs)
        .map(|e| {
            (0..per_epoch)
                .map(|_| {
                    let nominal = base + (e as i64) * 20 * SEC + rng.below(20) as i64 * SEC;
                    let mut t = nominal - rng.below(30 * SEC as u64) as i64;
                    if rng.below(100) < 3 {
                        t -= (120 + rng.below(240) as i64) * SEC;
                    }
                    Rec {
                        key: format!("k{}", rng.below(4)),
                        user: format!("u{}", rng.below(12)),
                        t,
                        v: (rng.below(10_000) as f64) / 100.0 - 20.0,
                    }
                })
                .collect()
        })
        .collect()
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("user", DataType::Utf8, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("v", DataType::Float64, false),
    ]))
}

fn batch(records: &[Rec]) -> RecordBatch {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(StringArray::from_iter_values(
                records.iter().map(|r| r.key.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                records.iter().map(|r| r.user.as_str()),
            )),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(records.iter().map(|r| r.t))
                    .with_timezone("UTC"),
            ),
            Arc::new(Float64Array::from_iter_values(records.iter().map(|r| r.v))),
        ],
    )
    .unwrap()
}

/// One late record: (epoch, key, t, windows missed, watermark).
type Late = (u64, String, i64, i32, i64);

/// Each epoch's result and late batches of one run.
type Emitted = (Vec<(u64, RecordBatch)>, Vec<(u64, RecordBatch)>);

/// Runs the epochs through the operator `build` makes, on `workers` workers.
fn run_dataflow<F>(epochs: &[Vec<Rec>], workers: usize, build: F) -> Emitted
where
    F: for<'s> Fn(
            timely::dataflow::Stream<'s, u64, Batches>,
            WindowSetup,
        ) -> sluice_engine::window::WindowOutputs<'s>
        + Send
        + Sync
        + 'static,
{
    let results = Arc::new(Mutex::new(Vec::new()));
    let lates = Arc::new(Mutex::new(Vec::new()));
    let (r, l) = (Arc::clone(&results), Arc::clone(&lates));
    let epochs = epochs.to_vec();
    let build = Arc::new(build);
    timely::execute(timely::Config::process(workers), move |worker| {
        let index = worker.index();
        let peers = worker.peers();
        let control = Rc::new(WindowControl::default());
        let (r, l) = (Arc::clone(&r), Arc::clone(&l));
        let build = Arc::clone(&build);
        let (mut input, probe) = worker.dataflow::<u64, _, _>(|scope| {
            let (input, stream) = scope.new_input::<Batches>();
            let setup = WindowSetup {
                key_groups: 16,
                restore: vec![],
                first_epoch: 0,
                snapshot_every: 0,
                snapshots: None,
                control: Rc::clone(&control),
                overflows: Default::default(),
            };
            let out = build(stream, setup);
            out.results
                .sink(Pipeline, "CollectResults", move |(input, _)| {
                    input.for_each(|cap, c| {
                        for b in &c.batches {
                            r.lock().unwrap().push((*cap.least().unwrap(), b.clone()));
                        }
                    })
                });
            let (probe, late) = out.late.probe();
            late.sink(Pipeline, "CollectLate", move |(input, _)| {
                input.for_each(|cap, c| {
                    for b in &c.batches {
                        l.lock().unwrap().push((*cap.least().unwrap(), b.clone()));
                    }
                })
            });
            (input, probe)
        });
        let last = epochs.len() as u64 - 1;
        for (e, records) in epochs.iter().enumerate() {
            let e = e as u64;
            let mine: Vec<Rec> = records
                .iter()
                .enumerate()
                .filter(|(i, _)| i % peers == index)
                .map(|(_, r)| r.clone())
                .collect();
            if e == last {
                control.final_epoch.set(Some(e));
            }
            // Several small batches per epoch.
            for chunk in mine.chunks(7) {
                input.send_batch(&mut Batches::one(batch(chunk)));
            }
            input.advance_to(e + 1);
            while probe.less_than(&(e + 1)) {
                worker.step();
            }
        }
        drop(input);
        while !probe.done() {
            worker.step();
        }
    })
    .unwrap()
    .join()
    .into_iter()
    .for_each(|r| r.unwrap());
    let results = std::mem::take(&mut *results.lock().unwrap());
    let lates = std::mem::take(&mut *lates.lock().unwrap());
    (results, lates)
}

/// The late rows of a run: (epoch, key, t, windows missed, watermark), sorted.
fn late_of(lates: &[(u64, RecordBatch)]) -> Vec<Late> {
    let mut late = Vec::new();
    for (epoch, b) in lates {
        let keys = b.column_by_name("key").unwrap().as_string::<i32>();
        let ts = b
            .column_by_name("ts")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        let missed = b
            .column_by_name("windows_missed")
            .unwrap()
            .as_primitive::<arrow::datatypes::Int32Type>();
        let wm = b
            .column_by_name("late_watermark")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        for i in 0..b.num_rows() {
            late.push((
                *epoch,
                keys.value(i).to_string(),
                ts.value(i),
                missed.value(i),
                wm.value(i),
            ));
        }
    }
    late.sort();
    late
}

mod dedup;
mod joins;
mod windows;
