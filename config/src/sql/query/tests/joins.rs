//! The lowering of stream–stream joins: keys, bounds, conditions in `ON` and `WHERE`,
//! outer and semi joins, and joined windowed subqueries.

use sluice_engine::plan::OperatorKind;

use super::*;

pub(super) const TWO_SOURCES: &str = "CREATE TABLE a (id BIGINT, k STRING, ts TIMESTAMP NOT NULL, \
     WATERMARK FOR ts AS ts - INTERVAL '30' SECOND) WITH ('connector' = 'generator', \
     'format' = 'json');\n\
     CREATE TABLE b (id BIGINT, v DOUBLE, bts TIMESTAMP NOT NULL, \
     WATERMARK FOR bts AS bts - INTERVAL '1' MINUTE) WITH ('connector' = 'generator', \
     'format' = 'json', 'seed' = '7');";

pub(super) fn joined(query: &str) -> Result<crate::JobConfig, String> {
    let text = format!("{TWO_SOURCES}\n{query}");
    crate::sql::SqlJob::from_sql_with(&text, "t.sql", "t", &[]).map_err(|e| e.to_string())
}

#[test]
fn a_full_join_keeps_the_unmatched_rows_of_both_sides() {
    let config = joined(
        "INSERT INTO t SELECT x.id, y.id AS bid, k, v FROM a AS x FULL OUTER JOIN b AS y \
         ON y.id = x.id AND y.bts BETWEEN x.ts - INTERVAL '1' MINUTE AND x.ts;",
    )
    .unwrap();
    let queries = config.queries.unwrap();
    let OperatorKind::StreamJoin(spec) = &queries.plan.operators[0].kind else {
        panic!("not a join: {:?}", queries.plan.operators);
    };
    assert_eq!(
        spec.kind,
        sluice_engine::stream_join::StreamJoinKind::FullOuter
    );
    assert_eq!((spec.min_offset_us, spec.max_offset_us), (-60_000_000, 0));
}

#[test]
fn a_join_of_two_sources_lowers_to_an_interval_join() {
    let config = joined(
        "INSERT INTO t SELECT x.id, k, v FROM a AS x RIGHT JOIN b AS y ON y.id = x.id \
         AND y.bts >= x.ts - INTERVAL '5' MINUTE AND x.ts + INTERVAL '10' SECOND > y.bts \
         WHERE v > 0;",
    )
    .unwrap();
    let queries = config.queries.unwrap();
    assert_eq!(queries.plan.other_sources, ["b"]);
    assert_eq!(queries.other_sources[0].0, "b");
    // WHERE on the kept side's columns filters it before the join; its watermark still
    // follows all its rows.
    let OperatorKind::Filter { predicate } = &queries.plan.operators[0].kind else {
        panic!("not a filter: {:?}", queries.plan.operators);
    };
    assert_eq!(
        (queries.plan.operators[0].name.as_str(), predicate.as_str()),
        ("t/y-where", "\"v\" > 0")
    );
    let OperatorKind::StreamJoin(spec) = &queries.plan.operators[1].kind else {
        panic!("not a join: {:?}", queries.plan.operators);
    };
    assert_eq!(spec.right, "t/y-where");
    assert_eq!(spec.right_watermark_from.as_deref(), Some("b"));
    assert_eq!(
        spec.kind,
        sluice_engine::stream_join::StreamJoinKind::RightOuter
    );
    assert_eq!(
        (spec.left_keys.as_slice(), spec.right_keys.as_slice()),
        (&["id".to_owned()][..], &["id".to_owned()][..])
    );
    assert_eq!(
        (spec.left_time.as_str(), spec.right_time.as_str()),
        ("ts", "bts")
    );
    assert_eq!(spec.min_offset_us, -300_000_000);
    assert_eq!(spec.max_offset_us, 10_000_000 - 1);
    assert_eq!(spec.left_delay, Duration::from_secs(30));
    assert_eq!(spec.right_delay, Duration::from_secs(60));
    let OperatorKind::Project { columns, .. } = &queries.plan.operators[2].kind else {
        panic!("not a projection");
    };
    let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["id", "k", "v"]);
    assert_eq!(columns[1].1, "\"x.k\"");
}

