//! Select lists as SQL writes them: qualified columns, `* EXCEPT`, aggregates with
//! FILTER, GROUP BY expressions and expressions over aggregates; and the modifiers that
//! are refused rather than ignored.

use sluice_engine::plan::{OperatorKind, Plan};
use sluice_engine::window::AggregateFn;

use super::job;
use super::plan as plan_of;

/// The operator `name`'s kind.
fn kind<'a>(plan: &'a Plan, name: &str) -> &'a OperatorKind {
    &plan
        .operators
        .iter()
        .find(|o| o.name == name)
        .unwrap_or_else(|| panic!("no operator {name}: {:?}", plan.operators))
        .kind
}

/// The computed columns of the projection `name`.
fn columns<'a>(plan: &'a Plan, name: &str) -> Vec<(&'a str, &'a str)> {
    let OperatorKind::Project { columns, .. } = kind(plan, name) else {
        panic!("{name} is not a projection");
    };
    columns
        .iter()
        .map(|(n, sql)| (n.as_str(), sql.as_str()))
        .collect()
}

#[test]
fn a_table_s_qualified_columns_read_its_columns_and_keep_their_names() {
    for query in [
        "INSERT INTO t SELECT e.user_id, e.v * 2 AS w FROM events e WHERE e.v > 1;",
        "INSERT INTO t SELECT events.user_id, events.v * 2 AS w FROM events WHERE events.v > 1;",
    ] {
        let plan = plan_of(query);
        assert_eq!(super::first_filter(&plan), "v > 1", "{query}");
        assert_eq!(
            columns(&plan, "t/select"),
            [("user_id", "\"user_id\""), ("w", "v * 2")],
            "{query}"
        );
    }
    // In a window's GROUP BY and select list too.
    let plan = plan_of(
        "INSERT INTO t SELECT window_start, e.user_id, count(*) AS n FROM events AS e \
         GROUP BY TUMBLE(e.ts, INTERVAL '1' MINUTE), e.user_id;",
    );
    let spec = plan.window().unwrap();
    assert_eq!(spec.keys, ["user_id"]);
    assert_eq!(spec.time_column, "ts");
}

/// A struct's field selected alone is named after the field, as Spark names it.
#[test]
fn a_struct_field_is_named_after_the_field() {
    let plan = plan_of(
        "INSERT INTO t SELECT s.user_id, s.v AS value FROM (SELECT from_json(user_id, \
         'user_id STRING, v DOUBLE') AS s FROM events);",
    );
    assert_eq!(
        columns(&plan, "t/select"),
        [("user_id", "s.user_id"), ("value", "s.v")]
    );
}

#[test]
fn star_except_leaves_the_columns_out_and_other_star_options_are_refused() {
    for query in [
        "INSERT INTO t SELECT * EXCEPT (v) FROM events;",
        "INSERT INTO t SELECT * EXCLUDE (v) FROM events;",
    ] {
        let plan = plan_of(query);
        let OperatorKind::Project {
            columns,
            keep_input,
            drop,
            ..
        } = kind(&plan, "t/select")
        else {
            panic!("{query}: {:?}", plan.operators);
        };
        assert!(columns.is_empty() && *keep_input, "{query}");
        assert_eq!(drop, &["v"], "{query}");
    }
    let err = job(
        "",
        "INSERT INTO t SELECT * REPLACE (v * 2 AS v) FROM events;",
    )
    .unwrap_err();
    assert!(
        err.contains("EXCEPT (columns) and EXCLUDE (columns) run"),
        "{err}"
    );
}

