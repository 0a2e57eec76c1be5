//! Interval joins against the plain join of the rows that were not late.

use super::*;

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
        left_until: None,
        left_watermark_from: None,
        right_watermark_from: None,
        condition: None,
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
        left.stream_join(
            right,
            &spec,
            [&schema(), &schema()],
            None,
            setup,
            [None, None],
        )
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
    if matches!(
        spec.kind,
        StreamJoinKind::LeftOuter | StreamJoinKind::FullOuter
    ) {
        for l in &kept[0] {
            if !kept[1].iter().any(|r| matches(l, r)) {
                joined.push((row(l), None));
            }
        }
    }
    if matches!(
        spec.kind,
        StreamJoinKind::RightOuter | StreamJoinKind::FullOuter
    ) {
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
    if kind == StreamJoinKind::FullOuter {
        assert!(
            want.iter().any(|(l, _)| l.is_none()) && want.iter().any(|(_, r)| r.is_none()),
            "a full join's stream must hold unmatched rows of both sides"
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

#[test]
fn a_full_outer_interval_join_matches_the_plain_join_of_rows_on_time() {
    check_join(StreamJoinKind::FullOuter, 13);
}
