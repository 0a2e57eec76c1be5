//! Views, plain subqueries and window TVFs.

use super::nested::AUCTIONS_AND_BIDS;
use super::*;

#[test]
fn a_view_is_read_as_the_subquery_it_names() {
    let config = job(
        "CREATE VIEW positive AS SELECT user_id, ts, v * 2 AS v2 FROM events WHERE v > 0;",
        "INSERT INTO t SELECT window_start, user_id, sum(p.v2) AS total FROM positive AS p \
         GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), user_id;",
    )
    .unwrap();
    let plan = config.queries.unwrap().plan;
    let kinds = operator_kinds(&plan);
    assert_eq!(
        kinds,
        [
            ("t.p/where", "filter"),
            ("t.p/select", "project"),
            ("t/window", "window"),
            ("t/select", "project"),
        ]
    );
    let spec = plan.window().unwrap();
    assert_eq!(spec.aggregates[0].column.as_deref(), Some("v2"));
    // The watermark follows the source's rows, before the view's WHERE.
    assert_eq!(spec.watermark_from.as_deref(), Some(plan.source.as_str()));
}

/// A query over a windowed aggregate's rows (a view of a window TVF's aggregate, or a
/// subquery) filters and projects each window's row once, as the window closes; the
/// windows keep their state under the subquery's name.
#[test]
fn a_filter_over_a_windowed_aggregate_reads_its_rows() {
    let view = "CREATE VIEW per_minute AS SELECT window_start, user_id, count(*) AS n \
         FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) \
         GROUP BY window_start, window_end, user_id;";
    let config = job(
        view,
        "INSERT INTO t SELECT user_id, n * 2 AS twice FROM per_minute WHERE n > 3;",
    )
    .unwrap();
    let plan = config.queries.unwrap().plan;
    let kinds = operator_kinds(&plan);
    assert_eq!(
        kinds,
        [
            ("t.per_minute/window", "window"),
            ("t.per_minute/select", "project"),
            ("t/where", "filter"),
            ("t/select", "project"),
        ]
    );
    let OperatorKind::Filter { predicate } = &plan.operators[2].kind else {
        panic!("{:?}", plan.operators);
    };
    assert_eq!(predicate, "n > 3");
    // An aggregate without a window over such rows, in update mode: each user's total of
    // the closed minutes' counts.
    let config = job(
        &format!("{view}\nCREATE TABLE t WITH ('output-mode' = 'update');"),
        "INSERT INTO t SELECT user_id, sum(n) AS total FROM per_minute GROUP BY user_id;",
    )
    .unwrap();
    let plan = config.queries.unwrap().plan;
    let windows: Vec<(&str, sluice_engine::window::WindowKind)> =
        plan.windows().map(|w| (w.name.as_str(), w.kind)).collect();
    assert_eq!(windows.len(), 2, "{windows:?}");
    assert_eq!(windows[0].0, "t.per_minute");
    assert_eq!(windows[1].1, sluice_engine::window::WindowKind::Global);
    assert_eq!(
        plan.windows().nth(1).unwrap().aggregates[0]
            .column
            .as_deref(),
        Some("n")
    );
}

#[test]
fn q4_reads_its_closing_prices_from_a_view() {
    let text = format!(
        "{AUCTIONS_AND_BIDS}\n\
         CREATE TEMPORARY VIEW closing AS SELECT MAX(B.price) AS final, A.category \
         FROM auction A, bid B WHERE A.id = B.auction \
         AND B.date_time BETWEEN A.date_time AND A.expires GROUP BY A.id, A.category;\n\
         INSERT INTO q4 SELECT category AS id, AVG(final) AS final FROM closing \
         GROUP BY category;"
    );
    let config = crate::sql::SqlJob::from_sql_with(&text, "t.sql", "t", &[]).unwrap();
    let plan = config.queries.unwrap().plan;
    let names: Vec<&str> = plan.operators.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "q4.closing/join",
            "q4.closing/window",
            "q4.closing/select",
            "q4/window",
            "q4/select"
        ]
    );
}