#[test]
fn an_aggregate_s_filter_makes_its_argument_null_where_the_filter_fails() {
    let plan = plan_of(
        "INSERT INTO t SELECT window_start, count(*) FILTER (WHERE v > 1) AS big, \
         sum(v) FILTER (WHERE user_id = 'a') AS a_total, min(DISTINCT v) AS low, \
         count(DISTINCT user_id) AS users, \
         count(DISTINCT v % 3) FILTER (WHERE v > 0) AS residues, \
         sum(DISTINCT v) AS spread, avg(DISTINCT v) AS typical, \
         collect_set(user_id) AS who, array_agg(DISTINCT v) AS vs, \
         collect_list(user_id) FILTER (WHERE v > 2) AS big_users, array_agg(v) AS every_v \
         FROM events GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE);",
    );
    assert_eq!(
        columns(&plan, "t/arguments"),
        [
            ("__t_arg0", "CASE WHEN v > 1 THEN 1 END"),
            ("__t_arg1", "CASE WHEN user_id = 'a' THEN v END"),
            ("__t_arg2", "CASE WHEN v > 0 THEN v % 3 END"),
            ("__t_arg3", "CASE WHEN v > 2 THEN user_id END"),
        ]
    );
    let aggregates: Vec<(&str, AggregateFn, Option<&str>)> = plan
        .window()
        .unwrap()
        .aggregates
        .iter()
        .map(|a| (a.name.as_str(), a.function, a.column.as_deref()))
        .collect();
    assert_eq!(
        aggregates,
        [
            ("big", AggregateFn::Count, Some("__t_arg0")),
            ("a_total", AggregateFn::Sum, Some("__t_arg1")),
            ("low", AggregateFn::Min, Some("v")),
            ("users", AggregateFn::CountDistinct, Some("user_id")),
            ("residues", AggregateFn::CountDistinct, Some("__t_arg2")),
            ("spread", AggregateFn::SumDistinct, Some("v")),
            ("typical", AggregateFn::AvgDistinct, Some("v")),
            ("who", AggregateFn::CollectSet, Some("user_id")),
            ("vs", AggregateFn::CollectSet, Some("v")),
            ("big_users", AggregateFn::CollectList, Some("__t_arg3")),
            ("every_v", AggregateFn::CollectList, Some("v")),
        ]
    );
}

