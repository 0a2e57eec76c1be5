//! `UNION ALL`, and several queries writing one table.

use sluice_engine::plan::OperatorKind;

use super::job;

#[test]
fn one_query_keeps_its_operator_names_and_reads_no_union() {
    let config = job("", "INSERT INTO t SELECT user_id FROM events WHERE v > 1;").unwrap();
    let plan = config.queries.unwrap().plan;
    let names: Vec<&str> = plan.operators.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["t/where", "t/select"]);
    assert_eq!(plan.sinks[0].input, "t/select");
}

#[test]
fn union_all_and_a_second_insert_are_parts_of_one_union_the_table_writes() {
    let config = job(
        "",
        "INSERT INTO t SELECT user_id, v FROM events WHERE v > 1 \
         UNION ALL (SELECT user_id, v * 2 AS v FROM events) \
         UNION ALL SELECT user_id, v FROM events WHERE v < 0;\n\
         INSERT INTO other SELECT user_id FROM events;\n\
         INSERT INTO t SELECT user_id, count(*) AS v FROM events \
         GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), user_id;",
    )
    .unwrap();
    let queries = config.queries.unwrap();
    let plan = &queries.plan;
    let union = plan
        .operators
        .iter()
        .find(|o| o.name == "t/union")
        .expect("a union");
    let OperatorKind::Union { others } = &union.kind else {
        panic!("{union:?}")
    };
    assert_eq!(union.input, "t.part1/select");
    assert_eq!(
        others,
        &["t.part2/select", "t.part3/select", "t.part4/select"]
    );
    let window = plan.window().expect("the fourth part's window");
    assert_eq!(window.name, "t.part4");
    let table = plan.sinks.iter().find(|s| s.name == "t").unwrap();
    assert_eq!(table.input, "t/union");
    // One sink per table, in the order of its first query.
    let sinks: Vec<&str> = queries.sinks.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(sinks, ["t", "other"]);
}

#[test]
fn a_windowed_query_selects_constants_after_its_window() {
    let config = job(
        "",
        "INSERT INTO t SELECT window_start, 'web' AS origin, user_id, count(*) AS n, \
         CAST(1 AS BIGINT) AS one FROM events \
         GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), user_id;",
    )
    .unwrap();
    let plan = config.queries.unwrap().plan;
    let select = plan.operators.last().unwrap();
    let OperatorKind::Project { columns, .. } = &select.kind else {
        panic!("{select:?}")
    };
    let names: Vec<(&str, &str)> = columns
        .iter()
        .map(|(n, sql)| (n.as_str(), sql.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("window_start", "\"window_start\""),
            ("origin", "'web'"),
            ("user_id", "\"user_id\""),
            ("n", "\"n\""),
            ("one", "CAST(1 AS BIGINT)"),
        ]
    );
    let e = job(
        "",
        "INSERT INTO t SELECT window_start, 'web', count(*) AS n FROM events \
         GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE);",
    )
    .unwrap_err();
    assert!(e.contains("give it a column name"), "{e}");
    let e = job(
        "",
        "INSERT INTO t SELECT window_start, upper(user_id) AS u, count(*) AS n FROM events \
         GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE);",
    )
    .unwrap_err();
    assert!(e.contains("`user_id` is none of them"), "{e}");
}

#[test]
fn unions_that_cannot_run_are_refused_naming_them() {
    let cases = [
        (
            "",
            "INSERT INTO t SELECT user_id FROM events UNION SELECT user_id FROM events;",
            "UNION: it drops duplicate rows across all time",
        ),
        (
            "",
            "INSERT INTO t SELECT user_id FROM events UNION ALL BY NAME SELECT user_id FROM events;",
            "UNION ALL BY NAME: columns match by position",
        ),
        (
            "",
            "INSERT INTO t SELECT user_id FROM events UNION DISTINCT SELECT user_id FROM events;",
            "UNION DISTINCT: it drops duplicate rows",
        ),
        (
            "",
            "INSERT INTO t SELECT user_id FROM events INTERSECT SELECT user_id FROM events;",
            "INTERSECT, EXCEPT",
        ),
        (
            "CREATE TABLE t WITH ('output-mode' = 'update');",
            "INSERT INTO t SELECT window_start, user_id, count(*) AS n FROM events \
             GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), user_id;\n\
             INSERT INTO t SELECT window_start, user_id, count(*) AS n FROM events \
             GROUP BY TUMBLE(ts, INTERVAL '5' MINUTE), user_id;",
            "writing the update-mode table `t`",
        ),
        (
            "",
            "INSERT INTO t SELECT user_id FROM events \
             UNION ALL SELECT user_id FROM events ORDER BY user_id;",
            "ORDER BY",
        ),
    ];
    for (sink, query, expected) in cases {
        let e = job(sink, query).unwrap_err();
        assert!(e.contains(expected), "`{query}`: {e}");
    }
}

