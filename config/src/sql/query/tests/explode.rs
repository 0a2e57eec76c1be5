//! Spark's `explode` and Flink's `CROSS JOIN UNNEST`, lowered to an unnest between the
//! source's rows and the select list, and what is refused.

use sluice_engine::plan::{OperatorKind, Plan};
use sluice_engine::unnest::{Position, UnnestSpec};

use super::{job, plan};

/// Each operator's kind, and the unnest's spec.
fn shape(plan: &Plan) -> (Vec<&str>, UnnestSpec) {
    let kinds = plan.operators.iter().map(|o| o.kind.kind_name()).collect();
    let spec = plan
        .operators
        .iter()
        .find_map(|o| match &o.kind {
            OperatorKind::Unnest(spec) => Some(spec.clone()),
            _ => None,
        })
        .expect("an unnest");
    (kinds, spec)
}

fn unnest(column: &str, element: &str, outer: bool) -> UnnestSpec {
    UnnestSpec {
        column: column.into(),
        element: element.into(),
        outer,
        position: None,
        fields: None,
    }
}

fn numbered(spec: UnnestSpec, name: &str, first: i32) -> UnnestSpec {
    UnnestSpec {
        position: Some(Position {
            name: name.into(),
            first,
        }),
        ..spec
    }
}

fn select_items(plan: &Plan) -> Vec<String> {
    match &plan.operators.last().unwrap().kind {
        OperatorKind::Project { columns, .. } => columns.iter().map(|(n, _)| n.clone()).collect(),
        other => panic!("ends in {other:?}"),
    }
}

#[test]
fn spark_s_explode_unnests_a_column_or_a_computed_array_before_the_select_list() {
    let p = plan("INSERT INTO t SELECT ts, explode(user_id) AS tag FROM events;");
    assert_eq!(
        shape(&p),
        (vec!["unnest", "project"], unnest("user_id", "tag", false))
    );
    assert_eq!(select_items(&p), ["ts", "tag"]);

    // A computed array is a hidden column, dropped after the unnest; WHERE runs first.
    let p = plan(
        "INSERT INTO t SELECT ts, explode_outer(split(user_id, ',')) FROM events \
         WHERE v > 1;",
    );
    assert_eq!(
        shape(&p),
        (
            vec!["filter", "project", "unnest", "project", "project"],
            unnest("__t_array", "col", true)
        )
    );
    assert_eq!(p.operators[1].name, "t/explode-array");
    match &p.operators[3].kind {
        OperatorKind::Project { drop, .. } => assert_eq!(drop, &["__t_array"]),
        other => panic!("{other:?}"),
    }
    assert_eq!(select_items(&p), ["ts", "col"]);

    // After `*`, the element is the last column already.
    let p = plan("INSERT INTO t SELECT *, explode(user_id) AS tag FROM events;");
    assert_eq!(shape(&p), (vec!["unnest"], unnest("user_id", "tag", false)));
}

#[test]
fn flink_s_cross_join_unnest_unnests_before_where() {
    let p = plan(
        "INSERT INTO t SELECT e.ts, u.tag FROM events AS e \
         CROSS JOIN UNNEST(split(e.user_id, ',')) AS u (tag) WHERE u.tag <> '';",
    );
    assert_eq!(
        shape(&p),
        (
            vec!["project", "unnest", "project", "filter", "project"],
            unnest("__t_array", "tag", false)
        )
    );
    match &p.operators[0].kind {
        OperatorKind::Project { columns, .. } => {
            assert_eq!(columns[0].1, "split(user_id, ',')");
        }
        other => panic!("{other:?}"),
    }
    match &p.operators[3].kind {
        OperatorKind::Filter { predicate } => assert_eq!(predicate, "tag <> ''"),
        other => panic!("{other:?}"),
    }
    let p = plan(
        "INSERT INTO t SELECT ts, tag FROM events LEFT JOIN UNNEST(user_id) AS u (tag) \
         ON TRUE;",
    );
    assert_eq!(
        shape(&p),
        (vec!["unnest", "project"], unnest("user_id", "tag", true))
    );
    let p = plan("INSERT INTO t SELECT ts, tag FROM events, UNNEST(user_id) AS u (tag);");
    assert_eq!(shape(&p).1, unnest("user_id", "tag", false));
    // An unnest's rows aggregated in windows.
    let p = plan(
        "INSERT INTO t SELECT window_start, tag, count(*) AS n FROM (SELECT ts, tag \
         FROM events CROSS JOIN UNNEST(user_id) AS u (tag)) \
         GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), tag;",
    );
    assert!(shape(&p).0.contains(&"window"), "{:?}", shape(&p).0);
}

#[test]
fn positions_count_from_0_in_spark_s_posexplode_and_from_1_with_ordinality() {
    let p = plan("INSERT INTO t SELECT ts, posexplode_outer(user_id) FROM events;");
    assert_eq!(
        shape(&p),
        (
            vec!["unnest", "project"],
            numbered(unnest("user_id", "col", true), "pos", 0)
        )
    );
    assert_eq!(select_items(&p), ["ts", "pos", "col"]);
    let p = plan(
        "INSERT INTO t SELECT ts, x, n FROM events CROSS JOIN UNNEST(user_id) \
         WITH ORDINALITY AS u (x, n);",
    );
    assert_eq!(shape(&p).1, numbered(unnest("user_id", "x", false), "n", 1));
}

