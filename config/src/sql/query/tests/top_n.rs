//! Window Top-N: the ranking subquery's forms, each lowered operator by operator.

use sluice_engine::plan::{OperatorKind, Plan};
use sluice_engine::top_n::{Ranking, SortKey, TopNSpec};

use super::{job, plan};

const WINDOWS: &str = "SELECT user_id, count(*) AS n, max(v) AS top, window_start AS ws, \
                       window_end AS we FROM events \
                       GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), user_id";

fn kinds(plan: &Plan) -> Vec<&str> {
    plan.operators.iter().map(|o| o.kind.kind_name()).collect()
}

fn top_n(plan: &Plan) -> &TopNSpec {
    plan.operators
        .iter()
        .find_map(|o| match &o.kind {
            OperatorKind::TopN(spec) => Some(spec),
            _ => None,
        })
        .expect("a top-n")
}

fn refused(query: &str, expected: &str) {
    let err = job("", query).unwrap_err();
    assert!(err.contains(expected), "{query}: {err}");
}

#[test]
fn a_ranked_window_subquery_kept_at_its_first_ranks_is_a_window_top_n() {
    let plan = plan(&format!(
        "INSERT INTO t SELECT user_id, n FROM (SELECT *, RANK() OVER (PARTITION BY \
         ws, we ORDER BY n DESC) AS rk FROM ({WINDOWS})) WHERE rk <= 3 AND n > 1;"
    ));
    assert_eq!(
        kinds(&plan),
        ["window", "project", "top-n", "filter", "project"]
    );
    let spec = top_n(&plan);
    assert_eq!(spec.partition_by, ["ws", "we"]);
    assert_eq!(spec.order_by, [SortKey::descending("n")]);
    assert_eq!(spec.ranking, Ranking::Rank);
    assert_eq!(spec.limit, 3);
    assert_eq!(spec.rank_column.as_deref(), Some("rk"));
    refused(
        &format!(
            "INSERT INTO t SELECT user_id FROM (SELECT *, RANK() OVER (PARTITION BY user_id \
             ORDER BY n DESC) AS rk FROM ({WINDOWS})) WHERE rk = 1;"
        ),
        "partition by the window's start and end",
    );
    refused(
        &format!(
            "INSERT INTO t SELECT user_id FROM (SELECT *, RANK() OVER (PARTITION BY ws, we \
             ORDER BY n DESC) AS rk FROM ({WINDOWS}));"
        ),
        "keeps the first ranks",
    );
}

/// Flink's documented forms: more partition columns than the window's, several ordering
/// columns each with its direction and nulls, DENSE_RANK, a WHERE before the ranking, the
/// ranking subquery's own columns, and the rank selected.
#[test]
fn rankings_partitions_orders_and_the_rank_column_follow_flink_s_window_top_n() {
    let windows = "SELECT user_id, upper(user_id) AS who, count(*) AS n, max(v) AS top, \
                   window_start AS ws, window_end AS we FROM events \
                   GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE), user_id";
    let plan = plan(&format!(
        "INSERT INTO t SELECT * FROM (SELECT ws, we, user_id, n AS num, \
         DENSE_RANK() OVER (PARTITION BY ws, we, who ORDER BY n DESC, top ASC NULLS FIRST) \
         AS rk FROM ({windows}) WHERE n > 1) WHERE rk <= 2;"
    ));
    assert_eq!(
        kinds(&plan),
        ["window", "project", "project", "filter", "top-n", "project"],
        "{plan:?}"
    );
    let spec = top_n(&plan);
    assert_eq!(spec.partition_by, ["ws", "we", "who"]);
    let mut top = SortKey::ascending("top");
    top.nulls_first = true;
    assert_eq!(spec.order_by, [SortKey::descending("n"), top]);
    assert_eq!(spec.ranking, Ranking::DenseRank);
    assert_eq!(spec.limit, 2);
    let names = |o: &OperatorKind| match o {
        OperatorKind::Project { columns, .. } => {
            columns.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>()
        }
        OperatorKind::Filter { predicate } => vec![predicate.clone()],
        _ => Vec::new(),
    };
    assert_eq!(
        names(&plan.operators[3].kind),
        ["n > 1"],
        "before the ranking"
    );
    assert_eq!(
        names(&plan.operators[5].kind),
        ["ws", "we", "user_id", "num", "rk"],
        "the ranking subquery's columns, the rank among them, after the ranking"
    );
    assert_eq!(
        plan.operators.len(),
        6,
        "SELECT * keeps them all, the rank too"
    );
}