#[test]
fn a_plain_subquery_needs_no_name() {
    let config = job(
        "",
        "INSERT INTO t SELECT user_id FROM (SELECT user_id, v FROM events WHERE v > 1) \
         WHERE v < 5;",
    )
    .unwrap();
    let names: Vec<String> = config
        .queries
        .unwrap()
        .plan
        .operators
        .iter()
        .map(|o| o.name.clone())
        .collect();
    assert_eq!(
        names,
        [
            "t.subquery/where",
            "t.subquery/select",
            "t/where",
            "t/select"
        ]
    );
}

#[test]
fn views_in_a_cycle_or_shadowing_a_table_are_refused() {
    let err = job(
        "CREATE VIEW a AS SELECT * FROM b;\nCREATE VIEW b AS SELECT * FROM a;",
        "INSERT INTO t SELECT * FROM a;",
    )
    .unwrap_err();
    assert!(err.contains("cycle"), "{err}");
    let err = job(
        "CREATE VIEW events AS SELECT * FROM events;",
        "INSERT INTO t SELECT * FROM events;",
    )
    .unwrap_err();
    assert!(err.contains("both a table and a view"), "{err}");
    let err = job(
        "CREATE MATERIALIZED VIEW m AS SELECT * FROM events;",
        "INSERT INTO t SELECT * FROM m;",
    )
    .unwrap_err();
    assert!(err.contains("MATERIALIZED"), "{err}");
}

#[test]
fn window_tvfs_are_the_windowed_aggregates_of_group_by() {
    let tvf = job(
        "",
        "INSERT INTO t SELECT window_start, window_end, user_id, count(*) AS n \
         FROM TABLE(HOP(TABLE events, DESCRIPTOR(ts), INTERVAL '1' MINUTE, \
         INTERVAL '5' MINUTE)) GROUP BY user_id, window_start, window_end;",
    )
    .unwrap();
    let group_by = job(
        "",
        "INSERT INTO t SELECT window_start, window_end, user_id, count(*) AS n \
         FROM events GROUP BY HOP(ts, INTERVAL '1' MINUTE, INTERVAL '5' MINUTE), user_id;",
    )
    .unwrap();
    assert_eq!(tvf.queries.unwrap().plan, group_by.queries.unwrap().plan);
    // The window a query's TVF lowers to.
    let kind = |query: &str| {
        job("", query)
            .unwrap()
            .queries
            .unwrap()
            .plan
            .window()
            .unwrap()
            .kind
    };
    assert_eq!(
        kind(
            "INSERT INTO t SELECT window_start, count(*) AS n FROM TABLE(\
             tumble(table events, descriptor(ts), INTERVAL '1' MINUTE)) \
             GROUP BY window_start, window_end;"
        ),
        sluice_engine::window::WindowKind::Tumbling {
            size: Duration::from_secs(60)
        }
    );
    // CUMULATE: step, then size, as Flink writes it.
    assert_eq!(
        kind(
            "INSERT INTO t SELECT window_start, window_end, count(*) AS n FROM TABLE(\
             CUMULATE(TABLE events, DESCRIPTOR(ts), INTERVAL '1' MINUTE, INTERVAL '1' HOUR)) \
             GROUP BY window_start, window_end;"
        ),
        sluice_engine::window::WindowKind::Cumulating {
            size: Duration::from_secs(3600),
            step: Duration::from_secs(60)
        }
    );
    let update = job(
        "CREATE TABLE t WITH ('output-mode' = 'update');",
        "INSERT INTO t SELECT window_start, count(*) AS n FROM TABLE(CUMULATE(TABLE events, \
         DESCRIPTOR(ts), INTERVAL '1' MINUTE, INTERVAL '1' HOUR)) \
         GROUP BY window_start, window_end;",
    )
    .unwrap_err();
    assert!(update.contains("select window_end too"), "{update}");
    let cases = [
        (
            "SELECT user_id, count(*) AS n FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), \
             INTERVAL '1' MINUTE)) GROUP BY user_id",
            "not grouped by its window",
        ),
        (
            "SELECT window_start, count(*) AS n FROM TABLE(HOP(TABLE events, DESCRIPTOR(ts), \
             INTERVAL '1' MINUTE)) GROUP BY window_start, window_end",
            "a window TVF is",
        ),
        (
            "SELECT window_start, count(*) AS n FROM TABLE(CUMULATE(TABLE events, \
             DESCRIPTOR(ts), INTERVAL '7' MINUTE, INTERVAL '1' HOUR)) \
             GROUP BY window_start, window_end",
            "must be a multiple of the step",
        ),
    ];
    for (query, expected) in cases {
        let err = job("", &format!("INSERT INTO t {query};")).unwrap_err();
        assert!(err.contains(expected), "{query}: {err}");
    }
}