#[test]
fn joins_that_cannot_evict_their_state_are_refused() {
    let on = |cond: &str| format!("INSERT INTO t SELECT x.id FROM a AS x JOIN b AS y ON {cond};");
    let cases = [
        (on("y.id = x.id"), "both time bounds"),
        (on("y.id = x.id AND y.bts >= x.ts"), "both time bounds"),
        (
            on("y.bts BETWEEN x.ts - INTERVAL '1' MINUTE AND x.ts"),
            "without keys",
        ),
        (
            on("y.id = x.id AND y.v BETWEEN x.ts AND x.ts"),
            "the watermark of `b` is on `bts`",
        ),
        (
            on("y.id + x.id = 5 AND y.bts BETWEEN x.ts AND x.ts"),
            "without keys",
        ),
        (
            "INSERT INTO t SELECT x.id FROM a AS x FULL JOIN b AS y ON y.id = x.id;".to_owned(),
            "both time bounds",
        ),
        (
            "INSERT INTO t SELECT x.id FROM a AS x CROSS JOIN b AS y;".to_owned(),
            "INNER, LEFT, RIGHT or FULL",
        ),
        (
            "INSERT INTO t SELECT id FROM a AS x JOIN b AS y ON y.id = x.id AND y.bts \
             BETWEEN x.ts AND x.ts;"
                .to_owned(),
            "a column of both sides",
        ),
        (
            "INSERT INTO t SELECT * FROM a AS x JOIN b AS y ON y.id = x.id AND y.bts \
             BETWEEN x.ts AND x.ts;"
                .to_owned(),
            "`*` over a join",
        ),
    ];
    for (query, expected) in cases {
        let err = joined(&query).unwrap_err();
        assert!(err.contains(expected), "{query}: {err}");
    }
}

#[test]
fn key_expressions_are_computed_before_the_join_and_an_inner_join_s_filters_precede_it() {
    let config = joined(
        "INSERT INTO t SELECT x.id, v FROM a AS x JOIN b AS y \
         ON CAST(y.id AS STRING) = upper(x.k) AND x.id = y.id + 1 \
         AND y.bts BETWEEN x.ts AND x.ts + INTERVAL '1' MINUTE AND y.v > 3 AND x.k <> 'z' \
         WHERE v < 10;",
    )
    .unwrap();
    let plan = config.queries.unwrap().plan;
    let op = |name: &str| {
        &plan
            .operators
            .iter()
            .find(|o| o.name == name)
            .unwrap_or_else(|| panic!("no {name}: {:?}", plan.operators))
            .kind
    };
    let OperatorKind::Project { columns, .. } = op("t/x-keys") else {
        panic!("not a projection");
    };
    assert_eq!(
        columns,
        &[
            ("__key0".to_owned(), "upper(\"k\")".to_owned()),
            ("__key1".to_owned(), "\"id\"".to_owned())
        ][..1],
        "x.id is a column: only upper(x.k) is computed"
    );
    let OperatorKind::Project { columns, .. } = op("t/y-keys") else {
        panic!("not a projection");
    };
    assert_eq!(
        columns,
        &[
            ("__key0".to_owned(), "CAST(\"id\" AS STRING)".to_owned()),
            ("__key1".to_owned(), "\"id\" + 1".to_owned())
        ]
    );
    let OperatorKind::StreamJoin(spec) = op("t/join") else {
        panic!("not a join");
    };
    assert_eq!(spec.left_keys, ["__key0", "id"]);
    assert_eq!(spec.right_keys, ["__key0", "__key1"]);
    // The conditions on one side, in ON and in WHERE, filter that side first; its keys
    // are computed after the filter.
    let filter = |name: &str| match op(name) {
        OperatorKind::Filter { predicate } => predicate.clone(),
        other => panic!("{name} is not a filter: {other:?}"),
    };
    assert_eq!(filter("t/x-on"), "\"k\" <> 'z'");
    assert_eq!(filter("t/y-on"), "(\"v\" > 3) AND (\"v\" < 10)");
    let input = |name: &str| {
        plan.operators
            .iter()
            .find(|o| o.name == name)
            .unwrap()
            .input
            .as_str()
    };
    assert_eq!((input("t/x-keys"), input("t/y-keys")), ("t/x-on", "t/y-on"));
    assert_eq!(
        (
            spec.left_watermark_from.as_deref(),
            spec.right_watermark_from.as_deref()
        ),
        (Some("a"), Some("b"))
    );
    assert!(
        !plan.operators.iter().any(|o| o.name == "t/where"),
        "nothing is left to filter after the join"
    );
    // A condition on both sides' columns still filters the joined rows.
    let both = joined(
        "INSERT INTO t SELECT x.id, v FROM a AS x JOIN b AS y ON x.id = y.id \
         AND y.bts BETWEEN x.ts AND x.ts + INTERVAL '1' MINUTE WHERE y.v > x.id;",
    )
    .unwrap()
    .queries
    .unwrap()
    .plan;
    let kinds: Vec<&str> = both.operators.iter().map(|o| o.kind.kind_name()).collect();
    assert_eq!(kinds, ["project", "stream-join", "filter", "project"]);
}