const TWO_SOURCES: &str = "CREATE TABLE web (user_id STRING, ts TIMESTAMP NOT NULL, v DOUBLE, \
                           WATERMARK FOR ts AS ts - INTERVAL '1' MINUTE) \
                           WITH ('connector' = 'generator', 'format' = 'json');\n\
                           CREATE TABLE app (user_id STRING, created TIMESTAMP NOT NULL, \
                           v DOUBLE, WATERMARK FOR created AS created - INTERVAL '3' MINUTE) \
                           WITH ('connector' = 'generator', 'format' = 'json');";

fn two_sources(query: &str) -> Result<crate::JobConfig, String> {
    let text = format!("{TWO_SOURCES}\n{query}");
    crate::sql::SqlJob::from_sql_with(&text, "t.sql", "t", &[]).map_err(|e| e.to_string())
}

#[test]
fn a_window_over_a_union_keeps_a_watermark_clock_per_source() {
    let config = two_sources(
        "INSERT INTO t SELECT window_start, user_id, count(*) AS n \
         FROM (SELECT user_id, ts FROM web \
               UNION ALL SELECT user_id, created AS ts FROM app WHERE v > 0) AS u \
         GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), user_id;",
    )
    .unwrap();
    let plan = config.queries.unwrap().plan;
    let union = plan
        .operators
        .iter()
        .find(|o| matches!(o.kind, OperatorKind::Union { .. }))
        .expect("a union");
    assert_eq!(union.name, "t.u/union");
    // The same union as a view.
    let view = two_sources(
        "CREATE VIEW u AS SELECT user_id, ts FROM web \
         UNION ALL SELECT user_id, created AS ts FROM app WHERE v > 0;\n\
         INSERT INTO t SELECT window_start, user_id, count(*) AS n \
         FROM u GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), user_id;",
    )
    .unwrap();
    assert_eq!(view.queries.unwrap().plan.operators, plan.operators);
    let window = plan.window().expect("a window");
    assert_eq!(window.time_column, "ts");
    assert_eq!(window.delay, std::time::Duration::from_secs(60));
    assert_eq!(window.watermark_from.as_deref(), Some("web"));
    assert_eq!(
        window.watermark_also,
        [sluice_engine::watermark::WatermarkInput {
            stream: "app".into(),
            time_column: "created".into(),
            delay: std::time::Duration::from_secs(180),
        }]
    );
}

#[test]
fn a_window_over_a_union_needs_each_source_s_watermark_column_in_place() {
    let cases = [
        (
            "FROM (SELECT user_id, ts AS t2 FROM web \
             UNION ALL SELECT user_id, created FROM app) AS u GROUP BY TUMBLE(t2, \
             INTERVAL '1' MINUTE)",
            "the window is over `t2`, but the watermark is for `ts`",
        ),
        (
            "FROM (SELECT user_id, ts FROM web \
             UNION ALL SELECT user_id, created + INTERVAL '1' SECOND AS ts FROM app) AS u \
             GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE)",
            "query 2 of the UNION ALL puts a computed column there",
        ),
        (
            "FROM (SELECT user_id, ts FROM web \
             UNION ALL SELECT user_id, window_start AS ts FROM app \
             GROUP BY TUMBLE(created, INTERVAL '1' MINUTE), user_id) AS u \
             GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE)",
            "not a filter and projection of one source table",
        ),
    ];
    for (from, expected) in cases {
        let query = format!("INSERT INTO t SELECT window_start, count(*) AS n {from};");
        let e = two_sources(&query).unwrap_err();
        assert!(e.contains(expected), "`{query}`: {e}");
    }
}

#[test]
fn a_deduplication_over_a_union_keeps_a_watermark_clock_per_source() {
    let config = two_sources(
        "INSERT INTO t SELECT user_id, ts FROM ( \
           SELECT *, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY ts) AS rn \
           FROM (SELECT user_id, ts FROM web \
                 UNION ALL SELECT user_id, created AS ts FROM app) AS u \
           WHERE u.user_id IS NOT NULL) WHERE rn = 1;",
    )
    .unwrap();
    let plan = config.queries.unwrap().plan;
    let spec = plan
        .operators
        .iter()
        .find_map(|o| match &o.kind {
            OperatorKind::Dedup(spec) => Some(spec),
            _ => None,
        })
        .expect("a deduplication");
    assert_eq!(spec.time_column, "ts");
    assert_eq!(spec.watermark_from.as_deref(), Some("web"));
    assert_eq!(spec.watermark_also.len(), 1);
    assert_eq!(spec.watermark_also[0].stream, "app");
    assert_eq!(spec.watermark_also[0].time_column, "created");
    // The subquery's WHERE names the union's columns without its alias.
    assert!(
        plan.operators
            .iter()
            .any(|o| matches!(&o.kind, OperatorKind::Filter { predicate } if predicate == "user_id IS NOT NULL")),
        "{plan:?}"
    );
}
