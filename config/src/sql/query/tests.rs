//! The SQL lowering of queries: windows, output modes, deduplication, joins, Top-N.

use std::time::Duration;

use sluice_engine::plan::OperatorKind;
use sluice_engine::window::AggregateFn;

use super::*;

mod explode;
mod joins;
mod lookup;
mod nested;
mod select_lists;
mod top_n;
mod union;
mod views;

use joins::joined;

const SOURCE: &str = "CREATE TABLE events (user_id STRING, ts TIMESTAMP NOT NULL, \
                      v DOUBLE, WATERMARK FOR ts AS ts - INTERVAL '1' MINUTE) \
                      WITH ('connector' = 'generator', 'format' = 'json');";

/// The predicate of the plan's first filter.
fn first_filter(plan: &sluice_engine::plan::Plan) -> &str {
    plan.operators
        .iter()
        .find_map(|o| match &o.kind {
            OperatorKind::Filter { predicate } => Some(predicate.as_str()),
            _ => None,
        })
        .expect("a filter")
}

fn job(sink: &str, query: &str) -> Result<crate::JobConfig, String> {
    let text = format!("{SOURCE}\n{sink}\n{query}");
    crate::sql::SqlJob::from_sql_with(&text, "t.sql", "t", &[]).map_err(|e| e.to_string())
}

/// Each operator of `plan`, as its name and kind.
fn operator_kinds(plan: &sluice_engine::plan::Plan) -> Vec<(&str, &'static str)> {
    plan.operators
        .iter()
        .map(|o| (o.name.as_str(), o.kind.kind_name()))
        .collect()
}

/// The plan of `query` (over [`SOURCE`], writing a table it declares no options of).
fn plan(query: &str) -> sluice_engine::plan::Plan {
    job("", query)
        .unwrap_or_else(|e| panic!("{query}: {e}"))
        .queries
        .unwrap()
        .plan
}

#[test]
fn an_update_mode_table_is_merged_by_window_start_end_and_keys_as_selected() {
    let config = job(
        "CREATE TABLE per_user WITH ('output-mode' = 'update', \
         'allowed-lateness' = '5 minutes');",
        "INSERT INTO per_user SELECT user_id AS who, window_start AS ws, count(*) AS n \
         FROM events GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), user_id;",
    )
    .unwrap();
    let queries = config.queries.unwrap();
    let sink = &queries.sinks[0];
    assert_eq!(sink.mode, OutputMode::Update);
    assert_eq!(sink.merge_keys, vec!["who".to_owned(), "ws".to_owned()]);
    let spec = queries.plan.window().unwrap();
    assert_eq!(spec.mode, OutputMode::Update);
    assert_eq!(spec.allowed_lateness, Duration::from_secs(300));
}

#[test]
fn update_mode_and_lateness_are_refused_where_they_cannot_hold() {
    let query = "INSERT INTO t SELECT window_start, user_id, count(*) AS n FROM events \
                 GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), user_id;";
    let cases = [
        (
            "CREATE TABLE t WITH ('allowed-lateness' = '5 minutes');",
            query.to_owned(),
            "needs `update` mode",
        ),
        (
            "CREATE TABLE t WITH ('output-mode' = 'update', 'allowed-lateness' = '5 minutes');",
            query.replace(
                "TUMBLE(ts, INTERVAL '1' MINUTE)",
                "SESSION(ts, INTERVAL '1' MINUTE)",
            ),
            "not supported for session windows",
        ),
        (
            "CREATE TABLE t WITH ('output-mode' = 'update');",
            query.replace("SELECT window_start,", "SELECT window_end,"),
            "select window_start (for a window;",
        ),
        (
            "CREATE TABLE t WITH ('output-mode' = 'update');",
            "INSERT INTO t SELECT user_id FROM events;".to_owned(),
            "without GROUP BY",
        ),
        (
            "CREATE TABLE t WITH ('output-mode' = 'complete');",
            query.to_owned(),
            "'output-mode' = 'complete'",
        ),
    ];
    for (sink, query, expected) in cases {
        let err = job(sink, &query).unwrap_err();
        assert!(err.contains(expected), "{sink} {query}: {err}");
    }
}