#[test]
fn an_outer_join_filters_the_side_it_does_not_keep_whole_before_joining() {
    let plan = |join: &str, condition: &str| {
        joined(&format!(
            "INSERT INTO t SELECT x.id, v FROM a AS x {join} b AS y ON y.id = x.id \
             AND y.bts BETWEEN x.ts AND x.ts + INTERVAL '1' MINUTE AND {condition};"
        ))
        .map(|c| c.queries.unwrap().plan)
    };
    let left = plan("LEFT JOIN", "y.v > 3").unwrap();
    let filter = left.operators.iter().find(|o| o.name == "t/y-on").unwrap();
    assert_eq!(filter.input, "b");
    assert_eq!(
        filter.kind,
        OperatorKind::Filter {
            predicate: "\"v\" > 3".into()
        }
    );
    let join = |plan: &sluice_engine::plan::Plan| {
        plan.operators
            .iter()
            .find_map(|o| match &o.kind {
                OperatorKind::StreamJoin(spec) => Some(spec.clone()),
                _ => None,
            })
            .expect("a join")
    };
    let spec = join(&left);
    assert_eq!(
        (
            spec.left_watermark_from.as_deref(),
            spec.right_watermark_from.as_deref()
        ),
        (None, Some("b")),
        "the right side's watermark follows its rows before the filter"
    );
    let right = plan("RIGHT JOIN", "upper(x.k) <> 'Z'").unwrap();
    assert_eq!(join(&right).left_watermark_from.as_deref(), Some("a"));
    // A condition on both sides' columns is the join's own: it decides which pairs match.
    for join_kind in ["LEFT JOIN", "FULL JOIN"] {
        let plan = plan(join_kind, "y.v > x.id").unwrap();
        assert_eq!(
            join(&plan).condition.as_deref(),
            Some("\"y.v\" > \"x.id\""),
            "{join_kind}"
        );
        assert!(
            plan.operators
                .iter()
                .all(|o| o.kind.kind_name() != "filter")
        );
    }
    // The columns it reads stay in the join's rows, though the select list does not read
    // them.
    let narrow = joined(
        "INSERT INTO t SELECT x.id FROM a AS x LEFT JOIN b AS y ON y.id = x.id \
         AND y.bts BETWEEN x.ts AND x.ts + INTERVAL '1' MINUTE AND y.v > x.id;",
    )
    .unwrap()
    .queries
    .unwrap()
    .plan;
    let dropped = |name: &str| match &narrow.operator(name).map(|o| &o.kind) {
        Some(OperatorKind::Project { drop, .. }) => drop.clone(),
        _ => Vec::new(),
    };
    assert!(
        !dropped("t/y-columns").contains(&"v".to_owned()),
        "{narrow:?}"
    );
    assert!(
        dropped("t/x-columns").contains(&"k".to_owned()),
        "{narrow:?}"
    );
}

