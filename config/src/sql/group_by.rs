//! `GROUP BY` as written, made plain before a query is lowered, at every query level:
//!
//! - a position (`GROUP BY 1, 2`, as Spark, Flink and DuckDB take it) is the select list's
//!   expression at that place;
//! - a key written twice is one key;
//! - `GROUPING SETS`, `ROLLUP` and `CUBE` are refused, naming them;
//! - Flink's group window functions of its older syntax, `TUMBLE_START(ts, size)`,
//!   `TUMBLE_END`, `TUMBLE_ROWTIME` and the `HOP_` and `SESSION_` ones (as Flink's
//!   Nexmark q5 and q7 first wrote them), are `window_start`, `window_end` and
//!   `window_time` of the query's `GROUP BY TUMBLE(ts, size)`, whose arguments they
//!   repeat.

use crate::sql::error::SqlError;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, GroupByExpr, Ident, Query, Select, SelectItem, Value, visit_expressions_mut,
};

use super::query::{function_args, unsupported};

/// Rewrites every query level of `query` (see the [module docs](self)).
///
/// # Errors
/// A grouping set, a position outside the select list, or a group window function that
/// does not match the query's window.
pub(super) fn rewrite(query: &mut Query) -> Result<(), SqlError> {
    super::levels::each_select(query, &mut rewrite_select)
}