#[test]
fn sessions_in_update_mode_are_merged_by_start_and_keys_and_carry_deletes() {
    let config = job(
        "CREATE TABLE t WITH ('output-mode' = 'update');",
        "INSERT INTO t SELECT user_id AS who, window_start AS ws, window_end AS we, \
         count(*) AS n FROM events GROUP BY SESSION(ts, INTERVAL '1' MINUTE), user_id;",
    )
    .unwrap();
    let queries = config.queries.unwrap();
    let sink = &queries.sinks[0];
    // The end moves as the session grows: not a merge key.
    assert_eq!(sink.merge_keys, ["who", "ws"]);
    assert!(sink.deletes);
    let spec = queries.plan.window().unwrap();
    assert!(spec.deletes);
    let OperatorKind::Project { columns, .. } = &queries.plan.operators[1].kind else {
        panic!("{:?}", queries.plan.operators[1]);
    };
    assert_eq!(
        columns.last().map(|c| c.0.as_str()),
        Some(sluice_engine::changelog::CHANGE_COLUMN)
    );
    // Appended sessions are final: nothing to delete.
    let append = job(
        "",
        "INSERT INTO t SELECT user_id, window_start, count(*) AS n FROM events \
         GROUP BY SESSION(ts, INTERVAL '1' MINUTE), user_id;",
    )
    .unwrap();
    let queries = append.queries.unwrap();
    assert!(!queries.sinks[0].deletes && !queries.plan.window().unwrap().deletes);
}

#[test]
fn a_row_number_subquery_kept_at_one_is_a_deduplication() {
    let config = job(
        "",
        "INSERT INTO firsts SELECT user_id, ts FROM (SELECT *, ROW_NUMBER() OVER \
         (PARTITION BY user_id ORDER BY ts) AS rn FROM events WHERE v > 0) \
         WHERE rn = 1 AND v < 100;",
    )
    .unwrap();
    let plan = config.queries.unwrap().plan;
    let kinds = operator_kinds(&plan);
    assert_eq!(
        kinds,
        [
            ("firsts/dedup-where", "filter"),
            ("firsts/dedup", "dedup"),
            ("firsts/where", "filter"),
            ("firsts/select", "project"),
        ]
    );
    let OperatorKind::Dedup(spec) = &plan.operators[1].kind else {
        panic!("not a dedup");
    };
    assert_eq!(spec.keys, ["user_id"]);
    assert_eq!(spec.time_column, "ts");
    assert_eq!(spec.delay, Duration::from_secs(60));
    let OperatorKind::Filter { predicate } = &plan.operators[2].kind else {
        panic!("not a filter");
    };
    assert_eq!(predicate, "v < 100");
}

#[test]
fn row_numbers_that_are_not_a_deduplication_are_refused() {
    let sub = |over: &str, outer: &str| {
        format!(
            "INSERT INTO t SELECT user_id FROM (SELECT *, ROW_NUMBER() OVER ({over}) AS rn \
             FROM events) {outer};"
        )
    };
    let cases = [
        (
            sub("PARTITION BY user_id ORDER BY ts DESC", "WHERE rn = 1"),
            "DESC",
        ),
        (sub("PARTITION BY user_id ORDER BY ts", ""), "WHERE rn = 1"),
        (
            sub("PARTITION BY user_id ORDER BY ts", "WHERE rn = 2"),
            "WHERE rn = 1",
        ),
        (
            sub("PARTITION BY user_id ORDER BY v", "WHERE rn = 1"),
            "order by the event-time column",
        ),
        (
            sub("ORDER BY ts", "WHERE rn = 1"),
            "PARTITION BY key columns",
        ),
        (
            "INSERT INTO t SELECT user_id FROM (SELECT user_id, LAG(v) OVER (PARTITION BY \
             user_id ORDER BY ts) AS p FROM events);"
                .to_owned(),
            "only deduplication runs as one",
        ),
        (
            "INSERT INTO t SELECT user_id FROM (SELECT user_id, ts + INTERVAL '1' HOUR AS ts, \
             ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY ts) AS rn FROM events) \
             WHERE rn = 1;"
                .to_owned(),
            "reads the source's `ts`, which the select list gives another value",
        ),
        (
            "INSERT INTO t SELECT user_id FROM (SELECT upper(user_id) AS user_id, ts, \
             ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY ts) AS rn FROM events) \
             WHERE rn = 1;"
                .to_owned(),
            "reads the source's `user_id`",
        ),
    ];
    for (query, expected) in cases {
        let err = job("", &query).unwrap_err();
        assert!(err.contains(expected), "{query}: {err}");
    }
}