/// `max_by(c, o)` and `min_by` (`arg_max`, `arg_min`) read their ordering as a column;
/// a filter nulls the ordering (a row without one is skipped), not the value.
#[test]
fn picks_read_their_ordering_as_a_column_that_a_filter_nulls() {
    let plan = plan_of(
        "INSERT INTO t SELECT window_start, max_by(user_id, v) AS top, \
         arg_min(v * 2, ts) AS first_double, \
         min_by(user_id, v) FILTER (WHERE v > 1) AS cheapest_big \
         FROM events GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE);",
    );
    assert_eq!(
        columns(&plan, "t/arguments"),
        [
            ("__t_arg0", "v * 2"),
            ("__t_arg1", "CASE WHEN v > 1 THEN v END"),
        ]
    );
    let aggregates: Vec<(&str, AggregateFn, Option<&str>, Option<&str>)> = plan
        .window()
        .unwrap()
        .aggregates
        .iter()
        .map(|a| {
            (
                a.name.as_str(),
                a.function,
                a.column.as_deref(),
                a.by.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        aggregates,
        [
            ("top", AggregateFn::MaxBy, Some("user_id"), Some("v")),
            (
                "first_double",
                AggregateFn::MinBy,
                Some("__t_arg0"),
                Some("ts")
            ),
            (
                "cheapest_big",
                AggregateFn::MinBy,
                Some("user_id"),
                Some("__t_arg1")
            ),
        ]
    );
}

#[test]
fn expressions_over_keys_and_aggregates_are_computed_after_the_window() {
    let plan = plan_of(
        "INSERT INTO t SELECT window_start, upper(user_id) AS who, count(*) AS n, \
         sum(v) / count(*) AS mean, concat(upper(user_id), '-', window_end) AS label \
         FROM events GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), upper(user_id);",
    );
    // The GROUP BY expression is a column before the window, and the window's key.
    assert_eq!(
        columns(&plan, "t/arguments"),
        [("__t_key0", "upper(user_id)")]
    );
    let spec = plan.window().unwrap();
    assert_eq!(spec.keys, ["__t_key0"]);
    // count(*) is counted once; the sum is an aggregate of its own, named apart.
    let names: Vec<&str> = spec.aggregates.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["n", "__t_agg1"]);
    assert_eq!(
        columns(&plan, "t/expressions"),
        [
            ("__t_out3", "\"__t_agg1\" / \"n\""),
            ("__t_out4", "concat(\"__t_key0\", '-', \"window_end\")"),
        ]
    );
    assert_eq!(
        columns(&plan, "t/select"),
        [
            ("window_start", "\"window_start\""),
            ("who", "\"__t_key0\""),
            ("n", "\"n\""),
            ("mean", "\"__t_out3\""),
            ("label", "\"__t_out4\""),
        ]
    );
}

#[test]
fn spark_s_std_is_the_sample_standard_deviation() {
    let plan = plan_of(
        "INSERT INTO t SELECT window_start, std(v) AS s, stddev(v) AS d \
         FROM events GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE);",
    );
    let text = format!("{:?}", plan.operators);
    assert_eq!(text.matches("Stddev").count(), 2, "{text}");
}

#[test]
fn aggregate_modifiers_that_would_change_the_result_are_refused_not_ignored() {
    let window = "FROM events GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), user_id;";
    let cases = [
        ("stddev(DISTINCT v) AS n", "a DISTINCT aggregate"),
        (
            "variance(DISTINCT v) AS n",
            "count, sum and avg of DISTINCT values run",
        ),
        ("count(DISTINCT user_id, v) AS n", "take one argument"),
        ("count(user_id, v) AS n", "take one argument"),
        ("max_by(user_id) AS n", "take the column and the ordering"),
        ("last_value(v) AS n", "max_by(column, event_time)"),
        ("first(v) AS n", "min_by(column, event_time)"),
        (
            "min_by(user_id, v, ts) AS n",
            "take the column and the ordering",
        ),
        (
            "string_agg(user_id, ',' ORDER BY v) AS n",
            "not an aggregate that merges",
        ),
        ("sum(v) + v AS n", "`v` in `sum(v) + v`"),
        // Aggregates not computed here are named as such, with the ones that are.
        (
            "corr(v, v) AS n",
            "`corr(v, v)`: it is not computed here. The aggregates",
        ),
        (
            "round(skewness(v), 2) AS n",
            "`skewness(v)`: it is not computed here",
        ),
        (
            "any_value(v) AS n",
            "differs from run to run; write min(column)",
        ),
        (
            "percentile_cont(v) AS n",
            "percentile_approx(column, p) estimates it",
        ),
    ];
    for (item, expected) in cases {
        let query = format!("INSERT INTO t SELECT window_start, {item} {window}");
        let err = job("", &query).unwrap_err();
        assert!(err.contains(expected), "{item}: {err}");
    }
    let err = job(
        "",
        "INSERT INTO t SELECT user_id, sum(v) OVER (PARTITION BY user_id ORDER BY ts) AS s \
         FROM events;",
    )
    .unwrap_err();
    assert!(err.contains("a window function over rows"), "{err}");
}

#[test]
fn clauses_sluice_does_not_run_are_refused_not_ignored() {
    let cases = [
        (
            "INSERT OVERWRITE t SELECT user_id FROM events;",
            "INSERT OVERWRITE",
        ),
        (
            "INSERT INTO t SELECT user_id FROM events ON CONFLICT DO NOTHING;",
            "ON CONFLICT",
        ),
        (
            "INSERT INTO t SELECT user_id FROM events RETURNING user_id;",
            "RETURNING",
        ),
        (
            "INSERT INTO t SELECT a FROM events AS e(a, b, c);",
            "column aliases in FROM events AS e (a, b, c)",
        ),
        (
            "INSERT INTO t SELECT user_id FROM events TABLESAMPLE BERNOULLI (10);",
            "TABLESAMPLE",
        ),
        (
            "INSERT INTO t SELECT user_id FROM events LATERAL VIEW explode(x) t AS y;",
            "LATERAL VIEW",
        ),
        (
            "INSERT INTO t SELECT user_id FROM events WINDOW w AS (PARTITION BY user_id);",
            "a WINDOW clause",
        ),
        (
            "INSERT INTO t SELECT user_id FROM (SELECT user_id FROM events TABLESAMPLE \
             BERNOULLI (10)) AS s;",
            "TABLESAMPLE",
        ),
    ];
    for (query, expected) in cases {
        let err = job("", query).unwrap_err();
        assert!(err.contains(expected), "{query}: {err}");
    }
}

#[test]
fn window_time_is_the_window_s_end_less_a_millisecond() {
    let plan = plan_of(
        "INSERT INTO t SELECT window_start, window_time, count(*) AS n \
         FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) \
         GROUP BY window_start, window_end, window_time;",
    );
    // Grouping by it adds no key: it follows from the window's end.
    assert!(plan.window().unwrap().keys.is_empty());
    assert_eq!(
        columns(&plan, "t/expressions"),
        [("__t_out1", "(\"window_end\" - INTERVAL '1' MILLISECOND)")]
    );
    // And so in GROUP BY TUMBLE(...).
    let grouped = plan_of(
        "INSERT INTO t SELECT window_start, window_time, count(*) AS n FROM events \
         GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), window_time;",
    );
    assert_eq!(grouped, plan);
    let err = job(
        "CREATE TABLE t WITH ('output-mode' = 'update');",
        "INSERT INTO t SELECT user_id, window_time, count(*) AS n FROM events GROUP BY user_id;",
    )
    .unwrap_err();
    assert!(err.contains("no window to select"), "{err}");
}

/// Windows that start past the epoch: Flink's TUMBLE and HOP offset, Spark's startTime
/// (negative too, taken modulo the period).
#[test]
fn an_offset_starts_tumbling_and_sliding_windows_past_the_epoch() {
    let offset = |group_by: &str, from: &str| -> Result<std::time::Duration, String> {
        let plan = super::job(
            "",
            &format!(
                "INSERT INTO t SELECT window_start, count(*) AS n FROM {from} GROUP BY {group_by};"
            ),
        )?
        .queries
        .unwrap()
        .plan;
        Ok(plan.windows().next().expect("a window").offset)
    };
    let minutes = |m: u64| std::time::Duration::from_secs(60 * m);
    assert_eq!(
        offset(
            "TUMBLE(ts, INTERVAL '1' HOUR, INTERVAL '15' MINUTE)",
            "events"
        ),
        Ok(minutes(15))
    );
    assert_eq!(
        offset(
            "TUMBLE(ts, INTERVAL '1' HOUR, INTERVAL '75' MINUTE)",
            "events"
        ),
        Ok(minutes(15)),
        "modulo the period"
    );
    assert_eq!(
        offset("window(ts, '1 day', '1 day', '-8 hours')", "events"),
        Ok(minutes(16 * 60)),
        "Spark's negative start time"
    );
    assert_eq!(
        offset(
            "HOP(ts, INTERVAL '1' MINUTE, INTERVAL '5' MINUTE, INTERVAL '0' SECOND)",
            "events"
        ),
        Ok(minutes(0))
    );
    assert_eq!(
        offset(
            "window_start, window_end",
            "TABLE(HOP(TABLE events, DESCRIPTOR(ts), INTERVAL '2' MINUTE, INTERVAL '6' MINUTE, \
             INTERVAL '-30' SECOND))"
        ),
        Ok(std::time::Duration::from_secs(90))
    );
    for (group_by, from, expected) in [
        (
            "SESSION(ts, INTERVAL '1' MINUTE, INTERVAL '1' SECOND)",
            "events",
            "SESSION(ts",
        ),
        (
            "window_start, window_end",
            "TABLE(CUMULATE(TABLE events, DESCRIPTOR(ts), INTERVAL '1' MINUTE, INTERVAL '5' \
             MINUTE, INTERVAL '1' SECOND))",
            "a window TVF is",
        ),
    ] {
        let err = offset(group_by, from).unwrap_err();
        assert!(err.contains(expected), "{group_by} {from}: {err}");
    }
}

#[test]
fn spark_s_window_and_session_window_columns_are_structs_of_start_and_end() {
    for (group, column) in [
        ("window(ts, '1 minute')", "window"),
        ("session_window(ts, '1 minute')", "session_window"),
    ] {
        let plan = plan_of(&format!(
            "INSERT INTO t SELECT {column}, user_id, count(*) AS n FROM events \
             GROUP BY {group}, user_id;"
        ));
        assert_eq!(
            columns(&plan, "t/expressions"),
            [(
                "__t_out0",
                "named_struct('start', \"window_start\", 'end', \"window_end\")"
            )],
            "{group}"
        );
        assert_eq!(
            columns(&plan, "t/select"),
            [
                (column, "\"__t_out0\""),
                ("user_id", "\"user_id\""),
                ("n", "\"n\"")
            ],
            "{group}"
        );
    }
    // Without a window there is none to select; a column named `window` stays a column.
    let err = job(
        "CREATE TABLE t WITH ('output-mode' = 'update');",
        "INSERT INTO t SELECT window, count(*) AS n FROM events GROUP BY user_id;",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("no window to select"), "{err}");
}

#[test]
fn an_insert_s_column_list_names_the_select_list_s_items_in_order() {
    let plan =
        plan_of("INSERT INTO t (who, doubled) SELECT user_id, v * 2 AS w FROM events WHERE v > 1;");
    assert_eq!(
        columns(&plan, "t/select"),
        [("who", "user_id"), ("doubled", "v * 2")]
    );
    // In a windowed query, and in each branch of a UNION ALL.
    let plan = plan_of(
        "INSERT INTO t (ws, who, n) SELECT window_start, user_id, count(*) AS c FROM events \
         GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), user_id \
         UNION ALL SELECT window_start, user_id, count(*) FROM events \
         GROUP BY TUMBLE(ts, INTERVAL '5' MINUTE), user_id;",
    );
    for part in ["t.part1", "t.part2"] {
        let names: Vec<&str> = columns(&plan, &format!("{part}/select"))
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["ws", "who", "n"], "{part}");
    }
    for (query, expected) in [
        (
            "INSERT INTO t (a) SELECT * FROM events;",
            "INSERT INTO t (columns) SELECT *",
        ),
        (
            "INSERT INTO t (a, b) SELECT user_id FROM events;",
            "names 2 columns, and the query selects 1",
        ),
    ] {
        let err = job("", query).unwrap_err().to_string();
        assert!(err.contains(expected), "{query}: {err}");
    }
}

