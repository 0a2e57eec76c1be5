//! Aggregates without a window, aggregates over them, and joins bounded by a column or
//! written with commas (Nexmark q4's shape).

use super::*;

pub(super) const AUCTIONS_AND_BIDS: &str = "CREATE TABLE auction (id BIGINT, category BIGINT, \
     date_time TIMESTAMP NOT NULL, expires TIMESTAMP, \
     WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND) \
     WITH ('connector' = 'generator', 'format' = 'json');\n\
     CREATE TABLE bid (auction BIGINT, price BIGINT, date_time TIMESTAMP NOT NULL, \
     WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND) \
     WITH ('connector' = 'generator', 'format' = 'json', 'seed' = '7');\n\
     CREATE TABLE q4 WITH ('output-mode' = 'update');";

/// Nexmark q4's shape with `outer` for the outer query's select list and GROUP BY, and
/// `inner` for the join's time bound.
fn q4(outer_select: &str, bound: &str, outer_rest: &str) -> Result<crate::JobConfig, String> {
    let text = format!(
        "{AUCTIONS_AND_BIDS}\nINSERT INTO q4 SELECT {outer_select} FROM (\
         SELECT max(B.price) AS final, A.category FROM auction AS A JOIN bid AS B \
         ON A.id = B.auction AND {bound} GROUP BY A.id, A.category) AS Q {outer_rest};"
    );
    crate::sql::SqlJob::from_sql_with(&text, "t.sql", "t", &[]).map_err(|e| e.to_string())
}

const Q4_BOUND: &str = "B.date_time BETWEEN A.date_time AND A.expires";

#[test]
fn an_aggregate_over_an_aggregate_of_a_join_bounded_by_a_column_is_nexmark_q4() {
    let config = q4(
        "Q.category AS id, avg(Q.final) AS final",
        Q4_BOUND,
        "GROUP BY Q.category",
    )
    .unwrap();
    let queries = config.queries.unwrap();
    let plan = &queries.plan;
    let kinds = operator_kinds(plan);
    assert_eq!(
        kinds,
        [
            ("q4.Q/join", "stream-join"),
            ("q4.Q/window", "window"),
            ("q4.Q/select", "project"),
            ("q4/window", "window"),
            ("q4/select", "project"),
        ]
    );
    let OperatorKind::StreamJoin(join) = &plan.operators[0].kind else {
        panic!("not a join");
    };
    assert_eq!(join.left_until.as_deref(), Some("expires"));
    assert_eq!((join.min_offset_us, join.max_offset_us), (0, 0));
    assert_eq!(
        (join.left_time.as_str(), join.right_time.as_str()),
        ("date_time", "date_time")
    );
    let OperatorKind::Window(inner) = &plan.operators[1].kind else {
        panic!("not a window");
    };
    assert_eq!(inner.kind, sluice_engine::window::WindowKind::Global);
    assert!(inner.changelog);
    assert_eq!(inner.keys, ["A.id", "A.category"]);
    let OperatorKind::Project { columns, .. } = &plan.operators[2].kind else {
        panic!("not a projection");
    };
    let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["final", "category", "_change"]);
    let OperatorKind::Window(outer) = &plan.operators[3].kind else {
        panic!("not a window");
    };
    assert_eq!(outer.kind, sluice_engine::window::WindowKind::Global);
    assert!(!outer.changelog);
    assert_eq!(outer.mode, OutputMode::Update);
    assert_eq!(queries.sinks[0].merge_keys, ["id"]);
}

#[test]
fn a_comma_join_takes_its_keys_and_bounds_from_where() {
    let text = format!(
        "{AUCTIONS_AND_BIDS}\nINSERT INTO q4 SELECT Q.category AS id, AVG(Q.final) AS final \
         FROM (SELECT MAX(B.price) AS final, A.category FROM auction A, bid B \
         WHERE A.id = B.auction AND B.date_time BETWEEN A.date_time AND A.expires \
         AND B.price > 0 GROUP BY A.id, A.category) Q GROUP BY Q.category;"
    );
    let config = crate::sql::SqlJob::from_sql_with(&text, "t.sql", "t", &[]).unwrap();
    let plan = config.queries.unwrap().plan;
    let OperatorKind::StreamJoin(join) = &plan.operators[1].kind else {
        panic!("not a join: {:?}", plan.operators);
    };
    assert_eq!(
        (join.left_keys.as_slice(), join.right_keys.as_slice()),
        (&["id".to_owned()][..], &["auction".to_owned()][..])
    );
    assert_eq!(join.left_until.as_deref(), Some("expires"));
    assert_eq!((join.min_offset_us, join.max_offset_us), (0, 0));
    // WHERE's condition on the bids alone filters them before the join.
    let OperatorKind::Filter { predicate } = &plan.operators[0].kind else {
        panic!("not a filter: {:?}", plan.operators);
    };
    assert_eq!(predicate, "\"price\" > 0");
    assert_eq!(join.right, plan.operators[0].name);
}

