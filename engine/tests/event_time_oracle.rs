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
    Aggregate, AggregateFn, OutputMode, WindowControl, WindowExt, WindowKind, WindowSetup,
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

fn spec(kind: WindowKind, mode: OutputMode) -> WindowSpec {
    let agg = |name: &str, function, column: Option<&str>| Aggregate {
        name: name.into(),
        function,
        column: column.map(Into::into),
    };
    WindowSpec {
        name: "w".into(),
        kind,
        time_column: "ts".into(),
        keys: vec!["key".into()],
        aggregates: vec![
            agg("n", AggregateFn::Count, None),
            agg("sum", AggregateFn::Sum, Some("v")),
            agg("avg", AggregateFn::Avg, Some("v")),
            agg("min", AggregateFn::Min, Some("v")),
            agg("max", AggregateFn::Max, Some("v")),
            agg("sd", AggregateFn::Stddev, Some("v")),
            agg("users", AggregateFn::ApproxCountDistinct, Some("user")),
        ],
        delay: Duration::from_secs(60),
        mode,
        allowed_lateness: Duration::ZERO,
        watermark_from: None,
    }
}

/// One emitted result row: (epoch, start, end, key, count, sum, avg, min, max, stddev, users).
type Out = (
    u64,
    i64,
    i64,
    String,
    i64,
    f64,
    f64,
    f64,
    f64,
    Option<f64>,
    i64,
);
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

fn run_engine(spec: &WindowSpec, epochs: &[Vec<Rec>], workers: usize) -> (Vec<Out>, Vec<Late>) {
    let spec = spec.clone();
    let (results, lates) = run_dataflow(epochs, workers, move |stream, setup| {
        stream.window(&spec, &schema(), setup).unwrap()
    });
    (window_rows(&results), late_of(&lates))
}

/// The window rows of a run, sorted by epoch, window and key.
fn window_rows(results: &[(u64, RecordBatch)]) -> Vec<Out> {
    let mut out = Vec::new();
    for (epoch, b) in results {
        let col = |i: usize| b.column(i);
        let starts = col(0).as_primitive::<TimestampMicrosecondType>();
        let ends = col(1).as_primitive::<TimestampMicrosecondType>();
        let keys = col(2).as_string::<i32>();
        let n = col(3).as_any().downcast_ref::<Int64Array>().unwrap();
        let f = |i: usize| {
            col(i)
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap()
                .clone()
        };
        let (sum, avg, min, max, sd) = (f(4), f(5), f(6), f(7), f(8));
        let users = col(9).as_any().downcast_ref::<Int64Array>().unwrap();
        for i in 0..b.num_rows() {
            out.push((
                *epoch,
                starts.value(i),
                ends.value(i),
                keys.value(i).to_string(),
                n.value(i),
                sum.value(i),
                avg.value(i),
                min.value(i),
                max.value(i),
                sd.is_valid(i).then(|| sd.value(i)),
                users.value(i),
            ));
        }
    }
    out.sort_by(|a, b| (a.0, a.1, a.2, &a.3).cmp(&(b.0, b.1, b.2, &b.3)));
    out
}

/// The naive reference: replays the epochs with plain collections.
fn reference(spec: &WindowSpec, epochs: &[Vec<Rec>]) -> (Vec<Out>, Vec<Late>) {
    reference_of(spec, epochs, |_| true)
}