/// Spark's dynamic session gap: an expression of the row, computed before the window
/// (its failures dead letters) into the column the window reads each row's gap from.
#[test]
fn a_session_gap_may_be_an_expression_of_the_row() {
    let p = plan_of(
        "INSERT INTO t SELECT session_window, user_id, count(*) AS n FROM events GROUP BY \
         session_window(ts, CASE WHEN v > 10 THEN INTERVAL '5' MINUTE ELSE '1 minute' END), \
         user_id;",
    );
    assert_eq!(
        columns(&p, "t/arguments"),
        [(
            "__t_gap",
            "session_gap_us(CAST(CASE WHEN v > 10 THEN INTERVAL '5' MINUTE ELSE '1 minute' END \
             AS INTERVAL))"
        )]
    );
    let OperatorKind::Window(spec) = kind(&p, "t/window") else {
        panic!("no window");
    };
    assert_eq!(spec.gap_column.as_deref(), Some("__t_gap"));
    assert_eq!(
        spec.kind,
        sluice_engine::window::WindowKind::Session {
            gap: std::time::Duration::ZERO
        }
    );
    // A literal gap stays the window's own.
    let p = plan_of(
        "INSERT INTO t SELECT window_start, count(*) AS n FROM events \
         GROUP BY SESSION(ts, INTERVAL '1' MINUTE);",
    );
    let OperatorKind::Window(spec) = kind(&p, "t/window") else {
        panic!("no window");
    };
    assert_eq!(spec.gap_column, None);
    // A malformed literal is still refused at start.
    let err = job(
        "",
        "INSERT INTO t SELECT count(*) AS n FROM events GROUP BY SESSION(ts, 'soon');",
    )
    .unwrap_err();
    assert!(err.contains("SESSION(ts, INTERVAL '30' MINUTE)"), "{err}");
}