/// A condition of `ON` on the columns of a side an outer join keeps whole nulls that
/// side's keys where it fails, before the join: such rows match nothing, and come out
/// once with nulls for the other side.
#[test]
fn an_outer_join_gates_the_keys_of_the_side_it_keeps_whole() {
    let plan = |join: &str, on: &str| {
        joined(&format!(
            "INSERT INTO t SELECT x.id, v FROM a AS x {join} b AS y ON {on} \
             AND y.bts BETWEEN x.ts AND x.ts + INTERVAL '1' MINUTE;"
        ))
        .map(|c| c.queries.unwrap().plan)
        .unwrap()
    };
    let keys = |plan: &sluice_engine::plan::Plan, name: &str| match &plan
        .operator(name)
        .expect("a key projection")
        .kind
    {
        OperatorKind::Project { columns, .. } => columns.clone(),
        other => panic!("{name} is {other:?}"),
    };
    let join = |plan: &sluice_engine::plan::Plan| {
        plan.operators
            .iter()
            .find_map(|o| match &o.kind {
                OperatorKind::StreamJoin(spec) => {
                    Some((spec.left_keys.clone(), spec.right_keys.clone()))
                }
                _ => None,
            })
            .expect("a join")
    };
    let gated = |sql: &str| vec![("__key0".to_owned(), sql.to_owned())];
    // A column key of the kept side becomes a computed key; the other side's stays.
    let left = plan("LEFT JOIN", "y.id = x.id AND x.k <> 'z'");
    assert_eq!(
        keys(&left, "t/x-keys"),
        gated("CASE WHEN \"k\" <> 'z' THEN \"id\" END")
    );
    assert!(left.operator("t/y-keys").is_none());
    assert_eq!(
        join(&left),
        (vec!["__key0".to_owned()], vec!["id".to_owned()])
    );
    // A computed key is gated in place; in a RIGHT join, the right side is the kept one.
    let right = plan("RIGHT JOIN", "y.id = x.id + 1 AND y.v > 3");
    assert_eq!(
        keys(&right, "t/y-keys"),
        gated("CASE WHEN \"v\" > 3 THEN \"id\" END")
    );
    assert_eq!(keys(&right, "t/x-keys"), gated("\"id\" + 1"));
    // A FULL join keeps both sides whole: each side's condition gates its own keys.
    let full = plan("FULL JOIN", "y.id = x.id AND y.v > 3 AND x.k = 'a'");
    assert_eq!(
        keys(&full, "t/x-keys"),
        gated("CASE WHEN \"k\" = 'a' THEN \"id\" END")
    );
    assert_eq!(
        keys(&full, "t/y-keys"),
        gated("CASE WHEN \"v\" > 3 THEN \"id\" END")
    );
    // No side is filtered: every row must come out.
    assert!(
        full.operators
            .iter()
            .all(|o| o.kind.kind_name() != "filter")
    );
}

/// Per minute, `b`'s highest `v` (q7's shape) and, by `id`, its rows (q8's).
const MAX_PER_MINUTE: &str = "(SELECT max(v) AS hi, window_end AS we FROM b \
                              GROUP BY TUMBLE(bts, INTERVAL '1' MINUTE)) AS w";
const IDS_PER_MINUTE: &str = "(SELECT id, window_start AS ws, window_end AS we FROM b \
                              GROUP BY TUMBLE(bts, INTERVAL '1' MINUTE), id) AS w";

#[test]
fn a_join_with_a_windowed_subquery_bounded_in_where_joins_its_window_rows() {
    let config = joined(&format!(
        "INSERT INTO t SELECT x.id, hi FROM a AS x JOIN {MAX_PER_MINUTE} ON x.id = w.hi \
         WHERE x.ts BETWEEN w.we - INTERVAL '1' MINUTE AND w.we \
         AND (k = 'p' OR k = 'q') AND x.id > 0;"
    ))
    .unwrap();
    let plan = config.queries.unwrap().plan;
    let kinds: Vec<&str> = plan.operators.iter().map(|o| o.kind.kind_name()).collect();
    // The conditions on `x` alone filter it before the join.
    assert_eq!(
        kinds,
        [
            "window",
            "project",
            "filter",
            "project",
            "stream-join",
            "project"
        ]
    );
    let OperatorKind::StreamJoin(spec) = &plan.operators[4].kind else {
        panic!("not a join");
    };
    assert_eq!(plan.operators[2].input, "a");
    assert_eq!(spec.left_watermark_from.as_deref(), Some("a"));
    assert_eq!(spec.right, plan.operators[1].name);
    assert_eq!(
        (spec.left_time.as_str(), spec.right_time.as_str()),
        ("ts", "we")
    );
    assert_eq!(spec.right_delay, Duration::ZERO);
    assert_eq!((spec.min_offset_us, spec.max_offset_us), (0, 60_000_000));
    let OperatorKind::Filter { predicate } = &plan.operators[2].kind else {
        panic!("not a filter");
    };
    // The bound left WHERE; the OR keeps its parentheses.
    assert_eq!(predicate, "(\"k\" = 'p' OR \"k\" = 'q') AND (\"id\" > 0)");
}

