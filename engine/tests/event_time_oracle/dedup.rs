//! Deduplication within the watermark against a naive reference.

use super::*;

/// One passed row of a deduplication: (epoch, key, user, t, v's bits).
type Passed = (u64, String, String, i64, u64);

fn dedup_spec() -> DedupSpec {
    DedupSpec::new("unique", ["key", "user"], "ts", Duration::from_secs(60))
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