#[test]
fn the_outer_where_sets_the_limit_and_filters_the_ranks_it_does_not_imply() {
    let query = |condition: &str| {
        format!(
            "INSERT INTO t SELECT user_id, rk FROM (SELECT *, ROW_NUMBER() OVER (PARTITION \
             BY ws, we ORDER BY n DESC, user_id) AS rk FROM ({WINDOWS})) WHERE {condition};"
        )
    };
    for (condition, limit, filter) in [
        ("rk <= 3", 3, None),
        ("rk < 3", 2, None),
        ("3 >= rk", 3, None),
        ("rk = 1", 1, None),
        ("rk = 2", 2, Some("rk = 2")),
        ("rk BETWEEN 2 AND 4", 4, Some("rk BETWEEN 2 AND 4")),
        ("rk BETWEEN 1 AND 4", 4, None),
        ("rk <= 5 AND rk <= 2 AND n > 1", 2, Some("n > 1")),
    ] {
        let plan = plan(&query(condition));
        let spec = top_n(&plan);
        assert_eq!(spec.limit, limit, "{condition}");
        assert_eq!(spec.ranking, Ranking::RowNumber);
        let filters: Vec<&str> = plan
            .operators
            .iter()
            .filter_map(|o| match &o.kind {
                OperatorKind::Filter { predicate } => Some(predicate.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            filters,
            filter.into_iter().collect::<Vec<_>>(),
            "{condition}"
        );
    }
    refused(&query("rk <= 3 OR n > 1"), "keeps the first ranks");
    refused(&query("rk > 1"), "keeps the first ranks");
    refused(&query("rk < 1"), "keeps none");
}

#[test]
fn forms_a_top_n_does_not_run_are_refused_by_name() {
    let ranked = |select: &str| {
        format!("INSERT INTO t SELECT user_id FROM ({select} FROM ({WINDOWS})) WHERE rk <= 3;")
    };
    refused(
        &ranked("SELECT *, RANK() OVER (PARTITION BY ws, we ORDER BY upper(user_id)) AS rk"),
        "ORDER BY upper(user_id)",
    );
    refused(
        &ranked("SELECT *, RANK() OVER (PARTITION BY ws, we, upper(user_id) ORDER BY n) AS rk"),
        "PARTITION BY upper(user_id)",
    );
    refused(
        &ranked(
            "SELECT *, RANK() OVER (PARTITION BY ws, we ORDER BY n ROWS BETWEEN UNBOUNDED \
             PRECEDING AND CURRENT ROW) AS rk",
        ),
        "a ranking has no frame",
    );
    refused(
        &ranked("SELECT *, n * 2 AS twice, RANK() OVER (PARTITION BY ws, we ORDER BY n) AS rk"),
        "`*` with other columns",
    );
    refused(
        &ranked(
            "SELECT *, RANK() OVER (PARTITION BY ws, we ORDER BY n) AS rk, ROW_NUMBER() OVER \
             (PARTITION BY ws, we ORDER BY n) AS rn",
        ),
        "two ranking columns",
    );
    refused(
        &ranked("SELECT *, ntile(4) OVER (PARTITION BY ws, we ORDER BY n) AS rk"),
        "a window Top-N is",
    );
}

/// A window TVF's own rows, ranked per window: the assignment, then a window Top-N that
/// keeps each window's first ranks until the source's watermark closes it.
#[test]
fn a_window_tvf_s_rows_are_ranked_by_a_window_top_n() {
    let p = plan(
        "INSERT INTO t SELECT user_id, v, rn FROM (SELECT *, ROW_NUMBER() OVER (PARTITION \
         BY window_start, window_end, user_id ORDER BY v DESC) AS rn FROM TABLE(TUMBLE(TABLE \
         events, DESCRIPTOR(ts), INTERVAL '1' MINUTE)) WHERE v > 0) WHERE rn <= 3;",
    );
    let kinds: Vec<&str> = p.operators.iter().map(|o| o.kind.kind_name()).collect();
    assert_eq!(
        kinds,
        ["window-assign", "filter", "window-top-n", "project"]
    );
    let OperatorKind::WindowTopN(spec) = &p.operators[2].kind else {
        panic!("{:?}", p.operators[2].kind);
    };
    assert_eq!(
        (
            spec.top.partition_by.clone(),
            spec.top.order_by.clone(),
            spec.top.limit
        ),
        (
            vec![
                "window_start".to_owned(),
                "window_end".to_owned(),
                "user_id".to_owned()
            ],
            vec![SortKey::descending("v")],
            3
        )
    );
    assert_eq!(spec.top.ranking, Ranking::RowNumber);
    assert_eq!(spec.top.rank_column.as_deref(), Some("rn"));
    assert_eq!(
        (spec.time_column.as_str(), spec.delay),
        ("ts", std::time::Duration::from_secs(60))
    );
    assert_eq!(
        spec.watermark_from.as_deref(),
        Some(p.operators[0].input.as_str())
    );

    for (query, expected) in [
        (
            "INSERT INTO t SELECT * FROM (SELECT *, RANK() OVER (PARTITION BY user_id \
             ORDER BY v) AS rk FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), \
             INTERVAL '1' MINUTE))) WHERE rk <= 1;",
            "partition by the window's start and end",
        ),
        (
            "INSERT INTO t SELECT * FROM (SELECT *, RANK() OVER (PARTITION BY window_start, \
             window_end ORDER BY v) AS rk FROM TABLE(SESSION(TABLE events, DESCRIPTOR(ts), \
             INTERVAL '1' MINUTE))) WHERE rk <= 1;",
            "a SESSION window TVF's rows without an aggregate",
        ),
    ] {
        let err = job("", query).unwrap_err();
        assert!(err.contains(expected), "{query}: {err}");
    }
}

/// A window Top-N over the TVF of a view that filters and projects the source: the
/// view's rows get their windows, and the source's rows, before the view's filter, set
/// the watermark that closes them.
#[test]
fn a_window_tvf_over_a_filtered_view_is_ranked_with_the_source_s_watermark() {
    let p = plan(
        "CREATE VIEW dear AS SELECT user_id, ts, v * 2 AS v2 FROM events WHERE v > 10;\n\
         INSERT INTO t SELECT user_id, v2, rn FROM (SELECT *, ROW_NUMBER() OVER (PARTITION \
         BY window_start, window_end ORDER BY v2 DESC) AS rn FROM TABLE(TUMBLE(TABLE dear, \
         DESCRIPTOR(ts), INTERVAL '1' MINUTE))) WHERE rn <= 3;",
    );
    let kinds: Vec<&str> = p.operators.iter().map(|o| o.kind.kind_name()).collect();
    assert_eq!(
        kinds,
        [
            "filter",
            "project",
            "window-assign",
            "window-top-n",
            "project"
        ]
    );
    assert_eq!(p.operators[2].input, p.operators[1].name);
    let OperatorKind::WindowTopN(spec) = &p.operators[3].kind else {
        panic!("{:?}", p.operators[3].kind);
    };
    assert_eq!(
        spec.watermark_from.as_deref(),
        Some(p.operators[0].input.as_str())
    );
    assert_eq!(spec.delay, std::time::Duration::from_secs(60));
}