/// Flink's "keep the last row" (`ORDER BY ts DESC`) is an aggregate without a window in
/// update mode: one `max_by` of the subquery's other columns by the event time, each
/// selected column a field of it; shapes it cannot keep are refused, naming why.
#[test]
fn keeping_each_key_s_last_row_is_one_pick_of_the_whole_row_in_update_mode() {
    let update = "CREATE TABLE t WITH ('output-mode' = 'update');";
    let last = |inner: &str, outer: &str| {
        format!(
            "INSERT INTO t SELECT {outer} FROM (SELECT {inner}, ROW_NUMBER() OVER (PARTITION BY \
             user_id ORDER BY ts DESC) AS rn FROM events WHERE v > 0) WHERE rn = 1;"
        )
    };
    let plan = job(update, &last("*", "user_id, v * 2 AS double, ts, rn"))
        .unwrap()
        .queries
        .unwrap()
        .plan;
    let spec = plan.window().unwrap();
    assert_eq!(spec.kind, sluice_engine::window::WindowKind::Global);
    assert_eq!(spec.keys, ["user_id"]);
    let picks: Vec<(AggregateFn, Option<&str>)> = spec
        .aggregates
        .iter()
        .map(|a| (a.function, a.by.as_deref()))
        .collect();
    assert_eq!(
        picks,
        [(AggregateFn::MaxBy, Some("ts"))],
        "one pick of the whole row"
    );
    assert_eq!(first_filter(&plan), "v > 0");
    // `SELECT *` gives the subquery's columns, its row number where it selects it.
    let plan = job(update, &last("*", "*")).unwrap().queries.unwrap().plan;
    let selected = plan
        .operators
        .iter()
        .find(|o| o.name == "t/select")
        .map(|o| match &o.kind {
            OperatorKind::Project { columns, .. } => {
                columns.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>()
            }
            other => panic!("{other:?}"),
        })
        .unwrap();
    assert_eq!(selected, ["user_id", "ts", "v", "rn"]);
    let refused = [
        (job("", &last("*", "user_id")), "in append mode"),
        (
            job(
                update,
                &last("*", "user_id").replace("WHERE rn = 1", "WHERE rn = 1 AND v > 1"),
            ),
            "other conditions beside `rn = 1`",
        ),
        (
            job(update, &last("*", "user_id").replace("rn = 1", "rn = 2")),
            "kept WHERE rn = 1",
        ),
        (job(update, &last("user_id", "user_id")), "of keys alone"),
        (job(update, &last("*", "nope")), "`nope` is no column"),
        (
            job(update, &last("*", "ts, v")),
            "without selecting the keys",
        ),
    ];
    for (result, expected) in refused {
        let err = result.err().unwrap_or_default();
        assert!(err.contains(expected), "{expected}: {err}");
    }
}

#[test]
fn conditions_kept_beside_a_deduplication_keep_their_parentheses() {
    let config = job(
        "",
        "INSERT INTO t SELECT user_id FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY \
         user_id ORDER BY ts) AS rn FROM events) WHERE rn = 1 AND (v > 1 OR v < 0) \
         AND user_id = 'x';",
    )
    .unwrap();
    let plan = config.queries.unwrap().plan;
    assert_eq!(first_filter(&plan), "(v > 1 OR v < 0) AND (user_id = 'x')");
}