#[test]
fn a_join_keeps_in_state_only_the_columns_the_query_reads() {
    let config = joined(
        "INSERT INTO t SELECT x.id FROM a AS x JOIN b AS y ON y.id = x.id \
         AND y.bts BETWEEN x.ts AND x.ts + INTERVAL '1' MINUTE;",
    )
    .unwrap();
    let plan = config.queries.unwrap().plan;
    let dropped: Vec<(&str, &str, &[String])> = plan
        .operators
        .iter()
        .filter_map(|o| match &o.kind {
            OperatorKind::Project {
                drop,
                keep_input: true,
                ..
            } => Some((o.name.as_str(), o.input.as_str(), drop.as_slice())),
            _ => None,
        })
        .collect();
    assert_eq!(
        dropped,
        [
            ("t/x-columns", "a", &["k".to_owned()][..]),
            ("t/y-columns", "b", &["v".to_owned()][..]),
        ]
    );
    let OperatorKind::StreamJoin(spec) = &plan.operators[2].kind else {
        panic!("not a join: {:?}", plan.operators);
    };
    assert_eq!(plan.operators[2].input, "t/x-columns");
    assert_eq!(spec.right, "t/y-columns");
}

#[test]
fn two_windowed_subqueries_joined_on_their_windows_are_a_window_join() {
    let config = joined(&format!(
        "INSERT INTO t SELECT v.id, v.ws FROM (SELECT id, window_start AS ws, \
         window_end AS we FROM a GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), id) AS v \
         JOIN {IDS_PER_MINUTE} ON v.id = w.id AND v.ws = w.ws AND v.we = w.we;"
    ))
    .unwrap();
    let plan = config.queries.unwrap().plan;
    let join = plan
        .operators
        .iter()
        .find_map(|o| match &o.kind {
            OperatorKind::StreamJoin(spec) => Some(spec),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        (join.left_time.as_str(), join.right_time.as_str()),
        ("ws", "ws")
    );
    assert_eq!((join.min_offset_us, join.max_offset_us), (0, 0));
    assert_eq!(
        (join.left_delay, join.right_delay),
        (Duration::ZERO, Duration::ZERO)
    );
    assert_eq!(join.left_keys, ["id", "ws", "we"]);
    // Each subquery's windows keep their own state.
    let states: Vec<&str> = plan.windows().map(|w| w.name.as_str()).collect();
    assert_eq!(states, ["t.v", "t.w"]);
}

#[test]
fn joined_subqueries_that_are_not_windows_or_bound_no_event_time_are_refused() {
    let cases = [
        (
            format!(
                "INSERT INTO t SELECT x.id FROM a AS x JOIN {IDS_PER_MINUTE} \
                     ON x.id = w.id AND w.id BETWEEN x.ts AND x.ts;"
            ),
            "are its window's start and end",
        ),
        (
            "INSERT INTO t SELECT x.id FROM a AS x JOIN (SELECT id, window_start AS ws \
             FROM b GROUP BY TUMBLE(bts, INTERVAL '1' MINUTE), id) ON x.id = id;"
                .to_owned(),
            "needs a name",
        ),
        (
            "INSERT INTO t SELECT x.id FROM a AS x JOIN (SELECT id, window_start AS ws \
             FROM b GROUP BY SESSION(bts, INTERVAL '1' MINUTE), id) AS w ON x.id = w.id \
             AND w.ws BETWEEN x.ts AND x.ts;"
                .to_owned(),
            "are its window's start and end ([])",
        ),
        (
            format!(
                "INSERT INTO t SELECT x.id FROM a AS x JOIN {IDS_PER_MINUTE} \
                     ON x.id = w.id AND w.ws BETWEEN x.ts AND x.ts \
                     AND w.we <= x.ts + INTERVAL '1' MINUTE;"
            ),
            "bound one event time of each side",
        ),
        (
            "INSERT INTO t SELECT x.id FROM a AS x JOIN (SELECT id FROM b) AS w \
             ON x.id = w.id;"
                .to_owned(),
            "does not select `bts`, the event time of `b`",
        ),
        (
            "INSERT INTO t SELECT x.id FROM a AS x JOIN (SELECT id, bts AS t FROM b) AS w \
             ON x.id = w.id AND w.t BETWEEN x.ts AND x.ts;"
                .to_owned(),
            "does not select `bts`",
        ),
        (
            "INSERT INTO t SELECT x.id FROM a AS x JOIN (SELECT id, bts, explode(array(v)) \
             AS e FROM b) AS w ON x.id = w.id AND w.bts BETWEEN x.ts AND x.ts;"
                .to_owned(),
            "a filter and projection of one source table",
        ),
        (
            "INSERT INTO t SELECT x.id FROM a AS x JOIN (SELECT id, bts FROM (SELECT * FROM \
             b) AS i) AS w ON x.id = w.id AND w.bts BETWEEN x.ts AND x.ts;"
                .to_owned(),
            "a filter and projection of one source table",
        ),
        (
            "INSERT INTO t SELECT x.id FROM a AS x JOIN (SELECT id, bts, v + 1 FROM b) AS w \
             ON x.id = w.id AND w.bts BETWEEN x.ts AND x.ts;"
                .to_owned(),
            "give it a column name",
        ),
    ];
    for (query, expected) in cases {
        let err = joined(&query).unwrap_err();
        assert!(err.contains(expected), "{query}: {err}");
    }
}

/// A LEFT SEMI JOIN emits its left rows: a condition in `ON` on either side's columns
/// filters that side first, and the rest of the query may not read the right side.
#[test]
fn a_left_semi_join_keeps_its_left_rows_and_refuses_the_right_columns() {
    let on = "ON y.id = x.id AND y.bts BETWEEN x.ts AND x.ts + INTERVAL '1' MINUTE";
    let plan = joined(&format!(
        "INSERT INTO t SELECT x.id FROM a AS x LEFT SEMI JOIN b AS y {on} AND y.v > 3 \
         AND x.k = 'a';"
    ))
    .unwrap()
    .queries
    .unwrap()
    .plan;
    let spec = plan
        .operators
        .iter()
        .find_map(|o| match &o.kind {
            OperatorKind::StreamJoin(spec) => Some(spec.clone()),
            _ => None,
        })
        .expect("a join");
    assert_eq!(
        spec.kind,
        sluice_engine::stream_join::StreamJoinKind::LeftSemi
    );
    assert_eq!(spec.condition, None);
    for (filter, predicate) in [("t/x-on", "\"k\" = 'a'"), ("t/y-on", "\"v\" > 3")] {
        assert_eq!(
            plan.operator(filter).map(|o| &o.kind),
            Some(&OperatorKind::Filter {
                predicate: predicate.into()
            }),
            "{filter}"
        );
    }
    for select in ["x.id, y.v", "x.id, v"] {
        let err = joined(&format!(
            "INSERT INTO t SELECT {select} FROM a AS x LEFT SEMI JOIN b AS y {on};"
        ))
        .unwrap_err();
        assert!(
            err.contains("LEFT SEMI JOIN's rows are its left side's"),
            "{select}: {err}"
        );
    }
}

/// Flink's window join of two window TVFs' own rows: each side's rows once per window,
/// joined on their windows (and keys), the windows' starts the event times, whose
/// watermark lags each table's by the window's size.
#[test]
fn two_window_tvfs_joined_on_their_windows_are_a_window_join_of_their_rows() {
    let config = joined(
        "INSERT INTO t SELECT L.id, L.window_start AS ws, R.v FROM \
         (SELECT * FROM TABLE(TUMBLE(TABLE a, DESCRIPTOR(ts), INTERVAL '1' MINUTE))) AS L \
         LEFT JOIN (SELECT * FROM TABLE(TUMBLE(TABLE b, DESCRIPTOR(bts), INTERVAL '1' MINUTE))) \
         AS R ON L.id = R.id AND L.window_start = R.window_start \
         AND L.window_end = R.window_end;",
    )
    .unwrap();
    let plan = config.queries.unwrap().plan;
    let kinds: Vec<&str> = plan.operators.iter().map(|o| o.kind.kind_name()).collect();
    assert_eq!(
        kinds[..3],
        ["window-assign", "window-assign", "stream-join"]
    );
    let OperatorKind::StreamJoin(join) = &plan.operators[2].kind else {
        panic!("{:?}", plan.operators[2].kind);
    };
    assert_eq!(
        (join.left_time.as_str(), join.right_time.as_str()),
        ("window_start", "window_start")
    );
    assert_eq!((join.min_offset_us, join.max_offset_us), (0, 0));
    assert_eq!(
        (join.left_delay, join.right_delay),
        (Duration::from_secs(90), Duration::from_secs(120))
    );
    assert_eq!(join.left_keys, ["id", "window_start", "window_end"]);
    assert_eq!(
        (plan.operators[2].input.as_str(), join.right.as_str()),
        ("t/L-windows", "t/R-windows")
    );

    let err = joined(
        "INSERT INTO t SELECT L.id FROM \
         (SELECT * FROM TABLE(TUMBLE(TABLE a, DESCRIPTOR(id), INTERVAL '1' MINUTE))) AS L \
         JOIN b AS R ON L.id = R.id AND R.bts BETWEEN L.window_start AND L.window_end;",
    )
    .unwrap_err();
    assert!(err.contains("DESCRIPTOR(ts)"), "{err}");
}

/// A side that filters and projects one source table, as a subquery or a view, joins
/// its rows; its watermark follows all of its source's rows, before its `WHERE`.
#[test]
fn a_filtered_projection_of_a_source_or_a_view_of_one_joins_its_rows() {
    let subquery = "INSERT INTO t SELECT x.id, y.cents FROM a AS x LEFT JOIN (SELECT *, \
         v * 100 AS cents FROM b WHERE v > 0) AS y ON y.id = x.id \
         AND y.bts BETWEEN x.ts - INTERVAL '1' MINUTE AND x.ts;";
    let view = "CREATE VIEW y AS SELECT *, v * 100 AS cents FROM b WHERE v > 0;\n\
         INSERT INTO t SELECT x.id, y.cents FROM a AS x LEFT JOIN y ON y.id = x.id \
         AND y.bts BETWEEN x.ts - INTERVAL '1' MINUTE AND x.ts;";
    for query in [subquery, view] {
        let config = joined(query).unwrap();
        let operators = config.queries.unwrap().plan.operators;
        let names: Vec<&str> = operators.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "t.y/where",
                "t.y/select",
                "t/x-columns",
                "t/y-columns",
                "t/join",
                "t/select"
            ],
            "{query}"
        );
        let OperatorKind::Filter { predicate } = &operators[0].kind else {
            panic!("not a filter: {operators:?}");
        };
        assert_eq!(predicate, "v > 0");
        assert_eq!(operators[0].input, "b");
        let OperatorKind::StreamJoin(spec) = &operators[4].kind else {
            panic!("not a join: {operators:?}");
        };
        assert_eq!(spec.right, "t/y-columns");
        assert_eq!(spec.right_watermark_from.as_deref(), Some("b"));
        assert_eq!(spec.right_time, "bts");
        assert_eq!(spec.right_delay, Duration::from_secs(60));
        assert_eq!(spec.left_watermark_from, None);
        // The right side's state holds the columns the query reads, computed ones too.
        let OperatorKind::Project { drop, .. } = &operators[3].kind else {
            panic!("not a projection: {operators:?}");
        };
        assert_eq!(drop, &["v"]);
    }
}