/// A window TVF whose rows no aggregate follows assigns windows: each row once per window,
/// with its start, end and time, before the query's `WHERE` and select list.
#[test]
fn a_window_tvf_without_an_aggregate_assigns_windows() {
    use sluice_engine::window::{AssignSpec, WindowKind};

    let kinds = |p: &sluice_engine::plan::Plan| -> Vec<&'static str> {
        p.operators.iter().map(|o| o.kind.kind_name()).collect()
    };
    let assignment = |p: &sluice_engine::plan::Plan| {
        p.operators
            .iter()
            .find_map(|o| match &o.kind {
                OperatorKind::WindowAssign(spec) => Some(spec.clone()),
                _ => None,
            })
            .expect("an assignment")
    };
    let p = plan(
        "INSERT INTO t SELECT * FROM TABLE(HOP(TABLE events, DESCRIPTOR(ts), \
         INTERVAL '1' MINUTE, INTERVAL '5' MINUTE, INTERVAL '30' SECOND));",
    );
    assert_eq!(kinds(&p), ["window-assign"]);
    assert_eq!(
        assignment(&p),
        AssignSpec {
            time_column: "ts".into(),
            kind: WindowKind::Sliding {
                size: Duration::from_secs(300),
                slide: Duration::from_secs(60),
            },
            offset: Duration::from_secs(30),
        }
    );
    let p = plan(
        "INSERT INTO t SELECT e.user_id, window_start, window_end, window_time \
         FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) AS e \
         WHERE window_start > TIMESTAMP '2026-01-01 00:00:00' AND e.v > 1;",
    );
    assert_eq!(kinds(&p), ["window-assign", "filter", "project"]);
    assert_eq!(p.operators[0].name, "t/windows");
    let p = plan(
        "INSERT INTO t SELECT user_id, window_end FROM TABLE(CUMULATE(TABLE events, \
         DESCRIPTOR(ts), INTERVAL '1' MINUTE, INTERVAL '1' HOUR));",
    );
    assert!(matches!(assignment(&p).kind, WindowKind::Cumulating { .. }));
    for (query, expected) in [
        (
            "SELECT * FROM TABLE(SESSION(TABLE events, DESCRIPTOR(ts), INTERVAL '1' MINUTE))",
            "a SESSION window TVF's rows without an aggregate",
        ),
        (
            "SELECT count(*) AS n FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), \
             INTERVAL '1' MINUTE))",
            "not grouped by its window",
        ),
    ] {
        let err = job("", &format!("INSERT INTO t {query};")).unwrap_err();
        assert!(err.contains(expected), "{query}: {err}");
    }
}

