//! Windows computed once where one query computes the same one twice.
//!
//! Flink's Nexmark q5 counts the bids per auction and window in two subqueries, one
//! joined with the other's maximum; each lowers to its own window operator, with the
//! same input, shape, keys and aggregates, under another name. Here the second is
//! dropped and what read it reads the first: the same rows, computed once.
//!
//! Only within one query (operators whose names start with the same table, `q5.A/window`
//! and `q5.M.C/window`): two queries' windows stay apart, each with its own state and its
//! own late rows in the dead-letter table.

use std::collections::BTreeMap;

use super::{Operator, OperatorKind, Plan};

/// Drops each window operator of `plan` that repeats an earlier one of the same query,
/// pointing what read it at the earlier one.
pub(super) fn share_windows(plan: &mut Plan) {
    let mut renamed: BTreeMap<String, String> = BTreeMap::new();
    let mut kept: Vec<Operator> = Vec::with_capacity(plan.operators.len());
    for mut op in std::mem::take(&mut plan.operators) {
        for stream in stream_refs(&mut op.kind).into_iter().chain([&mut op.input]) {
            if let Some(to) = renamed.get(stream.as_str()) {
                stream.clone_from(to);
            }
        }
        if let Some(same) = kept.iter().find(|k| repeats(&op, k)) {
            renamed.insert(op.name.clone(), same.name.clone());
            continue;
        }
        kept.push(op);
    }
    plan.operators = kept;
    for sink in &mut plan.sinks {
        if let Some(to) = renamed.get(&sink.input) {
            sink.input.clone_from(to);
        }
    }
}

/// Whether `op` is a window operator computing what `earlier` computes, in one query.
fn repeats(op: &Operator, earlier: &Operator) -> bool {
    let (OperatorKind::Window(a), OperatorKind::Window(b)) = (&op.kind, &earlier.kind) else {
        return false;
    };
    if op.input != earlier.input || query_of(&op.name) != query_of(&earlier.name) {
        return false;
    }
    let mut a = a.clone();
    a.name.clone_from(&b.name);
    a == *b
}

/// The table whose query an operator belongs to: its name up to the first `.` or `/`.
fn query_of(name: &str) -> &str {
    name.split(['.', '/']).next().unwrap_or(name)
}

/// The streams `kind` reads besides its input.
fn stream_refs(kind: &mut OperatorKind) -> Vec<&mut String> {
    match kind {
        OperatorKind::StreamJoin(join) => {
            let mut refs = vec![&mut join.right];
            refs.extend(join.left_watermark_from.as_mut());
            refs.extend(join.right_watermark_from.as_mut());
            refs
        }
        OperatorKind::Union { others } => others.iter_mut().collect(),
        OperatorKind::Window(spec) => spec
            .watermark_from
            .as_mut()
            .into_iter()
            .chain(spec.watermark_also.iter_mut().map(|w| &mut w.stream))
            .collect(),
        OperatorKind::Dedup(spec) => spec
            .watermark_from
            .as_mut()
            .into_iter()
            .chain(spec.watermark_also.iter_mut().map(|w| &mut w.stream))
            .collect(),
        OperatorKind::WindowTopN(spec) => spec.watermark_from.as_mut().into_iter().collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::plan::{OperatorKind, PlanBuilder};
    use crate::stream_join::{StreamJoinKind, StreamJoinSpec};
    use crate::window::{AggregateFn, WindowKind, WindowSpec};

    fn counts(name: &str) -> WindowSpec {
        WindowSpec::new(
            name,
            WindowKind::Sliding {
                size: Duration::from_secs(10),
                slide: Duration::from_secs(2),
            },
            "ts",
        )
        .with_keys(["auction"])
        .with_aggregate("n", AggregateFn::Count, None)
    }

    fn names(plan: &crate::plan::Plan) -> Vec<&str> {
        plan.operators.iter().map(|o| o.name.as_str()).collect()
    }

    #[test]
    fn a_query_s_repeated_window_is_computed_once() {
        let join = StreamJoinSpec {
            name: "q.join".into(),
            right: "q.B/window".into(),
            kind: StreamJoinKind::Inner,
            left_keys: vec!["auction".into()],
            right_keys: vec!["auction".into()],
            left_time: "window_end".into(),
            right_time: "window_end".into(),
            left_prefix: "a.".into(),
            right_prefix: "b.".into(),
            ..StreamJoinSpec::default()
        };
        let plan = PlanBuilder::new("job", "bid")
            .window("q.A/window", "bid", counts("q.A"))
            .window("q.B/window", "bid", counts("q.B"))
            .filter("q.B/where", "q.B/window", "n > 1")
            .stream_join("q/join", "q.A/window", join)
            .sink("q", "q/join")
            .sink("q_b", "q.B/window")
            .dead_letters("dlq")
            .build()
            .unwrap();
        assert_eq!(names(&plan), ["q.A/window", "q.B/where", "q/join"]);
        assert_eq!(plan.operators[1].input, "q.A/window");
        let OperatorKind::StreamJoin(join) = &plan.operators[2].kind else {
            panic!("{:?}", plan.operators[2]);
        };
        assert_eq!(join.right, "q.A/window");
        assert!(
            plan.sinks
                .iter()
                .any(|s| s.name == "q_b" && s.input == "q.A/window")
        );
        // Two queries' windows, or windows that differ, stay apart.
        let plan = PlanBuilder::new("job", "bid")
            .window("q.A/window", "bid", counts("q.A"))
            .window("r.A/window", "bid", counts("r.A"))
            .window("q.C/window", "bid", counts("q.C").with_keys(["bidder"]))
            .sink("q", "q.A/window")
            .sink("r", "r.A/window")
            .sink("c", "q.C/window")
            .dead_letters("dlq")
            .build()
            .unwrap();
        assert_eq!(names(&plan), ["q.A/window", "r.A/window", "q.C/window"]);
    }
}
