//! The lowering of joins with lookup tables (Spark's stream–static join, Flink's lookup
//! join): keys, the joined rows' names, and what is refused.

use sluice_engine::plan::OperatorKind;

use super::joins::joined;

/// A lookup table: a Delta table read whole, not as a stream.
const DIM: &str = "CREATE TABLE dim (id BIGINT, tier STRING, v DOUBLE) WITH ('connector' = \
     'delta', 'path' = '/lake/dim', 'lookup' = 'broadcast');\n";

/// A stream joined with a lookup table is the plan's table join, by the keys of `ON`
/// (named otherwise on each side, or alike), adding the table's other columns; the job
/// loads the table under its name; a window over the joined rows keeps the stream's
/// event time and watermark.
#[test]
fn a_stream_joined_with_a_lookup_table_is_a_table_join() {
    let config = joined(&format!(
        "{DIM}INSERT INTO t SELECT x.id, x.k, d.tier FROM a AS x LEFT JOIN dim AS d \
         ON x.id = d.id WHERE d.v > 1;"
    ))
    .unwrap();
    assert_eq!(config.joins.len(), 1);
    assert_eq!(config.joins[0].name, "dim");
    assert_eq!(
        config.joins[0]
            .table
            .delta
            .as_ref()
            .map(|d| d.path.as_str()),
        Some("/lake/dim")
    );
    let plan = config.queries.unwrap().plan;
    assert_eq!(plan.other_sources, ["b"]);
    let OperatorKind::Join(spec) = &plan.operators[0].kind else {
        panic!("{:?}", plan.operators);
    };
    assert_eq!(
        (
            plan.operators[0].name.as_str(),
            plan.operators[0].input.as_str()
        ),
        ("t/d", "a")
    );
    assert_eq!(spec.name, "dim");
    assert_eq!(
        (spec.keys.as_slice(), spec.table_keys.as_slice()),
        (&["id".to_owned()][..], &[][..])
    );
    assert_eq!(spec.columns, ["tier", "v"]);
    assert_eq!(spec.kind, sluice_engine::join::JoinKind::Left);
    let OperatorKind::Filter { predicate } = &plan.operators[1].kind else {
        panic!("{:?}", plan.operators);
    };
    assert_eq!(predicate, "v > 1");

    // Keys named otherwise, an inner join whose table key reads as the stream's, and a
    // window over the joined rows.
    let config = joined(&format!(
        "{DIM}INSERT INTO t SELECT window_start, d.tier, count(*) AS n, max(d.v) AS top \
         FROM a AS x JOIN dim AS d ON d.tier = x.k GROUP BY TUMBLE(x.ts, INTERVAL '1' \
         MINUTE), d.tier;"
    ))
    .unwrap();
    let plan = config.queries.unwrap().plan;
    let OperatorKind::Join(spec) = &plan.operators[0].kind else {
        panic!("{:?}", plan.operators);
    };
    assert_eq!(
        (spec.keys.as_slice(), spec.table_keys.as_slice()),
        (&["k".to_owned()][..], &["tier".to_owned()][..])
    );
    assert_eq!(spec.columns, ["v"]);
    let window = plan.window().unwrap();
    assert_eq!(window.time_column, "ts");
    let select = plan.operators.last().unwrap();
    let OperatorKind::Project { columns, .. } = &select.kind else {
        panic!("{:?}", plan.operators);
    };
    assert_eq!(columns[1].0, "tier", "a selected table key keeps its name");
    assert_eq!(window.keys, ["k"]);
    assert_eq!(window.watermark_from.as_deref(), Some("a"));
}

/// Flink's lookup join, `FOR SYSTEM_TIME AS OF` the row's processing time, is the same
/// join of a lookup table; of a table read as a stream (Flink's temporal join) it is
/// refused.
#[test]
fn flink_s_for_system_time_as_of_reads_a_lookup_table() {
    let plain = joined(&format!(
        "{DIM}INSERT INTO t SELECT x.id, d.tier FROM a AS x JOIN dim AS d ON x.id = d.id;"
    ))
    .unwrap();
    let flink = joined(&format!(
        "{DIM}INSERT INTO t SELECT x.id, d.tier FROM a AS x JOIN dim \
         FOR SYSTEM_TIME AS OF x.ts AS d ON x.id = d.id;"
    ))
    .unwrap();
    assert_eq!(flink.queries.unwrap().plan, plain.queries.unwrap().plan);
    let err = joined(
        "INSERT INTO t SELECT x.id, y.v FROM a AS x JOIN b FOR SYSTEM_TIME AS OF x.ts AS y \
         ON x.id = y.id;",
    )
    .unwrap_err();
    assert!(err.contains("of a table read as a stream"), "{err}");
}