/// A window join over the TVF of a view that filters and projects a source: the view's
/// rows get their windows; the side's watermark follows the windows of every row of the
/// source (a projection of its event times, assigned the same windows).
#[test]
fn a_window_tvf_over_a_filtered_view_joins_its_windows_with_the_source_s_watermark() {
    let config = joined(
        "CREATE VIEW pos AS SELECT id, ts, k FROM a WHERE id > 0;\n\
         INSERT INTO t SELECT L.id, L.window_start AS ws, R.v FROM \
         (SELECT * FROM TABLE(TUMBLE(TABLE pos, DESCRIPTOR(ts), INTERVAL '1' MINUTE))) AS L \
         JOIN (SELECT * FROM TABLE(TUMBLE(TABLE b, DESCRIPTOR(bts), INTERVAL '1' MINUTE))) \
         AS R ON L.id = R.id AND L.window_start = R.window_start \
         AND L.window_end = R.window_end;",
    )
    .unwrap();
    let plan = config.queries.unwrap().plan;
    let names: Vec<&str> = plan.operators.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(
        names[..6],
        [
            "t.L/where",
            "t.L/select",
            "t/L-windows",
            "t/L-clock-times",
            "t/L-clock",
            "t/R-windows"
        ]
    );
    assert_eq!(plan.operators[3].input, "a");
    let OperatorKind::Project { columns, .. } = &plan.operators[3].kind else {
        panic!("{:?}", plan.operators[3].kind);
    };
    assert_eq!(columns, &[("ts".to_owned(), "\"ts\"".to_owned())]);
    let join = plan
        .operators
        .iter()
        .find_map(|o| match &o.kind {
            OperatorKind::StreamJoin(join) => Some(join),
            _ => None,
        })
        .unwrap();
    assert_eq!(join.left_watermark_from.as_deref(), Some("t/L-clock"));
    assert_eq!(join.right_watermark_from, None);
    assert_eq!(join.left_delay, Duration::from_secs(90));

    let err = joined(
        "CREATE VIEW renamed AS SELECT id, ts AS at FROM a;\n\
         INSERT INTO t SELECT L.id FROM \
         (SELECT * FROM TABLE(TUMBLE(TABLE renamed, DESCRIPTOR(at), INTERVAL '1' MINUTE))) \
         AS L JOIN (SELECT * FROM TABLE(TUMBLE(TABLE b, DESCRIPTOR(bts), INTERVAL '1' \
         MINUTE))) AS R ON L.id = R.id AND L.window_start = R.window_start \
         AND L.window_end = R.window_end;",
    )
    .unwrap_err();
    assert!(err.contains("does not select `ts`"), "{err}");

    // Its event time resolves whatever its case, as every name does.
    joined(
        "CREATE VIEW upper AS SELECT id, TS FROM a WHERE id > 0;\n\
         INSERT INTO t SELECT x.id, y.v FROM upper AS x JOIN b AS y ON y.id = x.id \
         AND y.bts BETWEEN x.ts - INTERVAL '1' MINUTE AND x.ts;",
    )
    .unwrap();
}

