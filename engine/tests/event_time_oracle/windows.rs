//! Windows of every kind and output mode, with and without an allowed lateness, against a
//! naive reference.

use super::*;

fn spec(kind: WindowKind, mode: OutputMode) -> WindowSpec {
    WindowSpec::new("w", kind, "ts")
        .with_keys(["key"])
        .with_aggregate("n", AggregateFn::Count, None)
        .with_aggregate("sum", AggregateFn::Sum, Some("v"))
        .with_aggregate("avg", AggregateFn::Avg, Some("v"))
        .with_aggregate("min", AggregateFn::Min, Some("v"))
        .with_aggregate("max", AggregateFn::Max, Some("v"))
        .with_aggregate("sd", AggregateFn::Stddev, Some("v"))
        .with_aggregate("users", AggregateFn::ApproxCountDistinct, Some("user"))
        .with_delay(Duration::from_secs(60))
        .with_mode(mode)
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
        let mut touched: BTreeSet<(String, i64, i64)> = BTreeSet::new();
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
                                touched.insert((r.key.clone(), s, s + size));
                            }
                        }
                        s += slide;
                    }
                    if missed > 0 {
                        late.push((e as u64, r.key.clone(), r.t, missed, w_prev.unwrap()));
                    }
                }
            }
            WindowKind::Cumulating { size, step } => {
                let (size, step) = (size.as_micros() as i64, step.as_micros() as i64);
                for r in records {
                    let mut missed = 0;
                    // Every window of the record's period that ends after it.
                    let s = r.t.div_euclid(size) * size;
                    let mut end = s + step;
                    while end <= s + size {
                        if end > r.t {
                            if is_late(end) {
                                missed += 1;
                            } else {
                                open.entry((s, end, r.key.clone()))
                                    .or_default()
                                    .push(r.clone());
                                touched.insert((r.key.clone(), s, end));
                            }
                        }
                        end += step;
                    }
                    if missed > 0 {
                        late.push((e as u64, r.key.clone(), r.t, missed, w_prev.unwrap()));
                    }
                }
            }
            WindowKind::Global => unreachable!("this oracle checks windows in event time"),
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
                            touched.insert((k.clone(), start, end));
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
                OutputMode::Update => touched.contains(&(k.clone(), s, end)),
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

/// A size that is no multiple of the slide: panes of gcd(50, 20) = 10 seconds, five per
/// window, each in two or three windows.
fn uneven_sliding() -> WindowKind {
    WindowKind::Sliding {
        size: Duration::from_secs(50),
        slide: Duration::from_secs(20),
    }
}

#[test]
fn uneven_sliding_append_matches_reference() {
    check(uneven_sliding(), OutputMode::Append, 9);
}

#[test]
fn uneven_sliding_update_matches_reference() {
    check(uneven_sliding(), OutputMode::Update, 10);
}

/// Windows that grow by 20 seconds to a minute from each minute's start: a row is in
/// each of its minute's windows that end after it.
fn cumulating() -> WindowKind {
    WindowKind::Cumulating {
        size: Duration::from_secs(60),
        step: Duration::from_secs(20),
    }
}

#[test]
fn cumulating_append_matches_reference() {
    check(cumulating(), OutputMode::Append, 12);
}

#[test]
fn cumulating_update_matches_reference() {
    check(cumulating(), OutputMode::Update, 13);
}

#[test]
fn cumulating_update_with_allowed_lateness_matches_reference() {
    check_lateness(cumulating(), 14);
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
fn uneven_sliding_update_with_allowed_lateness_matches_reference() {
    check_lateness(uneven_sliding(), 11);
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
            k0.window_observing(
                &spec,
                &schema(),
                setup,
                Observed {
                    instead: Some((stream, schema())),
                    also: Vec::new(),
                },
            )
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