#[test]
fn a_filtered_window_s_watermark_follows_the_source_rows() {
    let config = job(
        "",
        "INSERT INTO t SELECT window_start, count(*) AS n FROM events WHERE v > 0 \
         GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE);\n\
         INSERT INTO u SELECT window_start, count(*) AS n FROM events \
         GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE);",
    )
    .unwrap();
    let plan = config.queries.unwrap().plan;
    let from: Vec<Option<&str>> = plan
        .windows()
        .map(|w| w.watermark_from.as_deref())
        .collect();
    assert_eq!(from, [Some("events"), None]);
}

#[test]
fn having_filters_a_windowed_aggregate_s_rows_by_their_columns() {
    let config = job(
        "",
        "INSERT INTO t SELECT window_start, user_id, count(*) AS n, avg(v) AS mean \
         FROM events GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), user_id \
         HAVING count(*) > 5 AND mean < 2;",
    )
    .unwrap();
    let plan = config.queries.unwrap().plan;
    let last = plan.operators.last().unwrap();
    assert_eq!(last.name, "t/having");
    let OperatorKind::Filter { predicate } = &last.kind else {
        panic!("not a filter");
    };
    assert_eq!(predicate, "\"n\" > 5 AND mean < 2");
    // An aggregate the select list does not name is computed under a hidden name,
    // filtered on, then dropped.
    let plan = job(
        "",
        "INSERT INTO t SELECT window_start, count(*) AS n FROM events \
         GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE) HAVING max(v) > 1 AND count(*) > 2;",
    )
    .unwrap()
    .queries
    .unwrap()
    .plan;
    let names: Vec<&str> = plan
        .window()
        .unwrap()
        .aggregates
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(names, ["n", "__t_having0"]);
    let having = plan
        .operators
        .iter()
        .find(|o| o.name == "t/having")
        .unwrap();
    assert!(
        matches!(&having.kind, OperatorKind::Filter { predicate } if predicate == "\"__t_having0\" > 1 AND \"n\" > 2"),
        "{having:?}"
    );
    let last = plan.operators.last().unwrap();
    assert_eq!(last.name, "t/having-select");
    assert!(
        matches!(&last.kind, OperatorKind::Project { columns, keep_input: true, drop, .. } if columns.is_empty() && drop == &["__t_having0"]),
        "{last:?}"
    );
    let err = job("", "INSERT INTO t SELECT user_id FROM events HAVING v > 1;").unwrap_err();
    assert!(err.contains("HAVING without GROUP BY"), "{err}");
    let err = job(
        "CREATE TABLE t WITH ('output-mode' = 'update');",
        "INSERT INTO t SELECT window_start, count(*) AS n FROM events \
         GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE) HAVING count(*) > 1;",
    )
    .unwrap_err();
    assert!(err.contains("HAVING in update mode"), "{err}");
}

#[test]
fn a_deduplication_s_row_number_is_a_column_where_the_outer_query_reads_it() {
    let dedup = |outer: &str, inner: &str, rest: &str| {
        format!(
            "INSERT INTO t SELECT {outer} FROM (SELECT {inner} FROM events) WHERE rn = 1{rest};"
        )
    };
    let numbered = "ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY ts) AS rn";
    let numbering = |query: String| -> Option<(String, String)> {
        let plan = job("", &query)
            .unwrap_or_else(|e| panic!("{query}: {e}"))
            .queries
            .unwrap()
            .plan;
        plan.operators.iter().find_map(|o| match &o.kind {
            OperatorKind::Project { columns, .. } if o.name == "t/row-number" => {
                Some(columns[0].clone())
            }
            _ => None,
        })
    };
    let one = Some(("rn".to_owned(), "CAST(1 AS BIGINT)".to_owned()));
    assert_eq!(numbering(dedup("*", &format!("*, {numbered}"), "")), one);
    assert_eq!(
        numbering(dedup("user_id, rn", &format!("*, {numbered}"), "")),
        one
    );
    assert_eq!(
        numbering(dedup(
            "user_id",
            &format!("user_id, ts, {numbered}"),
            " AND rn < 5"
        )),
        one,
        "the rest of WHERE reads it"
    );
    assert_eq!(
        numbering(dedup("user_id, ts", &format!("*, {numbered}"), "")),
        None,
        "not computed where nothing reads it"
    );
    let err = job("", &dedup("*", &format!("{numbered}, user_id, ts"), "")).unwrap_err();
    assert!(err.contains("put the ROW_NUMBER() column last"), "{err}");
}