/// A side that deduplicates a source table (a view of Flink's deduplication) joins its
/// first rows, by their event times; its watermark follows the source's rows.
#[test]
fn a_deduplicated_view_of_a_source_joins_its_first_rows() {
    let config = joined(
        "CREATE VIEW first_b AS SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY id \
         ORDER BY bts) AS rn FROM b) WHERE rn = 1;\n\
         INSERT INTO t SELECT x.id, y.v, y.rn FROM a AS x JOIN first_b AS y ON y.id = x.id \
         AND y.bts BETWEEN x.ts - INTERVAL '1' MINUTE AND x.ts;",
    )
    .unwrap();
    let plan = config.queries.unwrap().plan;
    let kinds: Vec<&str> = plan.operators.iter().map(|o| o.kind.kind_name()).collect();
    assert_eq!(
        kinds,
        ["dedup", "project", "project", "stream-join", "project"]
    );
    let OperatorKind::StreamJoin(join) = &plan.operators[3].kind else {
        panic!("{:?}", plan.operators[3].kind);
    };
    assert_eq!(join.right, plan.operators[1].name);
    assert_eq!(join.right_watermark_from.as_deref(), Some("b"));
    assert_eq!(
        (join.right_time.as_str(), join.right_delay),
        ("bts", Duration::from_secs(60))
    );

    // A ranking of windows is no deduplication, and a deduplication of a deduplication
    // is refused.
    for query in [
        "CREATE VIEW top_b AS SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY \
         window_start, window_end ORDER BY v DESC) AS rn FROM TABLE(TUMBLE(TABLE b, \
         DESCRIPTOR(bts), INTERVAL '1' MINUTE))) WHERE rn <= 2;\n\
         INSERT INTO t SELECT x.id, y.v FROM a AS x JOIN top_b AS y ON y.id = x.id \
         AND y.bts BETWEEN x.ts - INTERVAL '1' MINUTE AND x.ts;",
        "INSERT INTO t SELECT x.id, y.v FROM a AS x JOIN (SELECT * FROM (SELECT *, \
         ROW_NUMBER() OVER (PARTITION BY id ORDER BY bts) AS rn FROM (SELECT * FROM b) AS \
         i) WHERE rn = 1) AS y ON y.id = x.id AND y.bts BETWEEN x.ts - INTERVAL '1' MINUTE \
         AND x.ts;",
    ] {
        let err = joined(query).unwrap_err();
        assert!(
            err.contains("a filter and projection of one source table"),
            "{query}: {err}"
        );
    }
}