/// Spark's `percentile_approx(column, percentage)` (and `approx_percentile`) is a sketch
/// per window; a percentage that is no number from 0 to 1, an accuracy and `median` are
/// refused, naming what to write.
#[test]
fn percentile_approx_keeps_a_sketch_per_window() {
    use sluice_engine::window::Aggregate;

    let p = plan_of(
        "INSERT INTO t SELECT window_start, percentile_approx(v, 0.99) AS p99, \
         approx_percentile(v * 2, 0.5) AS p50 FROM events GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE);",
    );
    let OperatorKind::Window(spec) = kind(&p, "t/window") else {
        panic!("no window");
    };
    assert_eq!(
        spec.aggregates,
        [
            Aggregate {
                name: "p99".into(),
                function: AggregateFn::ApproxPercentile {
                    per_million: 990_000
                },
                column: Some("v".into()),
                by: None,
            },
            Aggregate {
                name: "p50".into(),
                function: AggregateFn::ApproxPercentile {
                    per_million: 500_000
                },
                column: Some("__t_arg0".into()),
                by: None,
            },
        ]
    );
    for (call, expected) in [
        ("percentile_approx(v, 1.5)", "a number from 0 to 1"),
        ("percentile_approx(v, user_id)", "a number from 0 to 1"),
        (
            "percentile_approx(v, 0.5, 10000)",
            "the sketch's accuracy is fixed",
        ),
        ("median(v)", "percentile_approx(column, 0.5)"),
    ] {
        let err = job(
            "",
            &format!(
                "INSERT INTO t SELECT window_start, {call} AS x FROM events \
                 GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE);"
            ),
        )
        .unwrap_err();
        assert!(err.contains(expected), "{call}: {err}");
    }
}

/// Spark's `percentile_approx(c, array(0.5, 0.9))` (or `ARRAY[...]`) is the array of one
/// percentile per percentage, each an aggregate of its own.
#[test]
fn an_array_of_percentages_gives_an_array_of_percentiles() {
    for percentages in ["array(0.5, 0.9)", "ARRAY[0.5, 0.9]"] {
        let p = plan_of(&format!(
            "INSERT INTO t SELECT window_start, percentile_approx(v, {percentages}) AS ps \
             FROM events GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE);"
        ));
        let OperatorKind::Window(spec) = kind(&p, "t/window") else {
            panic!("no window");
        };
        let functions: Vec<AggregateFn> = spec.aggregates.iter().map(|a| a.function).collect();
        assert_eq!(
            functions,
            [
                AggregateFn::ApproxPercentile {
                    per_million: 500_000
                },
                AggregateFn::ApproxPercentile {
                    per_million: 900_000
                }
            ],
            "{percentages}"
        );
    }
}