/// The reference over the records `keep` keeps, the watermark following every record.
fn reference_of(
    spec: &WindowSpec,
    all: &[Vec<Rec>],
    keep: impl Fn(&Rec) -> bool,
) -> (Vec<Out>, Vec<Late>) {
    let kept: Vec<Vec<Rec>> = all
        .iter()
        .map(|e| e.iter().filter(|r| keep(r)).cloned().collect())
        .collect();
    let epochs = &kept;
    let delay = spec.delay.as_micros() as i64;
    let lateness = spec.allowed_lateness.as_micros() as i64;
    let mut w_cur: Option<i64> = None;
    let mut gmax: Option<i64> = None;
    // (start, end, key) -> records contributed; `touched` marks windows changed this epoch.
    let mut open: BTreeMap<(i64, i64, String), Vec<Rec>> = BTreeMap::new();
    let mut out = Vec::new();
    let mut late = Vec::new();
    let last = epochs.len() - 1;
    for (e, records) in epochs.iter().enumerate() {
        let w_prev = w_cur;
        let cand = gmax.map(|m| m - delay);
        w_cur = match (w_cur, cand) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        // A window stays open `lateness` past the watermark.
        let w_prev = w_prev.map(|w| w - lateness);
        let is_late = |end: i64| w_prev.is_some_and(|w| end <= w);
        let mut touched: BTreeSet<(String, i64)> = BTreeSet::new();
        match spec.kind {
            WindowKind::Tumbling { .. } | WindowKind::Sliding { .. } => {
                let (size, slide) = match spec.kind {
                    WindowKind::Tumbling { size } => {
                        (size.as_micros() as i64, size.as_micros() as i64)
                    }
                    WindowKind::Sliding { size, slide } => {
                        (size.as_micros() as i64, slide.as_micros() as i64)
                    }
                    _ => unreachable!(),
                };
                for r in records {
                    let mut missed = 0;
                    // Every aligned start s with s <= t < s + size, by brute force.
                    let mut s = (r.t / slide - size / slide - 2) * slide;
                    while s <= r.t {
                        if s + size > r.t && s.rem_euclid(slide) == 0 {
                            if is_late(s + size) {
                                missed += 1;
                            } else {
                                open.entry((s, s + size, r.key.clone()))
                                    .or_default()
                                    .push(r.clone());
                                touched.insert((r.key.clone(), s));
                            }
                        }
                        s += slide;
                    }
                    if missed > 0 {
                        late.push((e as u64, r.key.clone(), r.t, missed, w_prev.unwrap()));
                    }
                }
            }
            WindowKind::Session { gap } => {
                let gap = gap.as_micros() as i64;
                // Sessions are recomputed from the open records of each key by sort and sweep.
                let mut per_key: BTreeMap<String, Vec<Rec>> = BTreeMap::new();
                for ((_, _, k), rs) in std::mem::take(&mut open) {
                    per_key.entry(k).or_default().extend(rs);
                }
                let mut fresh: BTreeSet<(String, i64, u64)> = BTreeSet::new();
                for r in records {
                    if is_late(r.t + gap) {
                        late.push((e as u64, r.key.clone(), r.t, 1, w_prev.unwrap()));
                    } else {
                        fresh.insert((r.key.clone(), r.t, r.v.to_bits()));
                        per_key.entry(r.key.clone()).or_default().push(r.clone());
                    }
                }
                for (k, mut rs) in per_key {
                    rs.sort_by(|a, b| a.t.cmp(&b.t).then(a.v.total_cmp(&b.v)));
                    let mut i = 0;
                    while i < rs.len() {
                        let start = rs[i].t;
                        let mut end = rs[i].t + gap;
                        let mut j = i + 1;
                        while j < rs.len() && rs[j].t < end {
                            end = end.max(rs[j].t + gap);
                            j += 1;
                        }
                        let members = rs[i..j].to_vec();
                        if members
                            .iter()
                            .any(|m| fresh.contains(&(k.clone(), m.t, m.v.to_bits())))
                        {
                            touched.insert((k.clone(), start));
                        }
                        open.insert((start, end, k.clone()), members);
                        i = j;
                    }
                }
            }
        }
        let bound = if e == last {
            Some(i64::MAX)
        } else {
            w_cur.map(|w| w - lateness)
        };
        let done = |end: i64| bound.is_some_and(|w| end <= w);
        let keys: Vec<_> = open.keys().cloned().collect();
        for key in keys {
            let (s, end, k) = key.clone();
            let emit = match spec.mode {
                OutputMode::Append => done(end),
                OutputMode::Update => touched.contains(&(k.clone(), s)),
            };
            if emit {
                out.push(row(e as u64, s, end, &k, &open[&key]));
            }
            if done(end) {
                open.remove(&key);
            }
        }
        for r in &all[e] {
            gmax = Some(gmax.map_or(r.t, |g| g.max(r.t)));
        }
    }
    out.sort_by(|a, b| (a.0, a.1, a.2, &a.3).cmp(&(b.0, b.1, b.2, &b.3)));
    late.sort();
    (out, late)
}