#[test]
fn temporary_tables_are_tables_and_a_table_is_declared_once() {
    let text = "CREATE TEMPORARY TABLE events (user_id STRING, ts TIMESTAMP NOT NULL, \
                WATERMARK FOR ts AS ts - INTERVAL '1' MINUTE) \
                WITH ('connector' = 'generator', 'format' = 'json');\n\
                create temporary table t WITH ('connector' = 'blackhole');\n\
                INSERT INTO t SELECT user_id FROM events;";
    let config = crate::sql::SqlJob::from_sql_with(text, "t.sql", "t", &[]).unwrap();
    let queries = config.queries.unwrap();
    assert_eq!(queries.plan.source, "events");
    assert!(queries.sinks[0].blackhole, "the sink's options were read");
    let err = job(
        "CREATE TABLE t WITH ('connector' = 'blackhole');\n\
         CREATE TABLE t WITH ('connector' = 'delta');",
        "INSERT INTO t SELECT user_id FROM events;",
    )
    .unwrap_err();
    assert!(err.contains("table `t` is declared twice"), "{err}");
}

#[test]
fn select_distinct_into_an_update_table_is_a_group_by_of_its_columns() {
    let update = "CREATE TABLE seen WITH ('output-mode' = 'update');";
    let config = job(
        update,
        "INSERT INTO seen SELECT DISTINCT user_id AS who, upper(user_id) AS loud FROM events;",
    )
    .unwrap();
    let queries = config.queries.unwrap();
    assert_eq!(
        queries.sinks[0].merge_keys,
        vec!["who".to_owned(), "loud".to_owned()]
    );
    let spec = queries.plan.window().unwrap();
    assert_eq!(spec.mode, OutputMode::Update);
    assert!(spec.aggregates.is_empty(), "{:?}", spec.aggregates);
    // Append mode, `*`, DISTINCT ON: refused, naming what runs.
    let append = job("", "INSERT INTO seen SELECT DISTINCT user_id FROM events;").unwrap_err();
    assert!(
        append.contains("SELECT DISTINCT") && append.contains("'output-mode' = 'update'"),
        "{append}"
    );
    let star = job(update, "INSERT INTO seen SELECT DISTINCT * FROM events;").unwrap_err();
    assert!(
        star.contains("SELECT DISTINCT *") && star.contains("coordinates"),
        "{star}"
    );
    let on = job(
        update,
        "INSERT INTO seen SELECT DISTINCT ON (user_id) user_id, v FROM events;",
    )
    .unwrap_err();
    assert!(on.contains("SELECT DISTINCT"), "{on}");
}