/// Flink's partitioned SESSION TVF (`TABLE t PARTITION BY k`): its aggregate groups by
/// the keys, so it is the session window of those keys; without them it is refused, and
/// so is PARTITION BY in another TVF.
#[test]
fn a_partitioned_session_tvf_is_the_session_window_of_its_keys() {
    let partitioned = plan(
        "INSERT INTO t SELECT window_start, window_end, user_id, count(*) AS n \
         FROM TABLE(SESSION(TABLE events PARTITION BY user_id, DESCRIPTOR(ts), \
         INTERVAL '2' MINUTE)) GROUP BY window_start, window_end, user_id;",
    );
    let plain = plan(
        "INSERT INTO t SELECT window_start, window_end, user_id, count(*) AS n \
         FROM events GROUP BY SESSION(ts, INTERVAL '2' MINUTE), user_id;",
    );
    assert_eq!(partitioned, plain);
    assert_eq!(
        crate::sql::tvf::unwrap_table_arguments(
            "SESSION(TABLE e PARTITION BY (a, b), DESCRIPTOR(t), g)"
        ),
        "SESSION(e, __partition_by(a, b), DESCRIPTOR(t), g)"
    );
    for (query, expected) in [
        (
            "SELECT window_start, count(*) AS n FROM TABLE(SESSION(TABLE events PARTITION BY \
             user_id, DESCRIPTOR(ts), INTERVAL '2' MINUTE)) GROUP BY window_start, window_end",
            "aggregated without `user_id`",
        ),
        (
            "SELECT window_start, user_id, count(*) AS n FROM TABLE(TUMBLE(TABLE events \
             PARTITION BY user_id, DESCRIPTOR(ts), INTERVAL '2' MINUTE)) \
             GROUP BY window_start, window_end, user_id",
            "PARTITION BY in TUMBLE",
        ),
    ] {
        let err = job("", &format!("INSERT INTO t {query};")).unwrap_err();
        assert!(err.contains(expected), "{query}: {err}");
    }
}

#[test]
fn the_table_keyword_of_a_window_tvf_is_unwrapped_outside_quotes_only() {
    assert_eq!(
        crate::sql::tvf::unwrap_table_arguments(
            "SELECT 'TUMBLE(TABLE x' FROM TABLE(TUMBLE( TABLE bid, DESCRIPTOR(t), i))"
        ),
        "SELECT 'TUMBLE(TABLE x' FROM TABLE(TUMBLE(bid, DESCRIPTOR(t), i))"
    );
}

#[test]
fn a_with_query_is_read_as_the_view_it_would_be() {
    let by_view = job(
        "CREATE VIEW positive AS SELECT user_id, ts, v * 2 AS v2 FROM events WHERE v > 0;",
        "INSERT INTO t SELECT window_start, user_id, sum(p.v2) AS total FROM positive AS p \
         GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), user_id;",
    )
    .unwrap();
    let by_with = job(
        "",
        "INSERT INTO t WITH positive AS (SELECT user_id, ts, v * 2 AS v2 FROM events \
         WHERE v > 0) SELECT window_start, user_id, sum(p.v2) AS total FROM positive AS p \
         GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), user_id;",
    )
    .unwrap();
    // `WITH ... INSERT INTO`, as Spark SQL writes it, is the same query.
    let with_first = job(
        "",
        "WITH positive AS (SELECT user_id, ts, v * 2 AS v2 FROM events WHERE v > 0) \
         INSERT INTO t SELECT window_start, user_id, sum(p.v2) AS total FROM positive AS p \
         GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), user_id;",
    )
    .unwrap();
    let by_view = by_view.queries.unwrap().plan;
    assert_eq!(with_first.queries.unwrap().plan, by_view);
    assert_eq!(by_with.queries.unwrap().plan, by_view);
    let err = job(
        "",
        "WITH a AS (SELECT user_id FROM events) INSERT INTO t WITH b AS (SELECT user_id \
         FROM events) SELECT * FROM b;",
    )
    .unwrap_err();
    assert!(
        err.contains("write the common table expressions in one WITH"),
        "{err}"
    );
    // A later WITH query reads an earlier one, and a WITH query hides a view of its name.
    let chained = job(
        "CREATE VIEW positive AS SELECT user_id, ts, v FROM events WHERE v < 0;",
        "INSERT INTO t WITH positive AS (SELECT user_id, ts, v FROM events WHERE v > 0), \
         doubled AS (SELECT user_id, ts, v * 2 AS v2 FROM positive) \
         SELECT window_start, user_id, sum(d.v2) AS total FROM doubled AS d \
         GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), user_id;",
    )
    .unwrap();
    assert_eq!(first_filter(&chained.queries.unwrap().plan), "v > 0");
}