fn rewrite_select(select: &mut Select) -> Result<(), SqlError> {
    let GroupByExpr::Expressions(keys, _) = &mut select.group_by else {
        return Ok(());
    };
    let mut plain: Vec<Expr> = Vec::with_capacity(keys.len());
    for key in keys.iter() {
        let key = match key {
            Expr::GroupingSets(_) | Expr::Rollup(_) | Expr::Cube(_) => {
                return Err(unsupported(
                    &format!("GROUP BY {key}"),
                    "grouping sets are not run; write one query per grouping and UNION ALL \
                     them into one table",
                ));
            }
            Expr::Value(v) if matches!(v.value, Value::Number(..)) => {
                position(&select.projection, &v.value.to_string())?
            }
            other => other.clone(),
        };
        if !plain.iter().any(|k| k.to_string() == key.to_string()) {
            plain.push(key);
        }
    }
    *keys = plain;
    let window = keys.iter().find_map(group_window).cloned();
    let mut failed = None;
    let mut replace = |e: &mut Expr| {
        let Some((family, part)) = auxiliary(e) else {
            return ControlFlow::Continue(());
        };
        match rewritten(e, &family, &part, window.as_ref()) {
            Ok(name) => *e = Expr::Identifier(Ident::new(name)),
            Err(message) => {
                failed = Some(message);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    };
    let _ = visit_expressions_mut(&mut select.projection, &mut replace);
    let _ = visit_expressions_mut(&mut select.having, &mut replace);
    failed.map_or(Ok(()), Err)
}

/// The select list's expression at `position` (from 1).
fn position(items: &[SelectItem], position: &str) -> Result<Expr, SqlError> {
    let at = position
        .parse::<usize>()
        .ok()
        .and_then(|p| p.checked_sub(1))
        .and_then(|i| items.get(i));
    match at {
        Some(SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. }) => {
            Ok(e.clone())
        }
        Some(item) => Err(unsupported(
            &format!("GROUP BY {position}"),
            &format!("the select list's item {position} is `{item}`; name the columns"),
        )),
        None => Err(unsupported(
            &format!("GROUP BY {position}"),
            &format!(
                "a position in the select list, which has {} items",
                items.len()
            ),
        )),
    }
}

/// A Flink group window call of `GROUP BY` (`TUMBLE(ts, size)`, `HOP(...)`,
/// `SESSION(...)`).
fn group_window(e: &Expr) -> Option<&Expr> {
    let Expr::Function(f) = e else {
        return None;
    };
    let name = f.name.to_string().to_ascii_lowercase();
    matches!(name.as_str(), "tumble" | "hop" | "session" | "cumulate").then_some(e)
}

/// `("tumble", "start")` for `TUMBLE_START(...)`, and so on.
fn auxiliary(e: &Expr) -> Option<(String, String)> {
    let Expr::Function(f) = e else {
        return None;
    };
    let name = f.name.to_string().to_ascii_lowercase();
    let (family, part) = name.split_once('_')?;
    (matches!(family, "tumble" | "hop" | "session" | "cumulate")
        && matches!(part, "start" | "end" | "rowtime" | "proctime"))
    .then(|| (family.to_owned(), part.to_owned()))
}

/// The window column that `call` (`<family>_<part>(...)`) names, given the query's window.
fn rewritten(
    call: &Expr,
    family: &str,
    part: &str,
    window: Option<&Expr>,
) -> Result<&'static str, SqlError> {
    let Some(Expr::Function(window)) = window else {
        return Err(unsupported(
            &format!("`{call}`"),
            &format!(
                "a group window function reads the window of GROUP BY {}(...); group by it",
                family.to_ascii_uppercase()
            ),
        ));
    };
    let Expr::Function(f) = call else {
        unreachable!("checked by `auxiliary`");
    };
    let text =
        |args| -> Vec<String> { function_args(args).iter().map(|a| a.to_string()).collect() };
    if !window.name.to_string().eq_ignore_ascii_case(family) || text(&f.args) != text(&window.args)
    {
        return Err(unsupported(
            &format!("`{call}`"),
            &format!("its window is not the query's `{window}`: repeat its arguments"),
        ));
    }
    match part {
        "start" => Ok("window_start"),
        "end" => Ok("window_end"),
        "rowtime" => Ok("window_time"),
        _ => Err(unsupported(
            &format!("`{call}`"),
            "processing time is not run: windows are over event time (`*_ROWTIME`)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn rewritten_sql(sql: &str) -> Result<String, SqlError> {
        let mut statements = Parser::parse_sql(&GenericDialect {}, sql).unwrap();
        let datafusion::sql::sqlparser::ast::Statement::Query(query) = &mut statements[0] else {
            panic!("not a query");
        };
        rewrite(query)?;
        Ok(query.to_string())
    }

    #[test]
    fn positions_are_the_select_list_s_expressions_and_repeated_keys_count_once() {
        assert_eq!(
            rewritten_sql("SELECT upper(a) AS u, b, count(*) AS n FROM t GROUP BY 1, b, 2")
                .unwrap(),
            "SELECT upper(a) AS u, b, count(*) AS n FROM t GROUP BY upper(a), b"
        );
        assert_eq!(
            rewritten_sql(
                "SELECT k, n FROM (SELECT k, count(*) AS n FROM t GROUP BY 1) AS s \
                 UNION ALL SELECT a, b FROM u GROUP BY 2, 1"
            )
            .unwrap(),
            "SELECT k, n FROM (SELECT k, count(*) AS n FROM t GROUP BY k) AS s \
             UNION ALL SELECT a, b FROM u GROUP BY b, a"
        );
        let err = rewritten_sql("SELECT a, count(*) FROM t GROUP BY 3").unwrap_err();
        assert!(err.to_string().contains("which has 2 items"), "{err}");
        let err = rewritten_sql("SELECT *, a FROM t GROUP BY 1").unwrap_err();
        assert!(err.to_string().contains("name the columns"), "{err}");
    }

    #[test]
    fn grouping_sets_are_refused_by_name() {
        for keys in ["GROUPING SETS ((a), ())", "ROLLUP (a, b)", "CUBE (a, b)"] {
            let err =
                rewritten_sql(&format!("SELECT a, count(*) FROM t GROUP BY {keys}")).unwrap_err();
            assert!(err.to_string().contains(keys), "{keys}: {err}");
        }
    }

    #[test]
    fn flink_group_window_functions_name_the_query_s_window() {
        assert_eq!(
            rewritten_sql(
                "SELECT auction, HOP_START(ts, INTERVAL '2' SECOND, INTERVAL '10' SECOND) AS s, \
                 hop_end(ts, INTERVAL '2' SECOND, INTERVAL '10' SECOND) AS e, \
                 HOP_ROWTIME(ts, INTERVAL '2' SECOND, INTERVAL '10' SECOND) AS t, count(*) AS n \
                 FROM bid GROUP BY HOP(ts, INTERVAL '2' SECOND, INTERVAL '10' SECOND), auction \
                 HAVING TUMBLE_END(ts, INTERVAL '2' SECOND) IS NOT NULL"
            )
            .unwrap_err(),
            SqlError::Unsupported {
                construct: "`TUMBLE_END(ts, INTERVAL '2' SECOND)`".into(),
                why: "its window is not the query's `HOP(ts, INTERVAL '2' SECOND, INTERVAL \
                      '10' SECOND)`: repeat its arguments"
                    .into()
            }
        );
        assert_eq!(
            rewritten_sql(
                "SELECT auction, HOP_START(ts, INTERVAL '2' SECOND, INTERVAL '10' SECOND) AS s, \
                 hop_end(ts, INTERVAL '2' SECOND, INTERVAL '10' SECOND) AS e, \
                 HOP_ROWTIME(ts, INTERVAL '2' SECOND, INTERVAL '10' SECOND) AS t, count(*) AS n \
                 FROM bid GROUP BY HOP(ts, INTERVAL '2' SECOND, INTERVAL '10' SECOND), auction"
            )
            .unwrap(),
            "SELECT auction, window_start AS s, window_end AS e, window_time AS t, count(*) AS n \
             FROM bid GROUP BY HOP(ts, INTERVAL '2' SECOND, INTERVAL '10' SECOND), auction"
        );
        for (query, expected) in [
            (
                "SELECT TUMBLE_START(ts, INTERVAL '1' MINUTE) AS s FROM t GROUP BY a",
                "group by it",
            ),
            (
                "SELECT TUMBLE_START(ts, INTERVAL '2' MINUTE) AS s FROM t \
                 GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE)",
                "repeat its arguments",
            ),
            (
                "SELECT TUMBLE_PROCTIME(ts, INTERVAL '1' MINUTE) AS s FROM t \
                 GROUP BY TUMBLE(ts, INTERVAL '1' MINUTE)",
                "processing time",
            ),
        ] {
            let err = rewritten_sql(query).unwrap_err();
            assert!(err.to_string().contains(expected), "{query}: {err}");
        }
    }
}