#[test]
fn a_table_that_declares_its_columns_gets_the_query_s_by_position_cast() {
    let declared = "CREATE TABLE typed (who STRING NOT NULL, n INT, at TIMESTAMP) \
                    WITH ('connector' = 'delta');";
    let config = job(
        declared,
        "INSERT INTO typed SELECT upper(user_id), 1, ts FROM events;",
    )
    .unwrap();
    let plan = config.queries.unwrap().plan;
    let ops = operator_kinds(&plan);
    let names: Vec<&str> = ops.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        &names[names.len() - 3..],
        ["typed/declared", "typed/not-null", "typed/columns"]
    );
    let columns_of =
        |name: &str| match &plan.operators.iter().find(|o| o.name == name).unwrap().kind {
            OperatorKind::Project {
                columns,
                keep_coordinates,
                ..
            } => (columns.clone(), *keep_coordinates),
            other => panic!("{other:?}"),
        };
    // The select list is named after the declared columns; the casts keep the rows'
    // coordinates for their dead letters, and the last operator drops them.
    let (select, coordinates) = columns_of("typed/select");
    assert_eq!(
        select.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["who", "n", "at"]
    );
    assert!(coordinates);
    let (casts, coordinates) = columns_of("typed/declared");
    assert_eq!(
        casts[0],
        ("who".to_owned(), "CAST(\"who\" AS STRING)".to_owned())
    );
    assert_eq!(casts[1], ("n".to_owned(), "CAST(\"n\" AS INT)".to_owned()));
    assert!(
        casts[2].1.starts_with("arrow_cast(\"at\", 'Timestamp("),
        "{:?}",
        casts[2]
    );
    assert!(coordinates);
    let (kept, coordinates) = columns_of("typed/columns");
    assert_eq!(kept.len(), 3);
    assert!(!coordinates);
    // A column list names them; a declared column it leaves out is null.
    let listed = job(
        declared,
        "INSERT INTO typed (at, who) SELECT ts, user_id FROM events;",
    )
    .unwrap();
    let plan = listed.queries.unwrap().plan;
    let select = plan
        .operators
        .iter()
        .find(|o| o.name == "typed/select")
        .unwrap();
    let OperatorKind::Project { columns, .. } = &select.kind else {
        panic!("{select:?}");
    };
    assert_eq!(
        columns,
        &vec![
            ("who".to_owned(), "user_id".to_owned()),
            ("n".to_owned(), "NULL".to_owned()),
            ("at".to_owned(), "ts".to_owned())
        ]
    );
    // Refused, naming why.
    for (query, expected) in [
        (
            "INSERT INTO typed SELECT * FROM events;",
            "name the columns",
        ),
        (
            "INSERT INTO typed SELECT user_id FROM events;",
            "selects 1 column, and the table declares 3",
        ),
        (
            "INSERT INTO typed (n) SELECT 1 FROM events;",
            "`who` is NOT NULL",
        ),
        (
            "INSERT INTO typed (nope, who) SELECT 1, user_id FROM events;",
            "no column `nope`",
        ),
    ] {
        let err = job(declared, query).unwrap_err();
        assert!(err.contains(expected), "{query}: {err}");
    }
}

#[test]
fn a_primary_key_upserts_an_aggregate_s_rows_by_its_group_by_keys() {
    let keyed = "CREATE TABLE per_user (who STRING, n BIGINT, PRIMARY KEY (who) NOT ENFORCED) \
                 WITH ('connector' = 'delta');";
    let config = job(
        keyed,
        "INSERT INTO per_user SELECT user_id, count(*) FROM events GROUP BY user_id;",
    )
    .unwrap();
    let sink = &config.queries.unwrap().sinks[0];
    assert_eq!(sink.mode, OutputMode::Update);
    assert_eq!(sink.merge_keys, vec!["who".to_owned()]);
    // Keeping each key's last row, its key renamed by the declared columns.
    let config = job(
        "CREATE TABLE latest (who STRING, amount DOUBLE, PRIMARY KEY (who) NOT ENFORCED) \
         WITH ('connector' = 'delta');",
        "INSERT INTO latest SELECT user_id, v FROM (SELECT *, ROW_NUMBER() OVER \
         (PARTITION BY user_id ORDER BY ts DESC) AS rn FROM events) WHERE rn = 1;",
    )
    .unwrap();
    assert_eq!(
        config.queries.unwrap().sinks[0].merge_keys,
        vec!["who".to_owned()]
    );
    for (sink, query, expected) in [
        (
            keyed,
            "INSERT INTO per_user SELECT user_id, 1 FROM events;",
            "PRIMARY KEY (who) of a query without GROUP BY",
        ),
        (
            "CREATE TABLE per_user (who STRING, n BIGINT, PRIMARY KEY (n) NOT ENFORCED) \
             WITH ('connector' = 'delta');",
            "INSERT INTO per_user SELECT user_id, count(*) FROM events GROUP BY user_id;",
            "merged by who",
        ),
        (
            "CREATE TABLE per_user (who STRING, n BIGINT, PRIMARY KEY (who) NOT ENFORCED) \
             WITH ('connector' = 'delta', 'output-mode' = 'append');",
            "INSERT INTO per_user SELECT user_id, count(*) FROM events GROUP BY user_id;",
            "'output-mode' = 'append' with a PRIMARY KEY",
        ),
        (
            "CREATE TABLE per_user (who STRING, PRIMARY KEY (nope) NOT ENFORCED) \
             WITH ('connector' = 'delta');",
            "INSERT INTO per_user SELECT user_id FROM events GROUP BY user_id;",
            "`nope` is not a declared column",
        ),
    ] {
        let err = job(sink, query).unwrap_err();
        assert!(err.contains(expected), "{query}: {err}");
    }
}