#[test]
fn what_spark_and_flink_refuse_is_refused_with_what_to_write() {
    let refused = |query: &str, expected: &str| {
        let err = job("", query).unwrap_err();
        assert!(err.contains(expected), "{query}: {err}");
    };
    refused(
        "INSERT INTO t SELECT explode(user_id) AS a, explode(user_id) AS b FROM events;",
        "two explodes in one select list",
    );
    refused(
        "INSERT INTO t SELECT upper(explode(user_id)) AS a FROM events;",
        "inside `upper(explode(user_id))`",
    );
    refused(
        "INSERT INTO t SELECT window_start, explode(user_id) AS a, count(*) AS n FROM events \
         GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), user_id;",
        "explode beside an aggregate",
    );
    refused(
        "INSERT INTO t SELECT inline(user_id) FROM events;",
        "`inline(user_id)` of what is no array of structs of a source table's columns",
    );
    refused(
        "INSERT INTO t SELECT posexplode(user_id) AS x FROM events;",
        "posexplode gives two columns",
    );
    refused(
        "INSERT INTO t SELECT ts, x FROM events CROSS JOIN UNNEST(user_id) WITH ORDINALITY \
         AS u (x);",
        "WITH ORDINALITY without two names",
    );
    refused(
        "INSERT INTO t SELECT ts FROM events CROSS JOIN UNNEST(user_id);",
        "without a name for its element",
    );
    refused(
        "INSERT INTO t SELECT ts, x FROM events JOIN UNNEST(user_id) AS u (x) ON x = 'a';",
        "a join with UNNEST other than CROSS JOIN",
    );
}

/// The plan of `query` over a source with an array of structs (`lines`).
fn orders_plan(query: &str) -> Result<Plan, String> {
    let source = "CREATE TABLE orders (id BIGINT, ts TIMESTAMP NOT NULL, \
                  lines ARRAY<STRUCT<sku STRING, qty INT>>, tags ARRAY<STRING>, note STRING, \
                  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND) \
                  WITH ('connector' = 'generator', 'format' = 'json');";
    crate::sql::SqlJob::from_sql_with(&format!("{source}\n{query}"), "t.sql", "t", &[])
        .map(|job| job.queries.unwrap().plan)
        .map_err(|e| e.to_string())
}

fn fields(spec: UnnestSpec, names: &[&str]) -> UnnestSpec {
    UnnestSpec {
        fields: Some(names.iter().map(|n| (*n).to_owned()).collect()),
        ..spec
    }
}

#[test]
fn struct_elements_become_columns_with_spark_s_inline_and_flink_s_names() {
    // Spark's inline: the fields named as the column's declared type names them.
    let p = orders_plan("INSERT INTO t SELECT id, inline(lines), ts FROM orders;").unwrap();
    assert_eq!(
        shape(&p),
        (
            vec!["unnest", "project"],
            fields(unnest("lines", "col", false), &["sku", "qty"])
        )
    );
    assert_eq!(select_items(&p), ["id", "sku", "qty", "ts"]);
    let p = orders_plan("INSERT INTO t SELECT *, inline_outer(lines) FROM orders;").unwrap();
    assert_eq!(
        shape(&p),
        (
            vec!["unnest"],
            fields(unnest("lines", "col", true), &["sku", "qty"])
        )
    );
    // Flink's unnest of an array of rows: a name per field, then the ordinal's.
    let p = orders_plan(
        "INSERT INTO t SELECT id, l.sku, qty FROM orders CROSS JOIN UNNEST(lines) AS l (sku, qty);",
    )
    .unwrap();
    assert_eq!(
        shape(&p).1,
        fields(unnest("lines", "", false), &["sku", "qty"])
    );
    assert_eq!(select_items(&p), ["id", "sku", "qty"]);
    let p = orders_plan(
        "INSERT INTO t SELECT id, s, n FROM orders \
         LEFT JOIN UNNEST(lines) WITH ORDINALITY AS l (s, q, n) ON TRUE;",
    )
    .unwrap();
    assert_eq!(
        shape(&p).1,
        numbered(fields(unnest("lines", "", true), &["s", "q"]), "n", 1)
    );

    // Spark's inline of an expression of the source's columns typed an array of structs:
    // its fields as the expression's type names them.
    let p = orders_plan(
        "INSERT INTO t SELECT id, inline(from_json(note, 'array<struct<code:string,n:int>>')) \
         FROM orders;",
    )
    .unwrap();
    let (_, spec) = shape(&p);
    assert_eq!(spec.fields, Some(vec!["code".to_owned(), "n".to_owned()]));
    assert_eq!(select_items(&p), ["id", "code", "n"]);

    for (query, expected) in [
        (
            "INSERT INTO t SELECT inline(tags) FROM orders;",
            "`inline(tags)` of what is no array of structs of a source table's columns",
        ),
        (
            "INSERT INTO t SELECT inline(lines) AS x FROM orders;",
            "`inline(lines)` with a name",
        ),
        (
            "INSERT INTO t SELECT inline(lines) FROM (SELECT lines FROM orders);",
            "of what is no array of structs of a source table's columns",
        ),
    ] {
        let err = orders_plan(query).unwrap_err();
        assert!(err.contains(expected), "{query}: {err}");
    }
}