/// Conditions of `ON` besides its keys: those on the table's columns alone choose the table
/// rows that join (the join's table filter, in any kind of join); in an inner join, the
/// others filter the joined rows, after the WHERE of the query.
#[test]
fn conditions_of_on_filter_the_table_or_the_joined_rows() {
    let config = joined(&format!(
        "{DIM}INSERT INTO t SELECT x.id, d.tier FROM a AS x LEFT JOIN dim AS d \
         ON x.id = d.id AND d.v > 1 AND (d.tier <> 'gold' OR d.tier IS NULL) WHERE x.k > 0;"
    ))
    .unwrap();
    let plan = config.queries.unwrap().plan;
    let OperatorKind::Join(spec) = &plan.operators[0].kind else {
        panic!("{:?}", plan.operators);
    };
    assert_eq!(
        spec.table_filter.as_deref(),
        Some("(v > 1) AND (tier <> 'gold' OR tier IS NULL)")
    );
    assert_eq!(spec.keys, ["id"]);
    let OperatorKind::Filter { predicate } = &plan.operators[1].kind else {
        panic!("{:?}", plan.operators);
    };
    assert_eq!(predicate, "k > 0");

    // An inner join's conditions on the stream's columns, or on both sides', filter the
    // joined rows; its table key reads as the stream's.
    let config = joined(&format!(
        "{DIM}INSERT INTO t SELECT x.id, d.tier FROM a AS x JOIN dim AS d \
         ON d.id = x.id AND x.k > 1 AND d.v < x.k + d.id;"
    ))
    .unwrap();
    let plan = config.queries.unwrap().plan;
    let OperatorKind::Join(spec) = &plan.operators[0].kind else {
        panic!("{:?}", plan.operators);
    };
    assert_eq!(spec.table_filter, None);
    let OperatorKind::Filter { predicate } = &plan.operators[1].kind else {
        panic!("{:?}", plan.operators);
    };
    assert_eq!(predicate, "(k > 1) AND (v < k + id)");
}

/// A table column named like a stream column is read qualified: it is added under another
/// name, and a select item of it alone keeps its own.
#[test]
fn a_table_column_named_like_a_stream_column_is_added_under_another_name() {
    let dim = "CREATE TABLE codes (code STRING, k STRING, ts TIMESTAMP) WITH \
         ('connector' = 'delta', 'path' = '/lake/codes', 'lookup' = 'keyed');\n";
    let config = joined(&format!(
        "{dim}INSERT INTO t SELECT x.id, x.k, c.k AS code_k, c.ts FROM a AS x \
         LEFT JOIN codes AS c ON x.k = c.code WHERE c.k <> 'z' OR c.ts > x.ts;"
    ))
    .unwrap();
    let plan = config.queries.unwrap().plan;
    let OperatorKind::Join(spec) = &plan.operators[0].kind else {
        panic!("{:?}", plan.operators);
    };
    assert_eq!(
        spec.renamed.iter().collect::<Vec<_>>(),
        [
            (&"k".to_owned(), &"c_k".to_owned()),
            (&"ts".to_owned(), &"c_ts".to_owned())
        ]
    );
    assert_eq!(spec.columns, ["k", "ts"]);
    let OperatorKind::Filter { predicate } = &plan.operators[1].kind else {
        panic!("{:?}", plan.operators);
    };
    assert_eq!(predicate, "c_k <> 'z' OR c_ts > ts");
    let OperatorKind::Project { columns, .. } = &plan.operators[2].kind else {
        panic!("{:?}", plan.operators);
    };
    let names: Vec<(&str, &str)> = columns
        .iter()
        .map(|(n, e)| (n.as_str(), e.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("id", "\"id\""),
            ("k", "\"k\""),
            ("code_k", "c_k"),
            ("ts", "c_ts")
        ]
    );
    assert!(
        plan.explain()
            .contains("adding its k as c_k, its ts as c_ts"),
        "{}",
        plan.explain()
    );
    // Unqualified, the name is ambiguous.
    let err = joined(&format!(
        "{dim}INSERT INTO t SELECT x.id, k FROM a AS x JOIN codes AS c ON x.k = c.code;"
    ))
    .unwrap_err();
    assert!(err.contains("`k` is a column of both sides"), "{err}");
}