#[test]
fn grouping_a_windowed_subquery_by_its_window_is_a_cascading_window() {
    let counts = "(SELECT count(*) AS n, window_start AS ws, window_end AS we \
                  FROM TABLE(HOP(TABLE events, DESCRIPTOR(ts), INTERVAL '2' SECOND, \
                  INTERVAL '10' SECOND)) GROUP BY user_id, window_start, window_end)";
    let tops = plan(&format!(
        "INSERT INTO tops SELECT max(c.n) AS top, c.ws, c.we FROM {counts} AS c \
         GROUP BY c.ws, c.we;"
    ));
    let outer = tops
        .operators
        .iter()
        .find(|o| o.name == "tops/window")
        .expect("the outer window");
    let OperatorKind::Window(spec) = &outer.kind else {
        panic!("{outer:?}");
    };
    // One tumbling window per slide, over the counts' window end, keyed by the bounds.
    assert_eq!(
        spec.kind,
        sluice_engine::window::WindowKind::Tumbling {
            size: Duration::from_secs(2)
        }
    );
    assert_eq!(spec.time_column, "we");
    assert_eq!(spec.keys, vec!["ws".to_owned(), "we".to_owned()]);
    // As a join's side (Flink's Nexmark q5), joined on the windows.
    let hot = plan(&format!(
        "INSERT INTO hot SELECT A.user_id, A.n FROM (SELECT user_id, count(*) AS n, \
         window_start AS ws, window_end AS we FROM TABLE(HOP(TABLE events, \
         DESCRIPTOR(ts), INTERVAL '2' SECOND, INTERVAL '10' SECOND)) \
         GROUP BY user_id, window_start, window_end) AS A JOIN (SELECT max(c.n) AS top, \
         c.ws, c.we FROM {counts} AS c GROUP BY c.ws, c.we) AS M \
         ON A.ws = M.ws AND A.we = M.we AND A.n >= M.top;"
    ));
    let kinds = operator_kinds(&hot);
    assert!(
        kinds.contains(&("hot.M/window", "window")) && kinds.contains(&("hot/join", "stream-join")),
        "{kinds:?}"
    );
    // Sessions end anywhere: no cascade, the aggregate without a window is refused.
    let err = job(
        "",
        "INSERT INTO s SELECT max(c.n) AS top, c.ws, c.we FROM (SELECT count(*) AS n, \
         window_start AS ws, window_end AS we FROM events GROUP BY SESSION(ts, \
         INTERVAL '1' MINUTE), user_id) AS c GROUP BY c.ws, c.we;",
    )
    .unwrap_err();
    assert!(err.contains("without an event-time window"), "{err}");
}

#[test]
fn sparks_div_is_refused_naming_what_to_write() {
    for query in [
        "INSERT INTO t SELECT user_id, v DIV 2 AS h FROM events;",
        "CREATE VIEW halves AS SELECT user_id, v DIV 2 AS h FROM events;",
    ] {
        let err = job("", query).unwrap_err();
        assert!(
            err.contains("`a DIV b` (Spark's integer division)")
                && err.contains("CAST(a / b AS BIGINT)"),
            "{query}: {err}"
        );
    }
    // Other parse errors keep the parser's text.
    let err = job("", "INSERT INTO t SELECT user_id FROM FROM events;").unwrap_err();
    assert!(!err.contains("DIV"), "{err}");
}