#[test]
fn subqueries_in_expressions_and_recursive_with_are_refused_by_name() {
    let err = job(
        "",
        "INSERT INTO t SELECT user_id FROM events WHERE user_id IN (SELECT user_id FROM \
         events WHERE v > 1);",
    )
    .unwrap_err();
    assert!(
        err.contains("a subquery in an expression") && err.contains("join the tables"),
        "{err}"
    );
    let err = job(
        "",
        "INSERT INTO t WITH RECURSIVE r AS (SELECT user_id FROM events) SELECT user_id FROM r;",
    )
    .unwrap_err();
    assert!(err.contains("WITH RECURSIVE"), "{err}");
    let err = job(
        "",
        "INSERT INTO t WITH r (u) AS (SELECT user_id FROM events) SELECT u FROM r;",
    )
    .unwrap_err();
    assert!(err.contains("name the columns in its query"), "{err}");
}

/// Flink's cascading windows: a window over a windowed subquery's (or view's) rows, by
/// its window's time, start or end, their watermark the subquery's (delay zero).
#[test]
fn windows_over_a_windowed_subquery_cascade() {
    let windows = |p: &sluice_engine::plan::Plan| -> Vec<sluice_engine::window::WindowSpec> {
        p.windows().cloned().collect()
    };
    let p = plan(
        "CREATE VIEW minutes AS SELECT window_start AS ws, window_time AS rowtime, user_id, \
         count(*) AS n FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) \
         GROUP BY window_start, window_end, window_time, user_id;\n\
         INSERT INTO t SELECT window_start, window_end, user_id, sum(n) AS n \
         FROM TABLE(TUMBLE(TABLE minutes, DESCRIPTOR(rowtime), INTERVAL '5' MINUTE)) \
         GROUP BY window_start, window_end, user_id;",
    );
    let [inner, outer] = windows(&p).try_into().expect("two windows");
    assert_eq!(
        (inner.name.as_str(), inner.time_column.as_str()),
        ("t.minutes", "ts")
    );
    assert_eq!(
        (outer.name.as_str(), outer.time_column.as_str()),
        ("t", "rowtime")
    );
    assert_eq!(outer.delay, Duration::ZERO);
    let p = plan(
        "INSERT INTO t SELECT window_start, count(*) AS busy FROM (SELECT window_start AS ws, \
         user_id, count(*) AS n FROM events GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), user_id) \
         AS m WHERE m.n > 1 GROUP BY HOP(m.ws, INTERVAL '1' MINUTE, INTERVAL '3' MINUTE);",
    );
    let [_, outer] = windows(&p).try_into().expect("two windows");
    assert_eq!(outer.time_column, "ws");
    // The watermark follows the subquery's rows, before the outer WHERE.
    assert_eq!(outer.watermark_from.as_deref(), Some("t.m/select"));
    let err = job(
        "",
        "INSERT INTO t SELECT window_start, count(*) AS c FROM (SELECT user_id, \
         window_start AS ws, count(*) AS n FROM events GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), \
         user_id) GROUP BY TUMBLE(n, INTERVAL '5' MINUTE);",
    )
    .unwrap_err();
    assert!(
        err.contains("its window's start, end or window_time"),
        "{err}"
    );
}

/// A window TVF reads a view as it reads a table: its rows, each once per window.
#[test]
fn a_window_tvf_assigns_the_windows_of_a_view_s_rows() {
    let p = plan(
        "CREATE VIEW busy AS SELECT user_id, ts, v FROM events WHERE v > 10;\n\
         INSERT INTO t SELECT user_id, window_start FROM TABLE(TUMBLE(TABLE busy, \
         DESCRIPTOR(ts), INTERVAL '1' MINUTE));",
    );
    let kinds: Vec<&str> = p.operators.iter().map(|o| o.kind.kind_name()).collect();
    // The view's WHERE, then the windows of the rows it keeps.
    let at = |kind: &str| kinds.iter().position(|k| *k == kind);
    assert!(
        at("filter").is_some() && at("filter") < at("window-assign"),
        "{kinds:?}"
    );
}