/// A `LEFT` (or `LEFT ANTI`) lookup join's `ON` condition on the stream's columns alone
/// chooses the stream rows that may match: the others' keys are joined as nulls, from a
/// hidden column dropped after the join.
#[test]
fn a_left_lookup_join_s_stream_conditions_null_the_keys_of_the_rows_they_fail() {
    for join in ["LEFT JOIN", "LEFT ANTI JOIN"] {
        let plan = joined(&format!(
            "{DIM}INSERT INTO t SELECT x.id FROM a AS x {join} dim AS d \
             ON x.id = d.id AND x.k > 'm' AND d.v > 0;"
        ))
        .unwrap()
        .queries
        .unwrap()
        .plan;
        let kinds: Vec<(&str, &str)> = plan
            .operators
            .iter()
            .map(|o| (o.name.as_str(), o.input.as_str()))
            .collect();
        assert_eq!(
            kinds[..3],
            [("t/d-on", "a"), ("t/d", "t/d-on"), ("t/d-joined", "t/d")],
            "{join}"
        );
        let OperatorKind::Project { columns, .. } = &plan.operators[0].kind else {
            panic!("{:?}", plan.operators[0]);
        };
        assert_eq!(
            columns,
            &[(
                "__d_key0".to_owned(),
                "CASE WHEN k > 'm' THEN \"id\" END".to_owned()
            )]
        );
        let OperatorKind::Join(spec) = &plan.operators[1].kind else {
            panic!("{:?}", plan.operators[1]);
        };
        assert_eq!(
            (spec.keys.as_slice(), spec.table_keys.as_slice()),
            (&["__d_key0".to_owned()][..], &["id".to_owned()][..])
        );
        assert_eq!(spec.table_filter.as_deref(), Some("v > 0"));
        let OperatorKind::Project { drop, .. } = &plan.operators[2].kind else {
            panic!("{:?}", plan.operators[2]);
        };
        assert_eq!(drop, &["__d_key0"]);
    }
}

/// What a lookup join cannot do is refused, naming it.
#[test]
fn lookup_joins_that_cannot_run_are_refused() {
    let cases = [
        ("INSERT INTO t SELECT id, tier FROM dim;", "a lookup table"),
        (
            "INSERT INTO t SELECT x.id FROM a AS x JOIN dim AS d ON x.id > d.id;",
            "of a lookup join, without a key",
        ),
        (
            "INSERT INTO t SELECT x.id FROM a AS x LEFT JOIN dim AS d \
             ON x.id = d.id AND x.k > d.tier;",
            "`x.k > d.tier` in the ON of a Left lookup join",
        ),
        (
            "INSERT INTO t SELECT x.id FROM a AS x LEFT ANTI JOIN dim AS d \
             ON x.id = d.id AND d.v > x.k;",
            "`d.v > x.k` in the ON of a LeftAnti lookup join",
        ),
        (
            "INSERT INTO t SELECT x.id FROM a AS x JOIN dim AS d ON x.id = d.id AND e.v > 1;",
            "no side of the join goes by `e`",
        ),
        (
            "INSERT INTO t SELECT x.id, d.id AS did FROM a AS x LEFT JOIN dim AS d ON x.id = d.id;",
            "a key of the lookup table in a Left join",
        ),
        (
            "INSERT INTO t SELECT x.id, d.tier FROM a AS x LEFT ANTI JOIN dim AS d ON x.id = d.id;",
            "without the table's columns",
        ),
        (
            "INSERT INTO t SELECT x.id FROM a AS x RIGHT JOIN dim AS d ON x.id = d.id;",
            "INNER, LEFT [OUTER] or LEFT ANTI JOIN",
        ),
    ];
    for (query, expected) in cases {
        let err = joined(&format!("{DIM}{query}")).unwrap_err();
        assert!(err.contains(expected), "{query}: {err}");
    }
    for (options, expected) in [
        (
            "'connector' = 'delta', 'path' = '/d', 'lookup' = 'sometimes'",
            "'broadcast'",
        ),
        (
            "'connector' = 'files', 'path' = '/d', 'format' = 'json', 'lookup' = 'follow'",
            "only a Delta table has versions to follow",
        ),
        (
            "'connector' = 'kafka', 'topic' = 'd', 'lookup' = 'keyed'",
            "a lookup table is a Delta table",
        ),
    ] {
        let err = joined(&format!(
            "CREATE TABLE dim (id BIGINT, tier STRING) WITH ({options});\n\
             INSERT INTO t SELECT x.id, d.tier FROM a AS x JOIN dim AS d ON x.id = d.id;"
        ))
        .unwrap_err();
        assert!(err.contains(expected), "{options}: {err}");
    }
}