#[test]
fn aggregates_over_aggregates_that_cannot_retract_are_refused() {
    let cases = [
        (
            "Q.final AS f, count(*) AS n",
            Q4_BOUND,
            "GROUP BY Q.final",
            "an outer aggregate groups by keys of the inner one",
        ),
        (
            "Q.category AS id, max(Q.final) AS hi",
            Q4_BOUND,
            "GROUP BY Q.category",
            "cannot take an old row's value back out",
        ),
        (
            "Q.category AS id, avg(Q.final) AS final",
            Q4_BOUND,
            "WHERE Q.final > 10 GROUP BY Q.category",
            "WHERE over an aggregate's rows",
        ),
        (
            "Q.category, Q.final",
            Q4_BOUND,
            "",
            "selecting an aggregate's rows without aggregating them",
        ),
        (
            "Q.category AS id, avg(Q.final) AS final",
            "B.date_time BETWEEN A.expires AND A.date_time + INTERVAL '1' MINUTE",
            "GROUP BY Q.category",
            "a lower bound on `B.date_time` by `A.expires`",
        ),
        (
            "Q.category AS id, avg(Q.final) AS final",
            "B.date_time BETWEEN A.date_time AND A.expires AND B.date_time <= A.date_time",
            "GROUP BY Q.category",
            "two upper bounds",
        ),
    ];
    for (select, bound, rest, expected) in cases {
        let err = q4(select, bound, rest).unwrap_err();
        assert!(err.contains(expected), "{select} / {bound} / {rest}: {err}");
    }
    // Without a window and in append mode, an aggregate could never emit.
    let err = job(
        "",
        "INSERT INTO t SELECT user_id, count(*) AS n FROM events GROUP BY user_id;",
    )
    .unwrap_err();
    assert!(err.contains("in append mode"), "{err}");
    // A window over the time of the side a LEFT join pads with nulls.
    let err = joined(
        "CREATE TABLE t WITH ('output-mode' = 'update');\n\
         INSERT INTO t SELECT window_start, count(*) AS n FROM a AS x LEFT JOIN b AS y \
         ON y.id = x.id AND y.bts BETWEEN x.ts AND x.ts + INTERVAL '1' MINUTE \
         GROUP BY TUMBLE(y.bts, INTERVAL '1' MINUTE);",
    )
    .unwrap_err();
    assert!(
        err.contains("an event-time window over `y.bts` of an outer join"),
        "{err}"
    );
    // Over the side it keeps, it runs.
    joined(
        "INSERT INTO t SELECT window_start, count(*) AS n FROM a AS x LEFT JOIN b AS y \
         ON y.id = x.id AND y.bts BETWEEN x.ts AND x.ts + INTERVAL '1' MINUTE \
         GROUP BY TUMBLE(x.ts, INTERVAL '1' MINUTE);",
    )
    .unwrap();
}

#[test]
fn a_window_over_an_inner_join_keeps_each_side_s_clock_with_the_join_s_slack() {
    let window = |time: &str| {
        let config = joined(&format!(
            "INSERT INTO t SELECT window_start, count(*) AS n FROM a AS x JOIN b AS y \
             ON y.id = x.id AND y.bts BETWEEN x.ts - INTERVAL '20' SECOND \
             AND x.ts + INTERVAL '1' MINUTE \
             GROUP BY TUMBLE({time}, INTERVAL '1' MINUTE);"
        ))
        .unwrap();
        let plan = config.queries.unwrap().plan;
        let clock = plan.operators.iter().find(|o| o.name == "t/clock").unwrap();
        let OperatorKind::Project { columns, .. } = &clock.kind else {
            panic!("{clock:?}")
        };
        let spec = plan.window().unwrap().clone();
        (clock.input.clone(), columns.clone(), spec)
    };
    // Over the left time: each side's delay (30 s and 60 s) plus the upper bound.
    let (input, columns, spec) = window("x.ts");
    assert_eq!(input, "t/x-columns");
    assert_eq!(columns, [("x.ts".to_owned(), "\"ts\"".to_owned())]);
    assert_eq!(spec.watermark_from.as_deref(), Some("t/clock"));
    assert_eq!(spec.delay, Duration::from_secs(90));
    assert_eq!(spec.watermark_also[0].stream, "t/y-columns");
    assert_eq!(spec.watermark_also[0].time_column, "bts");
    assert_eq!(spec.watermark_also[0].delay, Duration::from_secs(120));
    // Over the right time: plus the lower bound's 20 seconds.
    let (input, columns, spec) = window("y.bts");
    assert_eq!(input, "t/y-columns");
    assert_eq!(columns, [("y.bts".to_owned(), "\"bts\"".to_owned())]);
    assert_eq!(spec.delay, Duration::from_secs(80));
    assert_eq!(spec.watermark_also[0].time_column, "ts");
    assert_eq!(spec.watermark_also[0].delay, Duration::from_secs(50));
    // Over a column that is no side's event time.
    let err = joined(
        "INSERT INTO t SELECT window_start, count(*) AS n FROM a AS x JOIN b AS y \
         ON y.id = x.id AND y.bts BETWEEN x.ts AND x.ts + INTERVAL '1' MINUTE \
         GROUP BY TUMBLE(x.id, INTERVAL '1' MINUTE);",
    )
    .unwrap_err();
    assert!(err.contains("over one side's event time"), "{err}");
}

#[test]
fn an_update_mode_aggregate_without_a_window_is_merged_by_its_keys() {
    let config = job(
        "CREATE TABLE totals WITH ('output-mode' = 'update');",
        "INSERT INTO totals SELECT user_id AS who, count(*) AS n, sum(v) AS total \
         FROM events GROUP BY user_id;",
    )
    .unwrap();
    let queries = config.queries.unwrap();
    assert_eq!(queries.sinks[0].merge_keys, ["who"]);
    let spec = queries.plan.window().unwrap();
    assert_eq!(spec.kind, sluice_engine::window::WindowKind::Global);
    assert!(!spec.changelog);
    assert_eq!(spec.watermark_from, None);
}