fn row(epoch: u64, start: i64, end: i64, key: &str, rs: &[Rec]) -> Out {
    let n = rs.len() as f64;
    let sum: f64 = rs.iter().map(|r| r.v).sum();
    let mean = sum / n;
    let sd = (rs.len() >= 2)
        .then(|| (rs.iter().map(|r| (r.v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
    let users: BTreeSet<&str> = rs.iter().map(|r| r.user.as_str()).collect();
    (
        epoch,
        start,
        end,
        key.to_string(),
        rs.len() as i64,
        sum,
        mean,
        rs.iter().map(|r| r.v).fold(f64::INFINITY, f64::min),
        rs.iter().map(|r| r.v).fold(f64::NEG_INFINITY, f64::max),
        sd,
        users.len() as i64,
    )
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn check(kind: WindowKind, mode: OutputMode, seed: u64) {
    check_spec(spec(kind, mode), seed);
}

fn check_spec(spec: WindowSpec, seed: u64) {
    let (kind, mode) = (spec.kind, spec.mode);
    let epochs = stream(seed, 24, 60);
    let (want, want_late) = reference(&spec, &epochs);
    assert!(!want.is_empty(), "the reference emitted nothing");
    assert!(
        !want_late.is_empty(),
        "the stream must contain late records"
    );
    for workers in [1, 3] {
        let (got, got_late) = run_engine(&spec, &epochs, workers);
        assert_eq!(
            got_late, want_late,
            "{kind:?} {mode:?} workers={workers}: late records differ"
        );
        assert_eq!(
            got.len(),
            want.len(),
            "{kind:?} {mode:?} workers={workers}: row counts differ"
        );
        for (g, w) in got.iter().zip(&want) {
            let same = (g.0, g.1, g.2, &g.3, g.4) == (w.0, w.1, w.2, &w.3, w.4)
                && close(g.5, w.5)
                && close(g.6, w.6)
                && g.7 == w.7
                && g.8 == w.8
                && match (g.9, w.9) {
                    (Some(a), Some(b)) => close(a, b),
                    (a, b) => a == b,
                }
                && (g.10 - w.10).abs() <= 1;
            assert!(
                same,
                "{kind:?} {mode:?} workers={workers}:\n got  {g:?}\n want {w:?}"
            );
        }
    }
}

#[test]
fn tumbling_append_matches_reference() {
    check(
        WindowKind::Tumbling {
            size: Duration::from_secs(60),
        },
        OutputMode::Append,
        1,
    );
}

#[test]
fn tumbling_update_matches_reference() {
    check(
        WindowKind::Tumbling {
            size: Duration::from_secs(60),
        },
        OutputMode::Update,
        2,
    );
}

fn sliding() -> WindowKind {
    WindowKind::Sliding {
        size: Duration::from_secs(90),
        slide: Duration::from_secs(30),
    }
}

#[test]
fn sliding_append_matches_reference() {
    check(sliding(), OutputMode::Append, 3);
}

#[test]
fn sliding_update_matches_reference() {
    check(sliding(), OutputMode::Update, 4);
}

#[test]
fn session_append_matches_reference() {
    check(
        WindowKind::Session {
            gap: Duration::from_secs(15),
        },
        OutputMode::Append,
        5,
    );
}

#[test]
fn session_update_matches_reference() {
    check(
        WindowKind::Session {
            gap: Duration::from_secs(15),
        },
        OutputMode::Update,
        6,
    );
}

/// With an allowed lateness, update mode keeps windows open past the watermark: rows late
/// by Spark's rule correct their windows, and only rows later than that are late.
fn check_lateness(kind: WindowKind, seed: u64) {
    let mut lenient = spec(kind, OutputMode::Update);
    lenient.allowed_lateness = Duration::from_secs(180);
    let epochs = stream(seed, 24, 60);
    let (_, strict_late) = reference(&spec(kind, OutputMode::Update), &epochs);
    let (_, lenient_late) = reference(&lenient, &epochs);
    assert!(
        !lenient_late.is_empty() && lenient_late.len() < strict_late.len(),
        "the stream must hold rows that the lateness accepts ({} of {} late rows) and rows \
         later than it",
        strict_late.len() - lenient_late.len(),
        strict_late.len()
    );
    check_spec(lenient, seed);
}

#[test]
fn tumbling_update_with_allowed_lateness_matches_reference() {
    check_lateness(
        WindowKind::Tumbling {
            size: Duration::from_secs(60),
        },
        7,
    );
}

#[test]
fn sliding_update_with_allowed_lateness_matches_reference() {
    check_lateness(sliding(), 8);
}

#[test]
fn an_allowed_lateness_is_refused_in_append_mode_and_for_sessions() {
    let mut append = spec(sliding(), OutputMode::Append);
    append.allowed_lateness = Duration::from_secs(60);
    let err = append.validate().unwrap_err().to_string();
    assert!(err.contains("needs `update` mode"), "{err}");
    let mut sessions = spec(
        WindowKind::Session {
            gap: Duration::from_secs(15),
        },
        OutputMode::Update,
    );
    sessions.allowed_lateness = Duration::from_secs(60);
    let err = sessions.validate().unwrap_err().to_string();
    assert!(err.contains("session windows"), "{err}");
}

/// One passed row of a deduplication: (epoch, key, user, t, v's bits).
type Passed = (u64, String, String, i64, u64);

fn dedup_spec() -> DedupSpec {
    DedupSpec {
        name: "unique".into(),
        keys: vec!["key".into(), "user".into()],
        time_column: "ts".into(),
        delay: Duration::from_secs(60),
        watermark_from: None,
    }
}

/// The stream with exact repeats: some rows come again in the same or a later epoch with
/// the same key, user and time but another value (ties the operator must break the same
/// way whatever the arrival order).
fn repeated_stream(seed: u64) -> Vec<Vec<Rec>> {
    let mut epochs = stream(seed, 24, 60);
    let mut rng = Rng(seed ^ 0xD00D);
    for e in 0..epochs.len() {
        for i in 0..6 {
            let target = (e + (i % 2)).min(epochs.len() - 1);
            let mut copy = epochs[e][(rng.below(60)) as usize].clone();
            copy.v = (rng.below(10_000) as f64) / 100.0;
            epochs[target].push(copy);
        }
    }
    epochs
}

fn run_dedup(spec: &DedupSpec, epochs: &[Vec<Rec>], workers: usize) -> (Vec<Passed>, Vec<Late>) {
    let spec = spec.clone();
    let (results, lates) = run_dataflow(epochs, workers, move |stream, setup| {
        stream.dedup(&spec, &schema(), setup).unwrap()
    });
    let mut passed = Vec::new();
    for (epoch, b) in &results {
        let keys = b.column(0).as_string::<i32>();
        let users = b.column(1).as_string::<i32>();
        let ts = b.column(2).as_primitive::<TimestampMicrosecondType>();
        let vs = b.column(3).as_any().downcast_ref::<Float64Array>().unwrap();
        for i in 0..b.num_rows() {
            passed.push((
                *epoch,
                keys.value(i).to_string(),
                users.value(i).to_string(),
                ts.value(i),
                vs.value(i).to_bits(),
            ));
        }
    }
    passed.sort();
    (passed, late_of(&lates))
}

/// The naive reference of deduplication within the watermark, from DESIGN's watermark
/// formula: late when `t <= W(e-1)`; a key's first row (lowest time, then value) passes
/// unless the key is remembered; keys are forgotten once `t + delay <= W(e)`.
fn dedup_reference(spec: &DedupSpec, epochs: &[Vec<Rec>]) -> (Vec<Passed>, Vec<Late>, u64) {
    let delay = spec.delay.as_micros() as i64;
    let (mut w_cur, mut gmax): (Option<i64>, Option<i64>) = (None, None);
    let mut seen: BTreeMap<(String, String), i64> = BTreeMap::new();
    let (mut passed, mut late, mut forgotten) = (Vec::new(), Vec::new(), 0);
    for (e, records) in epochs.iter().enumerate() {
        let w_prev = w_cur;
        let candidate = gmax.map(|m| m - delay);
        w_cur = match (w_cur, candidate) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let mut first: BTreeMap<(String, String), &Rec> = BTreeMap::new();
        for r in records {
            if w_prev.is_some_and(|w| r.t <= w) {
                late.push((e as u64, r.key.clone(), r.t, 0, w_prev.unwrap()));
                continue;
            }
            let key = (r.key.clone(), r.user.clone());
            if seen.contains_key(&key) {
                continue;
            }
            let held = first.entry(key).or_insert(r);
            if r.t.cmp(&held.t).then(r.v.total_cmp(&held.v)).is_lt() {
                *held = r;
            }
        }
        for ((key, user), r) in first {
            passed.push((e as u64, key.clone(), user.clone(), r.t, r.v.to_bits()));
            seen.insert((key, user), r.t + delay);
        }
        if let Some(w) = w_cur {
            let before = seen.len();
            seen.retain(|_, forget_at| *forget_at > w);
            forgotten += (before - seen.len()) as u64;
        }
        for r in records {
            gmax = Some(gmax.map_or(r.t, |g| g.max(r.t)));
        }
    }
    passed.sort();
    late.sort();
    (passed, late, forgotten)
}

#[test]
fn deduplication_within_the_watermark_matches_reference() {
    let spec = dedup_spec();
    let epochs = repeated_stream(9);
    let (want, want_late, forgotten) = dedup_reference(&spec, &epochs);
    let rows: usize = epochs.iter().map(Vec::len).sum();
    assert!(
        !want_late.is_empty() && forgotten > 0 && want.len() + want_late.len() < rows,
        "the stream must hold late rows, duplicates and keys the watermark forgets"
    );
    for workers in [1, 3] {
        let (got, got_late) = run_dedup(&spec, &epochs, workers);
        assert_eq!(got_late, want_late, "workers={workers}: late rows differ");
        assert_eq!(got, want, "workers={workers}: passed rows differ");
    }
}

/// One joined row: the left (user, t, v's bits) and the right's, `None` for an outer
/// row's missing side.
type Joined = (Option<(String, i64, u64)>, Option<(String, i64, u64)>);

fn join_spec(kind: StreamJoinKind) -> StreamJoinSpec {
    StreamJoinSpec {
        name: "pairs".into(),
        right: "right".into(),
        kind,
        left_keys: vec!["user".into()],
        right_keys: vec!["user".into()],
        left_time: "ts".into(),
        right_time: "ts".into(),
        min_offset_us: -30 * SEC,
        max_offset_us: 20 * SEC,
        left_delay: Duration::from_secs(60),
        right_delay: Duration::from_secs(40),
        left_prefix: "l.".into(),
        right_prefix: "r.".into(),
    }
}

/// Rows of keys k0 and k1 are the left side, k2 and k3 the right.
fn is_left(key: &str) -> bool {
    key == "k0" || key == "k1"
}

fn run_join(
    spec: &StreamJoinSpec,
    epochs: &[Vec<Rec>],
    workers: usize,
) -> (Vec<Joined>, Vec<Late>) {
    let spec = spec.clone();
    let (results, lates) = run_dataflow(epochs, workers, move |stream, setup| {
        let side = |left: bool| {
            move |_: u64, b: &RecordBatch| {
                let keys = b.column(0).as_string::<i32>();
                let keep: arrow::array::BooleanArray = keys
                    .iter()
                    .map(|k| Some(is_left(k.unwrap()) == left))
                    .collect();
                Ok(arrow::compute::filter_record_batch(b, &keep)?)
            }
        };
        let (left, _) = stream.clone().map_batches("Left", side(true));
        let (right, _) = stream.map_batches("Right", side(false));
        left.stream_join(right, &spec, &schema(), &schema(), setup)
            .unwrap()
    });
    let mut joined = Vec::new();
    for (_, b) in &results {
        let side = |prefix: &str, i: usize| {
            let user = b
                .column_by_name(&format!("{prefix}user"))
                .unwrap()
                .as_string::<i32>();
            let ts = b
                .column_by_name(&format!("{prefix}ts"))
                .unwrap()
                .as_primitive::<TimestampMicrosecondType>();
            let v = b
                .column_by_name(&format!("{prefix}v"))
                .unwrap()
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap();
            user.is_valid(i)
                .then(|| (user.value(i).to_string(), ts.value(i), v.value(i).to_bits()))
        };
        for i in 0..b.num_rows() {
            joined.push((side("l.", i), side("r.", i)));
        }
    }
    joined.sort();
    (joined, late_of(&lates))
}

/// The join's reference: each side's watermark from DESIGN's formula over that side's
/// rows, the join's the lower of the two; a row is late when `t <= W(e-1)`. The output is
/// then the plain join of all rows that were not late, computed by brute force: every
/// pair with equal users and `l.t - 30 s <= r.t <= l.t + 20 s`, and for an outer join
/// the rows of its side that match nothing.
fn join_reference(spec: &StreamJoinSpec, epochs: &[Vec<Rec>]) -> (Vec<Joined>, Vec<Late>) {
    let delay = [spec.left_delay, spec.right_delay].map(|d| d.as_micros() as i64);
    let mut w_cur: [Option<i64>; 2] = [None, None];
    let mut gmax: [Option<i64>; 2] = [None, None];
    let (mut kept, mut late): ([Vec<&Rec>; 2], Vec<Late>) = ([Vec::new(), Vec::new()], Vec::new());
    for (e, records) in epochs.iter().enumerate() {
        let w_prev = w_cur;
        for s in 0..2 {
            let candidate = gmax[s].map(|m| m - delay[s]);
            w_cur[s] = match (w_cur[s], candidate) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
        let bound = match w_prev {
            [Some(a), Some(b)] => Some(a.min(b)),
            _ => None,
        };
        for r in records {
            let s = usize::from(!is_left(&r.key));
            if bound.is_some_and(|w| r.t <= w) {
                late.push((e as u64, r.key.clone(), r.t, 0, bound.unwrap()));
            } else {
                kept[s].push(r);
            }
            gmax[s] = Some(gmax[s].map_or(r.t, |g| g.max(r.t)));
        }
    }
    let row = |r: &Rec| Some((r.user.clone(), r.t, r.v.to_bits()));
    let matches = |l: &Rec, r: &Rec| {
        l.user == r.user && r.t >= l.t + spec.min_offset_us && r.t <= l.t + spec.max_offset_us
    };
    let mut joined = Vec::new();
    for l in &kept[0] {
        for r in &kept[1] {
            if matches(l, r) {
                joined.push((row(l), row(r)));
            }
        }
    }
    if spec.kind == StreamJoinKind::LeftOuter {
        for l in &kept[0] {
            if !kept[1].iter().any(|r| matches(l, r)) {
                joined.push((row(l), None));
            }
        }
    }
    if spec.kind == StreamJoinKind::RightOuter {
        for r in &kept[1] {
            if !kept[0].iter().any(|l| matches(l, r)) {
                joined.push((None, row(r)));
            }
        }
    }
    joined.sort();
    late.sort();
    (joined, late)
}

fn check_join(kind: StreamJoinKind, seed: u64) {
    let spec = join_spec(kind);
    let epochs = stream(seed, 24, 60);
    let (want, want_late) = join_reference(&spec, &epochs);
    let outer = want
        .iter()
        .filter(|(l, r)| l.is_none() || r.is_none())
        .count();
    assert!(
        want.len() > outer && !want_late.is_empty(),
        "the stream must hold pairs and late rows"
    );
    if kind != StreamJoinKind::Inner {
        assert!(
            outer > 0,
            "an outer join's stream must hold rows that match nothing"
        );
    }
    for workers in [1, 3] {
        let (got, got_late) = run_join(&spec, &epochs, workers);
        assert_eq!(
            got_late, want_late,
            "{kind:?} workers={workers}: late rows differ"
        );
        assert_eq!(
            got.len(),
            want.len(),
            "{kind:?} workers={workers}: row counts differ"
        );
        assert_eq!(got, want, "{kind:?} workers={workers}: joined rows differ");
    }
}

#[test]
fn an_inner_interval_join_matches_the_plain_join_of_rows_on_time() {
    check_join(StreamJoinKind::Inner, 10);
}

#[test]
fn a_left_outer_interval_join_matches_the_plain_join_of_rows_on_time() {
    check_join(StreamJoinKind::LeftOuter, 11);
}

#[test]
fn a_right_outer_interval_join_matches_the_plain_join_of_rows_on_time() {
    check_join(StreamJoinKind::RightOuter, 12);
}

/// A window over some of the rows (a query's WHERE) whose watermark follows all of them,
/// as Spark and Flink observe event time at the source: rows the filter drops still move
/// the watermark, so windows close and rows are late as if they had been seen.
#[test]
fn a_window_s_watermark_can_follow_the_rows_before_its_filter() {
    let spec = spec(sliding(), OutputMode::Append);
    let epochs = stream(13, 24, 60);
    let keep = |r: &Rec| r.key == "k0";
    let (want, want_late) = reference_of(&spec, &epochs, keep);
    let (filtered_only, _) = reference(
        &spec,
        &epochs
            .iter()
            .map(|e| e.iter().filter(|r| keep(r)).cloned().collect())
            .collect::<Vec<_>>(),
    );
    assert_ne!(
        want, filtered_only,
        "the filter must change what the watermark closes"
    );
    for workers in [1, 3] {
        let spec = spec.clone();
        let (results, lates) = run_dataflow(&epochs, workers, move |stream, setup| {
            let (k0, _) = stream.clone().map_batches("OnlyK0", |_, b: &RecordBatch| {
                let keys = b.column(0).as_string::<i32>();
                let keep: arrow::array::BooleanArray =
                    keys.iter().map(|k| Some(k == Some("k0"))).collect();
                Ok(arrow::compute::filter_record_batch(b, &keep)?)
            });
            k0.window_observing(&spec, &schema(), setup, Some((stream, schema())))
                .unwrap()
        });
        let got = window_rows(&results);
        assert_eq!(
            late_of(&lates),
            want_late,
            "workers={workers}: late rows differ"
        );
        assert_eq!(
            got.len(),
            want.len(),
            "workers={workers}: row counts differ"
        );
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(
                (g.0, g.1, g.2, &g.3, g.4),
                (w.0, w.1, w.2, &w.3, w.4),
                "workers={workers}"
            );
        }
    }
}
